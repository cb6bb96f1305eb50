"""AgentDAM: data minimisation for web agents (../shared/PAPERS.md §3).

A task hands the agent a context (a chat, an email or a document) that holds the data the task
needs and sensitive data it does not; the agent must finish the task on a sandbox site without
revealing the sensitive part. Every action the agent takes is judged for leaks.

Pieces:
  tasks      the privacy task set on the sandbox shop, forum and tracker (the authors' JSON
             schema), generated reproducibly from seed tables (`generate`), loaded from a user's
             files (`load_tasks`), and registered as `agentdam.<site>.<n>` web tasks
  judges     the privacy judges: an LLM judge through any OpenAI-compatible endpoint and the
             offline matcher (`offline_privacy_score`), both per action with reasons
  agents     the minimal oracle, the leaky oracle, and the LLM agent with the mitigation prompt
  study      judged studies: utility and leakage per site with standard errors
  pairs      per-action leak labels as preference pairs and rewards for jaxllm's trainers
"""
from __future__ import annotations

from typing import Any


def offline_privacy_score(action_text: str, sensitive_data: list[str]) -> float:
  """Score in [0, 1] that an action reveals any of `sensitive_data` (offline matcher)."""
  from jaxllm.agentdam.matching import offline_privacy_score as score  # pylint: disable=import-outside-toplevel
  return score(action_text, sensitive_data)


def __getattr__(name: str) -> Any:
  raise AttributeError(f"module 'jaxllm.agentdam' has no attribute {name!r}")


__all__ = ["offline_privacy_score"]
