"""Networks for the SAC agent (Flax NNX): an MLP, a tanh-Gaussian actor and a twin Q critic.

The D4RL recipe: two hidden layers of 256 ReLU units for the actor and for each of the two critics.
The actor outputs the mean and log standard deviation of a Gaussian (log std clipped to
[LOG_STD_MIN, LOG_STD_MAX]); actions are tanh of a Gaussian sample, so they lie in (-1, 1), and their
log-density carries the tanh change-of-variables term log(1 - tanh(u)^2), computed in the stable form
2 * (log 2 - u - softplus(-2u)).
"""
from __future__ import annotations

from typing import Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class MLP(nnx.Module):
  """Linear layers with ReLU between them (none after the last)."""

  def __init__(self, sizes: Sequence[int], *, rngs: nnx.Rngs):
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x: jax.Array) -> jax.Array:
    for i, layer in enumerate(self.layers):
      x = layer(x)
      if i < len(self.layers) - 1:
        x = jax.nn.relu(x)
    return x


class TanhGaussianActor(nnx.Module):
  """obs -> (mean, log_std) of the pre-tanh Gaussian over actions."""

  def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), *,
               rngs: nnx.Rngs):
    self.net = MLP((obs_dim, *hidden, 2 * act_dim), rngs=rngs)

  def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, log_std = jnp.split(self.net(obs), 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class TwinCritic(nnx.Module):
  """(obs, action) -> (q1, q2), two independent MLPs."""

  def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256), *,
               rngs: nnx.Rngs):
    self.q1 = MLP((obs_dim + act_dim, *hidden, 1), rngs=rngs)
    self.q2 = MLP((obs_dim + act_dim, *hidden, 1), rngs=rngs)

  def __call__(self, obs: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = jnp.concatenate([obs, action], axis=-1)
    return self.q1(x)[..., 0], self.q2(x)[..., 0]


def tanh_log_det(u: jax.Array) -> jax.Array:
  """log(1 - tanh(u)^2), summed over the last axis, in a numerically stable form."""
  return jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


def sample_tanh_gaussian(mean: jax.Array, log_std: jax.Array,
                         key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(action in (-1, 1), its log-density) of a reparameterised tanh-Gaussian sample."""
  u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
  gauss_logp = jnp.sum(-0.5 * jnp.square((u - mean) / jnp.exp(log_std)) - log_std
                       - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)
  return jnp.tanh(u), gauss_logp - tanh_log_det(u)
