"""Device mesh from config, and moving host batches onto it.

The mesh has named axes, by convention ("data", "fsdp", "tensor"). Sizes come from the config;
exactly one axis may be -1, meaning "all the devices that are left". Batches are split over
("data", "fsdp") together, so the same code runs data-parallel or fully-sharded.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from experiments.errors import UserError

BATCH_AXES = ("data", "fsdp")


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


def batch_axes(mesh: Mesh) -> tuple[str, ...]:
  return tuple(a for a in BATCH_AXES if a in mesh.axis_names)


def batch_size_divisor(mesh: Mesh) -> int:
  return math.prod(mesh.shape[a] for a in batch_axes(mesh))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, leading: int = 0) -> NamedSharding:
  """Sharding for arrays whose dim `leading` is the batch (earlier dims, e.g. a scan axis, unsplit)."""
  return NamedSharding(mesh, P(*([None] * leading), batch_axes(mesh)))


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


def fsdp_sharding(tree: Any, mesh: Mesh, axis: str = "fsdp", min_size: int = 2**14) -> Any:
  """Shards each large array along its largest dim divisible by the `axis` size; the rest replicate.

  A simple, model-agnostic FSDP rule (models with logical axis annotations use their own rules).
  """
  n = mesh.shape.get(axis, 1)

  def spec(x):
    shape = getattr(x, "shape", ())
    if n == 1 or math.prod(shape) < min_size:
      return NamedSharding(mesh, P())
    for d in sorted(range(len(shape)), key=lambda i: -shape[i]):
      if shape[d] % n == 0:
        return NamedSharding(mesh, P(*([None] * d), axis))
    return NamedSharding(mesh, P())

  return jax.tree.map(spec, tree)


def replicated_sharding(tree: Any, mesh: Mesh) -> Any:
  return jax.tree.map(lambda _: NamedSharding(mesh, P()), tree)

