"""Batched sampling with a preallocated KV cache: jitted prefill, then a lax.while_loop decode.

    sampler = Sampler(model, tokenizer)
    outs = sampler.generate(["Hello", "The capital of France"],
                            SamplingParams(max_new_tokens=32, temperature=0.7, top_p=0.9, n=4))
    outs[0].text, outs[0].tokens, outs[0].logprobs, outs[0].finish_reason

Prompts of different lengths are left-padded to a bucketed length P. Prefill writes each
distinct prompt once into a cache of `cache_size` slots and repeats its cache rows and last logits
for its `n` samples (shared prefill: n times less prefill compute for RL's many rollouts); the
decode loop (one jitted call, cache donated) samples a token per row per step and
stops when every row has emitted a stop token id or `max_new_tokens` is reached. Stop strings are
matched on host after decoding, truncating the text (and the tokens after the one that completes
the stop string).

Filters are applied to temperature-scaled logits in this order: top-k, top-p (nucleus: keep the
smallest set of most likely tokens whose mass reaches p), min-p (keep tokens with probability at
least min_p times the top probability). temperature == 0 means greedy. The returned `logprobs` are
those of the chosen tokens under softmax(logits / temperature) before filtering (raw log-softmax
when greedy), i.e. the policy log-probabilities a training step recomputes.

Randomness: row r of a call uses fold_in(PRNGKey(seed), r), folded again with the step number, so
the same prompts, params and seed give the same samples.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxllm.models.cache import init_cache
from jaxllm.models.transformer import Transformer, positions_from_mask

MAX_STOP_IDS = 16
_NEG_INF = float(jnp.finfo(jnp.float32).min)


@dataclasses.dataclass(frozen=True)
class SamplingParams:
  """Per-call sampling settings. `stop_token_ids=None` means the tokenizer's/model's EOS ids."""
  max_new_tokens: int = 64
  temperature: float = 1.0
  top_k: int = 0          # 0: off
  top_p: float = 1.0      # 1.0: off
  min_p: float = 0.0      # 0.0: off
  n: int = 1
  stop_token_ids: tuple[int, ...] | None = None
  stop_strings: tuple[str, ...] = ()
  seed: int = 0


@dataclasses.dataclass
class Completion:
  """One sample. tokens include the stop token id that ended it (if any); text excludes it."""
  prompt_index: int
  tokens: list[int]
  logprobs: np.ndarray
  finish_reason: str  # "stop" or "length"
  text: str | None = None


# ---------------------------------------------------------------------------------------------
# Filters (pure functions of logits [B, V] and per-row settings [B])
# ---------------------------------------------------------------------------------------------

def top_k_filter(logits: jax.Array, k: jax.Array) -> jax.Array:
  """Keeps the k largest logits per row (ties with the k-th kept); k <= 0 disables."""
  k = jnp.asarray(k, jnp.int32)
  sorted_desc = -jnp.sort(-logits, axis=-1)
  idx = jnp.clip(k - 1, 0, logits.shape[-1] - 1)
  kth = jnp.take_along_axis(sorted_desc, idx[:, None], axis=-1)
  drop = (k[:, None] > 0) & (logits < kth)
  return jnp.where(drop, _NEG_INF, logits)


def top_p_filter(logits: jax.Array, p: jax.Array) -> jax.Array:
  """Keeps the smallest prefix of tokens (by probability) whose mass is >= p; p >= 1 disables."""
  p = jnp.asarray(p, jnp.float32)
  sorted_desc = -jnp.sort(-logits, axis=-1)
  probs = jax.nn.softmax(sorted_desc, axis=-1)
  mass_before = jnp.cumsum(probs, axis=-1) - probs
  keep = mass_before < p[:, None]
  n_keep = jnp.maximum(keep.sum(-1), 1)
  threshold = jnp.take_along_axis(sorted_desc, (n_keep - 1)[:, None], axis=-1)
  drop = (p[:, None] < 1.0) & (logits < threshold)
  return jnp.where(drop, _NEG_INF, logits)


def min_p_filter(logits: jax.Array, min_p: jax.Array) -> jax.Array:
  """Keeps tokens whose probability is >= min_p * max probability; min_p <= 0 disables."""
  min_p = jnp.asarray(min_p, jnp.float32)
  logp = jax.nn.log_softmax(logits, axis=-1)
  cutoff = jnp.max(logp, axis=-1, keepdims=True) + jnp.log(jnp.maximum(min_p, 1e-30))[:, None]
  drop = (min_p[:, None] > 0) & (logp < cutoff)
  return jnp.where(drop, _NEG_INF, logits)


def top_k_top_p_filter(logits: jax.Array, k: jax.Array, p: jax.Array) -> jax.Array:
  """top_p_filter(top_k_filter(logits, k), p) with a single sort (skipped when both are off)."""
  k = jnp.asarray(k, jnp.int32)
  p = jnp.asarray(p, jnp.float32)

  def filtered(x):
    vocab = x.shape[-1]
    sorted_desc = -jnp.sort(-x, axis=-1)
    k_eff = jnp.where(k > 0, jnp.minimum(k, vocab), vocab)
    kth = jnp.take_along_axis(sorted_desc, (k_eff - 1)[:, None], axis=-1)
    ranks = jnp.arange(vocab)[None, :]
    # Top-k on the sorted row (ties with the k-th stay, as in top_k_filter).
    sorted_k = jnp.where((ranks >= k_eff[:, None]) & (sorted_desc < kth), _NEG_INF, sorted_desc)
    probs = jax.nn.softmax(sorted_k, axis=-1)
    keep = (jnp.cumsum(probs, axis=-1) - probs) < p[:, None]
    n_keep = jnp.maximum(keep.sum(-1), 1)
    threshold = jnp.take_along_axis(sorted_k, (n_keep - 1)[:, None], axis=-1)
    threshold = jnp.where(p[:, None] < 1.0, jnp.maximum(threshold, kth), kth)
    return jnp.where(x < threshold, _NEG_INF, x)

  active = jnp.any(k > 0) | jnp.any(p < 1.0)
  return jax.lax.cond(active, filtered, lambda x: x, logits)


def sample_tokens(logits: jax.Array, keys: jax.Array, temperature: jax.Array, top_k: jax.Array,
                  top_p: jax.Array, min_p: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One token per row from logits [B, V] -> (tokens [B] int32, logprobs [B] float32)."""
  logits = logits.astype(jnp.float32)
  greedy = temperature <= 0
  scaled = logits / jnp.where(greedy, 1.0, temperature)[:, None]
  logprobs = jax.nn.log_softmax(scaled, axis=-1)

  def sample(_):  # filtering and Gumbel noise over the vocabulary: skipped when all rows are greedy
    filtered = min_p_filter(top_k_top_p_filter(scaled, top_k, top_p), min_p)
    return jax.vmap(jax.random.categorical)(keys, filtered).astype(jnp.int32)

  greedy_tokens = jnp.argmax(logits, axis=-1).astype(jnp.int32)
  sampled = jax.lax.cond(jnp.all(greedy), lambda _: greedy_tokens, sample, None)
  tokens = jnp.where(greedy, greedy_tokens, sampled)
  chosen = jnp.take_along_axis(logprobs, tokens[:, None], axis=-1)[:, 0]
  return tokens, chosen


