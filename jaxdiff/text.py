"""Captions for text-conditioned diffusion (LADiBI's prompt): a word-level tokenizer and a small
transformer text encoder trained from scratch with the denoiser.

Token ids: 0 = pad, 1 = unknown word, 2 + i = vocab[i]. A caption is lower-cased and split into
words and single punctuation marks ("A red car." -> "a", "red", "car", "."), mapped to ids,
truncated to `max_len` and right-padded with 0. The empty caption is all zeros: that is the null
prompt of classifier-free guidance, D_w = D(x; null) + w (D(x; prompt) - D(x; null)).

`TextEncoder` maps ids [B, T] to per-token features [B, T, D] (keys and values of the denoiser's
cross-attention) and one pooled vector [B, D] (added to the noise embedding):

    h_0 = E[ids] + P[:T]                                   token + learned position embedding
    h <- h + MHA(LN(h), mask = ids != 0)                   pre-LN encoder layer, `num_layers` times
    h <- h + W_2 gelu(W_1 LN(h))
    tokens = LN(h),   pooled = sum_t m_t tokens_t / sum_t m_t,   m_t = [ids_t != 0]

Pad tokens never act as keys and are left out of the mean, so appending pads changes nothing. A row
of pads only (the null prompt) has no token to attend to: its pooled vector and every one of its
tokens are a learned null vector, so the null prompt is well defined (no 0/0) and trainable.
"""
from __future__ import annotations

import collections
import math
import re
from typing import Iterable, Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

PAD_ID = 0
UNK_ID = 1
_WORDS = re.compile(r"\w+|[^\w\s]")


def split_words(caption: str) -> list[str]:
  """Lower-cased words and single punctuation marks: "Don't stop!" -> don ' t stop !"""
  return _WORDS.findall(caption.lower())


