"""Writing datasets as D4RL-layout HDF5 files and fingerprinting them.

Root datasets: observations, actions, rewards, next_observations, terminals, timeouts; names with
a slash (`infos/goal`, `infos/qpos`, `infos/qvel`) become datasets in groups. `write_hdf5` writes to
a temporary name and renames, so a cached file is either complete or absent.
"""
from __future__ import annotations

import hashlib
import os

import h5py
import numpy as np


def write_hdf5(path: str, data: dict[str, np.ndarray], attrs: dict | None = None) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with h5py.File(tmp, "w") as f:
    for name, value in data.items():
      f.create_dataset(name, data=np.asarray(value), compression="gzip", compression_opts=1)
    for k, v in (attrs or {}).items():
      f.attrs[k] = v
  os.replace(tmp, path)
  return path


def read_hdf5(path: str) -> dict[str, np.ndarray]:
  """Every dataset of the file by its full name ('infos/goal', ...)."""
  out: dict[str, np.ndarray] = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                 if isinstance(obj, h5py.Dataset) else None)
  return out


def sha256_file(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()
