"""LADiBI posterior sampling: operator initialisation (Algorithm 2) and refinement (Algorithm 1).

The measurement is y = A_phi*(x) + sigma_y n with both the image x and the operator's parameters
phi unknown; the prior is a (text-conditioned) diffusion denoiser D(x; sigma, c) steered by
classifier-free guidance between a positive prompt (what the image shows) and a negative prompt
(the degradation: "blurry", "jpeg artifacts"), see `jaxdiff.guidance`. Everything works in EDM's
variance-exploding x-space (x_t = x0 + sigma_t n, `jaxdiff.edm`).

One step of the sampler, from sigma_t to sigma_{t-1} (`_sampler_step`):

  1. predict x0|t = D_w(x_t; sigma_t) -- one guided denoiser call; no gradient flows through it;
  2. measurement steps: `x_steps` gradient (or Adam) steps on z (started at x0|t) of
         L(z, phi) = mean_pixels (y - A_phi(z))^2 + lambda * P(A_phi(z), y),
     P a perceptual distance (`jaxdiff.image_metrics.perceptual_distance`, our stand-in for LPIPS);
     optimising the clean estimate directly, as LADiBI does for z0|t, rather than backpropagating
     through the network (DPS) costs no network gradients;
  3. every `phi_every` steps, `phi_steps` Adam steps on phi of the same loss at the updated z
     (Adam's state persists across the whole sampler);
  4. re-noise to sigma_{t-1}: x_{t-1} = z + sigma_{t-1} (sqrt(1 - eta^2) eps_hat + eta n'), with
     eps_hat = (x_t - x0|t) / sigma_t the denoiser's own noise estimate (eta = 0: DDIM's
     deterministic update; eta = 1: fresh noise, ReSample-style stochastic re-sampling).

Algorithm 2 (`initialise_operator`): start each image from the measurement itself noised to
sigma_start (the "partially noised start"), draw N fast posterior samples with `init_steps` sampler
steps (the first round unguided by the measurement -- phi is not known yet -- later rounds guided
by the current phi), then fit phi by `init_fit_steps` Adam steps on the mean over the N samples of
the measurement loss. Algorithm 1 (`refine`): from the mean of those samples noised to sigma_start,
`num_steps` sampler steps with measurement steps and phi updates. The non-blind upper bound is
the same refinement with the true phi and `update_phi=False`.

Everything is batched over images: every leaf of phi has the image batch leading and losses are
summed over images, so each image's z and phi get their own gradients (Adam is elementwise); the
N posterior samples of Algorithm 2 are folded into the batch. Step sizes and counts are
`PosteriorConfig` fields; the values used in experiments are in experiments/configs/ladibi.py.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from jaxdiff import edm

Array = jax.Array
PyTree = Any
# apply(phi, x [B, H, W, C]) -> A_phi(x) [B, ...]; every leaf of phi has leading batch B.
OperatorApply = Callable[[PyTree, Array], Array]
# perceptual(a, b) -> [B] distances, differentiable in a.
Perceptual = Callable[[Array, Array], Array]


@dataclasses.dataclass(frozen=True)
class PosteriorConfig:
  """Step sizes and counts of Algorithms 1 and 2 (module docstring)."""
  guidance: float = 3.0          # CFG weight w between positive and negative prompt
  sigma_start: float = 2.0       # noise level of the partially noised start
  sigma_min: float = 0.01        # last non-zero level of the Karras grid
  rho: float = 7.0
  num_steps: int = 30            # Algorithm 1 sampler steps (one guided denoiser call each)
  eta: float = 0.5               # fresh-noise fraction when re-noising
  x_steps: int = 5               # measurement steps on z per sampler step
  lr_x: float = 0.2              # their step size (see x_optimizer)
  x_optimizer: str = "sgd"       # "sgd": gradient descent on the per-image SUM over pixels of L
                                 # (stable below 1/(2 |A|^2), i.e. lr_x < 0.5 for a blur); "adam"
  perceptual_weight: float = 0.1  # lambda
  phi_every: int = 1             # update phi every this many sampler steps ...
  phi_steps: int = 5             # ... with this many Adam steps
  lr_phi: float = 0.01
  init_rounds: int = 2           # Algorithm 2: rounds of (sample N, fit phi)
  init_samples: int = 4          # N
  init_steps: int = 5            # sampler steps per fast posterior sample
  init_fit_steps: int = 100
  init_lr_phi: float = 0.05

  @classmethod
  def from_config(cls, section: Mapping[str, Any]) -> "PosteriorConfig":
    unknown = sorted(set(section) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"unknown posterior config keys {unknown}; valid: "
                       f"{[f.name for f in dataclasses.fields(cls)]}")
    return cls(**dict(section))

  def sigmas(self, num_steps: int) -> Array:
    """Descending grid sigma_start .. sigma_min, then 0 (num_steps + 1 values)."""
    return edm.karras_sigmas(num_steps, self.sigma_min, self.sigma_start, self.rho)


def nfe(config: PosteriorConfig, *, blind: bool = True) -> int:
  """Network evaluations per image: a guided call counts 2 unless guidance == 1."""
  per_call = 1 if config.guidance == 1.0 else 2
  calls = config.num_steps
  if blind:
    calls += config.init_rounds * config.init_samples * config.init_steps
  return per_call * calls


def measurement_loss(op: OperatorApply, phi: PyTree, z: Array, y: Array,
                     perceptual: Perceptual | None, weight: float) -> Array:
  """Per-image L(z, phi) = mean (y - A_phi(z))^2 + lambda P(A_phi(z), y), shape [B]."""
  pred = op(phi, z)
  loss = jnp.mean(jnp.square(pred - y).reshape(y.shape[0], -1), axis=-1)
  if perceptual is not None and weight:
    loss = loss + weight * perceptual(pred, y)
  return loss


def _adam_descent(loss_fn: Callable[[PyTree], Array], params: PyTree, opt: optax.GradientTransformation,
                  opt_state: Any, steps: int) -> tuple[PyTree, Any]:
  """`steps` optimiser steps on the scalar loss_fn, as a fori_loop."""
  grad_fn = jax.grad(loss_fn)

  def body(_, carry):
    p, s = carry
    updates, s = opt.update(grad_fn(p), s, p)
    return optax.apply_updates(p, updates), s

  return jax.lax.fori_loop(0, steps, body, (params, opt_state))


def _repeat(tree: PyTree, n: int) -> PyTree:
  return jax.tree.map(lambda a: jnp.repeat(a, n, axis=0), tree)


def sample(key: Array, x_start: Array, y: Array, cond: Any, phi: PyTree,
           denoise_fn: edm.DenoiseFn, op: OperatorApply, config: PosteriorConfig, *,
           num_steps: int, guide: bool = True, update_phi: bool = True,
           perceptual: Perceptual | None = None) -> tuple[Array, PyTree]:
  """Runs the sampler (module docstring, steps 1-4) from x_start at sigma_start to sigma = 0.

  Args:
    x_start: [B, H, W, C] already noised to sigma_start.
    y: measurements [B, ...]; cond: the denoiser's conditioning (e.g. (pos_ids, neg_ids)).
    phi: operator parameters (leading batch B); updated when `update_phi`.
    denoise_fn: `D(x, sigma, cond)`, already guided.
    guide: take the measurement steps (False: plain prior sampling from x_start).
  Returns (x0 estimate [B, H, W, C], phi).
  """
  sigmas = config.sigmas(num_steps)
  if config.x_optimizer == "sgd":
    # per-pixel-sum scaling: L is a mean over pixels, so its gradient is 1/P of the sum's
    pixels = float(jnp.size(x_start) // x_start.shape[0])
    opt_x = optax.sgd(config.lr_x * pixels)
  elif config.x_optimizer == "adam":
    opt_x = optax.adam(config.lr_x)
  else:
    raise ValueError(f"x_optimizer must be 'sgd' or 'adam', got '{config.x_optimizer}'")
  opt_phi = optax.adam(config.lr_phi)
  w = config.perceptual_weight

  def total(phi_, z_):
    return jnp.sum(measurement_loss(op, phi_, z_, y, perceptual, w))

  def body(carry, inputs):
    x, phi_, phi_state, key_ = carry
    i, sigma, sigma_next = inputs
    key_, k_noise = jax.random.split(key_)
    x0 = jax.lax.stop_gradient(denoise_fn(x, sigma, cond))
    z = x0
    if guide:
      z, _ = _adam_descent(lambda z_: total(phi_, z_), z, opt_x, opt_x.init(z), config.x_steps)
    if update_phi:
      def fit(args):
        p, s = args
        return _adam_descent(lambda p_: total(p_, z), p, opt_phi, s, config.phi_steps)
      phi_, phi_state = jax.lax.cond(i % config.phi_every == 0, fit, lambda a: a,
                                     (phi_, phi_state))
    eps = (x - x0) / sigma
    fresh = jax.random.normal(k_noise, x.shape, x.dtype)
    mix = jnp.sqrt(1.0 - config.eta ** 2) * eps + config.eta * fresh
    return (z + sigma_next * mix, phi_, phi_state, key_), None

  steps = (jnp.arange(num_steps), sigmas[:-1], sigmas[1:])
  (x, phi, _, _), _ = jax.lax.scan(body, (x_start, phi, opt_phi.init(phi), key), steps)
  return x, phi


def initialise_operator(key: Array, y: Array, cond: Any, phi0: PyTree, denoise_fn: edm.DenoiseFn,
                        op: OperatorApply, config: PosteriorConfig, *,
                        x_ref: Array | None = None,
                        perceptual: Perceptual | None = None) -> tuple[PyTree, Array]:
  """Algorithm 2. Returns (phi fitted, mean of the last round's N posterior samples [B, ...]).

  x_ref is the image-space start noised to sigma_start (default y itself, right for deblurring and
  JPEG where the measurement is an image of the same shape).
  """
  n = config.init_samples
  x_ref = y if x_ref is None else x_ref
  y_rep, cond_rep, ref_rep = _repeat(y, n), _repeat(cond, n), _repeat(x_ref, n)
  opt = optax.adam(config.init_lr_phi)
  phi = phi0
  samples = None
  for r in range(config.init_rounds):
    key, k_start, k_sample = jax.random.split(key, 3)
    x_start = ref_rep + config.sigma_start * jax.random.normal(k_start, ref_rep.shape)
    samples, _ = sample(k_sample, x_start, y_rep, cond_rep, _repeat(phi, n), denoise_fn, op,
                        config, num_steps=config.init_steps, guide=r > 0, update_phi=False,
                        perceptual=perceptual)

    def fit_loss(p, samples=samples):
      per = measurement_loss(op, _repeat(p, n), samples, y_rep, perceptual,
                             config.perceptual_weight)
      return jnp.sum(per) / n

    phi, _ = _adam_descent(fit_loss, phi, opt, opt.init(phi), config.init_fit_steps)
  mean = samples.reshape((y.shape[0], n) + samples.shape[1:]).mean(axis=1)
  return phi, mean


def refine(key: Array, y: Array, cond: Any, phi: PyTree, x_init: Array,
           denoise_fn: edm.DenoiseFn, op: OperatorApply, config: PosteriorConfig, *,
           update_phi: bool = True, perceptual: Perceptual | None = None) -> tuple[Array, PyTree]:
  """Algorithm 1 from x_init noised to sigma_start. Returns (x, phi)."""
  k_start, k_sample = jax.random.split(key)
  x_start = x_init + config.sigma_start * jax.random.normal(k_start, x_init.shape)
  return sample(k_sample, x_start, y, cond, phi, denoise_fn, op, config,
                num_steps=config.num_steps, update_phi=update_phi, perceptual=perceptual)


def restore(key: Array, y: Array, cond: Any, phi0: PyTree, denoise_fn: edm.DenoiseFn,
            op: OperatorApply, config: PosteriorConfig, *,
            perceptual: Perceptual | None = None) -> dict[str, Array | PyTree]:
  """LADiBI end to end: Algorithm 2 then Algorithm 1. Returns x, phi, and phi_init / x_init (the
  operator and image Algorithm 2 produced)."""
  k_init, k_refine = jax.random.split(key)
  phi_init, x_init = initialise_operator(k_init, y, cond, phi0, denoise_fn, op, config,
                                         perceptual=perceptual)
  x, phi = refine(k_refine, y, cond, phi_init, x_init, denoise_fn, op, config,
                  perceptual=perceptual)
  return {"x": x, "phi": phi, "x_init": x_init, "phi_init": phi_init}


def restore_nonblind(key: Array, y: Array, cond: Any, phi_true: PyTree,
                     denoise_fn: edm.DenoiseFn, op: OperatorApply, config: PosteriorConfig, *,
                     perceptual: Perceptual | None = None) -> Array:
  """The same sampler with the true operator, held fixed (the non-blind upper bound), started
  from the measurement noised to sigma_start."""
  x, _ = refine(key, y, cond, phi_true, y, denoise_fn, op, config, update_phi=False,
                perceptual=perceptual)
  return x
