"""A pool of episode workers in separate processes (multiprocessing, spawn), reused across episodes.

Each `ProcessWorker` is one spawned Python process holding one runner, built inside it from a
`runner.RunnerFactory`. The parent talks to it over a pipe, one episode at a time:

  parent -> worker   ("run", EpisodeSpec)          or None to stop
  worker -> parent   ("beat", phase, step, t)      before each env phase / agent decision
                     ("done", summary)             the episode's summary (completed or errored)

The beats feed a `heartbeat.Heartbeat`, whose `overdue()` the scheduler checks. To stop a hung
or overdue worker the scheduler calls `kill()`, which SIGKILLs the worker and every process below
it (found with psutil before the kill and remembered while the worker runs, since a child such as
Chromium may run in its own process group and would otherwise outlive its parent), and then
starts a fresh worker in its place.
"""
from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import signal
import time
from typing import Any

import psutil

from jaxllm.episodes.heartbeat import Heartbeat, Limits
from jaxllm.episodes.runner import RunnerFactory, run_episode
from jaxllm.episodes.spec import EpisodeSpec


def _worker_main(conn: mp.connection.Connection, factory: RunnerFactory, workdir: str) -> None:
  """Entry point of a worker process."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
  runner = factory.build()
  try:
    while True:
      msg = conn.recv()
      if msg is None:
        break
      _, spec = msg
      summary = run_episode(runner, spec, workdir,
                            beat=lambda phase, step: conn.send(("beat", phase, step, time.time())))
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
  deadline = time.monotonic() + 5.0
  for p in procs:  # one at a time: a process reaped meanwhile (by its parent) is skipped
    try:
      p.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (psutil.Error, OSError):
      pass  # gone already (NoSuchProcess, or the pidfd of a reaped pid), or not our child


class Worker:
  """What the scheduler sees of a worker: `index`, `pid`, `busy`, `start(spec)`, `poll()` (messages
  "beat", "done", "died"), `overdue()`, `kill()` and `stop()`. Holds the current spec."""
  spec: EpisodeSpec | None = None

  @property
  def busy(self) -> bool:
    return self.spec is not None

  def _claim(self, spec: EpisodeSpec) -> None:
    assert self.spec is None, "worker is busy"
    self.spec = spec


class ProcessWorker(Worker):
  """One worker process (see the module docstring)."""

  def __init__(self, index: int, factory: RunnerFactory, workdir: str, limits: Limits):
    self.index = index
    self.limits = limits
    ctx = mp.get_context("spawn")
    self.conn, child = ctx.Pipe()
    self.process = ctx.Process(target=_worker_main, args=(child, factory, workdir),
                               name=f"episode-worker-{index}", daemon=True)
    self.process.start()
    child.close()
    self.spec: EpisodeSpec | None = None
    self.clock = Heartbeat()
    self._known: dict[int, psutil.Process] = {}  # descendants seen so far (for kill())

  @property
  def pid(self) -> int:
    return self.process.pid

  def start(self, spec: EpisodeSpec) -> None:
    self._claim(spec)
    self.clock.start()
    self.conn.send(("run", spec))

  def poll(self) -> list[tuple]:
    """Messages that arrived; ("died", reason) when the process is gone."""
    out = []
    try:
      while self.conn.poll():
        msg = self.conn.recv()
        if msg[0] == "beat":
          self.clock.beat(msg[1], msg[2])
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
    """Why the current episode must be stopped ('' while within its limits, or idle)."""
    return self.clock.overdue(self.limits) if self.spec is not None else ""

  def kill(self) -> None:
    """SIGKILLs the worker with everything below it."""
    self._remember_children()
    kill_tree(self.pid, list(self._known.values()))
    self.process.join(timeout=5)
    self.conn.close()
    self.spec = None

  def stop(self, timeout: float = 20.0) -> None:
    """Asks the worker to close its runner and exit; kills it if it does not."""
    self._remember_children()
    try:
      self.conn.send(None)
    except (BrokenPipeError, OSError):
      pass
    self.process.join(timeout=timeout)
    # Whatever is left (a worker that did not exit, or a child that outlived it) is killed.
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


def wait_any(workers: list[Any], timeout: float) -> None:
  """Blocks until a busy worker sends something or dies, or `timeout` seconds pass."""
  handles = []
  for w in workers:
    if isinstance(w, ProcessWorker):  # (a scheduler may hold placeholders for retired workers)
      handles += [w.conn, w.process.sentinel] if w.busy else [w.process.sentinel]
  if handles:
    mp.connection.wait(handles, timeout=timeout)
  else:
    time.sleep(timeout)
