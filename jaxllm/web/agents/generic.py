"""An LLM web agent in the style of AgentLab's GenericAgent, over any OpenAI-compatible endpoint.

Each step sends two messages to `{base_url}/chat/completions` (through `jaxllm.client`):

  system  what the agent is and how it must answer (`SYSTEM_PROMPT`, or the `system_prompt` given,
          e.g. AgentDAM's privacy-mitigated one)
  user    # Goal, # Chat (when the user said more than the goal), # Open tabs,
          # Page (the accessibility tree as text, with [bid] ids; cut at `max_obs_chars`),
          # Focused element, # Error from your last action, # History (earlier thoughts, actions
          and their errors), # Action space (every action with its signature), # Answer format

The reply holds an optional `<think>...</think>` section (kept in the history when
`use_thinking`) and one `<action>...</action>` section. The action text is checked with the same
safe parser the environment uses (`jaxllm.web.actions.parse_action`), so a reply that would only
fail as an action error is caught here. On a parse error the agent appends its reply and a user
message naming the error to the conversation and asks again, up to `max_retries` extra requests;
if none parses it raises `AgentError`. Endpoint failures (after the client's own retries) raise
`AgentError` too.

`info` of each step records the number of requests, every raw reply, the parse errors and the
token usage the endpoint reported, so a study's step logs show what the model saw and said.
"""
from __future__ import annotations

import os
import re
from typing import Any

from jaxllm.client import APIError, ChatClient
from jaxllm.web.actions import ActionError, action_help, parse_action
from jaxllm.web.agents.base import Agent, AgentError, AgentStep

SYSTEM_PROMPT = """\
You are a web agent operating a browser for a user. Each turn you receive the user's goal, the \
current page as an accessibility tree in which every interactive element carries an id in \
square brackets like [12], and the history of your earlier actions. You answer with exactly one \
action (several lines of actions are allowed when they are independent, for example filling a \
form). The action is executed in the browser and you then receive the new page. When the goal \
asks for information, give it to the user with send_msg_to_user. When the goal cannot be \
achieved, use report_infeasible."""

ANSWER_FORMAT = """\
Answer in this format, with nothing after the action:
<think>
Short reasoning about the page and what to do next.
</think>
<action>
click('12')
</action>"""

ANSWER_FORMAT_NO_THINK = """\
Answer with the action only, in this format:
<action>
click('12')
</action>"""

_ACTION_RE = re.compile(r"<action>(.*?)(?:</action>|$)", re.DOTALL)
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_FENCE_RE = re.compile(r"^```[a-z]*\n?|\n?```$")


class ParseError(ValueError):
  """A reply without a valid action."""


def parse_reply(text: str) -> tuple[str, str]:
  """(think, action) from a reply; raises ParseError naming what is wrong."""
  found = _ACTION_RE.findall(text or "")
  if not found:
    raise ParseError("no <action>...</action> section in your answer")
  action = _FENCE_RE.sub("", found[-1].strip()).strip()
  try:
    parse_action(action)
  except ActionError as e:
    raise ParseError(f"invalid action {action[:200]!r}: {e}") from None
  think = _THINK_RE.search(text)
  return (think.group(1).strip() if think else ""), action


