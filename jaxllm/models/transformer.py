"""Decoder-only transformer (Llama / Qwen2 / Qwen3) in Flax NNX.

    model = Transformer(cfg, rngs=nnx.Rngs(0))
    logits, cache = model(tokens, positions, cache=cache, attention_mask=mask)

Pre-norm blocks: x += Attn(RMSNorm(x)); x += SwiGLU(RMSNorm(x)). Attention is grouped-query (each
of the `num_kv_heads` key/value heads serves `num_heads // num_kv_heads` query heads) with RoPE,
optional q/k/v bias (Qwen2) and optional per-head RMSNorm of q and k before RoPE (Qwen3).

Every parameter carries logical axis names in its `out_sharding` metadata (e.g. ('embed', 'mlp'));
`jaxllm.models.sharding` maps them to mesh axes. Kernels are stored as [in, ..., out] with heads as
their own axis: q [embed, heads, head_dim], o [heads, head_dim, embed].

Without a cache the call attends causally within `tokens`; with a `KVCache` it writes the new keys
and values at `cache.index` and attends over every valid slot up to each query's own slot.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxllm.models.cache import KVCache
from jaxllm.models.config import ModelConfig
from jaxllm.models.rope import apply_rope, rope_cos_sin, rope_frequencies

_NEG_INF = float(jnp.finfo(jnp.float32).min)


def _param(rngs: nnx.Rngs | None, shape: Sequence[int], axes: tuple[str | None, ...],
           dtype: jnp.dtype, init: str = "normal") -> nnx.Param:
  """A parameter with logical axis names; sharding is applied later by `shard_model`."""
  if init == "normal":
    value = 0.02 * jax.random.normal(rngs.params(), tuple(shape), jnp.float32)
  elif init == "ones":
    value = jnp.ones(tuple(shape), jnp.float32)
  else:
    value = jnp.zeros(tuple(shape), jnp.float32)
  return nnx.Param(value.astype(dtype), out_sharding=axes, eager_sharding=False)


class RMSNorm(nnx.Module):
  """RMS normalisation over the last axis, computed in float32 like the HF reference."""

  def __init__(self, dim: int, eps: float, dtype: jnp.dtype, *, axis_name: str = "norm"):
    self.eps = eps
    self.scale = _param(None, (dim,), (axis_name,), dtype, init="ones")

  def __call__(self, x: jax.Array) -> jax.Array:
    dtype = x.dtype
    x = x.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
    return self.scale.value.astype(dtype) * x.astype(dtype)


def dense(x: jax.Array, kernel: jax.Array, in_dims: int = 1,
          preferred_element_type: jnp.dtype | None = None) -> jax.Array:
  """x [..., *in] times kernel [*in, *out] -> [..., *out], computed as one 2-D matmul.

  Flattening the leading axes first matters on XLA:CPU: with [B, T, E] activations the kernel
  gradient contracts two axes (B and T) and the compiler inserts transposing copies; as
  [B*T, E] @ [E, F] a layer's forward + backward runs ~25% faster and the ~100M-parameter SFT
  step ~38% faster (BENCHMARKS.md, LLM).
  """
  in_shape, out_shape = kernel.shape[:in_dims], kernel.shape[in_dims:]
  lead = x.shape[:x.ndim - in_dims]
  y = jnp.matmul(x.reshape(-1, math.prod(in_shape)),
                 kernel.astype(x.dtype).reshape(math.prod(in_shape), -1),
                 preferred_element_type=preferred_element_type)
  return y.reshape(*lead, *out_shape)


def positions_from_mask(attention_mask: jax.Array, offset: jax.Array | int = 0) -> jax.Array:
  """Position of each token = real tokens before it (+ `offset` [B], e.g. a cache's filled slots).

  Left padding gets position 0 (+ offset), like each row's first real token; padding on the right
  repeats the last position. The one definition for the model, the sampler and the losses.
  """
  pos = jnp.cumsum(attention_mask.astype(jnp.int32), axis=-1) - 1
  return jnp.maximum(pos, 0) + jnp.asarray(offset, jnp.int32)[..., None]


def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
  """Grouped-query attention. q [B,T,H,D], k/v [B,S,K,D], mask [B,T,S] bool -> [B,T,H,D]."""
  b, t, h, d = q.shape
  kv_heads = k.shape[2]
  q = q.reshape(b, t, kv_heads, h // kv_heads, d)
  scores = jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=jnp.float32)
  scores = scores * (d ** -0.5)
  scores = jnp.where(mask[:, None, None, :, :], scores, _NEG_INF)
  probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
  # Select, do not multiply: a slot no query may attend to (left padding, unwritten cache) is
  # zeroed, so NaN or Inf there cannot reach the output through 0 * NaN.
  v = jnp.where(jnp.any(mask, axis=1)[:, :, None, None], v, jnp.zeros((), v.dtype))
  out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
  return out.reshape(b, t, h, d)


class Attention(nnx.Module):
  """Grouped-query self-attention with RoPE and an optional KV cache slot."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    e, h, k, d, w = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.weight_dtype
    self.q_proj = _param(rngs, (e, h, d), ("embed", "heads", "head_dim"), w)
    self.k_proj = _param(rngs, (e, k, d), ("embed", "kv_heads", "head_dim"), w)
    self.v_proj = _param(rngs, (e, k, d), ("embed", "kv_heads", "head_dim"), w)
    self.o_proj = _param(rngs, (h, d, e), ("heads", "head_dim", "embed"), w)
    if cfg.qkv_bias:
      self.q_bias = _param(None, (h, d), ("heads", "head_dim"), w, init="zeros")
      self.k_bias = _param(None, (k, d), ("kv_heads", "head_dim"), w, init="zeros")
      self.v_bias = _param(None, (k, d), ("kv_heads", "head_dim"), w, init="zeros")
    if cfg.o_bias:
      self.o_bias = _param(None, (e,), ("embed",), w, init="zeros")
    if cfg.qk_norm:
      self.q_norm = RMSNorm(d, cfg.rms_norm_eps, w, axis_name="head_dim")
      self.k_norm = RMSNorm(d, cfg.rms_norm_eps, w, axis_name="head_dim")

  def _project(self, x: jax.Array, name: str) -> jax.Array:
    dtype = x.dtype
    y = dense(x, getattr(self, f"{name}_proj").value)
    if self.cfg.qkv_bias:
      y = y + getattr(self, f"{name}_bias").value.astype(dtype)
    return y

  def __call__(self, x: jax.Array, cos: jax.Array, sin: jax.Array, mask: jax.Array,
               kv: tuple[jax.Array, jax.Array, jax.Array] | None
               ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
    """x [B,T,E]; kv = (cache_keys, cache_values, write_index) or None."""
    q, k, v = self._project(x, "q"), self._project(x, "k"), self._project(x, "v")
    if self.cfg.qk_norm:
      q, k = self.q_norm(q), self.k_norm(k)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    new_kv = None
    if kv is not None:
      cache_k, cache_v, index = kv
      zero = jnp.zeros((), jnp.int32)
      cache_k = jax.lax.dynamic_update_slice(cache_k, k.astype(cache_k.dtype),
                                             (zero, index, zero, zero))
      cache_v = jax.lax.dynamic_update_slice(cache_v, v.astype(cache_v.dtype),
                                             (zero, index, zero, zero))
      new_kv = (cache_k, cache_v)
      k, v = cache_k.astype(x.dtype), cache_v.astype(x.dtype)
    out = attend(q, k, v, mask)
    y = dense(out, self.o_proj.value, in_dims=2)
    if self.cfg.o_bias:
      y = y + self.o_bias.value.astype(x.dtype)
    return y, new_kv


class MLP(nnx.Module):
  """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    e, m, w = cfg.hidden_size, cfg.intermediate_size, cfg.weight_dtype
    self.use_bias = cfg.mlp_bias
    self.gate_proj = _param(rngs, (e, m), ("embed", "mlp"), w)
    self.up_proj = _param(rngs, (e, m), ("embed", "mlp"), w)
    self.down_proj = _param(rngs, (m, e), ("mlp", "embed"), w)
    if cfg.mlp_bias:
      self.gate_bias = _param(None, (m,), ("mlp",), w, init="zeros")
      self.up_bias = _param(None, (m,), ("mlp",), w, init="zeros")
      self.down_bias = _param(None, (e,), ("embed",), w, init="zeros")

  def __call__(self, x: jax.Array) -> jax.Array:
    dt = x.dtype
    gate, up = dense(x, self.gate_proj.value), dense(x, self.up_proj.value)
    if self.use_bias:
      gate, up = gate + self.gate_bias.value.astype(dt), up + self.up_bias.value.astype(dt)
    y = dense(jax.nn.silu(gate) * up, self.down_proj.value)
    if self.use_bias:
      y = y + self.down_bias.value.astype(dt)
    return y


class Block(nnx.Module):
  """One pre-norm decoder layer."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.input_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, cfg.weight_dtype)
    self.attn = Attention(cfg, rngs=rngs)
    self.post_attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, cfg.weight_dtype)
    self.mlp = MLP(cfg, rngs=rngs)

  def __call__(self, x, cos, sin, mask, kv):
    h, new_kv = self.attn(self.input_norm(x), cos, sin, mask, kv)
    x = x + h
    x = x + self.mlp(self.post_attn_norm(x))
    return x, new_kv


class Transformer(nnx.Module):
  """Token embedding, `num_layers` blocks, final norm and LM head (tied or untied)."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    w = cfg.weight_dtype
    self.embed = _param(rngs, (cfg.vocab_size, cfg.hidden_size), ("vocab", "embed"), w)
    self.layers = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.final_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, w)
    if not cfg.tie_word_embeddings:
      self.lm_head = _param(rngs, (cfg.hidden_size, cfg.vocab_size), ("embed", "vocab"), w)
    inv_freq, self.attention_factor = rope_frequencies(cfg)
    self.inv_freq = tuple(float(f) for f in inv_freq)  # static, hashable

  def __call__(self, tokens: jax.Array, positions: jax.Array | None = None,
               cache: KVCache | None = None, attention_mask: jax.Array | None = None
               ) -> tuple[jax.Array, KVCache | None]:
    """tokens [B,T] int -> (logits [B,T,V] float32, updated cache or None).

    attention_mask [B,T] marks real tokens (False on left padding); positions default to the
    count of real tokens before each one (plus those already in the cache).
    """
    b, t = tokens.shape
    if attention_mask is None:
      attention_mask = jnp.ones((b, t), jnp.bool_)
    attention_mask = attention_mask.astype(jnp.bool_)
    if cache is None:
      if positions is None:
        positions = positions_from_mask(attention_mask)
      slots = jnp.arange(t)
      mask = (slots[None, :] <= slots[:, None])[None] & attention_mask[:, None, :]
      index, valid = None, None
    else:
      if positions is None:
        positions = positions_from_mask(attention_mask, cache.valid.sum(-1))
      index = cache.index
      valid = jax.lax.dynamic_update_slice(cache.valid, attention_mask, (jnp.int32(0), index))
      q_slots = index + jnp.arange(t)
      k_slots = jnp.arange(cache.size)
      mask = (k_slots[None, :] <= q_slots[:, None])[None] & valid[:, None, :]
    cos, sin = rope_cos_sin(positions, jnp.asarray(self.inv_freq, jnp.float32),
                            self.attention_factor)
    dtype = self.cfg.compute_dtype
    x = jnp.take(self.embed.value, tokens, axis=0).astype(dtype)
    new_keys, new_values = [], []
    for i, layer in enumerate(self.layers):
      kv = None if cache is None else (cache.keys[i], cache.values[i], index)
      x, new_kv = layer(x, cos, sin, mask, kv)
      if new_kv is not None:
        new_keys.append(new_kv[0])
        new_values.append(new_kv[1])
    x = self.final_norm(x)
    if self.cfg.tie_word_embeddings:
      logits = jnp.einsum("ne,ve->nv", x.reshape(b * t, -1), self.embed.value.astype(dtype),
                          preferred_element_type=jnp.float32).reshape(b, t, -1)
    else:
      logits = dense(x, self.lm_head.value, preferred_element_type=jnp.float32)
    new_cache = None
    if cache is not None:
      new_cache = KVCache(keys=tuple(new_keys), values=tuple(new_values), valid=valid,
                          index=index + t)
    return logits, new_cache
