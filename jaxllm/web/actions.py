"""Safe parsing of BrowserGym-style action strings.

An agent's action is text such as::

  fill('14', 'chicken')
  click('15')

It is parsed with Python's `ast` (never executed): every line must be exactly one call to a
whitelisted function, with only literal arguments (strings, numbers, booleans, flat lists of those),
given positionally or by keyword. Anything else (attribute access, nested calls, names, operators,
comprehensions, several statements on one line, unknown functions or keywords, over-long strings,
too many calls) raises `ActionError`, and the environment reports it in the next observation's
`last_action_error` without running any part of the action. `executor.py` then maps the parsed calls
onto Playwright.
"""
from __future__ import annotations

import ast
import dataclasses
import math
import re
from typing import Any

MAX_ACTION_CHARS = 4000  # whole action text
MAX_STRING_CHARS = 2000  # any one string argument
MAX_LIST_ITEMS = 32
MAX_CALLS = 10  # calls per action (one per line)
MAX_WAIT_MS = 10_000

BUTTONS = ("left", "middle", "right")
MODIFIERS = ("Alt", "Control", "ControlOrMeta", "Meta", "Shift")
_BID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_REQ = object()  # marks a required parameter


class ActionError(ValueError):
  """A rejected or failed action; its message goes into `last_action_error`."""


@dataclasses.dataclass(frozen=True)
class Param:
  """One parameter: name, kind (see `_coerce`) and default (`_REQ` when required)."""
  name: str
  kind: str
  default: Any = _REQ


def _p(spec: str) -> tuple[Param, ...]:
  """Parses a compact signature 'name:kind=default, ...' (defaults are Python literals)."""
  params = []
  for item in filter(None, (s.strip() for s in spec.split(","))):
    head, _, default = item.partition("=")
    name, _, kind = head.partition(":")
    params.append(Param(name, kind, ast.literal_eval(default) if default else _REQ))
  return tuple(params)


_XY = "x:number, y:number"
_XYB = _XY + ", button:button='left'"
SIGNATURES: dict[str, tuple[Param, ...]] = {
  "send_msg_to_user": _p("text:str"),
  "report_infeasible": _p("reason:str"),
  "noop": _p("wait_ms:number=1000"),
  "fill": _p("bid:bid, value:str"),
  "check": _p("bid:bid"),
  "uncheck": _p("bid:bid"),
  "select_option": _p("bid:bid, options:strs"),
  "click": _p("bid:bid, button:button='left', modifiers:modifiers=[]"),
  "dblclick": _p("bid:bid, button:button='left', modifiers:modifiers=[]"),
  "hover": _p("bid:bid"),
  "press": _p("bid:bid, key_comb:str"),
  "focus": _p("bid:bid"),
  "clear": _p("bid:bid"),
  "drag_and_drop": _p("from_bid:bid, to_bid:bid"),
  "upload_file": _p("bid:bid, file:strs"),
  "scroll": _p("delta_x:number, delta_y:number"),
  "mouse_move": _p(_XY),
  "mouse_click": _p(_XYB),
  "mouse_dblclick": _p(_XYB),
  "mouse_down": _p(_XYB),
  "mouse_up": _p(_XYB),
  "mouse_drag_and_drop": _p("from_x:number, from_y:number, to_x:number, to_y:number"),
  "keyboard_press": _p("key:str"),
  "keyboard_type": _p("text:str"),
  "keyboard_down": _p("key:str"),
  "keyboard_up": _p("key:str"),
  "keyboard_insert_text": _p("text:str"),
  "goto": _p("url:str"),
  "go_back": (),
  "go_forward": (),
  "new_tab": (),
  "tab_close": (),
  "tab_focus": _p("index:int"),
}


@dataclasses.dataclass(frozen=True)
class ActionCall:
  """One parsed, type-checked call: function name and its arguments by parameter name."""
  name: str
  args: dict[str, Any]

  def __str__(self) -> str:
    return f"{self.name}({', '.join(repr(v) for v in self.args.values())})"


def _literal(node: ast.expr) -> Any:
  """The value of a literal argument node; lists hold scalars only."""
  if isinstance(node, ast.Constant):
    if isinstance(node.value, (str, int, float)):  # bool is an int
      return node.value
    raise ActionError(f"unsupported literal {node.value!r}")
  if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
      and isinstance(node.operand, ast.Constant)
      and type(node.operand.value) in (int, float)):
    return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
  if isinstance(node, (ast.List, ast.Tuple)):
    if len(node.elts) > MAX_LIST_ITEMS:
      raise ActionError(f"lists may hold at most {MAX_LIST_ITEMS} items")
    values = [_literal(e) for e in node.elts]
    if any(isinstance(v, list) for v in values):
      raise ActionError("nested lists are not allowed")
    return values
  if isinstance(node, ast.Call):
    raise ActionError("nested calls are not allowed; arguments must be literals")
  if isinstance(node, ast.Attribute):
    raise ActionError("attribute access is not allowed; arguments must be literals")
  if isinstance(node, ast.Name):
    raise ActionError(f"name {node.id!r} is not allowed; arguments must be literals")
  raise ActionError(f"arguments must be literals, got {type(node).__name__}")


