"""CTM parameterisation, losses (hand values, exact flows) and sampling."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import ctm, edm

SD = 0.5  # sigma_data; the Gaussian-data checks use data ~ N(0, SD^2 I)


def _flow(x, t, s):
  """Exact PF-ODE flow map of N(0, SD^2 I) data: x_s = x_t sqrt(s^2 + SD^2) / sqrt(t^2 + SD^2)."""
  return x * jnp.sqrt(s ** 2 + SD ** 2) / jnp.sqrt(t ** 2 + SD ** 2)


def _exact_flow_net(x_in, c_noise, cond, s_noise):
  """Network whose CTM map G(x, t, s) is the exact flow map of N(0, SD^2 I) data.

  Inverts the parameterisation: t, s from the embeddings, x = x_in / c_in(t), then
  g = (G* - (s/t) x) / (1 - s/t) (limit c_skip(t) x at s = t) and F = (g - c_skip x) / c_out.
  """
  t = jnp.exp(4 * c_noise)[:, None]
  s = jnp.exp(4 * s_noise)[:, None]
  c_skip, c_out, c_in, _ = edm.preconditioning(t, SD)
  x = x_in / c_in
  gap = 1 - s / t
  safe_gap = jnp.where(gap > 1e-6, gap, 1.0)
  g = jnp.where(gap > 1e-6, (_flow(x, t, s) - (s / t) * x) / safe_gap, c_skip * x)
  return (g - c_skip * x) / c_out


def _gaussian_denoiser(x, sigma, cond=None):
  return SD ** 2 / (edm.expand_to(edm.batch_sigma(sigma, x), x) ** 2 + SD ** 2) * x


def test_pseudo_huber_hand_values():
  a = jnp.array([[3.0, 4.0], [0.0, 0.0]])
  b = jnp.zeros((2, 2))
  c = 0.00054 * math.sqrt(2)
  assert ctm.pseudo_huber_c(2) == c
  # ||a - b|| = 5 and 0: sqrt(25 + c^2) - c and sqrt(c^2) - c = 0.
  np.testing.assert_allclose(ctm.pseudo_huber(a, b), [math.sqrt(25 + c * c) - c, 0.0],
                             rtol=1e-6, atol=1e-9)
  # Custom c = 1: sqrt(26) - 1.
  np.testing.assert_allclose(ctm.pseudo_huber(a[:1], b[:1], 1.0), [math.sqrt(26) - 1], rtol=1e-6)
  # Small-residual regime ~ ||d||^2 / (2c); entries of a [B, H, C] example are all counted.
  d = jnp.full((1, 4, 3), 1e-5)
  c12 = 0.00054 * math.sqrt(12)
  np.testing.assert_allclose(ctm.pseudo_huber(d, jnp.zeros_like(d)), [12e-10 / (2 * c12)],
                             rtol=1e-3)


def _dsm_oracle_net(x0, delta, stop, sigma_min=0.002):
  """Network whose DSM prediction (g at s = t, or G at s = sigma_min) equals x0 + delta."""
  def net(x_in, c_noise, cond, s_noise):
    t = jnp.exp(4 * c_noise)[:, None]
    c_skip, c_out, c_in, _ = edm.preconditioning(t, SD)
    x = x_in / c_in
    if stop == "t":
      g = x0 + delta
    else:
      r = sigma_min / t
      g = (x0 + delta - r * x) / (1 - r)
    return (g - c_skip * x) / c_out
  return net


def test_dsm_loss_hand_values():
  x0 = jnp.array([[0.3, -0.2], [1.0, 0.5]])
  for stop in ("t", "sigma_min"):
    # Prediction - x0 = 0.1 everywhere: loss = lambda(sigma) * 0.01 with lambda(1) = 5,
    # lambda(0.5) = 8 and lambda(2) = 4.25.
    net = _dsm_oracle_net(x0, 0.1, stop)
    loss = ctm.ctm_dsm_loss(net, x0, jax.random.key(0), sigma=1.0, stop=stop)
    np.testing.assert_allclose(loss, 0.05, rtol=1e-4)
    per = ctm.ctm_dsm_loss(net, x0, jax.random.key(0), sigma=jnp.array([0.5, 2.0]), stop=stop,
                           reduce=False)
    np.testing.assert_allclose(per, [0.08, 0.0425], rtol=1e-3)
  # With F = 0 and stop="t", g = c_skip x, so at sigma = 0.5, x0 = 1 the expected loss is
  # 8 * ((1/2 - 1)^2 + (1/2)^2 0.25) = 2.5 (as for EDM); 20000 x 2 draws give ~0.7% noise.
  zero = lambda x, c, cond, s: jnp.zeros_like(x)
  loss = ctm.ctm_dsm_loss(zero, jnp.ones((20000, 2)), jax.random.key(1), sigma=0.5)
  np.testing.assert_allclose(loss, 2.5, rtol=0.03)


def test_g_boundary_condition_and_index_sampling():
  x = jax.random.normal(jax.random.key(0), (5, 3))
  rand_net = lambda x_in, c, cond, s: jnp.sin(3 * x_in) + c[:, None] - 2 * s[:, None]
  t = jnp.array([80.0, 3.0, 0.5, 0.1, 0.002])
  g_tt = ctm.ctm_g(rand_net, x, t, t)
  np.testing.assert_allclose(g_tt, x, rtol=1e-6)  # G(x, t, t) = x for any network
  # G(x, t, s) with s < t interpolates x and g: at s = t/2 it is (x + g) / 2.
  big_g, g = ctm.ctm_g(rand_net, x, t, t / 2, return_inner=True)
  np.testing.assert_allclose(big_g, 0.5 * (x + g), rtol=1e-5, atol=1e-6)
  # Student-as-denoiser is g(x, t, t).
  np.testing.assert_allclose(ctm.ctm_denoiser(rand_net)(x, t), ctm.ctm_g(
      rand_net, x, t, t, return_inner=True)[1], rtol=1e-6)

  t_idx, s_idx, u_idx = jax.jit(ctm.sample_ctm_indices, static_argnums=(1, 2, 3))(
      jax.random.key(1), 20000, 80, 2)
  t_idx, s_idx, u_idx = map(np.asarray, (t_idx, s_idx, u_idx))
  assert t_idx.min() == 0 and t_idx.max() == 77  # t uniform over {0..N-1-k}
  np.testing.assert_array_equal(u_idx, t_idx + 2)  # u = t + k
  assert np.all(s_idx >= u_idx) and s_idx.max() == 79  # s in {u..N-1}, reaches sigma_min
  # Uniform t: each of the 78 values has probability 1/78; the count at 0 is 256 +- 16.
  assert 180 < np.sum(t_idx == 0) < 340


def test_ctm_loss_vanishes_for_the_exact_flow():
  cfg = edm.EDMConfig()
  x0 = SD * jax.random.normal(jax.random.key(0), (4096, 2))
  zero_net = lambda x_in, c, cond, s: jnp.zeros_like(x_in)

  @jax.jit
  def losses(x0, key):
    exact = ctm.ctm_loss(_exact_flow_net, _exact_flow_net, _gaussian_denoiser, x0, key,
                         config=cfg)
    wrong = ctm.ctm_loss(zero_net, zero_net, _gaussian_denoiser, x0, key, config=cfg)
    two_steps = ctm.ctm_loss(_exact_flow_net, _exact_flow_net, _gaussian_denoiser, x0, key,
                             config=cfg, num_heun_steps=2)
    return exact, wrong, two_steps

  exact, wrong, two_steps = (float(v) for v in losses(x0, jax.random.key(1)))
  # With the exact flow as student and target, only the teacher's local Heun error remains
  # (O(h^3) per bin, plus float32 round-off): measured 1.2e-6 (5.4e-6 with two Heun steps),
  # against 5.1e-3 for F = 0, whose G is off the ODE trajectory.
  assert exact < 1e-4, exact
  assert two_steps < 1e-4, two_steps
  assert wrong > 100 * exact, (wrong, exact)


def test_ctm_sampling_with_the_exact_flow():
  cfg = edm.EDMConfig()
  g_fn = ctm.make_ctm_g(_exact_flow_net, SD)
  x_init = cfg.sigma_max * jax.random.normal(jax.random.key(0), (8192, 2))

  @jax.jit
  def run(x_init, key):
    one = ctm.ctm_sample(g_fn, x_init, ctm.ctm_sampling_sigmas(1, cfg))
    four = ctm.ctm_sample(g_fn, x_init, ctm.ctm_sampling_sigmas(4, cfg))
    renoise = ctm.ctm_sample(g_fn, x_init, ctm.ctm_sampling_sigmas(4, cfg), key=key, gamma=1.0)
    clipped = ctm.ctm_sample(g_fn, x_init, ctm.ctm_sampling_sigmas(1, cfg), clip=0.1)
    return one, four, renoise, clipped

  one, four, renoise, clipped = run(x_init, jax.random.key(1))
  np.testing.assert_allclose(ctm.ctm_sampling_sigmas(1, cfg), [80.0, 0.002], rtol=1e-6)
  # One jump from sigma_max to sigma_min is the exact flow map.
  np.testing.assert_allclose(one, _flow(x_init, 80.0, 0.002), rtol=1e-5, atol=1e-6)
  # Deterministic chaining (gamma = 0) composes flow maps: identical to the single jump.
  np.testing.assert_allclose(four, one, rtol=1e-4, atol=1e-5)
  # gamma = 1 re-noises to each marginal, so the result still has std sqrt(SD^2 + 0.002^2) but
  # new randomness; std error with 16384 entries is 0.5 / sqrt(2 * 16384) = 0.0028.
  np.testing.assert_allclose(np.std(renoise), 0.5, rtol=0.02)
  assert np.corrcoef(np.ravel(renoise), np.ravel(one))[0, 1] < 0.9
  assert float(jnp.max(jnp.abs(clipped))) <= np.float32(0.1)
