"""The InSTA agent: reads the viewport as `[id: N] title role` lines, answers with a JSON action.

    agent = InstaAgent(ChatClient("http://127.0.0.1:8000/v1", model="qwen"))
    trajectory = run_episode(agent, SessionClient("http://127.0.0.1:3000"),
                             "Find the newest post in f/cooking.", "http://127.0.0.1:8080/")
    trajectory["status"], trajectory["answer"]     # "stopped", "..."; one entry per step in "steps"

Each step the agent sees a chat of the system prompt and the last `max_history` observations
(earlier ones are dropped) as user turns, each followed by its own earlier reply as an assistant
turn; a user turn is `USER_TEMPLATE` with the page's URL and its observation text truncated to
`max_obs_tokens` tokens (4 characters a token unless a tokenizer is given). The reply is an
analysis and then a ```json action block (`jaxllm.insta.actions`). A reply that does not parse is
shown its error and retried up to `max_retries` times, after which the episode ends with status
"parse_error". Episodes also end on `stop` ("stopped", its answer kept), after `max_actions`
actions ("max_actions"), or when the session server fails ("env_error"). When an action fails in
the page (e.g. a click on a vanished element) the next user turn ends with `ACTION_ERROR_TEMPLATE`.
"""
from __future__ import annotations

from typing import Any, Sequence

from jaxllm.insta.actions import ActionParseError, AgentAction, parse_agent_action
from jaxllm.insta.client import InstaError
from jaxllm.insta.proposer import reply_text

CHARS_PER_TOKEN = 4
USER_TEMPLATE = ("## Complete The Following Task\n\n{instruction}\n\n"
                 "You are at {current_url} observing the viewport:\n\n{observation}")
ACTION_ERROR_TEMPLATE = "\n\nYour previous action failed: {error}"
RETRY_TEMPLATE = ("Your reply could not be parsed: {error}\n\nWrite your analysis again and end "
                  "it with exactly one action in a ```json fenced block.")
TRUNCATION_MARK = "\n[... observation truncated]"
# implicit ARIA roles of the tags the session server marks as interactive
_TAG_ROLES = {"a": "link", "button": "button", "select": "combobox", "textarea": "textbox",
              "option": "option", "summary": "button", "label": "label", "img": "img",
              "h1": "heading", "h2": "heading", "h3": "heading", "h4": "heading",
              "h5": "heading", "h6": "heading", "li": "listitem", "p": "paragraph"}
_INPUT_ROLES = {"checkbox": "checkbox", "radio": "radio", "submit": "button", "button": "button",
                "reset": "button", "search": "searchbox", "range": "slider", "number": "spinbutton"}

AGENT_SYSTEM_PROMPT = """\
You are a web navigation agent that completes tasks on websites. Each turn you are given the task, \
the current URL and the part of the page in the viewport, as one line per element:

[id: N] title role

where N is the element's id, title is its label or text and role is what kind of element it is \
(link, button, textbox, checkbox, heading, ...). Text fields show their current value.

First write a short analysis: what the page shows, what you have done so far, and which single \
action brings you closer to completing the task. Then end your reply with exactly one action as \
a JSON object in a fenced code block:

```json
{"action_key": "click", "action_kwargs": {}, "target_element_id": 12}
```

The actions and their action_kwargs are:
- click {} and hover {}: on the element target_element_id
- fill {"value": "text"}: types text into the field target_element_id
- select_option {"label": "option label"}: chooses an option of the select target_element_id
- set_checked {"checked": true}: ticks or clears the checkbox target_element_id
- scroll {"delta_x": 0, "delta_y": 600}: scrolls the page (target_element_id optional)
- go_back {}, go_forward {}: browser history (target_element_id null)
- goto {"url": "http://..."}: opens a URL (target_element_id null)
- stop {"answer": "..."}: ends the task; answer is your final answer (or "" if none is needed)

Do not log in, buy anything, or post, send or change content on the website. When the task is \
done, or cannot be done, use stop and explain in the answer."""


def _role(item: dict[str, Any]) -> str:
  role = str(item.get("role") or "")
  if role:
    return role
  tag = str(item.get("tag") or "")
  if tag == "input":
    return _INPUT_ROLES.get(str(item.get("type") or "text"), "textbox")
  return _TAG_ROLES.get(tag, tag or "element")


def _clean(text: Any) -> str:
  return " ".join(str(text or "").split())


def element_line(item: dict[str, Any]) -> str:
  """`[id: N] title role`, with the value of a field and the state of a checkbox after it."""
  name, text = _clean(item.get("name")), _clean(item.get("text"))
  title = name or text
  if name and text and text != name and item.get("tag") not in ("select", "textarea"):
    title = f"{name}: {text}" if not text.startswith(name) else text
  parts = [f"[id: {item.get('id')}]"] + ([title] if title else []) + [_role(item)]
  if item.get("value"):
    parts.append(f'value="{_clean(item["value"])}"')
  if "checked" in item:
    parts.append("checked" if item["checked"] else "unchecked")
  return " ".join(parts)


def observation_text(obs: dict[str, Any], *, viewport_only: bool = True) -> str:
  """The server observation's `metadata` as `[id: N] title role` lines (in-viewport ones)."""
  lines = []
  for item in obs.get("metadata") or []:
    if viewport_only and not item.get("in_viewport", True):
      continue
    lines.append(element_line(item))
  return "\n".join(lines)


def truncate_observation(text: str, max_tokens: int, tokenizer: Any = None) -> str:
  """text cut to max_tokens tokens (tokenizer.encode/decode, else 4 characters a token)."""
  if tokenizer is None:
    limit = max_tokens * CHARS_PER_TOKEN
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARK
  ids = tokenizer.encode(text, add_special_tokens=False)
  if len(ids) <= max_tokens:
    return text
  return tokenizer.decode(ids[:max_tokens]) + TRUNCATION_MARK


