"""Online SAC on the loop (experiments/trainers/sac.py), through the runner in subprocesses:
SIGKILL after the first checkpoint + rerun == uninterrupted (train state, replay buffer,
snapshots, to the bit); SIGTERM -> exit 143 with a checkpoint, then the same."""
import json
import os
import signal
import subprocess
import sys
import time

import chex
import jax
import numpy as np
import pytest

from experiments import runtime
from experiments.runtime import host_state
from jaxrl.agents.sac import ReplayBuffer
from jaxrl.agents.sac import train as sac_train
from jaxrl.agents.sac.networks import make_networks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS, NUM_ENVS = 600, 2
TINY = ["--config.sac.hidden_dim=16", "--config.sac.batch_size=16",
        f"--config.train.num_env_steps={STEPS}", "--config.train.start_steps=100",
        "--config.train.train_every=20", "--config.train.snapshot_every=200",
        "--config.train.eval_episodes=1", "--config.train.log_every=100",
        "--config.train.checkpoint_every=100", f"--config.train.num_envs={NUM_ENVS}"]


def _cmd(workdir):
  return [sys.executable, "-m", "experiments.main", "--config",
          "experiments/configs/sac.py:smoke", "--workdir", str(workdir), *TINY]


def _env():
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  env.pop("XLA_FLAGS", None)   # one device, as a user's run
  return env


def _run(workdir):
  out = subprocess.run(_cmd(workdir), cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  return out


def _interrupt(workdir, sig):
  """Starts a run, sends `sig` once its first checkpoint is committed; (returncode, stderr)."""
  proc = subprocess.Popen(_cmd(workdir), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  first = os.path.join(workdir, "checkpoints", "100")
  deadline = time.time() + 240
  while not os.path.isdir(first) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.01)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  return proc.returncode, err


def _final(workdir):
  """(train state, buffer, snapshot records) as the finished run's last checkpoint holds them."""
  config = sac_train.SACConfig(hidden=(16, 16), batch_size=16)
  abstract = jax.eval_shape(lambda: sac_train.init_state(make_networks(11, 3, config.hidden),
                                                         config, 0))
  dev = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  ckpt = runtime.Checkpointer(str(workdir))
  assert ckpt.latest_step() == STEPS
  state, meta = ckpt.restore(runtime.abstract_like(abstract, jax.tree.map(lambda _: dev,
                                                                          abstract)))
  ckpt.close()
  buffer = ReplayBuffer(STEPS * NUM_ENVS, 11, 3)
  buffer.load_state_dict(host_state.decode(meta["host"]["buffer"]),
                         os.path.join(workdir, "checkpoints_files", "buffer"))
  records = json.loads((workdir / "snapshots" / "snapshots.json").read_text())
  return jax.device_get(state), buffer, records


def _assert_same(a, b):
  (state_a, buf_a, rec_a), (state_b, buf_b, rec_b) = a, b
  chex.assert_trees_all_close(state_a, state_b, rtol=0, atol=0)
  assert buf_a.size == buf_b.size == STEPS * NUM_ENVS
  for k, v in buf_a.data().items():
    np.testing.assert_array_equal(buf_b.data()[k], v)
  assert rec_a == rec_b


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("sac_full")
  out = _run(workdir)
  assert "sac hopper" in out.stdout
  results = json.loads((workdir / "results.json").read_text())
  assert [r["env_steps"] for r in results["snapshots"]] == [200, 400, 600]
  return _final(workdir)


def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted):
  work = tmp_path / "killed"
  code, _ = _interrupt(work, signal.SIGKILL)
  assert code == -signal.SIGKILL
  ckpt = runtime.Checkpointer(str(work))
  killed_at = ckpt.latest_step()
  ckpt.close()
  assert killed_at is not None and killed_at < STEPS, killed_at
  out = _run(work)
  assert f"resumed from {work}/checkpoints/{killed_at}" in out.stdout
  _assert_same(_final(work), uninterrupted)
  # one immutable segment per checkpoint, each with the rows added since the previous one
  segs = sorted(os.listdir(work / "checkpoints_files" / "buffer"),
                key=lambda n: int(n.split("_")[1]))
  assert segs == [f"rows_{s}_{s + 100 * NUM_ENVS}.npz" for s in range(0, STEPS * NUM_ENVS,
                                                                      100 * NUM_ENVS)]


def test_sigterm_exits_143_with_a_checkpoint_then_resumes(tmp_path, uninterrupted):
  work = tmp_path / "preempted"
  code, err = _interrupt(work, signal.SIGTERM)
  assert code == 143, err[-2000:]
  ckpt = runtime.Checkpointer(str(work))
  stopped = ckpt.latest_step()
  ckpt.close()
  assert stopped is not None and stopped < STEPS
  assert f"preempted at step {stopped}" in err
  _run(work)
  _assert_same(_final(work), uninterrupted)
