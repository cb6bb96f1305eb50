"""Native backend: MuJoCo's C engine on the host, many environments per call.

Each environment owns an MjData, exactly as a Gymnasium environment does (warm start included), so a
native step is the same floating point computation as Gymnasium's, and trajectories agree bit for
bit. (`mujoco.rollout` restarts the constraint solver from a zero warm start on every call; on
chaotic, contact-rich HalfCheetah that alone moves observations ~1e-6 from Gymnasium's after 50
steps and O(1) after 100, so we do not use it.) The batch is cut into one contiguous chunk per thread; each
thread loops `mj_step(model, data, nstep=frame_skip)` over its chunk, and MuJoCo releases the GIL
inside mj_step, so the chunks run in parallel. Observations, rewards and terminations are then
computed for the whole batch at once with NumPy, from the same task formulas the MJX backend uses.

`state_dict()` / `load_state_dict(d)` capture and restore everything the next steps depend on: each
MjData's full integration state (`mj_getState(..., mjSTATE_INTEGRATION)`: time, qpos, qvel, act,
controls, applied forces, the solver's warm start, ...), the batched qpos/qvel/goal/step-counter
arrays and the reset Generator, so a restored batch (in this or another process) continues bit for
bit, mid-episode, as the original would have. They follow the host-state protocol of
experiments/runtime/host_state.py (the `files_dir` argument is unused: the state is small).
"""

from __future__ import annotations

from concurrent import futures
import os
from typing import Any, Mapping

import mujoco
import numpy as np

from jaxrl.envs import core


def _copy_arrays(info: dict[str, Any]) -> dict[str, np.ndarray]:
  """Copies of the arrays in `info` (they may be views of the live state)."""
  return {k: np.array(v) for k, v in info.items()}