class GenericAgent(Agent):
  """See the module docstring. Sampling settings go to the endpoint unchanged."""
  name = "generic"

  def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
               api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.0,
               max_tokens: int = 1024, use_thinking: bool = True, max_retries: int = 3,
               max_obs_chars: int = 20_000, max_history: int = 20, request_timeout_s: float = 120.0,
               system_prompt: str = "", client: ChatClient | None = None):
    if client is None:
      if not base_url:
        raise ValueError("the generic agent needs an endpoint: set agent.base_url (an "
                         "OpenAI-compatible URL such as http://127.0.0.1:8000/v1)")
      key = api_key or (os.environ.get(api_key_env) if api_key_env else None)
      client = ChatClient(base_url, model, key, timeout=request_timeout_s)
    self.client = client
    self.sampling = {"temperature": temperature, "max_tokens": max_tokens}
    self.use_thinking = use_thinking
    self.max_retries = max_retries
    self.max_obs_chars = max_obs_chars
    self.max_history = max_history
    self.system_prompt = system_prompt or SYSTEM_PROMPT
    self.history: list[dict[str, str]] = []

  def reset(self, task: Any) -> None:
    del task  # an LLM agent knows the task only through the observation, as on BrowserGym
    self.history = []

  # ---------------------------------------------------------------- prompt
  def prompt(self, obs: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages for this observation (system + one user message)."""
    parts = [f"# Goal\n{obs.get('goal', '')}"]
    chat = [m for m in obs.get("chat_messages", ()) if m.get("message") != obs.get("goal")]
    if chat:
      parts.append("# Chat\n" + "\n".join(f"{m.get('role')}: {m.get('message')}" for m in chat))
    urls, titles = obs.get("open_pages_urls", ()), obs.get("open_pages_titles", ())
    active = int(obs["active_page_index"][0]) if len(obs.get("active_page_index", ())) else 0
    tabs = [f"Tab {i}{' (active)' if i == active else ''}: {t!r} {u}"
            for i, (u, t) in enumerate(zip(urls, titles))]
    parts.append("# Open tabs\n" + "\n".join(tabs or [f"Tab 0 (active): {obs.get('url', '')}"]))
    page = str(obs.get("axtree_text", ""))
    if len(page) > self.max_obs_chars:
      page = page[:self.max_obs_chars] + "\n[... page truncated ...]"
    parts.append(f"# Page (accessibility tree)\n{page}")
    if obs.get("focused_element_bid"):
      parts.append(f"# Focused element\n[{obs['focused_element_bid']}]")
    if obs.get("last_action_error"):
      parts.append(f"# Error from your last action\n{obs['last_action_error']}")
    if self.history:
      lines = []
      for i, h in enumerate(self.history[-self.max_history:]):
        entry = f"## Step {i + 1}\n"
        if self.use_thinking and h["think"]:
          entry += f"<think>\n{h['think']}\n</think>\n"
        entry += f"<action>\n{h['action']}\n</action>"
        if h["error"]:
          entry += f"\nError: {h['error']}"
        lines.append(entry)
      parts.append("# History of your actions\n" + "\n".join(lines))
    parts.append("# Action space\n" + action_help())
    parts.append(ANSWER_FORMAT if self.use_thinking else ANSWER_FORMAT_NO_THINK)
    return [{"role": "system", "content": self.system_prompt},
            {"role": "user", "content": "\n\n".join(parts)}]

  # ---------------------------------------------------------------- acting
  def act(self, obs: dict[str, Any]) -> AgentStep:
    if self.history:  # the error of the previous action belongs to that action
      self.history[-1]["error"] = str(obs.get("last_action_error", ""))
    messages = self.prompt(obs)
    replies, errors, usage = [], [], []
    for _ in range(self.max_retries + 1):
      try:
        response = self.client.chat_completion(messages, **self.sampling)
      except APIError as e:
        raise AgentError(f"endpoint {self.client.base_url} failed: {e}") from None
      usage.append(response.get("usage") or {})
      reply = (response["choices"][0]["message"].get("content") or "") \
        if response.get("choices") else ""
      replies.append(reply)
      try:
        think, action = parse_reply(reply)
      except ParseError as e:
        errors.append(str(e))
        messages = messages + [
          {"role": "assistant", "content": reply},
          {"role": "user", "content": f"Your answer could not be used: {e}. Answer again with "
                                      "one valid action inside <action></action>."}]
        continue
      self.history.append({"think": think, "action": action, "error": ""})
      return AgentStep(action=action, think=think,
                       info={"requests": len(replies), "replies": replies,
                             "parse_errors": errors, "usage": usage})
    raise AgentError(f"no valid action after {len(replies)} replies; last error: {errors[-1]}")
