"""Tests for tpu/*.sh: exact gcloud commands under --dry-run, usage errors, quoting.

A fake `gcloud` (first on PATH) records every call; dry runs must make none. The last tests run
the scripts for real against that fake, which copies files (scp) and runs `--command` with bash in
a temporary "worker home", so the worker-side shell written by install.sh and launch.sh is executed.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TPU = REPO / "tpu"
SCRIPTS = ("create.sh", "install.sh", "launch.sh", "logs.sh", "delete.sh")
TPU_VM = ["gcloud", "compute", "tpus", "tpu-vm"]

_FAKE_GCLOUD = """#!{python}
import json, os, shutil, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as f:
  f.write(json.dumps(args) + "\\n")
home = os.environ["FAKE_WORKER_HOME"]
if args[:4] == ["compute", "tpus", "tpu-vm", "scp"]:
  shutil.copy(args[4], os.path.join(home, args[5].split(":", 1)[1]))
elif args[:4] == ["compute", "tpus", "tpu-vm", "ssh"]:
  cmd = next(a for a in args if a.startswith("--command="))[len("--command="):]
  env = dict(os.environ, HOME=home)
  sys.exit(subprocess.run(["bash", "-c", cmd], cwd=home, env=env).returncode)
"""

# Stand-ins on the worker: uv makes a venv whose python records the runner's argv and sleeps.
_FAKE_UV = """#!/usr/bin/env bash
echo "uv $*" >> "$HOME/uv.log"
if [ "$1" = venv ]; then
  mkdir -p .venv/bin
  printf '#!%s\\n' "{python}" > .venv/bin/python
  cat >> .venv/bin/python <<'PY'
import os, sys, time
if sys.argv[1] == "-c":
  print("jax fake")
  sys.exit(0)
with open(os.path.join(os.environ["HOME"], "runner_args.json"), "w") as f:
  f.write(__import__("json").dumps(sys.argv[1:]))
print("runner started", flush=True)
time.sleep(float(os.environ.get("FAKE_RUN_SECONDS", "0")))
PY
  chmod +x .venv/bin/python
