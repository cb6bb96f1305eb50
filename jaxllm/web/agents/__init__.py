"""Web agents behind one interface (`base.Agent`): `reset(task)`, `act(obs) -> AgentStep`.

  agent = make_agent("oracle")                                  # scripted, every sandbox task
  agent = make_agent("generic", base_url="http://127.0.0.1:8000/v1", model="tiny")

`AGENTS` maps a name to its class; `make_agent(name, **kwargs)` builds one (unknown names and
keyword arguments raise ValueError naming the valid ones). Study workers build their agents from
such (name, kwargs) pairs, so an agent crosses process boundaries as plain data.
"""
from __future__ import annotations

import inspect
from typing import Any

from jaxllm.web.agents.base import Agent, AgentError, AgentStep
from jaxllm.web.agents.generic import GenericAgent, parse_reply
from jaxllm.web.agents.oracle import OracleAgent

AGENTS: dict[str, type[Agent]] = {"oracle": OracleAgent, "generic": GenericAgent}


def make_agent(name: str, **kwargs: Any) -> Agent:
  """Builds agent `name`; keyword arguments it does not take are an error."""
  if name not in AGENTS:
    raise ValueError(f"unknown agent {name!r}; choose from {', '.join(sorted(AGENTS))}")
  cls = AGENTS[name]
  params = inspect.signature(cls.__init__).parameters
  unknown = sorted(set(kwargs) - set(params))
  if unknown:
    raise ValueError(f"agent {name!r} takes no argument(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(p for p in params if p != 'self')}")
  return cls(**kwargs)


__all__ = ["AGENTS", "Agent", "AgentError", "AgentStep", "GenericAgent", "OracleAgent",
           "make_agent", "parse_reply"]
