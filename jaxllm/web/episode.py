"""The browser study's runner: one episode of one agent on one web task, in a long-lived worker.

`BrowserRunner` is a `jaxllm.episodes.GymRunner` (the generic loop: reset, agent decisions with
heartbeats, steps, step records, error kinds) with the browser parts filled in. A study worker (a
process of `jaxllm.episodes.pool`, or a Ray actor) builds one from plain data
(`RunnerFactory("jaxllm.web.episode:BrowserRunner", kwargs)`); it holds its own sandbox sites on
ephemeral loopback ports (so parallel workers never reset each other's sites), one Chromium
reused across episodes (each episode gets a fresh browser context), and the agents of the study
built from (name in `jaxllm.web.agents.AGENTS`, kwargs) pairs.

Error kinds: `AgentError` (an agent that cannot act) is "agent", final; anything else (a crashed or
killed browser, a page that cannot be observed, a task setup failure) is "env": the runner closes
its browser so that the next episode launches a new one, and the study relaunches the episode.

Step rows (`<workdir>/episodes/<agent>/<task>/seed<k>/steps.jsonl`): the URL, goal and
observation text the agent saw, the last action error and elapsed time, the agent's thinking,
action and info, the action's error, reward and termination flags; with `screenshots`, a
`step<k>.png` next to the file, named in the row.
"""
from __future__ import annotations

import os
from typing import Any

import psutil

from jaxllm.episodes import GymRunner
from jaxllm.episodes.pool import process_tree
from jaxllm.web.agents import Agent, AgentError, make_agent


class BrowserRunner(GymRunner):
  """Runs web episodes in this process (see the module docstring).

  Args:
    agents: label -> (agent name in `jaxllm.web.agents.AGENTS`, keyword arguments).
    max_steps: steps before an episode is truncated.
    timeout_ms: Playwright's timeout for one browser operation.
    screenshots: record a PNG per step.
    headless: run Chromium headless.
    base_urls: site name -> base URL overriding the worker's own sandbox site (e.g. a user's
      WebArena host); the other sites stay the worker's.
    init: ("module:function", kwargs) called once when the worker starts, before any episode
      (e.g. registering task files: `jaxllm.agentdam.tasks:register_files`).
  """

  def __init__(self, agents: dict[str, tuple[str, dict[str, Any]]], *, max_steps: int = 15,
               timeout_ms: int = 5000, screenshots: bool = False, headless: bool = True,
               base_urls: dict[str, str] | None = None,
               init: tuple[str, dict[str, Any]] | None = None):
    from jaxllm.web.sites import start_sites  # pylint: disable=import-outside-toplevel
    if init is not None:
      from jaxllm.episodes import resolve  # pylint: disable=import-outside-toplevel
      resolve(init[0])(**init[1])
    super().__init__(agents=agents, max_steps=max_steps)
    self.base_urls = dict(base_urls or {})
    self.timeout_ms = timeout_ms
    self.screenshots = screenshots
    self.headless = headless
    self.sandbox = start_sites()
    self.session = None

  # ---------------------------------------------------------------- resources
  def _browser(self):
    if self.session is None:
      from jaxllm.web.browser import BrowserSession  # pylint: disable=import-outside-toplevel
      self.session = BrowserSession(headless=self.headless, timeout_ms=self.timeout_ms)
    return self.session

  def on_env_error(self) -> None:
    """Closes the browser after a failure (it may already be dead); the next episode relaunches."""
    session, self.session = self.session, None
    if session is not None:
      try:
        session.close()
      except Exception:  # pylint: disable=broad-except
        pass  # a killed browser cannot be closed cleanly; its driver is gone with it

  def close(self) -> None:
    super().close()
    self.on_env_error()
    self.sandbox.close()

  # ---------------------------------------------------------------- GymRunner hooks
  def make_env(self, task_id: str):
    from jaxllm.web import make_env  # pylint: disable=import-outside-toplevel
    return make_env(task_id, base_urls={**self.sandbox.urls, **self.base_urls},
                    session=self._browser(),
                    screenshot=self.screenshots, max_steps=self.max_steps)

  def make_agent(self, label: str) -> Agent:
    name, kwargs = self.agent_specs[label]
    return make_agent(name, **kwargs)

  def error_kind(self, exc: Exception, phase: str) -> str:
    del phase
    return "agent" if isinstance(exc, AgentError) else "env"

  def observation_record(self, step: int, obs: dict[str, Any], out_dir: str) -> dict[str, Any]:
    record = {"step": step, "url": obs.get("url", ""), "goal": obs.get("goal", ""),
              "observation": obs.get("axtree_text", ""),
              "last_action_error": obs.get("last_action_error", ""),
              "elapsed_time": float(obs["elapsed_time"][0]) if "elapsed_time" in obs else 0.0}
    if self.screenshots and obs.get("screenshot") is not None:
      from PIL import Image  # pylint: disable=import-outside-toplevel
      name = f"step{step}.png"
      Image.fromarray(obs["screenshot"]).save(os.path.join(out_dir, name))
      record["screenshot"] = name
    return record

  def outcome_record(self, obs: dict[str, Any], info: Any) -> dict[str, Any]:
    del info
    return {"action_error": obs["last_action_error"]}


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
