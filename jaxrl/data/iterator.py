"""An offline dataset on device, sampled inside jit from a PRNG key.

  data = to_device(ds, extras={"rtg": rtg}, infos=("goal",), min_window=1, mesh=mesh)

  @jax.jit
  def train_step(state, data, key):
    batch = sample_transitions(data, key, 256, mesh=mesh)           # {"observations": (256, d), ..}
    chunks = sample_windows(data, key, 256, horizon=16, mesh=mesh)  # (256, 16, ...) + "mask"

Sampling gathers rows from arrays already on device, so a jitted training step draws its batch
without a host round-trip. Work is O(batch x horizon): the index tables are precomputed by
`to_device` -- `episode_stop[t]` (one past the last row of t's episode) and `window_starts` (the
rows a window may start at, those with at least `min_window` steps left in their episode).

Windows: rows start, ..., start + horizon - 1 of one episode. Steps past the episode's last row are
padding, marked False in `mask` (B, H). What padding holds:
  - rewards, terminals, timeouts: always 0 / False (no transition happened);
  - observations, actions, next_observations and extras: with pad="repeat" the episode's last row
    repeated (an action chunk then ends by holding the last action, a state plan by staying put);
    with pad="zero" zeros.

Sharding: `put_on_mesh` (or `to_device(mesh=...)`) replicates the dataset on every device of the
mesh (`NamedSharding(mesh, P())`), or, with `row_axes`, splits its rows over those mesh axes (for a
dataset too large to replicate; the gathers then communicate). With `mesh` given, a sampled batch is
constrained to be split along its batch dimension over the mesh's ("data", "fsdp") axes, so it
arrives in the layout a data-parallel step wants. The values drawn depend only on the key, not on
the mesh (JAX's partitionable threefry), so a sharded run samples what a 1-device run samples.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxrl.data.dataset import OfflineDataset

BATCH_AXES = ("data", "fsdp")
PADS = ("repeat", "zero")
TRANSITION_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals",
                   "timeouts")
_ZERO_PAD_ALWAYS = ("rewards", "terminals", "timeouts")


@flax.struct.dataclass
class DeviceDataset:
  """Per-row arrays (`fields`, D4RL names plus extras) and the index tables, as jax arrays."""

  fields: dict[str, jax.Array]
  episode_stop: jax.Array  # (N,) int32
  window_starts: jax.Array  # (S,) int32

  @property
  def num_rows(self) -> int:
    return int(self.episode_stop.shape[0])


def to_device(ds: OfflineDataset, extras: dict[str, np.ndarray] | None = None,
              infos: Sequence[str] = (), min_window: int = 1, mesh: Mesh | None = None,
              row_axes: Sequence[str] = (), dtype: Any = jnp.float32) -> DeviceDataset:
  """The dataset's transitions (floats as `dtype`), `infos` entries and `extras` on device.

  `extras`: more per-row arrays to sample alongside (e.g. {"rtg": normalised returns-to-go}).
  `min_window`: windows start only at rows with at least this many steps left in the episode
  (1: every row; `horizon`: windows never need padding).
  """
  n = len(ds)
  fields: dict[str, np.ndarray] = {k: getattr(ds, k) for k in TRANSITION_KEYS}
  for name in infos:
    if name not in ds.infos:
      raise KeyError(f"infos entry {name!r} not in the dataset (has {sorted(ds.infos)})")
    fields[name] = ds.infos[name]
  for name, value in (extras or {}).items():
    if len(value) != n:
      raise ValueError(f"extra {name!r} has {len(value)} rows, the dataset {n}")
    fields[name] = value
  fields = {k: np.asarray(v, dtype) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for k, v in fields.items()}
  stop = ds.episode_stop()
  starts = np.flatnonzero(stop - np.arange(n) >= min_window)
  if not len(starts):
    raise ValueError(f"no episode has {min_window} steps; lower min_window")
  if n >= np.iinfo(np.int32).max:
    raise ValueError(f"{n} rows do not fit int32 indices")
  data = DeviceDataset(fields=fields, episode_stop=stop.astype(np.int32),
                       window_starts=starts.astype(np.int32))
  if mesh is not None:
    return put_on_mesh(data, mesh, row_axes)
  return jax.tree.map(jnp.asarray, data)


def put_on_mesh(data: DeviceDataset, mesh: Mesh, row_axes: Sequence[str] = ()) -> DeviceDataset:
  """Replicates `data` over `mesh`, or splits its per-row fields over `row_axes`.

  Row-split fields are zero-padded to a multiple of the split; the padding rows are never
  sampled (the index tables, always replicated, do not point at them).
  """
  replicated = NamedSharding(mesh, P())
  row_axes = tuple(row_axes)
  if not row_axes:
    return jax.tree.map(lambda x: jax.device_put(x, replicated), data)
  unknown = [a for a in row_axes if a not in mesh.axis_names]
  if unknown:
    raise ValueError(f"row_axes {unknown} not in the mesh axes {mesh.axis_names}")
  split = math.prod(mesh.shape[a] for a in row_axes)
  rows = NamedSharding(mesh, P(row_axes))

  def put_rows(x):
    x = np.asarray(x)
    pad = (-len(x)) % split
    if pad:
      x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
    return jax.device_put(x, rows)

  return DeviceDataset(fields={k: put_rows(v) for k, v in data.fields.items()},
                       episode_stop=jax.device_put(data.episode_stop, replicated),
                       window_starts=jax.device_put(data.window_starts, replicated))


def batch_axes(mesh: Mesh) -> tuple[str, ...]:
  return tuple(a for a in BATCH_AXES if a in mesh.axis_names)


def _constrain(batch: dict[str, jax.Array], mesh: Mesh | None, batch_size: int) -> dict:
  if mesh is None:
    return batch
  axes = batch_axes(mesh)
  divisor = math.prod(mesh.shape[a] for a in axes)
  if batch_size % divisor:
    raise ValueError(f"batch size {batch_size} is not divisible by the {divisor} devices on mesh "
                     f"axes {axes}; change the batch size or the mesh")
  sharding = NamedSharding(mesh, P(axes))
  return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), batch)


def sample_indices(data: DeviceDataset, key: jax.Array, batch_size: int) -> jax.Array:
  """(batch_size,) int32 rows drawn uniformly from all rows."""
  return jax.random.randint(key, (batch_size,), 0, data.num_rows, dtype=jnp.int32)


def gather(data: DeviceDataset, rows: jax.Array, keys: Sequence[str] | None = None
           ) -> dict[str, jax.Array]:
  """The fields at `rows` (any shape), e.g. to build a custom sampler."""
  keys = keys or tuple(data.fields)
  return {k: jnp.take(data.fields[k], rows, axis=0, mode="clip") for k in keys}


def sample_transitions(data: DeviceDataset, key: jax.Array, batch_size: int,
                       keys: Sequence[str] | None = None, mesh: Mesh | None = None
                       ) -> dict[str, jax.Array]:
  """`batch_size` transitions drawn uniformly with replacement (every field, or `keys`)."""
  rows = sample_indices(data, key, batch_size)
  return _constrain(gather(data, rows, keys), mesh, batch_size)


def window_rows(data: DeviceDataset, starts: jax.Array, horizon: int
                ) -> tuple[jax.Array, jax.Array]:
  """(rows (B, H) clamped to each episode's last row, mask (B, H): the step is real)."""
  steps = starts[:, None] + jnp.arange(horizon, dtype=jnp.int32)[None, :]
  last = jnp.take(data.episode_stop, starts, mode="clip") - 1
  mask = steps <= last[:, None]
  return jnp.minimum(steps, last[:, None]), mask


def sample_windows(data: DeviceDataset, key: jax.Array, batch_size: int, horizon: int,
                   pad: str = "repeat", keys: Sequence[str] | None = None,
                   mesh: Mesh | None = None) -> dict[str, jax.Array]:
  """`batch_size` windows of `horizon` consecutive steps of one episode (module docstring).

  Starts are drawn uniformly from `data.window_starts`. Returns each field as (B, H, ...) and
  "mask" (B, H) bool, "start" (B,) the first row of each window.
  """
  pick = jax.random.randint(key, (batch_size,), 0, data.window_starts.shape[0], dtype=jnp.int32)
  starts = jnp.take(data.window_starts, pick, mode="clip")
  return windows_at(data, starts, horizon, pad, keys, mesh)


def windows_at(data: DeviceDataset, starts: jax.Array, horizon: int, pad: str = "repeat",
               keys: Sequence[str] | None = None, mesh: Mesh | None = None
               ) -> dict[str, jax.Array]:
  """The windows beginning at rows `starts` (B,) (deterministic; what `sample_windows` draws)."""
  if pad not in PADS:
    raise ValueError(f"pad={pad!r}: choose one of {PADS}")
  rows, mask = window_rows(data, starts, horizon)
  out = gather(data, rows, keys)
  for k, v in out.items():
    if pad == "zero" or k in _ZERO_PAD_ALWAYS:
      m = mask.reshape(mask.shape + (1,) * (v.ndim - 2))
      out[k] = jnp.where(m, v, jnp.zeros((), v.dtype))
  out["mask"] = mask
  out["start"] = starts
  return _constrain(out, mesh, int(starts.shape[0]))


__all__ = ["DeviceDataset", "batch_axes", "gather", "put_on_mesh", "sample_indices",
           "sample_transitions", "sample_windows", "to_device", "window_rows", "windows_at"]
