"""An MLP denoiser network F(x_in, c_noise, cond, s_noise) for vector data (toys, low-dim actions).

Conditioning vector c = [emb(c_noise), emb(s_noise) if stop_time, cond embedding if cond_dim > 0].
Two ways to feed it in:

* "concat": the first layer sees [x_in, c];
* "film": every residual block modulates its pre-activation as z * (1 + gamma(c)) + beta(c).

Body: input projection, `num_layers` pre-activation residual blocks
h <- h + Dropout(FiLM(W act(h))), output projection of act(h). Inputs [B, ...] are flattened to
[B, x_dim] and reshaped back.
"""
from __future__ import annotations

from typing import Callable, Literal

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from jaxdiff.networks.embeddings import NoiseEmbedding

Array = jax.Array


class _ResidualBlock(nnx.Module):

  def __init__(self, width: int, cond_width: int, film: bool, dropout_rate: float,
               activation: Callable[[Array], Array], dtype, param_dtype, rngs: nnx.Rngs):
    self.activation = activation
    self.dense = nnx.Linear(width, width, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.film = (nnx.Linear(cond_width, 2 * width, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                 if film else None)
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate > 0 else None

  def __call__(self, h: Array, c: Array) -> Array:
    z = self.dense(self.activation(h))
    if self.film is not None:
      gamma, beta = jnp.split(self.film(c), 2, axis=-1)
      z = z * (1 + gamma) + beta
    if self.dropout is not None:
      z = self.dropout(z)
    return h + z


class MLPDenoiser(nnx.Module):
  """Residual MLP network for EDM/CTM; see the module docstring.

  Args:
    x_dim: flattened data size.
    cond_dim: size of the (flattened) conditioning input; 0 for unconditional.
    hidden_dim, num_layers: width and number of residual blocks.
    emb_dim: size of the noise embedding(s) and of the condition embedding.
    embedding: "sinusoidal" or "fourier" base embedding of c_noise (and s_noise).
    conditioning: "film" or "concat".
    stop_time: if True the network takes s_noise (CTM's stop time) with its own embedding.
    dropout_rate: dropout inside residual blocks (0 disables; needs rngs with a "dropout" stream).
  """

  def __init__(self, x_dim: int, *, cond_dim: int = 0, hidden_dim: int = 256, num_layers: int = 3,
               emb_dim: int = 64, embedding: Literal["sinusoidal", "fourier"] = "sinusoidal",
               conditioning: Literal["film", "concat"] = "film", stop_time: bool = False,
               dropout_rate: float = 0.0, activation: Callable[[Array], Array] = nnx.silu,
               dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    if conditioning not in ("film", "concat"):
      raise ValueError(f"conditioning must be 'film' or 'concat', got {conditioning!r}")
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.x_dim, self.cond_dim, self.stop_time = x_dim, cond_dim, stop_time
    self.conditioning = conditioning
    self.activation = activation
    self.t_embed = NoiseEmbedding(emb_dim, emb_dim, kind=embedding, activation=activation, **kw)
    self.s_embed = (NoiseEmbedding(emb_dim, emb_dim, kind=embedding, activation=activation, **kw)
                    if stop_time else None)
    self.cond_embed = nnx.Linear(cond_dim, emb_dim, **kw) if cond_dim > 0 else None
    c_width = emb_dim * (1 + int(stop_time) + int(cond_dim > 0))
    in_width = x_dim + (c_width if conditioning == "concat" else 0)
    self.input = nnx.Linear(in_width, hidden_dim, **kw)
    self.blocks = nnx.List([
        _ResidualBlock(hidden_dim, c_width, conditioning == "film", dropout_rate, activation,
                       dtype, param_dtype, rngs) for _ in range(num_layers)])
    self.output = nnx.Linear(hidden_dim, x_dim, **kw)

  def __call__(self, x: Array, c_noise: Array, cond: Array | None = None,
               s_noise: Array | None = None) -> Array:
    shape = x.shape
    h = x.reshape(shape[0], -1)
    parts = [self.t_embed(c_noise)]
    if self.stop_time:
      if s_noise is None:
        raise ValueError("this MLPDenoiser was built with stop_time=True and needs s_noise")
      parts.append(self.s_embed(s_noise))
    if self.cond_dim > 0:
      if cond is None:
        raise ValueError(f"this MLPDenoiser was built with cond_dim={self.cond_dim}; pass cond")
      parts.append(self.cond_embed(cond.reshape(shape[0], -1)))
    c = jnp.concatenate(parts, axis=-1)
    if self.conditioning == "concat":
      h = jnp.concatenate([h, c.astype(h.dtype)], axis=-1)
    h = self.input(h)
    for block in self.blocks:
      h = block(h, c)
    return self.output(self.activation(h)).reshape(shape)
