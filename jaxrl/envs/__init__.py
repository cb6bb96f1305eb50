"""MuJoCo environments on two backends behind one interface.

  env = jaxrl.envs.make("hopper", backend="native", num_envs=64, seed=0)
  obs, info = env.reset()
  obs, reward, terminated, truncated, info = env.step(actions)   # actions: (num_envs, action_size)

Environments (Gymnasium / Gymnasium-Robotics semantics, see each module's docstring):
  hopper, halfcheetah, walker2d                        Hopper-v5, HalfCheetah-v5, Walker2d-v5
  pointmaze-umaze, pointmaze-medium, pointmaze-large   PointMaze_{UMaze,Medium,Large}-v3 (D4RL maze2d)

Backends:
  native  MuJoCo's C engine on the host, one MjData per environment (bit-identical to
          Gymnasium), stepped by a thread pool in one chunk per thread with the GIL released;
          numpy float64 in and out (`NativeVecEnv`).
  mjx     MuJoCo XLA: pure `reset_fn(key)` / `step_fn(state, action)` over an `EnvState` pytree to
          jit / vmap / scan yourself, plus the batched `reset` / `step` returning jax arrays (float32
          unless jax_enable_x64) (`MjxVecEnv`).

Both backends autoreset on the same step: a finished environment returns its last transition's
reward / terminated / truncated with the observation of a fresh episode, and `info["final_obs"]`
holds the observation the transition reached. Both have `observation_size`, `action_size`,
`action_low` / `action_high`, `get_state() -> (qpos, qvel)` and `set_state(qpos, qvel[, goal])`.
Keyword arguments of `make` beyond the backend's own override the task's settings (for example
`terminate_when_unhealthy=False`, `max_episode_steps=500`, `reward_type="dense"`,
`goal_obs="flat"`).
"""

from __future__ import annotations

from typing import Any, Callable

from jaxrl.envs import core
from jaxrl.envs import locomotion
from jaxrl.envs import pointmaze
from jaxrl.envs.core import Task

TASKS: dict[str, Callable[..., Task]] = {
    "hopper": locomotion.hopper,
    "halfcheetah": locomotion.halfcheetah,
    "walker2d": locomotion.walker2d,
    "pointmaze-umaze": lambda **kw: pointmaze.pointmaze("umaze", **kw),
    "pointmaze-medium": lambda **kw: pointmaze.pointmaze("medium", **kw),
    "pointmaze-large": lambda **kw: pointmaze.pointmaze("large", **kw),
}
BACKENDS = ("native", "mjx")


def make_task(name: str, **overrides: Any) -> Task:
  """The backend-independent definition of environment `name`."""
  if name not in TASKS:
    raise ValueError(f"Unknown environment {name!r}; valid choices: {', '.join(TASKS)}.")
  try:
    return TASKS[name](**overrides)
  except TypeError as e:
    raise ValueError(f"Bad option for environment {name!r}: {e}") from None


def make(name: str, backend: str = "native", num_envs: int = 1, seed: int = 0,
         num_threads: int | None = None, mjx_opt: dict[str, Any] | None = None,
         **overrides: Any):
  """A batch of `num_envs` environments `name` on `backend` ("native" or "mjx").

  `num_threads` (native only) sizes the rollout thread pool (default: min(num_envs, CPU count)).
  `mjx_opt` (mjx only) overrides MuJoCo options such as solver iterations (see
  `mjx_env.DEFAULT_OPT`).
  Other keyword arguments override the task's settings. Call `reset()` before the first `step`.
  """
  if backend not in BACKENDS:
    raise ValueError(f"Unknown backend {backend!r}; valid choices: {', '.join(BACKENDS)}.")
  task = make_task(name, **overrides)
  if backend == "native":
    if mjx_opt is not None:
      raise ValueError("mjx_opt applies to backend='mjx' only; drop it for the native backend.")
    from jaxrl.envs import native  # pylint: disable=g-import-not-at-top
    return native.NativeVecEnv(task, num_envs=num_envs, seed=seed, num_threads=num_threads)
  from jaxrl.envs import mjx_env  # pylint: disable=g-import-not-at-top
  return mjx_env.MjxVecEnv(task, num_envs=num_envs, seed=seed, opt=mjx_opt)


__all__ = ["BACKENDS", "TASKS", "Task", "core", "make", "make_task"]
