"""Native backend: parity with Gymnasium / Gymnasium-Robotics, batching, time limits, errors."""

from __future__ import annotations

import numpy as np
import pytest

import jaxrl.envs as envs
from tests.jaxrl import envs_reference as ref

NAMES = list(envs.TASKS)
LOCOMOTION = ["hopper", "halfcheetah", "walker2d"]
MAZES = ["pointmaze-umaze", "pointmaze-medium", "pointmaze-large"]
ATOL = 1e-6  # native == Gymnasium; in practice they agree bit for bit (same MjData, same calls)


def _run_ours(name, start, actions, **kwargs):
  env = envs.make(name, backend="native", num_envs=1, **kwargs)
  env.reset(seed=0)
  env.set_state(start["qpos"], start["qvel"], start["goal"] if start["goal"].size else None)
  out = {"obs": [], "reward": [], "terminated": [], "truncated": [], "success": []}
  for a in actions:
    _, reward, terminated, truncated, info = env.step(a[None])
    out["obs"].append(ref.flat(info["final_obs"])[0])
    out["reward"].append(reward[0])
    out["terminated"].append(terminated[0])
    out["truncated"].append(truncated[0])
    out["success"].append(info["success"][0] if "success" in info else False)
    if terminated[0] or truncated[0]:
      break
  return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_native_matches_gymnasium(name, seed):
  # 1.5x the action range: ctrl clamping (MuJoCo) and action clipping (PointMaze) are exercised too.
  actions = 1.5 * ref.random_actions(name, 100, seed)[0]
  want = ref.reference_rollout(name, seed, actions)
  got = _run_ours(name, want, actions)
  assert len(got["reward"]) == len(want["reward"])
  np.testing.assert_allclose(got["obs"], want["obs"], rtol=0, atol=ATOL)
  np.testing.assert_allclose(got["reward"], want["reward"], rtol=0, atol=ATOL)
  np.testing.assert_array_equal(got["terminated"], want["terminated"])
  np.testing.assert_array_equal(got["truncated"], want["truncated"])
  np.testing.assert_array_equal(got["success"], want["success"])


@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
@pytest.mark.parametrize("continuing_task", [True, False])
def test_pointmaze_goal_reached_matches(reward_type, continuing_task):
  """Start inside the goal cell, so success, sparse reward and episodic termination all fire."""
  kw = dict(reward_type=reward_type, continuing_task=continuing_task)
  gym_env = ref.make_reference("pointmaze-medium", **kw)
  gym_env.reset(seed=3)
  u = gym_env.unwrapped
  goal = u.goal.copy()
  cells = envs.make_task("pointmaze-medium").free_cells
  qpos = cells[np.linalg.norm(cells - goal, axis=-1).argmin()]  # the goal's cell centre, <= 0.36 off
  u.point_env.set_state(qpos, np.zeros(2))
  env = envs.make("pointmaze-medium", backend="native", num_envs=1, **kw)
  env.reset(seed=0)
  env.set_state(qpos, np.zeros(2), goal)
  rng = np.random.default_rng(0)
  rewards, successes = [], []
  for _ in range(20):
    a = rng.uniform(-0.3, 0.3, size=2)
    obs, reward, terminated, truncated, info = gym_env.step(a)
    _, reward2, terminated2, truncated2, info2 = env.step(a[None])
    np.testing.assert_allclose(ref.flat(info2["final_obs"])[0], ref.flat(obs), atol=ATOL, rtol=0)
    np.testing.assert_allclose(reward2[0], reward, atol=ATOL, rtol=0)
    assert (terminated2[0], truncated2[0], info2["success"][0]) == (
        terminated, truncated, info["success"])
    rewards.append(reward)
    successes.append(info["success"])
    if terminated:
      break
  assert successes[0]
  assert terminated == (not continuing_task)
  if reward_type == "sparse":
    assert rewards[0] == 1.0


