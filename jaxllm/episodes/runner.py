"""The pluggable part of a study: what runs one episode inside a worker.

A runner is any object with

  run(spec, beat, record) -> summary dict    # never raises
  close()                                    # once, when its worker stops

`spec` is an `EpisodeSpec`; `beat(phase, step)` must be called before every environment phase
("env": a reset, or a step and the observation after it) and every agent decision ("agent"), since
the per-phase timeouts of the pool watch these heartbeats; `record` is the episode's
`records.StepRecorder` (call it with one JSON-able dict per step). The summary has the fields of
`spec.blank_summary`, with `status` "completed" or "errored" and, for errors, `error_kind`:

  agent    the agent could not act; final (the same agent would fail the same way)
  env      the environment failed (a crashed browser, a task that cannot be set up); retried
  runner   the runner broke its contract and raised; final (a bug, not bad luck)
  crash    (set by the scheduler) the worker process died; retried
  timeout  (set by the scheduler) a phase or the episode ran over its limit; retried

Workers are separate processes started with `spawn` (or Ray actors), so a runner travels as plain
data: a `RunnerFactory(target, kwargs)`, where target is an importable "module:callable" string
(or a module-level callable, which pickles by name) and `build()` calls it with kwargs inside the
worker. `GymRunner` (gym_runner.py) runs any Gymnasium-like text environment with any agent;
`jaxllm.web.episode.BrowserRunner` is the browser study's runner.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import time
import traceback
from typing import Any, Callable, Protocol

from jaxllm.episodes.records import StepRecorder
from jaxllm.episodes.spec import EpisodeSpec, failure

Beat = Callable[[str, int], None]


class Runner(Protocol):

  def run(self, spec: EpisodeSpec, beat: Beat, record: StepRecorder) -> dict[str, Any]:
    ...

  def close(self) -> None:
    ...


def resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
  """The callable a "package.module:name" string names (a callable is returned as it is)."""
  if callable(target):
    return target
  module, _, name = str(target).partition(":")
  if not module or not name:
    raise ValueError(f"{target!r} is not a 'package.module:callable' string")
  try:
    obj = importlib.import_module(module)
  except ImportError as e:
    raise ValueError(f"cannot import {module!r} for {target!r}: {e}") from None
  for part in name.split("."):
    obj = getattr(obj, part, None)
    if obj is None:
      raise ValueError(f"module {module!r} has no {name!r} (from {target!r})")
  if not callable(obj):
    raise ValueError(f"{target!r} is not callable")
  return obj


@dataclasses.dataclass(frozen=True)
class RunnerFactory:
  """Plain data that builds a runner inside a worker: `resolve(target)(**kwargs)`."""
  target: str | Callable[..., Any]
  kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

  def check(self) -> None:
    """Raises ValueError, before any worker starts, if the target cannot be found."""
    resolve(self.target)

  def build(self) -> Runner:
    return resolve(self.target)(**self.kwargs)


def describe(e: BaseException) -> str:
  """'Type: first line of the message (at file.py:line)', naming the deepest jaxllm frame."""
  ours = [f for f in traceback.extract_tb(e.__traceback__) if "jaxllm" in f.filename]
  where = f" (at {os.path.basename(ours[-1].filename)}:{ours[-1].lineno})" if ours else ""
  first = str(e).strip().splitlines()[0][:400] if str(e).strip() else ""
  return f"{type(e).__name__}: {first}{where}"


def run_episode(runner: Runner, spec: EpisodeSpec, workdir: str,
                beat: Beat | None = None) -> dict[str, Any]:
  """One episode in this process: opens its step recorder, runs it, adds `elapsed_s` and `pid`."""
  start = time.time()
  with StepRecorder(workdir, spec) as record:
    try:
      summary = runner.run(spec, beat or (lambda phase, step: None), record)
    except Exception as e:  # pylint: disable=broad-except
      summary = failure(spec, "runner", describe(e))
  return {**summary, "elapsed_s": round(time.time() - start, 3), "pid": os.getpid()}
