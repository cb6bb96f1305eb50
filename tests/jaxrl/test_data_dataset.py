"""OfflineDataset: episode bookkeeping, Monte-Carlo returns-to-go, normalisation."""
from __future__ import annotations

import numpy as np
import pytest

from jaxrl.data import Normalizer, OfflineDataset, normalized_returns_to_go

# episode lengths and how each ends: terminal, timeout, or cut by the end of the data
EPISODES = ((5, "terminal"), (3, "timeout"), (7, "terminal"), (4, "end"))


def synthetic(obs_dim: int = 11, act_dim: int = 3, episodes=EPISODES, seed: int = 0,
              env: str = "hopper", maze: bool = False) -> OfflineDataset:
  """A small hopper-shaped (or maze2d-shaped) dataset with known episode structure."""
  rng = np.random.default_rng(seed)
  n = sum(length for length, _ in episodes)
  term, tout = np.zeros(n, bool), np.zeros(n, bool)
  t = 0
  for length, how in episodes:
    t += length
    if how == "terminal":
      term[t - 1] = True
    elif how == "timeout":
      tout[t - 1] = True
  obs = rng.normal(size=(n, obs_dim)).astype(np.float32)
  nxt = np.roll(obs, -1, axis=0)
  infos = {}
  if maze:
    infos = {"goal": rng.normal(size=(n, 2)), "qpos": obs[:, :2].astype(np.float64),
             "qvel": obs[:, 2:4].astype(np.float64)}
  return OfflineDataset(
      observations=obs, actions=rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
      rewards=rng.normal(size=n).astype(np.float32), terminals=term, timeouts=tout,
      next_observations=nxt, infos=infos, env=env, level="synthetic")


def test_episode_bookkeeping():
  ds = synthetic()
  assert len(ds) == 19 and ds.num_episodes == 4
  starts, stops = ds.episode_bounds()
  np.testing.assert_array_equal(starts, [0, 5, 8, 15])
  np.testing.assert_array_equal(stops, [5, 8, 15, 19])
  np.testing.assert_array_equal(ds.episode_lengths(), [5, 3, 7, 4])
  assert ds.episode_slices()[2] == slice(8, 15)
  np.testing.assert_array_equal(ds.episode_ids(), np.repeat(np.arange(4), [5, 3, 7, 4]))
  np.testing.assert_array_equal(ds.episode_stop(), np.repeat(stops, [5, 3, 7, 4]))
  np.testing.assert_array_equal(ds.truncated_episodes(), [False, True, False, True])
  np.testing.assert_array_equal(ds.truncated_rows(), np.repeat([0, 1, 0, 1], [5, 3, 7, 4]))
  np.testing.assert_allclose(ds.episode_returns(),
                             [ds.rewards[s].astype(np.float64).sum() for s in ds.episode_slices()])
  np.testing.assert_array_equal(ds.episode(1)["observations"], ds.observations[5:8])
  sub = ds.select(np.arange(5, 15))
  assert len(sub) == 10 and sub.num_episodes == 2
  assert "19 transitions, 4 episodes (2 truncated)" in ds.summary()


@pytest.mark.parametrize("gamma", [0.0, 0.9, 0.99, 1.0])
def test_returns_to_go_against_a_hand_loop(gamma):
  ds = synthetic()
  rewards, ends = ds.rewards.astype(np.float64), ds.ends
  want = np.zeros(len(ds))
  running = 0.0
  for t in reversed(range(len(ds))):
    if ends[t]:
      running = 0.0
    running = rewards[t] + gamma * running
    want[t] = running
  got = ds.discounted_returns_to_go(gamma)
  np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
  if gamma == 1.0:  # the first row of an episode holds the episode's return
    starts, _ = ds.episode_bounds()
    np.testing.assert_allclose(got[starts], ds.episode_returns(), rtol=1e-12)


def test_returns_to_go_one_step_episodes():
  ds = synthetic(episodes=((1, "terminal"), (1, "timeout"), (2, "end")))
  np.testing.assert_allclose(ds.discounted_returns_to_go(0.5),
                             [ds.rewards[0], ds.rewards[1], ds.rewards[2] + 0.5 * ds.rewards[3],
                              ds.rewards[3]], rtol=1e-6)


def test_normalizers():
  x = np.array([3.0, -1.0, 5.0, 1.0])
  mm = Normalizer.fit(x, "minmax")
  np.testing.assert_allclose(mm(x), (x + 1) / 6)
  np.testing.assert_allclose(mm.inverse(mm(x)), x)
  st = Normalizer.fit(x, "standard")
  y = st(x)
  np.testing.assert_allclose([y.mean(), y.std()], [0, 1], atol=1e-12)
  assert Normalizer.fit(np.ones(3), "minmax").scale == 1.0
  with pytest.raises(ValueError, match="minmax"):
    Normalizer.fit(x, "max")
  ds = synthetic()
  rtg, norm = normalized_returns_to_go(ds, 0.99, "minmax")
  assert rtg.dtype == np.float32 and rtg.min() == 0 and abs(rtg.max() - 1) < 1e-6
  np.testing.assert_allclose(norm.inverse(rtg), ds.discounted_returns_to_go(0.99), rtol=1e-5,
                             atol=1e-5)
