"""The caption tokenizer and the text encoder of the LADiBI denoiser (jaxdiff.text).

Modules run under one jit each (eager NNX compiles every op separately, which dominates here).
"""
import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdiff.text import Attention, CaptionTokenizer, TextEncoder, context_mask, split_words
from tests.jaxdiff.helpers import FAST_COMPILE

VOCAB = ["a", "red", "car", "on", "the", "road", ".", ","]


def test_split_words_lowercases_and_splits_punctuation():
  assert split_words("A red car, on THE road.") == ["a", "red", "car", ",", "on", "the", "road",
                                                    "."]
  assert split_words("  ") == []


def test_encode_decode_round_trip_truncation_and_null():
  tok = CaptionTokenizer(VOCAB, max_len=6)
  assert tok.vocab_size == len(VOCAB) + 2
  ids = tok.encode(["A red car.", "", "a blue car on the road, a red one"])
  assert ids.dtype == np.int32 and ids.shape == (3, 6)
  np.testing.assert_array_equal(ids[0], [2, 3, 4, 8, 0, 0])   # ids 2 + vocab index, right-padded
  np.testing.assert_array_equal(ids[1], 0)                      # empty caption = null prompt
  np.testing.assert_array_equal(ids[2], [2, 1, 4, 5, 6, 7])     # "blue" unknown; truncated to 6
  assert tok.decode(ids) == ["a red car .", "", "a <unk> car on the road"]
  assert tok.decode(ids[0]) == ["a red car ."]
  assert tok.decode(tok.encode(["The road, a car."])) == ["the road , a car ."]


def test_tokenizer_errors():
  with pytest.raises(ValueError, match="duplicate.*'car'"):
    CaptionTokenizer(["car", "Car", "road"], max_len=4)
  with pytest.raises(ValueError, match="not single words"):
    CaptionTokenizer(["red car"], max_len=4)
  tok = CaptionTokenizer(VOCAB, max_len=4)
  with pytest.raises(ValueError, match="sequence of captions"):
    tok.encode("a red car")
  with pytest.raises(ValueError, match=r"\[0, 10\)"):
    tok.decode([[3, 10]])


def test_from_captions_orders_by_frequency():
  tok = CaptionTokenizer.from_captions(["a car", "a road", "a car ."], max_len=3, min_count=2)
  assert tok.vocab == ("a", "car")
  np.testing.assert_array_equal(tok.encode(["car road"]), [[3, 1, 0]])


def build(ctor, scale=0.0):
  """(module, jitted apply): initialised under one jit, plus N(0, scale^2) noise (numpy, so it
  compiles nothing) on every float parameter, so nothing sits at its symmetric init."""
  graphdef = nnx.split(nnx.eval_shape(ctor))[0]
  state = jax.jit(lambda: nnx.state(ctor()), compiler_options=FAST_COMPILE)()
  rng = np.random.default_rng(0)
  state = jax.tree.map(lambda p: jnp.asarray(p + scale * rng.normal(size=p.shape).astype(p.dtype))
                       if jnp.issubdtype(p.dtype, jnp.floating) else p, state)
  apply = jax.jit(lambda s, *a: nnx.merge(graphdef, s)(*a), compiler_options=FAST_COMPILE)
  return nnx.merge(graphdef, state), lambda *a: apply(state, *a)


def test_encoder_pooled_is_masked_mean_and_null_is_learned():
  enc, apply = build(lambda: TextEncoder(12, 6, dim=8, num_layers=0, num_heads=2,
                                           rngs=nnx.Rngs(0)), scale=0.3)
  ids = jnp.array([[3, 4, 5, 0, 0, 0], [0, 0, 0, 0, 0, 0]], jnp.int32)
  tokens, pooled = apply(ids)
  # no layers: tokens = LN(E[ids] + P); pooled = mean of the three real tokens
  h = np.asarray(enc.embed.embedding[...])[np.asarray(ids)] + np.asarray(enc.pos[...])
  mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
  h = (h - mu) / np.sqrt(var + 1e-6) * np.asarray(enc.norm.scale[...]) + np.asarray(
      enc.norm.bias[...])
  np.testing.assert_allclose(tokens[0], h[0], atol=1e-5)
  np.testing.assert_allclose(pooled[0], h[0, :3].mean(0), atol=1e-5)
  null = np.asarray(enc.null[...])
  np.testing.assert_allclose(pooled[1], null)
  np.testing.assert_allclose(tokens[1], np.broadcast_to(null, (6, 8)))


def test_encoder_ignores_appended_pads_and_null_gradients_are_finite():
  enc, apply = build(lambda: TextEncoder(12, 8, dim=8, num_layers=1, num_heads=2,
                                           rngs=nnx.Rngs(1)), scale=0.3)
  short = jnp.array([[5, 7, 2], [0, 0, 0]], jnp.int32)
  long = jnp.pad(short, ((0, 0), (0, 5)))
  (t_s, p_s), (t_l, p_l) = apply(short), apply(long)
  np.testing.assert_allclose(p_s, p_l, atol=1e-5)
  np.testing.assert_allclose(t_s, t_l[:, :3], atol=1e-5)
  assert np.all(np.isfinite(t_l)) and np.all(np.isfinite(p_l))

  graphdef, state = nnx.split(enc)
  grads = jax.jit(jax.grad(lambda s: jnp.sum(nnx.merge(graphdef, s)(long)[1] ** 2)),
                  compiler_options=FAST_COMPILE)(state)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert float(jnp.abs(grads["null"][...]).sum()) > 0          # the null row trains the null vector
  with pytest.raises(ValueError, match="8 positions"):
    apply(jnp.zeros((1, 9), jnp.int32))
  with pytest.raises(ValueError, match="integer"):
    apply(jnp.zeros((1, 3)))


def test_attention_mask_and_fully_masked_rows():
  _, apply = build(lambda: Attention(8, 2, context_dim=4, rngs=nnx.Rngs(0)))
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 8)).astype(np.float32)
  ctx = rng.normal(size=(2, 3, 4)).astype(np.float32)
  mask = jnp.array([[True, True, False], [False, False, False]])
  out = apply(x, ctx, mask)
  np.testing.assert_allclose(out[0], apply(x[:1], ctx[:1, :2], None)[0], atol=1e-5)  # key dropped
  assert np.all(np.isfinite(out))
  np.testing.assert_array_equal(context_mask(jnp.array([[3, 0], [0, 0]])), [[True, False],
                                                                           [True, True]])
