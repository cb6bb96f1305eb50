"""The PyTorch reference for the LADiBI denoiser: jaxdiff's ImageUNet and text encoder, same maths.

Same architecture as `jaxdiff.networks.unet2d` and `jaxdiff.text` (module docstrings there), module
for module and with the same attribute names, so `load_jax_params` copies a JAX model's parameters
in by path: conv kernels [kh, kw, I, O] -> weight [O, I, kh, kw], dense kernels [I, O] -> weight
[O, I], norm scales -> weight. Internally PyTorch's [B, C, H, W]; `forward` takes and returns
channel-last [B, H, W, C] like the JAX network. Used for timing (training steps/s against ours) and
by tests/jaxdiff/test_unet2d.py for forward parity.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from experiments.bench.torch_unet1d import sinusoidal

EPS = 1e-6  # flax's GroupNorm / LayerNorm epsilon


class NoiseEmbedding(nn.Module):
  def __init__(self, dim: int):
    super().__init__()
    self.dim = dim
    self.dense1, self.dense2 = nn.Linear(dim, dim), nn.Linear(dim, dim)

  def forward(self, c_noise):
    return self.dense2(F.silu(self.dense1(sinusoidal(c_noise, self.dim))))


class Attention(nn.Module):
  def __init__(self, dim: int, num_heads: int, context_dim: int | None = None):
    super().__init__()
    context_dim = context_dim or dim
    self.num_heads = num_heads
    self.query, self.out = nn.Linear(dim, dim), nn.Linear(dim, dim)
    self.key, self.value = nn.Linear(context_dim, dim), nn.Linear(context_dim, dim)

  def forward(self, x, context=None, mask=None):  # x [B, Tq, D], context [B, Tk, Dc], mask [B, Tk]
    context = x if context is None else context
    b, t_q, d = x.shape
    t_k, h = context.shape[1], self.num_heads
    q = self.query(x).view(b, t_q, h, d // h)
    k = self.key(context).view(b, t_k, h, d // h)
    v = self.value(context).view(b, t_k, h, d // h)
    logits = torch.einsum("bqhd,bkhd->bhqk", q, k).float() / math.sqrt(d // h)
    if mask is not None:
      logits = logits.masked_fill(~mask[:, None, None, :], torch.finfo(torch.float32).min)
    weights = torch.softmax(logits, dim=-1).to(v.dtype)
    return self.out(torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t_q, d))


class EncoderLayer(nn.Module):
  def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 4):
    super().__init__()
    self.norm1, self.norm2 = nn.LayerNorm(dim, eps=EPS), nn.LayerNorm(dim, eps=EPS)
    self.attn = Attention(dim, num_heads)
    self.fc1, self.fc2 = nn.Linear(dim, mlp_ratio * dim), nn.Linear(mlp_ratio * dim, dim)

  def forward(self, h, valid):
    h = h + self.attn(self.norm1(h), mask=valid)
    return h + self.fc2(F.gelu(self.fc1(self.norm2(h)), approximate="tanh"))


class TextEncoder(nn.Module):
  def __init__(self, vocab_size: int, max_len: int, dim: int, num_layers: int, num_heads: int):
    super().__init__()
    self.embed = nn.Embedding(vocab_size, dim)
    self.pos = nn.Parameter(0.02 * torch.randn(max_len, dim))
    self.null = nn.Parameter(0.02 * torch.randn(dim))
    self.layers = nn.ModuleList([EncoderLayer(dim, num_heads) for _ in range(num_layers)])
    self.norm = nn.LayerNorm(dim, eps=EPS)

  def forward(self, ids):
    valid = ids != 0
    h = self.embed(ids) + self.pos[:ids.shape[1]]
    for layer in self.layers:
      h = layer(h, valid)
    h = self.norm(h)
    m = valid[..., None].to(h.dtype)
    count = m.sum(dim=1)
    pooled = (h * m).sum(dim=1) / count.clamp(min=1)
    is_null = count == 0
    pooled = torch.where(is_null, self.null, pooled)
    tokens = torch.where(is_null[:, None, :], self.null, h)
    return tokens, pooled


def context_mask(ids):
  valid = ids != 0
  return valid | ~valid.any(dim=-1, keepdim=True)


def conv3x3(i, o, stride=1):
  return nn.Conv2d(i, o, 3, stride=stride, padding=1)


class ResBlock2D(nn.Module):
  def __init__(self, in_ch, out_ch, emb_dim, num_groups, dropout):
    super().__init__()
    self.norm1 = nn.GroupNorm(num_groups, in_ch, eps=EPS)
    self.conv1 = conv3x3(in_ch, out_ch)
    self.film = nn.Linear(emb_dim, 2 * out_ch)
    self.norm2 = nn.GroupNorm(num_groups, out_ch, eps=EPS)
    self.dropout = nn.Dropout(dropout) if dropout > 0 else None
    self.conv2 = conv3x3(out_ch, out_ch)
    self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

  def forward(self, x, c):
    h = self.conv1(F.silu(self.norm1(x)))
    gamma, beta = self.film(c)[:, :, None, None].chunk(2, dim=1)
    h = F.silu(self.norm2(h) * (1 + gamma) + beta)
    if self.dropout is not None:
      h = self.dropout(h)
    h = self.conv2(h)
    return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock2D(nn.Module):
  def __init__(self, ch, num_heads, num_groups, text_dim):
    super().__init__()
    self.norm1 = nn.GroupNorm(num_groups, ch, eps=EPS)
    self.attn = Attention(ch, num_heads)
    if text_dim:
      self.norm2 = nn.GroupNorm(num_groups, ch, eps=EPS)
      self.cross = Attention(ch, num_heads, text_dim)
    else:
      self.norm2 = self.cross = None

  def forward(self, x, text):
    b, ch, hh, ww = x.shape
    h = x + self.attn(self.norm1(x).flatten(2).transpose(1, 2)).transpose(1, 2).reshape(x.shape)
    if self.cross is not None:
      tokens, mask = text
      q = self.norm2(h).flatten(2).transpose(1, 2)
      h = h + self.cross(q, tokens, mask).transpose(1, 2).reshape(x.shape)
    return h


class Block(nn.Module):
  def __init__(self, res, attn):
    super().__init__()
    self.res, self.attn = res, attn

  def forward(self, h, c, text):
    h = self.res(h, c)
    return self.attn(h, text) if self.attn is not None else h


class Upsample(nn.Module):
  def __init__(self, ch):
    super().__init__()
    self.conv = conv3x3(ch, ch)

  def forward(self, x):
    return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TorchImageUNet(nn.Module):
  """`jaxdiff.networks.unet2d.ImageUNet` in PyTorch; same constructor arguments (no dtypes)."""

  def __init__(self, in_channels, *, channels=(64, 128, 128), num_res_blocks=2, attn_levels=(-1,),
               emb_dim=256, text_vocab_size=0, text_len=32, text_dim=128, text_layers=2,
               num_heads=4, num_groups=8, dropout=0.0):
    super().__init__()
    n = len(channels)
    levels = {a % n for a in attn_levels}
    self.num_levels = n
    self.t_embed = NoiseEmbedding(emb_dim)
    if text_vocab_size > 0:
      self.text = TextEncoder(text_vocab_size, text_len, text_dim, text_layers, num_heads)
      self.text_proj = nn.Linear(text_dim, emb_dim)
    else:
      self.text = self.text_proj = None

    def block(i, o, level):
      attn = (AttnBlock2D(o, num_heads, num_groups, text_dim if self.text is not None else None)
              if level in levels else None)
      return Block(ResBlock2D(i, o, emb_dim, num_groups, dropout), attn)

    self.conv_in = conv3x3(in_channels, channels[0])
    kept, width = [channels[0]], channels[0]
    self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
    for level, out in enumerate(channels):
      blocks = nn.ModuleList()
      for _ in range(num_res_blocks):
        blocks.append(block(width, out, level))
        width = out
        kept.append(width)
      self.down.append(blocks)
      if level < n - 1:
        self.downsample.append(conv3x3(width, width, stride=2))
        kept.append(width)
    self.mid = nn.ModuleList([block(width, width, n - 1), block(width, width, None)])
    self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
    for level in reversed(range(n)):
      blocks = nn.ModuleList()
      for _ in range(num_res_blocks + 1):
        blocks.append(block(width + kept.pop(), channels[level], level))
        width = channels[level]
      self.up.append(blocks)
      if level > 0:
        self.upsample.append(Upsample(width))
    self.norm_out = nn.GroupNorm(num_groups, width, eps=EPS)
    self.conv_out = conv3x3(width, in_channels)
    nn.init.zeros_(self.conv_out.weight)
    nn.init.zeros_(self.conv_out.bias)

  def forward(self, x, c_noise, cond=None):  # x: [B, H, W, C] like the JAX side
    c = self.t_embed(c_noise)
    text = None
    if self.text is not None:
      ids = torch.zeros(x.shape[0], 1, dtype=torch.long) if cond is None else cond.long()
      tokens, pooled = self.text(ids)
      c = c + self.text_proj(pooled)
      text = (tokens, context_mask(ids))
    c = F.silu(c)
    h = self.conv_in(x.permute(0, 3, 1, 2))
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
        h = blk(torch.cat([h, kept.pop()], dim=1), c, text)
      if i < self.num_levels - 1:
        h = self.upsample[i](h)
    return self.conv_out(F.silu(self.norm_out(h))).permute(0, 2, 3, 1)


def load_jax_params(model: nn.Module, params) -> None:
  """Copies a JAX ImageUNet's parameters (the module or its `nnx.state(..., nnx.Param)`) into
  `model` in place. Every PyTorch parameter must receive exactly one JAX parameter."""
  import flax.nnx as nnx
  import numpy as np

  if isinstance(params, nnx.Module):
    params = nnx.state(params, nnx.Param)
  torch_params = dict(model.named_parameters())
  seen = set()
  for path, var in nnx.to_flat_state(params):
    *parent, leaf = (str(p) for p in path)
    value = np.asarray(var[...], np.float32)
    if leaf == "kernel":
      value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
    name = ".".join(parent + [{"kernel": "weight", "scale": "weight",
                               "embedding": "weight"}.get(leaf, leaf)])
    if name not in torch_params:
      raise KeyError(f"JAX parameter {'/'.join(map(str, path))} has no PyTorch twin {name}")
    target = torch_params[name]
    if tuple(target.shape) != value.shape:
      raise ValueError(f"{name}: PyTorch shape {tuple(target.shape)} vs JAX {value.shape}")
    with torch.no_grad():
      target.copy_(torch.tensor(value))
    seen.add(name)
  missing = sorted(set(torch_params) - seen)
  if missing:
    raise KeyError(f"PyTorch parameters without a JAX value: {missing[:10]}")


def edm_loss(net, x0, cond=None, sigma_data=0.5, p_mean=-1.2, p_std=1.2):
  """EDM loss (`jaxdiff.edm.edm_loss`) for images [B, H, W, C]."""
  sigma = torch.exp(p_mean + p_std * torch.randn(x0.shape[0]))
  s = sigma[:, None, None, None]
  x = x0 + s * torch.randn_like(x0)
  c_skip = sigma_data ** 2 / (s ** 2 + sigma_data ** 2)
  c_out = s * sigma_data / torch.sqrt(s ** 2 + sigma_data ** 2)
  c_in = 1 / torch.sqrt(s ** 2 + sigma_data ** 2)
  d = c_skip * x + c_out * net(c_in * x, 0.25 * torch.log(sigma), cond)
  weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
  return torch.mean(weight * ((d - x0) ** 2).mean(dim=(1, 2, 3)))
