"""Classical deblurring baselines on synthetic piecewise-constant images with known kernels."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import image_metrics
from jaxdiff.ladibi import classical, operators

K = 13


def _images(b=2, size=48, seed=0):
  """Piecewise-constant RGB images in [-1, 1]: rectangles on a dark background."""
  rng = np.random.default_rng(seed)
  x = np.full((b, size, size, 3), -0.6, np.float32)
  for i in range(b):
    for _ in range(8):
      r0, c0 = rng.integers(0, size - 6, 2)
      h, w = rng.integers(4, size // 2, 2)
      x[i, r0:r0 + h, c0:c0 + w] = rng.uniform(-0.9, 0.9, 3)
  return jnp.asarray(x)


def _problem(sigma_y, padding="reflect"):
  x = _images()
  k = jnp.stack([operators.gaussian_kernel(K, 2.0),
                 operators.motion_kernel(jax.random.PRNGKey(4), K, 0.5)])
  y = operators.measure(jax.random.PRNGKey(1), x, lambda z: operators.blur(z, k, padding), sigma_y)
  return x, k, y


@jax.jit
def _psnr_gain(x_hat, y, x):
  return image_metrics.psnr(x_hat, x) - image_metrics.psnr(y, x)


def _gain(x_hat, y, x):
  return np.asarray(_psnr_gain(x_hat, y, x))


def test_wiener_with_the_true_kernel_recovers_the_image():
  x, k, y = _problem(0.002)
  gain = _gain(jax.jit(classical.wiener_deconv)(y, k, 1e-3), y, x)
  assert np.all(gain > 3.0), gain
  # circularly blurred, noiseless data: the circular Wiener filter inverts the blur wherever the
  # kernel's spectrum is not ~0 (a Gaussian of std 2 removes the top frequencies for good)
  xc, kc, yc = _problem(0.0, "circular")
  circular = jax.jit(functools.partial(classical.wiener_deconv, nsr=1e-6, boundary="circular"))
  gain = _gain(circular(yc, kc), yc, xc)
  assert gain[0] > 6.0 and gain[1] > 30.0, gain


def test_richardson_lucy_with_the_true_kernel_improves_psnr():
  x, k, y = _problem(0.01)
  x_hat = jax.jit(functools.partial(classical.richardson_lucy, iters=30))(y, k)
  gain = _gain(x_hat, y, x)
  assert np.all(gain > 2.5), gain
  assert float(jnp.min(x_hat)) >= -1.0 and float(jnp.max(x_hat)) <= 1.0


def test_blind_richardson_lucy_improves_psnr_and_its_kernel_estimate():
  x, k, y = _problem(0.01)
  x, k, y = x[:1], k[:1], y[:1]                    # the Gaussian-blurred image
  x_hat, k_hat = jax.jit(functools.partial(classical.blind_richardson_lucy, kernel_size=K))(y)
  assert k_hat.shape == (1, K, K)
  assert float(jnp.min(k_hat)) >= 0.0
  np.testing.assert_allclose(jnp.sum(k_hat, axis=(1, 2)), 1.0, atol=1e-5)
  gain = _gain(x_hat, y, x)
  assert np.all(gain > 2.0), gain
  k_init = operators.gaussian_kernel(K, K / 4.0)[None]
  err = image_metrics.kernel_error(k_hat, k)["rel_l2"]
  err0 = image_metrics.kernel_error(k_init, k)["rel_l2"]
  assert np.all(np.asarray(err) < 0.5 * np.asarray(err0)), (err, err0)


def test_blind_rl_from_a_delta_stays_put_and_blind_wiener_helps_on_gaussian_blur():
  x, k, y = _problem(0.01)
  x_d, k_d = classical.blind_richardson_lucy(y, K, iters=3, init="delta")
  np.testing.assert_allclose(k_d, jnp.broadcast_to(operators.delta_kernel(K), k_d.shape),
                             atol=1e-3)
  x_w, k_w = classical.blind_wiener(y[:1], K)
  assert float(_gain(x_w, y[:1], x[:1])[0]) > 1.5
  k0 = operators.gaussian_kernel(K, 1.0)[None]
  assert float(image_metrics.kernel_error(k_w, k[:1])["rel_l2"][0]) < float(
      image_metrics.kernel_error(k0, k[:1])["rel_l2"][0])
