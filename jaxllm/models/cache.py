"""A preallocated key/value cache for incremental decoding.

The cache has `size` slots per row. All rows write at the same slot `index` (prompts are
left-padded to a common length), and `valid[b, s]` says whether slot s of row b holds a real token
(left padding and not-yet-written slots are invalid). A query written at slot i attends to the slots
s <= i that are valid. Positions for RoPE are separate from slots: the caller passes them, so a
left-padded row starts at position 0 on its first real token.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxllm.models.config import ModelConfig


@flax.struct.dataclass
class KVCache:
  """Per-layer keys/values [batch, size, kv_heads, head_dim], slot validity and write index."""
  keys: tuple[jax.Array, ...]
  values: tuple[jax.Array, ...]
  valid: jax.Array   # [batch, size] bool
  index: jax.Array   # [] int32, next slot to write

  @property
  def size(self) -> int:
    return self.valid.shape[1]

  @property
  def batch_size(self) -> int:
    return self.valid.shape[0]


def init_cache(cfg: ModelConfig, batch_size: int, size: int,
               dtype: jnp.dtype | str | None = None) -> KVCache:
  """An empty cache; dtype defaults to the model's compute dtype."""
  dtype = jnp.dtype(dtype or cfg.compute_dtype)
  shape = (batch_size, size, cfg.num_kv_heads, cfg.head_dim)
  zeros = lambda: jnp.zeros(shape, dtype)
  return KVCache(
      keys=tuple(zeros() for _ in range(cfg.num_layers)),
      values=tuple(zeros() for _ in range(cfg.num_layers)),
      valid=jnp.zeros((batch_size, size), jnp.bool_),
      index=jnp.zeros((), jnp.int32),
  )
