"""Runtime: mesh, sharded == unsharded, resume == uninterrupted, other-mesh restore, NaN guard."""
import glob
import json
import os

import chex
import jax
import numpy as np
import pytest

from experiments import runtime
from experiments.errors import CheckpointError, NonFiniteError, UserError
from experiments.runtime import mesh as mesh_lib
from tests.experiments import linreg


def _train(workdir, mesh, num_steps, steps_per_call=2, checkpoint_every=4, get_batch=None,
           step_fn=linreg.step_fn):
  state_sh = mesh_lib.fsdp_sharding(jax.eval_shape(linreg.init_fn), mesh, min_size=1)
  return runtime.run(workdir=str(workdir), mesh=mesh, init_fn=linreg.init_fn, step_fn=step_fn,
                     state_sharding=state_sh, num_steps=num_steps, steps_per_call=steps_per_call,
                     log_every=2, checkpoint_every=checkpoint_every,
                     get_batch=get_batch or linreg.make_get_batch(), async_checkpoint=False)


def _params(result):
  return jax.device_get(result.state["params"])


def test_resolve_axis_sizes():
  assert mesh_lib.resolve_axis_sizes({"data": -1, "fsdp": 2, "tensor": 1}, 8) == {
      "data": 4, "fsdp": 2, "tensor": 1}
  with pytest.raises(UserError, match="at most one axis"):
    mesh_lib.resolve_axis_sizes({"data": -1, "fsdp": -1}, 8)
  with pytest.raises(UserError, match="set one axis to -1"):
    mesh_lib.resolve_axis_sizes({"data": 2, "fsdp": 2}, 8)
  with pytest.raises(UserError, match="do not divide"):
    mesh_lib.resolve_axis_sizes({"data": -1, "fsdp": 3}, 8)


def test_put_batch_shards_over_data_and_fsdp(devices):
  mesh = mesh_lib.make_mesh({"data": 2, "fsdp": 4})
  x = mesh_lib.put_batch({"x": np.arange(16.0).reshape(16, 1)}, mesh)["x"]
  assert x.sharding.spec == jax.sharding.PartitionSpec(("data", "fsdp"))
  assert len({str(s.index) for s in x.addressable_shards}) == 8
  np.testing.assert_array_equal(np.asarray(x), np.arange(16.0).reshape(16, 1))
  with pytest.raises(UserError, match="not divisible"):
    mesh_lib.put_batch(np.zeros((12, 1)), mesh)


def test_sharded_step_equals_single_device(tmp_path, devices):
  mesh8 = mesh_lib.make_mesh({"data": 2, "fsdp": 4})
  mesh1 = mesh_lib.make_mesh({"data": 1}, devices=devices[:1])
  sharded = _train(tmp_path / "a", mesh8, 8)
  single = _train(tmp_path / "b", mesh1, 8)
  assert sharded.state["params"]["w"].sharding.spec == jax.sharding.PartitionSpec("fsdp")
  chex.assert_trees_all_close(_params(sharded), _params(single), rtol=1e-5, atol=1e-6)
  rows = runtime.read_metrics(str(tmp_path / "a"))
  assert rows[-1]["train/loss"] < 0.7 * rows[0]["train/loss"]  # it learned something


def test_resume_equals_uninterrupted(tmp_path, devices):
  mesh = mesh_lib.make_mesh({"data": -1})
  full = _train(tmp_path / "full", mesh, 12)
  part = _train(tmp_path / "resumed", mesh, 8)
  assert part.step == 8
  resumed = _train(tmp_path / "resumed", mesh, 12)
  assert resumed.start_step == 8
  chex.assert_trees_all_close(_params(resumed), _params(full), rtol=0, atol=0)
  ckpts = sorted(int(os.path.basename(p)) for p in glob.glob(str(tmp_path / "resumed/checkpoints/*")))
  assert ckpts == [4, 8, 12]
  lines = [json.loads(l) for l in open(tmp_path / "full" / "metrics.jsonl")]
  assert [r["step"] for r in lines] == [2, 4, 6, 8, 10, 12]
  assert {"train/loss", "train/grad_norm"} <= set(lines[0])


@pytest.mark.parametrize("n_restore", [4, 1])
def test_restore_onto_other_mesh(tmp_path, devices, n_restore):
  mesh8 = mesh_lib.make_mesh({"fsdp": 8})
  saved = _train(tmp_path, mesh8, 4)
  assert len(saved.state["params"]["w"].sharding.device_set) == 8
  small = mesh_lib.make_mesh({"fsdp": n_restore}, devices=devices[:n_restore])
  target_sh = mesh_lib.fsdp_sharding(jax.eval_shape(linreg.init_fn), small, min_size=1)
  ckpt = runtime.Checkpointer(str(tmp_path))
  abstract = runtime.abstract_like(jax.eval_shape(linreg.init_fn), target_sh)
  state, meta = ckpt.restore(abstract)
  ckpt.close()
  assert meta["step"] == 4
  assert state["params"]["w"].sharding.device_set == set(devices[:n_restore])
  chex.assert_trees_all_close(jax.device_get(state["params"]), _params(saved), atol=0)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, devices):
  mesh = mesh_lib.make_mesh({"data": -1})
  _train(tmp_path, mesh, 8)
  data_files = [p for p in glob.glob(str(tmp_path / "checkpoints/8/state/**/*"), recursive=True)
                if os.path.isfile(p) and os.path.getsize(p) > 0 and "d/" in p]
  assert data_files, "expected array data files in the checkpoint"
  for p in data_files:
    with open(p, "r+b") as f:
      f.truncate(max(1, os.path.getsize(p) // 3))
  with pytest.raises(CheckpointError) as err:
    _train(tmp_path, mesh, 12)
  msg = str(err.value)
  assert str(tmp_path / "checkpoints" / "8") in msg and "start fresh" in msg
  assert "resume from step 4" in msg and "\n" not in msg
  # The previous checkpoint is untouched: deleting the bad one resumes from step 4.
  import shutil
  shutil.rmtree(tmp_path / "checkpoints" / "8")
  resumed = _train(tmp_path, mesh, 12)
  assert resumed.start_step == 4 and resumed.step == 12


def test_nan_guard_names_step_and_keeps_last_good_checkpoint(tmp_path, devices):
  mesh = mesh_lib.make_mesh({"data": -1})
  with pytest.raises(NonFiniteError, match=r"non-finite loss or gradient at step 9;.*step 8"):
    _train(tmp_path, mesh, 16, get_batch=linreg.make_get_batch(nan_at=9))
  steps = sorted(int(os.path.basename(p)) for p in glob.glob(str(tmp_path / "checkpoints/*")))
  assert steps == [4, 8]
  ckpt = runtime.Checkpointer(str(tmp_path))
  state, _ = ckpt.restore(runtime.abstract_like(jax.eval_shape(linreg.init_fn),
                                                mesh_lib.replicated_sharding(
                                                    jax.eval_shape(linreg.init_fn), mesh)))
  ckpt.close()
  assert np.isfinite(np.asarray(state["params"]["w"])).all()


def test_step_traced_once(tmp_path, devices):
  mesh = mesh_lib.make_mesh({"data": -1})
  guarded = chex.assert_max_traces(linreg.step_fn, n=1)
  _train(tmp_path, mesh, 12, step_fn=guarded)
  chex.clear_trace_counter()


def test_divisibility_error(tmp_path, devices):
  mesh = mesh_lib.make_mesh({"data": -1})
  with pytest.raises(UserError, match="multiple of steps_per_call"):
    _train(tmp_path, mesh, 12, steps_per_call=5)
