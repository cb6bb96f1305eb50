"""Per-token log-probabilities, sequence sums and entropies of a causal LM, in float32.

Conventions shared by every loss in `jaxllm.train`:

* A batch holds `tokens` [B, T] int, `attention_mask` [B, T] bool (real tokens; False on padding),
  optional `positions` [B, T] int, and `loss_mask` [B, T] bool marking the *target* tokens.
* Per-token quantities are aligned with `tokens`: entry t is log p(tokens[t] | tokens[:t]), computed
  from the logits at position t - 1 (next-token shift). Entry 0 has no prediction: it is 0 and is
  always excluded from masks (`target_mask`).
* A model enters as `logits_fn(params, tokens, positions, attention_mask) -> logits [B, T, V]`,
  so any model works. For an NNX model split once into (graphdef, params),
  `nnx_logits_fn(graphdef)` builds one.

log-softmax is taken in float32 via logsumexp whatever the logits dtype.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from jaxllm.models.transformer import positions_from_mask

LogitsFn = Callable[[Any, jax.Array, jax.Array, jax.Array], jax.Array]
Batch = Mapping[str, jax.Array]


def nnx_logits_fn(graphdef: Any) -> LogitsFn:
  """`logits_fn` for an NNX model split as `graphdef, params = nnx.split(model)`.

  Models returning `(logits, cache)` (like `jaxllm.models.Transformer`) are unpacked.
  """
  def logits_fn(params, tokens, positions, attention_mask):
    out = nnx.merge(graphdef, params)(tokens, positions, attention_mask=attention_mask)
    return out[0] if isinstance(out, tuple) else out

  return logits_fn


def target_mask(batch: Batch) -> jax.Array:
  """`loss_mask` (default: all real tokens) & real tokens, minus position 0. [B, T] bool."""
  tokens = batch["tokens"]
  attn = batch.get("attention_mask")
  attn = jnp.ones(tokens.shape, jnp.bool_) if attn is None else attn.astype(jnp.bool_)
  mask = batch.get("loss_mask")
  mask = attn if mask is None else mask.astype(jnp.bool_) & attn
  return mask.at[:, 0].set(False)


def model_logits(logits_fn: LogitsFn, params: Any, batch: Batch) -> jax.Array:
  """Runs `logits_fn` on a batch dict (positions derived from the attention mask if absent)."""
  tokens = batch["tokens"]
  attn = batch.get("attention_mask")
  attn = jnp.ones(tokens.shape, jnp.bool_) if attn is None else attn.astype(jnp.bool_)
  positions = batch.get("positions")
  if positions is None:
    positions = positions_from_mask(attn)
  return logits_fn(params, tokens, positions, attn)


def gather_logprobs(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """log softmax(logits)[targets] in float32, without shifting. logits [..., V], targets [...]."""
  logits = logits.astype(jnp.float32)
  picked = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
  return picked - jax.nn.logsumexp(logits, axis=-1)


def entropy(logits: jax.Array) -> jax.Array:
  """Entropy (nats) of softmax(logits) over the last axis, float32."""
  logits = logits.astype(jnp.float32)
  logp = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def _align(x: jax.Array) -> jax.Array:
  """[B, T - 1, ...] per-prediction values -> [B, T, ...] aligned with the predicted tokens."""
  return jnp.pad(x, [(0, 0), (1, 0)] + [(0, 0)] * (x.ndim - 2))


def token_logprobs(logits: jax.Array, tokens: jax.Array) -> jax.Array:
  """Next-token log-probs aligned with tokens: out[:, t] = log p(tokens[t] | <t); out[:, 0] = 0.

  The [B, T, V] logits are not sliced (a copy of the largest tensor of the step); the targets are
  shifted instead, and the last position's value is dropped from the [B, T] result.
  """
  targets = jnp.pad(tokens[:, 1:], [(0, 0), (0, 1)])
  return _align(gather_logprobs(logits, targets)[:, :-1])


def token_entropy(logits: jax.Array) -> jax.Array:
  """Entropy of the distribution that predicted each token, aligned like `token_logprobs`."""
  return _align(entropy(logits[:, :-1]))


def token_accuracy(logits: jax.Array, tokens: jax.Array) -> jax.Array:
  """1.0 where argmax of the previous position's logits equals the token (aligned; 0 at t = 0)."""
  hit = (jnp.argmax(logits, axis=-1)[:, :-1] == tokens[:, 1:]).astype(jnp.float32)
  return _align(hit)


def sequence_logprobs(token_lp: jax.Array, mask: jax.Array) -> jax.Array:
  """Sum of per-token log-probs over `mask`, per sequence: [B, T] -> [B]."""
  return jnp.sum(jnp.where(mask, token_lp, 0.0), axis=-1)


def masked_mean(x: jax.Array, mask: jax.Array, axis: int | tuple[int, ...] | None = None
                ) -> jax.Array:
  """Mean of x over mask (0 where the mask is empty)."""
  mask = mask.astype(jnp.float32)
  total = jnp.sum(x * mask, axis=axis)
  count = jnp.sum(mask, axis=axis)
  return total / jnp.maximum(count, 1.0)


def batch_logprobs(logits_fn: LogitsFn, params: Any, batch: Batch,
                   with_entropy: bool = False) -> dict[str, jax.Array]:
  """Runs the model and returns aligned `logprobs` [B, T], `mask` [B, T], `sequence` [B] sums
  (and `entropy` [B, T] if asked). Use with frozen params to precompute reference log-probs."""
  logits = model_logits(logits_fn, params, batch)
  lp = token_logprobs(logits, batch["tokens"])
  mask = target_mask(batch)
  out = {"logprobs": lp, "mask": mask, "sequence": sequence_logprobs(lp, mask)}
  if with_entropy:
    out["entropy"] = token_entropy(logits)
  return out
