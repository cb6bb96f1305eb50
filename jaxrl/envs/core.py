"""The task interface shared by the native and MJX backends.

A `Task` says everything about an environment except how the physics is stepped: the MuJoCo model,
the frame skip, how an action becomes a control (and, for PointMaze, a velocity clip), the
observation, the reward and termination, the episode limit and the distribution of initial states.

Every formula is written once, against an array module `xp` that is `numpy` (native backend, float64,
leading batch axis) or `jax.numpy` (MJX backend, float32, one environment, vmapped). Formulas index
the trailing axis only (`qpos[..., 1]`), so the same code serves both. Randomness is the one thing the
two backends do differently (a NumPy `Generator` versus a JAX key), so each task has one sampler per
backend, drawing from the same distribution.

Each task also carries a `goal` vector per environment (size `goal_size`, 0 for locomotion): the
PointMaze target, fixed for an episode and drawn at reset.
"""

from __future__ import annotations

import abc
import functools
import os
from typing import Any

import mujoco
import numpy as np

Array = Any  # np.ndarray or jax.Array
Obs = Any  # an array, or a dict of arrays (goal-conditioned tasks)

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def asset_path(filename: str) -> str:
  """Absolute path of an MJCF file shipped under jaxrl/envs/assets/."""
  return os.path.join(ASSETS_DIR, filename)


class TaskSpaces:
  """Observation/action sizes and bounds of a batched env, read from its `self.task`."""

  @property
  def observation_size(self) -> int | dict[str, int]:
    return self.task.observation_size

  @property
  def action_size(self) -> int:
    return self.task.action_size

  @property
  def action_low(self) -> np.ndarray:
    return self.task.action_low

  @property
  def action_high(self) -> np.ndarray:
    return self.task.action_high


class Task(abc.ABC):
  """One environment's definition, independent of the simulator backend."""

  name: str
  frame_skip: int
  max_episode_steps: int
  goal_size: int = 0

  # ---------------------------------------------------------------- model
  @abc.abstractmethod
  def build_model(self) -> mujoco.MjModel:
    """A fresh MjModel (the backends own and may mutate their copy)."""

  @functools.cached_property
  def _reference_model(self) -> mujoco.MjModel:
    return self.build_model()

  @property
  def init_qpos(self) -> np.ndarray:
    """The model's reference configuration (what mj_resetData puts in qpos)."""
    return self._reference_model.qpos0.copy()

  @property
  def action_low(self) -> np.ndarray:
    return self._reference_model.actuator_ctrlrange[:, 0].astype(np.float32)

  @property
  def action_high(self) -> np.ndarray:
    return self._reference_model.actuator_ctrlrange[:, 1].astype(np.float32)

  @property
  def action_size(self) -> int:
    return int(self._reference_model.nu)

  @property
  def observation_size(self) -> int | dict[str, int]:
    """Size of the observation vector, or of each entry of a dict observation."""
    m = self._reference_model
    obs = self.observe(np.zeros(m.nq), np.zeros(m.nv), np.zeros(self.goal_size), np)
    if isinstance(obs, dict):
      return {k: int(v.shape[-1]) for k, v in obs.items()}
    return int(obs.shape[-1])

  # ------------------------------------------------------------- dynamics
  def prepare(self, qvel: Array, action: Array, xp: Any) -> tuple[Array, Array]:
    """(qvel, ctrl) to simulate from, given the current qvel and the agent's action.

    The default writes the action to ctrl unchanged (MuJoCo clamps it to ctrlrange).
    """
    del xp
    return qvel, action

  @abc.abstractmethod
  def observe(self, qpos: Array, qvel: Array, goal: Array, xp: Any) -> Obs:
    """Observation of a state."""

  @abc.abstractmethod
  def evaluate(
      self, qpos_before: Array, qpos: Array, qvel: Array, action: Array, goal: Array, xp: Any
  ) -> tuple[Array, Array, dict[str, Array]]:
    """(reward, terminated, info) of the transition qpos_before -> (qpos, qvel) under action.

    `info` must have the same keys and shapes whatever the inputs (it lives in a jitted scan carry).
    """

  # ---------------------------------------------------------------- reset
  @abc.abstractmethod
  def sample_init_np(
      self, rng: np.random.Generator, n: int
  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n initial (qpos, qvel, goal), batched on axis 0, float64."""

  @abc.abstractmethod
  def sample_init_jax(self, key: Any) -> tuple[Any, Any, Any]:
    """One initial (qpos, qvel, goal) as float32 jax arrays."""