# ---------------------------------------------------------------------------------------------
# Jitted prefill and decode loop
# ---------------------------------------------------------------------------------------------

def _prefill(graphdef, state, tokens, mask, cache_size: int, n: int = 1):
  """Prefills the distinct prompts once, then repeats each row n times (prompt-major): the n
  samples of a prompt share one prefill (the cache rows are copies; prefilling every copy gives
  the same values up to the float rounding of a different batch size)."""
  model = nnx.merge(graphdef, state)
  cache = init_cache(model.cfg, tokens.shape[0], cache_size)
  logits, cache = model(tokens, positions_from_mask(mask), cache=cache, attention_mask=mask)
  logits, lengths = logits[:, -1], mask.sum(-1).astype(jnp.int32)
  if n > 1:
    rep = lambda x: jnp.repeat(x, n, axis=0)
    cache = cache.replace(keys=tuple(map(rep, cache.keys)), values=tuple(map(rep, cache.values)),
                          valid=rep(cache.valid))
    logits, lengths = rep(logits), rep(lengths)
  return logits, cache, lengths


def _decode(graphdef, state, cache, logits, positions, row_keys, settings, stop_ids, max_new,
            n_out: int):
  """Samples until every row stopped or max_new tokens.

  Returns (tokens [B, n_out], logprobs [B, n_out], lengths [B], done [B], cache); the cache is
  donated in and returned so XLA updates it in place.
  """
  model = nnx.merge(graphdef, state)
  b = logits.shape[0]
  temperature, top_k, top_p, min_p = (settings[k] for k in ("temperature", "top_k", "top_p",
                                                             "min_p"))

  def cond(carry):
    step, _, _, _, done, *_ = carry
    return (step < max_new) & ~jnp.all(done)

  def body(carry):
    step, cache, logits, pos, done, toks, lps, lengths = carry
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(row_keys, step)
    tok, lp = sample_tokens(logits, keys, temperature, top_k, top_p, min_p)
    tok = jnp.where(done, 0, tok)
    lp = jnp.where(done, 0.0, lp)
    toks = jax.lax.dynamic_update_slice(toks, tok[:, None], (0, step))
    lps = jax.lax.dynamic_update_slice(lps, lp[:, None], (0, step))
    lengths = lengths + (~done).astype(jnp.int32)
    done = done | jnp.any(tok[:, None] == stop_ids[None, :], axis=-1)
    new_logits, cache = model(tok[:, None], pos[:, None], cache=cache)
    return step + 1, cache, new_logits[:, 0], pos + 1, done, toks, lps, lengths

  carry = (jnp.zeros((), jnp.int32), cache, logits, positions, jnp.zeros((b,), jnp.bool_),
           jnp.zeros((b, n_out), jnp.int32), jnp.zeros((b, n_out), jnp.float32),
           jnp.zeros((b,), jnp.int32))
  _, cache, _, _, done, toks, lps, lengths = jax.lax.while_loop(cond, body, carry)
  return toks, lps, lengths, done, cache


