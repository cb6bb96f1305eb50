"""The InSTA agent's JSON action schema: parse a model reply, map it to session-server calls.

A reply ends with a fenced JSON block (the last ```json block of the reply is the action)::

  I will search for the recipe.
  ```json
  {"action_key": "fill", "action_kwargs": {"value": "sourdough"}, "target_element_id": 12}
  ```

  action = parse_agent_action(reply)   # AgentAction(action_key='fill', ...) or ActionParseError
  calls = to_calls(action)             # [{"dotpath": "page.fill", "args": [
                                       #    '[data-insta-id="12"]', 'sourdough']}]

Action keys and their `action_kwargs` (exactly these keys, nothing else):

  click {}                 hover {}               scroll {delta_x, delta_y}
  fill {value}             select_option {label}  set_checked {checked}
  go_back {}               go_forward {}          goto {url}
  stop {answer}

click, hover, fill, select_option and set_checked need `target_element_id` (the element id from the
observation's metadata); scroll takes one optionally (the pointer is moved over it first); the
others take none (null or absent). The block is read with `json.loads` only and every field is
type-checked; values are inert data that is never evaluated. `stop` maps to no browser call: its
answer is the agent's final answer.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

MAX_BLOCK_CHARS = 20_000  # the JSON block
MAX_STRING_CHARS = 4000  # any one string value
MAX_URL_CHARS = 2048
MAX_SCROLL = 100_000  # |delta_x|, |delta_y| in pixels
ID_ATTRIBUTE = "data-insta-id"

# action_key -> (target usage, {kwarg: kind}); kinds: number, str, bool, url
SCHEMA: dict[str, tuple[str, dict[str, str]]] = {
  "click": ("required", {}),
  "hover": ("required", {}),
  "scroll": ("optional", {"delta_x": "number", "delta_y": "number"}),
  "fill": ("required", {"value": "str"}),
  "select_option": ("required", {"label": "str"}),
  "set_checked": ("required", {"checked": "bool"}),
  "go_back": ("none", {}),
  "go_forward": ("none", {}),
  "goto": ("none", {"url": "url"}),
  "stop": ("none", {"answer": "str"}),
}
TOP_LEVEL_KEYS = ("action_key", "action_kwargs", "target_element_id")
_ID_RE = re.compile(r"[0-9]{1,9}")
_OPEN = "```json"


class ActionParseError(ValueError):
  """A reply that holds no valid action; the message is one line, safe to show the model."""


@dataclasses.dataclass(frozen=True)
class AgentAction:
  """One validated agent action; `target_element_id` is a decimal string or None."""
  action_key: str
  action_kwargs: dict[str, Any]
  target_element_id: str | None = None

  @property
  def is_stop(self) -> bool:
    return self.action_key == "stop"


def last_json_block(text: str) -> str:
  """The body of the last ```json fenced block in text (linear scan); ActionParseError if none."""
  if not isinstance(text, str):
    raise ActionParseError(f"a reply must be a string, got {type(text).__name__}")
  found: str | None = None
  i = 0
  while True:
    start = text.find(_OPEN, i)
    if start < 0:
      break
    line_end = text.find("\n", start)
    if line_end < 0:
      break
    if text[start + len(_OPEN):line_end].strip():  # e.g. ```jsonc or ```json5: not ours
      i = line_end
      continue
    close = text.find("```", line_end)
    if close < 0:
      break
    found = text[line_end + 1:close]
    i = close + 3
  if found is None:
    raise ActionParseError("no ```json fenced block found in the reply")
  return found


def _where(key: str, name: str) -> str:
  return f"{key}.action_kwargs.{name}"


