"""Limits on how long a worker may take, and the heartbeat clock that enforces them.

A worker's runner calls `beat(phase, step)` before every environment phase ("env") and agent
decision ("agent"); the pool forwards each beat to the scheduler's process, where a `Heartbeat`
per worker remembers the current phase and when it began. `overdue(limits)` then says why the
episode must be stopped: the worker has not started its episode within `startup_s` (spawn,
imports, the runner's own start-up such as sandbox sites), the phase has run longer than
`action_s` (env) or `agent_s` (agent), or the whole episode, counted from its first beat, longer
than `episode_s`. An empty string means within limits.
"""
from __future__ import annotations

import dataclasses
import time


@dataclasses.dataclass
class Limits:
  """Timeouts in seconds: one environment phase (a reset, or a step with its observation), one
  agent decision, one whole episode (counted from the worker's first heartbeat), and a new
  worker's start-up (spawn, imports, the runner's set-up)."""
  action_s: float = 30.0
  agent_s: float = 120.0
  episode_s: float = 300.0
  startup_s: float = 90.0


class Heartbeat:
  """The clock of one worker's current episode (see the module docstring)."""

  def __init__(self):
    self.phase, self.step = "", 0
    self.phase_start = self.episode_start = 0.0

  def start(self, now: float | None = None) -> None:
    """An episode was sent to the worker; it is "start"ing until its first beat."""
    now = time.time() if now is None else now
    self.phase, self.step = "start", 0
    self.phase_start = self.episode_start = now

  def beat(self, phase: str, step: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if self.phase == "start":
      self.episode_start = now
    self.phase, self.step, self.phase_start = phase, step, now

  def overdue(self, limits: Limits, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if self.phase == "start":
      if now - self.phase_start > limits.startup_s:
        return f"worker start-up timeout: not ready after {limits.startup_s:g}s"
      return ""
    if now - self.episode_start > limits.episode_s:
      return f"episode timeout: no result after {limits.episode_s:g}s"
    limit = limits.agent_s if self.phase == "agent" else limits.action_s
    if now - self.phase_start > limit:
      what = "agent decision" if self.phase == "agent" else "env step"
      return f"{what} timeout: step {self.step} hung for more than {limit:g}s"
    return ""
