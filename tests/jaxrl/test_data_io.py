"""D4RL-layout HDF5 round trips, old D4RL files, Minari files, and one-line errors on bad input."""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from jaxrl import data
from jaxrl.data import DatasetError
from tests.jaxrl.test_data_dataset import synthetic


def _assert_same(a: data.OfflineDataset, b: data.OfflineDataset) -> None:
  assert a.arrays().keys() == b.arrays().keys()
  for k, v in a.arrays().items():
    w = b.arrays()[k]
    assert v.dtype == w.dtype, k
    np.testing.assert_array_equal(v, w, err_msg=k)


def test_round_trip_locomotion(tmp_path):
  ds = synthetic()
  path = str(tmp_path / "hopper.hdf5")
  data.write_hdf5(path, ds)
  with h5py.File(path, "r") as f:
    assert {"observations", "actions", "rewards", "terminals", "timeouts",
            "next_observations"} <= set(f.keys())
    assert f.attrs["env"] == "hopper" and f.attrs["level"] == "synthetic"
    assert f["terminals"].dtype == bool
  back = data.load(path)  # validated against the file's env attribute, hopper
  _assert_same(ds, back)
  assert (back.env, back.level, back.source) == ("hopper", "synthetic", path)
  assert data.sha256_file(path) == hashlib.sha256(open(path, "rb").read()).hexdigest()
  data.write_hdf5(str(tmp_path / "again.hdf5"), back)
  _assert_same(ds, data.read_hdf5(str(tmp_path / "again.hdf5")))


def test_round_trip_maze_infos(tmp_path):
  ds = synthetic(obs_dim=4, act_dim=2, env="pointmaze-umaze", maze=True)
  path = str(tmp_path / "maze.hdf5")
  data.write_hdf5(path, ds)
  with h5py.File(path, "r") as f:
    assert set(f["infos"].keys()) == {"goal", "qpos", "qvel"}
  back = data.load(path, env="pointmaze-umaze")
  _assert_same(ds, back)
  assert back.infos["qpos"].dtype == np.float64


def test_reads_the_behavior_generators_files(tmp_path):
  """Datasets the project generates (jaxrl.behavior) load and pass validation."""
  from jaxrl.behavior import maze, rollout  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  hop = rollout.collect("hopper", lambda o: rng.uniform(-1, 1, (len(o), 3)), 120, num_envs=2)
  for env, arrays in (("hopper", hop), ("pointmaze-umaze", maze.collect_maze("pointmaze-umaze",
                                                                             120, 2))):
    path = str(tmp_path / f"{env}.hdf5")
    data.write_hdf5(path, data.from_arrays(arrays, source=path, env=env, level="x"))
    ds = data.load(path)
    assert ds.env == env and len(ds) == 120
    for k, v in ds.arrays().items():
      np.testing.assert_array_equal(v, arrays[k], err_msg=k)
    # within an episode the next observation is the following row's observation
    inner = ~ds.ends[:-1]
    np.testing.assert_array_equal(ds.next_observations[:-1][inner], ds.observations[1:][inner])


