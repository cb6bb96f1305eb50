"""Consistency Trajectory Models (Kim et al., 2023) as used by RACTD (PAPERS.md §1).

Parameterisation. From a network F(x_in, c_noise, cond, s_noise) with an embedding of the stop
time s (e.g. `MLPDenoiser(stop_time=True)`, `ConditionalUnet1D(stop_time=True)`):

    g(x_t, t, s) = c_skip(t) x_t + c_out(t) F(c_in(t) x_t, ln(t)/4, cond, ln(s)/4)
    G(x_t, t, s) = (s/t) x_t + (1 - s/t) g(x_t, t, s)

so G(x, t, t) = x exactly and g(., t, t) plays the role of the EDM denoiser D(., t).

Grid and indices. Bins are the `num_bins` Karras levels, index 0 = sigma_max, index N-1 = sigma_min
(descending, no 0), so "after t" means a larger index, i.e. closer to sigma_min. With
k = num_heun_steps, `sample_ctm_indices` draws, per example,

    t ~ U{0, ..., N-1-k},   u = t + k,   s ~ U{u, ..., N-1},

so sigma_t > sigma_u >= sigma_s >= sigma_min. This is the official CTM code's sampler
(sony/ctm, `sample_t`/`sample_s` with the uniform strategy); PAPERS.md's looser "s in [t, T], u in
[t, s] capped at one bin after t" contains it, and drawing s at or after u avoids pairs with s = t,
whose loss is identically zero (G(x, t, t) = x).

CTM loss (`ctm_loss`). With x_t = x0 + sigma_t n, the teacher solves the PF-ODE from t to u with
Heun steps along the grid (one step when num_heun_steps = 1); then, writing G_theta for the student
and G_sg for the stop-gradient target copy (same weights, EMA decay 0 in RACTD):

    est    = G_sg(G_theta(x_t, t, s), s, sigma_min)
    target = G_sg(G_sg(x_u, u, s),    s, sigma_min)
    loss   = mean_batch d(est, target)

Gradients reach the student's weights through both G_theta and the input of the outer G_sg.

Pseudo-Huber distance (`pseudo_huber`), per example, over all M = prod(x.shape[1:]) entries:

    d(a, b) = sqrt(||a - b||_2^2 + c^2) - c,    c = 0.00054 * sqrt(M)  (iCT / RACTD default).

DSM loss (`ctm_dsm_loss`): ln(sigma) ~ N(P_mean, P_std^2) clipped to [sigma_min, sigma_max],
x = x0 + sigma n, loss = mean_batch lambda(sigma) * mean_entries (pred - x0)^2 with
lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2. By default (stop="t") pred = g(x, sigma, sigma),
the student's denoiser, as in the official CTM code (its DSM loss calls the model with s = t).
PAPERS.md §1 words the RACTD term as G(x, sigma, sigma_min) ~ x0; that is `stop="sigma_min"`.
We default to the former: regressing G(x, sigma, sigma_min) onto the posterior mean E[x0 | x]
fights the CTM term, which wants the ODE endpoint there. In the 2-D toy distillation of
tests/jaxdiff/test_ctm_distillation.py (same seeds and steps) one-step samples then end at
sliced-W 0.61 from the teacher, worse than the untrained student's 0.41, against 0.097 with
stop="t".

Sampling (`ctm_sample`): 1 step is x = G(x_T, sigma_max, sigma_min). With a grid
sigma_max = t_0 > ... > t_n = sigma_min, CTM's gamma-sampling takes, for k < n - 1,
s' = max(sqrt(1 - gamma^2) t_{k+1}, sigma_min), x <- G(x, t_k, s') + sqrt(t_{k+1}^2 - s'^2) z,
and finally x <- G(x, t_{n-1}, sigma_min). gamma = 0 is deterministic chaining along one ODE
trajectory; gamma = 1 re-noises a sigma_min estimate (consistency-model multistep sampling).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp

from jaxdiff import edm, samplers

Array = jax.Array
GFn = Callable[[Array, Array, Array, Any], Array]


def ctm_g(net_apply: edm.NetApply, x_t: Array, t: Array, s: Array, cond: Any = None, *,
          sigma_data: float = 0.5, return_inner: bool = False):
  """G(x_t, t, s) (and optionally g) for t, s scalars or [batch], sigma_min <= s <= t."""
  t = edm.batch_sigma(t, x_t)
  s = edm.batch_sigma(s, x_t)
  c_skip, c_out, c_in, c_noise_t = edm.preconditioning(t, sigma_data)
  c_noise_s = 0.25 * jnp.log(s)
  f = net_apply(edm.expand_to(c_in, x_t) * x_t, c_noise_t, cond, c_noise_s)
  g = edm.expand_to(c_skip, x_t) * x_t + edm.expand_to(c_out, x_t) * f
  ratio = edm.expand_to(s / t, x_t)
  big_g = ratio * x_t + (1 - ratio) * g
  return (big_g, g) if return_inner else big_g


def make_ctm_g(net_apply: edm.NetApply, sigma_data: float = 0.5) -> GFn:
  """Binds `ctm_g` to a network: g_fn(x, t, s, cond) -> G."""
  def g_fn(x: Array, t: Array, s: Array, cond: Any = None) -> Array:
    return ctm_g(net_apply, x, t, s, cond, sigma_data=sigma_data)
  return g_fn


def ctm_denoiser(net_apply: edm.NetApply, sigma_data: float = 0.5) -> edm.DenoiseFn:
  """The student as an EDM denoiser, D(x, sigma) = g(x, sigma, sigma) (CTM's score access)."""
  def denoise_fn(x: Array, sigma: Array, cond: Any = None) -> Array:
    return ctm_g(net_apply, x, sigma, sigma, cond, sigma_data=sigma_data, return_inner=True)[1]
  return denoise_fn


def pseudo_huber_c(num_entries: int) -> float:
  """c = 0.00054 * sqrt(M) for M entries per example."""
  return 0.00054 * math.sqrt(num_entries)


def pseudo_huber(a: Array, b: Array, c: float | None = None) -> Array:
  """Per-example sqrt(||a - b||^2 + c^2) - c over all non-batch entries, shape [batch]."""
  diff = (a - b).reshape(a.shape[0], -1)
  if c is None:
    c = pseudo_huber_c(diff.shape[1])
  return jnp.sqrt(jnp.sum(jnp.square(diff), axis=-1) + c ** 2) - c


def sample_ctm_indices(key: Array, batch: int, num_bins: int,
                       num_heun_steps: int = 1) -> tuple[Array, Array, Array]:
  """(t_idx, s_idx, u_idx), each [batch] int32, as in the module docstring."""
  if not 1 <= num_heun_steps < num_bins:
    raise ValueError(f"CTM needs 1 <= num_heun_steps < num_bins, got {num_heun_steps} and "
                     f"{num_bins}")
  k_t, k_s = jax.random.split(key)
  t_idx = jax.random.randint(k_t, (batch,), 0, num_bins - num_heun_steps)
  u_idx = t_idx + num_heun_steps
  s_idx = jax.random.randint(k_s, (batch,), u_idx, num_bins)
  return t_idx, s_idx, u_idx


def teacher_solve(teacher_denoise: edm.DenoiseFn, x_t: Array, sigmas: Array, t_idx: Array,
                  num_heun_steps: int, cond: Any = None) -> Array:
  """`num_heun_steps` Heun steps along `sigmas` from per-example index t_idx (2 NFE each)."""
  x = x_t
  for k in range(num_heun_steps):
    x = samplers.heun_step(teacher_denoise, x, sigmas[t_idx + k], sigmas[t_idx + k + 1], cond)
  return x


def ctm_loss(student_apply: edm.NetApply, target_apply: edm.NetApply,
             teacher_denoise: edm.DenoiseFn, x0: Array, key: Array, cond: Any = None,
             config: edm.EDMConfig = edm.EDMConfig(), *, num_heun_steps: int = 1,
             huber_c: float | None = None, reduce: bool = True) -> Array:
  """CTM consistency loss (module docstring).

  Args:
    student_apply: network of the student (gradients flow through it).
    target_apply: the same network evaluated at `jax.lax.stop_gradient` of the student's weights
      (or at EMA weights); the caller is responsible for the stop-gradient on the weights.
    teacher_denoise: teacher D(x, sigma, cond), e.g. `edm.make_denoiser(teacher_net)`.
    x0: clean data [batch, ...]; key: PRNG key; cond: conditioning for all three networks.
    config: grid (num_bins, sigma_min, sigma_max, rho) and sigma_data.
    num_heun_steps: teacher Heun steps from t to u = t + num_heun_steps.
    huber_c: pseudo-Huber c; default 0.00054 * sqrt(entries per example).
  """
  k_idx, k_noise = jax.random.split(key)
  sigmas = edm.karras_sigmas(config.num_bins, config.sigma_min, config.sigma_max, config.rho,
                             append_zero=False, dtype=x0.dtype)
  t_idx, s_idx, u_idx = sample_ctm_indices(k_idx, x0.shape[0], config.num_bins, num_heun_steps)
  t, s, u = sigmas[t_idx], sigmas[s_idx], sigmas[u_idx]
  x_t = x0 + edm.expand_to(t, x0) * jax.random.normal(k_noise, x0.shape, x0.dtype)
  x_u = jax.lax.stop_gradient(
      teacher_solve(teacher_denoise, x_t, sigmas, t_idx, num_heun_steps, cond))
  sd = config.sigma_data
  est = ctm_g(student_apply, x_t, t, s, cond, sigma_data=sd)
  target = ctm_g(target_apply, x_u, u, s, cond, sigma_data=sd)
  est = ctm_g(target_apply, est, s, config.sigma_min, cond, sigma_data=sd)
  target = jax.lax.stop_gradient(ctm_g(target_apply, target, s, config.sigma_min, cond,
                                       sigma_data=sd))
  per_example = pseudo_huber(est, target, huber_c)
  return jnp.mean(per_example) if reduce else per_example


def ctm_dsm_loss(student_apply: edm.NetApply, x0: Array, key: Array, cond: Any = None,
                 config: edm.EDMConfig = edm.EDMConfig(), *, sigma: Array | None = None,
                 stop: Literal["t", "sigma_min"] = "t", reduce: bool = True) -> Array:
  """Denoising score matching through the CTM parameterisation, Karras-weighted.

  stop="t" regresses g(x_sigma, sigma, sigma) to x0 (official CTM code, the default); stop=
  "sigma_min" regresses G(x_sigma, sigma, sigma_min) to x0 (PAPERS.md's wording of RACTD). See the
  module docstring for why "t" is the default. `sigma` overrides the log-normal draw.
  """
  k_sigma, k_noise = jax.random.split(key)
  if sigma is None:
    sigma = edm.sample_training_sigmas(k_sigma, x0.shape[0], config.p_mean, config.p_std, x0.dtype)
    sigma = jnp.clip(sigma, config.sigma_min, config.sigma_max)
  sigma = edm.batch_sigma(sigma, x0)
  x = x0 + edm.expand_to(sigma, x0) * jax.random.normal(k_noise, x0.shape, x0.dtype)
  if stop == "sigma_min":
    pred = ctm_g(student_apply, x, sigma, config.sigma_min, cond, sigma_data=config.sigma_data)
  elif stop == "t":
    pred = ctm_g(student_apply, x, sigma, sigma, cond, sigma_data=config.sigma_data,
                 return_inner=True)[1]
  else:
    raise ValueError(f"stop must be 'sigma_min' or 't', got {stop!r}")
  per_example = (edm.karras_weight(sigma, config.sigma_data)
                 * edm.per_example_sq_error(pred, x0))
  return jnp.mean(per_example) if reduce else per_example


def ctm_sampling_sigmas(num_steps: int, config: edm.EDMConfig = edm.EDMConfig()) -> Array:
  """num_steps + 1 Karras levels from sigma_max to sigma_min; [80, 0.002] for one step."""
  return edm.karras_sigmas(num_steps + 1, config.sigma_min, config.sigma_max, config.rho,
                           append_zero=False)


def ctm_sample(g_fn: GFn, x_init: Array, sigmas: Array, cond: Any = None, *,
               key: Array | None = None, gamma: float = 0.0,
               clip: float | None = None) -> Array:
  """CTM gamma-sampling over the descending grid `sigmas` (len n + 1, last = final stop time).

  x_init is at sigmas[0]; costs n evaluations of G. `key` is needed when gamma > 0 and n > 1.
  `clip` clamps the final sample to [-clip, clip] (RACTD clamps actions to [-1, 1]).
  """
  n = sigmas.shape[0] - 1
  sigma_end = sigmas[-1]
  x = x_init
  if n > 1:
    if gamma > 0 and key is None:
      raise ValueError("ctm_sample with gamma > 0 and more than one step needs a PRNG key")
    keys = jax.random.split(key if key is not None else jax.random.key(0), n - 1)

    def body(x, inputs):
      t, t_next, k = inputs
      s = jnp.maximum(math.sqrt(1.0 - gamma ** 2) * t_next, sigma_end)
      x = g_fn(x, t, s, cond)
      if gamma > 0:
        std = jnp.sqrt(jnp.maximum(t_next ** 2 - s ** 2, 0.0))
        x = x + std * jax.random.normal(k, x.shape, x.dtype)
      return x, None

    x, _ = jax.lax.scan(body, x, (sigmas[:n - 1], sigmas[1:n], keys))
  x = g_fn(x, sigmas[n - 1], sigma_end, cond)
  return jnp.clip(x, -clip, clip) if clip is not None else x
