"""Gaussian-mixture closed forms and the sample metrics.

Each test computes its arrays inside one `jax.jit` (eager op-by-op dispatch is slow on a busy CPU)
and asserts on the results.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import metrics, toy


def test_gmm_score_denoiser_and_density_are_consistent():
  g = toy.default_gmm()

  @jax.jit
  def compute(x):
    out = []
    for sigma in (0.002, 0.5, 80.0):
      auto = jax.vmap(jax.grad(lambda xx: g.log_prob(xx[None], sigma)[0]))(x)
      out.append((g.denoise(x, sigma), x + sigma ** 2 * g.score(x, sigma), g.score(x, sigma),
                  auto))
    sig = jnp.linspace(0.1, 3.0, x.shape[0])
    rows = jax.vmap(lambda xi, si: g.denoise(xi[None], si)[0])(x, sig)
    return out, g.denoise(x, sig), rows

  per_sigma, batched, rows = compute(jax.random.normal(jax.random.key(0), (16, 2)))
  for denoised, tweedie, score, auto in per_sigma:
    # Tweedie: E[x0 | x] = x + sigma^2 * score. Float32 round-off only.
    np.testing.assert_allclose(denoised, tweedie, atol=1e-5)
    # Closed-form score equals autodiff of the closed-form log-density.
    np.testing.assert_allclose(score, auto, rtol=1e-4, atol=1e-4)
  # Per-example sigma: row i uses sigma_i.
  np.testing.assert_allclose(batched, rows, atol=1e-6)


def test_gmm_single_component_hand_values():
  # N(0, diag(1, 4)) at x = (1, 2) with sigma = 0: -0.5 * (1 + 1 + ln 4 + 2 ln 2pi).
  g = toy.GaussianMixture(jnp.ones(1), jnp.zeros((1, 2)), jnp.diag(jnp.array([1.0, 4.0]))[None])
  x = jnp.array([[1.0, 2.0]])
  logp, den = jax.jit(lambda x: (g.log_prob(x), g.denoise(x, 1.0)))(x)
  expected = -0.5 * (2.0 + math.log(4.0) + 2 * math.log(2 * math.pi))
  np.testing.assert_allclose(logp[0], expected, rtol=1e-6)
  # Gaussian denoiser: E[x0 | x] = S (S + sigma^2 I)^{-1} x; sigma = 1 -> (1/2, 4/5) * x.
  np.testing.assert_allclose(den[0], [0.5, 1.6], rtol=1e-6)


def test_gmm_exact_samples_match_exact_moments():
  g = toy.default_gmm()
  m, c = jax.jit(lambda k: metrics.mean_and_cov(g.sample(k, 20000)))(jax.random.key(1))
  # Standard errors with n = 2e4: mean <= sqrt(0.58 / 2e4) = 0.0054, covariance entries ~0.006;
  # tolerances are ~4-5 standard errors.
  np.testing.assert_allclose(m, g.mean(), atol=0.025)
  np.testing.assert_allclose(c, g.cov(), atol=0.03)


def test_sliced_wasserstein_hand_values():
  shift = jnp.array([0.3, -0.4])

  @jax.jit
  def compute(k_proj, k_x, k_y):
    proj = metrics.random_projections(k_proj, 2, 256)
    x = jax.random.normal(k_x, (500, 2))
    y = jax.random.normal(k_y, (10, 2))
    return dict(
        norms=jnp.linalg.norm(proj, axis=-1),
        self_sw=metrics.sliced_wasserstein(x, x, proj),
        shift_sw=metrics.sliced_wasserstein(x, x + shift, proj),
        shift_expected=jnp.sqrt(jnp.mean((proj @ shift) ** 2)),
        point_sw1=metrics.sliced_wasserstein(jnp.zeros((3, 2)), jnp.zeros((3, 2)) + shift, proj,
                                             p=1.0),
        point_expected=jnp.mean(jnp.abs(proj @ shift)),
        repeat_sw=metrics.sliced_wasserstein(y, jnp.repeat(y, 4, axis=0), proj))

  r = compute(jax.random.key(0), jax.random.key(1), jax.random.key(2))
  np.testing.assert_allclose(r["norms"], 1.0, rtol=1e-6)
  assert float(r["self_sw"]) == 0.0
  # A shift by c moves every projected quantile by theta . c, so SW_2 = sqrt(mean_l (theta_l.c)^2)
  # exactly (-> |c| / sqrt(2) = 0.354 in 2-D as the number of directions grows; 10% for L = 256).
  np.testing.assert_allclose(r["shift_sw"], r["shift_expected"], rtol=1e-4)
  np.testing.assert_allclose(r["shift_expected"], 0.5 / math.sqrt(2), rtol=0.1)
  # SW_1 between point masses at 0 and c: mean_l |theta_l . c|.
  np.testing.assert_allclose(r["point_sw1"], r["point_expected"], rtol=1e-5)
  # Unequal sizes: 4 copies of each point of a 10-point set are the same empirical measure.
  np.testing.assert_allclose(r["repeat_sw"], 0.0, atol=1e-6)


def test_moment_errors():
  x = jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
  e = jax.jit(metrics.moment_errors)(x, jnp.array([1.0, 1.5]), jnp.eye(2))
  # Sample mean (1, 1), unbiased covariance diag(4/3, 4/3).
  np.testing.assert_allclose(e["mean_err"], 0.5, rtol=1e-6)
  np.testing.assert_allclose(e["cov_err"], 1 / 3, rtol=1e-5)
