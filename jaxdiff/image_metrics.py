"""Image metrics for restoration: PSNR, SSIM, a differentiable perceptual distance, kernel error.

Images are float channel-last [B, H, W, C]; every metric returns one value per image, [B]. The
codebase's images live in [-1, 1], so `data_range` (max - min of the allowed values) defaults to
2. dm-pix's psnr assumes a data range of 1, so images are divided by `data_range` first (a shift
does not change a PSNR); its ssim takes the range as `max_val`, which only sets the stabilising
constants C1 = (0.01 L)^2, C2 = (0.03 L)^2. With the defaults (11-tap Gaussian window, sigma 1.5,
population statistics, only windows fully inside the image) `ssim` equals scikit-image's
structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=L, channel_axis=-1) -- the per-channel SSIM maps averaged -- to float32 precision.

`perceptual_distance` stands in for LPIPS, which needs pretrained AlexNet/VGG weights that this
codebase does not download. LADiBI uses LPIPS twice: as a metric and inside the measurement loss
||y - A(z)||^2 + lambda P(A(z), y), where P must be cheap, smooth and differentiable. Our P is

    P(x, y) = (1/S) sum_{s<S} (1 - SSIM_s(x, y)) + w_grad * mean |grad x - grad y|_eps / L,

SSIM_s computed on level s of a Gaussian pyramid (binomial 5-tap blur, then every other pixel;
S = 3 levels) over every pixel (`ssim_same`: windows extended symmetrically at the borders), so
coarse levels of small images still work; grad the forward differences along rows and columns, |.|_eps the Charbonnier
sqrt(d^2 + eps^2) - eps (smooth at 0, so P(x, x) = 0 with zero gradient). Multi-scale SSIM
compares local means, contrast and structure from fine to coarse, the image-gradient L1 penalises
blur and blocking directly at the edges, and both are zero exactly when the images agree -- what
a loss needs, and what LPIPS measures most of on blur and JPEG. It is not LPIPS: numbers from it
are not comparable with papers' LPIPS columns, only across methods within one run.

`kernel_error` compares blur kernels up to the shift ambiguity of blind deconvolution (x shifted
one way and k the other explain y equally): the estimate is rolled by the integer offset that
best aligns its centroid with the truth's (circularly: kernels are small against their support),
then rel_l2 = ||k_est - k_true|| / ||k_true|| and mse = mean (k_est - k_true)^2; mse_raw is the
unaligned MSE.
"""
from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def psnr(x: Array, y: Array, data_range: float = 2.0) -> Array:
  """Peak signal-to-noise ratio 10 log10(L^2 / mse) per image, [B] (dB)."""
  return dm_pix.psnr(x / data_range, y / data_range)


def ssim(x: Array, y: Array, data_range: float = 2.0, filter_size: int = 11,
         filter_sigma: float = 1.5) -> Array:
  """Mean SSIM per image, [B] (Gaussian window; module docstring for the conventions)."""
  return dm_pix.ssim(x, y, max_val=data_range, filter_size=filter_size, filter_sigma=filter_sigma)


# ----------------------------------------------------------------------------------------------
# Perceptual distance.


@functools.lru_cache(maxsize=64)
def _filter_matrix(n: int, taps: tuple[float, ...], step: int = 1) -> np.ndarray:
  """[ceil(n / step), n] matrix of a 1-D correlation with symmetric `taps` on a 'symmetric'-
  extended signal (scipy.ndimage's 'reflect': the edge sample repeated), keeping every `step`-th
  output. A dense matrix: one einsum per axis compiles in a blink and is fast at these sizes."""
  r = len(taps) // 2
  m = np.zeros((n, n), np.float64)
  for i in range(n):
    for t, w in enumerate(taps):
      j = i + t - r
      while j < 0 or j >= n:
        j = -j - 1 if j < 0 else 2 * n - 1 - j
      m[i, j] += w
  return m[::step].astype(np.float32)


def _smooth(x: Array, taps: tuple[float, ...], step: int = 1) -> Array:
  """Separable filtering of [B, H, W, C] along rows and columns (`_filter_matrix`)."""
  mh = jnp.asarray(_filter_matrix(x.shape[1], taps, step))
  mw = jnp.asarray(_filter_matrix(x.shape[2], taps, step))
  return jnp.einsum("ih,bhwc,jw->bijc", mh, x, mw, precision=jax.lax.Precision.HIGHEST)


