"""Rotary position embeddings (RoPE) and the frequency scalings used by Llama/Qwen configs.

Frequencies follow the "rotate half" layout of the HF checkpoints: a head vector is split into two
halves (x1, x2) and the pair (x1_i, x2_i) is rotated by angle position * inv_freq_i.

Scalings (`rope_type` in config.json):
  default  inv_freq_i = theta^(-2i/d)
  linear   positions divided by `factor` (equivalently inv_freq / factor)
  llama3   low frequencies divided by `factor`, high ones kept, a smooth ramp in between
  yarn     ramp between interpolated and extrapolated frequencies, plus an attention factor that
           multiplies cos/sin (so q.k is scaled by its square)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxllm.models.config import ModelConfig


def rope_frequencies(cfg: ModelConfig) -> tuple[np.ndarray, float]:
  """Returns (inv_freq [head_dim // 2] float32, attention_factor) for the config's rope scaling."""
  dim = cfg.head_dim
  base = cfg.rope_theta
  p = cfg.rope_scaling_dict
  exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim
  inv_freq = (1.0 / (base ** exponents)).astype(np.float32)
  if cfg.rope_type == "default":
    return inv_freq, 1.0
  if cfg.rope_type == "linear":
    return (inv_freq / np.float32(p["factor"])).astype(np.float32), 1.0
  if cfg.rope_type == "llama3":
    return _llama3(inv_freq, p), 1.0
  if cfg.rope_type == "yarn":
    return _yarn(cfg, p)
  raise ValueError(f"unknown rope_type {cfg.rope_type!r}")


def _llama3(inv_freq: np.ndarray, p: dict) -> np.ndarray:
  factor = p["factor"]
  low, high = p["low_freq_factor"], p["high_freq_factor"]
  old_len = p["original_max_position_embeddings"]
  low_wavelen, high_wavelen = old_len / low, old_len / high
  wavelen = 2 * math.pi / inv_freq
  scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
  smooth = (old_len / wavelen - low) / (high - low)
  smoothed = (1 - smooth) * scaled / factor + smooth * scaled
  medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
  return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn(cfg: ModelConfig, p: dict) -> tuple[np.ndarray, float]:
  dim, base = cfg.head_dim, cfg.rope_theta
  orig = p.get("original_max_position_embeddings") or cfg.max_position_embeddings
  factor = p.get("factor") or cfg.max_position_embeddings / orig

  def mscale(scale, m=1.0):
    return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

  attention_factor = p.get("attention_factor")
  if attention_factor is None:
    if p.get("mscale") and p.get("mscale_all_dim"):
      attention_factor = mscale(factor, p["mscale"]) / mscale(factor, p["mscale_all_dim"])
    else:
      attention_factor = mscale(factor)
  beta_fast = p.get("beta_fast") or 32
  beta_slow = p.get("beta_slow") or 1

  def correction_dim(rotations):
    return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

  lo, hi = correction_dim(beta_fast), correction_dim(beta_slow)
  if p.get("truncate", True):
    lo, hi = math.floor(lo), math.ceil(hi)
  lo, hi = max(lo, 0), min(hi, dim - 1)
  if lo == hi:
    hi += 0.001
  ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - lo) / (hi - lo), 0, 1)
  pos_freqs = base ** (np.arange(0, dim, 2).astype(np.float32) / dim)
  extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
  keep = 1 - ramp
  inv_freq = interpolation * (1 - keep) + extrapolation * keep
  return inv_freq.astype(np.float32), float(attention_factor)


def rope_cos_sin(positions: jax.Array, inv_freq: np.ndarray,
                 attention_factor: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """cos/sin tables [..., head_dim // 2] (float32) for integer positions [...]."""
  angles = positions.astype(jnp.float32)[..., None] * jnp.asarray(inv_freq)
  return jnp.cos(angles) * attention_factor, jnp.sin(angles) * attention_factor


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
  """Rotates x [batch, length, heads, head_dim] with cos/sin [batch, length, head_dim // 2]."""
  dtype = x.dtype
  x = x.astype(jnp.float32)
  x1, x2 = jnp.split(x, 2, axis=-1)
  cos, sin = cos[:, :, None, :], sin[:, :, None, :]
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(dtype)
