"""Logits parity with transformers' PyTorch models, and export round trips."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from flax import nnx

from jaxllm.hf_io import load_hf_model, save_hf_model
from jaxllm.models import init_cache, logical_to_mesh_rules, model_shardings
from tests.jaxllm.hf_models import PARITY_FAMILIES


def rel_err(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def left_padded_batch(vocab: int, lengths=(9, 5, 1), seed=0):
  rng = np.random.default_rng(seed)
  t = max(lengths)
  tokens = np.zeros((len(lengths), t), np.int64)
  mask = np.zeros((len(lengths), t), np.int64)
  for i, n in enumerate(lengths):
    tokens[i, t - n:] = rng.integers(3, vocab, n)
    mask[i, t - n:] = 1
  return tokens, mask


@nnx.jit
def forward(model, tokens, mask):
  return model(tokens, attention_mask=mask)[0]


@nnx.jit
def forward_cached(model, tokens, mask, cache):
  return model(tokens, cache=cache, attention_mask=mask)


def torch_logits(model, tokens, mask):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(np.array(tokens)),
                attention_mask=torch.tensor(np.array(mask)))
  return out.logits.numpy()


@pytest.mark.parametrize("family", PARITY_FAMILIES)
def test_logits_match_transformers(hf_checkpoints, family):
  directory, torch_model = hf_checkpoints[family]
  model = load_hf_model(directory)
  # Full batch, no padding.
  tokens = np.random.default_rng(1).integers(0, 97, (3, 9))
  ours = forward(model, jnp.asarray(tokens), jnp.ones(tokens.shape, bool))
  ref = torch_logits(torch_model, tokens, np.ones_like(tokens))
  assert rel_err(ours, ref) <= 1e-4
  # Left-padded batch: compare real positions only.
  tokens, mask = left_padded_batch(97)
  ours = forward(model, jnp.asarray(tokens), jnp.asarray(mask))
  ref = torch_logits(torch_model, tokens, mask)
  real = mask.astype(bool)
  assert rel_err(np.asarray(ours)[real], ref[real]) <= 1e-4


@pytest.mark.parametrize("family", ["llama_gqa", "qwen3_qknorm"])
def test_cached_decode_equals_full_forward(hf_checkpoints, family):
  directory, _ = hf_checkpoints[family]
  model = load_hf_model(directory)
  tokens, mask = left_padded_batch(97, lengths=(9, 6, 3))
  full = forward(model, jnp.asarray(tokens), jnp.asarray(mask))
  prefix = 6
  cache = init_cache(model.cfg, batch_size=3, size=16)
  step_logits = []
  logits, cache = forward_cached(model, jnp.asarray(tokens[:, :prefix]),
                                 jnp.asarray(mask[:, :prefix]), cache)
  step_logits.append(logits)
  for t in range(prefix, tokens.shape[1]):
    logits, cache = forward_cached(model, jnp.asarray(tokens[:, t:t + 1]),
                                   jnp.asarray(mask[:, t:t + 1]), cache)
    step_logits.append(logits)
  cached = np.concatenate([np.asarray(x) for x in step_logits], axis=1)
  real = mask.astype(bool)
  assert int(cache.index) == tokens.shape[1]
  np.testing.assert_allclose(cached[real], np.asarray(full)[real], rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", ["llama_gqa", "qwen2_bias_tied", "qwen3_qknorm"])
def test_export_round_trip(hf_checkpoints, family, tmp_path):
  directory, torch_model = hf_checkpoints[family]
  model = load_hf_model(directory)
  save_hf_model(model, tmp_path / "export")
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "export").eval()
  tokens, mask = left_padded_batch(97, seed=3)
  a, b = torch_logits(reloaded, tokens, mask), torch_logits(torch_model, tokens, mask)
  real = mask.astype(bool)
  np.testing.assert_array_equal(a[real], b[real])


def test_sharded_export_reload(hf_checkpoints, tmp_path):
  directory, torch_model = hf_checkpoints["llama_gqa"]
  model = load_hf_model(directory)
  save_hf_model(model, tmp_path / "sharded", max_shard_bytes=20_000)
  assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
  again = load_hf_model(tmp_path / "sharded")
  tokens = jnp.asarray(left_padded_batch(97, lengths=(9, 9, 9))[0])
  ones = jnp.ones(tokens.shape, bool)
  np.testing.assert_array_equal(np.asarray(forward(again, tokens, ones)),
                                np.asarray(forward(model, tokens, ones)))
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "sharded").eval()
  t = np.asarray(tokens)
  np.testing.assert_array_equal(torch_logits(reloaded, t, np.ones_like(t)),
                                torch_logits(torch_model, t, np.ones_like(t)))


@pytest.mark.parametrize("fsdp,tensor", [(True, True), (True, False), (False, True)])
def test_sharded_load_matches_unsharded(hf_checkpoints, devices, fsdp, tensor):
  directory, _ = hf_checkpoints["qwen3_qknorm"]
  mesh = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  rules = logical_to_mesh_rules(fsdp=fsdp, tensor=tensor)
  sharded = load_hf_model(directory, mesh=mesh, rules=rules)
  plain = load_hf_model(directory)
  q = sharded.layers[0].attn.q_proj.value
  expected = model_shardings(sharded, mesh, rules).layers[0].attn.q_proj.value
  assert q.sharding == expected
  assert len(q.addressable_shards) == 8
  if fsdp or tensor:
    assert q.addressable_shards[0].data.size < q.size
  tokens, mask = left_padded_batch(97)
  a = forward(sharded, jnp.asarray(tokens), jnp.asarray(mask))
  b = forward(plain, jnp.asarray(tokens), jnp.asarray(mask))
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
