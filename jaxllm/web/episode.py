"""One episode of one agent on one task, run and recorded by a long-lived browser worker.

`EpisodeRunner` is what a study worker holds (a process of `pool.py`, or a Ray actor): its own
sandbox sites on ephemeral loopback ports (so parallel workers never reset each other's sites),
one Chromium reused across episodes (each episode gets a fresh browser context), and the agents
of the study built from plain (name, kwargs) data. `run(spec)` never raises: it returns a summary
with `status` "completed" or "errored" and, for errors, `error_kind`:

  agent  the agent could not act (`AgentError`); relaunching would not help
  env    anything else (a crashed or killed browser, a page that cannot be observed, a task
         setup failure); the runner closes its browser so the next episode starts a new one, and
         the study relaunches the episode

Records. Every step goes to `<workdir>/episodes/<agent>/<task>/seed<k>/steps.jsonl` as it
happens (rewritten when an episode is relaunched): the observation text the agent saw, its
thinking and action, the action's error, reward and termination flags; screenshots as
`step<k>.png` next to it when asked. The `beat(phase, step)` callback is called before every
browser phase ("env") and every agent decision ("agent"); the pool turns these calls into the
heartbeats its per-action timeouts watch.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from typing import Any, Callable

from jaxllm.web.agents import Agent, AgentError, make_agent

Beat = Callable[[str, int], None]


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
  """Which agent (a label of the study's agent table), which task, which seed."""
  agent: str
  task_id: str
  seed: int

  @property
  def key(self) -> str:
    return f"{self.agent}/{self.task_id}/{self.seed}"


def episode_dir(workdir: str, spec: EpisodeSpec) -> str:
  return os.path.join(workdir, "episodes", spec.agent, spec.task_id, f"seed{spec.seed}")


class EpisodeRunner:
  """Runs episodes in this process (see the module docstring).

  Args:
    workdir: where step records go.
    agents: label -> (agent name in `jaxllm.web.agents.AGENTS`, keyword arguments).
    max_steps: steps before an episode is truncated.
    timeout_ms: Playwright's timeout for one browser operation.
    screenshots: record a PNG per step.
    headless: run Chromium headless.
  """

  def __init__(self, workdir: str, agents: dict[str, tuple[str, dict[str, Any]]], *,
               max_steps: int = 15, timeout_ms: int = 5000, screenshots: bool = False,
               headless: bool = True):
    from jaxllm.web.sites import start_sites  # pylint: disable=import-outside-toplevel
    self.workdir = workdir
    self.agent_specs = dict(agents)
    self.max_steps = max_steps
    self.timeout_ms = timeout_ms
    self.screenshots = screenshots
    self.headless = headless
    self.sandbox = start_sites()
    self.session = None
    self._agents: dict[str, Agent] = {}

  # ---------------------------------------------------------------- resources
  def _browser(self):
    if self.session is None:
      from jaxllm.web.browser import BrowserSession  # pylint: disable=import-outside-toplevel
      self.session = BrowserSession(headless=self.headless, timeout_ms=self.timeout_ms)
    return self.session

  def _drop_browser(self) -> None:
    """Closes the browser after a failure (it may already be dead); the next episode relaunches."""
    session, self.session = self.session, None
    if session is not None:
      try:
        session.close()
      except Exception:  # pylint: disable=broad-except
        pass  # a killed browser cannot be closed cleanly; its driver is gone with it

  def _agent(self, label: str) -> Agent:
    if label not in self._agents:
      name, kwargs = self.agent_specs[label]
      self._agents[label] = make_agent(name, **kwargs)
    return self._agents[label]

  def close(self) -> None:
    for agent in self._agents.values():
      agent.close()
    self._drop_browser()
    self.sandbox.close()

  # ---------------------------------------------------------------- episodes
  def run(self, spec: EpisodeSpec, beat: Beat | None = None) -> dict[str, Any]:
    beat = beat or (lambda phase, step: None)
    out_dir = episode_dir(self.workdir, spec)
    os.makedirs(out_dir, exist_ok=True)
    summary: dict[str, Any] = {"key": spec.key, "agent": spec.agent, "task_id": spec.task_id,
                               "seed": spec.seed, "status": "completed", "reward": 0.0,
                               "success": False, "steps": 0, "terminated": False,
                               "truncated": False, "error": "", "error_kind": "",
                               "pid": os.getpid()}
    start = time.time()
    env = None
    try:
      with open(os.path.join(out_dir, "steps.jsonl"), "w", encoding="utf-8") as log:
        beat("env", 0)
        env = self._make_env(spec.task_id)
        obs, _ = env.reset(seed=spec.seed)
        agent = self._agent(spec.agent)
        agent.reset(env.task)
        for step in range(self.max_steps):
          beat("agent", step)
          decision = agent.act(obs)
          beat("env", step)
          record = self._record(out_dir, step, obs)
          obs, reward, terminated, truncated, _ = env.step(decision.action)
          record.update(think=decision.think, action=decision.action,
                        action_error=obs["last_action_error"], reward=reward,
                        terminated=terminated, truncated=truncated, agent_info=decision.info)
          _write(log, record)
          summary.update(steps=step + 1, reward=reward, terminated=terminated,
                         truncated=truncated)
          if terminated or truncated:
            break
        else:
          summary["truncated"] = True
        _write(log, {**self._record(out_dir, summary["steps"], obs), "final": True})
      summary["success"] = summary["reward"] > 0
    except AgentError as e:
      summary.update(status="errored", error_kind="agent", error=str(e)[:500])
    except Exception as e:  # pylint: disable=broad-except
      ours = [f for f in traceback.extract_tb(e.__traceback__) if "jaxllm" in f.filename]
      where = f" (at {os.path.basename(ours[-1].filename)}:{ours[-1].lineno})" if ours else ""
      first = str(e).strip().splitlines()[0][:400] if str(e).strip() else ""
      summary.update(status="errored", error_kind="env",
                     error=f"{type(e).__name__}: {first}{where}")
      self._drop_browser()
    finally:
      if env is not None:
        try:
          env.close()
        except Exception:  # pylint: disable=broad-except
          self._drop_browser()
    summary["elapsed_s"] = round(time.time() - start, 3)
    return summary

  def _make_env(self, task_id: str):
    from jaxllm.web import make_env  # pylint: disable=import-outside-toplevel
    return make_env(task_id, base_urls=self.sandbox.urls, session=self._browser(),
                    screenshot=self.screenshots, max_steps=self.max_steps)

  def _record(self, out_dir: str, step: int, obs: dict[str, Any]) -> dict[str, Any]:
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


def _write(log, record: dict[str, Any]) -> None:
  log.write(json.dumps(record, default=str) + "\n")
  log.flush()
