"""The reference for the RACTD teacher benchmark: jaxdiff's ConditionalUnet1D and EDM loss in PyTorch.

Same architecture as `jaxdiff.networks.unet1d` (module docstring there): sinusoidal noise
embedding -> Linear(4e) -> Mish -> Linear(e); condition MLP; residual blocks Conv1d -> GroupNorm ->
Mish, FiLM, Conv1d -> GroupNorm -> Mish, 1x1 skip; stride-2 conv down, stride-2 transposed conv
(kernel 4) up; head. Layout is PyTorch's [B, C, L]. Only for timing: it is not loaded from or
compared with the JAX weights.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(t: torch.Tensor, dim: int, max_period: float = 10000.0, scale: float = 100.0):
  half = dim // 2
  freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
  args = (scale * t)[:, None] * freqs
  return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class NoiseEmbed(nn.Module):
  def __init__(self, e: int):
    super().__init__()
    self.e = e
    self.mlp = nn.Sequential(nn.Linear(e, 4 * e), nn.Mish(), nn.Linear(4 * e, e))

  def forward(self, t):
    return self.mlp(sinusoidal(t, self.e))


class ConvBlock(nn.Module):
  def __init__(self, cin, cout, k, groups=8):
    super().__init__()
    self.net = nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2), nn.GroupNorm(groups, cout),
                             nn.Mish())

  def forward(self, x):
    return self.net(x)


class ResBlock(nn.Module):
  def __init__(self, cin, cout, cw, k):
    super().__init__()
    self.b1, self.b2 = ConvBlock(cin, cout, k), ConvBlock(cout, cout, k)
    self.film = nn.Sequential(nn.Mish(), nn.Linear(cw, 2 * cout))
    self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

  def forward(self, x, c):
    h = self.b1(x)
    gamma, beta = self.film(c)[:, :, None].chunk(2, dim=1)
    h = self.b2(h * (1 + gamma) + beta)
    return h + self.skip(x)


class TorchUnet1D(nn.Module):
  def __init__(self, channels, cond_dim, down_dims=(512, 1024, 2048), k=5, emb=128, cond_emb=256):
    super().__init__()
    self.t_embed = NoiseEmbed(emb)
    self.cond = nn.Sequential(nn.Linear(cond_dim, cond_emb), nn.Mish(),
                              nn.Linear(cond_emb, cond_emb))
    cw = emb + cond_emb
    dims = (channels,) + tuple(down_dims)
    n = len(down_dims)
    self.down = nn.ModuleList()
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
      self.down.append(nn.ModuleList([ResBlock(a, b, cw, k), ResBlock(b, b, cw, k),
                                      nn.Conv1d(b, b, 3, 2, 1) if i < n - 1 else nn.Identity()]))
    self.mid = nn.ModuleList([ResBlock(dims[-1], dims[-1], cw, k) for _ in range(2)])
    self.up = nn.ModuleList()
    for i in reversed(range(n - 1)):
      a, b = down_dims[i], down_dims[i + 1]
      self.up.append(nn.ModuleList([ResBlock(2 * b, a, cw, k), ResBlock(a, a, cw, k),
                                    nn.ConvTranspose1d(a, a, 4, 2, 1)]))
    self.head = nn.Sequential(ConvBlock(down_dims[0], down_dims[0], k),
                              nn.Conv1d(down_dims[0], channels, 1))

  def forward(self, x, c_noise, cond):  # x: [B, L, C] like the JAX side
    c = torch.cat([self.t_embed(c_noise), self.cond(cond)], dim=-1)
    h = x.transpose(1, 2)
    skips = []
    for i, (r1, r2, down) in enumerate(self.down):
      h = r2(r1(h, c), c)
      if i > 0:
        skips.append(h)
      h = down(h)
    for r in self.mid:
      h = r(h, c)
    for r1, r2, up in self.up:
      h = up(r2(r1(torch.cat([h, skips.pop()], dim=1), c), c))
    return self.head(h).transpose(1, 2)


def edm_loss(net, x0, cond, sigma_data=0.5, p_mean=-1.2, p_std=1.2):
  sigma = torch.exp(p_mean + p_std * torch.randn(x0.shape[0]))
  s = sigma[:, None, None]
  x = x0 + s * torch.randn_like(x0)
  c_skip = sigma_data ** 2 / (s ** 2 + sigma_data ** 2)
  c_out = s * sigma_data / torch.sqrt(s ** 2 + sigma_data ** 2)
  c_in = 1 / torch.sqrt(s ** 2 + sigma_data ** 2)
  d = c_skip * x + c_out * net(c_in * x, 0.25 * torch.log(sigma), cond)
  weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
  return torch.mean(weight * ((d - x0) ** 2).mean(dim=(1, 2)))
