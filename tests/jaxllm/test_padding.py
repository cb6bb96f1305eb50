"""Padding can never leak into outputs (issue 21, part 1).

The failure it guards against: a tokenizer whose pad id lies past the checkpoint's embedding table
(transformers' Qwen2 tokenizer adds `<|endoftext|>` as a new id when the vocabulary lacks it).
Padding with it gathered NaN into the KV cache and attention's zero weights multiplied it
(0 x NaN = NaN). Now the sampler pads with an in-range id, attention selects instead of
multiplying, out-of-range prompt ids are refused with one line, and the server refuses such a
request alone, not the batch it would have joined.
"""

from __future__ import annotations

import threading

import jax.numpy as jnp
import numpy as np
import pytest

from jaxllm.hf_io import load_hf_model
from jaxllm.models.cache import init_cache
from jaxllm.sampling import Sampler, SamplingParams, safe_pad_id, vocab_mismatch
from jaxllm.serving import Batcher, ServerThread, build_app
from jaxllm.tokenizers import ByteTokenizer
from tests.jaxllm.test_serve import http

FAMILIES = ("llama_gqa", "qwen2_bias_tied", "qwen3_qknorm")
VOCAB = 97                     # tests.jaxllm.hf_models._COMMON
GREEDY = SamplingParams(max_new_tokens=6, temperature=0.0, stop_token_ids=())


class PastVocabTokenizer:
  """Ids are characters' code points mod 90 + 3; its pad id is one past the model's table."""
  pad_token_id = VOCAB
  bos_token_id, eos_token_id, eos_token_ids = 1, 2, (2,)
  vocab_size = VOCAB + 1

  def encode(self, text, add_special_tokens=True):
    return [ord(c) % 90 + 3 for c in text]

  def decode(self, ids, skip_special_tokens=True):
    return " ".join(map(str, ids))


PROMPTS = [[5, 6, 7, 8, 9, 10, 11, 12], [13, 14, 15], [16, 17, 18, 19, 20]]


@pytest.mark.parametrize("family", FAMILIES)
def test_pad_id_past_the_vocabulary_gives_the_unpadded_outputs(hf_checkpoints, family):
  model = load_hf_model(hf_checkpoints[family][0])
  tok = PastVocabTokenizer()
  assert safe_pad_id(tok, model.cfg.vocab_size) == 0
  batched = Sampler(model, tok, cache_size=32, prompt_bucket=8).generate(PROMPTS, GREEDY)
  for prompt, out in zip(PROMPTS, batched):
    # prompt_bucket = len(prompt): this prompt alone is not padded at all.
    alone = Sampler(model, tok, cache_size=32, prompt_bucket=len(prompt)).generate([prompt],
                                                                                  GREEDY)[0]
    assert np.isfinite(out.logprobs).all()
    assert out.tokens == alone.tokens
    np.testing.assert_allclose(out.logprobs, alone.logprobs, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_nan_in_masked_cache_slots_cannot_reach_the_logits(hf_checkpoints, family):
  model = load_hf_model(hf_checkpoints[family][0])
  size, p = 16, 8
  tokens = jnp.asarray([[0, 0, 0, 5, 6, 7, 8, 9]], jnp.int32)        # 3 slots of left padding
  mask = jnp.asarray([[False] * 3 + [True] * 5])
  _, cache = model(tokens, cache=init_cache(model.cfg, 1, size), attention_mask=mask)
  step = jnp.asarray([[10]], jnp.int32)
  clean, _ = model(step, cache=cache, attention_mask=jnp.ones((1, 1), bool))
  # NaN and Inf into every slot no query may attend to: the padding and the unwritten tail.
  invalid = ~np.asarray(cache.valid)[0]
  assert invalid.sum() == 3 + size - p
  poison = lambda a, v: a.at[:, invalid].set(v)
  dirty_cache = cache.replace(keys=tuple(poison(k, jnp.nan) for k in cache.keys),
                              values=tuple(poison(v, jnp.inf) for v in cache.values))
  dirty, _ = model(step, cache=dirty_cache, attention_mask=jnp.ones((1, 1), bool))
  assert np.isfinite(np.asarray(dirty)).all()
  np.testing.assert_allclose(np.asarray(dirty), np.asarray(clean), rtol=1e-6, atol=1e-6)


def test_out_of_range_prompt_ids_are_refused_in_one_line(hf_checkpoints):
  model = load_hf_model(hf_checkpoints["llama_gqa"][0])
  line = vocab_mismatch(PastVocabTokenizer(), model.cfg.vocab_size)
  assert line is not None and "97" in line and "\n" not in line
  assert vocab_mismatch(PastVocabTokenizer(), VOCAB + 1) is None
  with pytest.raises(ValueError, match=r"\[97\] are outside the model's vocabulary \(0..96\)"):
    Sampler(model, PastVocabTokenizer(), cache_size=32).generate([[5, 97]], GREEDY)


class PastVocabBytes(ByteTokenizer):
  """The byte tokenizer with one token added past the byte model's table (id 259), also its
  pad token: the Qwen2 situation on the byte-vocabulary test checkpoint."""
  EXTRA = "<|extra|>"

  @property
  def pad_token_id(self):
    return ByteTokenizer.vocab_size

  def encode(self, text, add_special_tokens=True):
    parts = text.split(self.EXTRA)
    out = super().encode(parts[0], add_special_tokens)
    for part in parts[1:]:
      out += [ByteTokenizer.vocab_size] + super().encode(part, False)
    return out


def test_server_pads_safely_and_refuses_only_the_bad_request(hf_checkpoints):
  model = load_hf_model(hf_checkpoints["llama_bytes"][0])
  tok = PastVocabBytes()
  sampler = Sampler(model, tok, cache_size=64, prompt_bucket=32)
  batcher = Batcher(sampler, max_batch=8, batch_wait_ms=200, fixed_rows=True)
  app = build_app(batcher, model_name="m", max_new_tokens_limit=64, default_max_tokens=8)
  prompts = ["a", "a much longer prompt", "mid length", f"bad {PastVocabBytes.EXTRA} prompt"]
  out = [None] * len(prompts)
  with ServerThread(app) as srv:
    barrier = threading.Barrier(len(prompts))

    def ask(i):
      barrier.wait()
      out[i] = http(srv, "POST", "/v1/completions",
                    {"model": "m", "prompt": prompts[i], "max_tokens": 8, "temperature": 0,
                     "logprobs": 0})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for t in threads:
      t.start()
    for t in threads:
      t.join(120)
  status, body = out[-1]
  assert status == 400 and "[259]" in body["error"]["message"]
  for prompt, (status, body) in zip(prompts[:-1], out[:-1]):
    assert status == 200, body
    ids = tok.encode(prompt)
    alone = Sampler(model, tok, cache_size=64, prompt_bucket=len(ids)).generate(
        [ids], SamplingParams(max_new_tokens=8, temperature=0.0))[0]
    (choice,) = body["choices"]
    assert choice["text"] == alone.text
    lp = choice["logprobs"]["token_logprobs"]
    assert all(np.isfinite(lp)) and lp == pytest.approx(alone.logprobs.tolist(), abs=1e-5)