def user_turn(instruction: str, current_url: str, observation: str,
              action_error: str | None = None) -> str:
  text = USER_TEMPLATE.format(instruction=instruction, current_url=current_url,
                              observation=observation)
  if action_error:
    text += ACTION_ERROR_TEMPLATE.format(error=_clean(action_error)[:500])
  return text


def build_messages(system_prompt: str, instruction: str, steps: Sequence[dict[str, Any]],
                   max_history: int) -> list[dict[str, str]]:
  """The chat the agent sees at the last of `steps` (each {"url", "observation", "reply",
  "action_error"}; the last one's reply is not shown): the system prompt, then the last
  `max_history` observations as user turns, each but the last followed by its reply."""
  messages = [{"role": "system", "content": system_prompt}]
  window = list(steps)[-max_history:] if max_history > 0 else list(steps)[-1:]
  for i, step in enumerate(window):
    messages.append({"role": "user", "content": user_turn(
      instruction, step["url"], step["observation"], step.get("action_error"))})
    if i < len(window) - 1:
      messages.append({"role": "assistant", "content": step["reply"]})
  return messages


class InstaAgent:
  """Chooses one action per step through an OpenAI-compatible chat client."""

  def __init__(self, client: Any, *, temperature: float = 0.5, max_history: int = 5,
               max_obs_tokens: int = 2048, max_retries: int = 2, tokenizer: Any = None,
               system_prompt: str = AGENT_SYSTEM_PROMPT, **sampling: Any):
    self.client = client
    self.temperature = temperature
    self.max_history = max_history
    self.max_obs_tokens = max_obs_tokens
    self.max_retries = max_retries
    self.tokenizer = tokenizer
    self.system_prompt = system_prompt
    self.sampling = sampling

  def config(self) -> dict[str, Any]:
    """What `build_messages` needs to rebuild the agent's prompts (kept with the trajectory)."""
    return {"system_prompt": self.system_prompt, "max_history": self.max_history,
            "max_obs_tokens": self.max_obs_tokens, "temperature": self.temperature}

  def observe(self, obs: dict[str, Any]) -> str:
    return truncate_observation(observation_text(obs), self.max_obs_tokens, self.tokenizer)

  def messages(self, instruction: str, steps: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    return build_messages(self.system_prompt, instruction, steps, self.max_history)

  def act(self, messages: list[dict[str, str]]
          ) -> tuple[str, AgentAction | None, list[dict[str, str]]]:
    """(reply, action or None, failed attempts [{"reply", "error"}]) for one prompt."""
    attempts: list[dict[str, str]] = []
    chat = list(messages)
    while True:
      response = self.client.chat_completion(chat, temperature=self.temperature,
                                             **self.sampling)
      reply = reply_text(response)
      try:
        return reply, parse_agent_action(reply), attempts
      except ActionParseError as e:
        attempts.append({"reply": reply, "error": str(e)})
        if len(attempts) > self.max_retries:
          return reply, None, attempts
        chat = chat + [{"role": "assistant", "content": reply},
                       {"role": "user", "content": RETRY_TEMPLATE.format(error=e)}]


def _action_json(action: AgentAction) -> dict[str, Any]:
  return {"action_key": action.action_key, "action_kwargs": dict(action.action_kwargs),
          "target_element_id": action.target_element_id}


def run_episode(agent: InstaAgent, session_client: Any, instruction: str, start_url: str, *,
                max_actions: int = 30, width: int = 1280, height: int = 720) -> dict[str, Any]:
  """Runs one task in a new session; the trajectory dict (see the module docstring).

  Keys: instruction, start_url, status, answer, error, agent (its config) and steps, each with
  url, observation (the truncated text the agent saw), reply, action (or None), result (the
  server's answer, None for stop), action_error and attempts (the failed replies of the step).
  """
  steps: list[dict[str, Any]] = []
  trajectory: dict[str, Any] = {"instruction": instruction, "start_url": start_url,
                                "status": "max_actions", "answer": None, "error": None,
                                "agent": agent.config(), "steps": steps}
  try:
    sid = session_client.start(width=width, height=height)
  except InstaError as e:
    trajectory.update(status="env_error", error=str(e))
    return trajectory
  try:
    session_client.goto(sid, start_url)
    action_error: str | None = None
    for _ in range(max_actions):
      obs = session_client.observation(sid)
      step: dict[str, Any] = {"url": obs.get("current_url") or "",
                              "observation": agent.observe(obs), "action_error": action_error,
                              "reply": "", "action": None, "result": None, "attempts": []}
      steps.append(step)
      reply, action, attempts = agent.act(agent.messages(instruction, steps))
      step.update(reply=reply, attempts=attempts)
      if action is None:
        trajectory.update(status="parse_error", error=attempts[-1]["error"])
        break
      step["action"] = _action_json(action)
      if action.is_stop:
        trajectory.update(status="stopped", answer=action.action_kwargs["answer"])
        break
      try:
        result = session_client.act(sid, action)
      except InstaError as e:
        if e.status not in (400, 403):  # a bad or blocked call is the agent's error, not ours
          raise
        result = {"ok": False, "completed": 0, "error": e.message, "current_url": step["url"]}
      step["result"] = result
      action_error = None if not result or result.get("ok") else str(result.get("error"))
  except InstaError as e:
    trajectory.update(status="env_error", error=str(e))
  finally:
    try:
      session_client.close(sid)
    except InstaError:
      pass
  return trajectory
