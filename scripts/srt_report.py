"""Aggregates SRT fidelity runs over seeds: mean +- standard error per arm, and averaged curves.

  python scripts/srt_report.py runs/srt 0 1 2      # reads runs/srt/seed<k>/results.json

Prints a markdown table (test accuracy of the final and of the best-validation parameters,
majority-vote accuracy, steps) and writes runs/srt/summary.json and runs/srt/curves_mean.png
(validation accuracy, training reward and ground-truth accuracy of the training batches, label
correctness and the top answer's share, averaged over seeds per arm).
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments.runtime.metrics import read_metrics  # noqa: E402

CURVES = ("{arm}_eval/accuracy", "{arm}/reward", "{arm}/gt/accuracy",
          "{arm}/sc/correct_label_fraction", "{arm}/sc/top_answer_share", "{arm}/entropy")


def mean_se(xs):
  xs = [x for x in xs if x is not None and math.isfinite(x)]
  if not xs:
    return float("nan"), float("nan"), 0
  se = float(np.std(xs, ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else float("nan")
  return float(np.mean(xs)), se, len(xs)


def main(root: str, seeds: list[str]) -> None:
  results = {s: json.load(open(os.path.join(root, f"seed{s}", "results.json"))) for s in seeds
             if os.path.exists(os.path.join(root, f"seed{s}", "results.json"))}
  if not results:
    raise SystemExit(f"no results.json under {root}/seed*/")
  arms = sorted({a for r in results.values() for a in r["arms"]},
                key=lambda a: (a != "ground_truth", a != "srt", a))
  rows, summary = [], {}
  base = mean_se([r["base"]["test"]["accuracy"] for r in results.values()])
  rows.append(("base model", base, mean_se([r["base"]["test"]["majority_accuracy"]
                                            for r in results.values()]), base, "-"))
  for arm in arms:
    outs = [r["arms"][arm] for r in results.values() if arm in r["arms"]]
    final = mean_se([o["final"]["accuracy"] for o in outs])
    maj = mean_se([o["final"]["majority_accuracy"] for o in outs])
    best = mean_se([o.get("best_val", {}).get("accuracy") for o in outs])
    steps = sorted({o["steps"] for o in outs})
    rows.append((arm, final, maj, best, ",".join(map(str, steps))))
    summary[arm] = {"final": final, "majority": maj, "best_val": best, "steps": steps}
  fmt = lambda t: f"{t[0]:.3f} ± {t[1]:.3f} (n={t[2]})"
  print("| arm | test accuracy (final) | majority-vote accuracy | test accuracy at best val | "
        "steps |\n|---|---|---|---|---|")
  for name, f, m, b, st in rows:
    print(f"| {name} | {fmt(f)} | {fmt(m)} | {fmt(b)} | {st} |")
  json.dump({"base": base, "arms": summary, "seeds": list(results)},
            open(os.path.join(root, "summary.json"), "w"), indent=1)
  plot(root, list(results), arms)


def plot(root, seeds, arms):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
  for ax, pattern in zip(axes.flat, CURVES):
    for arm in arms:
      key = pattern.format(arm=arm)
      series = []
      for s in seeds:
        path = os.path.join(root, f"seed{s}", arm)
        if os.path.exists(os.path.join(path, "metrics.jsonl")):
          series.append({r["step"]: r[key] for r in read_metrics(path)
                         if isinstance(r.get(key), (int, float))})
      steps = sorted(set.intersection(*(set(d) for d in series))) if series else []
      if not steps:
        continue
      ys = np.array([[d[t] for t in steps] for d in series])
      if len(steps) > 40:  # smooth per-step training metrics over a window of 10 steps
        k = np.ones(10) / 10
        ys = np.array([np.convolve(y, k, mode="valid") for y in ys])
        steps = steps[9:]
      m = ys.mean(0)
      ax.plot(steps, m, label=arm)
      if len(ys) > 1:
        se = ys.std(0, ddof=1) / math.sqrt(len(ys))
        ax.fill_between(steps, m - se, m + se, alpha=0.2)
    ax.set_title(pattern.replace("{arm}/", "").replace("{arm}_", ""), fontsize=9)
    ax.grid(alpha=0.3)
  axes.flat[0].legend(fontsize=7)
  fig.suptitle(f"SRT testbed, mean ± s.e. over seeds {', '.join(seeds)}", fontsize=10)
  fig.tight_layout()
  fig.savefig(os.path.join(root, "curves_mean.png"), dpi=90)


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2:] or ["0", "1", "2"])
