"""On-device sampling: windows padded at episode ends, sampling inside jit, mesh == 1 device."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from jaxrl import data
from tests.jaxrl.test_data_dataset import synthetic


def _tiny() -> data.OfflineDataset:
  """Episodes rows 0-2 (terminal) and 3-4 (timeout); observation t = [t, 10 t], reward t + 1."""
  n = 5
  obs = np.stack([np.arange(n), 10 * np.arange(n)], 1).astype(np.float32)
  return data.OfflineDataset(
      observations=obs, actions=-obs[:, :1], rewards=np.arange(1, n + 1, dtype=np.float32),
      terminals=np.eye(n, dtype=bool)[2], timeouts=np.eye(n, dtype=bool)[4],
      next_observations=obs + 1)


def test_windows_at_episode_ends_repeat_and_zero():
  d = data.to_device(_tiny())
  starts = jnp.array([1, 3, 4, 0], jnp.int32)
  w = data.windows_at(d, starts, horizon=3, pad="repeat")
  mask = [[1, 1, 0], [1, 1, 0], [1, 0, 0], [1, 1, 1]]
  np.testing.assert_array_equal(w["mask"], np.array(mask, bool))
  np.testing.assert_array_equal(w["observations"][..., 0], [[1, 2, 2], [3, 4, 4], [4, 4, 4],
                                                            [0, 1, 2]])
  np.testing.assert_array_equal(w["observations"][..., 1], 10 * w["observations"][..., 0])
  np.testing.assert_array_equal(w["actions"][..., 0], -w["observations"][..., 0])
  np.testing.assert_array_equal(w["rewards"], [[2, 3, 0], [4, 5, 0], [5, 0, 0], [1, 2, 3]])
  np.testing.assert_array_equal(w["terminals"], [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]])
  np.testing.assert_array_equal(w["timeouts"], [[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
  np.testing.assert_array_equal(w["start"], starts)
  z = data.windows_at(d, starts, horizon=3, pad="zero")
  np.testing.assert_array_equal(z["observations"][..., 0], [[1, 2, 0], [3, 4, 0], [4, 0, 0],
                                                            [0, 1, 2]])
  np.testing.assert_array_equal(z["next_observations"][..., 0], [[2, 3, 0], [4, 5, 0], [5, 0, 0],
                                                                 [1, 2, 3]])
  np.testing.assert_array_equal(z["rewards"], w["rewards"])
  with pytest.raises(ValueError, match="pad="):
    data.windows_at(d, starts, 3, pad="edge")


def test_window_starts_respect_min_window():
  ds = synthetic()  # episode lengths 5, 3, 7, 4
  d = data.to_device(ds, min_window=4)
  allowed = {0, 1, 8, 9, 10, 11, 15}
  np.testing.assert_array_equal(d.window_starts, sorted(allowed))
  w = data.sample_windows(d, jax.random.key(0), 256, horizon=4)
  assert set(np.asarray(w["start"]).tolist()) <= allowed
  assert bool(w["mask"].all())  # starts with >= horizon steps left never need padding
  np.testing.assert_array_equal(w["observations"], ds.observations[
      np.asarray(w["start"])[:, None] + np.arange(4)])
  with pytest.raises(ValueError, match="min_window"):
    data.to_device(ds, min_window=8)


def test_sampling_inside_jit_traces_once():
  ds = synthetic(obs_dim=4, act_dim=2, env="pointmaze-umaze", maze=True)
  rtg, _ = data.normalized_returns_to_go(ds, 0.99)
  d = data.to_device(ds, extras={"rtg": rtg}, infos=("goal",))
  chex.clear_trace_counter()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(d, key):
    k1, k2 = jax.random.split(key)
    t = data.sample_transitions(d, k1, 8)
    w = data.sample_windows(d, k2, 8, horizon=6)
    return t, w

  for seed in range(4):
    t, w = step(d, jax.random.key(seed))
  rows = np.asarray(t["observations"])
  idx = [int(np.flatnonzero((ds.observations == r).all(1))[0]) for r in rows]
  np.testing.assert_array_equal(t["rtg"], rtg[idx])
  np.testing.assert_array_equal(t["goal"], ds.infos["goal"][idx].astype(np.float32))
  np.testing.assert_array_equal(t["next_observations"], ds.next_observations[idx])
  assert w["observations"].shape == (8, 6, 4) and w["goal"].shape == (8, 6, 2)
  assert w["mask"].dtype == jnp.bool_ and w["rtg"].shape == (8, 6)


@pytest.mark.parametrize("row_axes", [(), ("data",)])
def test_mesh_sample_equals_one_device(devices, row_axes):
  ds = synthetic()
  one = data.to_device(ds, extras={"rtg": ds.discounted_returns_to_go(0.99)})
  mesh = jax.make_mesh((4, 2), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2,
                       devices=devices)
  sharded = data.to_device(ds, extras={"rtg": ds.discounted_returns_to_go(0.99)}, mesh=mesh,
                           row_axes=row_axes)
  leaf = sharded.fields["observations"]
  assert len(leaf.sharding.device_set) == 8
  if row_axes:
    assert leaf.shape[0] == 20 and leaf.sharding.spec == P(("data",))  # 19 rows padded to 20
  else:
    assert leaf.sharding.is_fully_replicated

  sample = jax.jit(lambda d, k: (data.sample_transitions(d, k, 16, mesh=mesh),
                                 data.sample_windows(d, k, 16, horizon=5, mesh=mesh)))
  ref = jax.jit(lambda d, k: (data.sample_transitions(d, k, 16),
                              data.sample_windows(d, k, 16, horizon=5)))
  for seed in range(3):
    key = jax.random.key(seed)
    got, want = sample(sharded, key), ref(one, key)
    chex.assert_trees_all_equal(got, want)
    for x in jax.tree.leaves(got):
      assert x.sharding.is_equivalent_to(NamedSharding(mesh, P(("data", "fsdp"))), x.ndim), \
          x.sharding
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    jax.jit(lambda d, k: data.sample_transitions(d, k, 12, mesh=mesh))(sharded, key)
