"""Classifier-free guidance (Ho & Salimans, 2022) with positive and negative prompts.

A text-conditioned denoiser D(x; sigma, c) trained with the prompt dropped to the null prompt some
of the time gives, at sampling time,

    D_w(x; sigma) = D(x; sigma, c_neg) + w * (D(x; sigma, c_pos) - D(x; sigma, c_neg)),

where c_neg is the null prompt (plain CFG) or a *negative* prompt describing what the sample should
not look like (LADiBI: "blurry", "jpeg artifacts"). w = 0 is the negative-prompt model, w = 1 the
positive-prompt model, w > 1 extrapolates away from c_neg. D is linear in the network output, so the
same combination holds for the raw output, the noise estimate and the score.

Both prompts go through the network in one call of twice the batch (one compiled shape, and the
cheaper choice on accelerators); `cond` is a pair (pos_ids, neg_ids) of int32 token ids [B, T].
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxdiff import edm

Array = jax.Array


def cfg_combine(d_pos: Array, d_neg: Array, weight: float | Array) -> Array:
  """d_neg + w (d_pos - d_neg)."""
  return d_neg + weight * (d_pos - d_neg)


def cfg_denoiser(denoise_fn: edm.DenoiseFn, weight: float | Array) -> edm.DenoiseFn:
  """A denoiser `fn(x, sigma, (pos_ids, neg_ids))` applying CFG to `denoise_fn(x, sigma, ids)`.

  weight == 1 calls the network once (the positive prompt only), so an unguided sampler pays no
  extra evaluation; any other weight evaluates both prompts in one doubled batch.
  """
  def fn(x: Array, sigma: Array, cond: Any) -> Array:
    pos, neg = cond
    if isinstance(weight, (int, float)) and weight == 1.0:
      return denoise_fn(x, sigma, pos)
    sigma_b = edm.batch_sigma(sigma, x)
    both = denoise_fn(jnp.concatenate([x, x]), jnp.concatenate([sigma_b, sigma_b]),
                      jnp.concatenate([pos, neg]))
    d_pos, d_neg = jnp.split(both, 2)
    return cfg_combine(d_pos, d_neg, weight)
  return fn


def drop_prompts(key: Array, ids: Array, rate: float) -> Array:
  """Training-time prompt dropout: each row of `ids` [B, T] becomes the null prompt (all 0) with
  probability `rate`, so one network learns both D(x; sigma, c) and D(x; sigma, null)."""
  keep = jax.random.uniform(key, (ids.shape[0], 1)) >= rate
  return jnp.where(keep, ids, jnp.zeros_like(ids))