fi
"""


@pytest.fixture
def sandbox(tmp_path):
  """Environment with the fake gcloud first on PATH; returns (env, worker_home, gcloud_log)."""
  bin_dir, home = tmp_path / "bin", tmp_path / "worker"
  bin_dir.mkdir()
  home.mkdir()
  gcloud = bin_dir / "gcloud"
  gcloud.write_text(_FAKE_GCLOUD.format(python=sys.executable))
  gcloud.chmod(0o755)
  log = tmp_path / "gcloud_calls.jsonl"
  env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
             TMPDIR=str(tmp_path), FAKE_GCLOUD_LOG=str(log), FAKE_WORKER_HOME=str(home))
  return env, home, log


def run(env, script, *args, check=False):
  proc = subprocess.run(["bash", str(TPU / script), *args], env=env, cwd=env["TMPDIR"],
                        capture_output=True, text=True, timeout=60)
  if check:
    assert proc.returncode == 0, proc.stderr
  return proc


def dry(sandbox, script, *args):
  """Runs a script with --dry-run; returns its printed commands, each split with shlex."""
  env, _, log = sandbox
  proc = run(env, script, "--dry-run", *args, check=True)
  assert not log.exists(), "a dry run called gcloud"
  return [shlex.split(line) for line in proc.stdout.splitlines()]


def gcloud_calls(log):
  return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def remote_tokens(argv):
  """The worker-side command of a `gcloud ... ssh --command=CMD` argv, split like a shell would."""
  (cmd,) = [a[len("--command="):] for a in argv if a.startswith("--command=")]
  return shlex.split(cmd)


def index_of(tokens, sub):
  for i in range(len(tokens) - len(sub) + 1):
    if tokens[i:i + len(sub)] == sub:
      return i
  raise AssertionError(f"{sub} not in {tokens}")


BASE = ["--name", "my-tpu", "--zone", "us-central2-b"]


# ------------------------------------------------------------------------------------------ create
def test_create_prints_exact_command(sandbox):
  env, _, _ = sandbox
  proc = run(env, "create.sh", *BASE, "--accelerator-type", "v4-32", "--dry-run", check=True)
  assert proc.stdout == ("gcloud compute tpus tpu-vm create my-tpu --zone=us-central2-b "
                         "--accelerator-type=v4-32 --version=tpu-ubuntu2204-base\n")


@pytest.mark.parametrize("accel,version", [("v5litepod-16", "v2-alpha-tpuv5-lite"),
                                           ("v5p-32", "v2-alpha-tpuv5"),
                                           ("v6e-16", "v2-alpha-tpuv6e")])
def test_create_default_version_per_family(sandbox, accel, version):
  (argv,) = dry(sandbox, "create.sh", *BASE, f"--accelerator-type={accel}")
  assert argv[-2:] == [f"--accelerator-type={accel}", f"--version={version}"]


def test_create_spot_project_version_and_extra_flags(sandbox):
  (argv,) = dry(sandbox, "create.sh", *BASE, "--accelerator-type", "v4-8", "--version",
                "tpu-vm-base-x", "--spot", "--project=my-proj", "--",
                "--description=my test tpu", "--labels=team=rl")
  assert argv == TPU_VM + ["create", "my-tpu", "--zone=us-central2-b", "--project=my-proj",
                           "--accelerator-type=v4-8", "--version=tpu-vm-base-x", "--spot",
                           "--description=my test tpu", "--labels=team=rl"]


@pytest.mark.parametrize("flag", ["--preemptible", "--reserved"])
def test_create_capacity_flags(sandbox, flag):
  (argv,) = dry(sandbox, "create.sh", *BASE, "--accelerator-type", "v4-8", flag)
  assert argv[-1] == flag


def test_create_spot_and_preemptible_conflict(sandbox):
  env, _, _ = sandbox
  proc = run(env, "create.sh", *BASE, "--accelerator-type", "v4-8", "--spot", "--preemptible")
  assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
  assert "--spot and --preemptible" in proc.stderr


def test_create_unknown_family_needs_version(sandbox):
  env, _, _ = sandbox
  proc = run(env, "create.sh", *BASE, "--accelerator-type", "v9x-8", "--dry-run")
  assert proc.returncode == 2 and "--version" in proc.stderr and proc.stdout == ""


# ----------------------------------------------------------------------------------------- install
def test_install_from_checkout(sandbox, tmp_path):
  archive, scp, ssh = dry(sandbox, "install.sh", *BASE)
  tarball = str(tmp_path / "my-tpu-jaxresearch.tar.gz")
  assert archive == ["git", "-C", str(REPO), "archive", "--format=tar.gz", f"--output={tarball}",
                     "HEAD"]
  assert scp == TPU_VM + ["scp", tarball, "my-tpu:jaxresearch.tar.gz", "--zone=us-central2-b",
                          "--worker=all"]
  assert ssh[:8] == TPU_VM + ["ssh", "my-tpu", "--zone=us-central2-b", "--worker=all"]
  tokens = remote_tokens(ssh)
  index_of(tokens, ["tar", "-xzf", "jaxresearch.tar.gz", "-C", "jaxresearch;"])
  index_of(tokens, ["--python", "3.11", ".venv;"])
  index_of(tokens, ["pip", "install", "--quiet", "--python", ".venv/bin/python", "-e", ".",
                    "jax[tpu];"])


def test_install_from_git_url(sandbox):
  (ssh,) = dry(sandbox, "install.sh", *BASE, "--git-url", "https://example.com/r.git", "--ref",
               "v1.2", "--extras=llm,web", "--python", "3.12", "--remote-dir", "/opt/my code",
               "--project", "p1")
  assert ssh[:9] == TPU_VM + ["ssh", "my-tpu", "--zone=us-central2-b", "--project=p1",
                              "--worker=all"]
  tokens = remote_tokens(ssh)
  index_of(tokens, ["git", "-C", "/opt/my code", "fetch", "--quiet", "--depth=1",
                    "https://example.com/r.git", "v1.2;"])
  index_of(tokens, ["cd", "/opt/my code;"])
  index_of(tokens, ["--python", "3.12", ".venv;"])
  index_of(tokens, ["-e", ".[llm,web]", "jax[tpu];"])


# ------------------------------------------------------------------------------------------ launch
def test_launch_runs_runner_on_all_workers(sandbox):
  (argv,) = dry(sandbox, "launch.sh", *BASE, "--config", "experiments/configs/diffusion.py:smoke",
                "--workdir", "gs://bucket/runs/d1", "--config.train.steps=10")
  assert argv[:8] == TPU_VM + ["ssh", "my-tpu", "--zone=us-central2-b", "--worker=all"]
  tokens = remote_tokens(argv)
  i = index_of(tokens, ["nohup", "env", "JAXRESEARCH_DISTRIBUTED=1", ".venv/bin/python", "-m",
                        "experiments.main",
                        "--config=experiments/configs/diffusion.py:smoke",
                        "--workdir=gs://bucket/runs/d1", "--config.train.steps=10",
                        ">>", "logs/run.log", "2>&1", "<", "/dev/null", "&"])
  assert tokens[i + 15:i + 19] == ["echo", "$!", ">", "logs/run.log.pid;"]
  index_of(tokens, ["cd", "jaxresearch;"])


def test_launch_quoting_of_extra_flags_survives(sandbox):
  tricky = "--config.name=it's a \"test\" $HOME `x` ;&|"
  (argv,) = dry(sandbox, "launch.sh", *BASE, "--config=c.py:p", "--workdir=/mnt/shared/run 1",
                "--config.note=hello world", "--env", "XLA_FLAGS=--a --b", "--log", "my logs/r.log",
                "--", tricky, "--alsologtostderr")
  tokens = remote_tokens(argv)
  index_of(tokens, ["nohup", "env", "JAXRESEARCH_DISTRIBUTED=1", "XLA_FLAGS=--a --b", ".venv/bin/python", "-m",
                    "experiments.main", "--config=c.py:p", "--workdir=/mnt/shared/run 1",
                    "--config.note=hello world", tricky, "--alsologtostderr", ">>",
                    "my logs/r.log"])


def test_launch_restart_and_worker(sandbox):
  (plain,) = dry(sandbox, "launch.sh", *BASE, "--config=c:p", "--workdir=/w")
  (restart,) = dry(sandbox, "launch.sh", *BASE, "--config=c:p", "--workdir=/w", "--restart",
                   "--worker", "3")
  assert "--worker=3" in restart
  assert "--restart" in " ".join(remote_tokens(plain))  # the refusal names the way out
  assert "kill" in remote_tokens(restart)


def test_launch_missing_workdir(sandbox):
  env, _, log = sandbox
  proc = run(env, "launch.sh", *BASE, "--config=c:p", "--dry-run")
  assert proc.returncode == 2 and proc.stdout == "" and not log.exists()
  assert proc.stderr.count("\n") == 1 and "missing --workdir" in proc.stderr


@pytest.mark.parametrize("script,args", [("launch.sh", ["--config=c:p", "--workdir=/w"]),
                                         ("create.sh", ["--accelerator-type=v4-8"])])
def test_dry_run_after_double_dash_is_refused(sandbox, script, args):
  env, _, log = sandbox
  proc = run(env, script, *BASE, *args, "--", "--dry-run")
  assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not log.exists()


def test_launch_rejects_unknown_flag(sandbox):
  env, _, _ = sandbox
  proc = run(env, "launch.sh", *BASE, "--config=c:p", "--workdir=/w", "--steps=3", "--dry-run")
  assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "after --" in proc.stderr


# -------------------------------------------------------------------------------- logs and delete
def test_logs_one_worker_and_all(sandbox):
  (one,) = dry(sandbox, "logs.sh", *BASE)
  assert one == TPU_VM + ["ssh", "my-tpu", "--zone=us-central2-b", "--worker=0",
                          "--command=cd jaxresearch && tail -n 100 logs/run.log"]
  (every,) = dry(sandbox, "logs.sh", *BASE, "--worker=all", "--follow", "--lines", "20")
  assert "--worker=all" in every
  tokens = remote_tokens(every)
  index_of(tokens, ["tail", "-n", "20", "-F", "logs/run.log", "|", "sed", "-u"])


def test_delete_is_quiet(sandbox):
  env, _, _ = sandbox
  proc = run(env, "delete.sh", *BASE, "--project", "p1", "--dry-run", check=True)
  assert proc.stdout == ("gcloud compute tpus tpu-vm delete my-tpu --zone=us-central2-b "
                         "--project=p1 --quiet\n")


# ------------------------------------------------------------------------------- all the scripts
REQUIRED = {"create.sh": ["--accelerator-type", "v4-8"], "install.sh": [], "logs.sh": [],
            "launch.sh": ["--config", "c:p", "--workdir", "/w"], "delete.sh": []}


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("missing", ["--name", "--zone"])
def test_missing_required_argument_exits_2_with_one_line(sandbox, script, missing):
  env, _, log = sandbox
  args = [a for a in BASE]
  drop = args.index(missing)
  del args[drop:drop + 2]
  proc = run(env, script, *args, *REQUIRED[script], "--dry-run")
  assert proc.returncode == 2 and proc.stdout == "" and not log.exists()
  assert proc.stderr.count("\n") == 1
  assert proc.stderr.startswith(f"{script}: missing {missing} (usage: {script} ")


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_argument_and_missing_value(sandbox, script):
  env, _, _ = sandbox
  for extra in (["--bogus"], ["--zone"]):
    proc = run(env, script, "--name", "t", *REQUIRED[script], *extra, "--dry-run")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_project_flag_and_help(sandbox, script):
  for argv in dry(sandbox, script, *BASE, *REQUIRED[script], "--project=my-proj"):
    if argv[0] == "gcloud":
      assert argv[5:8] == ["my-tpu", "--zone=us-central2-b", "--project=my-proj"] or (
          argv[4] == "scp" and argv[7:9] == ["--zone=us-central2-b", "--project=my-proj"])
  env, _, _ = sandbox
  proc = run(env, script, "--help", check=True)
  assert proc.stdout.startswith(f"usage: {script} ")


# --------------------------------------------------------------- for real, against the fake gcloud
def test_real_runs_match_dry_runs(sandbox):
  env, _, log = sandbox
  for script, args in (("create.sh", ["--accelerator-type", "v5p-8", "--spot"]),
                       ("delete.sh", ["--async"])):
    printed = dry(sandbox, script, *BASE, *args)
    run(env, script, *BASE, *args, check=True)
    assert gcloud_calls(log) == [argv[1:] for argv in printed]
    log.unlink()


def _wait_for(path: Path, timeout: float = 10.0):
  end = time.time() + timeout
  while not path.exists() and time.time() < end:
    time.sleep(0.05)
  assert path.exists(), f"{path} never appeared"


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="install.sh archives the git checkout")
def test_install_launch_logs_on_a_fake_worker(sandbox):
  env, home, _ = sandbox
  uv = home / ".local" / "bin" / "uv"
  uv.parent.mkdir(parents=True)
  uv.write_text(_FAKE_UV.replace("{python}", sys.executable))
  uv.chmod(0o755)
  run(env, "install.sh", *BASE, "--extras", "llm", check=True)
  code = home / "jaxresearch"
  assert (code / "pyproject.toml").is_file() and (code / ".venv/bin/python").is_file()
  assert not (home / "jaxresearch.tar.gz").exists()
  assert "pip install --quiet --python .venv/bin/python -e .[llm] jax[tpu]" in (
      (home / "uv.log").read_text())

  env = dict(env, FAKE_RUN_SECONDS="30")
  args = [*BASE, "--config=c.py:p", "--workdir=/shared/run", "--", "--config.name=a b"]
  pids = []
  try:
    first = run(env, "launch.sh", *args, check=True)
    assert "started pid" in first.stdout
    pids.append(int((code / "logs/run.log.pid").read_text()))
    _wait_for(home / "runner_args.json")
    assert json.loads((home / "runner_args.json").read_text()) == [
        "-m", "experiments.main", "--config=c.py:p", "--workdir=/shared/run", "--config.name=a b"]

    again = run(env, "launch.sh", *args)
    assert again.returncode != 0 and "--restart" in again.stderr

    (home / "runner_args.json").unlink()
    run(env, "launch.sh", "--restart", *args, check=True)
    pids.append(int((code / "logs/run.log.pid").read_text()))
    assert pids[1] != pids[0]
    _wait_for(home / "runner_args.json")

    logs = run(env, "logs.sh", *BASE, check=True).stdout
    assert logs.count("launch on") == 2 and "runner started" in logs
  finally:
    for pid in pids:  # only the fake runners this test started
      try:
        os.kill(pid, signal.SIGTERM)
      except ProcessLookupError:
        pass
