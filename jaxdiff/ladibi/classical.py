"""Classical deblurring baselines: Wiener, Richardson-Lucy, and blind RL / blind Wiener.

Inputs and outputs are [-1, 1] images [B, H, W, C] (`jaxdiff` convention); internally every method
works on intensities u = (y + 1) / 2 in [0, 1], because Richardson-Lucy is a multiplicative
(Poisson maximum-likelihood) iteration that needs non-negative data. Kernels follow
`jaxdiff.ladibi.operators` (true convolution, centre (k - 1) // 2), shared [k, k] or per image
[B, k, k]; one kernel blurs all channels of its image. Everything is jittable, batched over
images, with its iterations in lax.fori_loop.

Wiener (non-blind): x_hat = F^-1[ conj(K) Y / (|K|^2 + nsr) ], the MMSE linear filter for white
signal and noise with noise-to-signal power ratio `nsr`. The FFT treats the image as periodic:
boundary='circular' uses it as is (exact for circularly blurred data), boundary='symmetric' first
mirrors y into a [2H, 2W] image (even extension: the periodic image has no jump at its edges, so
no ringing from the border; for a symmetric kernel this is exactly blurring the mirrored image).

Richardson-Lucy (non-blind): x <- x * A^T(u / A x) / A^T 1 with A = blur(., k, padding). A^T is
the exact adjoint of the padded blur (its vjp), so boundaries are handled consistently with the
forward model; A^T 1 is 1 away from the borders.

Blind Richardson-Lucy (Ayers & Dainty 1988; Fish, Brinicombe, Pike & Walker 1995): alternate the
same multiplicative update for the kernel with x fixed -- k <- k * X^T(u / k * x) / X^T 1, X^T the
adjoint of k -> k * x (a correlation of the ratio with the image over the kernel's support, summed
over channels) -- and for the image with k fixed; `kernel_iters` and `image_iters` RL steps each
per outer iteration, as Fish et al. The kernel stays non-negative by construction and is
renormalised to sum 1 after each step (scale is not identifiable). x starts as the measurement and
k as a centred Gaussian that is *wider* than the blur is likely to be (std `init_sigma`, default
kernel_size / 4): a kernel narrower than the truth is close to the trivial fixed point (a delta
with x = y explains y exactly, and the updates barely move it), while a wide one shrinks toward
the truth as the image sharpens. Measured on 48x48 piecewise-constant images, 13x13 Gaussian blur
of std 2, noise 0.01 (kernel error: `jaxdiff.image_metrics.kernel_error` rel_l2): from std 1,
the error stays at 1.34 -> 1.36 and PSNR gains 0.7 dB; from std 3, 0.44 -> 0.12 and +3.0 dB; the
defaults ((iters, image_iters, kernel_iters) = (50, 1, 5), std 13 / 4) reach 0.14 and +2.9 dB, and
on a 13x13 motion kernel 0.88 -> 0.62 at -0.2 dB. The iteration count is the regulariser: run
long, blind RL amplifies noise like RL does.

Blind Wiener: alternating least squares in the Fourier domain on the mirrored image,
X = conj(K) Y / (|K|^2 + nsr) and K = sum_c conj(X_c) Y_c / (sum_c |X_c|^2 + kernel_nsr * mean
power), the new kernel cut to its k x k support around the centre and projected (clip >= 0, sum
1); it starts from a Gaussian of std `init_sigma`. Fast and crude, a floor for the blind methods:
on the images above (defaults, 10 iterations) Gaussian blur +2.8 dB and kernel error 1.34 ->
0.11, motion blur -0.8 dB (kernel error 0.67 -> 0.67).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdiff.ladibi import operators

Array = jax.Array


def to_unit(x: Array) -> Array:
  return 0.5 * (x + 1.0)


def from_unit(u: Array) -> Array:
  return 2.0 * u - 1.0


def _kernels(kernel: Array, batch: int) -> Array:
  kernel = jnp.asarray(kernel, jnp.float32)
  return jnp.broadcast_to(kernel, (batch,) + kernel.shape[-2:])


def _otf(kernel: Array, n: int, m: int) -> Array:
  """rfft2 of [B, k, k] kernels embedded in an n x m grid with their centre at the origin."""
  c = operators.kernel_centre(kernel.shape[-1])
  full = jnp.zeros(kernel.shape[:1] + (n, m), kernel.dtype)
  full = full.at[:, :kernel.shape[-2], :kernel.shape[-1]].set(kernel)
  return jnp.fft.rfft2(jnp.roll(full, (-c, -c), axis=(1, 2)), axes=(1, 2))


def _extend(u: Array, boundary: str) -> Array:
  if boundary == "circular":
    return u
  if boundary == "symmetric":
    u = jnp.concatenate([u, u[:, ::-1]], axis=1)
    return jnp.concatenate([u, u[:, :, ::-1]], axis=2)
  raise ValueError(f"unknown boundary '{boundary}'; valid: circular, symmetric")


def wiener_deconv(y: Array, kernel: Array, nsr: float | Array = 1e-3,
                  boundary: str = "symmetric", clip: bool = True) -> Array:
  """Non-blind Wiener deconvolution of y [B, H, W, C] (module docstring). nsr: scalar or [B]."""
  b, h, w, _ = y.shape
  k = _kernels(kernel, b)
  if k.shape[-1] > h or k.shape[-1] > w:
    raise ValueError(f"kernel {k.shape[-1]} larger than the image {h}x{w}")
  u = _extend(to_unit(y), boundary)
  n, m = u.shape[1], u.shape[2]
  kf = _otf(k, n, m)[..., None]
  nsr = jnp.reshape(jnp.asarray(nsr, jnp.float32), (-1, 1, 1, 1))
  xf = jnp.conj(kf) * jnp.fft.rfft2(u, axes=(1, 2)) / (jnp.abs(kf) ** 2 + nsr)
  x = jnp.fft.irfft2(xf, s=(n, m), axes=(1, 2))[:, :h, :w]
  return from_unit(jnp.clip(x, 0.0, 1.0) if clip else x)


def _rl_image_step(x: Array, u: Array, k: Array, padding: str, eps: float) -> Array:
  """One RL update of the image [B, H, W, C] (intensities) with kernels k fixed."""
  ax, adj = jax.vjp(lambda z: operators.blur(z, k, padding), x)
  ratio = u / jnp.maximum(ax, eps)
  num, = adj(ratio)
  den, = adj(jnp.ones_like(ratio))
  return jnp.maximum(x * num / jnp.maximum(den, eps), 0.0)


def _rl_kernel_step(k: Array, x: Array, u: Array, padding: str, eps: float) -> Array:
  """One RL update of the kernels [B, k, k] with the image fixed, renormalised to sum 1."""
  ax, adj = jax.vjp(lambda q: operators.blur(x, q, padding), k)
  ratio = u / jnp.maximum(ax, eps)
  num, = adj(ratio)
  den, = adj(jnp.ones_like(ratio))
  k = jnp.maximum(k * num / jnp.maximum(den, eps), 0.0)
  return operators.project_kernel(k)


def richardson_lucy(y: Array, kernel: Array, iters: int = 30, padding: str = "reflect",
                    eps: float = 1e-6) -> Array:
  """Non-blind Richardson-Lucy, started from the (clipped) measurement; [-1, 1] in and out."""
  u = jnp.clip(to_unit(y), 0.0, None)
  k = _kernels(kernel, y.shape[0])
  x = jax.lax.fori_loop(0, iters, lambda _, x: _rl_image_step(x, u, k, padding, eps), u)
  return from_unit(jnp.clip(x, 0.0, 1.0))


def blind_richardson_lucy(y: Array, kernel_size: int, iters: int = 50, image_iters: int = 1,
                          kernel_iters: int = 5, init: str = "gaussian",
                          init_sigma: float | None = None,
                          padding: str = "reflect", eps: float = 1e-6) -> tuple[Array, Array]:
  """Blind RL: returns (x [-1, 1] [B, H, W, C], kernels [B, kernel_size, kernel_size]).

  init: 'gaussian' (std `init_sigma` px, default kernel_size / 4) or 'delta' (a fixed point of
  the iteration; for checks only).
  """
  b = y.shape[0]
  u = jnp.clip(to_unit(y), 0.0, None)
  if init == "gaussian":
    k0 = operators.gaussian_kernel(kernel_size, kernel_size / 4.0 if init_sigma is None
                                   else init_sigma)
  elif init == "delta":
    k0 = operators.delta_kernel(kernel_size)
  else:
    raise ValueError(f"unknown kernel init '{init}'; valid: gaussian, delta")
  k0 = _kernels(k0, b)

  def outer(_, carry):
    x, k = carry
    k = jax.lax.fori_loop(0, kernel_iters, lambda _, q: _rl_kernel_step(q, x, u, padding, eps), k)
    x = jax.lax.fori_loop(0, image_iters, lambda _, z: _rl_image_step(z, u, k, padding, eps), x)
    return x, k

  x, k = jax.lax.fori_loop(0, iters, outer, (u, k0))
  return from_unit(jnp.clip(x, 0.0, 1.0)), k


def blind_wiener(y: Array, kernel_size: int, iters: int = 10, nsr: float = 1e-2,
                 kernel_nsr: float = 1e-2, init_sigma: float = 1.0,
                 boundary: str = "symmetric") -> tuple[Array, Array]:
  """Alternating least-squares blind Wiener: returns (x [-1, 1], kernels [B, k, k])."""
  b, h, w, _ = y.shape
  u = _extend(to_unit(y), boundary)
  n, m = u.shape[1], u.shape[2]
  yf = jnp.fft.rfft2(u, axes=(1, 2))
  c = operators.kernel_centre(kernel_size)
  k0 = _kernels(operators.gaussian_kernel(kernel_size, init_sigma), b)

  def image_f(k):
    kf = _otf(k, n, m)[..., None]
    return jnp.conj(kf) * yf / (jnp.abs(kf) ** 2 + nsr)

  def body(_, k):
    xf = image_f(k)
    power = jnp.sum(jnp.abs(xf) ** 2, axis=-1)
    kf = jnp.sum(jnp.conj(xf) * yf, axis=-1) / (power + kernel_nsr * jnp.mean(power, (1, 2),
                                                                              keepdims=True))
    full = jnp.fft.irfft2(kf, s=(n, m), axes=(1, 2))
    k = jnp.roll(full, (c, c), axis=(1, 2))[:, :kernel_size, :kernel_size]
    return operators.project_kernel(k)

  k = jax.lax.fori_loop(0, iters, body, k0)
  x = jnp.fft.irfft2(image_f(k), s=(n, m), axes=(1, 2))[:, :h, :w]
  return from_unit(jnp.clip(x, 0.0, 1.0)), k
