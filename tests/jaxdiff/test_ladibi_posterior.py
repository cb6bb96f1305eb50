"""LADiBI's Algorithms 1 and 2 against an exact prior, and classifier-free guidance."""
import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import guidance
from jaxdiff.ladibi import posterior

K = 5


def _blur(x, kernel):
  """Reference per-image 'same' convolution, [B,H,W,C] with [B,k,k] (zero padding)."""
  def one(img, k):
    return jax.vmap(lambda ch: jax.scipy.signal.convolve2d(ch, k, mode="same"),
                    in_axes=-1, out_axes=-1)(img)
  return jax.vmap(one)(x, kernel)


def _kernel(logits):
  b = logits.shape[0]
  return jax.nn.softmax(logits.reshape(b, -1), axis=-1).reshape(logits.shape)


def _op(phi, x):
  return _blur(x, _kernel(phi))


def _gauss(sigma, size=K):
  r = np.arange(size) - size // 2
  g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
  return (g / g.sum()).astype(np.float32)


def _images(b, size=16):
  """Piecewise-constant synthetic images in [-1, 1] (edges carry the kernel information)."""
  rng = np.random.default_rng(0)
  x = np.full((b, size, size, 1), -0.6, np.float32)
  for i in range(b):
    for _ in range(4):
      r0, c0 = rng.integers(0, size - 4, 2)
      h, w = rng.integers(2, 7, 2)
      x[i, r0:r0 + h, c0:c0 + w] = rng.uniform(-1, 1)
  return jnp.asarray(x)


def _exact_denoiser(mu, s):
  """Closed-form E[x0 | x] for the prior x0 ~ N(mu, s^2 I): mu + s^2 / (s^2 + sigma^2) (x - mu)."""
  def denoise(x, sigma, cond):
    del cond
    sigma = jnp.reshape(jnp.asarray(sigma), (-1,) + (1,) * (x.ndim - 1))
    reps = x.shape[0] // mu.shape[0]
    m = jnp.repeat(mu, reps, axis=0)
    return m + s ** 2 / (s ** 2 + sigma ** 2) * (x - m)
  return denoise


def _problem(b=2, sigma_k=1.3, noise=0.005):
  x = _images(b)
  k_true = jnp.broadcast_to(_gauss(sigma_k), (b, K, K))
  y = _blur(x, k_true) + noise * jax.random.normal(jax.random.PRNGKey(1), x.shape)
  phi0 = jnp.log(jnp.broadcast_to(_gauss(0.6), (b, K, K)) + 1e-6)
  return x, k_true, y, phi0


def test_algorithm2_recovers_a_known_kernel_under_an_exact_prior():
  x, k_true, y, phi0 = _problem()
  cfg = posterior.PosteriorConfig(sigma_start=1.0, init_rounds=2, init_samples=4, init_steps=4,
                                  init_fit_steps=300, init_lr_phi=0.05, perceptual_weight=0.0,
                                  x_steps=3, lr_x=0.3)
  denoise = _exact_denoiser(x, 0.02)
  phi, x_mean = jax.jit(lambda k: posterior.initialise_operator(
      k, y, None, phi0, denoise, _op, cfg))(jax.random.PRNGKey(0))
  err0 = float(jnp.linalg.norm(_kernel(phi0) - k_true))
  err = float(jnp.linalg.norm(_kernel(phi) - k_true))
  assert err < 0.15 * err0, (err, err0)
  assert float(jnp.max(jnp.abs(x_mean - x))) < 0.15
  # the fitted operator explains the measurement to about its noise level
  resid = float(jnp.sqrt(jnp.mean(jnp.square(_op(phi, x) - y))))
  assert resid < 0.01, resid


