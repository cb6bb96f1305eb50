"""Maze2D with RACTD: plan a state sequence once per episode, follow it with a waypoint controller.

At reset the planner samples a plan of H states (umaze/medium/large: H = 128/256/384) conditioned
on [scaled start state, scaled goal xy]; the plan is unscaled to [qpos, qvel] and followed with
Diffuser's maze2d controller (PAPERS.md section 1):

  wp = plan[t + 1] while t + 1 < H, then the goal with zero velocity
  a  = clip((wp_xy - s_xy) + (wp_vel - s_vel), -1, 1)

The episode runs the environment's full time limit (300 / 600 / 800 steps) on the continuing
sparse-reward task, so the return counts the steps spent within 0.45 of the goal, which is what
D4RL's maze2d normalised scores are computed from.
"""
from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp

from jaxrl import envs
from jaxrl.evaluation import EvalResult, normalized_score
from jaxrl.ractd.data import Scaler


def follow(plan: np.ndarray, t: int, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
  """The controller's actions [N, 2] at step t for plans [N, H, 4] and states [N, 4]."""
  horizon = plan.shape[1]
  if t + 1 < horizon:
    wp = plan[:, t + 1]
  else:
    wp = np.concatenate([goal, np.zeros_like(goal)], axis=-1)
  d = wp.shape[-1] // 2
  return np.clip((wp[:, :d] - state[:, :d]) + (wp[:, d:] - state[:, d:]), -1.0, 1.0)


def evaluate_planner(env_name: str, sample, params, scaler: Scaler, num_episodes: int,
                     seed: int, key: jax.Array) -> tuple[EvalResult, np.ndarray]:
  """(scores of `num_episodes` parallel episodes, the plans [N, H, 4] in state units)."""
  env = envs.make(env_name, backend="native", num_envs=num_episodes, seed=seed)
  try:
    obs, _ = env.reset(seed=seed)
    state, goal = obs["observation"], obs["desired_goal"]
    d = goal.shape[-1]
    cond = np.concatenate([scaler(state), (goal - scaler.shift[:d]) / scaler.scale[:d]], -1)
    plan = scaler.inverse(np.asarray(jax.jit(sample)(params, jnp.asarray(cond, jnp.float32),
                                                     key), np.float64))
    returns = np.zeros(num_episodes)
    lengths = np.zeros(num_episodes, np.int64)
    active = np.ones(num_episodes, bool)
    t = 0
    while active.any():
      action = follow(plan, t, state, goal)
      obs, reward, terminated, truncated, _ = env.step(action)
      returns += np.where(active, reward, 0.0)
      lengths += active
      active &= ~(terminated | truncated)
      state = obs["observation"]
      t += 1
  finally:
    env.close()
  return EvalResult(returns, lengths, normalized_score(env_name, returns)), plan