# Shared by all samplers, so equal shapes and graphs compile once per process.
_prefill_jit = jax.jit(_prefill, static_argnums=(0, 4, 5))
_decode_jit = jax.jit(_decode, static_argnums=(0, 9), donate_argnums=(2,))


# ---------------------------------------------------------------------------------------------
# Host-side driver
# ---------------------------------------------------------------------------------------------

def _bucket(n: int, minimum: int) -> int:
  size = minimum
  while size < n:
    size *= 2
  return size


def safe_pad_id(tokenizer: Any, vocab_size: int) -> int:
  """The tokenizer's pad id if it indexes the embedding table, else 0. Padded positions are
  masked, so any in-range id gives the same outputs; an out-of-range one (a pad token the
  tokenizer added past the checkpoint's vocabulary) would gather NaN into the KV cache."""
  pad = getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None
  return int(pad) if pad is not None and 0 <= int(pad) < vocab_size else 0


def vocab_mismatch(tokenizer: Any, vocab_size: int) -> str | None:
  """One line naming the tokenizer ids outside the model's embedding table, or None."""
  n = getattr(tokenizer, "vocab_size", None)
  ids = set(range(vocab_size, n)) if isinstance(n, int) and n > vocab_size else set()
  for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
    t = getattr(tokenizer, name, None)
    if isinstance(t, int) and not 0 <= t < vocab_size:
      ids.add(t)
  if not ids:
    return None
  pad = getattr(tokenizer, "pad_token_id", None)
  pad_note = (f"; padding uses id 0, not the pad id {pad}" if pad in ids else "")
  ids = sorted(ids)
  shown = ", ".join(map(str, ids[:6])) + (f", ... ({len(ids)} ids)" if len(ids) > 6 else "")
  return (f"tokenizer ids {shown} are outside the model's {vocab_size}-row embedding table; "
          f"prompts containing them are rejected{pad_note}")


