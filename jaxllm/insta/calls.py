"""The session server's action calls: a fixed table of Playwright calls and their validation.

A request's body is `[{"dotpath": "page.click", "args": [selector]}, ...]` (1 to `MAX_CALLS`).
`validate_calls` checks every call before any runs: the dotpath must be a key of `CALLS` (the
runners are fixed functions; nothing is looked up by name), arguments are type-checked, selectors
are plain CSS or `[data-insta-id="N"]` (no selector engines, `>>` chains or `javascript:`), and a
`page.goto` must stay on the allowed hosts. Problems raise `ApiError(400 or 403, message)`.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from jaxllm.web.browser import host_allowed

if TYPE_CHECKING:
  from playwright.async_api import Page

MAX_CALLS = 3
MAX_SELECTOR_CHARS = 512
MAX_TEXT_CHARS = 10_000
MAX_URL_CHARS = 4096
MAX_WHEEL = 100_000
KEY_RE = re.compile(r"[A-Za-z0-9+_ -]{1,64}")  # keyboard.press keys, e.g. Enter, Control+a
_ID_SELECTOR_RE = re.compile(r'\[data-insta-id=(["\']?)[0-9]{1,9}\1\]')
_ENGINE_RE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_:-]*\s*=")  # css=, xpath=, internal:..=


class ApiError(Exception):
  """An error answered as `{"error": message}` with an HTTP status."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status, self.message = status, message


# ------------------------------------------------------------------------------ the call table
def _selector(value: Any, where: str) -> str:
  if not isinstance(value, str):
    raise ApiError(400, f"{where} must be a selector string, got {type(value).__name__}")
  if _ID_SELECTOR_RE.fullmatch(value):
    return value
  if not value.strip() or len(value) > MAX_SELECTOR_CHARS:
    raise ApiError(400, f"{where} must be a non-empty selector of at most "
                   f"{MAX_SELECTOR_CHARS} characters")
  low = value.lower()
  if "javascript:" in low or ">>" in value or _ENGINE_RE.match(value):
    raise ApiError(400, f"{where} must be a plain CSS selector (no selector engines, '>>' chains "
                   "or javascript:), e.g. '[data-insta-id=\"12\"]'")
  if value.lstrip().startswith(("/", "(", "..", "\"", "'")) or any(ord(c) < 32 for c in value):
    raise ApiError(400, f"{where} must be a plain CSS selector, e.g. '[data-insta-id=\"12\"]'")
  return value


def _text(value: Any, where: str, limit: int = MAX_TEXT_CHARS) -> str:
  if not isinstance(value, str):
    raise ApiError(400, f"{where} must be a string, got {type(value).__name__}")
  if len(value) > limit:
    raise ApiError(400, f"{where} is longer than {limit} characters")
  return value


