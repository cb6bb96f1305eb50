"""End-of-run results: `workdir/results.json` and the same numbers printed as a table."""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

import jax

from experiments.runtime import paths


def _fmt(v: Any) -> str:
  if isinstance(v, float):
    return f"{v:.4g}" if math.isfinite(v) else str(v)
  return str(v)


def format_table(rows: Mapping[str, Mapping[str, Any]], first: str = "") -> str:
  """rows: {row name: {column: value}} -> aligned text table."""
  cols: list[str] = []
  for r in rows.values():
    cols += [c for c in r if c not in cols]
  cells = [[first] + cols] + [[name] + [_fmt(r.get(c, "")) for c in cols] for name, r in rows.items()]
  widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
  lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
           for row in cells]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def write_results(workdir: str, results: Mapping[str, Any], table_rows=None, title: str = "") -> str:
  """Writes results.json (process 0) and prints the table; returns the json path."""
  path = paths.join(workdir, "results.json")
  if jax.process_index() == 0:
    paths.write_text(path, json.dumps(results, indent=2, sort_keys=True, default=float))
    if table_rows:
      print(f"\n{title}\n{format_table(table_rows)}\n\nresults: {path}", flush=True)
  return path
