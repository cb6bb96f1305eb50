"""The scheduler: every episode of a plan run over a pool of workers, retried, resumable, recorded.

  factory = RunnerFactory("jaxllm.episodes:GymRunner", {"env": "mygames:make", "agents": {...}})
  records = Scheduler(workdir, plan(["greedy"], ["guess.easy"], range(8)), factory,
                      num_workers=2).run()             # one final record per episode
  rows = summarize(records)                            # success rate and standard error

Scheduling. Episodes wait in a queue; each idle worker takes the next one. The loop wakes on any
worker message (or every `tick_s`) and then:
  - a finished episode is final unless it errored with a retried kind (`retried_kinds`: "env",
    "crash", "timeout" by default) and has attempts left (`max_retries` relaunches), in which case
    it goes back to the front of the queue;
  - a worker that died, or whose current phase or episode ran over its limit
    (`heartbeat.Limits`), is killed with its whole process tree and replaced by a fresh one; its
    episode errors with kind "crash" or "timeout" and is relaunched the same way.
Agent errors (kind "agent") are final: the same agent would fail the same way.

Records. Each final episode is appended to the `records.RecordStore` (`<workdir>/episodes.jsonl`):
the runner's summary plus `attempts`, the errors of earlier attempts, the worker and the time. A
rerun on the same workdir skips every episode whose latest record is "completed"; errored ones run
again. Pass `store=` to share one store (kept as host state by an online loop) across schedulers.

Backends: "process" (`pool.ProcessWorker`, multiprocessing with spawn) and "ray"
(`ray_pool.RayWorker`, Ray actors, imported only when asked for; `ray_address` picks the cluster).
`on_event(kind, spec, worker, payload)` is called for "start", "beat", "done", "retry" and "kill"
events (progress printing, tests).
"""
from __future__ import annotations

import collections
import os
import time
from typing import Any, Callable, Iterable, Iterator

from jaxllm.episodes import pool
from jaxllm.episodes.heartbeat import Limits
from jaxllm.episodes.records import RecordStore
from jaxllm.episodes.runner import RunnerFactory
from jaxllm.episodes.spec import EpisodeSpec, failure

BACKENDS = ("process", "ray")
RETRIED_KINDS = ("env", "crash", "timeout")

Event = Callable[[str, EpisodeSpec, Any, Any], None]


