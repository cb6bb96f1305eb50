"""EDM grid, preconditioning and loss against hand-computed values."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdiff import edm


def test_config_defaults_are_ractd():
  cfg = edm.EDMConfig()
  assert (cfg.sigma_min, cfg.sigma_max, cfg.rho, cfg.sigma_data, cfg.num_bins) == (
      0.002, 80.0, 7.0, 0.5, 80)
  assert (cfg.p_mean, cfg.p_std) == (-1.2, 1.2)
  with pytest.raises(Exception):
    cfg.sigma_max = 1.0  # frozen


def test_config_from_a_config_section():
  """A trainer's edm section gives the fields it has (others stay default); overrides win."""
  section = {"sigma_min": 0.01, "sigma_max": 40.0, "rho": 5.0, "sigma_data": 1.0,
             "num_bins": 20, "note": "ignored"}
  assert edm.EDMConfig.from_config(section) == edm.EDMConfig(0.01, 40.0, 5.0, 1.0, 20)
  c = edm.EDMConfig.from_config({"sigma_data": 0.25}, num_bins=8)
  assert c == edm.EDMConfig(sigma_data=0.25, num_bins=8)

def test_karras_sigmas_endpoints_monotone_and_middle():
  s = np.asarray(edm.karras_sigmas(80), np.float64)
  assert s.shape == (81,)
  # float32 rounding of 80 and 0.002 is ~1e-7 relative.
  np.testing.assert_allclose(s[0], 80.0, rtol=1e-6)
  np.testing.assert_allclose(s[79], 0.002, rtol=1e-5)
  assert s[80] == 0.0
  assert np.all(np.diff(s) < 0)
  s_no_zero = edm.karras_sigmas(80, append_zero=False)
  assert s_no_zero.shape == (80,) and float(s_no_zero[-1]) > 0
  # Three levels: the middle is ((80^(1/7) + 0.002^(1/7)) / 2)^7 (eq. 5 by hand).
  mid = ((80 ** (1 / 7) + 0.002 ** (1 / 7)) / 2) ** 7
  np.testing.assert_allclose(edm.karras_sigmas(3, append_zero=False)[1], mid, rtol=1e-6)
  np.testing.assert_allclose(edm.EDMConfig(num_bins=3).sigmas(), [80.0, mid, 0.002, 0.0],
                             rtol=1e-5)


def test_preconditioning_hand_values():
  # sigma = sigma_data = 0.5: c_skip = 1/2, c_out = 0.25 / sqrt(0.5), c_in = 1 / sqrt(0.5).
  c_skip, c_out, c_in, c_noise = edm.preconditioning(jnp.array(0.5), 0.5)
  np.testing.assert_allclose([c_skip, c_out, c_in, c_noise],
                             [0.5, 0.25 / math.sqrt(0.5), 1 / math.sqrt(0.5), math.log(0.5) / 4],
                             rtol=1e-6)
  # sigma = 80: c_skip = 0.25 / 6400.25, c_out = 40 / sqrt(6400.25), c_in = 1 / sqrt(6400.25).
  c_skip, c_out, c_in, c_noise = edm.preconditioning(jnp.array(80.0), 0.5)
  np.testing.assert_allclose([c_skip, c_out, c_in, c_noise],
                             [0.25 / 6400.25, 40 / math.sqrt(6400.25), 1 / math.sqrt(6400.25),
                              math.log(80) / 4], rtol=1e-6)
  # Weight lambda = 1 / c_out^2: at sigma = 1, (1 + 0.25) / 0.25 = 5.
  np.testing.assert_allclose(edm.karras_weight(1.0, 0.5), 5.0, rtol=1e-6)
  # c_in makes the network input unit-variance: c_in^2 (sigma^2 + sd^2) = 1 for every sigma.
  sig = jnp.array([0.002, 0.3, 7.0, 80.0])
  _, _, c_in, _ = edm.preconditioning(sig, 0.5)
  np.testing.assert_allclose(c_in ** 2 * (sig ** 2 + 0.25), 1.0, rtol=1e-6)


def test_denoise_broadcasts_sigma_and_applies_preconditioning():
  calls = {}

  def net(x_in, c_noise, cond):
    calls["shapes"] = (x_in.shape, c_noise.shape)
    return jnp.ones_like(x_in)

  x = jnp.full((3, 4, 2), 2.0)
  d = edm.denoise(net, x, 0.5, sigma_data=0.5)
  assert calls["shapes"] == ((3, 4, 2), (3,))
  # D = c_skip x + c_out * 1 = 0.5 * 2 + 0.25 / sqrt(0.5).
  np.testing.assert_allclose(d, 1.0 + 0.25 / math.sqrt(0.5), rtol=1e-6)
  d_batch = edm.denoise(net, x, jnp.array([0.5, 0.5, 80.0]))
  np.testing.assert_allclose(d_batch[2], 2 * 0.25 / 6400.25 + 40 / math.sqrt(6400.25), rtol=1e-5)


def _oracle_net(x0, delta, sigma_data=0.5):
  """A network whose denoiser output is exactly x0 + delta (it inverts the preconditioning)."""
  def net(x_in, c_noise, cond):
    sigma = jnp.exp(4 * c_noise)[:, None]
    c_skip, c_out, c_in, _ = edm.preconditioning(sigma, sigma_data)
    x = x_in / c_in
    return (x0 + delta - c_skip * x) / c_out
  return net


def test_edm_loss_hand_value():
  x0 = jnp.array([[0.3, -0.2], [1.0, 0.5]])
  # D - x0 = 0.1 everywhere, sigma = 1: loss = lambda(1) * 0.01 = 5 * 0.01 = 0.05.
  loss = edm.edm_loss(_oracle_net(x0, 0.1), x0, jax.random.key(0), sigma=1.0)
  np.testing.assert_allclose(loss, 0.05, rtol=1e-5)
  # Per-example losses with sigma = [0.5, 2]: lambda = 8 and (4 + 0.25) / 1 = 4.25.
  per = edm.edm_loss(_oracle_net(x0, 0.1), x0, jax.random.key(0), sigma=jnp.array([0.5, 2.0]),
                     reduce=False)
  np.testing.assert_allclose(per, [0.08, 0.0425], rtol=1e-4)


def test_edm_loss_zero_network_expectation():
  # F = 0 gives D = c_skip x, so D - x0 = (c_skip - 1) x0 + c_skip sigma n and
  # E[loss] = lambda * ((c_skip - 1)^2 x0^2 + c_skip^2 sigma^2). At sigma = 0.5, x0 = 1:
  # c_skip = 1/2, lambda = 8, E = 8 * (0.25 + 0.0625) = 2.5. With 40000 chi-square(1)-like terms
  # the relative standard error of the noise part is ~0.7%, so 3% is a >4-sigma tolerance.
  x0 = jnp.ones((20000, 2))
  loss = edm.edm_loss(lambda x, c, cond: jnp.zeros_like(x), x0, jax.random.key(1), sigma=0.5)
  np.testing.assert_allclose(loss, 2.5, rtol=0.03)


def test_training_sigmas_are_lognormal():
  s = edm.sample_training_sigmas(jax.random.key(2), 50000)
  logs = np.log(np.asarray(s))
  # Standard errors: 1.2 / sqrt(5e4) = 0.0054 for the mean, ~0.004 for the std.
  assert abs(logs.mean() + 1.2) < 0.03 and abs(logs.std() - 1.2) < 0.03
