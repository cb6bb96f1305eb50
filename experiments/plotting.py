"""Curves from metrics.jsonl files: one PNG panel per metric, one line per run.

    plot_runs("runs/srt/seed0/curves.png", {"srt": "runs/srt/seed0/srt", ...},
              ["srt/gt/accuracy", "srt_eval/accuracy"], title="SRT")

A metric name may contain `{run}`, replaced by each run's label (metrics are prefixed with the
run's loop name, e.g. `srt/reward` and `ground_truth/reward`). Runs without a metric are skipped
in that panel. Matplotlib's Agg backend; process 0 only.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax

from experiments.runtime import paths
from experiments.runtime.metrics import read_metrics


def plot_runs(path: str, runs: Mapping[str, str], metrics: Sequence[str], title: str = "",
              cols: int = 3) -> str | None:
  if jax.process_index() != 0:
    return None
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  rows_by_run = {}
  for label, workdir in runs.items():
    try:
      rows_by_run[label] = read_metrics(workdir)
    except (OSError, FileNotFoundError):
      rows_by_run[label] = []
  n = len(metrics)
  ncols = min(cols, n)
  nrows = math.ceil(n / ncols)
  fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
  for ax, name in zip(axes.flat, metrics):
    for label, rows in rows_by_run.items():
      key = name.format(run=label)
      pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
      if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, label=label, marker="." if len(pts) < 30 else None)
    ax.set_title(name.replace("{run}/", "").replace("{run}_", ""), fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[n:]:
    ax.axis("off")
  handles, labels = axes.flat[0].get_legend_handles_labels()
  if handles:
    fig.legend(handles, labels, loc="upper right", fontsize=8)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  if "/" in path:
    paths.makedirs(path.rsplit("/", 1)[0])
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
