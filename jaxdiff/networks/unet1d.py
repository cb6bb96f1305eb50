"""A 1-D temporal U-Net (Diffuser / Diffusion Policy style) for trajectories [B, horizon, channels].

Architecture, with down_dims = (d_0, ..., d_{L-1}) and kernel k (paper scale: (512, 1024, 2048), 5):

* conditioning vector c = [emb(c_noise), emb(s_noise) if stop_time, cond or its embedding];
  each embedding of a noise level is sinusoidal(e) -> Linear(4e) -> Mish -> Linear(e);
* residual block(in, out): Conv1dBlock(in, out) -> FiLM -> [Dropout] -> Conv1dBlock(out, out),
  plus a 1x1 conv on the skip path when in != out; Conv1dBlock = Conv(k) -> GroupNorm -> Mish;
  FiLM: gamma, beta = Linear(Mish(c)), z <- z * (1 + gamma) + beta (broadcast over time);
* encoder level i: two residual blocks into d_i, then a stride-2 conv (kernel 3) except at the
  last level; middle: two residual blocks at d_{L-1};
* decoder level i = L-2 .. 0: concatenate the encoder output of level i+1 (same length), two
  residual blocks into d_i, then a stride-2 transposed conv (kernel 4) up to level i's length;
* head: Conv1dBlock(d_0, d_0) and a 1x1 conv to the input channels.

The horizon must be divisible by 2^(L-1). Convolutions are channel-last, so no transposes; those
on levels no longer than the kernel run as unfold + matmul (`jaxdiff.networks.conv`), which XLA:CPU
does ~40x faster than its convolution there.
"""
from __future__ import annotations

from typing import Literal

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from jaxdiff.networks.conv import ConvTranspose1d, conv1d_general_dilated
from jaxdiff.networks.embeddings import NoiseEmbedding

Array = jax.Array


class Conv1dBlock(nnx.Module):
  """Conv1d -> GroupNorm -> Mish on [B, L, C]."""

  def __init__(self, in_ch: int, out_ch: int, kernel_size: int, num_groups: int, *, dtype,
               param_dtype, rngs: nnx.Rngs):
    self.conv = nnx.Conv(in_ch, out_ch, kernel_size, padding="SAME", dtype=dtype,
                         param_dtype=param_dtype, rngs=rngs,
                         conv_general_dilated=conv1d_general_dilated)
    self.norm = nnx.GroupNorm(out_ch, num_groups=num_groups, dtype=dtype, param_dtype=param_dtype,
                              rngs=rngs)

  def __call__(self, x: Array) -> Array:
    return jax.nn.mish(self.norm(self.conv(x)))


class ResidualBlock1D(nnx.Module):
  """Two Conv1dBlocks with FiLM from the conditioning vector in between; residual 1x1 conv."""

  def __init__(self, in_ch: int, out_ch: int, cond_width: int, kernel_size: int, num_groups: int,
               dropout_rate: float, *, dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.block1 = Conv1dBlock(in_ch, out_ch, kernel_size, num_groups, **kw)
    self.block2 = Conv1dBlock(out_ch, out_ch, kernel_size, num_groups, **kw)
    self.film = nnx.Linear(cond_width, 2 * out_ch, **kw)
    self.skip = nnx.Conv(in_ch, out_ch, 1, **kw) if in_ch != out_ch else None
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs) if dropout_rate > 0 else None

  def __call__(self, x: Array, c: Array) -> Array:
    h = self.block1(x)
    gamma, beta = jnp.split(self.film(jax.nn.mish(c))[:, None, :], 2, axis=-1)
    h = h * (1 + gamma) + beta
    if self.dropout is not None:
      h = self.dropout(h)
    h = self.block2(h)
    return h + (self.skip(x) if self.skip is not None else x)


