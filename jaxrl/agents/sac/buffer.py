"""SAC's replay buffer: append-only transitions on the host, saved as immutable segments.

The buffer keeps every transition of a run (capacity = all its steps) in collection order, with
the index of the environment each came from, so dataset generation can replay it as contiguous
episodes (jaxrl.behavior). Batches are drawn uniformly with a numpy Generator the caller owns.

As host state (experiments/runtime/host_state.py): `state_dict(files_dir)` writes the rows added
since the previous call as one new file `rows_<start>_<stop>.npz` and returns the list of segment
files and the size; files, once named in a returned dict, are never rewritten with other content
(a resumed run writes the same rows under the same name). `load_state_dict` reads the named
segments back in order. Files are written to a temporary name and renamed, so a kill mid-write
leaves no torn segment.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts",
          "env_ids")


class ReplayBuffer:
  """Append-only transitions in preallocated numpy arrays (observations flat float32)."""

  def __init__(self, capacity: int, obs_dim: int, act_dim: int):
    self.capacity, self.size = capacity, 0
    self._d = {"observations": np.zeros((capacity, obs_dim), np.float32),
               "actions": np.zeros((capacity, act_dim), np.float32),
               "rewards": np.zeros((capacity,), np.float32),
               "next_observations": np.zeros((capacity, obs_dim), np.float32),
               "terminals": np.zeros((capacity,), bool), "timeouts": np.zeros((capacity,), bool),
               "env_ids": np.zeros((capacity,), np.int32)}
    self._segments: list[list[Any]] = []   # [file name, rows], in order
    self._saved = 0

  def add(self, **rows: np.ndarray) -> None:
    n = len(rows["rewards"])
    assert self.size + n <= self.capacity, "replay buffer full"
    for k, v in rows.items():
      self._d[k][self.size:self.size + n] = v
    self.size += n

  def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Uniform rows (with replacement) as an update batch; terminals as float32."""
    idx = rng.integers(0, self.size, size=shape)
    return {"observations": self._d["observations"][idx], "actions": self._d["actions"][idx],
            "rewards": self._d["rewards"][idx],
            "next_observations": self._d["next_observations"][idx],
            "terminals": self._d["terminals"][idx].astype(np.float32)}

  def data(self, stop: int | None = None) -> dict[str, np.ndarray]:
    """The first `stop` transitions (all by default), views in collection order."""
    stop = self.size if stop is None else min(stop, self.size)
    return {k: v[:stop] for k, v in self._d.items()}

  # ---------------------------------------------------------------- host state
  def state_dict(self, files_dir: str) -> dict[str, Any]:
    if self.size > self._saved:
      name = f"rows_{self._saved}_{self.size}.npz"
      tmp = os.path.join(files_dir, name + ".tmp")
      with open(tmp, "wb") as f:
        np.savez(f, **{k: v[self._saved:self.size] for k, v in self._d.items()})
      os.replace(tmp, os.path.join(files_dir, name))
      self._segments.append([name, self.size - self._saved])
      self._saved = self.size
    return {"segments": [list(s) for s in self._segments], "size": self._saved}

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str) -> None:
    self.size = 0
    for name, rows in d["segments"]:
      path = os.path.join(files_dir, name)
      if not os.path.exists(path):
        raise FileNotFoundError(f"replay segment {path} named by the checkpoint is missing; "
                                "restore it or start fresh with a new workdir")
      with np.load(path) as z:
        self.add(**{k: z[k] for k in FIELDS})
      assert self.size - rows == int(name.split("_")[1]), name
    assert self.size == d["size"], (self.size, d["size"])
    self._segments, self._saved = [list(s) for s in d["segments"]], self.size
