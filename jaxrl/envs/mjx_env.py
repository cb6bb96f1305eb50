"""MJX backend: the same tasks as pure JAX functions that jit, vmap and scan.

`MjxEnv` is one environment as two pure functions over an `EnvState` pytree:

  state = env.reset_fn(key)
  state = env.step_fn(state, action)     # frame_skip x mjx.step, then reward / termination / reset

Batch them with `jax.vmap` and roll them out with `lax.scan` inside `jax.jit`; nothing leaves the
device. `MjxVecEnv` is that, pre-vmapped and jitted, behind the same `reset()` / `step(actions)`
interface as the native backend, returning jax arrays.

Autoreset (same step, as the native backend): when an episode ends, `step_fn` returns the reward,
`terminated` and `truncated` of the transition that ended it, and a state already reset to a fresh
initial state drawn with the state's key; `info["final_obs"]` is the observation the transition
reached (for every environment). The derived quantities of `state.data` (xpos, contacts, ...) of a
freshly reset environment are not recomputed before its next step (call `mjx.forward` if you read
them).

Physics runs in float32 (JAX's default), where Gymnasium runs float64: trajectories agree to float32
precision over short horizons and then drift apart, as any two floating point types do on contact-rich
dynamics (numbers in tests/jaxrl/test_envs_mjx.py). Under `jax_enable_x64` the backend runs float64
and follows Gymnasium to ~1e-11 over 20 HalfCheetah steps.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.struct
import jax
import jax.numpy as jnp
from mujoco import mjx
import numpy as np

from jaxrl.envs import core


@flax.struct.dataclass
class EnvState:
  """One environment's state (batched along a leading axis under vmap)."""

  data: mjx.Data
  obs: core.Obs
  reward: jax.Array  # of the last transition (0 after reset_fn)
  terminated: jax.Array  # bool, of the last transition
  truncated: jax.Array  # bool, of the last transition
  steps: jax.Array  # int32 steps taken in the current episode
  goal: jax.Array  # (goal_size,) task goal (PointMaze target; empty for locomotion)
  key: jax.Array  # for the next reset
  info: dict[str, jax.Array]


# Overrides of the MJCF's <option> for the MJX backend; MuJoCo's solver defaults are iterations=100,
# ls_iterations=50. MJX stops the Newton solver early only when its improvement falls below
# `opt.tolerance` (1e-8), which float32 arithmetic often never reaches, and under vmap the loop runs
# until the slowest environment stops, so with the defaults steps pay for many more iterations than
# Newton needs. 4 / 8 changes nothing measurable (the float32 error against Gymnasium of
# tests/jaxrl/test_envs_mjx.py stays 8.0e-6 on hopper, 1.4e-7 on PointMaze; 2 / 4 gives 0.15) and
# is 2.4x faster on hopper (BENCHMARKS.md). `opt` replaces these (`opt={}` keeps the MJCF's
# settings); any field of mujoco.MjOption can be set, e.g.
# {"integrator": mujoco.mjtIntegrator.mjINT_EULER}.
DEFAULT_OPT = {"iterations": 4, "ls_iterations": 8}


class MjxEnv:
  """A task on MJX as pure functions of (EnvState, action)."""

  def __init__(self, task: core.Task, opt: Mapping[str, Any] | None = None):
    self.task = task
    self.mj_model = task.build_model()
    for field, value in (DEFAULT_OPT if opt is None else opt).items():
      if not hasattr(self.mj_model.opt, field):
        raise ValueError(f"opt: {field!r} is not a mujoco.MjOption field.")
      setattr(self.mj_model.opt, field, value)
    self.model = mjx.put_model(self.mj_model)
    self._data0 = mjx.make_data(self.model)
    self.dtype = self._data0.qpos.dtype  # float32, or float64 under jax_enable_x64
    self._zero_action = jnp.zeros((self.mj_model.nu,), self.dtype)

  def _initial(self, key: jax.Array) -> tuple[mjx.Data, jax.Array]:
    qpos, qvel, goal = (x.astype(self.dtype) for x in self.task.sample_init_jax(key))
    return self._data0.replace(qpos=qpos, qvel=qvel), goal

  def _simulate(self, data: mjx.Data) -> mjx.Data:
    def substep(d, _):
      return mjx.step(self.model, d), None
    data, _ = jax.lax.scan(substep, data, None, length=self.task.frame_skip)
    return data

  def _observe(self, data: mjx.Data, goal: jax.Array) -> core.Obs:
    return self.task.observe(data.qpos, data.qvel, goal, jnp)

  def reset_fn(self, key: jax.Array) -> EnvState:
    """A freshly reset environment."""
    key, sub = jax.random.split(key)
    data, goal = self._initial(sub)
    obs = self._observe(data, goal)
    _, _, info = self.task.evaluate(data.qpos, data.qpos, data.qvel, self._zero_action, goal, jnp)
    return EnvState(
        data=data, obs=obs, reward=jnp.zeros((), self.dtype), terminated=jnp.bool_(False),
        truncated=jnp.bool_(False), steps=jnp.int32(0), goal=goal, key=key,
        info=dict(info, final_obs=obs))

  def step_fn(self, state: EnvState, action: jax.Array) -> EnvState:
    """One environment step (frame_skip physics steps), with autoreset (module docstring)."""
    action = jnp.asarray(action, self.dtype)
    data = state.data
    qvel, ctrl = self.task.prepare(data.qvel, action, jnp)
    qpos_before = data.qpos
    data = self._simulate(data.replace(qvel=qvel, ctrl=ctrl))
    obs = self._observe(data, state.goal)
    reward, terminated, info = self.task.evaluate(
        qpos_before, data.qpos, data.qvel, action, state.goal, jnp)
    steps = state.steps + 1
    truncated = steps >= self.task.max_episode_steps
    done = terminated | truncated

    key, sub = jax.random.split(state.key)
    fresh_data, fresh_goal = self._initial(sub)
    pick = lambda new, old: jnp.where(done, new, old)  # noqa: E731
    data = jax.tree.map(pick, fresh_data, data)
    goal = pick(fresh_goal, state.goal)
    next_obs = jax.tree.map(pick, self._observe(fresh_data, fresh_goal), obs)
    return EnvState(
        data=data, obs=next_obs, reward=reward.astype(self.dtype), terminated=terminated,
        truncated=truncated, steps=jnp.where(done, 0, steps), goal=goal, key=key,
        info=dict(info, final_obs=obs))

  def set_state_fn(self, state: EnvState, qpos: jax.Array, qvel: jax.Array,
                   goal: jax.Array | None = None) -> EnvState:
    """`state` with the physics put at (qpos, qvel) (and the goal, if given); obs recomputed."""
    goal = state.goal if goal is None else jnp.asarray(goal, self.dtype)
    data = state.data.replace(qpos=jnp.asarray(qpos, self.dtype),
                              qvel=jnp.asarray(qvel, self.dtype))
    return state.replace(data=data, goal=goal, obs=self._observe(data, goal))


