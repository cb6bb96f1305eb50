"""Sampling from the teacher and the student, as policies and planners.

  teacher: EDM PF-ODE from sigma_max, Heun over `num_bins` Karras levels then an Euler step to 0
           (2 * num_bins - 1 network evaluations: 159 for the paper's 80 bins);
  student: CTM, x = G(sigma_max z, sigma_max, sigma_min) in one evaluation, or `steps` chained
           evaluations (gamma-sampling, jaxdiff.ctm.ctm_sample).
Both clamp the sample to [-1, 1] (actions live there; Maze2D plans are scaled there).

`make_sampler(...)` returns `sample(params, cond, key) -> x [B, H, C]`; `chunk_policy` wraps it into
the `policy(params, obs, key) -> action` of `jaxrl.evaluation.Evaluator`: standardise the
observation, sample a chunk, execute its first action (replanning every step, as RACTD does).
`seconds_per_action` is the latency of one jitted call at batch 1 (median over repeats, after
compilation), the quantity the paper's speed-up compares.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import ctm, edm, samplers
from jaxrl.ractd.networks import FunctionalNet

Array = jax.Array
Sampler = Callable[[Any, Array, Array], Array]


def make_sampler(kind: str, net: FunctionalNet, shape: tuple[int, int], ecfg: edm.EDMConfig, *,
                 num_bins: int = 80, steps: int = 1, gamma: float = 0.0) -> Sampler:
  """sample(params, cond [B, cond_dim], key) -> [B, *shape] for kind "teacher" or "student"."""
  if kind == "teacher":
    def sample(params, cond, key):
      denoise = edm.make_denoiser(net.apply(params), ecfg.sigma_data)
      x = samplers.sample(denoise, key, (cond.shape[0],) + tuple(shape), ecfg, cond,
                          solver="heun", num_bins=num_bins)
      return jnp.clip(x, -1.0, 1.0)
  elif kind == "student":
    sigmas = ctm.ctm_sampling_sigmas(steps, ecfg)

    def sample(params, cond, key):
      k_init, k_chain = jax.random.split(key)
      g_fn = ctm.make_ctm_g(net.apply(params), ecfg.sigma_data)
      x_init = ecfg.sigma_max * jax.random.normal(k_init, (cond.shape[0],) + tuple(shape))
      return ctm.ctm_sample(g_fn, x_init, sigmas, cond, key=k_chain, gamma=gamma, clip=1.0)
  else:
    raise ValueError(f"kind must be 'teacher' or 'student', got {kind!r}")
  return sample


def nfe(kind: str, num_bins: int = 80, steps: int = 1) -> int:
  """Network evaluations per sample of `make_sampler(kind, ...)`."""
  return samplers.sampler_nfe("heun", num_bins + 1) if kind == "teacher" else steps


def chunk_policy(sample: Sampler, obs_shift: np.ndarray, obs_scale: np.ndarray):
  """policy(params, obs [B, obs], key) -> first action of a sampled chunk [B, act]."""
  shift, scale = jnp.asarray(obs_shift), jnp.asarray(obs_scale)

  def policy(params, obs, key):
    obs_n = (jnp.asarray(obs, jnp.float32) - shift) / scale
    return sample(params, obs_n, key)[:, 0]

  return policy


def seconds_per_action(policy, params: Any, obs_dim: int, repeats: int = 20,
                       min_seconds: float = 0.5) -> float:
  """Median wall time of one jitted `policy(params, obs[1, obs_dim], key)` call."""
  fn = jax.jit(policy)
  obs = jnp.zeros((1, obs_dim), jnp.float32)
  key = jax.random.PRNGKey(0)
  jax.block_until_ready(fn(params, obs, key))
  times: list[float] = []
  start = time.perf_counter()
  while len(times) < repeats or (time.perf_counter() - start < min_seconds and len(times) < 1000):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(params, obs, key))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))