class CaptionTokenizer:
  """Word-level caption tokenizer over a fixed vocabulary (ids: module docstring).

  Args:
    vocab: the known words (lower-cased here); each must be one token under `split_words`.
    max_len: length of every encoded row; longer captions are truncated.
  """

  def __init__(self, vocab: Sequence[str], max_len: int):
    if max_len < 1:
      raise ValueError(f"max_len must be >= 1, got {max_len}")
    words = [str(w).lower() for w in vocab]
    dupes = sorted(w for w, n in collections.Counter(words).items() if n > 1)
    if dupes:
      raise ValueError(f"vocab has duplicate words (after lower-casing): {dupes[:10]}; "
                       "deduplicate it, e.g. list(dict.fromkeys(vocab))")
    bad = [w for w in words if split_words(w) != [w]]
    if bad:
      raise ValueError(f"vocab entries {bad[:10]} are not single words or punctuation marks; "
                       "captions are split with jaxdiff.text.split_words")
    self.vocab = tuple(words)
    self.max_len = max_len
    self._ids = {w: i + 2 for i, w in enumerate(words)}

  @classmethod
  def from_captions(cls, captions: Iterable[str], max_len: int, *, min_count: int = 1,
                    max_words: int | None = None) -> "CaptionTokenizer":
    """A tokenizer whose vocabulary is the words of `captions` seen at least `min_count` times,
    most frequent first (ties alphabetical), at most `max_words` of them."""
    counts = collections.Counter(w for c in captions for w in split_words(c))
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return cls(words[:max_words] if max_words is not None else words, max_len)

  @property
  def vocab_size(self) -> int:
    """Number of ids, pad and unknown included (the text encoder's embedding rows)."""
    return len(self.vocab) + 2

  def encode(self, captions: Sequence[str]) -> np.ndarray:
    """int32 [B, max_len]: word ids, truncated, right-padded with 0; "" -> all zeros (null)."""
    if isinstance(captions, str):
      raise ValueError("encode takes a sequence of captions; wrap a single caption in a list")
    out = np.zeros((len(captions), self.max_len), np.int32)
    for row, caption in enumerate(captions):
      ids = [self._ids.get(w, UNK_ID) for w in split_words(caption)][:self.max_len]
      out[row, :len(ids)] = ids
    return out

  def decode(self, ids) -> list[str]:
    """Captions of id rows [B, T] (or one row [T]): words joined by spaces, pads dropped,
    unknown words as "<unk>"."""
    ids = np.asarray(ids)
    if ids.ndim == 1:
      ids = ids[None]
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
      raise ValueError(f"decode expects integer ids [batch, length], got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
      raise ValueError(f"ids must lie in [0, {self.vocab_size}), got [{ids.min()}, {ids.max()}]")
    words = ("<pad>", "<unk>") + self.vocab
    return [" ".join(words[i] for i in row if i != PAD_ID) for row in ids.tolist()]


def context_mask(ids: Array) -> Array:
  """bool [B, T]: which text tokens the image may attend to. Non-pad tokens; every token of an
  all-pad (null) row, whose tokens all equal the null vector, so attention returns it."""
  valid = ids != PAD_ID
  return valid | ~jnp.any(valid, axis=-1, keepdims=True)


class Attention(nnx.Module):
  """Multi-head attention softmax(q k^T / sqrt(d_head)) v with q from x, k and v from `context`
  (x itself when None), heads concatenated and projected back to x's width.

  `mask` [B, T_k] (True = attend) removes keys; a query with no key left attends uniformly (finite
  logits, no NaN). The softmax runs in float32 whatever the compute dtype.
  """

  def __init__(self, dim: int, num_heads: int, *, context_dim: int | None = None, dtype=None,
               param_dtype=jnp.float32, rngs: nnx.Rngs):
    if dim % num_heads:
      raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    context_dim = context_dim or dim
    self.num_heads = num_heads
    self.query = nnx.Linear(dim, dim, **kw)
    self.key = nnx.Linear(context_dim, dim, **kw)
    self.value = nnx.Linear(context_dim, dim, **kw)
    self.out = nnx.Linear(dim, dim, **kw)

  def __call__(self, x: Array, context: Array | None = None, mask: Array | None = None) -> Array:
    context = x if context is None else context
    b, t_q, d = x.shape
    t_k, h = context.shape[1], self.num_heads
    q = self.query(x).reshape(b, t_q, h, d // h)
    k = self.key(context).reshape(b, t_k, h, d // h)
    v = self.value(context).reshape(b, t_k, h, d // h)
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) / math.sqrt(d // h)
    if mask is not None:
      logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t_q, d))


class EncoderLayer(nnx.Module):
  """Pre-LN transformer encoder layer: h + MHA(LN h), then h + MLP(LN h) (GELU, 4x width)."""

  def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 4, *, dtype=None,
               param_dtype=jnp.float32, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.norm1 = nnx.LayerNorm(dim, **kw)
    self.attn = Attention(dim, num_heads, **kw)
    self.norm2 = nnx.LayerNorm(dim, **kw)
    self.fc1 = nnx.Linear(dim, mlp_ratio * dim, **kw)
    self.fc2 = nnx.Linear(mlp_ratio * dim, dim, **kw)

  def __call__(self, h: Array, valid: Array) -> Array:
    h = h + self.attn(self.norm1(h), mask=valid)
    return h + self.fc2(jax.nn.gelu(self.fc1(self.norm2(h)), approximate=True))


class TextEncoder(nnx.Module):
  """ids [B, T] (T <= max_len) -> (tokens [B, T, dim], pooled [B, dim]); maths in the module
  docstring. Rows of pads only give the learned null vector for both."""

  def __init__(self, vocab_size: int, max_len: int, dim: int = 128, num_layers: int = 2,
               num_heads: int = 4, *, dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    if vocab_size < 3:
      raise ValueError(f"vocab_size counts pad and unknown ids, so it must be >= 3, got "
                       f"{vocab_size}; use CaptionTokenizer(...).vocab_size")
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.max_len, self.dim, self.dtype = max_len, dim, dtype
    self.embed = nnx.Embed(vocab_size, dim, **kw)
    init = nnx.initializers.normal(0.02)
    self.pos = nnx.Param(init(rngs.params(), (max_len, dim), param_dtype))
    self.null = nnx.Param(init(rngs.params(), (dim,), param_dtype))
    self.layers = nnx.List([EncoderLayer(dim, num_heads, **kw) for _ in range(num_layers)])
    self.norm = nnx.LayerNorm(dim, **kw)

  def __call__(self, ids: Array) -> tuple[Array, Array]:
    if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
      raise ValueError(f"text ids must be integer [batch, length], got {ids.dtype} {ids.shape}")
    if ids.shape[1] > self.max_len:
      raise ValueError(f"{ids.shape[1]} text tokens but the encoder has {self.max_len} positions; "
                       "encode with CaptionTokenizer(max_len=text_len)")
    valid = ids != PAD_ID
    h = self.embed(ids) + self.pos[:ids.shape[1]]
    if self.dtype is not None:
      h = h.astype(self.dtype)
    for layer in self.layers:
      h = layer(h, valid)
    h = self.norm(h)
    m = valid[..., None].astype(h.dtype)
    count = jnp.sum(m, axis=1)                                    # [B, 1]
    pooled = jnp.sum(h * m, axis=1) / jnp.maximum(count, 1)
    null = self.null[...].astype(h.dtype)
    is_null = count == 0
    pooled = jnp.where(is_null, null, pooled)
    tokens = jnp.where(is_null[:, None, :], null, h)
    return tokens, pooled