def _gaussian_taps(sigma: float, radius: int) -> tuple[float, ...]:
  t = np.arange(-radius, radius + 1, dtype=np.float64)
  g = np.exp(-0.5 * (t / sigma) ** 2)
  return tuple(float(v) for v in g / g.sum())


def ssim_same(x: Array, y: Array, data_range: float = 2.0, sigma: float = 1.5) -> Array:
  """SSIM over every pixel, windows extended symmetrically at the borders, [B]. Differentiable.

  Same formula, window and constants as `ssim`; `ssim` averages only the windows that fit inside
  the image, this averages the whole map -- scikit-image's full SSIM map (full=True, which
  filters with scipy.ndimage's 'reflect') -- so it also works on images smaller than the window.
  """
  taps = _gaussian_taps(sigma, int(3.5 * sigma + 0.5))
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  c = x.shape[-1]
  stats = _smooth(jnp.concatenate([x, y, x * x, y * y, x * y], axis=-1), taps)
  mx, my, sxx, syy, sxy = (stats[..., i * c:(i + 1) * c] for i in range(5))
  vx, vy, cxy = sxx - mx * mx, syy - my * my, sxy - mx * my
  m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
  return jnp.mean(m, axis=(1, 2, 3))


_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


def _downsample(x: Array) -> Array:
  """One Gaussian-pyramid level: binomial blur, then every other row and column."""
  return _smooth(x, _BINOMIAL, step=2)


def _charbonnier(d: Array, eps: float) -> Array:
  return jnp.sqrt(d * d + eps * eps) - eps


def perceptual_distance(x: Array, y: Array, data_range: float = 2.0, scales: int = 3,
                        grad_weight: float = 1.0, eps: float = 1e-3) -> Array:
  """Our LPIPS stand-in: multi-scale (1 - SSIM) + gradient L1, [B] (module docstring).

  Zero for identical images, smooth, jittable and differentiable in both arguments.
  """
  d = 0.0
  xs, ys = x, y
  for s in range(scales):
    d = d + (1.0 - ssim_same(xs, ys, data_range))
    if s + 1 < scales:
      xs, ys = _downsample(xs), _downsample(ys)
  d = d / scales
  if grad_weight:
    g = 0.0
    for axis in (1, 2):
      dx = jnp.diff(x, axis=axis) - jnp.diff(y, axis=axis)
      g = g + jnp.mean(_charbonnier(dx / data_range, eps), axis=(1, 2, 3))
    d = d + grad_weight * 0.5 * g
  return d


# ----------------------------------------------------------------------------------------------
# Blur kernels.


def _centroid(k: Array) -> Array:
  """Centre of mass (row, col) of [B, k, k] kernels, [B, 2]."""
  r = jnp.arange(k.shape[-1], dtype=k.dtype)
  mass = jnp.sum(k, axis=(-2, -1))
  cy = jnp.sum(jnp.sum(k, axis=-1) * r, axis=-1) / mass
  cx = jnp.sum(jnp.sum(k, axis=-2) * r, axis=-1) / mass
  return jnp.stack([cy, cx], axis=-1)


def align_kernel(k_est: Array, k_true: Array) -> Array:
  """k_est [B, k, k] rolled by the integer offset that best aligns its centroid with k_true's."""
  shift = jnp.round(_centroid(k_true) - _centroid(k_est)).astype(jnp.int32)
  return jax.vmap(lambda k, s: jnp.roll(k, (s[0], s[1]), axis=(0, 1)))(k_est, shift)


def kernel_error(k_est: Array, k_true: Array, align: bool = True) -> dict[str, Array]:
  """{'rel_l2', 'mse', 'mse_raw'} per kernel, [B] each ([k, k] inputs count as B = 1)."""
  k_est = jnp.asarray(k_est, jnp.float32)
  k_true = jnp.asarray(k_true, jnp.float32)
  if k_est.ndim == 2:
    k_est = k_est[None]
  if k_true.ndim == 2:
    k_true = jnp.broadcast_to(k_true, k_est.shape)
  mse_raw = jnp.mean(jnp.square(k_est - k_true), axis=(-2, -1))
  k_al = align_kernel(k_est, k_true) if align else k_est
  diff = k_al - k_true
  rel = jnp.sqrt(jnp.sum(diff ** 2, axis=(-2, -1)) / jnp.sum(k_true ** 2, axis=(-2, -1)))
  return {"rel_l2": rel, "mse": jnp.mean(diff ** 2, axis=(-2, -1)), "mse_raw": mse_raw}