class NativeVecEnv(core.TaskSpaces):
  """`num_envs` copies of a task stepped together on the CPU; numpy in, numpy out.

  Autoreset (same step, as Gymnasium's `AutoresetMode.SAME_STEP`): when an environment terminates or
  is truncated, `step` returns that transition's reward / terminated / truncated, but the observation
  of a freshly reset episode; the observation the transition actually reached is in
  `info["final_obs"]` (for every environment, reset or not). `info` entries are batched on axis 0.
  """

  backend = "native"

  def __init__(self, task: core.Task, num_envs: int = 1, seed: int = 0,
               num_threads: int | None = None):
    if num_envs < 1:
      raise ValueError(f"num_envs={num_envs}: need at least one environment.")
    self.task = task
    self.num_envs = num_envs
    self.model = task.build_model()
    self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
    # (data, qpos, qvel, ctrl) per env: the arrays are views into the MjData, made once.
    self._views = [(d, d.qpos, d.qvel, d.ctrl) for d in self.datas]
    nthread = min(num_envs, os.cpu_count() or 1) if num_threads is None else num_threads
    self._chunks = [c for c in np.array_split(np.arange(num_envs), max(nthread, 1)) if len(c)]
    # The calling thread simulates the first chunk itself; the pool takes the others.
    self._pool = (futures.ThreadPoolExecutor(len(self._chunks) - 1)
                  if len(self._chunks) > 1 else None)
    m = self.model
    self._qpos = np.zeros((num_envs, m.nq))
    self._qvel = np.zeros((num_envs, m.nv))
    self._goal = np.zeros((num_envs, task.goal_size))
    self._steps = np.zeros(num_envs, dtype=np.int64)
    self._rng = np.random.default_rng(seed)
    for d in self.datas:
      mujoco.mj_resetData(m, d)
    self._qpos[:] = m.qpos0

  # -------------------------------------------------------------- state
  def get_state(self) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the batched (qpos, qvel), shapes (num_envs, nq) and (num_envs, nv)."""
    return self._qpos.copy(), self._qvel.copy()

  @property
  def goal(self) -> np.ndarray:
    """(num_envs, goal_size) task goals (PointMaze target; empty for locomotion)."""
    return self._goal.copy()

  @property
  def steps(self) -> np.ndarray:
    """(num_envs,) steps taken in the current episodes."""
    return self._steps.copy()

  def set_state(self, qpos: Any, qvel: Any, goal: Any = None) -> core.Obs:
    """Puts every environment in the given state (rows, or one row broadcast); returns obs.

    Like Gymnasium's `set_state` (qpos, qvel, then mj_forward): time, warm start and the episode
    step counters are left as they are; `goal` (PointMaze) is kept if None.
    """
    self._qpos[:] = qpos
    self._qvel[:] = qvel
    if goal is not None:
      self._goal[:] = goal
    for i in range(self.num_envs):
      self._write(i, forward=True)
    return self._observe()

  _PHYSICS = mujoco.mjtState.mjSTATE_INTEGRATION

  def state_dict(self, files_dir: str | None = None) -> dict[str, Any]:
    """Everything that determines the next steps (module docstring); numpy arrays and JSON."""
    del files_dir
    physics = np.zeros((self.num_envs, mujoco.mj_stateSize(self.model, self._PHYSICS)))
    for i, d in enumerate(self.datas):
      mujoco.mj_getState(self.model, d, physics[i], self._PHYSICS)
    return {"physics": physics, "qpos": self._qpos.copy(), "qvel": self._qvel.copy(),
            "goal": self._goal.copy(), "steps": self._steps.copy(),
            "rng": self._rng.bit_generator.state}

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str | None = None) -> None:
    """Restores a `state_dict()` of a batch of the same task and size."""
    del files_dir
    physics = np.asarray(d["physics"], np.float64)
    want = (self.num_envs, mujoco.mj_stateSize(self.model, self._PHYSICS))
    if physics.shape != want:
      raise ValueError(f"environment state of shape {physics.shape} does not fit {want} "
                       f"({self.num_envs} x {self.task.name}); restore into the same task and "
                       "num_envs")
    for i, data in enumerate(self.datas):
      mujoco.mj_setState(self.model, data, physics[i], self._PHYSICS)
    self._qpos[:], self._qvel[:], self._goal[:] = d["qpos"], d["qvel"], d["goal"]
    self._steps[:] = d["steps"]
    self._rng.bit_generator.state = d["rng"]

  def _write(self, i: int, forward: bool) -> None:
    d = self.datas[i]
    d.qpos[:] = self._qpos[i]
    d.qvel[:] = self._qvel[i]
    if forward:
      mujoco.mj_forward(self.model, d)

  def _observe(self) -> core.Obs:
    return self.task.observe(self._qpos.copy(), self._qvel.copy(), self._goal.copy(), np)

  def _reset_rows(self, rows: np.ndarray) -> None:
    qpos, qvel, goal = self.task.sample_init_np(self._rng, len(rows))
    self._qpos[rows] = qpos
    self._qvel[rows] = qvel
    self._goal[rows] = goal
    self._steps[rows] = 0
    for i in rows:
      mujoco.mj_resetData(self.model, self.datas[i])
      self._write(i, forward=True)

  # ------------------------------------------------------------ episode
  def reset(self, seed: int | None = None) -> tuple[core.Obs, dict[str, np.ndarray]]:
    """Resets all environments (reseeding first if `seed` is given); returns (obs, info).

    `info` has the keys `step` returns, evaluated at the reset state with a zero action.
    """
    if seed is not None:
      self._rng = np.random.default_rng(seed)
    self._reset_rows(np.arange(self.num_envs))
    obs = self._observe()
    zeros = np.zeros((self.num_envs, self.model.nu))
    _, _, info = self.task.evaluate(self._qpos, self._qpos, self._qvel, zeros, self._goal, np)
    return obs, dict(_copy_arrays(info), final_obs=obs)

  def _simulate(self, rows: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> None:
    m, nstep, views = self.model, self.task.frame_skip, self._views
    for i in rows:
      d, d_qpos, d_qvel, d_ctrl = views[i]
      d_qvel[:] = qvel[i]
      d_ctrl[:] = ctrl[i]
      mujoco.mj_step(m, d, nstep=nstep)  # releases the GIL
      self._qpos[i] = d_qpos
      self._qvel[i] = d_qvel

  def step(self, actions: Any) -> tuple[core.Obs, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Steps all environments with (num_envs, action_size) actions; see the class docstring."""
    actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, self.model.nu)
    qpos_before = self._qpos.copy()
    qvel, ctrl = self.task.prepare(self._qvel, actions, np)
    pending = [self._pool.submit(self._simulate, c, qvel, ctrl) for c in self._chunks[1:]]
    self._simulate(self._chunks[0], qvel, ctrl)
    for f in pending:
      f.result()
    self._steps += 1

    obs = self._observe()
    reward, terminated, info = self.task.evaluate(
        qpos_before, self._qpos.copy(), self._qvel.copy(), actions, self._goal, np)
    truncated = self._steps >= self.task.max_episode_steps
    done = np.logical_or(terminated, truncated)
    info = dict(info, final_obs=obs)
    if done.any():
      self._reset_rows(np.flatnonzero(done))
      obs = self._observe()
    return obs, np.asarray(reward, np.float64), terminated, truncated, info

  def close(self) -> None:
    if self._pool is not None:
      self._pool.shutdown()
      self._pool = None