class Scheduler:
  """Runs a list of episode specs with runners built by `runner`; see the module docstring."""

  def __init__(self, workdir: str, specs: Iterable[EpisodeSpec], runner: RunnerFactory, *,
               num_workers: int = 2, backend: str = "process", limits: Limits | None = None,
               max_retries: int = 2, retried_kinds: Iterable[str] = RETRIED_KINDS,
               ray_address: str | None = None, store: RecordStore | None = None,
               on_event: Event | None = None, verbose: bool = True, tick_s: float = 0.25):
    if backend not in BACKENDS:
      raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    runner.check()
    self.workdir = os.path.abspath(workdir)
    self.specs = list(dict.fromkeys(specs))  # unique, in order
    self.runner = runner
    self.num_workers = max(1, int(num_workers))
    self.backend = backend
    self.limits = limits or Limits()
    self.max_retries = max_retries
    self.retried_kinds = tuple(retried_kinds)
    self.ray_address = ray_address
    self.store = store
    self.on_event = on_event or (lambda kind, spec, worker, payload: None)
    self.verbose = verbose
    self.tick_s = tick_s
    self.workers: list[Any] = []
    self.wall_s = 0.0

  # ---------------------------------------------------------------- workers
  def _new_worker(self, index: int):
    if self.backend == "ray":
      from jaxllm.episodes.ray_pool import RayWorker  # pylint: disable=import-outside-toplevel
      return RayWorker(index, self.runner, self.workdir, self.limits, address=self.ray_address)
    return pool.ProcessWorker(index, self.runner, self.workdir, self.limits)

  def _wait(self) -> None:
    if self.backend == "ray":
      from jaxllm.episodes import ray_pool  # pylint: disable=import-outside-toplevel
      ray_pool.wait_any(self.workers, self.tick_s)
    else:
      pool.wait_any(self.workers, self.tick_s)

  # ---------------------------------------------------------------- the loop
  def run(self) -> list[dict[str, Any]]:
    """Runs every episode not already completed in the store; returns all final records."""
    for _ in self.records():
      pass
    return [self._finals[s.key] for s in self.specs if s.key in self._finals]

  def records(self, skip: str = "completed") -> Iterator[dict[str, Any]]:
    """Runs the episodes, yielding each final record as it lands (an online loop's source).

    `skip`: "completed" skips episodes the store holds as completed (errored ones run again);
    "final" skips every episode the store holds a final record for. Closing the generator
    early kills the workers (in-flight episodes are dropped, not recorded).
    """
    os.makedirs(self.workdir, exist_ok=True)
    if self.store is None:
      self.store = RecordStore(self.workdir)
    if skip not in ("completed", "final"):
      raise ValueError(f"skip must be 'completed' or 'final', got {skip!r}")
    done = self.store.completed() if skip == "completed" else self.store.finals()
    todo = [s for s in self.specs if s.key not in done]
    if self.verbose and len(todo) < len(self.specs):
      print(f"resuming: {len(self.specs) - len(todo)} of {len(self.specs)} episodes already "
            f"{'completed' if skip == 'completed' else 'final'} in this workdir", flush=True)
    queue = collections.deque((s, 1, []) for s in todo)
    current: dict[int, tuple[EpisodeSpec, int, list[str]]] = {}  # worker index -> queue item
    finals: dict[str, dict[str, Any]] = {}
    self._finals = finals
    start = time.time()
    finished = False
    try:
      self.workers = [self._new_worker(i) for i in range(min(self.num_workers, len(todo)))]
      while queue or current:
        for w in self.workers:
          if not w.busy and queue and w.index not in current:
            item = queue.popleft()
            current[w.index] = item
            w.start(item[0])
            self.on_event("start", item[0], w, item[1])
        self._wait()
        landed: list[dict[str, Any] | None] = []
        for i, w in enumerate(self.workers):
          replace = False
          for msg in w.poll():
            if msg[0] == "beat":
              self.on_event("beat", current[w.index][0], w, msg[1:3])
            elif msg[0] == "done":
              landed.append(self._finish(current.pop(w.index), msg[1], queue, finals, w))
            elif msg[0] == "died":
              replace = True
              if w.index in current:
                item = current.pop(w.index)
                landed.append(self._finish(item, failure(item[0], "crash", msg[1]), queue,
                                           finals, w))
              break
          reason = "" if replace else w.overdue()
          if reason:
            item = current.pop(w.index)
            self.on_event("kill", item[0], w, reason)
            landed.append(self._finish(item, failure(item[0], "timeout", reason), queue, finals,
                                       w))
            replace = True
          if replace:  # kill what is left of the worker (and its children) and start a new one
            self._retire(w)
            self.workers[i] = self._new_worker(w.index) if (queue or current) else _Idle(w.index)
        for record in landed:
          if record is not None:
            yield record
        landed.clear()
      finished = True
    finally:
      for w in self.workers:  # interrupted (Ctrl-C, an error): kill rather than wait for episodes
        self._retire(w, graceful=finished)
      self.workers = []
      if self.backend == "ray":
        from jaxllm.episodes.ray_pool import shutdown  # pylint: disable=import-outside-toplevel
        shutdown()
      self.wall_s = time.time() - start
    finals.update(done)

  def _retire(self, worker, graceful: bool = False) -> None:
    if isinstance(worker, _Idle):
      return
    if graceful:
      worker.stop()
    else:
      worker.kill()

  def _finish(self, item, summary: dict[str, Any], queue, finals, worker
              ) -> dict[str, Any] | None:
    """Requeues a retryable failure (None) or records the final episode (its record)."""
    spec, attempt, errors = item
    if (summary["status"] == "errored" and summary["error_kind"] in self.retried_kinds
        and attempt <= self.max_retries):
      errors = errors + [summary["error"]]
      queue.appendleft((spec, attempt + 1, errors))
      self.on_event("retry", spec, worker, summary["error"])
      if self.verbose:
        print(f"relaunching {spec.key} (attempt {attempt + 1}): {summary['error']}", flush=True)
      return None
    record = {**summary, "attempts": attempt, "attempt_errors": errors,
              "worker": worker.index, "time": time.time()}
    self.store.append(record)
    finals[spec.key] = record
    self.on_event("done", spec, worker, record)
    if self.verbose:
      outcome = (("success" if record["success"] else "failure") if record["status"] == "completed"
                 else f"errored ({record['error_kind']}: {record['error'][:240]})")
      print(f"[{len(finals)}/{len(self.specs)}] {spec.agent} {spec.task_id} seed {spec.seed}: "
            f"{outcome} ({record['steps']} steps, {record.get('elapsed_s', 0):.1f}s)", flush=True)
    return record


class _Idle:
  """Placeholder for a retired worker when nothing is left to run."""

  def __init__(self, index: int):
    self.index = index
    self.busy = False

  def poll(self) -> list:
    return []

  def overdue(self) -> str:
    return ""

  def start(self, spec) -> None:
    raise AssertionError("idle placeholder cannot run episodes")
