"""Checks that a dataset is usable, with one-line errors that name the file and the problem.

A `DatasetError` (a ValueError) reads "dataset <source>: <problem>", for example

  dataset /x/d.hdf5: 'rewards' has 999 rows but 'observations' has 1000

Checked: required keys present; every per-row array has as many rows as `observations`; the
shapes (observations / actions / next_observations 2-D, rewards / terminals / timeouts 1-D); no
NaN or Inf in a float array; and, given an environment from `jaxrl.envs.TASKS`, the observation
size, the action size and that actions lie within the env's bounds. For PointMaze, whose
observation is a dict, both D4RL maze2d's vector [qpos, qvel] (the "observation" entry) and the
flat [qpos, qvel, goal] are accepted.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from jaxrl.data.dataset import OfflineDataset

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")
ACTION_TOLERANCE = 1e-5  # float32 rounding of actions clipped to the bounds


class DatasetError(ValueError):
  """A dataset file or array the user supplied is not usable (one line: file and problem)."""


def fail(source: str, problem: str) -> DatasetError:
  """The error for `problem` in dataset `source` (raise it)."""
  where = " ".join(str(source or "<in memory>").split())
  return DatasetError(f"dataset {where}: {' '.join(problem.split())}")


def check_keys(source: str, present: Iterable[str], required: Iterable[str] = REQUIRED_KEYS
               ) -> None:
  present = set(present)
  missing = [k for k in required if k not in present]
  if missing:
    names = ", ".join(repr(k) for k in missing)
    raise fail(source, f"missing {names} (a D4RL-layout file needs "
                       f"{', '.join(REQUIRED_KEYS)} at its root)")


def check_arrays(source: str, arrays: dict[str, np.ndarray]) -> None:
  """Row counts, ranks and finiteness of D4RL-named arrays (`infos/...` included)."""
  check_keys(source, arrays)
  n = len(arrays["observations"])
  if n == 0:
    raise fail(source, "'observations' has no rows")
  for k, v in arrays.items():
    if np.ndim(v) == 0:
      raise fail(source, f"{k!r} is a scalar, expected one row per transition")
    if len(v) != n:
      raise fail(source, f"{k!r} has {len(v)} rows but 'observations' has {n}")
  ranks = {"observations": 2, "actions": 2, "next_observations": 2, "rewards": 1,
           "terminals": 1, "timeouts": 1}
  for k, rank in ranks.items():
    if k in arrays and np.ndim(arrays[k]) != rank:
      raise fail(source, f"{k!r} has shape {np.shape(arrays[k])}, expected {rank}-D")
  if "next_observations" in arrays and arrays["next_observations"].shape[1:] != \
      arrays["observations"].shape[1:]:
    raise fail(source, f"'next_observations' has shape {arrays['next_observations'].shape} but "
                       f"'observations' has {arrays['observations'].shape}")
  for k, v in arrays.items():
    v = np.asarray(v)
    if v.dtype.kind in "fc":
      bad = ~np.isfinite(v)
      if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(v), -1).any(axis=1))[0])
        what = "NaN" if np.isnan(v).any() else "Inf"
        raise fail(source, f"{k!r} contains {int(bad.sum())} non-finite value(s) ({what}), "
                           f"first at row {row}")


def expected_observation_sizes(env: str) -> tuple[int, ...]:
  """Observation vector sizes a dataset for `env` may have (two for PointMaze, module doc)."""
  from jaxrl import envs  # pylint: disable=g-import-not-at-top  (loads MuJoCo models)
  size = envs.make_task(env).observation_size
  if isinstance(size, dict):
    base = size["observation"]
    return (base, base + size.get("desired_goal", 0))
  return (size,)


def check_env(source: str, ds: OfflineDataset, env: str) -> None:
  """Observation / action sizes and action bounds of `ds` against environment `env`."""
  from jaxrl import envs  # pylint: disable=g-import-not-at-top
  if env not in envs.TASKS:
    raise fail(source, f"unknown environment {env!r}; valid choices: {', '.join(envs.TASKS)}")
  task = envs.make_task(env)
  sizes = expected_observation_sizes(env)
  if ds.observation_size not in sizes:
    want = " or ".join(str(s) for s in sizes)
    raise fail(source, f"observations have size {ds.observation_size} but {env} observations "
                       f"have size {want}; is this a dataset for another environment?")
  if ds.action_size != task.action_size:
    raise fail(source, f"actions have size {ds.action_size} but {env} actions have size "
                       f"{task.action_size}; is this a dataset for another environment?")
  low, high = task.action_low, task.action_high
  acts = np.asarray(ds.actions)
  out = (acts < low - ACTION_TOLERANCE) | (acts > high + ACTION_TOLERANCE)
  if out.any():
    rows, cols = np.nonzero(out)
    c = int(cols[0])
    raise fail(source, f"{int(out.any(axis=1).sum())} actions lie outside {env}'s bounds, first "
                       f"at row {int(rows[0])}: column {c} is {float(acts[rows[0], c]):.4g}, "
                       f"bounds [{float(low[c]):.4g}, {float(high[c]):.4g}]; clip the actions, "
                       "or load with check=False to keep them")


def validate(ds: OfflineDataset, env: str | None = None) -> OfflineDataset:
  """Raises DatasetError on the first problem; returns `ds` unchanged when it is fine.

  `env` defaults to `ds.env` when that is a known environment name; with neither, the
  environment checks are skipped.
  """
  from jaxrl import envs  # pylint: disable=g-import-not-at-top
  check_arrays(ds.source, ds.arrays())
  env = env or (ds.env if ds.env in envs.TASKS else None)
  if env:
    check_env(ds.source, ds, env)
  return ds
