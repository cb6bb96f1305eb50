"""Hugging Face checkpoints <-> our NNX `Transformer`, one tensor at a time.

    model = load_hf_model("/path/to/Qwen2.5-0.5B", dtype="bfloat16", mesh=mesh)
    save_hf_model(model, "/tmp/export")  # config.json + model.safetensors for transformers

Loading builds the model abstractly (`nnx.eval_shape`, no random init), then walks the safetensors
files with the lazy `safe_open`: each tensor is read, transposed/reshaped into our layout, cast, and
placed with its sharding (`jax.make_array_from_callback`, so each device only receives its shard)
before the next one is read. The host never holds more than one tensor of the checkpoint at a time.

Layout map (HF torch Linear weights are [out, in]):
  q/k/v_proj.weight [H*D, E]  ->  [E, H, D]       o_proj.weight [E, H*D]  ->  [H, D, E]
  gate/up_proj.weight [M, E]  ->  [E, M]          down_proj.weight [E, M]  ->  [M, E]
  lm_head.weight [V, E]       ->  [E, V]          embed_tokens / norms: unchanged
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from safetensors import safe_open
from safetensors.numpy import save_file

from jaxllm.models.config import ModelConfig
from jaxllm.models.sharding import Rules, logical_to_mesh_rules, logical_to_spec, variable_axes
from jaxllm.models.transformer import Transformer

_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


@dataclasses.dataclass(frozen=True)
class _Entry:
  path: tuple[str | int, ...]                    # attribute path in our model
  to_ours: Callable[[np.ndarray], np.ndarray]
  to_hf: Callable[[np.ndarray], np.ndarray]


def _linear(out_shape: tuple[int, ...]) -> tuple[Callable, Callable]:
  """HF [out, in] <-> ours [in, *out_shape]."""
  return (lambda w: w.T.reshape((w.shape[1],) + out_shape),
          lambda w: w.reshape(w.shape[0], -1).T)


def _identity() -> tuple[Callable, Callable]:
  return (lambda w: w, lambda w: w)


def _reshape(shape: tuple[int, ...]) -> tuple[Callable, Callable]:
  return (lambda w: w.reshape(shape), lambda w: w.reshape(-1))


def weight_map(cfg: ModelConfig) -> dict[str, _Entry]:
  """HF tensor name -> where it lives in our model and how to convert it."""
  h, k, d, e = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.hidden_size
  out: dict[str, _Entry] = {}

  def add(name, path, fns):
    out[name] = _Entry(tuple(path), *fns)

  add("model.embed_tokens.weight", ["embed"], _identity())
  add("model.norm.weight", ["final_norm", "scale"], _identity())
  if not cfg.tie_word_embeddings:
    add("lm_head.weight", ["lm_head"], (lambda w: w.T, lambda w: w.T))
  for i in range(cfg.num_layers):
    p = f"model.layers.{i}."
    layer = ["layers", i]
    add(p + "input_layernorm.weight", layer + ["input_norm", "scale"], _identity())
    add(p + "post_attention_layernorm.weight", layer + ["post_attn_norm", "scale"], _identity())
    for name, heads in (("q", h), ("k", k), ("v", k)):
      add(p + f"self_attn.{name}_proj.weight", layer + ["attn", f"{name}_proj"],
          _linear((heads, d)))
      if cfg.qkv_bias:
        add(p + f"self_attn.{name}_proj.bias", layer + ["attn", f"{name}_bias"],
            _reshape((heads, d)))
    add(p + "self_attn.o_proj.weight", layer + ["attn", "o_proj"],
        (lambda w: w.T.reshape(h, d, e), lambda w: w.reshape(h * d, e).T))
    if cfg.o_bias:
      add(p + "self_attn.o_proj.bias", layer + ["attn", "o_bias"], _identity())
    if cfg.qk_norm:
      add(p + "self_attn.q_norm.weight", layer + ["attn", "q_norm", "scale"], _identity())
      add(p + "self_attn.k_norm.weight", layer + ["attn", "k_norm", "scale"], _identity())
    for name in ("gate", "up", "down"):
      add(p + f"mlp.{name}_proj.weight", layer + ["mlp", f"{name}_proj"],
          (lambda w: w.T, lambda w: w.T))
      if cfg.mlp_bias:
        add(p + f"mlp.{name}_proj.bias", layer + ["mlp", f"{name}_bias"], _identity())
  return out


def _variable(model: nnx.Module, path: tuple[str | int, ...]) -> nnx.Variable:
  obj = model
  for key in path:
    obj = obj[key] if isinstance(key, int) else getattr(obj, key)
  return obj


def _safetensors_files(path: Path) -> list[Path]:
  index = path / "model.safetensors.index.json"
  if index.exists():
    names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    return [path / n for n in names]
  single = path / "model.safetensors"
  if single.exists():
    return [single]
  files = sorted(path.glob("*.safetensors"))
  if not files:
    raise FileNotFoundError(f"no *.safetensors under {path}; pass a Hugging Face model directory.")
  return files


def load_config(path: str | os.PathLike, **kwargs) -> ModelConfig:
  """`ModelConfig.from_hf` on `path/config.json` (kwargs: dtype, param_dtype)."""
  config_file = Path(path) / "config.json"
  if not config_file.exists():
    raise FileNotFoundError(f"{config_file} not found; pass a Hugging Face model directory.")
  return ModelConfig.from_hf(json.loads(config_file.read_text()), **kwargs)


def load_hf_model(path: str | os.PathLike, *, dtype: str = "float32",
                  param_dtype: str | None = None, mesh: Mesh | None = None,
                  rules: Rules | None = None) -> Transformer:
  """Loads a HF Llama/Mistral/Qwen2/Qwen3 directory into a (optionally sharded) Transformer."""
  path = Path(path)
  cfg = load_config(path, dtype=dtype, param_dtype=param_dtype)
  rules = logical_to_mesh_rules() if rules is None else rules
  model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
  entries = weight_map(cfg)
  loaded: set[str] = set()
  for file in _safetensors_files(path):
    with safe_open(str(file), framework="numpy") as f:
      for name in f.keys():
        entry = entries.get(name)
        if entry is None:
          if name.endswith(_IGNORED_SUFFIXES) or (cfg.tie_word_embeddings
                                                  and name == "lm_head.weight"):
            continue
          raise ValueError(f"unexpected tensor {name!r} in {file}; is config.json from the "
                           "same checkpoint?")
        var = _variable(model, entry.path)
        value = np.asarray(entry.to_ours(f.get_tensor(name))).astype(var.value.dtype)
        if value.shape != var.value.shape:
          raise ValueError(f"{name}: shape {value.shape} after conversion, expected "
                           f"{var.value.shape}; config.json does not match the weights.")
        var.value = _place(value, var, mesh, rules)
        loaded.add(name)
  missing = sorted(set(entries) - loaded)
  if missing:
    raise ValueError(f"checkpoint at {path} lacks {len(missing)} tensors, e.g. {missing[:3]}.")
  return model


def _place(value: np.ndarray, var: nnx.Variable, mesh: Mesh | None, rules: Rules) -> jax.Array:
  if mesh is None:
    return jax.device_put(value)
  spec = logical_to_spec(variable_axes(var), value.shape, mesh, rules)
  sharding = NamedSharding(mesh, spec)
  return jax.make_array_from_callback(value.shape, sharding, lambda idx: value[idx])


def save_hf_model(model: Transformer, path: str | os.PathLike, *,
                  max_shard_bytes: int = 4 << 30) -> Path:
  """Writes config.json and model.safetensors (or shards + index) that transformers can load.

  Tensors are gathered and converted one at a time; at most one output shard is held on host.
  Single-process only (every parameter must be addressable from this host).
  """
  path = Path(path)
  path.mkdir(parents=True, exist_ok=True)
  cfg = model.cfg
  (path / "config.json").write_text(json.dumps(cfg.to_hf(), indent=2) + "\n")
  entries = weight_map(cfg)
  sizes = [0]
  names_per_shard: list[list[str]] = [[]]
  # First pass: assign names to shards by size (shape and dtype are known without gathering).
  for name, entry in entries.items():
    var = _variable(model, entry.path)
    nbytes = int(np.prod(var.value.shape)) * var.value.dtype.itemsize
    if sizes[-1] and sizes[-1] + nbytes > max_shard_bytes:
      names_per_shard.append([])
      sizes.append(0)
    names_per_shard[-1].append(name)
    sizes[-1] += nbytes
  n = len(names_per_shard)
  weight_index = {}
  for i, names in enumerate(names_per_shard):
    file = "model.safetensors" if n == 1 else f"model-{i + 1:05d}-of-{n:05d}.safetensors"
    tensors = {}
    for name in names:
      entry = entries[name]
      value = np.asarray(jax.device_get(_variable(model, entry.path).value))
      tensors[name] = np.ascontiguousarray(entry.to_hf(value))
      weight_index[name] = file
    save_file(tensors, str(path / file), metadata={"format": "pt"})
  if n > 1:
    index = {"metadata": {"total_size": int(sum(sizes))}, "weight_map": weight_index}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
  return path
