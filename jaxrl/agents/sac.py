"""Soft actor-critic (Haarnoja et al. 2018, v2 with automatic temperature) in the D4RL recipe.

  agent = SAC(obs_dim, act_dim, SACConfig())
  state = agent.init(seed)
  state, metrics = agent.update(state, batch)              # jitted, one gradient step
  state, metrics = agent.update_many(state, batches)       # jitted lax.scan over a leading axis
  action = agent.act(state.actor, obs, key)                # policy(params, obs, key): tanh-Gaussian
  action = agent.act_deterministic(state.actor, obs, key)  # tanh(mean)

Recipe (as the behaviour policies of D4RL were trained): actor and two critics are 2x256 ReLU MLPs;
Adam with lr 3e-4 for actor, critics and temperature; batch 256; gamma 0.99; target critics updated
by Polyak averaging with tau 0.005 after every step; temperature alpha = exp(log_alpha) tuned to the
target entropy -|A|, initial alpha 1. One update, in order, from a batch
{observations, actions, rewards, next_observations, terminals}:

  critic:  y = r + gamma * (1 - terminal) * (min(Q1', Q2')(s', a') - alpha * log pi(a'|s')),
           a' ~ pi(.|s'), Q' the target critics; loss = mean((Q1 - y)^2 + (Q2 - y)^2)
  actor:   loss = mean(alpha * log pi(a|s) - min(Q1, Q2)(s, a)), a ~ pi(.|s) reparameterised,
           with the critics just updated
  alpha:   loss = -mean(log_alpha * (log pi(a|s) + target_entropy)) (the actor's samples, no grad):
           alpha grows while the policy's entropy is below the target
  target:  theta' <- tau * theta + (1 - tau) * theta'

Only `terminals` (true termination) stop bootstrapping; time-limit truncations bootstrap. Actions
are in (-1, 1); callers rescale to the environment's bounds. The state holds a raw uint32 PRNG key.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.nnx as nnx
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxrl.agents import networks

Batch = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class SACConfig:
  hidden: tuple[int, ...] = (256, 256)
  actor_lr: float = 3e-4
  critic_lr: float = 3e-4
  alpha_lr: float = 3e-4
  gamma: float = 0.99
  tau: float = 0.005
  batch_size: int = 256
  init_alpha: float = 1.0
  target_entropy: float | None = None  # None: -action_dim


class SACState(flax.struct.PyTreeNode):
  actor: Any            # nnx.State of TanhGaussianActor
  critic: Any           # nnx.State of TwinCritic
  target_critic: Any
  log_alpha: jax.Array
  actor_opt: Any
  critic_opt: Any
  alpha_opt: Any
  rng: jax.Array        # raw uint32 key
  step: jax.Array


# ------------------------------------------------------------------ the loss pieces (pure, testable)
def td_target(reward, terminal, next_q1, next_q2, next_log_prob, alpha, gamma):
  """Soft Bellman target r + gamma (1 - done) (min(Q1', Q2') - alpha log pi')."""
  next_v = jnp.minimum(next_q1, next_q2) - alpha * next_log_prob
  return reward + gamma * (1.0 - terminal) * next_v


def alpha_loss(log_alpha, log_prob, target_entropy):
  """Temperature loss; its gradient lowers log_alpha when the entropy -log pi exceeds the target."""
  return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy))


def soft_update(target, online, tau):
  """Polyak averaging tau * online + (1 - tau) * target, leaf by leaf."""
  return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


