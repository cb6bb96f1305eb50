"""What one episode is: an agent label, a task id and a seed; its key, its plan and its summary.

  specs = plan(["greedy", "random"], ["guess.easy"], seeds=range(3))   # seeds innermost
  specs[0].key                                                         # 'greedy/guess.easy/0'

The agent is a label of the study's agent table (the runner knows how to build it), the task id is
whatever the environment factory accepts, and the seed goes to `env.reset(seed=...)`. The key
names the episode in the records (`records.py`) and on disk (`episode_dir`).

Every runner returns a summary with the fields of `blank_summary`; `failure` is the summary of
an episode that never finished (its worker was killed, or died).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
  """Which agent (a label of the study's agent table), which task, which seed."""
  agent: str
  task_id: str
  seed: int

  @property
  def key(self) -> str:
    return f"{self.agent}/{self.task_id}/{self.seed}"


def plan(agents: Iterable[str], tasks: Iterable[str], seeds: Iterable[int]) -> list[EpisodeSpec]:
  """Every (agent, task, seed) combination, seeds innermost."""
  return [EpisodeSpec(a, t, int(s)) for a in agents for t in tasks for s in seeds]


def episode_dir(workdir: str, spec: EpisodeSpec) -> str:
  """`<workdir>/episodes/<agent>/<task>/seed<k>`: where the episode's step records go."""
  return os.path.join(workdir, "episodes", spec.agent, spec.task_id, f"seed{spec.seed}")


def blank_summary(spec: EpisodeSpec) -> dict[str, Any]:
  """The summary of an episode before its first step. `reward` is the last step's reward (a web
  task's reward), `return` the sum over steps (a game's score); `error_kind` is set when
  `status` is "errored" (see `runner.py` for the kinds)."""
  return {"key": spec.key, "agent": spec.agent, "task_id": spec.task_id, "seed": spec.seed,
          "status": "completed", "reward": 0.0, "return": 0.0, "success": False, "steps": 0,
          "terminated": False, "truncated": False, "error": "", "error_kind": ""}


def failure(spec: EpisodeSpec, kind: str, reason: str) -> dict[str, Any]:
  """The summary of an episode that errored with `kind` before its runner could answer."""
  return {**blank_summary(spec), "status": "errored", "error": reason, "error_kind": kind}
