"""Hugging Face checkpoints <-> our NNX `Transformer`, one tensor at a time.

    model = load_hf_model("/path/to/Qwen2.5-0.5B", dtype="bfloat16", mesh=mesh)
    save_hf_model(model, "/tmp/export")  # config.json + model.safetensors for transformers

Loading builds the model abstractly (`nnx.eval_shape`, no random init), then walks the safetensors
files (`jaxllm.safetensors_read`, plain reads, no memory map): each tensor is read in row blocks
straight into a buffer in our layout and dtype, and placed with its sharding
(`jax.make_array_from_callback`, so each device only receives its shard) before the next one is
read. Besides the model, the host holds one tensor and one 8 MiB block at a time.

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
from safetensors.numpy import save_file

from jaxllm.models.config import ModelConfig
from jaxllm.models.sharding import logical_to_mesh_rules
from jaxllm.sharding import Rules, leaf_spec, variable_axes
from jaxllm.models.transformer import Transformer
from jaxllm.safetensors_read import SafetensorsFile

_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
_BLOCK_BYTES = 8 << 20   # row block for transposing/casting reads


@dataclasses.dataclass(frozen=True)
class _Entry:
  """Where an HF tensor lives in our model. `transposed`: ours is the HF [out, in] matrix
  transposed to [in, out] and then reshaped (so `ours.reshape(in, out)` is a view of it); otherwise
  ours is the HF tensor reshaped. `to_hf` maps our array back to the HF layout."""
  path: tuple[str | int, ...]                    # attribute path in our model
  transposed: bool
  to_hf: Callable[[np.ndarray], np.ndarray]


# (transposed, to_hf) pairs; see _Entry.
_LINEAR = (True, lambda w: w.reshape(w.shape[0], -1).T)   # ours [in, *out] <- HF [out, in]
_AS_IS = (False, lambda w: w)
_FLAT = (False, lambda w: w.reshape(-1))                   # ours [H, D] <- HF [H*D]


def weight_map(cfg: ModelConfig) -> dict[str, _Entry]:
  """HF tensor name -> where it lives in our model and how to convert it."""
  h, d, e = cfg.num_heads, cfg.head_dim, cfg.hidden_size
  out: dict[str, _Entry] = {}

  def add(name, path, fns):
    out[name] = _Entry(tuple(path), *fns)

  add("model.embed_tokens.weight", ["embed"], _AS_IS)
  add("model.norm.weight", ["final_norm", "scale"], _AS_IS)
  if not cfg.tie_word_embeddings:
    add("lm_head.weight", ["lm_head"], _LINEAR)
  for i in range(cfg.num_layers):
    p = f"model.layers.{i}."
    layer = ["layers", i]
    add(p + "input_layernorm.weight", layer + ["input_norm", "scale"], _AS_IS)
    add(p + "post_attention_layernorm.weight", layer + ["post_attn_norm", "scale"], _AS_IS)
    for name in ("q", "k", "v"):
      add(p + f"self_attn.{name}_proj.weight", layer + ["attn", f"{name}_proj"], _LINEAR)
      if cfg.qkv_bias:
        add(p + f"self_attn.{name}_proj.bias", layer + ["attn", f"{name}_bias"], _FLAT)
    add(p + "self_attn.o_proj.weight", layer + ["attn", "o_proj"],
        (True, lambda w: w.reshape(h * d, e).T))
    if cfg.o_bias:
      add(p + "self_attn.o_proj.bias", layer + ["attn", "o_bias"], _AS_IS)
    if cfg.qk_norm:
      add(p + "self_attn.q_norm.weight", layer + ["attn", "q_norm", "scale"], _AS_IS)
      add(p + "self_attn.k_norm.weight", layer + ["attn", "k_norm", "scale"], _AS_IS)
    for name in ("gate", "up", "down"):
      add(p + f"mlp.{name}_proj.weight", layer + ["mlp", f"{name}_proj"], _LINEAR)
      if cfg.mlp_bias:
        add(p + f"mlp.{name}_proj.bias", layer + ["mlp", f"{name}_bias"], _AS_IS)
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
  """Loads a HF Llama/Mistral/Qwen2/Qwen3 directory into a (optionally sharded) Transformer.

  `rules` (jaxllm.sharding: logical names and path regexes) place each tensor on `mesh`; default
  `logical_to_mesh_rules()`.
  """
  path = Path(path)
  cfg = load_config(path, dtype=dtype, param_dtype=param_dtype)
  rules = logical_to_mesh_rules() if rules is None else rules
  model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
  entries = weight_map(cfg)
  loaded: set[str] = set()
  for file in _safetensors_files(path):
    with SafetensorsFile(file) as f:
      for name in f.keys():
        entry = entries.get(name)
        if entry is None:
          if name.endswith(_IGNORED_SUFFIXES) or (cfg.tie_word_embeddings
                                                  and name == "lm_head.weight"):
            continue
          raise ValueError(f"unexpected tensor {name!r} in {file}; is config.json from the "
                           "same checkpoint?")
        var = _variable(model, entry.path)
        value = _read_ours(f, name, entry, var.value.shape, var.value.dtype)
        var.value = _place(value, var, entry.path, mesh, rules)
        del value
        loaded.add(name)
  missing = sorted(set(entries) - loaded)
  if missing:
    raise ValueError(f"checkpoint at {path} lacks {len(missing)} tensors, e.g. {missing[:3]}.")
  return model


def _read_ours(f: SafetensorsFile, name: str, entry: _Entry, shape: tuple[int, ...],
               dtype: np.dtype) -> np.ndarray:
  """Reads HF tensor `name` into a new array in our layout and dtype.

  Same dtype and no transpose: read straight into the result. Otherwise the HF tensor is read in
  blocks of rows (at most _BLOCK_BYTES) and each block is transposed/cast into its place, so the
  host holds the result plus one block, never a second full copy of the tensor.
  """
  hf_shape, hf_dtype = f.shape(name), f.dtype(name)
  hf_size, size = int(np.prod(hf_shape, dtype=np.int64)), int(np.prod(shape, dtype=np.int64))
  if hf_size != size or (entry.transposed and len(hf_shape) != 2):
    raise ValueError(f"{name}: shape {list(hf_shape)} in {f.path} does not fit {list(shape)} "
                     "in the model; config.json does not match the weights.")
  out = np.empty(shape, dtype)
  if not hf_shape:
    out[...] = f.read(name)
    return out
  if not entry.transposed and hf_dtype == dtype:
    f.read(name, out=out.reshape(hf_shape))
    return out
  rows = hf_shape[0]
  row_bytes = max(hf_size // max(rows, 1), 1) * hf_dtype.itemsize
  step = max(1, _BLOCK_BYTES // row_bytes)
  # Transposed: ours.reshape(in, out) is the HF [out, in] matrix transposed, HF rows -> columns.
  dst = out.reshape(hf_shape[1], hf_shape[0]) if entry.transposed else out.reshape(rows, -1)
  for r0 in range(0, rows, step):
    block = f.read(name, rows=(r0, min(rows, r0 + step)))
    if entry.transposed:
      dst[:, r0:r0 + len(block)] = block.T
    else:
      dst[r0:r0 + len(block)] = block.reshape(len(block), -1)
  return out


def _place(value: np.ndarray, var: nnx.Variable, path: tuple[str | int, ...], mesh: Mesh | None,
           rules: Rules) -> jax.Array:
  if mesh is None:
    return jax.device_put(value)
  name = "/".join(map(str, path))   # as jaxllm.sharding.path_str names it in nnx.state(model)
  spec = leaf_spec(name, value.shape, variable_axes(var), mesh, rules)
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
