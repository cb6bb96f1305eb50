"""SAC's networks: a tanh-Gaussian actor and twin Q critics, as pure functions of their parameters.

  nets = make_networks(obs_dim, act_dim, hidden=(256, 256))
  actor, critic = nets.init(key)                     # nnx.State parameters
  mean, log_std = nets.actor_apply(actor, obs)
  action, log_prob = nets.sample(actor, obs, key)    # reparameterised, action in (-1, 1)
  q1, q2 = nets.critic_apply(critic, obs, action)
  policy = scaled_policy(nets, low, high, deterministic=False)   # policy(actor, obs, key)

The modules are jaxrl/agents/networks.py's (D4RL recipe: 2x256 ReLU MLPs, log std clipped to
[-5, 2], tanh change of variables in the stable form). The graph definitions are split once here;
inside jit the parameters are merged back, so nothing traverses Python module graphs per step.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents import networks


class SACNetworks:
  """Graph definitions of the actor and the twin critic; apply functions of their parameters."""

  def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)):
    self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, tuple(hidden)
    self.actor_def, _ = nnx.split(nnx.eval_shape(lambda: self._actor(nnx.Rngs(0))))
    self.critic_def, _ = nnx.split(nnx.eval_shape(lambda: self._critic(nnx.Rngs(0))))

  def _actor(self, rngs: nnx.Rngs) -> networks.TanhGaussianActor:
    return networks.TanhGaussianActor(self.obs_dim, self.act_dim, self.hidden, rngs=rngs)

  def _critic(self, rngs: nnx.Rngs) -> networks.TwinCritic:
    return networks.TwinCritic(self.obs_dim, self.act_dim, self.hidden, rngs=rngs)

  def init(self, actor_key: jax.Array, critic_key: jax.Array) -> tuple[Any, Any]:
    """Fresh (actor, critic) parameters (nnx.State) from two keys."""
    return (nnx.state(self._actor(nnx.Rngs(actor_key))),
            nnx.state(self._critic(nnx.Rngs(critic_key))))

  def abstract_actor(self) -> Any:
    """The actor's parameter structure (shapes only), to restore saved parameters into."""
    return nnx.state(nnx.eval_shape(lambda: self._actor(nnx.Rngs(0))))

  def actor_apply(self, params: Any, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    return nnx.merge(self.actor_def, params)(obs)

  def critic_apply(self, params: Any, obs: jax.Array,
                   action: jax.Array) -> tuple[jax.Array, jax.Array]:
    return nnx.merge(self.critic_def, params)(obs, action)

  def sample(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action in (-1, 1), log pi(action | obs)) with the reparameterisation trick."""
    mean, log_std = self.actor_apply(params, obs)
    return networks.sample_tanh_gaussian(mean, log_std, key)

  def act(self, params: Any, obs: jax.Array, key: jax.Array) -> jax.Array:
    """A stochastic action in (-1, 1)."""
    return self.sample(params, obs, key)[0]

  def act_deterministic(self, params: Any, obs: jax.Array, key: jax.Array | None) -> jax.Array:
    """tanh(mean): the evaluation action."""
    del key
    return jnp.tanh(self.actor_apply(params, obs)[0])


def make_networks(obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)) -> SACNetworks:
  return SACNetworks(obs_dim, act_dim, hidden)


def scaled_policy(nets: SACNetworks, low: np.ndarray, high: np.ndarray,
                  deterministic: bool) -> Callable:
  """policy(actor params, obs, key) -> action in [low, high] (the env's bounds)."""
  low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
  center, scale = jnp.asarray((high + low) / 2), jnp.asarray((high - low) / 2)
  base = nets.act_deterministic if deterministic else nets.act
  return lambda params, obs, key: center + scale * base(params, obs, key)


def stepper(policy: Callable) -> Callable:
  """jit(act(params, obs, key) -> (action, next key)): one dispatch per environment step.

  The key is split inside (`key, sub = split(key)`, the action drawn with `sub`), the same bits
  as splitting on the host first.
  """
  def act(params, obs, key):
    key, sub = jax.random.split(key)
    return policy(params, obs, sub), key

  return jax.jit(act)
