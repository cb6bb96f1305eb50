"""Image metrics: PSNR / SSIM parity with scikit-image, the perceptual stand-in, kernel error."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jaxdiff import image_metrics
from jaxdiff.ladibi import operators


def _pair(lo, hi, seed=0):
  """A photo crop, a uniform-noise image and a noisy copy of each, scaled to [lo, hi]."""
  rng = np.random.default_rng(seed)
  photo = skimage.data.astronaut()[100:132, 200:240].astype(np.float32) / 255.0
  x = np.stack([photo, rng.uniform(size=photo.shape).astype(np.float32)])
  y = np.clip(x + 0.1 * rng.normal(size=x.shape), 0.0, 1.0).astype(np.float32)
  return lo + (hi - lo) * x, lo + (hi - lo) * y


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 1.0)])
def test_psnr_and_ssim_match_skimage(lo, hi):
  x, y = _pair(lo, hi)
  dr = hi - lo
  psnr, ssim = jax.jit(lambda a, b: (image_metrics.psnr(a, b, dr), image_metrics.ssim(a, b, dr)))(
      jnp.asarray(x), jnp.asarray(y))
  assert psnr.shape == ssim.shape == (2,)
  for i in range(2):
    ref_p = peak_signal_noise_ratio(x[i], y[i], data_range=dr)
    ref_s = structural_similarity(x[i], y[i], data_range=dr, channel_axis=-1,
                                  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    np.testing.assert_allclose(float(psnr[i]), ref_p, atol=1e-4)
    np.testing.assert_allclose(float(ssim[i]), ref_s, atol=1e-4)


def test_perceptual_distance_zero_monotone_in_blur_and_differentiable():
  x, _ = _pair(-1.0, 1.0)
  x = jnp.asarray(np.repeat(x[:1], 4, axis=0))
  kernels = operators.gaussian_kernel(9, jnp.array([0.3, 0.8, 1.5, 3.0]))

  @jax.jit
  def run(x):
    blurred = operators.blur(x, kernels)
    d_fn = lambda a: jnp.sum(image_metrics.perceptual_distance(a, x))
    return (image_metrics.perceptual_distance(x, x), image_metrics.perceptual_distance(blurred, x),
            jax.grad(d_fn)(blurred), jax.grad(d_fn)(x))

  same, d, g_blur, g_same = run(x)
  np.testing.assert_allclose(same, 0.0, atol=1e-6)
  assert bool(jnp.all(jnp.diff(d) > 0)), d
  assert bool(jnp.all(jnp.isfinite(g_blur))) and float(jnp.max(jnp.abs(g_blur))) > 0
  assert bool(jnp.all(jnp.isfinite(g_same)))
  np.testing.assert_allclose(g_same, 0.0, atol=1e-6)   # a minimum at x == y


def test_ssim_same_is_skimages_full_map_mean_and_works_on_small_images():
  x, y = _pair(-1.0, 1.0)
  got = jax.jit(image_metrics.ssim_same)(jnp.asarray(x), jnp.asarray(y))
  for i in range(2):
    _, full = structural_similarity(x[i], y[i], data_range=2.0, channel_axis=-1, full=True,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    np.testing.assert_allclose(float(got[i]), full.mean(), atol=1e-4)
  small = image_metrics.ssim_same(jnp.asarray(x[:, :4, :4]), jnp.asarray(y[:, :4, :4]))
  assert small.shape == (2,) and bool(jnp.all(jnp.isfinite(small)))


def test_kernel_error_is_shift_invariant():
  kt = operators.motion_kernels(jax.random.PRNGKey(0), 2, 15)
  shifted = jnp.roll(kt, (2, -1), axis=(1, 2))
  err = image_metrics.kernel_error(shifted, kt)
  np.testing.assert_allclose(err["rel_l2"], 0.0, atol=1e-6)
  np.testing.assert_allclose(err["mse"], 0.0, atol=1e-10)
  assert bool(jnp.all(err["mse_raw"] > 0))
  unaligned = image_metrics.kernel_error(shifted, kt, align=False)
  assert bool(jnp.all(unaligned["rel_l2"] > 0.5))
  wide = image_metrics.kernel_error(operators.gaussian_kernel(15, 3.0), kt[0])
  near = image_metrics.kernel_error(operators.gaussian_kernel(15, 1.0), operators.gaussian_kernel(15, 1.1))
  assert float(near["rel_l2"][0]) < float(wide["rel_l2"][0])
  np.testing.assert_allclose(image_metrics.kernel_error(kt, kt)["rel_l2"], 0.0, atol=1e-6)
