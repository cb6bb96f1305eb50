"""Decoder-only transformers in Flax NNX: config, model, KV cache, RoPE and sharding rules."""

from jaxllm.models.cache import KVCache, init_cache
from jaxllm.models.config import ModelConfig
from jaxllm.models.sharding import (
    init_model,
    logical_to_mesh_rules,
    logical_to_spec,
    model_shardings,
    shard_model,
)
from jaxllm.models.transformer import Transformer, positions_from_mask

__all__ = [
    "KVCache",
    "ModelConfig",
    "Transformer",
    "init_cache",
    "init_model",
    "logical_to_mesh_rules",
    "logical_to_spec",
    "model_shardings",
    "positions_from_mask",
    "shard_model",
]
