"""EDM (Karras et al., 2022): noise grid, preconditioning, denoiser wrapper and training loss.

Conventions used across `jaxdiff`:

* A *network* is a callable `net(x_in, c_noise, cond=None)` returning the raw output F with the
  shape of `x_in`; `c_noise` has shape [batch]. Networks that also take a stop time (CTM) accept
  a fourth argument `s_noise` (see `jaxdiff.ctm`).
* A *denoiser* is a callable `denoise_fn(x, sigma, cond)` returning D(x; sigma) ~ E[x0 | x], where
  x = x0 + sigma * n. `sigma` is a scalar or has shape [batch].
* Batch is the leading axis; every other axis of x is treated as data (e.g. [batch, dim] or
  [batch, horizon, channels]).

Preconditioning (EDM Table 1, with s = sigma, sd = sigma_data):

    c_skip = sd^2 / (s^2 + sd^2)        c_out  = s * sd / sqrt(s^2 + sd^2)
    c_in   = 1 / sqrt(s^2 + sd^2)       c_noise = log(s) / 4
    D(x; s) = c_skip * x + c_out * F(c_in * x, c_noise, cond)

Training: ln(s) ~ N(P_mean, P_std^2) and the loss weight is
lambda(s) = (s^2 + sd^2) / (s * sd)^2 = 1 / c_out^2, so each term has unit scale at initialisation.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

Array = jax.Array
NetApply = Callable[..., Array]
DenoiseFn = Callable[[Array, Array, Any], Array]


@dataclasses.dataclass(frozen=True)
class EDMConfig:
  """Noise-level configuration. Defaults are RACTD's (PAPERS.md §1)."""
  sigma_min: float = 0.002
  sigma_max: float = 80.0
  rho: float = 7.0
  sigma_data: float = 0.5
  num_bins: int = 80
  p_mean: float = -1.2
  p_std: float = 1.2

  @classmethod
  def from_config(cls, section: Mapping[str, Any], **overrides: Any) -> "EDMConfig":
    """The config from a config section (e.g. a trainer's `config.edm`) holding any of this
    class's fields -- the others keep their defaults -- with `overrides` (e.g. `num_bins` from an
    evaluation section) applied last. Other keys of the section are not read."""
    fields = {f.name: section[f.name] for f in dataclasses.fields(cls) if f.name in section}
    return cls(**{**fields, **overrides})

  def sigmas(self, append_zero: bool = True) -> Array:
    """The `num_bins` Karras grid of this config (descending), optionally ending in 0."""
    return karras_sigmas(self.num_bins, self.sigma_min, self.sigma_max, self.rho, append_zero)


def karras_sigmas(num: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  append_zero: bool = True, dtype: Any = jnp.float32) -> Array:
  """Karras et al. (2022) eq. 5: `num` noise levels from sigma_max down to sigma_min.

  sigma_i = (sigma_max^(1/rho) + i/(num-1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho for
  i = 0..num-1, so sigmas[0] = sigma_max and sigmas[num-1] = sigma_min. With `append_zero` a final 0
  is appended (length num+1), which is what the Euler/Heun samplers step to last.
  """
  if num < 1:
    raise ValueError(f"karras_sigmas needs num >= 1, got {num}")
  ramp = jnp.linspace(0.0, 1.0, num) if num > 1 else jnp.zeros((1,))
  lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
  sigmas = (hi + ramp * (lo - hi)) ** rho
  if append_zero:
    sigmas = jnp.concatenate([sigmas, jnp.zeros((1,), sigmas.dtype)])
  return sigmas.astype(dtype)


def preconditioning(sigma: Array, sigma_data: float = 0.5) -> tuple[Array, Array, Array, Array]:
  """Returns (c_skip, c_out, c_in, c_noise) for noise level(s) `sigma` (any shape)."""
  sigma = jnp.asarray(sigma)
  s2, sd2 = sigma ** 2, sigma_data ** 2
  c_skip = sd2 / (s2 + sd2)
  c_out = sigma * sigma_data / jnp.sqrt(s2 + sd2)
  c_in = 1.0 / jnp.sqrt(s2 + sd2)
  c_noise = 0.25 * jnp.log(sigma)
  return c_skip, c_out, c_in, c_noise


