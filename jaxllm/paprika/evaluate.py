"""Success and turns per task group over played records (Episode.record() dicts).

    table = summarize(records)        # {"wordle": {...}, ..., "ALL": {...}}
    table["wordle"]["success"], ["success_se"], ["turns"], ["turns_se"], ["n"]

success: the fraction of games won (dropped and overflowed games count as failures, as they are
in the authors' evaluation where such a game never reaches "goal reached"). turns: the mean turns
per game with a failure counted as the group's max turns (the quantity the curriculum's learning
potential uses, so "fewer turns" means faster successes or more of them). turns_success: the mean
over won games only. Standard errors are over games (sample std / sqrt(n)); across seeds the
report script averages the per-seed figures instead.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np


def _se(x: np.ndarray) -> float:
  return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def turns_counted(rec: dict[str, Any]) -> int:
  return int(rec["turns"]) if rec["success"] else int(rec["max_turns"])


def summarize(records: Sequence[dict[str, Any]], key: str = "group") -> "OrderedDict[str, dict]":
  groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
  for r in records:
    groups.setdefault(r["scenario"][key], []).append(r)
  out: OrderedDict[str, dict] = OrderedDict()
  for name, recs in list(groups.items()) + [("ALL", list(records))]:
    if not recs:
      continue
    won = np.asarray([bool(r["success"]) for r in recs], np.float64)
    turns = np.asarray([turns_counted(r) for r in recs], np.float64)
    wins = [r["turns"] for r in recs if r["success"]]
    out[name] = {"n": len(recs), "success": float(won.mean()), "success_se": _se(won),
                 "turns": float(turns.mean()), "turns_se": _se(turns),
                 "turns_success": float(np.mean(wins)) if wins else float("nan"),
                 "dropped": float(np.mean([bool(r["dropped"]) for r in recs])),
                 "overflow": float(np.mean([bool(r["overflow"]) for r in recs]))}
  return out
