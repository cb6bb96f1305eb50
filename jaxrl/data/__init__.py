"""Offline RL datasets: D4RL-layout HDF5 and Minari files in, an in-memory dataset, a jit sampler.

  ds = jaxrl.data.load("/path/hopper-medium.hdf5", env="hopper")   # validated, DatasetError if not
  rtg, norm = jaxrl.data.normalized_returns_to_go(ds, gamma=0.99, kind="minmax")
  data = jaxrl.data.to_device(ds, extras={"rtg": rtg}, mesh=mesh)
  batch = jaxrl.data.sample_windows(data, key, 256, horizon=16, mesh=mesh)   # inside jit

Modules: dataset (OfflineDataset, returns-to-go, Normalizer), io (D4RL-layout HDF5 read/write,
sha256), minari_format (Minari datasets), validate (DatasetError and the checks), iterator
(on-device sampling of transitions and windows).
"""
from jaxrl.data.dataset import Normalizer, OfflineDataset, normalized_returns_to_go
from jaxrl.data.io import derive_next_observations, from_arrays, load, read_hdf5, sha256_file, \
    write_hdf5
from jaxrl.data.iterator import (DeviceDataset, put_on_mesh, sample_transitions, sample_windows,
                                 to_device, windows_at)
from jaxrl.data.minari_format import read_minari
from jaxrl.data.validate import DatasetError, validate

__all__ = ["DatasetError", "DeviceDataset", "Normalizer", "OfflineDataset",
           "derive_next_observations", "from_arrays", "load", "normalized_returns_to_go",
           "put_on_mesh", "read_hdf5", "read_minari", "sample_transitions", "sample_windows",
           "sha256_file", "to_device", "validate", "windows_at", "write_hdf5"]