class ConditionalUnet1D(nnx.Module):
  """Temporal U-Net network F(x [B, H, C], c_noise [B], cond [B, ...] | None, s_noise [B] | None).

  Args:
    in_channels: data channels C (any value, odd included).
    cond_dim: flattened conditioning size (e.g. observation dim), 0 for unconditional.
    down_dims: channel widths per level; each must be divisible by num_groups.
    kernel_size: temporal kernel (5 in Diffuser / RACTD).
    emb_dim: noise-level embedding size (Diffusion Policy's diffusion_step_embed_dim).
    cond_embed_dim: if set, cond goes through Linear -> Mish -> Linear to this size; else it is
      concatenated raw (Diffusion Policy's global_cond).
    stop_time: add an embedding of CTM's stop time s_noise to the FiLM vector.
    dropout_rate: dropout after FiLM in every residual block (RACTD student: 0.2).
    embedding: base embedding of the noise levels, "sinusoidal" or "fourier".
  """

  def __init__(self, in_channels: int, *, cond_dim: int = 0,
               down_dims: tuple[int, ...] = (512, 1024, 2048), kernel_size: int = 5,
               num_groups: int = 8, emb_dim: int = 128, cond_embed_dim: int | None = None,
               stop_time: bool = False, dropout_rate: float = 0.0,
               embedding: Literal["sinusoidal", "fourier"] = "sinusoidal", dtype=None,
               param_dtype=jnp.float32, rngs: nnx.Rngs):
    bad = [d for d in down_dims if d % num_groups]
    if bad:
      raise ValueError(f"down_dims {bad} are not divisible by num_groups={num_groups}")
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.in_channels, self.cond_dim, self.stop_time = in_channels, cond_dim, stop_time
    self.num_levels = len(down_dims)

    def noise_embed():
      return NoiseEmbedding(emb_dim, emb_dim, hidden_dim=4 * emb_dim, kind=embedding,
                            activation=jax.nn.mish, **kw)

    self.t_embed = noise_embed()
    self.s_embed = noise_embed() if stop_time else None
    if cond_dim > 0 and cond_embed_dim:
      self.cond_mlp = nnx.Sequential(nnx.Linear(cond_dim, cond_embed_dim, **kw), jax.nn.mish,
                                     nnx.Linear(cond_embed_dim, cond_embed_dim, **kw))
      cond_width = cond_embed_dim
    else:
      self.cond_mlp = None
      cond_width = cond_dim
    c_width = emb_dim * (1 + int(stop_time)) + cond_width

    def res(i, o):
      return ResidualBlock1D(i, o, c_width, kernel_size, num_groups, dropout_rate, **kw)

    dims = (in_channels,) + tuple(down_dims)
    self.down = nnx.List()
    self.downsample = nnx.List()
    for level, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
      self.down.append(nnx.List([res(d_in, d_out), res(d_out, d_out)]))
      if level < self.num_levels - 1:
        self.downsample.append(nnx.Conv(d_out, d_out, 3, strides=2, padding=((1, 1),),
                                        conv_general_dilated=conv1d_general_dilated, **kw))
    mid = down_dims[-1]
    self.mid = nnx.List([res(mid, mid), res(mid, mid)])
    self.up = nnx.List()
    self.upsample = nnx.List()
    for level in reversed(range(self.num_levels - 1)):
      d_out, d_deep = down_dims[level], down_dims[level + 1]
      self.up.append(nnx.List([res(2 * d_deep, d_out), res(d_out, d_out)]))
      self.upsample.append(ConvTranspose1d(d_out, d_out, 4, strides=2, padding="SAME", **kw))
    self.head = Conv1dBlock(down_dims[0], down_dims[0], kernel_size, num_groups, **kw)
    self.out = nnx.Conv(down_dims[0], in_channels, 1, **kw)

  def _conditioning(self, batch: int, c_noise: Array, cond: Array | None,
                    s_noise: Array | None) -> Array:
    parts = [self.t_embed(c_noise)]
    if self.stop_time:
      if s_noise is None:
        raise ValueError("this ConditionalUnet1D was built with stop_time=True and needs s_noise")
      parts.append(self.s_embed(s_noise))
    if self.cond_dim > 0:
      if cond is None:
        raise ValueError(f"this ConditionalUnet1D was built with cond_dim={self.cond_dim}; "
                         "pass cond")
      cond = cond.reshape(batch, -1)
      parts.append(self.cond_mlp(cond) if self.cond_mlp is not None else cond)
    return jnp.concatenate([p.astype(parts[0].dtype) for p in parts], axis=-1)

  def __call__(self, x: Array, c_noise: Array, cond: Array | None = None,
               s_noise: Array | None = None) -> Array:
    if x.ndim != 3 or x.shape[-1] != self.in_channels:
      raise ValueError(f"expected x of shape [batch, horizon, {self.in_channels}], got {x.shape}")
    factor = 2 ** (self.num_levels - 1)
    if x.shape[1] % factor:
      raise ValueError(f"horizon {x.shape[1]} must be divisible by {factor} "
                       f"(2^(len(down_dims)-1)); pad the trajectory or change down_dims")
    c = self._conditioning(x.shape[0], c_noise, cond, s_noise)
    h = x
    skips = []
    for level, blocks in enumerate(self.down):
      for block in blocks:
        h = block(h, c)
      if level > 0:  # level 0's output is not reused (as in Diffuser / Diffusion Policy)
        skips.append(h)
      if level < self.num_levels - 1:
        h = self.downsample[level](h)
    for block in self.mid:
      h = block(h, c)
    for blocks, upsample in zip(self.up, self.upsample):
      h = jnp.concatenate([h, skips.pop()], axis=-1)
      for block in blocks:
        h = block(h, c)
      h = upsample(h)
    return self.out(self.head(h))
