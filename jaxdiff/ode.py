"""Probability-flow ODE sampling with diffrax (an alternative to the fixed-grid samplers).

The EDM PF-ODE dx/dsigma = (x - D(x; sigma)) / sigma is integrated from sigma_max to sigma_min,
by default in log-time tau = ln(sigma), where it reads

    dx/dtau = x - D(x; e^tau),

the same ODE with a smoother right-hand side over the 4.6 decades between 0.002 and 80 (adaptive
solvers take fewer steps). `time_variable="sigma"` integrates the literal form. As in Karras
Algorithm 1, the last move from sigma_min to 0 is the Euler step x <- D(x; sigma_min), one extra
evaluation (`denoise_final`).

The whole batch is one ODE state, so an adaptive controller picks one step size for the batch from
the RMS error over all of it. `ode_nfe` turns diffrax's step statistics into denoiser evaluations.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import diffrax
import jax
import jax.numpy as jnp

from jaxdiff import edm

Array = jax.Array

# Vector-field evaluations per attempted step for the solvers offered here. FSAL solvers (Tsit5,
# Dopri5, Bosh3) reuse the last stage of an accepted step as the next first stage, so they take
# one evaluation at the start plus (stages - 1) per attempted step. Checked against a counting
# vector field in tests/jaxdiff/test_ode.py.
_EVALS_PER_STEP = {"euler": 1, "heun": 2, "midpoint": 2, "bosh3": 3, "tsit5": 6, "dopri5": 6}
_FSAL = {"bosh3", "tsit5", "dopri5"}
_SOLVERS = {
    "euler": diffrax.Euler, "heun": diffrax.Heun, "midpoint": diffrax.Midpoint,
    "bosh3": diffrax.Bosh3, "tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5,
}


@dataclasses.dataclass(frozen=True)
class ODEConfig:
  """diffrax options. `num_steps` is used by the constant controller and as the initial dt."""
  solver: Literal["euler", "heun", "midpoint", "bosh3", "tsit5", "dopri5"] = "tsit5"
  adaptive: bool = True
  rtol: float = 1e-4
  atol: float = 1e-4
  num_steps: int = 32
  max_steps: int = 4096
  time_variable: Literal["log_sigma", "sigma"] = "log_sigma"
  denoise_final: bool = True


def solve_pf_ode(denoise_fn: edm.DenoiseFn, x_init: Array, cond: Any = None,
                 edm_config: edm.EDMConfig = edm.EDMConfig(),
                 ode_config: ODEConfig = ODEConfig()) -> tuple[Array, dict[str, Array]]:
  """Integrates x_init (at sigma_max) to sigma_min (then 0). Returns (x, diffrax stats)."""
  if ode_config.solver not in _SOLVERS:
    raise ValueError(f"unknown ODE solver {ode_config.solver!r}; choose from {sorted(_SOLVERS)}")
  if ode_config.adaptive and ode_config.solver == "euler":
    raise ValueError("Euler has no error estimate: use adaptive=False or another ODE solver")
  log_t = ode_config.time_variable == "log_sigma"

  def vector_field(t, x, args):
    if log_t:
      sigma = jnp.exp(t)
      return x - denoise_fn(x, sigma, cond)
    return (x - denoise_fn(x, t, cond)) / t

  if log_t:
    t0, t1 = math.log(edm_config.sigma_max), math.log(edm_config.sigma_min)
  else:
    t0, t1 = float(edm_config.sigma_max), float(edm_config.sigma_min)
  dt0 = (t1 - t0) / ode_config.num_steps
  if ode_config.adaptive:
    controller = diffrax.PIDController(rtol=ode_config.rtol, atol=ode_config.atol)
  else:
    controller = diffrax.ConstantStepSize()
  sol = diffrax.diffeqsolve(
      diffrax.ODETerm(vector_field), _SOLVERS[ode_config.solver](), t0=t0, t1=t1, dt0=dt0,
      y0=x_init, stepsize_controller=controller, max_steps=ode_config.max_steps,
      saveat=diffrax.SaveAt(t1=True))
  x = sol.ys[-1]
  if ode_config.denoise_final:
    x = denoise_fn(x, jnp.asarray(edm_config.sigma_min, x.dtype), cond)
  return x, dict(sol.stats)


def sample_pf_ode(denoise_fn: edm.DenoiseFn, key: Array, shape: tuple[int, ...], cond: Any = None,
                  edm_config: edm.EDMConfig = edm.EDMConfig(),
                  ode_config: ODEConfig = ODEConfig(),
                  dtype: Any = jnp.float32) -> tuple[Array, dict[str, Array]]:
  """Draws x_T ~ N(0, sigma_max^2 I) and calls `solve_pf_ode`."""
  x_init = jax.random.normal(key, shape, dtype) * edm_config.sigma_max
  return solve_pf_ode(denoise_fn, x_init, cond, edm_config, ode_config)


def ode_nfe(stats: dict[str, Array], ode_config: ODEConfig = ODEConfig()) -> Array:
  """Denoiser evaluations of one `solve_pf_ode` call, from its stats (includes the final denoise).

  Exact for constant steps and for non-FSAL solvers. For adaptive FSAL solvers diffrax
  re-evaluates the first stage after a step rejected before the first accepted one; the stats do
  not say how many rejections happened there, so the true count lies in
  [ode_nfe, ode_nfe + stats["num_rejected_steps"]] (in practice 0-2 more).
  """
  per_step = _EVALS_PER_STEP[ode_config.solver]
  n = stats["num_steps"] * per_step  # num_steps counts accepted and rejected attempts
  if ode_config.solver in _FSAL:
    n = n + 1
  return n + (1 if ode_config.denoise_final else 0)