@pytest.mark.parametrize("name,kwargs", [("hopper", dict(terminate_when_unhealthy=False)),
                                         ("pointmaze-medium", {})])
def test_batched_equals_sequential(name, kwargs):
  n, horizon = 4, 60
  batched = envs.make(name, backend="native", num_envs=n, seed=5, num_threads=2, **kwargs)
  batched.reset()
  qpos, qvel = batched.get_state()
  goal = batched.goal
  singles = []
  for i in range(n):
    e = envs.make(name, backend="native", num_envs=1, **kwargs)
    e.reset()
    e.set_state(qpos[i], qvel[i], goal[i] if goal.size else None)
    singles.append(e)
  actions = np.random.default_rng(1).uniform(-1, 1, size=(horizon, n, batched.action_size))
  for a in actions:
    obs, reward, terminated, _, _ = batched.step(a)
    for i, e in enumerate(singles):
      obs_i, reward_i, terminated_i, _, _ = e.step(a[i:i + 1])
      np.testing.assert_array_equal(ref.flat(obs)[i], ref.flat(obs_i)[0])
      assert reward[i] == reward_i[0] and terminated[i] == terminated_i[0]


@pytest.mark.parametrize("name,limit", [("halfcheetah", 1000), ("pointmaze-umaze", 300)])
def test_time_limit_truncates_and_resets(name, limit):
  env = envs.make(name, backend="native", num_envs=2, seed=0)
  _, reset_info = env.reset()
  zeros = np.zeros((2, env.action_size))
  for _ in range(limit - 1):
    _, _, terminated, truncated, info = env.step(zeros)
    assert not truncated.any() and not terminated.any()
  assert set(info) == set(reset_info)
  assert (env.steps == limit - 1).all()
  obs, _, terminated, truncated, info = env.step(zeros)
  assert truncated.all() and not terminated.any()
  assert (env.steps == 0).all()
  assert not np.allclose(ref.flat(obs), ref.flat(info["final_obs"]))
  fresh = env.task.observe(*env.get_state(), env.goal, np)
  np.testing.assert_array_equal(ref.flat(obs), ref.flat(fresh))


def test_hopper_termination_autoresets():
  env = envs.make("hopper", backend="native", num_envs=8, seed=0)
  env.reset()
  rng = np.random.default_rng(0)
  for _ in range(200):
    obs, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, size=(8, 3)))
    if terminated.any():
      break
  assert terminated.any() and not truncated.any()
  i = int(np.flatnonzero(terminated)[0])
  final = info["final_obs"][i]
  assert not (final[0] > 0.7 and abs(final[1]) < 0.2)  # the unhealthy state it reached
  np.testing.assert_allclose(obs[i][:5], [1.25, 0, 0, 0, 0], atol=5e-3)  # a fresh reset
  assert env.steps[i] == 0


def test_reset_distributions():
  rng = np.random.default_rng(0)
  hopper = envs.make_task("hopper")
  qpos, qvel, _ = hopper.sample_init_np(rng, 10_000)
  assert np.abs(qpos - hopper.init_qpos).max() <= 5e-3 and np.abs(qvel).max() <= 5e-3
  cheetah = envs.make_task("halfcheetah")
  _, qvel, _ = cheetah.sample_init_np(rng, 10_000)
  np.testing.assert_allclose(qvel.std(), 0.1, rtol=0.02)  # Gaussian velocity noise
  maze = envs.make_task("pointmaze-large")
  qpos, qvel, goal = maze.sample_init_np(rng, 10_000)
  cells = maze.free_cells
  dist = lambda p: np.abs(p[:, None] - cells[None]).max(-1).min(-1)  # noqa: E731
  assert dist(qpos).max() <= 0.25 and dist(goal).max() <= 0.25 and not qvel.any()
  start_cell = cells[np.abs(qpos[:, None] - cells[None]).max(-1).argmin(-1)]
  assert (np.linalg.norm(start_cell - goal, axis=-1) > 0.5).all()


