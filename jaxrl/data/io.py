"""Reading and writing offline datasets as D4RL-layout HDF5 files.

The layout (D4RL's, which the project's generators write too, `jaxrl.behavior.datasets`):

  /observations (N, obs_dim) float32       /actions (N, act_dim) float32    /rewards (N,) float32
  /next_observations (N, obs_dim) float32  /terminals (N,) bool             /timeouts (N,) bool
  /infos/goal, /infos/qpos, /infos/qvel    (maze2d; any /infos/... dataset with N rows is read)
  file attributes: env, level (and any other scalar attributes, kept in `OfflineDataset.attrs`)

Other root groups of D4RL files (`metadata/...`: the behaviour policy's weights) and root
datasets that are not D4RL keys (our generators' `env_ids`) are not read.

Old D4RL files have no `next_observations`. They are then derived within each episode as
next_observations[t] = observations[t + 1], which leaves the last row of every episode without a
successor: for an episode cut by a timeout (or by the end of the file) that last row is DROPPED and
the row before it becomes the timeout; for an episode that ends in a terminal the row is KEPT with
next_observations = its own observation, a placeholder that no correct learner reads because the
terminal masks the bootstrap (dropping it would lose the termination signal). `attrs
["next_observations"]` then says "derived". D4RL's own `qlearning_dataset` makes the same choice.

`load(source)` reads a D4RL-layout file or a Minari dataset (`jaxrl.data.minari_format`) and
validates it (`jaxrl.data.validate`); every problem is a one-line `DatasetError`.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

import h5py
import numpy as np

from jaxrl.data import validate as validation
from jaxrl.data.dataset import CORE_KEYS, OfflineDataset
from jaxrl.data.validate import DatasetError, fail

FLOAT_KEYS = ("observations", "actions", "rewards", "next_observations")
BOOL_KEYS = ("terminals", "timeouts")


def sha256_file(path: str) -> str:
  """Hex sha256 of the file's bytes (a dataset's fingerprint for manifests and caches)."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def _attr(v: Any) -> Any:
  if isinstance(v, bytes):
    return v.decode("utf-8", "replace")
  if isinstance(v, np.generic):
    return v.item()
  return v


def write_hdf5(path: str, ds: OfflineDataset, compression: str | None = "gzip") -> str:
  """Writes `ds` in the D4RL layout (module docstring); atomic (temporary name, then rename)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  opts = {"compression": compression, "compression_opts": 1} if compression == "gzip" else \
      {"compression": compression}
  try:
    with h5py.File(tmp, "w") as f:
      for name, value in ds.arrays().items():
        f.create_dataset(name, data=np.asarray(value), **opts)
      attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float, bool))}
      attrs.update(env=ds.env, level=ds.level)
      for k, v in attrs.items():
        f.attrs[k] = v
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path


def derive_next_observations(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """D4RL arrays without next_observations -> with them (module docstring: what is dropped)."""
  obs = arrays["observations"]
  term = arrays["terminals"].astype(bool)
  tout = arrays["timeouts"].astype(bool)
  n = len(obs)
  ends = term | tout
  ends[-1] = True
  nxt = np.empty_like(obs)
  nxt[:-1] = obs[1:]
  nxt[ends] = obs[ends]  # placeholder, kept only for terminal rows
  keep = ~(ends & ~term)  # drop each truncated episode's last row
  # the kept row before a dropped one now ends its (truncated) episode
  new_tout = tout.copy()
  dropped = np.flatnonzero(~keep)
  prev = dropped - 1
  ok = prev >= 0
  prev = prev[ok]
  prev = prev[~ends[prev]]  # only if it belongs to the same episode
  new_tout[prev] = True
  out = {k: v[keep] for k, v in arrays.items()}
  out["next_observations"] = nxt[keep]
  out["timeouts"] = new_tout[keep]
  assert len(out["observations"]) <= n
  return out


def _read_d4rl_arrays(f: h5py.File) -> dict[str, np.ndarray]:
  out: dict[str, np.ndarray] = {}
  for k in CORE_KEYS:
    if k in f and isinstance(f[k], h5py.Dataset):
      out[k] = f[k][()]
  if "infos" in f and isinstance(f["infos"], h5py.Group):
    def visit(name: str, obj: Any) -> None:
      if isinstance(obj, h5py.Dataset):
        out[f"infos/{name}"] = obj[()]
    f["infos"].visititems(visit)
  return out


def from_arrays(arrays: dict[str, np.ndarray], source: str = "", env: str = "", level: str = "",
                attrs: dict[str, Any] | None = None) -> OfflineDataset:
  """An OfflineDataset from D4RL-named arrays (checked; next_observations derived if absent)."""
  validation.check_arrays(source, arrays)
  attrs = dict(attrs or {})
  if "next_observations" not in arrays:
    arrays = derive_next_observations(arrays)
    attrs["next_observations"] = "derived"
    if not len(arrays["observations"]):
      raise fail(source, "no transitions left after deriving next_observations (every "
                         "episode has one step)")
  core = {k: np.asarray(arrays[k], np.float32) for k in FLOAT_KEYS}
  core.update({k: np.asarray(arrays[k]).astype(bool) for k in BOOL_KEYS})
  infos = {k[len("infos/"):]: np.asarray(v) for k, v in arrays.items() if k.startswith("infos/")}
  return OfflineDataset(**core, infos=infos, env=env, level=level, source=source, attrs=attrs)


def is_minari_file(path: str) -> bool:
  with h5py.File(path, "r") as f:
    return any(k.startswith("episode_") for k in f.keys()) and "observations" not in f


def read_hdf5(path: str, env: str | None = None, check: bool = True) -> OfflineDataset:
  """A D4RL-layout file (ours or D4RL's) as an OfflineDataset, validated against `env`.

  `env` defaults to the file's `env` attribute when that names a known environment.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise fail(path, "no such file")
  try:
    with h5py.File(path, "r") as f:
      keys = list(f.keys())
      arrays = _read_d4rl_arrays(f)
      attrs = {k: _attr(v) for k, v in f.attrs.items()}
  except OSError as e:
    raise fail(path, f"not a readable HDF5 file ({e})") from None
  validation.check_keys(path, keys)
  ds = from_arrays(arrays, source=path, env=str(attrs.pop("env", "") or ""),
                   level=str(attrs.pop("level", "") or ""), attrs=attrs)
  return validation.validate(ds, env) if check else ds


def load(source: str, env: str | None = None, check: bool = True, **minari_kwargs: Any
         ) -> OfflineDataset:
  """Any supported dataset: a D4RL-layout .hdf5, a Minari main_data.hdf5 / dataset directory,
  or a Minari dataset id (looked up under MINARI_DATASETS_PATH, default ~/.minari/datasets)."""
  from jaxrl.data import minari_format  # pylint: disable=g-import-not-at-top
  source = os.fspath(source)
  if os.path.isfile(source):
    try:
      minari = is_minari_file(source)
    except OSError as e:
      raise fail(source, f"not a readable HDF5 file ({e})") from None
    if not minari:
      return read_hdf5(source, env, check)
  elif source.endswith((".hdf5", ".h5")):
    raise fail(source, "no such file")
  return minari_format.read_minari(source, env=env, check=check, **minari_kwargs)


__all__ = ["DatasetError", "derive_next_observations", "from_arrays", "is_minari_file", "load",
           "read_hdf5", "sha256_file", "write_hdf5"]
