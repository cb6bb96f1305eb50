"""The scripted oracle: each task's own `oracle(obs)` solution behind the agent interface.

It proves every sandbox task solvable through the same action strings an LLM agent emits, and it
lets the whole pipeline (pool, timeouts, recording, results) run and be tested without a model.
When a script cannot find the element it needs (a page still loading), the oracle waits
(`noop`) and looks again, up to `max_waits` times in a row, before giving up with AgentError.
`method` names the task's script: "oracle" (every task), or another scripted policy a task
family defines (e.g. AgentDAM's "leaky_oracle", which solves the task but reveals its context).
"""
from __future__ import annotations

from typing import Any

from jaxllm.web.agents.base import Agent, AgentError, AgentStep


class OracleAgent(Agent):
  """Asks the running task for the next scripted action."""
  name = "oracle"

  def __init__(self, max_waits: int = 3, method: str = "oracle"):
    self.task = None
    self.max_waits = max_waits
    self.method = method
    self._waits = 0

  def reset(self, task: Any) -> None:
    self.task = task
    self._waits = 0

  def act(self, obs: dict[str, Any]) -> AgentStep:
    assert self.task is not None, "call reset(task) before act()"
    script = getattr(self.task, self.method, None)
    if script is None:
      raise AgentError(f"task {self.task.task_id} has no scripted policy {self.method!r}")
    try:
      action = script(obs)
    except NotImplementedError as e:
      raise AgentError(f"no scripted solution: {e}") from None
    except KeyError as e:  # the script looked for an element the page does not show (yet)
      if self._waits >= self.max_waits:
        raise AgentError(f"oracle of {self.task.task_id} is lost on {obs.get('url', '?')}: "
                         f"{e}") from None
      self._waits += 1  # a page still loading: wait and look again
      return AgentStep(action="noop(300)", info={"waiting_for": str(e)})
    self._waits = 0
    return AgentStep(action=action)
