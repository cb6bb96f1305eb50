"""Aggregates PAPRIKA runs over seeds: per arm and round, eval success and turns per group as the
mean over seeds of each seed's figure, +- the standard error over seeds.

  python scripts/paprika_report.py runs/paprika 0 1 2        # reads <root>/seed<k>/results.json

Prints a markdown table per measure (rows: base and each arm's rounds; columns: ALL and each
group; `*` marks a held-out group) and writes <root>/summary.json. With `--by-trajectories` the
rows also give the trajectories sampled so far (the curriculum's x-axis).
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np


def mean_se(xs):
  xs = np.asarray([x for x in xs if x is not None and math.isfinite(x)], np.float64)
  if xs.size == 0:
    return float("nan"), float("nan")
  return float(xs.mean()), (float(xs.std(ddof=1) / math.sqrt(xs.size)) if xs.size > 1 else 0.0)


def rows_of(run: dict) -> dict[str, dict]:
  out = {"base": {"eval": run["base"], "trajectories": 0}}
  for arm, rounds in run["arms"].items():
    for r in rounds[1:]:
      out[f"{arm} r{r['round']}"] = r
  return out


def main(root: str, seeds: list[str]) -> None:
  runs = {}
  for s in seeds:
    path = os.path.join(root, f"seed{s}", "results.json")
    if os.path.exists(path):
      with open(path) as f:
        runs[s] = json.load(f)
  if not runs:
    raise SystemExit(f"no results.json under {root}/seed*/")
  first = next(iter(runs.values()))
  groups = ["ALL"] + first["eval_groups"]
  hold = first.get("holdout", "")
  per_seed = {s: rows_of(r) for s, r in runs.items()}
  names = [n for n in per_seed[next(iter(per_seed))] if all(n in p for p in per_seed.values())]
  summary = {"seeds": sorted(runs), "groups": groups, "holdout": hold, "rows": {}}
  for measure in ("success", "turns"):
    head = ["row", "trajectories"] + [g + ("*" if g == hold else "") for g in groups]
    print(f"\n{measure} (mean +- s.e. over {len(runs)} seeds)\n")
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    for n in names:
      cells = [n, str(int(np.mean([per_seed[s][n]["trajectories"] for s in runs])))]
      for g in groups:
        m, se = mean_se([per_seed[s][n]["eval"].get(g, {}).get(measure) for s in runs])
        summary["rows"].setdefault(n, {}).setdefault(g, {})[measure] = [m, se]
        cells.append(f"{m:.3f} ± {se:.3f}" if measure == "success" else f"{m:.2f} ± {se:.2f}")
      print("| " + " | ".join(cells) + " |")
  with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)


if __name__ == "__main__":
  if len(sys.argv) < 3:
    raise SystemExit(__doc__)
  main(sys.argv[1], sys.argv[2:])
