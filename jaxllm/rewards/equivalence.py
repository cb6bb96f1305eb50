"""Mathematical equivalence of two answer strings, with HF's `math-verify` (cached).

`equivalent(a, b)` parses both strings (LaTeX and plain expressions; a bare string is wrapped in
`$...$` so that `\\frac{1}{2}` and `0.5` both parse) and asks `math_verify.verify` whether they
denote the same value or expression. Identical strings are equivalent without parsing. Results
are cached per (a, b), since a group of rollouts repeats few distinct answers. math-verify's own
timeout relies on SIGALRM, so off the main thread it is called without one.
"""
from __future__ import annotations

import functools
import threading


@functools.lru_cache(maxsize=1 << 16)
def _parsed(s: str):
  from math_verify import parse  # imported lazily: pulls in sympy
  kwargs = {} if threading.current_thread() is threading.main_thread() else {
      "parsing_timeout": None}
  parsed = parse(f"${s}$", **kwargs)
  return parsed if parsed else parse(s, **kwargs)


@functools.lru_cache(maxsize=1 << 16)
def equivalent(a: str | None, b: str | None) -> bool:
  """True when both are answers and math-verify finds them equal (or they are the same text)."""
  if a is None or b is None:
    return False
  a, b = a.strip(), b.strip()
  if a == b:
    return True
  from math_verify import verify
  pa, pb = _parsed(a), _parsed(b)
  if not pa or not pb:
    return False
  kwargs = {} if threading.current_thread() is threading.main_thread() else {
      "timeout_seconds": None}
  try:
    return bool(verify(pa, pb, **kwargs))
  except Exception:  # pylint: disable=broad-except -- sympy can fail on odd input: not equal
    return False