def test_refinement_with_true_operator_beats_measurement_and_blind_tracks_it():
  x, k_true, y, phi0 = _problem(sigma_k=1.5)
  phi_true = jnp.log(k_true + 1e-8)
  cfg = posterior.PosteriorConfig(sigma_start=1.0, num_steps=12, x_steps=10, lr_x=0.3, eta=0.3,
                                  perceptual_weight=0.0, init_rounds=2, init_samples=2,
                                  init_steps=3, init_fit_steps=200, phi_steps=3, lr_phi=0.01)
  # a prior centred on a smoothed truth: only the measurement can bring the edges back
  mu = _blur(x, jnp.broadcast_to(_gauss(0.8), k_true.shape))
  denoise = _exact_denoiser(mu, 0.05)
  key = jax.random.PRNGKey(3)
  mse = lambda a: float(jnp.mean(jnp.square(a - x)))
  nonblind = jax.jit(lambda k: posterior.restore_nonblind(k, y, None, phi_true, denoise, _op,
                                                          cfg))(key)
  out = jax.jit(lambda k: posterior.restore(k, y, None, phi0, denoise, _op, cfg))(key)
  assert mse(nonblind) < 0.75 * mse(mu) and mse(mu) < 0.5 * mse(y), (mse(nonblind), mse(mu))
  assert mse(out["x"]) < 0.75 * mse(y), (mse(out["x"]), mse(y))
  assert float(jnp.linalg.norm(_kernel(out["phi"]) - k_true)) < float(
      jnp.linalg.norm(_kernel(phi0) - k_true))


def test_sampler_without_guidance_is_ddim_on_the_prior():
  """With guide=False and eta=0 the sampler is DDIM: under a point-mass-like prior it lands on mu
  from any start, and phi is untouched when update_phi=False."""
  x, _, y, phi0 = _problem()
  cfg = posterior.PosteriorConfig(sigma_start=2.0, eta=0.0)
  start = y + 2.0 * jax.random.normal(jax.random.PRNGKey(2), y.shape)
  out, phi = posterior.sample(jax.random.PRNGKey(0), start, y, None, phi0,
                              _exact_denoiser(x, 1e-3), _op, cfg, num_steps=6, guide=False,
                              update_phi=False)
  np.testing.assert_allclose(out, x, atol=2e-3)
  np.testing.assert_array_equal(phi, phi0)


def test_nfe_counts_guided_calls_twice():
  cfg = posterior.PosteriorConfig(num_steps=30, init_rounds=2, init_samples=4, init_steps=5)
  assert posterior.nfe(cfg, blind=False) == 60
  assert posterior.nfe(cfg) == 2 * (30 + 40)
  assert posterior.nfe(posterior.PosteriorConfig(guidance=1.0, num_steps=30), blind=False) == 30


def test_cfg_weight_zero_is_negative_prompt_and_one_is_positive():
  def denoise(x, sigma, ids):
    return x * 0.5 + ids[:, :1, None, None].astype(x.dtype) + sigma[:, None, None, None]
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 1))
  pos = jnp.full((3, 2), 5, jnp.int32)
  neg = jnp.full((3, 2), 2, jnp.int32)
  sig = jnp.full((3,), 0.7)
  for w, want in ((0.0, denoise(x, sig, neg)), (1.0, denoise(x, sig, pos)),
                  (3.0, denoise(x, sig, neg) + 3.0 * (denoise(x, sig, pos) - denoise(x, sig, neg)))):
    np.testing.assert_allclose(guidance.cfg_denoiser(denoise, w)(x, sig, (pos, neg)), want,
                               rtol=1e-6)


def test_prompt_dropout_rate():
  ids = jnp.ones((4000, 3), jnp.int32)
  dropped = guidance.drop_prompts(jax.random.PRNGKey(0), ids, 0.1)
  rows = np.asarray(dropped).sum(axis=1)
  assert set(np.unique(rows)) <= {0, 3}
  assert abs(np.mean(rows == 0) - 0.1) < 0.02


def test_config_rejects_unknown_keys():
  import pytest
  with pytest.raises(ValueError, match="unknown posterior config keys"):
    posterior.PosteriorConfig.from_config({"num_stepz": 3})
