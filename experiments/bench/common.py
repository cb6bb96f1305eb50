"""Shared helpers for benchmark scripts: repeated timings, medians, the printed table."""
from __future__ import annotations

import json
import platform
import statistics
import time
from typing import Callable, Sequence

import jax


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
  """Median wall seconds of `fn()` over `repeats` runs after `warmup` runs (fn must block)."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def machine() -> str:
  dev = jax.devices()[0]
  return f"{platform.processor() or platform.machine()} / {jax.device_count()}x {dev.platform} " \
         f"({getattr(dev, 'device_kind', '')}) / jax {jax.__version__}"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]):
  cells = [list(map(str, header))] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r]
                                      for r in rows]
  widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
  print(f"\n{title}\nmachine: {machine()}")
  for j, r in enumerate(cells):
    print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    if j == 0:
      print("  ".join("-" * w for w in widths))


def print_ratios(ratios: dict):
  print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in ratios.items()}))