def _coerce(fn: str, param: Param, value: Any) -> Any:
  """Checks (and lightly normalises) one argument against its parameter kind."""
  where = f"{fn}() argument {param.name!r}"

  def string(v: Any) -> str:
    if not isinstance(v, str):
      raise ActionError(f"{where} must be a string, got {type(v).__name__}")
    if len(v) > MAX_STRING_CHARS:
      raise ActionError(f"{where} is longer than {MAX_STRING_CHARS} characters")
    return v

  kind = param.kind
  if kind == "str":
    return string(value)
  if kind == "bid":
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
      value = str(value)
    if not isinstance(value, str) or not _BID_RE.fullmatch(value):
      raise ActionError(f"{where} must be an element id such as '12', got {value!r:.80}")
    return value
  if kind in ("number", "int"):
    ok = (int,) if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok) or not math.isfinite(value):
      raise ActionError(f"{where} must be {'an integer' if kind == 'int' else 'a number'}")
    if abs(value) > 1e6:
      raise ActionError(f"{where} is out of range")
    return value
  if kind == "strs":
    return [string(v) for v in value] if isinstance(value, list) else string(value)
  if kind == "button":
    if value not in BUTTONS:
      raise ActionError(f"{where} must be one of {BUTTONS}")
    return value
  if kind == "modifiers":
    if not isinstance(value, list) or any(v not in MODIFIERS for v in value):
      raise ActionError(f"{where} must be a list drawn from {MODIFIERS}")
    return value
  raise AssertionError(f"unknown parameter kind {kind}")


def _parse_call(stmt: ast.stmt) -> ActionCall:
  if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
    raise ActionError(f"each line must be a single function call, got {type(stmt).__name__}")
  call = stmt.value
  if not isinstance(call.func, ast.Name):
    raise ActionError("only plain function names may be called (no attributes or subscripts)")
  fn = call.func.id
  params = SIGNATURES.get(fn)
  if params is None:
    raise ActionError(f"unknown action {fn!r}; allowed: {', '.join(SIGNATURES)}")
  if len(call.args) > len(params):
    raise ActionError(f"{fn}() takes at most {len(params)} arguments")
  args: dict[str, Any] = {}
  for param, node in zip(params, call.args):
    if isinstance(node, ast.Starred):
      raise ActionError("*args are not allowed")
    args[param.name] = _coerce(fn, param, _literal(node))
  by_name = {p.name: p for p in params}
  for kw in call.keywords:
    if kw.arg is None:
      raise ActionError("**kwargs are not allowed")
    if kw.arg not in by_name:
      raise ActionError(f"{fn}() got an unexpected keyword argument {kw.arg!r}")
    if kw.arg in args:
      raise ActionError(f"{fn}() got multiple values for argument {kw.arg!r}")
    args[kw.arg] = _coerce(fn, by_name[kw.arg], _literal(kw.value))
  ordered = {}
  for param in params:
    if param.name in args:
      ordered[param.name] = args[param.name]
    elif param.default is _REQ:
      raise ActionError(f"{fn}() is missing required argument {param.name!r}")
    else:
      ordered[param.name] = param.default
  return ActionCall(fn, ordered)


def parse_action(text: str) -> list[ActionCall]:
  """Parses an action string into calls; raises ActionError on anything not allowed."""
  if not isinstance(text, str):
    raise ActionError(f"an action must be a string, got {type(text).__name__}")
  if len(text) > MAX_ACTION_CHARS:
    raise ActionError(f"action is longer than {MAX_ACTION_CHARS} characters")
  if not text.strip():
    raise ActionError("empty action; use noop() to wait")
  try:
    tree = ast.parse(text.strip(), mode="exec")
  except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
    raise ActionError(f"could not parse action: {type(e).__name__}: {e}") from None
  if len(tree.body) > MAX_CALLS:
    raise ActionError(f"at most {MAX_CALLS} calls per action")
  lines: set[int] = set()
  calls = []
  for stmt in tree.body:
    if stmt.lineno in lines or (stmt.end_lineno or stmt.lineno) in lines:
      raise ActionError("one call per line (';' is not allowed)")
    lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    calls.append(_parse_call(stmt))
  return calls


def action_help() -> str:
  """One line per action with its signature, for prompts."""
  lines = []
  for fn, params in SIGNATURES.items():
    parts = [p.name if p.default is _REQ else f"{p.name}={p.default!r}" for p in params]
    lines.append(f"{fn}({', '.join(parts)})")
  return "\n".join(lines)
