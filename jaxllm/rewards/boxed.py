"""Final-answer extraction: the last `\\boxed{...}` of a response.

SRT's prompts end with "Let's think step by step and output the final answer within \\boxed{}."
and the answer is the content of the **last** box, found by brace matching (so nested braces such
as `\\boxed{\\frac{1}{2}}` come back whole). Also accepted, as in the authors' code: `\\boxed 5`
(a space instead of a brace: the answer runs to the next `$` or the end of the line) and
`\\fbox{...}`, used only when the response has no `\\boxed` at all. An unclosed box is no answer.
"""
from __future__ import annotations

import re

PROMPT_SUFFIX = "Let's think step by step and output the final answer within \\boxed{}."
_SPACE_FORM = re.compile(r"[^$\n]*")


def _braced(text: str, open_at: int) -> str | None:
  """The text inside the brace pair starting at text[open_at] == '{', or None if unclosed."""
  depth = 0
  for i in range(open_at, len(text)):
    c = text[i]
    if c == "{":
      depth += 1
    elif c == "}":
      depth -= 1
      if depth == 0:
        return text[open_at + 1:i]
  return None


def extract_boxed(text: str) -> str | None:
  """The stripped content of the last `\\boxed{...}` / `\\boxed ...` (else last `\\fbox{...}`)."""
  if not text:
    return None
  for command in ("\\boxed", "\\fbox"):
    at = text.rfind(command)
    if at < 0:
      continue
    rest = at + len(command)
    if rest < len(text) and text[rest] == "{":
      inner = _braced(text, rest)
      return inner.strip() if inner is not None else None
    if command == "\\boxed" and rest < len(text) and text[rest] == " ":
      inner = _SPACE_FORM.match(text, rest + 1).group(0).strip()
      return inner or None
    return None
  return None
