"""Host state: what an online run keeps outside the jitted train state, saved with each checkpoint.

An online loop (sample with the current model, score, update) holds state on the host that must
come back on resume for the run to continue exactly as if it had never stopped: a data cursor, a
numpy Generator, environments mid-episode, a replay buffer, curriculum statistics, the keys of
finished episodes. Each such object implements two methods (no import of this module needed, so
library classes in jaxrl / jaxllm can take part):

    state_dict(files_dir: str) -> dict          # JSON-able, numpy arrays allowed (encoded exactly)
    load_state_dict(d: dict, files_dir: str) -> None

and the loop is given `host={"name": obj, ...}`. At every checkpoint the loop calls each
`state_dict` and stores the result next to the train state (orbax item `host`, JSON); on resume it
restores the train state and calls `load_state_dict` with what was saved at that step.

Large buffers go by file reference: `files_dir` (`<workdir>/<checkpoint_subdir>_files/<name>/`,
shared by all checkpoints) is where an object may write big arrays, returning only their file
names and sizes in the dict. Files named in a saved dict must never change afterwards (write new
files, e.g. one segment per checkpoint of an append-only buffer), because older checkpoints still
point at them. Files are written before the checkpoint that names them is committed, so a kill at
any moment leaves every committed checkpoint complete.

`encode` / `decode` turn numpy arrays (any dtype, bit exact) and numpy scalars inside nested
dicts and lists into JSON and back; `Generator` state is plain JSON already
(`rng.bit_generator.state`). `RngState` wraps a numpy Generator as a host-state object.
"""
from __future__ import annotations

import base64
from typing import Any, Mapping, Protocol

import numpy as np

_ARRAY = "__ndarray__"


class HostState(Protocol):

  def state_dict(self, files_dir: str) -> dict[str, Any]:
    ...

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str) -> None:
    ...


def encode(x: Any) -> Any:
  """JSON-able form of nested dicts / lists / tuples of scalars, strings and numpy arrays."""
  if isinstance(x, np.ndarray):
    a = np.ascontiguousarray(x)
    return {_ARRAY: base64.b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.str,
            "shape": list(a.shape)}
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, Mapping):
    return {str(k): encode(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [encode(v) for v in x]
  if x is None or isinstance(x, (bool, int, float, str)):
    return x
  raise TypeError(f"host state cannot hold {type(x).__name__}; use numpy arrays, numbers, "
                  "strings, lists and dicts (large data: a file in files_dir)")


def decode(x: Any) -> Any:
  """Inverse of `encode` (arrays come back writable, with their dtype and shape)."""
  if isinstance(x, Mapping):
    if _ARRAY in x:
      raw = base64.b64decode(x[_ARRAY])
      return np.frombuffer(raw, dtype=np.dtype(x["dtype"])).reshape(x["shape"]).copy()
    return {k: decode(v) for k, v in x.items()}
  if isinstance(x, list):
    return [decode(v) for v in x]
  return x


class RngState:
  """A numpy Generator as host state: `rng.generator` is the live Generator."""

  def __init__(self, seed: Any):
    self.generator = np.random.default_rng(seed)

  def state_dict(self, files_dir: str) -> dict[str, Any]:
    del files_dir
    return {"bit_generator": self.generator.bit_generator.state}

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str) -> None:
    del files_dir
    self.generator.bit_generator.state = d["bit_generator"]


class Counter:
  """A dict of integer / float counters as host state (cursors, statistics)."""

  def __init__(self, **values: Any):
    self.values = dict(values)

  def __getitem__(self, k: str) -> Any:
    return self.values[k]

  def __setitem__(self, k: str, v: Any) -> None:
    self.values[k] = v

  def state_dict(self, files_dir: str) -> dict[str, Any]:
    del files_dir
    return dict(self.values)

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str) -> None:
    del files_dir
    self.values = dict(d)