def karras_weight(sigma: Array, sigma_data: float = 0.5) -> Array:
  """EDM loss weight lambda(sigma) = (sigma^2 + sd^2) / (sigma * sd)^2."""
  sigma = jnp.asarray(sigma)
  return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def batch_sigma(sigma: Array, x: Array) -> Array:
  """Broadcasts a scalar or [batch] sigma to shape [batch] (the network's c_noise shape).

  The result is at least float32 even for bfloat16 x: sigma_min = 0.002 and the preconditioning
  coefficients need more precision than bfloat16's 8 mantissa bits.
  """
  dtype = jnp.promote_types(x.dtype, jnp.float32)
  return jnp.broadcast_to(jnp.asarray(sigma, dtype), (x.shape[0],))


def expand_to(v: Array, x: Array) -> Array:
  """Reshapes a [batch] vector to [batch, 1, ..., 1] so it broadcasts against x."""
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


def denoise(net_apply: NetApply, x: Array, sigma: Array, cond: Any = None, *,
            sigma_data: float = 0.5) -> Array:
  """Preconditioned denoiser D(x; sigma) = c_skip x + c_out F(c_in x, c_noise, cond)."""
  sigma = batch_sigma(sigma, x)
  c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
  f = net_apply(expand_to(c_in, x) * x, c_noise, cond)
  return expand_to(c_skip, x) * x + expand_to(c_out, x) * f


def make_denoiser(net_apply: NetApply, sigma_data: float = 0.5) -> DenoiseFn:
  """Binds `denoise` to a network so samplers can call `denoise_fn(x, sigma, cond)`."""
  def denoise_fn(x: Array, sigma: Array, cond: Any = None) -> Array:
    return denoise(net_apply, x, sigma, cond, sigma_data=sigma_data)
  return denoise_fn


def sample_training_sigmas(key: Array, batch: int, p_mean: float = -1.2, p_std: float = 1.2,
                           dtype: Any = jnp.float32) -> Array:
  """Log-normal training noise levels: ln(sigma) ~ N(p_mean, p_std^2), shape [batch]."""
  return jnp.exp(p_mean + p_std * jax.random.normal(key, (batch,), dtype))


def per_example_sq_error(a: Array, b: Array) -> Array:
  """Mean over the non-batch axes of (a - b)^2, shape [batch]."""
  return jnp.mean(jnp.square(a - b).reshape(a.shape[0], -1), axis=-1)


def edm_loss(net_apply: NetApply, x0: Array, key: Array, cond: Any = None,
             config: EDMConfig = EDMConfig(), *, sigma: Array | None = None,
             reduce: bool = True) -> Array:
  """EDM denoising loss E[lambda(s) * mean_dims (D(x0 + s n; s) - x0)^2].

  Args:
    net_apply: raw network F, see module docstring.
    x0: clean data, [batch, ...].
    key: PRNG key for the noise levels and the noise.
    cond: optional conditioning passed to the network unchanged.
    config: noise-level config (sigma_data, P_mean, P_std).
    sigma: optional fixed noise levels (scalar or [batch]) instead of log-normal draws.
    reduce: mean over the batch if True, else the per-example losses [batch].
  """
  k_sigma, k_noise = jax.random.split(key)
  if sigma is None:
    sigma = sample_training_sigmas(k_sigma, x0.shape[0], config.p_mean, config.p_std, x0.dtype)
  sigma = batch_sigma(sigma, x0)
  noise = jax.random.normal(k_noise, x0.shape, x0.dtype)
  x = x0 + expand_to(sigma, x0) * noise
  d = denoise(net_apply, x, sigma, cond, sigma_data=config.sigma_data)
  per_example = karras_weight(sigma, config.sigma_data) * per_example_sq_error(d, x0)
  return jnp.mean(per_example) if reduce else per_example
