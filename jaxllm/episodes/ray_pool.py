"""Episode workers as Ray actors, for studies larger than one host (`backend="ray"`).

`RayWorker` has the interface of `pool.ProcessWorker` (start, poll, overdue, kill, stop, busy,
index, pid), so the scheduler handles both the same way. Each actor builds one runner from a
`runner.RunnerFactory` and runs one episode per call; step records go to the workdir as seen from
the actor's host (a shared file system on a multi-host cluster).

Differences from the process pool. A Ray call returns once, so there are no per-step heartbeats:
only the per-episode limit (and the start-up limit for a new actor) is enforced from outside;
inside the actor the runner's own timeouts (a browser's per-operation timeout, say) still apply.
`kill()` SIGKILLs the actor's process tree when the actor runs on this host (so that nothing it
started is orphaned), then `ray.kill`s the actor. On other hosts Ray's own cleanup applies.

`ray` is an optional extra (`pip install -e '.[ray]'`); the scheduler imports this module only
for the ray backend.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Any

from jaxllm.episodes.heartbeat import Limits
from jaxllm.episodes.pool import Worker, kill_tree
from jaxllm.episodes.runner import RunnerFactory, run_episode
from jaxllm.episodes.spec import EpisodeSpec

try:
  import ray
except ImportError as e:  # pragma: no cover - depends on the installed extras
  raise ImportError("the ray backend needs Ray: pip install -e '.[ray]'", name="ray") from e


class _Actor:
  """The actor body: a runner plus its process id and host name."""

  def __init__(self, factory: RunnerFactory, workdir: str):
    self.runner = factory.build()
    self.workdir = workdir

  def where(self) -> tuple[int, str]:
    return os.getpid(), socket.gethostname()

  def run(self, spec: EpisodeSpec) -> dict[str, Any]:
    return run_episode(self.runner, spec, self.workdir)

  def close(self) -> None:
    self.runner.close()


_STARTED = []  # whether ensure_ray connected (so shutdown() disconnects only what it started)


def ensure_ray(address: str | None = None) -> None:
  """Connects to `address` (a running cluster), or starts a local one, once per process."""
  if not ray.is_initialized():
    ray.init(address=address or None, ignore_reinit_error=True, include_dashboard=False,
             log_to_driver=False)
    _STARTED.append(True)


def shutdown() -> None:
  """Disconnects from Ray (stopping a local instance) if `ensure_ray` connected."""
  if _STARTED and ray.is_initialized():
    ray.shutdown()
  _STARTED.clear()


class RayWorker(Worker):
  """One Ray actor (see the module docstring)."""

  def __init__(self, index: int, factory: RunnerFactory, workdir: str, limits: Limits,
               address: str | None = None):
    ensure_ray(address)
    self.index = index
    self.limits = limits
    self.actor = ray.remote(num_cpus=1, max_restarts=0)(_Actor).remote(factory, workdir)
    self._where = self.actor.where.remote()
    self.pid, self.host = -1, ""
    self.spec: EpisodeSpec | None = None
    self.ref = None
    self.started = self.created = time.time()

  def start(self, spec: EpisodeSpec) -> None:
    self._claim(spec)
    self.started = time.time()
    self.ref = self.actor.run.remote(spec)

  def _locate(self) -> None:
    if self.pid < 0 and self._where is not None:
      ready, _ = ray.wait([self._where], timeout=0)
      if ready:
        try:
          self.pid, self.host = ray.get(ready[0])
        except ray.exceptions.RayError:
          pass
        self._where = None

  def poll(self) -> list[tuple]:
    self._locate()
    if self.ref is None:
      return []
    ready, _ = ray.wait([self.ref], timeout=0)
    if not ready:
      return []
    self.ref, self.spec = None, None
    try:
      return [("done", ray.get(ready[0]))]
    except ray.exceptions.RayError as e:
      first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
      return [("died", f"Ray actor failed: {first}")]

  def overdue(self) -> str:
    if self.spec is None:
      return ""
    limit = self.limits.episode_s + (self.limits.startup_s if self.pid < 0 else 0.0)
    if time.time() - self.started > limit:
      return f"episode timeout: no result after {limit:g}s"
    return ""

  def _local(self) -> bool:
    return self.pid > 0 and self.host == socket.gethostname()

  def kill(self) -> None:
    self._locate()
    if self._local():
      kill_tree(self.pid)
    ray.kill(self.actor, no_restart=True)
    self.spec, self.ref = None, None

  def stop(self, timeout: float = 20.0) -> None:
    self._locate()
    try:
      ray.get(self.actor.close.remote(), timeout=timeout)
    except Exception:  # pylint: disable=broad-except
      self.kill()  # a dead or hung actor, with whatever it left running
      return
    ray.kill(self.actor, no_restart=True)  # its runner is closed; only the process is left


def wait_any(workers: list[Any], timeout: float) -> None:
  """Blocks until a busy actor returns or `timeout` seconds pass."""
  refs = [w.ref for w in workers if getattr(w, "ref", None) is not None]
  if refs:
    ray.wait(refs, num_returns=1, timeout=timeout)
  else:
    time.sleep(timeout)
