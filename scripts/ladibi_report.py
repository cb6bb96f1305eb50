"""Aggregates LADiBI restoration runs over seeds: per method, PSNR / SSIM / perceptual distance /
kernel error as the mean over seeds of each seed's image mean, +- the standard error over seeds,
and paired differences against LADiBI over every (image, seed) pair.

  python scripts/ladibi_report.py runs/ladibi/gaussian-deblur 0 1 2   # reads seed<k>/results.json

Prints two markdown tables and writes <root>/summary.json.
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

METRICS = ("psnr", "ssim", "perceptual", "kernel_rel_l2")
ORDER = ("degraded", "classical", "prior_only", "ladibi", "nonblind")


def mean_se(xs):
  xs = np.asarray([x for x in xs if x is not None and math.isfinite(x)], np.float64)
  if xs.size == 0:
    return float("nan"), float("nan")
  return float(xs.mean()), float(xs.std(ddof=1) / math.sqrt(xs.size)) if xs.size > 1 else 0.0


def main(root: str, seeds: list[str]) -> None:
  runs = {}
  for s in seeds:
    path = os.path.join(root, f"seed{s}", "results.json")
    if os.path.exists(path):
      with open(path) as f:
        runs[s] = json.load(f)
  if not runs:
    raise SystemExit(f"no results.json under {root}/seed*/")
  methods = [m for m in ORDER if all(m in r["rows"] for r in runs.values())]
  first = next(iter(runs.values()))
  summary = {"task": first["task"], "split": first["split"], "seeds": sorted(runs),
             "num_images": first["num_images"], "methods": {}, "paired_vs_ladibi": {}}
  print(f"### {first['task']}: {first['num_images']} {first['split']} images x "
        f"{len(runs)} seeds ({', '.join(sorted(runs))})\n")
  print("| method | PSNR (dB) | SSIM | perceptual | kernel rel. L2 | s/image | NFE |")
  print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  for m in methods:
    row = {}
    for k in METRICS + ("seconds_per_image",):
      row[k] = mean_se([r["rows"][m].get(k) for r in runs.values()])
    row["nfe"] = first["rows"][m].get("nfe")
    summary["methods"][m] = row
    cells = []
    for k, fmt in (("psnr", ".2f"), ("ssim", ".3f"), ("perceptual", ".3f"),
                   ("kernel_rel_l2", ".3f")):
      mu, se = row[k]
      cells.append("–" if math.isnan(mu) else f"{mu:{fmt}} ± {se:{fmt}}")
    sec = row["seconds_per_image"][0]
    cells.append("–" if math.isnan(sec) else f"{sec:.2f}")
    cells.append(str(row["nfe"]) if row["nfe"] else "–")
    print(f"| {m} | " + " | ".join(cells) + " |")
  if "ladibi" in methods and all("per_image" in r for r in runs.values()):
    print("\nPaired difference, LADiBI minus method, over every (image, seed) pair:\n")
    print("| method | ΔPSNR (dB) | ΔSSIM | pairs |")
    print("| --- | ---: | ---: | ---: |")
    for m in methods:
      if m == "ladibi":
        continue
      d = {}
      for k in ("psnr", "ssim"):
        diffs = np.concatenate([np.asarray(r["per_image"]["ladibi"][k]) -
                                np.asarray(r["per_image"][m][k]) for r in runs.values()])
        d[k] = mean_se(diffs.tolist())
      summary["paired_vs_ladibi"][m] = d
      n = sum(len(r["per_image"][m]["psnr"]) for r in runs.values())
      print(f"| {m} | {d['psnr'][0]:+.2f} ± {d['psnr'][1]:.2f} | "
            f"{d['ssim'][0]:+.3f} ± {d['ssim'][1]:.3f} | {n} |")
  with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)


if __name__ == "__main__":
  if len(sys.argv) < 3:
    raise SystemExit(__doc__)
  main(sys.argv[1], sys.argv[2:])
