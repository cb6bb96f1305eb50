"""Device mesh from config, and moving host batches onto it.

The mesh has named axes, by convention ("data", "fsdp", "tensor"). Sizes come from the config;
exactly one axis may be -1, meaning "all the devices that are left". Batches are split over
("data", "fsdp") together, so the same code runs data-parallel or fully-sharded.

The sharding helpers (replicated, batch_sharding, fsdp_sharding, replicated_sharding, rule-based
and train-state shardings) live in `jaxllm.sharding`, where libraries can use them too; they are
re-exported here for trainers.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

from experiments.errors import UserError
from jaxllm.sharding import (BATCH_AXES, batch_axes, batch_sharding, fsdp_sharding, replicated,
                             replicated_sharding, rule_shardings, train_state_shardings)

__all__ = ["BATCH_AXES", "batch_axes", "batch_sharding", "batch_size_divisor", "fsdp_sharding",
           "make_mesh", "put_batch", "replicated", "replicated_sharding", "resolve_axis_sizes",
           "rule_shardings", "train_state_shardings"]


def resolve_axis_sizes(axes: Mapping[str, int], num_devices: int) -> dict[str, int]:
  """Fills the one -1 entry so that the product of sizes equals `num_devices`."""
  sizes = {k: int(v) for k, v in axes.items()}
  fill = [k for k, v in sizes.items() if v == -1]
  if len(fill) > 1:
    raise UserError(f"mesh: at most one axis may be -1, got {sizes}")
  if any(v == 0 or v < -1 for v in sizes.values()):
    raise UserError(f"mesh: axis sizes must be positive or -1, got {sizes}")
  known = math.prod(v for v in sizes.values() if v != -1)
  if fill:
    if num_devices % known:
      raise UserError(f"mesh: {num_devices} devices do not divide into fixed axes {sizes}; "
                      f"pick sizes whose product divides {num_devices}")
    sizes[fill[0]] = num_devices // known
  elif known != num_devices:
    raise UserError(f"mesh: axes {sizes} use {known} devices but {num_devices} are present; "
                    "set one axis to -1 to fill the rest")
  return sizes


def make_mesh(axes: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A mesh with the given named axes over `devices` (default: all devices, all processes)."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = resolve_axis_sizes(axes, len(devices))
  names = tuple(sizes)
  shape = tuple(sizes[n] for n in names)
  types = (AxisType.Auto,) * len(names)
  if len(devices) == jax.device_count():
    # jax.make_mesh orders devices by the physical topology (ICI rings on TPU).
    return jax.make_mesh(shape, names, axis_types=types, devices=devices)
  return Mesh(np.asarray(devices).reshape(shape), names, axis_types=types)


def batch_size_divisor(mesh: Mesh) -> int:
  return math.prod(mesh.shape[a] for a in batch_axes(mesh))


def put_batch(batch: Any, mesh: Mesh, leading: int = 0) -> Any:
  """Puts this process's slice of a batch onto the mesh, split along the batch dim.

  On one host `batch` is the whole batch; on several hosts each process passes its own
  shard (the global batch is the concatenation over processes, in process order).
  """
  sharding = batch_sharding(mesh, leading)
  divisor = batch_size_divisor(mesh)

  def put(x):
    x = np.asarray(x)
    global_b = x.shape[leading] * jax.process_count()
    if global_b % divisor:
      raise UserError(f"batch size {global_b} is not divisible by the {divisor} devices on mesh "
                      f"axes {batch_axes(mesh)}; change the batch size or the mesh")
    if jax.process_count() == 1:
      return jax.device_put(x, sharding)
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(put, batch)
