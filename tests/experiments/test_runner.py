"""The runner end to end, in subprocesses: bad commands, SIGKILL resume, SIGTERM, NaN stop."""
import os
import signal
import subprocess
import sys
import time

import chex
import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--config.model.hidden=32", "--config.model.depth=1", "--config.model.emb_dim=16",
        "--config.data.batch_size=64", "--config.train.steps_per_call=10",
        "--config.train.log_every=100", "--config.train.checkpoint_every=100",
        "--config.eval.num_samples=256", "--config.eval.num_bins=8"]


def _cmd(workdir, *extra, steps=1500):
  return [sys.executable, "-m", "experiments.main", "--config=experiments/configs/edm2d.py:smoke",
          f"--workdir={workdir}", f"--config.train.num_steps={steps}", *TINY, *extra]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  e = dict(os.environ)
  e["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("xla_cache"))
  e["PYTHONUNBUFFERED"] = "1"
  return e


def _run(cmd, env, timeout=300):
  return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _steps(workdir):
  d = os.path.join(workdir, "checkpoints")
  return sorted(int(s) for s in os.listdir(d) if s.isdigit()) if os.path.isdir(d) else []


def _params(workdir, step):
  tree = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "state"))
  return {"params": tree["params"], "ema": tree["ema"]}


@pytest.mark.parametrize("args, expected", [
    (["--config=experiments/configs/nope.py:smoke"], "unknown config 'experiments/configs/nope.py'; valid: "),
    (["--config=experiments/configs/edm2d.py:huge"], "unknown preset 'huge' for config edm2d; valid: smoke, full"),
    (["--config=edm2d:smoke", "--config.train.num_stepz=3"], "unknown key 'num_stepz' in config.train (did you mean 'num_steps'?)"),
    (["--config=edm2d:smoke", "--config.optim.lr=fast"], "bad value for --config.optim.lr: expected float, got 'fast'"),
    (["--config=edm2d:smoke", "--config.train.num_steps=1.5"], "bad value for --config.train.num_steps: expected int"),
    (["--config=edm2d:smoke", "--config.data.mixture=moons"], "unknown data.mixture 'moons'; valid: ring8, default"),
    (["--config=edm2d:smoke", "--config.train.num_steps=15"], "num_steps=15 must be a multiple of steps_per_call=100"),
    ([], "missing --config"),
])
def test_bad_command_is_one_line(tmp_path, env, args, expected):
  res = _run([sys.executable, "-m", "experiments.main", f"--workdir={tmp_path}", *args], env)
  assert res.returncode != 0
  lines = [l for l in res.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, res.stderr
  assert expected in lines[0] and "Traceback" not in res.stderr


def test_list(env):
  res = _run([sys.executable, "-m", "experiments.main", "--list"], env)
  assert res.returncode == 0
  assert any(l.split()[:3] == ["edm2d", "smoke,", "full"] for l in res.stdout.splitlines())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, env):
  wd = str(tmp_path_factory.mktemp("full"))
  res = _run(_cmd(wd), env)
  assert res.returncode == 0, res.stderr[-2000:]
  assert "sliced_w2" in res.stdout and os.path.exists(os.path.join(wd, "results.json"))
  return wd


def _start_and_wait_for_checkpoint(wd, env, min_step=200):
  proc = subprocess.Popen(_cmd(wd), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if [s for s in _steps(wd) if s >= min_step]:
      break
    time.sleep(0.05)
  assert proc.poll() is None, "run finished before it could be interrupted"
  return proc


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path, env, uninterrupted):
  wd = str(tmp_path)
  proc = _start_and_wait_for_checkpoint(wd, env)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  killed_at = max(_steps(wd))
  assert killed_at < 1500
  res = _run(_cmd(wd), env)
  assert res.returncode == 0, res.stderr[-2000:]
  assert "resumed from" in res.stdout
  assert max(_steps(wd)) == 1500
  chex.assert_trees_all_close(_params(wd, 1500), _params(uninterrupted, 1500), atol=1e-6)


def test_sigterm_saves_then_resume_equals_uninterrupted(tmp_path, env, uninterrupted):
  wd = str(tmp_path)
  proc = _start_and_wait_for_checkpoint(wd, env)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  assert "preempted at step" in err
  step = int(err.split("preempted at step ")[1].split(":")[0])
  assert step in _steps(wd) and step % 10 == 0  # saved at the step it stopped, not an older one
  res = _run(_cmd(wd), env)
  assert res.returncode == 0, res.stderr[-2000:]
  chex.assert_trees_all_close(_params(wd, 1500), _params(uninterrupted, 1500), atol=1e-6)


def test_nan_stops_run_and_keeps_good_checkpoint(tmp_path, env):
  wd = str(tmp_path)
  # A huge learning rate overflows the parameters within a few hundred steps.
  res = _run(_cmd(wd, "--config.optim.lr=1e30", "--config.optim.warmup_steps=0", steps=600), env)
  assert res.returncode == 4, res.stderr[-2000:]
  line = res.stderr.strip().splitlines()[-1]
  assert "non-finite loss or gradient at step" in line
  bad = int(line.split("at step ")[1].split(";")[0])
  steps = _steps(wd)
  assert all(s <= bad for s in steps)
  for s in steps:
    leaves = np.concatenate([np.ravel(x) for x in __import__("jax").tree.leaves(_params(wd, s))])
    assert np.isfinite(leaves).all()
