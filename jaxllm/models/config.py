"""Model configuration for the decoder-only transformer, built from a Hugging Face config.json.

One `ModelConfig` covers the Llama family (Llama 2/3, Mistral without sliding windows),
Qwen2/Qwen2.5 (bias on the q/k/v projections) and Qwen3 (RMSNorm on each query/key head). The
family is not a code path of its own: it only sets switches (`qkv_bias`, `qk_norm`, ...).
RoPE scalings: default, linear, llama3 and yarn ("dynamic" NTK is not supported).

    cfg = ModelConfig.from_hf(json.load(open(path / "config.json")), dtype="bfloat16")
    hf_dict = cfg.to_hf()        # back to a config.json transformers can read
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
SUPPORTED_ROPE_TYPES = ("default", "linear", "llama3", "yarn")

_ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyperparameters of the decoder. Frozen and hashable: it lives in the NNX graph as static data.

  `rope_scaling` holds the HF rope parameters other than `rope_type` and `rope_theta` as sorted
  (key, value) pairs, so that the dataclass stays hashable; read it through `rope_scaling_dict`.
  """
  vocab_size: int = 256
  hidden_size: int = 64
  intermediate_size: int = 128
  num_layers: int = 2
  num_heads: int = 4
  num_kv_heads: int = 2
  head_dim: int = 16
  rms_norm_eps: float = 1e-6
  max_position_embeddings: int = 2048
  rope_theta: float = 10000.0
  rope_type: str = "default"
  rope_scaling: tuple[tuple[str, Any], ...] = ()
  qkv_bias: bool = False
  o_bias: bool = False
  mlp_bias: bool = False
  qk_norm: bool = False
  tie_word_embeddings: bool = False
  model_type: str = "llama"
  bos_token_id: int | None = None
  eos_token_id: int | tuple[int, ...] | None = None
  pad_token_id: int | None = None
  dtype: str = "float32"        # compute (activation) dtype
  param_dtype: str = "float32"  # storage dtype of the parameters

  def __post_init__(self):
    if self.model_type not in SUPPORTED_MODEL_TYPES:
      raise ValueError(f"model_type {self.model_type!r} is not supported; use one of "
                       f"{SUPPORTED_MODEL_TYPES}.")
    if self.rope_type not in SUPPORTED_ROPE_TYPES:
      raise ValueError(f"rope_type {self.rope_type!r} is not supported; use one of "
                       f"{SUPPORTED_ROPE_TYPES}.")
    if self.num_heads % self.num_kv_heads:
      raise ValueError(f"num_heads={self.num_heads} must be a multiple of "
                       f"num_kv_heads={self.num_kv_heads}.")

  @property
  def rope_scaling_dict(self) -> dict[str, Any]:
    return dict(self.rope_scaling)

  @property
  def compute_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.dtype)

  @property
  def weight_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.param_dtype)

  @property
  def eos_token_ids(self) -> tuple[int, ...]:
    if self.eos_token_id is None:
      return ()
    if isinstance(self.eos_token_id, int):
      return (self.eos_token_id,)
    return tuple(self.eos_token_id)

  def num_params(self) -> int:
    """Parameter count (embeddings included, tied embeddings counted once)."""
    e, m, d = self.hidden_size, self.intermediate_size, self.head_dim
    q, kv = self.num_heads * d, self.num_kv_heads * d
    attn = e * q + 2 * e * kv + q * e
    attn += (q + 2 * kv) * self.qkv_bias + e * self.o_bias + 2 * d * self.qk_norm
    mlp = 3 * e * m + (2 * m + e) * self.mlp_bias
    per_layer = attn + mlp + 2 * e
    emb = self.vocab_size * e * (1 if self.tie_word_embeddings else 2)
    return self.num_layers * per_layer + emb + e

  # ---------------------------------------------------------------------------------------------
  # Hugging Face config.json <-> ModelConfig
  # ---------------------------------------------------------------------------------------------

  @classmethod
  def from_hf(cls, hf: dict[str, Any], *, dtype: str = "float32",
              param_dtype: str | None = None) -> "ModelConfig":
    """Builds a config from a parsed HF config.json (transformers 4.x or 5.x layout)."""
    model_type = hf.get("model_type", "llama")
    if model_type not in SUPPORTED_MODEL_TYPES:
      raise ValueError(f"model_type {model_type!r} in config.json is not supported; use one of "
                       f"{SUPPORTED_MODEL_TYPES}.")
    act = hf.get("hidden_act", "silu")
    if act != "silu":
      raise ValueError(f"hidden_act {act!r} is not supported; only 'silu' (SwiGLU) is.")
    if hf.get("use_sliding_window", False) or (
        model_type == "mistral" and hf.get("sliding_window") is not None):
      raise ValueError("sliding-window attention is not supported; set sliding_window to null "
                       "(Mistral v0.2+) or use_sliding_window to false.")
    heads = hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    rope = _rope_from_hf(hf)
    rope_type = rope.pop("rope_type", None) or rope.pop("type", None) or "default"
    rope.pop("type", None)
    theta = float(rope.pop("rope_theta", hf.get("rope_theta", 10000.0)))
    if model_type in ("llama", "mistral"):
      qkv_bias = o_bias = bool(hf.get("attention_bias", False))
    elif model_type == "qwen2":
      qkv_bias, o_bias = True, False
    else:  # qwen3
      qkv_bias = o_bias = bool(hf.get("attention_bias", False))
    return cls(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        intermediate_size=hf["intermediate_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_dim=head_dim,
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        max_position_embeddings=hf.get("max_position_embeddings", 2048),
        rope_theta=theta,
        rope_type=rope_type,
        rope_scaling=tuple(sorted(rope.items())),
        qkv_bias=qkv_bias,
        o_bias=o_bias,
        mlp_bias=bool(hf.get("mlp_bias", False)),
        qk_norm=model_type == "qwen3",
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
        model_type=model_type,
        bos_token_id=hf.get("bos_token_id"),
        eos_token_id=_as_ids(hf.get("eos_token_id")),
        pad_token_id=hf.get("pad_token_id"),
        dtype=dtype,
        param_dtype=param_dtype or dtype,
    )

  def to_hf(self) -> dict[str, Any]:
    """A config.json dict (transformers 5 layout) for this model."""
    if self.model_type in ("llama", "mistral"):
      if self.qkv_bias != self.o_bias:
        raise ValueError("Llama/Mistral configs have one attention_bias for q/k/v and o.")
    elif self.model_type == "qwen2":
      if not self.qkv_bias or self.o_bias:
        raise ValueError("Qwen2 has bias on q/k/v and none on o.")
    elif self.qkv_bias != self.o_bias:
      raise ValueError("Qwen3 configs have one attention_bias for q/k/v and o.")
    if self.qk_norm != (self.model_type == "qwen3"):
      raise ValueError("qk_norm is a Qwen3 feature and Qwen3 always has it.")
    rope = {"rope_type": self.rope_type, "rope_theta": self.rope_theta, **self.rope_scaling_dict}
    out: dict[str, Any] = {
        "architectures": [_ARCHITECTURES[self.model_type]],
        "model_type": self.model_type,
        "vocab_size": self.vocab_size,
        "hidden_size": self.hidden_size,
        "intermediate_size": self.intermediate_size,
        "num_hidden_layers": self.num_layers,
        "num_attention_heads": self.num_heads,
        "num_key_value_heads": self.num_kv_heads,
        "head_dim": self.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": self.rms_norm_eps,
        "max_position_embeddings": self.max_position_embeddings,
        "rope_parameters": rope,
        "tie_word_embeddings": self.tie_word_embeddings,
        "bos_token_id": self.bos_token_id,
        "eos_token_id": (list(self.eos_token_id) if isinstance(self.eos_token_id, tuple)
                         else self.eos_token_id),
        "pad_token_id": self.pad_token_id,
        "torch_dtype": self.param_dtype,
    }
    if self.model_type in ("llama", "mistral"):
      out["attention_bias"] = self.qkv_bias
      out["mlp_bias"] = self.mlp_bias
    elif self.model_type == "qwen3":
      out["attention_bias"] = self.qkv_bias
    if self.model_type == "mistral":
      out["sliding_window"] = None
    if self.model_type in ("qwen2", "qwen3"):
      out["use_sliding_window"] = False
    return out


def _rope_from_hf(hf: dict[str, Any]) -> dict[str, Any]:
  """The rope parameters as one flat dict, whichever layout the config.json uses."""
  params = hf.get("rope_parameters")
  if isinstance(params, dict) and params:
    if all(isinstance(v, dict) for v in params.values()):  # per-layer-type layout
      params = params.get("full_attention") or next(iter(params.values()))
    return dict(params)
  scaling = hf.get("rope_scaling")
  out = dict(scaling) if isinstance(scaling, dict) else {}
  if "rope_theta" in hf:
    out["rope_theta"] = hf["rope_theta"]
  return out


def _as_ids(x: Any) -> int | tuple[int, ...] | None:
  if isinstance(x, list):
    return tuple(x)
  return x
