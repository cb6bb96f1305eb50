"""Dataset generation: the runner at tiny sizes, the D4RL layout, a killed build resuming its
behaviour SAC to the same bytes, and the maze controller."""
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from jaxrl.behavior import maze
from jaxrl.data import io
from jaxrl.envs import pointmaze

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def _check_layout(f, obs_dim, act_dim):
  n = len(f["rewards"])
  assert all(k in f for k in KEYS)
  for k in KEYS:
    assert len(f[k]) == n, k
  assert f["observations"].shape == (n, obs_dim) and f["actions"].shape == (n, act_dim)
  assert f["terminals"].dtype == bool and f["timeouts"].dtype == bool
  term, tout = f["terminals"][()], f["timeouts"][()]
  assert not np.any(term & tout) and (term[-1] or tout[-1])
  # within an episode, the next observation is the following row's observation
  ends = term | tout
  obs, nxt = f["observations"][()], f["next_observations"][()]
  np.testing.assert_array_equal(nxt[:-1][~ends[:-1]], obs[1:][~ends[:-1]])
  return n, int(ends.sum())


def _command(workdir, cache, *extra):
  env = dict(os.environ, JAXRL_DATA_DIR=str(cache), JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  cmd = [sys.executable, "-m", "experiments.main",
         "--config", "experiments/configs/datasets.py:smoke", "--workdir", str(workdir),
         "--config.level=medium-expert", "--config.dataset.size=600",
         "--config.dataset.num_envs=4", "--config.sac.num_env_steps=400",
         "--config.sac.start_steps=200", "--config.sac.snapshot_every=100",
         "--config.sac.eval_episodes=2", "--config.sac.hidden_dim=32",
         "--config.sac.batch_size=64", *extra]
  return cmd, env


@pytest.fixture(scope="module")
def medium_expert(tmp_path_factory):
  """The uninterrupted tiny medium-expert build: (tmp dir, cmd, env, stdout)."""
  tmp_path = tmp_path_factory.mktemp("datasets")
  cmd, env = _command(tmp_path / "ds", tmp_path / "cache")
  out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
  return tmp_path, cmd, env, out


def test_runner_tiny_medium_expert(medium_expert):
  tmp_path, cmd, env, out = medium_expert
  workdir = tmp_path / "ds"
  assert out.returncode == 0, out.stderr[-3000:]
  assert "hopper-medium-expert" in out.stdout
  path = workdir / "dataset.hdf5"
  manifest = json.loads((workdir / "manifest.json").read_text())
  assert manifest["sha256"] == io.sha256_file(str(path))
  with h5py.File(path, "r") as f:
    n, episodes = _check_layout(f, 11, 3)
  assert n == manifest["transitions"] == 1200 and episodes == manifest["episodes"]
  assert manifest["env"] == "hopper" and manifest["level"] == "medium-expert"
  assert np.isfinite(manifest["normalized_score"])
  # the SAC run and both halves were cached; a rerun reuses them
  cache = tmp_path / "cache"
  assert len(list((cache / "behavior" / "hopper").iterdir())) == 1
  assert len(list((cache / "datasets").iterdir())) == 3
  out2 = subprocess.run(cmd + ["--config.level=medium-replay"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=240)
  assert out2.returncode == 0, out2.stderr[-3000:]
  assert "reusing SAC behaviour policies" in out2.stdout
  with h5py.File(workdir / "dataset.hdf5", "r") as f:
    n, _ = _check_layout(f, 11, 3)
  medium_steps = json.loads((workdir / "manifest.json").read_text())["policy_env_steps"]
  assert n == medium_steps  # the replay buffer up to the medium snapshot (one env)


def test_killed_build_resumes_its_sac_run_to_the_same_dataset(tmp_path, medium_expert):
  """SIGKILL during the behaviour SAC (after its first checkpoint); the rerun resumes it and
  writes the bytes of the uninterrupted build."""
  cmd, env = _command(tmp_path / "ds", tmp_path / "cache", "--config.level=medium",
                      "--config.sac.checkpoint_every=100", "--config.sac.log_every=100")
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  behavior = tmp_path / "cache" / "behavior" / "hopper"
  deadline = time.time() + 200
  while (not list(behavior.glob("sac-*/checkpoints/100")) and proc.poll() is None
         and time.time() < deadline):
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait(timeout=60) == -signal.SIGKILL
  assert not list(behavior.glob("sac-*/snapshots.json"))  # killed mid-run
  out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "[behavior_sac] resumed from" in out.stdout
  got = json.loads((tmp_path / "ds" / "manifest.json").read_text())
  # the uninterrupted medium-expert build made this medium dataset (same settings) as its half
  name = os.path.basename(os.path.dirname(got["cache"]))
  want = json.loads((medium_expert[0] / "cache" / "datasets" / name / "manifest.json").read_text())
  assert got["sha256"] == want["sha256"] and got["policy_env_steps"] == want["policy_env_steps"]


def test_bfs_next_hop_umaze():
  task = pointmaze.pointmaze("umaze")
  ij, _ = maze.grid_cells(task)
  hop = maze.next_hop_table(task)
  idx = {tuple(c): k for k, c in enumerate(ij)}
  # from the top-left cell to the bottom-left one the path goes right around the U
  path, cur = [], idx[(1, 1)]
  while cur != idx[(3, 1)]:
    cur = hop[cur, idx[(3, 1)]]
    path.append(tuple(ij[cur]))
  assert path == [(1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]


def test_controller_reaches_goals_umaze(tmp_path):
  data = maze.collect_maze("pointmaze-umaze", 3000, num_envs=4, seed=0)
  assert maze.goals_reached(data) >= 20
  assert data["rewards"].sum() >= 20 and not data["terminals"].any()
  assert {"infos/goal", "infos/qpos", "infos/qvel"} <= set(data)
  np.testing.assert_allclose(data["observations"][:, :2], data["infos/qpos"], atol=1e-6)
  # every episode (300 steps) reaches at least one goal
  ends = np.flatnonzero(data["timeouts"])
  starts = np.concatenate([[0], ends[:-1] + 1])
  for s, e in zip(starts, ends):
    g = data["infos/goal"][s:e + 1]
    assert np.any(np.any(g[1:] != g[:-1], axis=-1)), (s, e)
  path = io.write_hdf5(str(tmp_path / "m.hdf5"), io.from_arrays(data, env="pointmaze-umaze"))
  with h5py.File(path, "r") as f:
    _check_layout(f, 4, 2)
    assert f["infos/goal"].shape == (3000, 2)
