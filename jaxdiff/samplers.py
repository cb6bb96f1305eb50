"""Deterministic EDM samplers (Karras et al., 2022, Algorithm 1 without churn) as `lax.scan`.

The probability-flow ODE in EDM's parameterisation (s(t)=1, sigma(t)=t) is

    dx/dsigma = (x - D(x; sigma)) / sigma,

integrated from sigma_max down a descending grid (usually `karras_sigmas(..., append_zero=True)`).
Euler takes one denoiser evaluation per interval; Heun adds a trapezoidal correction except on a
final step to sigma = 0, where the derivative is undefined and Karras Algorithm 1 takes the Euler
step x + (0 - s) d = D(x; s) instead. `sampler_nfe` counts the evaluations.

All samplers are jittable, batch-agnostic (any x shape with the batch leading) and take the grid as
an array, so one compiled sampler serves any grid of the same length.
"""
from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from jaxdiff import edm

Array = jax.Array
Solver = Literal["euler", "heun"]


def _step_size(sigma_next: Array, sigma: Array, x: Array) -> Array:
  return edm.expand_to(edm.batch_sigma(sigma_next, x) - edm.batch_sigma(sigma, x), x)


def ode_derivative(denoise_fn: edm.DenoiseFn, x: Array, sigma: Array, cond: Any = None) -> Array:
  """dx/dsigma = (x - D(x; sigma)) / sigma; sigma scalar or [batch], must be > 0."""
  return (x - denoise_fn(x, sigma, cond)) / edm.expand_to(edm.batch_sigma(sigma, x), x)


def euler_step(denoise_fn: edm.DenoiseFn, x: Array, sigma: Array, sigma_next: Array,
               cond: Any = None) -> Array:
  """One Euler step of the PF-ODE from sigma to sigma_next (scalars or [batch])."""
  return x + _step_size(sigma_next, sigma, x) * ode_derivative(denoise_fn, x, sigma, cond)


def heun_step(denoise_fn: edm.DenoiseFn, x: Array, sigma: Array, sigma_next: Array,
              cond: Any = None) -> Array:
  """One Heun (2nd order) step from sigma to sigma_next; requires sigma_next > 0 (2 NFE)."""
  h = _step_size(sigma_next, sigma, x)
  d = ode_derivative(denoise_fn, x, sigma, cond)
  x_euler = x + h * d
  d_next = ode_derivative(denoise_fn, x_euler, sigma_next, cond)
  return x + h * 0.5 * (d + d_next)


def _scan_sampler(step_fn, x_init: Array, sigmas: Array, return_trajectory: bool):
  def body(x, pair):
    x_next = step_fn(x, pair[0], pair[1])
    return x_next, (x_next if return_trajectory else None)

  pairs = jnp.stack([sigmas[:-1], sigmas[1:]], axis=-1)
  x, traj = jax.lax.scan(body, x_init, pairs)
  return (x, traj) if return_trajectory else x


def sample_euler(denoise_fn: edm.DenoiseFn, x_init: Array, sigmas: Array, cond: Any = None, *,
                 return_trajectory: bool = False):
  """Euler PF-ODE sampler over the descending grid `sigmas` starting from x_init (at sigmas[0]).

  Returns the final x, or (x, trajectory) with trajectory [len(sigmas)-1, *x.shape] holding x after
  each step.
  """
  def step(x, s, s_next):
    return euler_step(denoise_fn, x, s, s_next, cond)
  return _scan_sampler(step, x_init, sigmas, return_trajectory)


def sample_heun(denoise_fn: edm.DenoiseFn, x_init: Array, sigmas: Array, cond: Any = None, *,
                return_trajectory: bool = False):
  """Heun PF-ODE sampler (Karras Algorithm 1, S_churn = 0); Euler on a step to sigma = 0.

  The branch is a `lax.cond`, so a step to 0 costs one evaluation, not two.
  """
  def step(x, s, s_next):
    return jax.lax.cond(
        s_next > 0,
        lambda x: heun_step(denoise_fn, x, s, s_next, cond),
        lambda x: euler_step(denoise_fn, x, s, s_next, cond),
        x)
  return _scan_sampler(step, x_init, sigmas, return_trajectory)


def sample(denoise_fn: edm.DenoiseFn, key: Array, shape: tuple[int, ...],
           config: edm.EDMConfig = edm.EDMConfig(), cond: Any = None, *, solver: Solver = "heun",
           num_bins: int | None = None, return_trajectory: bool = False, dtype: Any = jnp.float32):
  """Draws x_T ~ N(0, sigma_max^2 I) of `shape` and integrates the PF-ODE to sigma = 0.

  The grid is `karras_sigmas(num_bins or config.num_bins, ...)` with a final 0 appended, so the
  RACTD teacher (80 bins, Heun) costs `sampler_nfe("heun", 81)` = 159 evaluations.
  """
  sigmas = edm.karras_sigmas(num_bins or config.num_bins, config.sigma_min, config.sigma_max,
                             config.rho, append_zero=True, dtype=dtype)
  x_init = jax.random.normal(key, shape, dtype) * sigmas[0]
  fn = {"euler": sample_euler, "heun": sample_heun}[solver]
  return fn(denoise_fn, x_init, sigmas, cond, return_trajectory=return_trajectory)


def sampler_nfe(solver: Solver, num_sigmas: int, ends_at_zero: bool = True) -> int:
  """Denoiser evaluations of `sample_euler`/`sample_heun` over a grid of `num_sigmas` points."""
  steps = num_sigmas - 1
  if solver == "euler":
    return steps
  if solver == "heun":
    return 2 * steps - (1 if ends_at_zero else 0)
  raise ValueError(f"unknown solver {solver!r}; expected 'euler' or 'heun'")
