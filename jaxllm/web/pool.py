"""A pool of browser workers in separate processes (multiprocessing, spawn), reused across episodes.

Each `ProcessWorker` is one spawned Python process holding an `episode.EpisodeRunner` (its own
sandbox sites and its own Chromium). The parent talks to it over a pipe, one episode at a time:

  parent -> worker   ("run", EpisodeSpec)          or None to stop
  worker -> parent   ("beat", phase, step, t)      before each browser phase / agent decision
                     ("done", summary)             the episode's summary (completed or errored)

Heartbeats are what the per-action timeouts watch: `overdue()` says that the current phase ("env":
a browser action and the observation after it, or a reset; "agent": one decision) has run longer
than its limit, or the whole episode longer than the episode limit. The study then calls `kill()`,
which SIGKILLs the worker and every process below it (the Playwright driver and all Chromium
processes, found with psutil before the kill, since Chromium runs in its own process group and
would outlive its parent), and starts a fresh worker in its place.

A browser that crashes or is killed while the worker survives shows up as an errored episode
(kind "env"); the worker drops that browser and launches a new one for its next episode.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import multiprocessing.connection
import signal
import time
from typing import Any

import psutil

from jaxllm.web.episode import EpisodeRunner, EpisodeSpec


@dataclasses.dataclass
class Limits:
  """Timeouts in seconds: one browser phase, one agent decision, one whole episode (counted from
  the worker's first heartbeat), and a new worker's start-up (spawn, imports, sites)."""
  action_s: float = 30.0
  agent_s: float = 120.0
  episode_s: float = 300.0
  startup_s: float = 90.0


def _worker_main(conn: mp.connection.Connection, runner_kwargs: dict[str, Any]) -> None:
  """Entry point of a worker process."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
  runner = EpisodeRunner(**runner_kwargs)
  try:
    while True:
      msg = conn.recv()
      if msg is None:
        break
      _, spec = msg
      summary = runner.run(spec, beat=lambda phase, step: conn.send(("beat", phase, step,
                                                                     time.time())))
      conn.send(("done", summary))
  except (EOFError, BrokenPipeError):
    pass  # the parent is gone
  finally:
    runner.close()


def process_tree(pid: int) -> list[psutil.Process]:
  """The process and all its descendants (empty when it is gone)."""
  if pid <= 0:
    return []
  try:
    root = psutil.Process(pid)
    return [root] + root.children(recursive=True)
  except psutil.NoSuchProcess:
    return []


def kill_tree(pid: int, extra: list[psutil.Process] = ()) -> None:
  """SIGKILLs pid, its descendants and `extra`, then reaps what can be reaped."""
  procs = process_tree(pid) + list(extra)
  for p in procs:
    try:
      p.kill()
    except psutil.NoSuchProcess:
      pass
  psutil.wait_procs(procs, timeout=5)


class ProcessWorker:
  """One worker process (see the module docstring)."""

  def __init__(self, index: int, runner_kwargs: dict[str, Any], limits: Limits):
    self.index = index
    self.limits = limits
    ctx = mp.get_context("spawn")
    self.conn, child = ctx.Pipe()
    self.process = ctx.Process(target=_worker_main, args=(child, runner_kwargs),
                               name=f"web-worker-{index}", daemon=True)
    self.process.start()
    child.close()
    self.spec: EpisodeSpec | None = None
    self.phase, self.step = "", 0
    self.phase_start = self.episode_start = 0.0
    self._known: dict[int, psutil.Process] = {}  # descendants seen so far (for kill())

  @property
  def pid(self) -> int:
    return self.process.pid

  @property
  def busy(self) -> bool:
    return self.spec is not None

  def start(self, spec: EpisodeSpec) -> None:
    assert self.spec is None, "worker is busy"
    self.spec = spec
    self.phase, self.step = "start", 0
    self.phase_start = self.episode_start = time.time()
    self.conn.send(("run", spec))

  def poll(self) -> list[tuple]:
    """Messages that arrived; ("died", reason) when the process is gone."""
    out = []
    try:
      while self.conn.poll():
        msg = self.conn.recv()
        if msg[0] == "beat":
          if self.phase == "start":
            self.episode_start = time.time()
          _, self.phase, self.step, _ = msg
          self.phase_start = time.time()
        elif msg[0] == "done":
          self.spec = None
        out.append(msg)
    except (EOFError, OSError):
      out.append(("died", self._death_reason()))
      return out
    if not self.process.is_alive():
      out.append(("died", self._death_reason()))
    else:
      self._remember_children()
    return out

  def overdue(self) -> str:
    """Why the current episode must be stopped ('' while within its limits)."""
    if self.spec is None:
      return ""
    now = time.time()
    if self.phase == "start":
      if now - self.phase_start > self.limits.startup_s:
        return f"worker start-up timeout: not ready after {self.limits.startup_s:g}s"
      return ""
    if now - self.episode_start > self.limits.episode_s:
      return f"episode timeout: no result after {self.limits.episode_s:g}s"
    limit = self.limits.agent_s if self.phase == "agent" else self.limits.action_s
    if now - self.phase_start > limit:
      what = "agent decision" if self.phase == "agent" else "browser action"
      return f"{what} timeout: step {self.step} hung for more than {limit:g}s"
    return ""

  def kill(self) -> None:
    """SIGKILLs the worker with its driver and browsers."""
    self._remember_children()
    kill_tree(self.pid, list(self._known.values()))
    self.process.join(timeout=5)
    self.conn.close()
    self.spec = None

  def stop(self, timeout: float = 20.0) -> None:
    """Asks the worker to close its browser and exit; kills it if it does not."""
    self._remember_children()
    try:
      self.conn.send(None)
    except (BrokenPipeError, OSError):
      pass
    self.process.join(timeout=timeout)
    # Whatever is left (a worker that did not exit, or a browser that outlived it) is killed.
    kill_tree(self.pid if self.process.is_alive() else -1, list(self._known.values()))
    self.conn.close()

  def _remember_children(self) -> None:
    for p in process_tree(self.pid)[1:]:
      self._known.setdefault(p.pid, p)

  def _death_reason(self) -> str:
    self.process.join(timeout=1)
    code = self.process.exitcode
    if code is not None and code < 0:
      try:
        return f"worker process died (signal {signal.Signals(-code).name})"
      except ValueError:
        return f"worker process died (signal {-code})"
    return f"worker process exited (code {code})"


def browser_pids(worker_pid: int) -> list[int]:
  """Pids of the Chromium processes below a worker, main browser processes first."""
  mains, others = [], []
  for p in process_tree(worker_pid)[1:]:
    try:
      if "chrom" not in p.name().lower():
        continue
      parent = p.parent()
      is_main = parent is None or "chrom" not in parent.name().lower()
      (mains if is_main else others).append(p.pid)
    except psutil.NoSuchProcess:
      pass
  return mains + others


def wait_any(workers: list["ProcessWorker"], timeout: float) -> None:
  """Blocks until a busy worker sends something or dies, or `timeout` seconds pass."""
  handles = []
  for w in workers:
    if isinstance(w, ProcessWorker):  # (a study may hold placeholders for retired workers)
      handles += [w.conn, w.process.sentinel] if w.busy else [w.process.sentinel]
  if handles:
    mp.connection.wait(handles, timeout=timeout)
  else:
    time.sleep(timeout)
