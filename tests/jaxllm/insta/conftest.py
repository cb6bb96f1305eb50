"""Shared InSTA test helpers: a session server subprocess and a forum sandbox site."""
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _spawn(*args: str) -> tuple[subprocess.Popen, str]:
  cmd = [sys.executable, "-m", "jaxllm.insta.server", "--port", "0", *args]
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
  ready, _, _ = select.select([proc.stdout], [], [], 60)
  line = proc.stdout.readline() if ready else ""
  if "listening on http://" not in line:
    _stop(proc)
    raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()[-2000:]}")
  assert line.startswith("jaxllm.insta.server listening on http://127.0.0.1:"), line
  return proc, line.split()[-1]


def _stop(proc: subprocess.Popen) -> None:
  if proc.poll() is None:
    proc.send_signal(signal.SIGTERM)
    try:
      proc.wait(15)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait(5)


@pytest.fixture(scope="module")
def forum():
  from jaxllm.web.sites import start_sites
  sandbox = start_sites(names=("forum",))
  yield sandbox.urls["forum"]
  sandbox.close()


@pytest.fixture(scope="module")
def server():
  proc, url = _spawn()
  yield url
  _stop(proc)
