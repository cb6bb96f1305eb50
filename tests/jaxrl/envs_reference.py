"""Gymnasium / Gymnasium-Robotics reference trajectories for the environment parity tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

GYM_IDS = {
    "hopper": "Hopper-v5",
    "halfcheetah": "HalfCheetah-v5",
    "walker2d": "Walker2d-v5",
    "pointmaze-umaze": "PointMaze_UMaze-v3",
    "pointmaze-medium": "PointMaze_Medium-v3",
    "pointmaze-large": "PointMaze_Large-v3",
}


def make_reference(name: str, **kwargs) -> gym.Env:
  """The real Gymnasium(-Robotics) environment, with its TimeLimit wrapper."""
  if name.startswith("pointmaze"):
    import gymnasium_robotics  # pylint: disable=g-import-not-at-top
    gym.register_envs(gymnasium_robotics)
  return gym.make(GYM_IDS[name], **kwargs)


def flat(obs) -> np.ndarray:
  """A dict observation as one vector (observation, achieved_goal, desired_goal); else as is."""
  if isinstance(obs, dict):
    return np.concatenate([np.asarray(obs[k]) for k in ("observation", "achieved_goal",
                                                         "desired_goal")], axis=-1)
  return np.asarray(obs)


def reference_rollout(name: str, seed: int, actions: np.ndarray, start: dict | None = None,
                      **kwargs) -> dict:
  """Resets the reference with `seed`, then steps it with `actions` until the episode ends.

  `start` (qpos, qvel, goal) replaces the reset state. Returns the start state (qpos, qvel, goal)
  and per-step obs (flattened), reward, terminated, truncated and success (PointMaze), for the steps
  taken.
  """
  env = make_reference(name, **kwargs)
  env.reset(seed=seed)
  u = env.unwrapped
  if start is not None:
    if name.startswith("pointmaze"):
      u.goal = np.array(start["goal"], dtype=np.float64)
      u.point_env.set_state(start["qpos"], start["qvel"])
    else:
      u.set_state(start["qpos"], start["qvel"])
  out = {"qpos": u.data.qpos.copy(), "qvel": u.data.qvel.copy(),
         "goal": np.asarray(getattr(u, "goal", np.zeros(0))).copy()}
  steps = {"obs": [], "reward": [], "terminated": [], "truncated": [], "success": []}
  for a in actions:
    obs, reward, terminated, truncated, info = env.step(a)
    steps["obs"].append(flat(obs))
    steps["reward"].append(reward)
    steps["terminated"].append(terminated)
    steps["truncated"].append(truncated)
    steps["success"].append(info.get("success", False))
    if terminated or truncated:
      break
  env.close()
  return out | {k: np.asarray(v) for k, v in steps.items()}


def random_actions(name: str, n: int, seed: int, num_envs: int = 1) -> np.ndarray:
  """(num_envs, n, action_size) actions drawn from the reference's action space."""
  space = make_reference(name).action_space
  space.seed(seed)
  return np.stack([np.stack([space.sample() for _ in range(n)]) for _ in range(num_envs)])
