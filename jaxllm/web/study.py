"""A study: every (agent, task, seed) episode run in parallel over a pool of browser workers.

  study = Study(workdir, plan(["oracle"], tasks, seeds=range(2)),
                agents={"oracle": ("oracle", {})}, num_workers=2)
  records = study.run()                       # one final record per episode
  rows = summarize(records)                   # success rate and standard error per agent x task

Scheduling. Episodes wait in a queue; each idle worker takes the next one. The loop wakes on any
worker message (or every `tick_s`) and then:
  - a finished episode is final unless it errored with kind "env" (a crashed browser, a failed
    page) and has attempts left (`max_retries` relaunches), in which case it goes back to the
    front of the queue;
  - a worker that died, or whose current phase or episode ran over its limit (`pool.Limits`), is
    killed with its whole process tree (driver and Chromium) and replaced by a fresh one; its
    episode errors with kind "crash" or "timeout" and is relaunched the same way.
Agent errors (kind "agent") are final: the same agent would fail the same way.

Records. `<workdir>/episodes.jsonl` gets one line per final episode: the worker's summary
(status, reward, success, steps, error, error_kind) plus `attempts` and the errors of earlier
attempts. Step-level records live under `<workdir>/episodes/` (see `episode.py`). A study rerun
on the same workdir reads episodes.jsonl and skips every episode whose latest line is
"completed"; errored ones run again.

Backends: "process" (`pool.ProcessWorker`, multiprocessing with spawn) and "ray"
(`ray_pool.RayWorker`, Ray actors; `ray_address` picks the cluster). `on_event(kind, spec,
worker, payload)` is called for "start", "beat", "done", "retry" and "kill" events (progress
printing, tests).
"""
from __future__ import annotations

import collections
import json
import math
import os
import time
from typing import Any, Callable, Iterable

from jaxllm.web.episode import EpisodeSpec
from jaxllm.web.pool import Limits, ProcessWorker, wait_any

BACKENDS = ("process", "ray")
RETRIED_KINDS = ("env", "crash", "timeout")
RECORDS = "episodes.jsonl"

Event = Callable[[str, EpisodeSpec, Any, Any], None]


def plan(agents: Iterable[str], tasks: Iterable[str], seeds: Iterable[int]) -> list[EpisodeSpec]:
  """Every (agent, task, seed) combination, seeds innermost."""
  return [EpisodeSpec(a, t, int(s)) for a in agents for t in tasks for s in seeds]


def load_records(workdir: str) -> dict[str, dict[str, Any]]:
  """Latest record per episode key from `<workdir>/episodes.jsonl` (empty if none)."""
  path = os.path.join(workdir, RECORDS)
  out: dict[str, dict[str, Any]] = {}
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      for line in f:
        line = line.strip()
        if not line:
          continue
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          continue  # a line cut short by a kill; that episode runs again
        out[record["key"]] = record
  return out


