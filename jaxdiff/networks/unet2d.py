"""Text-conditioned image U-Net F(x [B, H, W, C], c_noise [B], ids [B, T] | None): LADiBI's prior.

A small DDPM++ / ADM-style network, channel-last, with widths channels = (w_0, ..., w_{L-1}) at
resolutions H / 2^i:

* conditioning vector c = emb(c_noise) + W_t pooled(ids), where emb = sinusoidal -> Linear -> SiLU
  -> Linear (`NoiseEmbedding`) and pooled is the text encoder's masked mean (`jaxdiff.text`);
* residual block(in, out), ADM's scale-shift norm:
      h = Conv3x3(SiLU(GN(x)))
      h = GN(h) * (1 + gamma) + beta,      gamma, beta = Linear(SiLU(c))    (FiLM)
      h = Conv3x3(Dropout(SiLU(h)))
      out = h + Conv1x1(x)   (identity when in == out);
* attention block at the levels in `attn_levels`: h <- h + SelfAttn(GN(h)) over the H W pixels,
  then, for a text model, h <- h + CrossAttn(GN(h), tokens) with keys and values from the text
  encoder's tokens (pad tokens masked out);
* encoder: Conv3x3 into w_0; at level i, `num_res_blocks` residual blocks into w_i (each followed
  by attention at attention levels), then a stride-2 Conv3x3 except at the last level; every
  block's output is kept for the decoder;
* middle (at the lowest resolution): residual block, attention (if the lowest level is an attention
  level), residual block;
* decoder: level i = L-1 .. 0 runs `num_res_blocks + 1` residual blocks into w_i, each on the
  concatenation [h, the last kept encoder output] (and attention at attention levels), then
  nearest-neighbour x2 upsampling and a Conv3x3 except at level 0;
* head: GN -> SiLU -> Conv3x3 to C, zero-initialised, so F = 0 and D(x; sigma) = c_skip x at init.

The text encoder is part of the network (built when `text_vocab_size > 0`), so classifier-free
guidance is two calls with different ids; all-zero ids (or cond=None) are the null prompt.

H and W must be divisible by 2^(L-1). On the CPU the convolutions run unfolded
(`jaxdiff.networks.conv2d`): XLA:CPU's convolution gradients are ~20x slower inside `lax.scan`.
"""
from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from jaxdiff.networks.conv2d import conv2d_general_dilated
from jaxdiff.networks.embeddings import NoiseEmbedding
from jaxdiff.text import Attention, TextEncoder, context_mask

Array = jax.Array


