"""A web study: every (agent, task, seed) episode run in parallel over a pool of browser workers.

  study = Study(workdir, plan(["oracle"], tasks, seeds=range(2)),
                agents={"oracle": ("oracle", {})}, num_workers=2)
  records = study.run()                       # one final record per episode
  rows = summarize(records)                   # success rate and standard error per agent x task

`Study` is `jaxllm.episodes.Scheduler` with the browser runner (`episode.BrowserRunner`) plugged
in: everything about scheduling lives there (queue, per-phase and per-episode timeouts from
heartbeats, kill of the whole process tree, driver and Chromium included, and replacement of hung
or dead workers, relaunches of "env" / "crash" / "timeout" errors up to `max_retries`, resume from
`<workdir>/episodes.jsonl`, the "process" and "ray" backends, `on_event`). `plan`, `summarize`,
`load_records` and `Limits` are re-exported from there; `select_tasks` turns a selection string
into web task ids.
"""
from __future__ import annotations

from typing import Any

from jaxllm.episodes import (BACKENDS, RETRIED_KINDS, EpisodeSpec, Limits, RunnerFactory,
                             Scheduler, load_records, plan, summarize)

RUNNER = "jaxllm.web.episode:BrowserRunner"


class Study(Scheduler):
  """Runs web episode specs over browser workers (see the module docstring).

  Args:
    workdir: records and step logs go here; a rerun resumes from it.
    specs: the episodes (`plan(agents, tasks, seeds)`).
    agents: label -> (agent name in `jaxllm.web.agents.AGENTS`, keyword arguments).
    max_steps, timeout_ms, screenshots, headless, base_urls, init: for each worker's
      `episode.BrowserRunner`.
    The other keyword arguments are `jaxllm.episodes.Scheduler`'s.
  """

  def __init__(self, workdir: str, specs: list[EpisodeSpec],
               agents: dict[str, tuple[str, dict[str, Any]]], *, max_steps: int = 15,
               timeout_ms: int = 5000, screenshots: bool = False, headless: bool = True,
               base_urls: dict[str, str] | None = None,
               init: tuple[str, dict[str, Any]] | None = None, **scheduler_kwargs: Any):
    missing = sorted({s.agent for s in specs} - set(agents))
    assert not missing, f"specs name agents without a definition: {missing}"
    runner = RunnerFactory(RUNNER, {"agents": dict(agents), "max_steps": max_steps,
                                    "timeout_ms": timeout_ms, "screenshots": screenshots,
                                    "headless": headless, "base_urls": dict(base_urls or {}),
                                    "init": init})
    super().__init__(workdir, specs, runner, **scheduler_kwargs)


# ---------------------------------------------------------------- task selection
def select_tasks(selection: str) -> list[str]:
  """Task ids from a comma-separated selection: ids, 'site.*' prefixes, or the groups 'sandbox',
  'miniwob', 'miniwob-oracle', 'agentdam'. Raises ValueError naming the valid choices."""
  from jaxllm.web import list_tasks  # pylint: disable=import-outside-toplevel
  from jaxllm.web.miniwob import ORACLE_TASKS  # pylint: disable=import-outside-toplevel
  every = list_tasks()
  groups = {"sandbox": [t for t in every if not t.startswith(("miniwob.", "agentdam."))],
            "agentdam": [t for t in every if t.startswith("agentdam.")],
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
                       f"miniwob-oracle, agentdam, site prefixes like shop.*, or ids: {sandbox}, "
                       f"miniwob.<name> ({len(groups['miniwob'])} tasks), agentdam.<site>.<n>")
    out += [t for t in found if t not in out]
  if not out:
    raise ValueError("no tasks selected; set tasks to e.g. 'sandbox' or 'shop.cart_add'")
  return out


__all__ = ["BACKENDS", "Limits", "RETRIED_KINDS", "Study", "load_records", "plan", "select_tasks",
           "summarize"]