class Study:
  """Runs a list of episode specs; see the module docstring."""

  def __init__(self, workdir: str, specs: list[EpisodeSpec],
               agents: dict[str, tuple[str, dict[str, Any]]], *, num_workers: int = 2,
               backend: str = "process", limits: Limits | None = None, max_retries: int = 2,
               max_steps: int = 15, timeout_ms: int = 5000, screenshots: bool = False,
               headless: bool = True, ray_address: str | None = None,
               on_event: Event | None = None, verbose: bool = True, tick_s: float = 0.25):
    if backend not in BACKENDS:
      raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    missing = sorted({s.agent for s in specs} - set(agents))
    assert not missing, f"specs name agents without a definition: {missing}"
    self.workdir = os.path.abspath(workdir)
    self.specs = list(dict.fromkeys(specs))  # unique, in order
    self.num_workers = max(1, int(num_workers))
    self.backend = backend
    self.limits = limits or Limits()
    self.max_retries = max_retries
    self.ray_address = ray_address
    self.on_event = on_event or (lambda kind, spec, worker, payload: None)
    self.verbose = verbose
    self.tick_s = tick_s
    self.runner_kwargs = {"workdir": self.workdir, "agents": dict(agents), "max_steps": max_steps,
                          "timeout_ms": timeout_ms, "screenshots": screenshots,
                          "headless": headless}
    self.workers: list[Any] = []
    self.wall_s = 0.0

  # ---------------------------------------------------------------- workers
  def _new_worker(self, index: int):
    if self.backend == "ray":
      from jaxllm.web.ray_pool import RayWorker  # pylint: disable=import-outside-toplevel
      return RayWorker(index, self.runner_kwargs, self.limits, address=self.ray_address)
    return ProcessWorker(index, self.runner_kwargs, self.limits)

  def _wait(self) -> None:
    if self.backend == "ray":
      from jaxllm.web import ray_pool  # pylint: disable=import-outside-toplevel
      ray_pool.wait_any(self.workers, self.tick_s)
    else:
      wait_any(self.workers, self.tick_s)

  # ---------------------------------------------------------------- the loop
  def run(self) -> list[dict[str, Any]]:
    """Runs every episode not already completed in the workdir; returns all final records."""
    os.makedirs(self.workdir, exist_ok=True)
    done = {k: r for k, r in load_records(self.workdir).items() if r.get("status") == "completed"}
    todo = [s for s in self.specs if s.key not in done]
    if self.verbose and len(todo) < len(self.specs):
      print(f"resuming: {len(self.specs) - len(todo)} of {len(self.specs)} episodes already "
            "completed in this workdir", flush=True)
    queue = collections.deque((s, 1, []) for s in todo)
    current: dict[int, tuple[EpisodeSpec, int, list[str]]] = {}  # worker index -> queue item
    finals: dict[str, dict[str, Any]] = {}
    start = time.time()
    records = open(os.path.join(self.workdir, RECORDS), "a", encoding="utf-8")
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
        for i, w in enumerate(self.workers):
          replace = False
          for msg in w.poll():
            if msg[0] == "beat":
              self.on_event("beat", current[w.index][0], w, msg[1:3])
            elif msg[0] == "done":
              self._finish(current.pop(w.index), msg[1], queue, finals, records, w)
            elif msg[0] == "died":
              replace = True
              if w.index in current:
                item = current.pop(w.index)
                self._finish(item, _failure(item[0], "crash", msg[1]), queue, finals, records, w)
              break
          reason = "" if replace else w.overdue()
          if reason:
            item = current.pop(w.index)
            self.on_event("kill", item[0], w, reason)
            self._finish(item, _failure(item[0], "timeout", reason), queue, finals, records, w)
            replace = True
          if replace:  # kill what is left of the worker (its browser too) and start a new one
            self._retire(w)
            self.workers[i] = self._new_worker(w.index) if (queue or current) else _Idle(w.index)
      finished = True
    finally:
      records.close()
      for w in self.workers:  # interrupted (Ctrl-C, an error): kill rather than wait for episodes
        self._retire(w, graceful=finished)
      self.workers = []
      if self.backend == "ray":
        from jaxllm.web.ray_pool import shutdown  # pylint: disable=import-outside-toplevel
        shutdown()
      self.wall_s = time.time() - start
    finals.update(done)
    return [finals[s.key] for s in self.specs if s.key in finals]

  def _retire(self, worker, graceful: bool = False) -> None:
    if isinstance(worker, _Idle):
      return
    if graceful:
      worker.stop()
    else:
      worker.kill()

  def _finish(self, item, summary: dict[str, Any], queue, finals, records, worker) -> None:
    spec, attempt, errors = item
    if (summary["status"] == "errored" and summary["error_kind"] in RETRIED_KINDS
        and attempt <= self.max_retries):
      errors = errors + [summary["error"]]
      queue.appendleft((spec, attempt + 1, errors))
      self.on_event("retry", spec, worker, summary["error"])
      if self.verbose:
        print(f"relaunching {spec.key} (attempt {attempt + 1}): {summary['error']}", flush=True)
      return
    record = {**summary, "attempts": attempt, "attempt_errors": errors,
              "worker": worker.index, "time": time.time()}
    records.write(json.dumps(record) + "\n")
    records.flush()
    finals[spec.key] = record
    self.on_event("done", spec, worker, record)
    if self.verbose:
      total = len(self.specs)
      outcome = (("success" if record["success"] else "failure") if record["status"] == "completed"
                 else f"errored ({record['error_kind']}: {record['error'][:120]})")
      print(f"[{len(finals)}/{total}] {spec.agent} {spec.task_id} seed {spec.seed}: {outcome} "
            f"({record['steps']} steps, {record.get('elapsed_s', 0):.1f}s)", flush=True)


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


def _failure(spec: EpisodeSpec, kind: str, reason: str) -> dict[str, Any]:
  return {"key": spec.key, "agent": spec.agent, "task_id": spec.task_id, "seed": spec.seed,
          "status": "errored", "reward": 0.0, "success": False, "steps": 0, "terminated": False,
          "truncated": False, "error": reason, "error_kind": kind}


# ---------------------------------------------------------------- results
def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Rows 'agent / task' (and 'agent / ALL'): episodes, success rate, its standard error,
  errored episodes, mean steps. Errored episodes count as failures."""
  groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
  for r in records:
    groups[f"{r['agent']} / {r['task_id']}"].append(r)
  for agent in sorted({r["agent"] for r in records}):
    groups[f"{agent} / ALL"] = [r for r in records if r["agent"] == agent]
  rows = {}
  for name, rs in groups.items():
    n = len(rs)
    p = sum(bool(r["success"]) for r in rs) / n
    rows[name] = {"episodes": n, "success": p, "stderr": math.sqrt(p * (1 - p) / n),
                  "errored": sum(r["status"] == "errored" for r in rs),
                  "mean_steps": sum(r["steps"] for r in rs) / n}
  return rows


# ---------------------------------------------------------------- task selection
def select_tasks(selection: str) -> list[str]:
  """Task ids from a comma-separated selection: ids, 'site.*' prefixes, or the groups 'sandbox',
  'miniwob', 'miniwob-oracle'. Raises ValueError naming the valid choices."""
  from jaxllm.web import list_tasks  # pylint: disable=import-outside-toplevel
  from jaxllm.web.miniwob import ORACLE_TASKS  # pylint: disable=import-outside-toplevel
  every = list_tasks()
  groups = {"sandbox": [t for t in every if not t.startswith("miniwob.")],
            "miniwob": [t for t in every if t.startswith("miniwob.")],
            "miniwob-oracle": [f"miniwob.{n}" for n in ORACLE_TASKS if f"miniwob.{n}" in every]}
  out: list[str] = []
  for item in filter(None, (s.strip() for s in selection.split(","))):
    if item in groups:
      found = groups[item]
    elif item.endswith(".*"):
      found = [t for t in every if t.startswith(item[:-1])]
    else:
      found = [item] if item in every else []
    if not found:
      sandbox = ", ".join(groups["sandbox"])
      raise ValueError(f"unknown task {item!r}; valid: the groups sandbox, miniwob, "
                       f"miniwob-oracle, site prefixes like shop.*, or ids: {sandbox}, "
                       f"miniwob.<name> ({len(groups['miniwob'])} tasks)")
    out += [t for t in found if t not in out]
  if not out:
    raise ValueError("no tasks selected; set tasks to e.g. 'sandbox' or 'shop.cart_add'")
  return out