def test_old_d4rl_file_without_next_observations(tmp_path):
  # episodes: rows 0-2 terminal, 3-4 timeout, 5-9 cut by the end of the file
  n = 10
  obs = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 11), np.float32)
  term, tout = np.zeros(n, bool), np.zeros(n, bool)
  term[2], tout[4] = True, True
  path = str(tmp_path / "d4rl_v0.hdf5")
  with h5py.File(path, "w") as f:
    f["observations"], f["actions"] = obs, np.zeros((n, 3), np.float32)
    f["rewards"], f["terminals"], f["timeouts"] = np.arange(n, dtype=np.float32), term, tout
    f["metadata/algorithm"] = b"SAC"  # D4RL's extra groups are ignored
  ds = data.load(path, env="hopper")
  assert ds.attrs["next_observations"] == "derived"
  kept = [0, 1, 2, 3, 5, 6, 7, 8]  # the last row of each truncated episode is dropped
  np.testing.assert_array_equal(ds.observations[:, 0], kept)
  np.testing.assert_array_equal(ds.rewards, kept)
  np.testing.assert_array_equal(ds.next_observations[:, 0], [1, 2, 2, 4, 6, 7, 8, 9])
  np.testing.assert_array_equal(ds.terminals, [0, 0, 1, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(ds.timeouts, [0, 0, 0, 1, 0, 0, 0, 1])
  np.testing.assert_array_equal(ds.episode_lengths(), [3, 1, 4])


# ------------------------------------------------------------------------------------ Minari
def _write_minari(root, dataset_id: str, episodes, dict_obs: bool = False) -> str:
  """A dataset in Minari's HDF5 on-disk layout (per-episode groups, T+1 observations)."""
  d = root / dataset_id / "data"
  d.mkdir(parents=True)
  (d / "metadata.json").write_text(json.dumps({
      "dataset_id": dataset_id, "data_format": "hdf5", "total_episodes": len(episodes),
      "env_spec": json.dumps({"id": "PointMaze_UMaze-v3" if dict_obs else "Hopper-v5"})}))
  with h5py.File(d / "main_data.hdf5", "w") as f:
    for i, ep in enumerate(episodes):
      g = f.create_group(f"episode_{i}")
      g.attrs["id"], g.attrs["total_steps"] = i, len(ep["rewards"])
      if dict_obs:
        for k, v in ep["observations"].items():
          g[f"observations/{k}"] = v
      else:
        g["observations"] = ep["observations"]
      for k in ("actions", "rewards", "terminations", "truncations"):
        g[k] = ep[k]
      for k, v in ep.get("infos", {}).items():
        g[f"infos/{k}"] = v
  return str(d / "main_data.hdf5")


def _minari_episode(rng, t, obs_dim, act_dim, end):
  return {"observations": rng.normal(size=(t + 1, obs_dim)).astype(np.float32),
          "actions": rng.uniform(-1, 1, (t, act_dim)), "rewards": rng.normal(size=t),
          "terminations": np.arange(t) == t - 1 if end == "terminal" else np.zeros(t, bool),
          "truncations": np.arange(t) == t - 1 if end == "timeout" else np.zeros(t, bool),
          "infos": {"success": np.zeros(t + 1, bool), "step": np.arange(t)}}


def test_minari_layout_read_directly(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  eps = [_minari_episode(rng, 4, 11, 3, "terminal"), _minari_episode(rng, 3, 11, 3, "timeout"),
         _minari_episode(rng, 2, 11, 3, "none")]
  path = _write_minari(tmp_path, "mujoco/hopper/medium-v0", eps)
  monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
  for source in (path, str(tmp_path / "mujoco/hopper/medium-v0")):
    ds = data.load(source)
    assert ds.env == "hopper" and ds.level == "medium-v0" and ds.attrs["format"] == "minari"
    np.testing.assert_array_equal(ds.episode_lengths(), [4, 3, 2])
    np.testing.assert_array_equal(ds.observations[4:7], eps[1]["observations"][:3])
    np.testing.assert_array_equal(ds.next_observations[4:7], eps[1]["observations"][1:])
    np.testing.assert_array_equal(ds.terminals, np.eye(9, dtype=bool)[3])
    np.testing.assert_array_equal(ds.timeouts, np.eye(9, dtype=bool)[6] | np.eye(9, dtype=bool)[8])
    np.testing.assert_array_equal(ds.infos["step"], [0, 1, 2, 3, 0, 1, 2, 0, 1])
    assert ds.infos["success"].shape == (9,)
  by_id = data.read_minari("mujoco/hopper/medium-v0", use_package=False)
  _assert_same(by_id, data.load(path))


def test_minari_dict_observations(tmp_path):
  rng = np.random.default_rng(1)
  eps = []
  for t in (3, 2):
    obs = {"observation": rng.normal(size=(t + 1, 4)).astype(np.float32),
           "achieved_goal": rng.normal(size=(t + 1, 2)),
           "desired_goal": rng.normal(size=(t + 1, 2))}
    eps.append({"observations": obs, "actions": rng.uniform(-1, 1, (t, 2)),
                "rewards": np.zeros(t), "terminations": np.zeros(t, bool),
                "truncations": np.arange(t) == t - 1})
  path = _write_minari(tmp_path, "D4RL/pointmaze/umaze-v2", eps, dict_obs=True)
  ds = data.load(path)
  assert ds.env == "pointmaze-umaze" and ds.observation_size == 4
  np.testing.assert_array_equal(ds.infos["goal"][3:], eps[1]["observations"]["desired_goal"][:2])


def test_minari_package(tmp_path, monkeypatch):
  minari = pytest.importorskip("minari", reason="minari is not installed; its on-disk layout is "
                                                "tested above without it")
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
  env = minari.DataCollector(gym.make("Pendulum-v1", max_episode_steps=5))
  for seed in range(2):
    env.reset(seed=seed)
    for _ in range(5):
      env.step(env.action_space.sample())
  ref = env.create_dataset(dataset_id="pendulum-test-v0")
  ds = data.read_minari("pendulum-test-v0", check=False)
  eps = list(ref.iterate_episodes())
  np.testing.assert_allclose(ds.observations, np.concatenate([e.observations[:-1] for e in eps]),
                             rtol=1e-6)
  np.testing.assert_allclose(ds.rewards, np.concatenate([e.rewards for e in eps]), rtol=1e-6)
  assert ds.num_episodes == len(eps)


# ------------------------------------------------------------------------------------ bad input
def _write_raw(path, arrays):
  with h5py.File(path, "w") as f:
    for k, v in arrays.items():
      f[k] = v


def _bad(case: str) -> tuple[dict, str, str]:
  """(arrays, env, words the error must contain) for one kind of bad file."""
  a = synthetic().arrays()
  env = "hopper"
  if case == "missing":
    del a["rewards"]
    return a, env, "missing 'rewards'"
  if case == "length":
    a["rewards"] = a["rewards"][:-1]
    return a, env, "'rewards' has 18 rows but 'observations' has 19"
  if case == "nan":
    a["observations"][3, 2] = np.nan
    return a, env, "'observations' contains 1 non-finite value(s) (NaN), first at row 3"
  if case == "inf":
    a["rewards"][7] = np.inf
    return a, env, "'rewards' contains 1 non-finite value(s) (Inf), first at row 7"
  if case == "obs_size":
    a["observations"], a["next_observations"] = a["observations"][:, :10], \
        a["next_observations"][:, :10]
    return a, env, "observations have size 10 but hopper observations have size 11"
  if case == "act_size":
    return a, "halfcheetah", "observations have size 11 but halfcheetah"
  if case == "act_size2":
    a["actions"] = np.zeros((19, 4), np.float32)
    return a, env, "actions have size 4 but hopper actions have size 3"
  if case == "bounds":
    a["actions"][5, 1] = 1.5
    return a, env, "1 actions lie outside hopper's bounds, first at row 5: column 1 is 1.5"
  if case == "maze_obs":
    return a, "pointmaze-medium", "have size 4 or 6"
  raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "length", "nan", "inf", "obs_size", "act_size",
                                  "act_size2", "bounds", "maze_obs"])
def test_bad_input_gives_one_line_naming_the_file(tmp_path, case):
  arrays, env, words = _bad(case)
  path = str(tmp_path / f"{case}.hdf5")
  _write_raw(path, arrays)
  with pytest.raises(DatasetError) as e:
    data.load(path, env=env)
  msg = str(e.value)
  assert isinstance(e.value, ValueError)
  assert "\n" not in msg and msg.startswith(f"dataset {path}: "), msg
  assert words in msg, msg


def test_bad_paths(tmp_path):
  junk = tmp_path / "junk.hdf5"
  junk.write_bytes(b"not hdf5")
  for source, words in ((str(junk), "not a readable HDF5 file"),
                        (str(tmp_path / "absent"), "no Minari dataset here"),
                        (str(tmp_path / "absent.hdf5"), "no such file")):
    with pytest.raises(DatasetError) as e:
      data.load(source)
    assert "\n" not in str(e.value) and source in str(e.value) and words in str(e.value)
  with pytest.raises(DatasetError, match="no such file"):
    data.read_hdf5(str(tmp_path / "absent.hdf5"))
  with pytest.raises(DatasetError, match="unknown environment 'ant'"):
    data.validate(synthetic(), env="ant")
