"""MJX backend: float32 parity with Gymnasium over short horizons, in one jitted scan rollout.

Tolerance: the MJX backend runs float32 physics, Gymnasium float64. Over the first HORIZON = 20
environment steps (80 physics substeps for Hopper) observations and rewards agree to
|ours - gym| <= TOL * (1 + |gym|) with TOL = 1e-4 (measured: ~1e-5 worst case); termination,
truncation and success flags agree exactly. HalfCheetah amplifies float32 round-off fastest (2e-3
after 20 steps), so its TOL is 5e-3; under jax_enable_x64 the same code follows Gymnasium to ~1e-11
there, so this is precision, not a difference in the model.

Compiling an MJX step costs tens of CPU-seconds per model (Hopper's RK4 step holds four forward
passes), so by default this file compiles Hopper (RK4, contacts, termination) and PointMaze UMaze
(walls, goals); set JAXRL_TEST_ALL_MJX=1 to also run HalfCheetah and Walker2d.
"""

from __future__ import annotations

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs as envs
from tests.jaxrl import envs_reference as ref

HORIZON = 20
NUM_ENVS = 3
TOL = {"hopper": 1e-4, "pointmaze-umaze": 1e-4, "halfcheetah": 5e-3, "walker2d": 1e-4}
_ALL = os.environ.get("JAXRL_TEST_ALL_MJX") == "1"
_expensive = pytest.mark.skipif(not _ALL, reason="set JAXRL_TEST_ALL_MJX=1 (long MJX compile)")
PARITY = [
    "hopper", "pointmaze-umaze",
    pytest.param("halfcheetah", marks=_expensive), pytest.param("walker2d", marks=_expensive),
]


# Cheaper LLVM codegen: about halves the CPU compile time of an MJX step, same results.
COMPILER_OPTIONS = {"xla_llvm_disable_expensive_passes": True}


def make_rollout(env, name):
  """jit(scan(vmap(step_fn))), allowed to trace once: per step (final_obs, reward, flags, ...)."""

  def rollout(state, actions):  # actions: (T, num_envs, action_size)
    def body(s, a):
      s = jax.vmap(env.step_fn)(s, a)
      return s, (s.info["final_obs"], s.obs, s.reward, s.terminated, s.truncated, s.steps,
                 s.info.get("success", s.terminated))
    return jax.lax.scan(body, state, actions)

  rollout.__name__ = f"rollout_{name}"  # chex counts traces per name and source
  return jax.jit(chex.assert_max_traces(rollout, n=1), compiler_options=COMPILER_OPTIONS)


@pytest.fixture(scope="module")
def compiled():
  """One env and one compiled rollout per environment name, shared by the tests below."""
  cache = {}

  def get(name):
    if name not in cache:
      env = envs.make(name, backend="mjx", num_envs=NUM_ENVS, seed=0)
      cache[name] = (env, make_rollout(env, name))
    return cache[name]

  return get


def _start_states(name):
  """Gymnasium reset states for seeds 0..NUM_ENVS-1; Hopper's last one tips over within steps."""
  starts = [ref.reference_rollout(name, seed, np.zeros((0, 1))) for seed in range(NUM_ENVS)]
  if name == "hopper":
    starts[-1]["qpos"][2] = 0.15  # torso angle close to the 0.2 limit ...
    starts[-1]["qvel"][2] = 2.0  # ... and turning towards it
  return starts