class GroupNorm(nnx.Module):
  """GroupNorm over [B, ..., C] (the parameters and results of `nnx.GroupNorm`), cheaper on CPU.

  With n = (pixels) x (C / G) values per group g of example b,
      mu = S1 / n,   var = S2 / n - mu^2,   S1 = sum x,   S2 = sum x^2   (float32),
      y = (x - mu) / sqrt(var + eps) * scale + bias = x * s + t   per (b, channel).
  S1 and S2 are per-channel sums over the pixels, added up per group afterwards, so both passes
  over the activation (the sums, then x * s + t) are contiguous; XLA:CPU runs flax's reduction
  over [B, pixels, G, C / G] with its gradient about 3x slower.
  """

  def __init__(self, num_features: int, num_groups: int, epsilon: float = 1e-6, *, dtype=None,
               param_dtype=jnp.float32, rngs: nnx.Rngs | None = None):
    del rngs  # deterministic initialisation: scale 1, bias 0
    if num_features % num_groups:
      raise ValueError(f"GroupNorm over {num_features} channels needs num_groups dividing it, "
                       f"got {num_groups}")
    self.num_groups, self.epsilon, self.dtype = num_groups, epsilon, dtype
    self.scale = nnx.Param(jnp.ones((num_features,), param_dtype))
    self.bias = nnx.Param(jnp.zeros((num_features,), param_dtype))

  def __call__(self, x: Array) -> Array:
    b, c, g = x.shape[0], x.shape[-1], self.num_groups
    xf = x.reshape(b, -1, c)
    x32 = xf.astype(jnp.promote_types(xf.dtype, jnp.float32))
    n = xf.shape[1] * (c // g)
    mean = jnp.sum(x32, axis=1).reshape(b, g, -1).sum(-1) / n                  # [B, G]
    var = jnp.sum(jnp.square(x32), axis=1).reshape(b, g, -1).sum(-1) / n - jnp.square(mean)
    inv = jax.lax.rsqrt(jnp.maximum(var, 0.0) + self.epsilon)
    s = jnp.repeat(inv, c // g, axis=1) * self.scale[...]                       # [B, C]
    t = self.bias[...] - jnp.repeat(mean, c // g, axis=1) * s
    dtype = self.dtype or jnp.promote_types(x.dtype, self.scale.dtype)
    y = xf.astype(dtype) * s[:, None].astype(dtype) + t[:, None].astype(dtype)
    return y.reshape(x.shape)


def conv3x3(in_ch: int, out_ch: int, *, strides: int = 1, zero_init: bool = False, dtype,
            param_dtype, rngs: nnx.Rngs) -> nnx.Conv:
  """3x3 convolution with one pixel of zero padding (stride 2 halves H and W)."""
  extra = dict(kernel_init=nnx.initializers.zeros_init()) if zero_init else {}
  return nnx.Conv(in_ch, out_ch, (3, 3), strides=strides, padding=((1, 1), (1, 1)),
                  conv_general_dilated=conv2d_general_dilated, dtype=dtype,
                  param_dtype=param_dtype, rngs=rngs, **extra)


class ResBlock2D(nnx.Module):
  """GN -> SiLU -> Conv3x3 -> GN -> FiLM -> SiLU -> Dropout -> Conv3x3, plus a 1x1 skip."""

  def __init__(self, in_ch: int, out_ch: int, emb_dim: int, num_groups: int, dropout: float, *,
               dtype, param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.norm1 = GroupNorm(in_ch, num_groups, **kw)
    self.conv1 = conv3x3(in_ch, out_ch, **kw)
    self.film = nnx.Linear(emb_dim, 2 * out_ch, **kw)
    self.norm2 = GroupNorm(out_ch, num_groups, **kw)
    self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None
    self.conv2 = conv3x3(out_ch, out_ch, **kw)
    self.skip = (nnx.Conv(in_ch, out_ch, (1, 1), conv_general_dilated=conv2d_general_dilated,
                          **kw) if in_ch != out_ch else None)

  def __call__(self, x: Array, c: Array) -> Array:
    """x [B, H, W, in_ch], c = SiLU(conditioning) [B, emb_dim] -> [B, H, W, out_ch]."""
    h = self.conv1(nnx.silu(self.norm1(x)))
    gamma, beta = jnp.split(self.film(c)[:, None, None, :], 2, axis=-1)
    h = nnx.silu(self.norm2(h) * (1 + gamma) + beta)
    if self.dropout is not None:
      h = self.dropout(h)
    h = self.conv2(h)
    return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock2D(nnx.Module):
  """Self-attention over pixels, then (text models) cross-attention to the text tokens; both
  pre-norm (GroupNorm) and residual."""

  def __init__(self, ch: int, num_heads: int, num_groups: int, text_dim: int | None, *, dtype,
               param_dtype, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.norm1 = GroupNorm(ch, num_groups, **kw)
    self.attn = Attention(ch, num_heads, **kw)
    if text_dim:
      self.norm2 = GroupNorm(ch, num_groups, **kw)
      self.cross = Attention(ch, num_heads, context_dim=text_dim, **kw)
    else:
      self.norm2 = self.cross = None

  def __call__(self, x: Array, text: tuple[Array, Array] | None) -> Array:
    b, hh, ww, ch = x.shape
    h = x.reshape(b, hh * ww, ch)
    h = h + self.attn(self.norm1(h))
    if self.cross is not None:
      tokens, mask = text
      h = h + self.cross(self.norm2(h), tokens, mask)
    return h.reshape(b, hh, ww, ch)


class Block(nnx.Module):
  """A residual block, followed by an attention block at attention levels."""

  def __init__(self, res: ResBlock2D, attn: AttnBlock2D | None):
    self.res, self.attn = res, attn

  def __call__(self, h: Array, c: Array, text) -> Array:
    h = self.res(h, c)
    return self.attn(h, text) if self.attn is not None else h


class Upsample(nnx.Module):
  """Nearest-neighbour x2 then Conv3x3."""

  def __init__(self, ch: int, *, dtype, param_dtype, rngs: nnx.Rngs):
    self.conv = conv3x3(ch, ch, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def __call__(self, x: Array) -> Array:
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return self.conv(x.reshape(b, 2 * h, 2 * w, c))


class ImageUNet(nnx.Module):
  """Image U-Net network F(x [B, H, W, C], c_noise [B], cond=None) -> [B, H, W, C] (docstring).

  Args:
    in_channels: image channels C.
    channels: width per resolution level (level i at H / 2^i); each divisible by num_groups.
    num_res_blocks: residual blocks per encoder level (the decoder has one more).
    attn_levels: resolution levels with self- (and cross-) attention; negative counts from the
      lowest resolution (-1 = the lowest).
    emb_dim: width of the conditioning vector (noise embedding + projected pooled text).
    text_vocab_size: token ids of the text encoder (`CaptionTokenizer.vocab_size`); 0 builds an
      unconditional network, which takes cond=None only.
    text_len: most text tokens per caption (learned positions).
    text_dim, text_layers: width and depth of the text encoder.
    num_heads: attention heads, image and text (divides the attention levels' widths and text_dim).
    num_groups: GroupNorm groups.
    dropout: dropout rate inside every residual block (active in train mode).
  """

  def __init__(self, in_channels: int, *, channels: Sequence[int] = (64, 128, 128),
               num_res_blocks: int = 2, attn_levels: Sequence[int] = (-1,), emb_dim: int = 256,
               text_vocab_size: int = 0, text_len: int = 32, text_dim: int = 128,
               text_layers: int = 2, num_heads: int = 4, num_groups: int = 8,
               dropout: float = 0.0, dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    channels = tuple(int(c) for c in channels)
    num_levels = len(channels)
    if num_levels < 1 or num_res_blocks < 1:
      raise ValueError(f"need at least one level and one residual block, got channels={channels}, "
                       f"num_res_blocks={num_res_blocks}")
    bad = [c for c in channels if c % num_groups]
    if bad:
      raise ValueError(f"channel widths {bad} are not divisible by num_groups={num_groups}; "
                       "change channels or num_groups")
    levels = set()
    for a in attn_levels:
      if not -num_levels <= a < num_levels:
        raise ValueError(f"attn_levels entry {a} is out of range for {num_levels} levels "
                         f"(use 0..{num_levels - 1} or negative from the lowest)")
      levels.add(a % num_levels)
    bad = [channels[i] for i in sorted(levels) if channels[i] % num_heads]
    if text_vocab_size > 0 and text_dim % num_heads:
      bad.append(text_dim)
    if bad:
      raise ValueError(f"attention widths {bad} are not divisible by num_heads={num_heads}")
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.in_channels, self.num_levels, self.dtype = in_channels, num_levels, dtype
    self.attn_levels = tuple(sorted(levels))

    self.t_embed = NoiseEmbedding(emb_dim, emb_dim, activation=nnx.silu, **kw)
    if text_vocab_size > 0:
      self.text = TextEncoder(text_vocab_size, text_len, text_dim, text_layers, num_heads, **kw)
      self.text_proj = nnx.Linear(text_dim, emb_dim, **kw)
    else:
      self.text = self.text_proj = None

    def block(i, o, level):
      attn = (AttnBlock2D(o, num_heads, num_groups, text_dim if self.text else None, **kw)
              if level in levels else None)
      return Block(ResBlock2D(i, o, emb_dim, num_groups, dropout, **kw), attn)

    self.conv_in = conv3x3(in_channels, channels[0], **kw)
    kept = [channels[0]]
    width = channels[0]
    self.down, self.downsample = nnx.List(), nnx.List()
    for level, out in enumerate(channels):
      blocks = nnx.List()
      for _ in range(num_res_blocks):
        blocks.append(block(width, out, level))
        width = out
        kept.append(width)
      self.down.append(blocks)
      if level < num_levels - 1:
        self.downsample.append(conv3x3(width, width, strides=2, **kw))
        kept.append(width)
    self.mid = nnx.List([block(width, width, num_levels - 1), block(width, width, None)])
    self.up, self.upsample = nnx.List(), nnx.List()
    for level in reversed(range(num_levels)):
      out = channels[level]
      blocks = nnx.List()
      for _ in range(num_res_blocks + 1):
        blocks.append(block(width + kept.pop(), out, level))
        width = out
      self.up.append(blocks)
      if level > 0:
        self.upsample.append(Upsample(width, **kw))
    assert not kept
    self.norm_out = GroupNorm(width, num_groups, **kw)
    self.conv_out = conv3x3(width, in_channels, zero_init=True, **kw)

  def _text(self, batch: int, cond: Array | None):
    """(pooled [B, text_dim], (tokens, mask)) for a text model, (None, None) otherwise."""
    if self.text is None:
      if cond is not None:
        raise ValueError("this ImageUNet is unconditional (text_vocab_size=0); pass cond=None or "
                         "build it with text_vocab_size > 0")
      return None, None
    ids = jnp.zeros((batch, 1), jnp.int32) if cond is None else jnp.asarray(cond)
    if ids.ndim != 2 or ids.shape[0] != batch or not jnp.issubdtype(ids.dtype, jnp.integer):
      raise ValueError(f"cond must be integer token ids [batch={batch}, length] "
                       f"(CaptionTokenizer.encode), got {ids.dtype} {ids.shape}")
    tokens, pooled = self.text(ids)
    return pooled, (tokens, context_mask(ids))

  def __call__(self, x: Array, c_noise: Array, cond: Array | None = None) -> Array:
    if x.ndim != 4 or x.shape[-1] != self.in_channels:
      raise ValueError(f"expected x of shape [batch, height, width, {self.in_channels}], "
                       f"got {x.shape}")
    factor = 2 ** (self.num_levels - 1)
    if x.shape[1] % factor or x.shape[2] % factor:
      raise ValueError(f"image size {x.shape[1]}x{x.shape[2]} must be divisible by {factor} "
                       f"(2^(len(channels)-1)); resize or pad the images, or use fewer levels")
    if c_noise.shape != (x.shape[0],):
      raise ValueError(f"c_noise must have shape [batch={x.shape[0]}], got {c_noise.shape}")
    pooled, text = self._text(x.shape[0], cond)
    c = self.t_embed(c_noise)
    if pooled is not None:
      c = c + self.text_proj(pooled)
    c = nnx.silu(c)
    if self.dtype is not None:
      x = x.astype(self.dtype)

    h = self.conv_in(x)
    kept = [h]
    for level, blocks in enumerate(self.down):
      for blk in blocks:
        h = blk(h, c, text)
        kept.append(h)
      if level < self.num_levels - 1:
        h = self.downsample[level](h)
        kept.append(h)
    for blk in self.mid:
      h = blk(h, c, text)
    for i, blocks in enumerate(self.up):
      for blk in blocks:
        h = blk(jnp.concatenate([h, kept.pop()], axis=-1), c, text)
      if i < self.num_levels - 1:
        h = self.upsample[i](h)
    return self.conv_out(nnx.silu(self.norm_out(h)))