def _check(key: str, name: str, kind: str, value: Any) -> Any:
  where = _where(key, name)
  if kind == "number":
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ActionParseError(f"{where} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or abs(value) > MAX_SCROLL:
      raise ActionParseError(f"{where} must be a finite number of at most {MAX_SCROLL}")
    return value
  if kind == "bool":
    if not isinstance(value, bool):
      raise ActionParseError(f"{where} must be true or false, got {type(value).__name__}")
    return value
  if not isinstance(value, str):
    raise ActionParseError(f"{where} must be a string, got {type(value).__name__}")
  if kind == "url":
    if len(value) > MAX_URL_CHARS:
      raise ActionParseError(f"{where} is longer than {MAX_URL_CHARS} characters")
    if not re.match(r"https?://[^\s]+\Z", value):
      raise ActionParseError(f"{where} must be an http(s) URL without spaces")
    return value
  if len(value) > MAX_STRING_CHARS:
    raise ActionParseError(f"{where} is longer than {MAX_STRING_CHARS} characters")
  return value


def _target(key: str, usage: str, value: Any) -> str | None:
  if value is None:
    if usage == "required":
      raise ActionParseError(f"{key} needs a target_element_id")
    return None
  if usage == "none":
    raise ActionParseError(f"{key} takes no target_element_id (use null)")
  if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
    return str(value)
  if isinstance(value, str) and _ID_RE.fullmatch(value):
    return str(int(value))
  raise ActionParseError("target_element_id must be an element id (a non-negative integer), "
                         f"got {type(value).__name__}")


def validate_action(obj: Any) -> AgentAction:
  """Checks a decoded JSON value against the schema; ActionParseError on any deviation."""
  if not isinstance(obj, dict):
    raise ActionParseError(f"the action must be a JSON object, got {type(obj).__name__}")
  extra = sorted(k for k in obj if k not in TOP_LEVEL_KEYS)
  if extra:
    raise ActionParseError(f"unknown field(s) {', '.join(repr(k[:40]) for k in extra[:5])}; "
                           f"allowed: {', '.join(TOP_LEVEL_KEYS)}")
  key = obj.get("action_key")
  if not isinstance(key, str) or key not in SCHEMA:
    shown = repr(key[:40]) if isinstance(key, str) else type(key).__name__
    raise ActionParseError(f"unknown action_key {shown}; allowed: {', '.join(SCHEMA)}")
  usage, spec = SCHEMA[key]
  kwargs = obj.get("action_kwargs")
  kwargs = {} if kwargs is None else kwargs
  if not isinstance(kwargs, dict):
    raise ActionParseError(f"{key}.action_kwargs must be an object, got {type(kwargs).__name__}")
  extra = sorted(k for k in kwargs if k not in spec)
  if extra:
    allowed = ", ".join(spec) or "none"
    raise ActionParseError(f"{key} got unknown action_kwargs "
                           f"{', '.join(repr(k[:40]) for k in extra[:5])}; allowed: {allowed}")
  missing = [k for k in spec if k not in kwargs]
  if missing:
    raise ActionParseError(f"{key} is missing action_kwargs {', '.join(missing)}")
  checked = {name: _check(key, name, kind, kwargs[name]) for name, kind in spec.items()}
  return AgentAction(key, checked, _target(key, usage, obj.get("target_element_id")))


def parse_agent_action(text: str) -> AgentAction:
  """The action in the last ```json block of a model reply; ActionParseError with one line."""
  block = last_json_block(text)
  if len(block) > MAX_BLOCK_CHARS:
    raise ActionParseError(f"the json block is longer than {MAX_BLOCK_CHARS} characters")
  try:
    obj = json.loads(block)
  except json.JSONDecodeError as e:
    raise ActionParseError(f"the json block is not valid JSON: {e.msg} at line {e.lineno} "
                           f"column {e.colno}") from None
  except RecursionError:
    raise ActionParseError("the json block is nested too deeply") from None
  except ValueError as e:  # e.g. an integer with too many digits
    raise ActionParseError(f"the json block could not be decoded: {str(e)[:100]}") from None
  return validate_action(obj)


def element_selector(element_id: str) -> str:
  """The CSS selector of a server-assigned element id."""
  if not _ID_RE.fullmatch(element_id):
    raise ValueError(f"not an element id: {element_id!r:.40}")
  return f'[{ID_ATTRIBUTE}="{element_id}"]'


def to_calls(action: AgentAction) -> list[dict[str, Any]]:
  """The session server's `[{"dotpath", "args"}]` calls for an action (stop: none)."""
  key, kw = action.action_key, action.action_kwargs
  sel = element_selector(action.target_element_id) if action.target_element_id else None
  if key == "click":
    return [{"dotpath": "page.click", "args": [sel]}]
  if key == "hover":
    return [{"dotpath": "page.hover", "args": [sel]}]
  if key == "scroll":
    wheel = {"dotpath": "page.mouse.wheel", "args": [kw["delta_x"], kw["delta_y"]]}
    return ([{"dotpath": "page.hover", "args": [sel]}] if sel else []) + [wheel]
  if key == "fill":
    return [{"dotpath": "page.fill", "args": [sel, kw["value"]]}]
  if key == "select_option":
    return [{"dotpath": "page.select_option", "args": [sel, kw["label"]]}]
  if key == "set_checked":
    return [{"dotpath": "page.set_checked", "args": [sel, kw["checked"]]}]
  if key in ("go_back", "go_forward"):
    return [{"dotpath": f"page.{key}", "args": []}]
  if key == "goto":
    return [{"dotpath": "page.goto", "args": [kw["url"]]}]
  if key == "stop":
    return []
  raise AssertionError(f"unhandled action_key {key}")