@pytest.mark.parametrize("name", PARITY)
def test_mjx_matches_gymnasium(name, compiled):
  env, rollout = compiled(name)
  starts = _start_states(name)
  actions = ref.random_actions(name, HORIZON, seed=7, num_envs=NUM_ENVS)
  wants = [ref.reference_rollout(name, i, actions[i], start=starts[i]) for i in range(NUM_ENVS)]

  state = jax.vmap(env.reset_fn)(jax.random.split(jax.random.key(0), NUM_ENVS))
  stack = lambda k: jnp.asarray(np.stack([s[k] for s in starts]))  # noqa: E731
  goal = stack("goal") if env.task.goal_size else None
  state = jax.vmap(env.set_state_fn)(state, stack("qpos"), stack("qvel"), goal)
  _, (final_obs, obs, reward, terminated, truncated, steps, success) = rollout(
      state, jnp.asarray(actions).swapaxes(0, 1))
  final_obs = np.asarray(ref.flat(jax.tree.map(np.asarray, final_obs)))

  ended = False
  for i, want in enumerate(wants):
    n = len(want["reward"])
    tol = TOL[name]
    np.testing.assert_allclose(final_obs[:n, i], want["obs"], rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(reward)[:n, i], want["reward"], rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.asarray(terminated)[:n, i], want["terminated"])
    np.testing.assert_array_equal(np.asarray(truncated)[:n, i], want["truncated"])
    if name.startswith("pointmaze"):
      np.testing.assert_array_equal(np.asarray(success)[:n, i], want["success"])
    if n < HORIZON:  # the episode ended: autoreset to a fresh episode on the same step
      ended = True
      assert int(steps[n - 1, i]) == 0 and int(steps[n, i]) == 1
      fresh = np.asarray(ref.flat(jax.tree.map(lambda x: np.asarray(x)[n - 1, i], obs)))
      assert not np.allclose(fresh, final_obs[n - 1, i])
      if name == "hopper":
        np.testing.assert_allclose(fresh[:5], [1.25, 0, 0, 0, 0], atol=5e-3)
  if name == "hopper":
    assert ended  # the third start state tips over
  if name.startswith("pointmaze"):
    assert not ended  # continuing task, no time limit within HORIZON
  # Same shapes again: no retrace (assert_max_traces would raise).
  rollout(state, jnp.asarray(actions).swapaxes(0, 1) * 0.5)


def test_mjx_time_limit_truncates_and_resets(compiled):
  env, rollout = compiled("pointmaze-umaze")
  state = jax.vmap(env.reset_fn)(jax.random.split(jax.random.key(1), NUM_ENVS))
  limit = env.task.max_episode_steps
  assert limit == 300
  state = state.replace(steps=jnp.full((NUM_ENVS,), limit - 2, jnp.int32))
  zeros = jnp.zeros((HORIZON, NUM_ENVS, env.action_size))
  _, (_, _, _, terminated, truncated, steps, _) = rollout(state, zeros)
  assert not np.asarray(truncated[0]).any() and np.asarray(truncated[1]).all()
  assert not np.asarray(terminated).any() and not np.asarray(truncated[2:]).any()
  np.testing.assert_array_equal(np.asarray(steps[:3, 0]), [limit - 1, 0, 1])


def test_mjx_batched_interface(compiled):
  env, _ = compiled("pointmaze-umaze")
  obs, info = env.reset(seed=3)
  assert obs["observation"].shape == (NUM_ENVS, 4) and obs["desired_goal"].shape == (NUM_ENVS, 2)
  assert env.observation_size == {"observation": 4, "achieved_goal": 2, "desired_goal": 2}
  assert env.action_size == 2 and (env.action_high == 1).all() and (env.action_low == -1).all()
  qpos, qvel = env.get_state()
  assert qpos.shape == (NUM_ENVS, 2) and not np.asarray(qvel).any()
  goal = np.asarray(env.goal)
  obs = env.set_state(goal, jnp.zeros(2))  # every ball on its goal: sparse reward 1
  np.testing.assert_allclose(np.asarray(obs["achieved_goal"]), goal)
  obs, reward, terminated, truncated, info = env.step(jnp.zeros((NUM_ENVS, 2)))
  np.testing.assert_array_equal(np.asarray(reward), 1.0)
  assert np.asarray(info["success"]).all() and not np.asarray(terminated | truncated).any()
  assert jax.tree.structure(info) == jax.tree.structure(env.state.info)


def test_mjx_solver_options():
  """The MJX backend caps the Newton solver at DEFAULT_OPT; `mjx_opt` overrides or restores it."""
  default = envs.make("hopper", backend="mjx")
  assert (default.env.mj_model.opt.iterations, default.env.mj_model.opt.ls_iterations) == (4, 8)
  mjcf = envs.make("hopper", backend="mjx", mjx_opt={})
  assert (mjcf.env.mj_model.opt.iterations, mjcf.env.mj_model.opt.ls_iterations) == (100, 50)
  with pytest.raises(ValueError, match="not a mujoco.MjOption field"):
    envs.make("hopper", backend="mjx", mjx_opt={"iteration": 3})
  with pytest.raises(ValueError, match="backend='mjx' only"):
    envs.make("hopper", backend="native", mjx_opt={"iterations": 3})