class Sampler:
  """Generates completions for token-id or text prompts with a fixed model graph.

  Args:
    model: the Transformer (its current parameters are captured; see `update`).
    tokenizer: optional, anything with encode/decode and eos/pad ids (jaxllm.tokenizers); needed
      for text prompts, `text` outputs and stop strings.
    cache_size: KV-cache slots per row; default: prompt bucket + max_new_tokens, rounded up to a
      power of two. A fixed size bounds the number of compiled variants.
    prompt_bucket: prompts are left-padded to a power-of-two multiple of this.
    prompt_step: if > 0, prompts are left-padded to a multiple of this instead (linear buckets:
      more compiled prefill shapes, less padding; multi-turn chats near a fixed cache_size).
    max_decode_traces: if set, the decode loop is wrapped in `chex.assert_max_traces(n=...)`, so
      an unexpected recompilation raises instead of silently slowing generation down.
  """

  def __init__(self, model: Transformer, tokenizer: Any = None, *, cache_size: int | None = None,
               prompt_bucket: int = 16, max_decode_traces: int | None = None,
               prompt_step: int = 0):
    self.graphdef, self.state = nnx.split(model)
    self.cfg = model.cfg
    self.tokenizer = tokenizer
    self.cache_size = cache_size
    self.prompt_bucket = prompt_bucket
    self.prompt_step = prompt_step
    self.pad_id = safe_pad_id(tokenizer, self.cfg.vocab_size)
    self._prefill = _prefill_jit
    self._decode = _decode_jit
    if max_decode_traces is not None:
      self._decode = jax.jit(chex.assert_max_traces(_decode, n=max_decode_traces),
                             static_argnums=(0, 9), donate_argnums=(2,))

  def padded_length(self, prompt_len: int) -> int:
    """The left-padded length a prompt of `prompt_len` tokens is prefilled at."""
    if self.prompt_step > 0:
      return -(-max(prompt_len, 1) // self.prompt_step) * self.prompt_step
    return _bucket(prompt_len, self.prompt_bucket)

  def update(self, model_or_state: Transformer | nnx.State) -> None:
    """Uses new parameters (same architecture) for later calls, without recompiling."""
    self.state = (model_or_state if isinstance(model_or_state, nnx.State)
                  else nnx.state(model_or_state))

  def _stop_ids(self, params: SamplingParams) -> tuple[int, ...]:
    if params.stop_token_ids is not None:
      return tuple(params.stop_token_ids)
    if self.tokenizer is not None and getattr(self.tokenizer, "eos_token_ids", None):
      return tuple(self.tokenizer.eos_token_ids)
    return self.cfg.eos_token_ids

  def generate(self, prompts: Sequence[Sequence[int]] | Sequence[str],
               params: SamplingParams = SamplingParams()) -> list[Completion]:
    """Returns len(prompts) * n completions, prompt-major (all n samples of prompt 0 first)."""
    if not prompts:
      return []
    if isinstance(prompts[0], str):
      if self.tokenizer is None:
        raise ValueError("text prompts need a tokenizer: Sampler(model, tokenizer).")
      prompts = [self.tokenizer.encode(p) for p in prompts]
    if any(len(p) == 0 for p in prompts):
      raise ValueError("every prompt needs at least one token.")
    stop_ids = self._stop_ids(params)
    if len(stop_ids) > MAX_STOP_IDS:
      raise ValueError(f"at most {MAX_STOP_IDS} stop token ids are supported.")
    if params.stop_strings and self.tokenizer is None:
      raise ValueError("stop_strings need a tokenizer: Sampler(model, tokenizer).")
    rows = [list(p) for p in prompts]   # prefilled once each, then repeated n times
    vocab = self.cfg.vocab_size
    bad = sorted({t for r in rows for t in r if not 0 <= t < vocab})
    if bad:
      raise ValueError(f"prompt token ids {bad[:8]} are outside the model's vocabulary "
                       f"(0..{vocab - 1}); the tokenizer and the checkpoint do not match.")
    b = len(rows) * params.n
    p_len = self.padded_length(max(len(r) for r in rows))
    cache_size = self.cache_size or _bucket(p_len + params.max_new_tokens, self.prompt_bucket)
    if p_len >= cache_size:
      raise ValueError(f"prompt of {p_len} (bucketed) tokens does not fit cache_size={cache_size}.")
    n_out = cache_size - p_len
    max_new = min(params.max_new_tokens, n_out)
    tokens = np.full((len(rows), p_len), self.pad_id, np.int32)
    mask = np.zeros((len(rows), p_len), bool)
    for i, r in enumerate(rows):
      tokens[i, p_len - len(r):] = r
      mask[i, p_len - len(r):] = True
    logits, cache, positions = self._prefill(self.graphdef, self.state, jnp.asarray(tokens),
                                             jnp.asarray(mask), cache_size, params.n)
    base = jax.random.PRNGKey(params.seed)
    row_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base, jnp.arange(b))
    full = lambda v, dt: jnp.full((b,), v, dt)
    settings = {"temperature": full(params.temperature, jnp.float32),
                "top_k": full(params.top_k, jnp.int32),
                "top_p": full(params.top_p, jnp.float32),
                "min_p": full(params.min_p, jnp.float32)}
    stop = np.full((MAX_STOP_IDS,), -1, np.int32)
    stop[:len(stop_ids)] = stop_ids
    toks, lps, lengths, done, _ = self._decode(self.graphdef, self.state, cache, logits, positions,
                                            row_keys, settings, jnp.asarray(stop),
                                            jnp.int32(max_new), n_out)
    toks, lps, lengths, done = jax.device_get((toks, lps, lengths, done))
    out = []
    for i in range(b):
      n = int(lengths[i])
      c = Completion(prompt_index=i // params.n, tokens=[int(t) for t in toks[i, :n]],
                     logprobs=np.asarray(lps[i, :n]),
                     finish_reason="stop" if done[i] else "length")
      if self.tokenizer is not None:
        self._finish_text(c, stop_ids, params.stop_strings)
      out.append(c)
    return out

  def _finish_text(self, c: Completion, stop_ids: tuple[int, ...],
                   stop_strings: tuple[str, ...]) -> None:
    """Decodes text; truncates at the first stop string (tokens after the one completing it)."""
    body = c.tokens[:-1] if c.tokens and c.tokens[-1] in stop_ids else c.tokens
    text = self.tokenizer.decode(body)
    hits = [(text.find(s), s) for s in stop_strings if s and s in text]
    if hits:
      cut, _ = min(hits)
      k = next(k for k in range(1, len(body) + 1)
               if any(s in self.tokenizer.decode(body[:k]) for s in stop_strings if s))
      c.tokens, c.logprobs = body[:k], c.logprobs[:k]
      c.finish_reason = "stop"
      text = text[:cut]
    c.text = text
