"""ModelConfig parsing, RoPE scalings against transformers, parameter counts, sharding, bf16."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import nnx
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from jaxllm.hf_io import load_hf_model
from jaxllm.models import (ModelConfig, init_model, logical_to_mesh_rules, logical_to_spec,
                           shard_model)
from jaxllm.models.rope import rope_frequencies
from tests.jaxllm.hf_models import PARITY_FAMILIES


def test_from_hf_reads_transformers4_layout():
  cfg = ModelConfig.from_hf({
      "model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
      "num_hidden_layers": 1, "num_attention_heads": 2, "rope_theta": 500000.0,
      "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": [1, 2]})
  assert (cfg.rope_type, cfg.rope_theta, cfg.rope_scaling_dict) == ("linear", 5e5, {"factor": 2.0})
  assert (cfg.num_kv_heads, cfg.head_dim, cfg.eos_token_ids) == (2, 4, (1, 2))
  with pytest.raises(ValueError, match="not supported"):
    ModelConfig.from_hf({"model_type": "gpt2"})


@pytest.mark.parametrize("family", PARITY_FAMILIES)
def test_config_round_trip_and_param_count(hf_checkpoints, family):
  directory, torch_model = hf_checkpoints[family]
  cfg = ModelConfig.from_hf(torch_model.config.to_dict())
  assert ModelConfig.from_hf(cfg.to_hf()) == cfg
  assert cfg.num_params() == sum(p.numel() for p in torch_model.parameters())


@pytest.mark.parametrize("rope", [
    {"rope_type": "linear", "factor": 3.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 64},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
     "beta_fast": 16, "beta_slow": 2, "mscale": 1.0, "mscale_all_dim": 0.5},
])
def test_rope_frequencies_match_transformers(rope):
  hf = transformers.LlamaConfig(hidden_size=256, num_attention_heads=4, max_position_embeddings=512,
                                rope_parameters={"rope_theta": 10000.0, **rope})
  ref_freq, ref_factor = ROPE_INIT_FUNCTIONS[rope["rope_type"]](hf, torch.device("cpu"))
  freq, factor = rope_frequencies(ModelConfig.from_hf(hf.to_dict()))
  np.testing.assert_allclose(freq, ref_freq.numpy(), rtol=1e-6)
  assert factor == pytest.approx(ref_factor)


def test_logical_to_spec_replicates_indivisible_dims():
  mesh = jax.make_mesh((1, 2, 4), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  rules = logical_to_mesh_rules()
  spec = logical_to_spec(("embed", "kv_heads", "head_dim"), (32, 2, 8), mesh, rules)
  assert spec == jax.sharding.PartitionSpec("fsdp", None, None)
  spec = logical_to_spec(("embed", "heads", "head_dim"), (32, 4, 8), mesh, rules)
  assert spec == jax.sharding.PartitionSpec("fsdp", "tensor", None)
  spec = logical_to_spec(("batch", None), (8, 5), mesh, rules)
  assert spec == jax.sharding.PartitionSpec("fsdp", None)


def test_shard_model_keeps_outputs(hf_checkpoints, devices):
  model = load_hf_model(hf_checkpoints["qwen3_qknorm"][0])
  tokens = jnp.arange(24).reshape(2, 12) % 97
  forward = nnx.jit(lambda m, t: m(t)[0])
  before = forward(model, tokens)
  mesh = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  shard_model(model, mesh, logical_to_mesh_rules())
  w = model.layers[0].mlp.gate_proj.value
  assert w.sharding.spec == jax.sharding.PartitionSpec("fsdp", "tensor")
  np.testing.assert_allclose(np.asarray(forward(model, tokens)), np.asarray(before), atol=1e-5)


def test_init_model_is_born_sharded(devices):
  cfg = ModelConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_layers=1,
                    num_heads=2, num_kv_heads=2, head_dim=8, tie_word_embeddings=True)
  mesh = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  model = init_model(cfg, seed=3, mesh=mesh)
  assert model.embed.value.sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp")
  assert model.layers[0].attn.q_proj.value.sharding.spec == jax.sharding.PartitionSpec(
      "fsdp", "tensor", None)
  assert float(jnp.std(model.embed.value)) == pytest.approx(0.02, rel=0.3)


def test_bfloat16_params_and_compute(hf_checkpoints):
  directory, _ = hf_checkpoints["qwen2_bias_tied"]
  full = load_hf_model(directory)
  half = load_hf_model(directory, dtype="bfloat16")
  assert half.embed.value.dtype == jnp.bfloat16
  tokens = jnp.arange(16)[None] % 97
  forward = nnx.jit(lambda m, t: m(t)[0])
  a, b = forward(half, tokens), forward(full, tokens)
  assert a.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) < 5e-2


@pytest.mark.parametrize("x_shape,k_shape,in_dims,subscripts", [
    ((2, 3, 8), (8, 4, 5), 1, "bte,ehd->bthd"),     # q/k/v projection
    ((2, 3, 4, 5), (4, 5, 8), 2, "bthd,hde->bte"),  # output projection
    ((3, 8), (8, 6), 1, "ne,ef->nf"),
])
def test_dense_equals_einsum(x_shape, k_shape, in_dims, subscripts):
  from jaxllm.models.transformer import dense
  kx, kk = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(kx, x_shape)
  kernel = jax.random.normal(kk, k_shape)
  want = np.einsum(subscripts, np.asarray(x, np.float64), np.asarray(kernel, np.float64))
  got = dense(x, kernel, in_dims=in_dims)
  assert got.shape == want.shape
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
  bf = dense(x.astype(jnp.bfloat16), kernel, in_dims=in_dims, preferred_element_type=jnp.float32)
  assert bf.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(bf), want, rtol=0.05, atol=0.1)
