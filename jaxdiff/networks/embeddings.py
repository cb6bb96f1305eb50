"""Noise-level embeddings: sinusoidal (Transformer/DDPM style) and random Fourier features.

Both map the scalar c_noise = ln(sigma)/4 (about -1.55 .. 1.1 for sigma in [0.002, 80]) to a vector;
`NoiseEmbedding` follows it with a 2-layer MLP, as in DDPM/EDM/Diffusion-Policy networks.
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import flax.nnx as nnx
import jax
import jax.numpy as jnp

Array = jax.Array


def sinusoidal_embedding(t: Array, dim: int, max_period: float = 10000.0,
                         scale: float = 100.0) -> Array:
  """[cos(scale t f_j), sin(scale t f_j)] with f_j = max_period^(-j/(dim/2)), j < dim/2.

  `scale` stretches c_noise (range ~2.7) so that the geometric frequency ladder 1 .. 1/max_period
  spans both fast and slow features; DDPM-style timesteps in [0, 1000] correspond to scale = 1000.
  Returns [*t.shape, dim] (dim must be even).
  """
  if dim % 2:
    raise ValueError(f"sinusoidal embedding dim must be even, got {dim}")
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
  args = (scale * t.astype(jnp.float32))[..., None] * freqs
  return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class FourierFreqs(nnx.Variable):
  """Fixed random frequencies: a Variable that is not an nnx.Param, so optimisers leave it alone."""


class FourierFeatures(nnx.Module):
  """Random Fourier features [cos(2 pi w t), sin(2 pi w t)] with w ~ N(0, std^2) fixed at init."""

  def __init__(self, dim: int, std: float = 16.0, *, rngs: nnx.Rngs):
    if dim % 2:
      raise ValueError(f"Fourier feature dim must be even, got {dim}")
    self.freqs = FourierFreqs(std * jax.random.normal(rngs.params(), (dim // 2,)))

  def __call__(self, t: Array) -> Array:
    args = 2 * math.pi * t.astype(jnp.float32)[..., None] * self.freqs[...]
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class NoiseEmbedding(nnx.Module):
  """Embeds c_noise [B] -> [B, out_dim]: base embedding, Linear, activation, Linear.

  The hidden width defaults to out_dim (Diffusion Policy's U-Net uses 4 * out_dim).
  """

  def __init__(self, base_dim: int, out_dim: int, *, hidden_dim: int | None = None,
               kind: Literal["sinusoidal", "fourier"] = "sinusoidal",
               activation: Callable[[Array], Array] = nnx.silu, dtype=None,
               param_dtype=jnp.float32, rngs: nnx.Rngs):
    if kind not in ("sinusoidal", "fourier"):
      raise ValueError(f"noise embedding must be 'sinusoidal' or 'fourier', got {kind!r}")
    self.kind = kind
    self.base_dim = base_dim
    self.fourier = FourierFeatures(base_dim, rngs=rngs) if kind == "fourier" else None
    self.activation = activation
    hidden_dim = hidden_dim or out_dim
    self.dense1 = nnx.Linear(base_dim, hidden_dim, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.dense2 = nnx.Linear(hidden_dim, out_dim, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def __call__(self, c_noise: Array) -> Array:
    if self.fourier is not None:
      e = self.fourier(c_noise)
    else:
      e = sinusoidal_embedding(c_noise, self.base_dim)
    return self.dense2(self.activation(self.dense1(e)))