def test_spaces_match_gymnasium():
  for name in NAMES:
    env = envs.make(name, backend="native")
    gym_env = ref.make_reference(name)
    np.testing.assert_array_equal(env.action_low, gym_env.action_space.low)
    np.testing.assert_array_equal(env.action_high, gym_env.action_space.high)
    assert env.action_size == gym_env.action_space.shape[0]
    space = gym_env.observation_space
    if name in MAZES:
      assert env.observation_size == {k: space[k].shape[0] for k in space.spaces}
    else:
      assert env.observation_size == space.shape[0]
  assert envs.make("pointmaze-umaze", goal_obs="flat").observation_size == 6


def test_unknown_names_raise_one_line():
  with pytest.raises(ValueError, match=r"valid choices: hopper, halfcheetah, walker2d, "
                     r"pointmaze-umaze, pointmaze-medium, pointmaze-large") as e:
    envs.make("hopper-v5")
  assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match=r"Unknown backend 'brax'; valid choices: native, mjx"):
    envs.make("hopper", backend="brax")
  with pytest.raises(ValueError, match="reward_type"):
    envs.make("pointmaze-umaze", reward_type="shaped")
  with pytest.raises(ValueError, match="Bad option for environment 'hopper'"):
    envs.make("hopper", reward_type="dense")


@pytest.mark.parametrize("name", ["hopper", "halfcheetah", "walker2d", "pointmaze-medium"])
def test_state_dict_round_trip_continues_bit_for_bit(name):
  """A fresh batch loaded from a mid-episode state_dict steps exactly as the original does,
  through terminations, time limits and resets (warm start, step counters, Generator)."""
  kw = {"max_episode_steps": 90}
  env = envs.make(name, backend="native", num_envs=3, seed=1, **kw)
  env.reset()
  rng = np.random.default_rng(0)
  actions = rng.uniform(-1, 1, size=(300, 3, env.action_size))
  for a in actions[:57]:
    env.step(a)
  saved = env.state_dict()
  other = envs.make(name, backend="native", num_envs=3, seed=9, **kw)
  other.reset()
  other.step(actions[0])
  other.load_state_dict(saved)
  ends = 0
  for a in actions[57:]:
    got, want = other.step(a), env.step(a)
    for g, w in zip(got[:4], want[:4]):
      np.testing.assert_array_equal(ref.flat(g), ref.flat(w))
    np.testing.assert_array_equal(ref.flat(got[4]["final_obs"]), ref.flat(want[4]["final_obs"]))
    ends += int(np.sum(want[2] | want[3]))
  assert ends >= 3   # resets happened after the restore
  for k, v in env.state_dict().items():
    if k == "rng":
      assert other.state_dict()[k] == v
    else:
      np.testing.assert_array_equal(other.state_dict()[k], v)


def test_state_dict_needs_the_physics_state():
  """qpos/qvel alone (Gymnasium's set_state) lose the solver's warm start: hopper drifts."""
  env = envs.make("hopper", backend="native", num_envs=3, seed=1)
  env.reset()
  actions = np.random.default_rng(0).uniform(-1, 1, size=(600, 3, 3))
  for a in actions[:57]:
    env.step(a)
  saved = env.state_dict()
  partial = envs.make("hopper", backend="native", num_envs=3, seed=1)
  partial.reset()
  partial.load_state_dict(saved)
  partial.set_state(saved["qpos"], saved["qvel"])   # as if only qpos/qvel had been restored
  for d in partial.datas:
    d.qacc_warmstart[:] = 0
  drift = max(np.abs(env.step(a)[0] - partial.step(a)[0]).max() for a in actions[57:])
  assert drift > 0
  with pytest.raises(ValueError, match="restore into the same task and num_envs"):
    envs.make("hopper", backend="native", num_envs=2).load_state_dict(saved)
