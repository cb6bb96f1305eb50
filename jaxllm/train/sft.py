"""Supervised fine-tuning: next-token cross-entropy on the target tokens of a (multi-turn) batch.

The batch follows `jaxllm.train.logprobs`: `tokens`, `attention_mask`, `loss_mask` (True on the
tokens to learn, e.g. the assistant/agent turns of a multi-turn dialogue; prompt, user and
environment tokens are False), optional `positions`.

Normalisation: the loss is the mean negative log-likelihood over *all target tokens in the batch*
(sum of token NLLs / number of target tokens), so long and short sequences weigh by their token
counts. Under sharding the sums run over the global batch, so the value does not depend on the mesh.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxllm.train.logprobs import (Batch, LogitsFn, model_logits, target_mask, token_accuracy,
                                   token_logprobs)


def sft_loss_from_logits(logits: jax.Array, tokens: jax.Array, mask: jax.Array
                         ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Token-mean NLL over `mask` (aligned with tokens, position 0 ignored) and metrics.

  Metrics: loss, tokens (number of target tokens), accuracy (argmax hits among target tokens),
  perplexity = exp(loss).
  """
  mask = mask.astype(jnp.bool_).at[:, 0].set(False)
  lp = token_logprobs(logits, tokens)
  weight = mask.astype(jnp.float32)
  count = jnp.sum(weight)
  denom = jnp.maximum(count, 1.0)
  loss = -jnp.sum(lp * weight) / denom
  accuracy = jnp.sum(token_accuracy(logits, tokens) * weight) / denom
  metrics = {"loss": loss, "tokens": count, "accuracy": accuracy, "perplexity": jnp.exp(loss)}
  return loss, metrics


def sft_loss(params: Any, batch: Batch, *, logits_fn: LogitsFn
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """SFT loss of a model on a batch; bind `logits_fn` (functools.partial) for `make_train_step`."""
  logits = model_logits(logits_fn, params, batch)
  return sft_loss_from_logits(logits, batch["tokens"], target_mask(batch))
