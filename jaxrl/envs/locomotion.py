"""Hopper, HalfCheetah and Walker2d with Gymnasium v5 semantics.

Same MJCF files as Gymnasium 1.x (`hopper.xml`, `half_cheetah.xml`, `walker2d_v5.xml`, shipped under
assets/), same frame skip (4, 5, 4), and by default:

  observation = [qpos[1:], qvel]          (qvel clipped to [-10, 10] for Hopper and Walker2d)
  reward      = forward_reward_weight * dx/dt + healthy_reward * is_healthy
                - ctrl_cost_weight * |action|^2
  terminated  = terminate_when_unhealthy and not is_healthy      (never for HalfCheetah)
  truncated   = after max_episode_steps = 1000 steps

with dx the change of the root x position over the step and dt = frame_skip * timestep. Health uses
open intervals, as Gymnasium does:
  Hopper:   0.7 < z,  -0.2 < torso angle < 0.2,  |x| < 100 for every entry of [qpos[2:], qvel]
            (qvel unclipped here)
  Walker2d: 0.8 < z < 2.0,  -1 < torso angle < 1
The control cost uses the action as given; MuJoCo clamps ctrl to the actuator range.

Reset: qpos = qpos0 + U(-s, s), qvel = U(-s, s) with s = reset_noise_scale (5e-3); HalfCheetah draws
qvel = s * N(0, 1) with s = 0.1.

`info` (per step): x_position, x_velocity, reward_forward, reward_ctrl, reward_survive (0 for
HalfCheetah), z_distance_from_origin (0 for HalfCheetah).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from jaxrl.envs import core


@dataclasses.dataclass(frozen=True, eq=False)
class Locomotion(core.Task):
  """A planar runner: Gymnasium's Hopper-v5, HalfCheetah-v5 or Walker2d-v5 (see module docstring)."""

  name: str
  xml_file: str
  frame_skip: int
  forward_reward_weight: float = 1.0
  ctrl_cost_weight: float = 1e-3
  healthy_reward: float = 1.0
  terminate_when_unhealthy: bool = True
  healthy_z_range: tuple[float, float] | None = None
  healthy_angle_range: tuple[float, float] | None = None
  healthy_state_range: tuple[float, float] | None = None
  clip_qvel_obs: float | None = 10.0
  reset_noise_scale: float = 5e-3
  normal_qvel_noise: bool = False
  exclude_current_positions_from_observation: bool = True
  max_episode_steps: int = 1000

  @property
  def has_health(self) -> bool:
    return self.healthy_z_range is not None

  def build_model(self) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(core.asset_path(self.xml_file))

  @property
  def dt(self) -> float:
    return float(self._reference_model.opt.timestep) * self.frame_skip

  def observe(self, qpos, qvel, goal, xp):
    del goal
    if self.clip_qvel_obs is not None:
      qvel = xp.clip(qvel, -self.clip_qvel_obs, self.clip_qvel_obs)
    if self.exclude_current_positions_from_observation:
      qpos = qpos[..., 1:]
    return xp.concatenate([qpos, qvel], axis=-1)

  def is_healthy(self, qpos, qvel, xp):
    """Gymnasium's health test (strict inequalities; NaN is unhealthy)."""
    z, angle = qpos[..., 1], qpos[..., 2]
    lo, hi = self.healthy_z_range
    healthy = (lo < z) & (z < hi)
    lo, hi = self.healthy_angle_range
    healthy = healthy & (lo < angle) & (angle < hi)
    if self.healthy_state_range is not None:
      lo, hi = self.healthy_state_range
      state = xp.concatenate([qpos, qvel], axis=-1)[..., 2:]
      healthy = healthy & xp.all((lo < state) & (state < hi), axis=-1)
    return healthy

  def evaluate(self, qpos_before, qpos, qvel, action, goal, xp):
    del goal
    x_velocity = (qpos[..., 0] - qpos_before[..., 0]) / self.dt
    forward = self.forward_reward_weight * x_velocity
    ctrl_cost = self.ctrl_cost_weight * xp.sum(xp.square(action), axis=-1)
    if self.has_health:
      healthy = self.is_healthy(qpos, qvel, xp)
      survive = self.healthy_reward * healthy.astype(forward.dtype)
      if self.terminate_when_unhealthy:
        terminated = xp.logical_not(healthy)
      else:
        terminated = xp.zeros(forward.shape, dtype=bool)
      z_distance = qpos[..., 1] - self.init_qpos[1]
    else:
      survive = xp.zeros_like(forward)
      terminated = xp.zeros(forward.shape, dtype=bool)
      z_distance = xp.zeros_like(forward)
    reward = forward + survive - ctrl_cost
    info = {
        "x_position": qpos[..., 0],
        "x_velocity": x_velocity,
        "z_distance_from_origin": z_distance,
        "reward_forward": forward,
        "reward_ctrl": -ctrl_cost,
        "reward_survive": survive,
    }
    return reward, terminated, info

  def sample_init_np(self, rng, n):
    m = self._reference_model
    s = self.reset_noise_scale
    qpos = self.init_qpos + rng.uniform(-s, s, size=(n, m.nq))
    if self.normal_qvel_noise:
      qvel = s * rng.standard_normal(size=(n, m.nv))
    else:
      qvel = rng.uniform(-s, s, size=(n, m.nv))
    return qpos, qvel, np.zeros((n, 0))

  def sample_init_jax(self, key):
    m = self._reference_model
    s = self.reset_noise_scale
    kq, kv = jax.random.split(key)
    qpos = jnp.asarray(self.init_qpos, jnp.float32) + jax.random.uniform(
        kq, (m.nq,), jnp.float32, -s, s)
    if self.normal_qvel_noise:
      qvel = s * jax.random.normal(kv, (m.nv,), jnp.float32)
    else:
      qvel = jax.random.uniform(kv, (m.nv,), jnp.float32, -s, s)
    return qpos, qvel, jnp.zeros((0,), jnp.float32)


def hopper(**overrides: Any) -> Locomotion:
  """Gymnasium Hopper-v5."""
  kw = dict(
      name="hopper", xml_file="hopper.xml", frame_skip=4,
      healthy_z_range=(0.7, float("inf")), healthy_angle_range=(-0.2, 0.2),
      healthy_state_range=(-100.0, 100.0))
  return Locomotion(**(kw | overrides))


def walker2d(**overrides: Any) -> Locomotion:
  """Gymnasium Walker2d-v5."""
  kw = dict(
      name="walker2d", xml_file="walker2d_v5.xml", frame_skip=4,
      healthy_z_range=(0.8, 2.0), healthy_angle_range=(-1.0, 1.0))
  return Locomotion(**(kw | overrides))


def halfcheetah(**overrides: Any) -> Locomotion:
  """Gymnasium HalfCheetah-v5."""
  kw = dict(
      name="halfcheetah", xml_file="half_cheetah.xml", frame_skip=5, ctrl_cost_weight=0.1,
      healthy_reward=0.0, terminate_when_unhealthy=False, clip_qvel_obs=None,
      reset_noise_scale=0.1, normal_qvel_noise=True)
  return Locomotion(**(kw | overrides))
