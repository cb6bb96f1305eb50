"""The local-agent table of docs/agentdam.md from several seeds' AgentDAM `train` workdirs.

  python scripts/agentdam_report.py runs/agentdam/long/seed0 runs/agentdam/long/seed1 ...

Per arm (base, dpo, rpo, sft): the mean over seeds of fork_leak, sampled leakage and step utility
with the standard error across seeds (n - 1 in the variance), and the seeds' own values.
"""
from __future__ import annotations

import json
import math
import os
import sys


def main(workdirs: list[str]) -> None:
  results = []
  for w in workdirs:
    with open(os.path.join(w, "results.json"), encoding="utf-8") as f:
      results.append(json.load(f)["policy"])
  arms = [a for a in results[0] if a != "pairs"]
  print(f"{len(results)} seeds; pairs: {results[0]['pairs']}")
  print("| arm | fork_leak | sampled leakage | step utility | fork_leak per seed |")
  print("|---|---|---|---|---|")
  for arm in arms:
    cells = []
    for key in ("fork_leak", "leakage", "step_utility"):
      xs = [r[arm][key] for r in results]
      m = sum(xs) / len(xs)
      se = (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
            if len(xs) > 1 else 0.0)
      cells.append(f"{m:.3f} ± {se:.3f}")
    per_seed = ", ".join(f"{r[arm]['fork_leak']:.3f}" for r in results)
    print(f"| {arm} | " + " | ".join(cells) + f" | {per_seed} |")


if __name__ == "__main__":
  if len(sys.argv) < 2:
    sys.exit("usage: python scripts/agentdam_report.py WORKDIR [WORKDIR ...]")
  main(sys.argv[1:])
