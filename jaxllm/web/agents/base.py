"""The agent interface shared by every web agent, scripted or LLM-driven.

An agent sees what a BrowserGym agent sees (the observation dictionary of `jaxllm.web.env`) and
answers with an action string in the same language (`jaxllm.web.actions`):

  agent.reset(task)            # once per episode, after env.reset; task is the live Task object
  step = agent.act(obs)        # AgentStep(action="click('12')", think="...", info={...})

`reset` gets the running task so that scripted agents (the oracle) can read its solution; LLM
agents ignore it and read the goal from the observation, exactly as they would on BrowserGym.

Failures. An agent that cannot produce an action (an LLM whose replies never parse, an oracle
whose script does not cover the page) raises `AgentError`. The study records such an episode as
errored with kind "agent" and does not relaunch it: rerunning the same agent would not help,
unlike a crashed browser.
"""
from __future__ import annotations

import dataclasses
from typing import Any


class AgentError(RuntimeError):
  """The agent could not produce a valid action; ends the episode as an agent error."""


@dataclasses.dataclass
class AgentStep:
  """One decision: the action string, the agent's reasoning, and anything worth recording."""
  action: str
  think: str = ""
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


class Agent:
  """Base class; subclasses set `name` and implement `act`."""
  name: str = ""

  def reset(self, task: Any) -> None:
    """Starts an episode; `task` is the running `jaxllm.web.tasks.base.Task`."""
    del task

  def act(self, obs: dict[str, Any]) -> AgentStep:
    raise NotImplementedError

  def close(self) -> None:
    """Releases whatever the agent holds (connections, models); the default holds nothing."""
