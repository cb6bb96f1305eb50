"""What a study writes: every step of every episode, and one line per finished episode.

Steps. `StepRecorder` writes `<workdir>/episodes/<agent>/<task>/seed<k>/steps.jsonl` as the
episode runs, one JSON object per call (`record(row)`), flushed at once so that a killed worker
leaves every step it took. The file is rewritten when an episode is relaunched. `record.dir` is
that directory, for whatever else a runner keeps per step (screenshots).

Episodes. `RecordStore` is `<workdir>/episodes.jsonl`: one line per final episode (its summary
plus the scheduler's `attempts`, `attempt_errors`, `worker` and `time`); the latest line of a key
wins. A study skips every key whose latest record is "completed" (`completed()`), so rerunning it
on the same workdir resumes it. A line cut short by a kill is skipped (that episode runs again).

Host state. An online training loop that collects episodes between updates keeps the store in
its checkpoints: `state_dict(files_dir)` is the list of completed keys with the records file and
its size in bytes; `load_state_dict(d, files_dir)` cuts the file back to that size (the episodes
recorded after the checkpoint belong to updates that were lost with it, so they run again) and
restores the completed set. The file only grows between checkpoints, so an older checkpoint's
offset always points at a prefix of it.
"""
from __future__ import annotations

import collections
import json
import math
import os
from typing import Any, Mapping

from jaxllm.episodes.spec import EpisodeSpec, episode_dir

RECORDS = "episodes.jsonl"


class StepRecorder:
  """`record(row)` appends one JSON line to the episode's steps.jsonl (see the module docstring)."""

  def __init__(self, workdir: str, spec: EpisodeSpec):
    self.dir = episode_dir(workdir, spec)
    os.makedirs(self.dir, exist_ok=True)
    self.path = os.path.join(self.dir, "steps.jsonl")
    self._file = open(self.path, "w", encoding="utf-8")  # pylint: disable=consider-using-with

  def __call__(self, row: Mapping[str, Any]) -> None:
    self._file.write(json.dumps(row, default=str) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()

  def __enter__(self) -> "StepRecorder":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """The JSON objects of a JSON-lines file, skipping blank and cut-short lines."""
  rows = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.strip()
      if line:
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:
          pass  # a line cut short by a kill
  return rows


class RecordStore:
  """`<workdir>/episodes.jsonl`, the latest record per episode key (see the module docstring)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(os.path.abspath(workdir), RECORDS)
    self.records: dict[str, dict[str, Any]] = {}
    self._read()

  def _read(self) -> None:
    self.records = {}
    if os.path.exists(self.path):
      self.records = {r["key"]: r for r in read_jsonl(self.path)}

  def completed(self) -> dict[str, dict[str, Any]]:
    """key -> record of every episode whose latest record is "completed"."""
    return {k: r for k, r in self.records.items() if r.get("status") == "completed"}

  def finals(self) -> dict[str, dict[str, Any]]:
    """key -> latest final record of every episode (completed or errored after its retries)."""
    return dict(self.records)

  def append(self, record: dict[str, Any]) -> None:
    """Writes one final record (a dict with "key" and "status") and makes it the key's latest."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    with open(self.path, "ab") as f:
      if f.tell() > 0 and _last_byte(self.path) != b"\n":
        f.write(b"\n")  # end a line cut short by a kill, so that this record stands on its own
      f.write((json.dumps(record) + "\n").encode("utf-8"))
    self.records[record["key"]] = record

  def size(self) -> int:
    return os.path.getsize(self.path) if os.path.exists(self.path) else 0

  # ---------------------------------------------------------------- host state
  def state_dict(self, files_dir: str) -> dict[str, Any]:
    """JSON-able: the completed keys, the records file and its size (nothing goes to files_dir)."""
    del files_dir
    return {"path": self.path, "offset": self.size(), "completed": sorted(self.completed())}

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str) -> None:
    """Cuts the records file back to the saved size and restores the completed set."""
    del files_dir
    offset, size = int(d["offset"]), self.size()
    if size < offset:
      raise ValueError(f"{self.path} has {size} bytes but the checkpoint recorded {offset}; "
                       "restore the workdir's episodes.jsonl along with its checkpoints")
    if size > offset:
      os.truncate(self.path, offset)
    self._read()
    assert sorted(self.completed()) == sorted(d["completed"]), \
      "episodes.jsonl up to the checkpoint's offset disagrees with its completed keys"


def _last_byte(path: str) -> bytes:
  with open(path, "rb") as f:
    f.seek(-1, os.SEEK_END)
    return f.read(1)


def load_records(workdir: str) -> dict[str, dict[str, Any]]:
  """Latest record per episode key from `<workdir>/episodes.jsonl` (empty if none)."""
  return RecordStore(workdir).records


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Rows 'agent / task' (and 'agent / ALL'): episodes, success rate, its standard error
  sqrt(p (1 - p) / n), errored episodes, mean steps. Errored episodes count as failures."""
  groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
  for r in records:
    groups[f"{r['agent']} / {r['task_id']}"].append(r)
  for agent in sorted({r["agent"] for r in records}):
    groups[f"{agent} / ALL"] = [r for r in records if r["agent"] == agent]
  rows = {}
  for name, rs in groups.items():
    n = len(rs)
    p = sum(bool(r["success"]) for r in rs) / n
    rows[name] = {"episodes": n, "success": p, "stderr": math.sqrt(p * (1 - p) / n),
                  "errored": sum(r["status"] == "errored" for r in rs),
                  "mean_steps": sum(r["steps"] for r in rs) / n}
  return rows
