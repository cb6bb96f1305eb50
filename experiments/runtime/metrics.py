"""Metrics: JSON lines and TensorBoard events from process 0, and a progress line with rates.

`workdir/metrics.jsonl` gets one object per write: {"step": N, "time": unix_seconds, name: value...}.
TensorBoard events go to `workdir/tb/`. Other processes write nothing. On a remote workdir
(gs://...), where files cannot be appended to, the JSON lines are rewritten whole at most every
`remote_flush_secs` and at close.
"""
from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Mapping

import jax
import numpy as np

from experiments.runtime import paths


def _scalar(v: Any) -> float | None:
  a = np.asarray(v)
  if a.size != 1 or not np.issubdtype(a.dtype, np.number):
    return None
  return float(a.reshape(()))


class MetricWriter:
  """Writes scalar metrics to JSON lines and TensorBoard (process 0 only)."""

  def __init__(self, workdir: str, *, tensorboard: bool = True, filename: str = "metrics.jsonl",
               remote_flush_secs: float = 60.0):
    self.active = jax.process_index() == 0
    self._tb = None
    self._f = None
    self._remote_lines: list[str] | None = None
    if not self.active:
      return
    paths.makedirs(workdir)
    self._path = paths.join(workdir, filename)
    if paths.is_remote(workdir):
      self._remote_lines = (paths.read_text(self._path).splitlines(keepends=True)
                            if paths.exists(self._path) else [])
      self._flush_secs, self._last_flush = remote_flush_secs, time.time()
    else:
      self._f = open(self._path, "a", encoding="utf-8")
    if tensorboard:
      from tensorboardX import SummaryWriter  # imported lazily: heavy and optional at read time
      self._tb = SummaryWriter(paths.join(workdir, "tb"), flush_secs=30)

  def write(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Writes every numeric scalar in `metrics` (device arrays are fetched here)."""
    scalars = {}
    for k, v in jax.device_get(dict(metrics)).items():
      x = _scalar(v)
      if x is not None:
        scalars[prefix + k] = x
    if self.active:
      row = {"step": int(step), "time": round(time.time(), 3)}
      row.update({k: (v if math.isfinite(v) else str(v)) for k, v in scalars.items()})
      if self._f is not None:
        self._f.write(json.dumps(row) + "\n")
        self._f.flush()
      else:
        self._remote_lines.append(json.dumps(row) + "\n")
        if time.time() - self._last_flush > self._flush_secs:
          self._flush_remote()
      if self._tb is not None:
        for k, v in scalars.items():
          self._tb.add_scalar(k, v, int(step))
    return scalars

  def _flush_remote(self):
    paths.write_text(self._path, "".join(self._remote_lines))
    self._last_flush = time.time()

  def close(self):
    if self._remote_lines is not None:
      self._flush_remote()
      self._remote_lines = None
    if self._f is not None:
      self._f.close()
      self._f = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_metrics(workdir: str, filename: str = "metrics.jsonl") -> list[dict[str, Any]]:
  text = paths.read_text(paths.join(workdir, filename))
  return [json.loads(line) for line in text.splitlines() if line.strip()]


def _fmt_time(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
  """Prints `[name] step N/T (p%) | X steps/s | ETA h:mm:ss | key value ...` (process 0).

  Rates exclude the first call after (re)start, which includes compilation.
  """

  def __init__(self, total: int, start: int = 0, name: str = "train", stream=None):
    self.total, self.name = total, name
    self.stream = stream or sys.stdout
    self.active = jax.process_index() == 0
    self._t0 = None
    self._s0 = start

  def update(self, step: int, metrics: Mapping[str, float] | None = None) -> str:
    now = time.perf_counter()
    if self._t0 is None:  # first report: compilation included, start the clock here
      self._t0, self._s0 = now, step
      rate = float("nan")
    else:
      rate = (step - self._s0) / max(now - self._t0, 1e-9)
    eta = (self.total - step) / rate if rate > 0 else float("nan")
    parts = [f"[{self.name}] step {step}/{self.total} ({100.0 * step / max(self.total, 1):.0f}%)",
             f"{rate:.1f} steps/s" if math.isfinite(rate) else "- steps/s",
             f"ETA {_fmt_time(eta)}"]
    for k, v in (metrics or {}).items():
      parts.append(f"{k} {v:.4g}")
    line = " | ".join(parts)
    if self.active:
      print(line, file=self.stream, flush=True)
    return line

