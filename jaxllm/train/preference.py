"""Preference optimisation: DPO and RPO (DPO + alpha * NLL of the chosen response).

DPO (Rafailov et al., 2023) per pair, with sequence log-probs summed over response tokens:

    h = (log pi(y_c) - log ref(y_c)) - (log pi(y_r) - log ref(y_r))
    loss = -log sigmoid(beta * h)

RPO (Pang et al., 2024; PAPRIKA uses alpha = 1, beta = 0.1) adds alpha * NLL(y_c). Our choice for
the NLL, following Pang et al.: *length-normalised per sequence* (sum of chosen-token NLLs / number
of chosen target tokens), then averaged over pairs, so the term is a per-token cross-entropy
whatever the response lengths. `nll_normalisation="token"` instead divides the batch's summed
chosen NLL by the batch's chosen token count (the SFT convention).

Batch keys: `chosen_tokens`, `chosen_attention_mask`, `chosen_loss_mask`, the same for `rejected_`,
and `ref_chosen_logps`, `ref_rejected_logps` [B] (sequence sums under the same masks, precomputed
once with `reference_logps`). Chosen and rejected must share the padded length T: they run in one
forward pass of 2B sequences.

`dpo_exclude_ids` (PAPRIKA: the end-of-turn/EOS ids) drops those target tokens from the DPO
log-ratio sums only; the NLL term still trains them, so the model keeps learning to end its turns.
Pass the same ids to `reference_logps` and `rpo_loss`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxllm.train.logprobs import Batch, LogitsFn, batch_logprobs, sequence_logprobs


def dpo_loss_from_logps(chosen_logps: jax.Array, rejected_logps: jax.Array,
                        ref_chosen_logps: jax.Array, ref_rejected_logps: jax.Array,
                        beta: float = 0.1) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Per-pair DPO losses [B] and batch-mean metrics from sequence log-probs [B].

  Rewards are the implicit ones, beta * (log pi - log ref); accuracy counts chosen > rejected.
  """
  chosen_rewards = beta * (chosen_logps - ref_chosen_logps)
  rejected_rewards = beta * (rejected_logps - ref_rejected_logps)
  margins = chosen_rewards - rejected_rewards
  losses = jax.nn.softplus(-margins)  # = -log sigmoid(margins), stable
  metrics = {
      "dpo_loss": jnp.mean(losses),
      "rewards/chosen": jnp.mean(chosen_rewards),
      "rewards/rejected": jnp.mean(rejected_rewards),
      "rewards/margins": jnp.mean(margins),
      "rewards/accuracy": jnp.mean((chosen_rewards > rejected_rewards).astype(jnp.float32)),
      "logps/chosen": jnp.mean(chosen_logps),
      "logps/rejected": jnp.mean(rejected_logps),
  }
  return losses, metrics


def _stack_pairs(batch: Batch) -> dict[str, jax.Array]:
  """Chosen then rejected as one batch of 2B sequences."""
  out = {}
  for key in ("tokens", "attention_mask", "loss_mask", "positions"):
    c, r = batch.get(f"chosen_{key}"), batch.get(f"rejected_{key}")
    if c is not None:
      out[key] = jnp.concatenate([c, r], axis=0)
  return out


def _dpo_sums(out: dict[str, jax.Array], tokens: jax.Array,
              exclude_ids: tuple[int, ...]) -> jax.Array:
  """Sequence sums of the aligned log-probs over the target mask minus `exclude_ids` tokens."""
  if not exclude_ids:
    return out["sequence"]
  keep = out["mask"] & ~jnp.isin(tokens, jnp.asarray(exclude_ids, tokens.dtype))
  return sequence_logprobs(out["logprobs"], keep)


def reference_logps(logits_fn: LogitsFn, ref_params: Any, batch: Batch,
                    dpo_exclude_ids: tuple[int, ...] = ()) -> dict[str, jax.Array]:
  """{'ref_chosen_logps', 'ref_rejected_logps'} [B] to add to a preference batch."""
  pairs = _stack_pairs(batch)
  seq = _dpo_sums(batch_logprobs(logits_fn, ref_params, pairs), pairs["tokens"], dpo_exclude_ids)
  seq = jax.lax.stop_gradient(seq)
  b = seq.shape[0] // 2
  return {"ref_chosen_logps": seq[:b], "ref_rejected_logps": seq[b:]}


def rpo_loss(params: Any, batch: Batch, *, logits_fn: LogitsFn, beta: float = 0.1,
             alpha: float = 1.0, nll_normalisation: str = "sequence",
             dpo_exclude_ids: tuple[int, ...] = ()) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Mean DPO loss + alpha * NLL(chosen); alpha = 0 gives plain DPO. Returns (loss, metrics)."""
  if nll_normalisation not in ("sequence", "token"):
    raise ValueError(f"nll_normalisation must be 'sequence' or 'token', got {nll_normalisation!r}")
  pairs = _stack_pairs(batch)
  out = batch_logprobs(logits_fn, params, pairs)
  b = out["sequence"].shape[0] // 2
  chosen = out["sequence"][:b]
  dpo = _dpo_sums(out, pairs["tokens"], dpo_exclude_ids)
  losses, metrics = dpo_loss_from_logps(dpo[:b], dpo[b:], batch["ref_chosen_logps"],
                                        batch["ref_rejected_logps"], beta)
  counts = jnp.sum(out["mask"][:b].astype(jnp.float32), axis=-1)
  if nll_normalisation == "sequence":
    nll = jnp.mean(-chosen / jnp.maximum(counts, 1.0))
  else:
    nll = -jnp.sum(chosen) / jnp.maximum(jnp.sum(counts), 1.0)
  loss = jnp.mean(losses) + alpha * nll
  metrics.update({"loss": loss, "nll": nll, "tokens/chosen": jnp.sum(counts)})
  return loss, metrics


def dpo_loss(params: Any, batch: Batch, *, logits_fn: LogitsFn, beta: float = 0.1
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Plain DPO (RPO with alpha = 0)."""
  return rpo_loss(params, batch, logits_fn=logits_fn, beta=beta, alpha=0.0)
