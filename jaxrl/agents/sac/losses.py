"""SAC's losses (Haarnoja et al. 2018, v2 with automatic temperature), as pure functions.

For a batch {observations s, actions a, rewards r, next_observations s', terminals d}, with
alpha = exp(log_alpha), a' ~ pi(.|s'), Q' the target critics:

  td_target    y = r + gamma * (1 - d) * (min(Q1', Q2')(s', a') - alpha * log pi(a'|s'))
  critic_loss  mean((Q1(s, a) - y)^2 + (Q2(s, a) - y)^2)
  actor_loss   mean(alpha * log pi(a~|s) - min(Q1, Q2)(s, a~)),  a~ ~ pi(.|s) reparameterised
  alpha_loss   -mean(log_alpha * (log pi(a~|s) + target_entropy)), the actor's samples without
               gradient: alpha grows while the policy's entropy -log pi is below the target
  soft_update  theta' <- tau * theta + (1 - tau) * theta'

Only `terminals` (true termination) stop bootstrapping; time-limit truncations bootstrap.
train.py composes them into one update.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def td_target(reward, terminal, next_q1, next_q2, next_log_prob, alpha, gamma):
  """Soft Bellman target r + gamma (1 - done) (min(Q1', Q2') - alpha log pi')."""
  next_v = jnp.minimum(next_q1, next_q2) - alpha * next_log_prob
  return reward + gamma * (1.0 - terminal) * next_v


def critic_loss(q1, q2, target):
  """Both critics' squared errors to the (stop-gradient) target, summed, batch mean."""
  return jnp.mean(jnp.square(q1 - target) + jnp.square(q2 - target))


def actor_loss(log_prob, q1, q2, alpha):
  """alpha log pi - min(Q1, Q2) at the policy's own (reparameterised) actions, batch mean."""
  return jnp.mean(alpha * log_prob - jnp.minimum(q1, q2))


def alpha_loss(log_alpha, log_prob, target_entropy):
  """Temperature loss; its gradient lowers log_alpha when the entropy -log pi exceeds the target."""
  return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy))


def soft_update(target: Any, online: Any, tau: float) -> Any:
  """Polyak averaging tau * online + (1 - tau) * target, leaf by leaf."""
  return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)
