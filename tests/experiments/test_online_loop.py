"""The host-driven loop with host state: SIGKILL + resume == uninterrupted, SIGTERM, NaN guard."""
import os
import signal
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from experiments import runtime
from experiments.errors import NonFiniteError, Preempted, UserError
from experiments.runtime import host_state
from tests.experiments import online_toy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _steps(workdir):
  return runtime.Checkpointer(str(workdir)).all_steps()


def _same(a, b):
  chex.assert_trees_all_close(jax.device_get(a.state), jax.device_get(b.state), rtol=0, atol=0)


def test_sigkilled_online_run_resumes_to_the_uninterrupted_result(tmp_path, devices):
  full, full_host = online_toy.train(str(tmp_path / "full"), 14)
  work = tmp_path / "killed"
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-m", "tests.experiments.online_toy", str(work), "14",
                         "10"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
  assert _steps(work) == [4, 8]
  # Rows after step 8 were drawn before the kill but never checkpointed: they must not leak in.
  resumed, host = online_toy.train(str(work), 14)
  assert resumed.start_step == 8 and resumed.step == 14
  _same(resumed, full)
  np.testing.assert_array_equal(host["buffer"].x, full_host["buffer"].x)
  assert host["stats"].values == full_host["stats"].values
  assert host["rng"].generator.bit_generator.state == full_host["rng"].generator.bit_generator.state
  # One immutable segment per checkpoint, each holding only the rows added since the last one.
  segs = sorted(os.listdir(work / "checkpoints_files" / "buffer"))
  assert segs == ["rows_0_16.npz", "rows_16_32.npz", "rows_32_48.npz", "rows_48_56.npz"]


def test_sigterm_checkpoints_host_state_and_raises_preempted(tmp_path, devices):
  host, advance = online_toy.make()

  def preempted_at_6(state, step):
    if step == 6:
      os.kill(os.getpid(), signal.SIGTERM)
    return advance(state, step)

  mesh = runtime.make_mesh({"data": -1})
  sh = runtime.replicated_sharding(jax.eval_shape(online_toy.init_fn), mesh)
  with pytest.raises(Preempted, match="preempted at step 7"):
    runtime.train(workdir=str(tmp_path), mesh=mesh, init_fn=online_toy.init_fn,
                  advance=preempted_at_6, state_sharding=sh, num_steps=20, host=host,
                  log_every=1, checkpoint_every=4, async_checkpoint=False)
  assert _steps(tmp_path) == [4, 7]
  resumed, host2 = online_toy.train(str(tmp_path), 20, log_every=1)
  full, _ = online_toy.train(str(tmp_path / "full"), 20, log_every=1)
  assert resumed.start_step == 7
  _same(resumed, full)
  assert host2["stats"]["rows"] == 20 * online_toy.NEW


def test_nan_metric_stops_before_saving(tmp_path, devices):
  host, advance = online_toy.make()

  def nan_at_5(state, step):
    state, m = advance(state, step)
    return state, dict(m, loss=m["loss"] * np.nan) if step == 5 else m

  mesh = runtime.make_mesh({"data": -1})
  sh = runtime.replicated_sharding(jax.eval_shape(online_toy.init_fn), mesh)
  with pytest.raises(NonFiniteError, match=r"at step 6;.*step 4"):
    runtime.train(workdir=str(tmp_path), mesh=mesh, init_fn=online_toy.init_fn,
                  advance=nan_at_5, state_sharding=sh, num_steps=12, host=host, log_every=4,
                  checkpoint_every=4, async_checkpoint=False)
  assert _steps(tmp_path) == [4]


def test_checkpoint_without_host_state_is_a_clear_error(tmp_path, devices):
  mesh = runtime.make_mesh({"data": -1})
  sh = runtime.replicated_sharding(jax.eval_shape(online_toy.init_fn), mesh)
  _, advance = online_toy.make()
  runtime.train(workdir=str(tmp_path), mesh=mesh, init_fn=online_toy.init_fn, advance=advance,
                state_sharding=sh, num_steps=4, log_every=4, checkpoint_every=4,
                async_checkpoint=False)
  with pytest.raises(UserError, match=r"no host state for rng, buffer, stats.*new --workdir"):
    online_toy.train(str(tmp_path), 8)


def test_host_state_codec_is_exact():
  rs = np.random.default_rng(0)
  tree = {"f64": rs.normal(size=(3, 2)), "f32": rs.normal(size=5).astype(np.float32),
          "i": np.arange(4, dtype=np.int64), "b": np.array([True, False]), "n": np.float32(1.5),
          "nested": [{"k": np.uint32(7)}, "text", None, 3],
          "rng": rs.bit_generator.state}
  import json
  back = host_state.decode(json.loads(json.dumps(host_state.encode(tree))))
  for k in ("f64", "f32", "i", "b"):
    assert back[k].dtype == tree[k].dtype
    np.testing.assert_array_equal(back[k], tree[k])
  assert back["n"] == 1.5 and back["nested"] == [{"k": 7}, "text", None, 3]
  assert back["rng"] == tree["rng"]
  with pytest.raises(TypeError, match="cannot hold object"):
    host_state.encode({"x": object()})


def test_stop_fn_ends_the_run_and_a_rerun_stays_stopped(tmp_path, devices):
  def run():
    host, advance = online_toy.make()
    stop = lambda: host["stats"]["rows"] >= 6 * online_toy.NEW  # host state decides
    mesh = runtime.make_mesh({"data": -1})
    sh = runtime.replicated_sharding(jax.eval_shape(online_toy.init_fn), mesh)
    return runtime.train(workdir=str(tmp_path), mesh=mesh, init_fn=online_toy.init_fn,
                         advance=advance, state_sharding=sh, num_steps=20, host=host,
                         log_every=2, checkpoint_every=4, stop_fn=stop, async_checkpoint=False)

  first = run()
  assert first.step == 6 and _steps(tmp_path) == [4, 6]
  again = run()
  assert again.start_step == 6 and again.step == 6 and _steps(tmp_path) == [4, 6]