def _number(value: Any, where: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    raise ApiError(400, f"{where} must be a finite number")
  if abs(value) > MAX_WHEEL:
    raise ApiError(400, f"{where} must be at most {MAX_WHEEL} in size")
  return float(value)


def _check_arg(kind: str, value: Any, where: str) -> Any:
  if kind == "selector":
    return _selector(value, where)
  if kind in ("text", "url"):
    return _text(value, where, MAX_URL_CHARS if kind == "url" else MAX_TEXT_CHARS)
  if kind == "option":
    if isinstance(value, list):
      if not value or len(value) > 32:
        raise ApiError(400, f"{where} must be a string or a list of 1 to 32 strings")
      return [_text(v, f"{where}[{i}]", 1000) for i, v in enumerate(value)]
    return _text(value, where, 1000)
  if kind == "bool":
    if not isinstance(value, bool):
      raise ApiError(400, f"{where} must be true or false")
    return value
  if kind == "number":
    return _number(value, where)
  if kind == "key":
    if not isinstance(value, str) or not KEY_RE.fullmatch(value):
      raise ApiError(400, f"{where} must be a key name such as 'Enter' or 'Control+a'")
    return value
  raise AssertionError(kind)


Runner = Callable[["Page", list], Awaitable[Any]]
# dotpath -> (argument kinds, runner). The runners are fixed functions: the dotpath string is a key
# into this table, never resolved as an attribute path.
CALLS: dict[str, tuple[tuple[str, ...], Runner]] = {
  "page.click": (("selector",), lambda p, a: p.click(a[0])),
  "page.dblclick": (("selector",), lambda p, a: p.dblclick(a[0])),
  "page.fill": (("selector", "text"), lambda p, a: p.fill(a[0], a[1])),
  "page.hover": (("selector",), lambda p, a: p.hover(a[0])),
  "page.focus": (("selector",), lambda p, a: p.focus(a[0])),
  "page.select_option": (("selector", "option"), lambda p, a: p.select_option(a[0], a[1])),
  "page.set_checked": (("selector", "bool"), lambda p, a: p.set_checked(a[0], a[1])),
  "page.press": (("selector", "key"), lambda p, a: p.press(a[0], a[1])),
  "page.go_back": ((), lambda p, a: p.go_back()),
  "page.go_forward": ((), lambda p, a: p.go_forward()),
  "page.reload": ((), lambda p, a: p.reload()),
  "page.goto": (("url",), lambda p, a: p.goto(a[0])),
  "page.mouse.wheel": (("number", "number"), lambda p, a: p.mouse.wheel(a[0], a[1])),
  "page.mouse.click": (("number", "number"), lambda p, a: p.mouse.click(a[0], a[1])),
  "page.keyboard.press": (("key",), lambda p, a: p.keyboard.press(a[0])),
  "page.keyboard.type": (("text",), lambda p, a: p.keyboard.type(a[0])),
}


def validate_calls(body: Any, allowed_hosts: tuple[str, ...]) -> list[tuple[str, list]]:
  """Checks a request's calls; ApiError(400/403) naming the first problem."""
  if not isinstance(body, list):
    raise ApiError(400, "the body must be a JSON list of {\"dotpath\", \"args\"} objects")
  if not 1 <= len(body) <= MAX_CALLS:
    raise ApiError(400, f"send 1 to {MAX_CALLS} chained calls, got {len(body)}")
  calls = []
  for i, item in enumerate(body):
    if not isinstance(item, dict):
      raise ApiError(400, f"call {i} must be an object with dotpath and args")
    extra = sorted(k for k in item if k not in ("dotpath", "args"))
    if extra:
      raise ApiError(400, f"call {i} has unknown field(s) {', '.join(repr(k[:40]) for k in extra)}")
    dotpath = item.get("dotpath")
    if not isinstance(dotpath, str) or dotpath not in CALLS:
      shown = repr(dotpath[:60]) if isinstance(dotpath, str) else type(dotpath).__name__
      raise ApiError(400, f"call {i}: dotpath {shown} is not allowed; allowed: "
                     f"{', '.join(CALLS)}")
    args = item.get("args", [])
    kinds = CALLS[dotpath][0]
    if not isinstance(args, list) or len(args) != len(kinds):
      raise ApiError(400, f"call {i}: {dotpath} takes a list of {len(kinds)} argument(s)"
                     + (f" ({', '.join(kinds)})" if kinds else ""))
    checked = [_check_arg(k, v, f"call {i}: {dotpath} argument {j}")
               for j, (k, v) in enumerate(zip(kinds, args))]
    if dotpath == "page.goto":
      check_url(checked[0], allowed_hosts)
    calls.append((dotpath, checked))
  return calls


def check_url(url: str, allowed_hosts: tuple[str, ...]) -> None:
  if not host_allowed(url, allowed_hosts) or url.startswith(("ws:", "wss:")):
    raise ApiError(403, f"navigation to {url[:100]!r} is not allowed: only http(s) URLs on the "
                   f"allowed hosts ({', '.join(allowed_hosts)}) may be opened")
