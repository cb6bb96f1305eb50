"""Policy-gradient training for LLMs: group advantages (RLOO, GRPO), KL to a reference, PPO clip.

Rollouts come in groups: a batch of N = P * n sequences holds n consecutive samples per prompt.

* RLOO (used by SRT): A_i = r_i - mean_{j != i} r_j  (leave-one-out baseline within the group).
* GRPO: A_i = (r_i - mean(r)) / (std(r) + eps); std uses `ddof` (default 1, the unbiased estimate,
  as in the DeepSeekMath/TRL implementations; ddof=0 for the population std).

KL to the reference, per token, with the k3 estimator (Schulman, "Approximating KL divergence"):
    kl_t = exp(ref_t - pi_t) - (ref_t - pi_t) - 1   (>= 0, zero when pi == ref)
It can enter the loss (`kl_coef` in `policy_gradient_loss`, GRPO style) or be subtracted from the
sequence reward before computing advantages (`kl_penalised_rewards`, SRT style, coefficient 0.001:
r <- r - beta * sum_t kl_t over completion tokens, using the sampling-time log-probs, no gradient).

The surrogate per token, with ratio rho_t = exp(pi_t - old_t) and the sequence advantage A:
    clipped:    -min(rho_t A, clip(rho_t, 1 - eps, 1 + eps) A)
    unclipped:  -rho_t A   (with old = stop_gradient(pi) this is REINFORCE: gradient -A grad pi_t)
Aggregation: "token" = mean over all completion tokens of the batch (DAPO/Dr. GRPO style);
"sequence" = mean over each sequence's tokens, then over sequences (original GRPO).

Batch keys for `policy_gradient_loss`: `tokens`, `attention_mask`, `loss_mask` (completion tokens),
`advantages` [B]; optional `old_logprobs` [B, T] (sampling-time, aligned like
`jaxllm.train.logprobs.token_logprobs`) and `ref_logprobs` [B, T].
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxllm.train.logprobs import (Batch, LogitsFn, masked_mean, model_logits, target_mask,
                                   token_entropy, token_logprobs)


def _groups(rewards: jax.Array, group_size: int) -> jax.Array:
  if rewards.ndim != 1 or rewards.shape[0] % group_size:
    raise ValueError(f"rewards must be [P * group_size] with group_size={group_size}, "
                     f"got shape {rewards.shape}")
  return rewards.astype(jnp.float32).reshape(-1, group_size)


def rloo_advantages(rewards: jax.Array, group_size: int) -> jax.Array:
  """r_i minus the mean of the other group_size - 1 rewards of the same prompt. [N] -> [N]."""
  if group_size < 2:
    raise ValueError("RLOO needs group_size >= 2 samples per prompt")
  r = _groups(rewards, group_size)
  baseline = (jnp.sum(r, axis=1, keepdims=True) - r) / (group_size - 1)
  return (r - baseline).reshape(-1)


def grpo_advantages(rewards: jax.Array, group_size: int, eps: float = 1e-6, ddof: int = 1,
                    scale: bool = True) -> jax.Array:
  """(r - group mean) / (group std + eps); `scale=False` keeps the mean baseline only. [N]."""
  r = _groups(rewards, group_size)
  centred = r - jnp.mean(r, axis=1, keepdims=True)
  if scale:
    centred = centred / (jnp.std(r, axis=1, keepdims=True, ddof=ddof) + eps)
  return centred.reshape(-1)


def kl_k3(logprobs: jax.Array, ref_logprobs: jax.Array) -> jax.Array:
  """Per-token k3 estimate of KL(pi || ref) from samples of pi: exp(d) - d - 1, d = ref - pi."""
  d = ref_logprobs.astype(jnp.float32) - logprobs.astype(jnp.float32)
  return jnp.expm1(d) - d


def kl_penalised_rewards(rewards: jax.Array, logprobs: jax.Array, ref_logprobs: jax.Array,
                         mask: jax.Array, beta: float = 0.001, estimator: str = "k3"
                         ) -> tuple[jax.Array, jax.Array]:
  """SRT-style reward shaping: r - beta * sum_t kl_t over mask. Returns (rewards [B], kl sums [B]).

  estimator "k3" (default) or "k1" (pi - ref, the plain log-ratio). No gradient flows.
  """
  logprobs, ref_logprobs = jax.lax.stop_gradient((logprobs, ref_logprobs))
  if estimator == "k3":
    kl = kl_k3(logprobs, ref_logprobs)
  elif estimator == "k1":
    kl = logprobs.astype(jnp.float32) - ref_logprobs.astype(jnp.float32)
  else:
    raise ValueError(f"estimator must be 'k3' or 'k1', got {estimator!r}")
  kl_sum = jnp.sum(jnp.where(mask, kl, 0.0), axis=-1)
  return rewards.astype(jnp.float32) - beta * kl_sum, kl_sum


def aggregate(x: jax.Array, mask: jax.Array, mode: str) -> jax.Array:
  """Token-mean over the batch ("token") or mean of per-sequence token-means ("sequence")."""
  if mode == "token":
    return masked_mean(x, mask)
  if mode == "sequence":
    return jnp.mean(masked_mean(x, mask, axis=-1))
  raise ValueError(f"aggregation must be 'token' or 'sequence', got {mode!r}")


def policy_gradient_loss_from_logprobs(
    logprobs: jax.Array, advantages: jax.Array, mask: jax.Array,
    old_logprobs: jax.Array | None = None, ref_logprobs: jax.Array | None = None, *,
    clip_eps: float | None = 0.2, kl_coef: float = 0.0, aggregation: str = "token"
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Clipped (or plain) surrogate + kl_coef * k3 KL; logprobs [B, T], advantages [B], mask [B, T].

  `old_logprobs=None` means on-policy: ratio = exp(pi - stop_gradient(pi)) = 1 with the REINFORCE
  gradient. `clip_eps=None` disables clipping. Returns (loss, metrics).
  """
  mask = mask.astype(jnp.bool_)
  logprobs = logprobs.astype(jnp.float32)
  old = jax.lax.stop_gradient(logprobs if old_logprobs is None else old_logprobs)
  adv = jax.lax.stop_gradient(advantages.astype(jnp.float32))[:, None]
  log_ratio = logprobs - old.astype(jnp.float32)
  ratio = jnp.exp(log_ratio)
  unclipped = -ratio * adv
  if clip_eps is None:
    per_token = unclipped
    clipped_frac = jnp.zeros((), jnp.float32)
  else:
    clipped = -jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
    per_token = jnp.maximum(unclipped, clipped)
    clipped_frac = masked_mean((clipped > unclipped).astype(jnp.float32), mask)
  pg_loss = aggregate(per_token, mask, aggregation)
  metrics = {
      "pg_loss": pg_loss,
      "clip_fraction": clipped_frac,
      "ratio": masked_mean(ratio, mask),
      "approx_kl_old": masked_mean(0.5 * jnp.square(log_ratio), mask),
      "advantage": jnp.mean(adv),
      "tokens": jnp.sum(mask.astype(jnp.float32)),
  }
  loss = pg_loss
  if ref_logprobs is not None:
    kl = kl_k3(logprobs, jax.lax.stop_gradient(ref_logprobs))
    kl_term = aggregate(kl, mask, aggregation)
    metrics["kl"] = kl_term
    if kl_coef:
      loss = loss + kl_coef * kl_term
  metrics["loss"] = loss
  return loss, metrics


def policy_gradient_loss(params: Any, batch: Batch, *, logits_fn: LogitsFn,
                         clip_eps: float | None = 0.2, kl_coef: float = 0.0,
                         aggregation: str = "token") -> tuple[jax.Array, dict[str, jax.Array]]:
  """Model-level policy-gradient loss on a rollout batch (see module docstring); adds `entropy`."""
  logits = model_logits(logits_fn, params, batch)
  mask = target_mask(batch)
  lp = token_logprobs(logits, batch["tokens"])
  loss, metrics = policy_gradient_loss_from_logprobs(
      lp, batch["advantages"], mask, batch.get("old_logprobs"), batch.get("ref_logprobs"),
      clip_eps=clip_eps, kl_coef=kl_coef, aggregation=aggregation)
  metrics["entropy"] = masked_mean(jax.lax.stop_gradient(token_entropy(logits)), mask)
  return loss, metrics