class MjxVecEnv(core.TaskSpaces):
  """`num_envs` MJX environments, vmapped and jitted; jax arrays in and out.

  `reset_fn`, `step_fn` and `set_state_fn` are the single-environment pure functions (see
  `MjxEnv`), for your own jit / vmap / scan; `reset`, `step`, `get_state` and `set_state` drive a
  batch held in `self.state`. Autoreset as in the module docstring.
  """

  backend = "mjx"

  def __init__(self, task: core.Task, num_envs: int = 1, seed: int = 0,
               opt: Mapping[str, Any] | None = None):
    if num_envs < 1:
      raise ValueError(f"num_envs={num_envs}: need at least one environment.")
    self.task = task
    self.num_envs = num_envs
    self.env = MjxEnv(task, opt)
    self.reset_fn = self.env.reset_fn
    self.step_fn = self.env.step_fn
    self.set_state_fn = self.env.set_state_fn
    self._reset = jax.jit(jax.vmap(self.env.reset_fn))
    self._step = jax.jit(jax.vmap(self.env.step_fn))
    self._set = jax.jit(jax.vmap(self.env.set_state_fn))
    self._key = jax.random.key(seed)
    self.state: EnvState | None = None

  def reset(self, seed: int | None = None) -> tuple[core.Obs, dict[str, jax.Array]]:
    """Resets all environments (reseeding first if `seed` is given); returns (obs, info).

    `info` has the keys `step` returns, evaluated at the reset state with a zero action.
    """
    if seed is not None:
      self._key = jax.random.key(seed)
    self._key, sub = jax.random.split(self._key)
    self.state = self._reset(jax.random.split(sub, self.num_envs))
    return self.state.obs, self.state.info

  def step(self, actions: Any) -> tuple[core.Obs, jax.Array, jax.Array, jax.Array, dict]:
    """Steps all environments with (num_envs, action_size) actions."""
    if self.state is None:
      self.reset()
    actions = jnp.asarray(actions, self.env.dtype).reshape(self.num_envs, self.task.action_size)
    self.state = s = self._step(self.state, actions)
    return s.obs, s.reward, s.terminated, s.truncated, s.info

  def get_state(self) -> tuple[jax.Array, jax.Array]:
    """Batched (qpos, qvel), shapes (num_envs, nq) and (num_envs, nv)."""
    if self.state is None:
      self.reset()
    return self.state.data.qpos, self.state.data.qvel

  @property
  def goal(self) -> jax.Array:
    if self.state is None:
      self.reset()
    return self.state.goal

  def set_state(self, qpos: Any, qvel: Any, goal: Any = None) -> core.Obs:
    """Puts every environment in the given state (rows, or one row broadcast); returns obs."""
    if self.state is None:
      self.reset()
    n, m, dtype = self.num_envs, self.env.mj_model, self.env.dtype
    qpos = jnp.broadcast_to(jnp.asarray(qpos, dtype), (n, m.nq))
    qvel = jnp.broadcast_to(jnp.asarray(qvel, dtype), (n, m.nv))
    if goal is not None:
      goal = jnp.broadcast_to(jnp.asarray(goal, dtype), (n, self.task.goal_size))
    self.state = self._set(self.state, qpos, qvel, goal)
    return self.state.obs

  def close(self) -> None:
    pass