# ------------------------------------------------------------------ the agent
class SAC:
  """Holds the network definitions and optimisers; all state lives in `SACState`."""

  def __init__(self, obs_dim: int, act_dim: int, config: SACConfig = SACConfig()):
    self.obs_dim, self.act_dim, self.config = obs_dim, act_dim, config
    self.target_entropy = (-float(act_dim) if config.target_entropy is None
                           else float(config.target_entropy))
    self.actor_def, _ = nnx.split(nnx.eval_shape(lambda: self._actor(nnx.Rngs(0))))
    self.critic_def, _ = nnx.split(nnx.eval_shape(lambda: self._critic(nnx.Rngs(0))))
    self.actor_tx = optax.adam(config.actor_lr)
    self.critic_tx = optax.adam(config.critic_lr)
    self.alpha_tx = optax.adam(config.alpha_lr)
    self.update = jax.jit(self._update, donate_argnums=0)
    self.update_many = jax.jit(self._update_many, donate_argnums=0)

  def _actor(self, rngs):
    return networks.TanhGaussianActor(self.obs_dim, self.act_dim, self.config.hidden, rngs=rngs)

  def _critic(self, rngs):
    return networks.TwinCritic(self.obs_dim, self.act_dim, self.config.hidden, rngs=rngs)

  def init(self, seed: int) -> SACState:
    k_actor, k_critic, k_rng = jax.random.split(jax.random.PRNGKey(seed), 3)
    actor = nnx.state(self._actor(nnx.Rngs(k_actor)))
    critic = nnx.state(self._critic(nnx.Rngs(k_critic)))
    log_alpha = jnp.log(jnp.float32(self.config.init_alpha))
    return SACState(actor=actor, critic=critic, target_critic=jax.tree.map(jnp.copy, critic), log_alpha=log_alpha,
                    actor_opt=self.actor_tx.init(actor), critic_opt=self.critic_tx.init(critic),
                    alpha_opt=self.alpha_tx.init(log_alpha), rng=k_rng,
                    step=jnp.zeros((), jnp.int32))

  # ---------------------------------------------------------------- policy
  def actor_apply(self, params, obs):
    return nnx.merge(self.actor_def, params)(obs)

  def critic_apply(self, params, obs, action):
    return nnx.merge(self.critic_def, params)(obs, action)

  def sample(self, params, obs, key):
    """(action, log pi(action|obs)) with the reparameterisation trick."""
    mean, log_std = self.actor_apply(params, obs)
    return networks.sample_tanh_gaussian(mean, log_std, key)

  def act(self, params, obs, key):
    """A stochastic action in (-1, 1): policy(params, obs, key)."""
    return self.sample(params, obs, key)[0]

  def act_deterministic(self, params, obs, key):
    del key
    return jnp.tanh(self.actor_apply(params, obs)[0])

  # ---------------------------------------------------------------- update
  def _update(self, state: SACState, batch: Batch) -> tuple[SACState, dict]:
    c = self.config
    rng, k_next, k_pi = jax.random.split(state.rng, 3)
    alpha = jnp.exp(state.log_alpha)
    obs, act = batch["observations"], batch["actions"]

    next_a, next_logp = self.sample(state.actor, batch["next_observations"], k_next)
    nq1, nq2 = self.critic_apply(state.target_critic, batch["next_observations"], next_a)
    target = jax.lax.stop_gradient(td_target(batch["rewards"], batch["terminals"], nq1, nq2,
                                             next_logp, alpha, c.gamma))

    def critic_loss_fn(params):
      q1, q2 = self.critic_apply(params, obs, act)
      return jnp.mean(jnp.square(q1 - target) + jnp.square(q2 - target)), q1

    (critic_loss, q1), g = jax.value_and_grad(critic_loss_fn, has_aux=True)(state.critic)
    upd, critic_opt = self.critic_tx.update(g, state.critic_opt, state.critic)
    critic = optax.apply_updates(state.critic, upd)

    def actor_loss_fn(params):
      a, logp = self.sample(params, obs, k_pi)
      q1_pi, q2_pi = self.critic_apply(critic, obs, a)
      return jnp.mean(alpha * logp - jnp.minimum(q1_pi, q2_pi)), logp

    (actor_loss, logp), g = jax.value_and_grad(actor_loss_fn, has_aux=True)(state.actor)
    upd, actor_opt = self.actor_tx.update(g, state.actor_opt, state.actor)
    actor = optax.apply_updates(state.actor, upd)

    a_loss, g = jax.value_and_grad(alpha_loss)(state.log_alpha, logp, self.target_entropy)
    upd, alpha_opt = self.alpha_tx.update(g, state.alpha_opt, state.log_alpha)
    log_alpha = optax.apply_updates(state.log_alpha, upd)

    new = SACState(actor=actor, critic=critic, target_critic=soft_update(state.target_critic,
                                                                         critic, c.tau),
                   log_alpha=log_alpha, actor_opt=actor_opt, critic_opt=critic_opt,
                   alpha_opt=alpha_opt, rng=rng, step=state.step + 1)
    metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha_loss": a_loss,
               "alpha": alpha, "entropy": -jnp.mean(logp), "q": jnp.mean(q1)}
    return new, metrics

  def _update_many(self, state: SACState, batches: Batch) -> tuple[SACState, dict]:
    """One update per entry of the batches' leading axis; metrics averaged."""
    state, ms = jax.lax.scan(self._update, state, batches)
    return state, jax.tree.map(jnp.mean, ms)
