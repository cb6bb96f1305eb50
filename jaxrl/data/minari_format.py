"""Reading Minari datasets into an OfflineDataset, with or without the `minari` package.

Minari (Farama's successor to D4RL) keeps a dataset `<id>` under `$MINARI_DATASETS_PATH/<id>/`
(default root ~/.minari/datasets; ids look like "mujoco/hopper/medium-v0"), with
`data/metadata.json` (env_spec, data_format, ...) and, for the HDF5 format, `data/main_data.hdf5`
holding one group per episode:

  episode_<i>/observations   (T+1, d)  -- or a group of such datasets for a Dict space
  episode_<i>/actions        (T, a)    rewards, terminations, truncations (T,)
  episode_<i>/infos          a group of (T+1, ...) or (T, ...) datasets (possibly nested)

The observation list holds the reset observation and every step's, so a T-step episode gives T
transitions with observations = obs[:-1] and next_observations = obs[1:]. Conversion choices:
  - Dict observations (PointMaze): the `observation_key` entry ("observation": [qpos, qvel], as D4RL
    maze2d) is the observation; `desired_goal` becomes infos["goal"].
  - infos with T+1 rows are cut to the first T (row t then describes observation t, as D4RL's
    infos/qpos does); infos with T rows are kept; anything else (strings, other lengths) is skipped.
  - An episode whose last step is neither terminated nor truncated (collection stopped) is marked
    as a timeout there, so episodes stay separate once concatenated.

When `minari` is installed and `source` is a dataset id, `minari.load_dataset(id)` reads it (any
of its storage formats); otherwise the HDF5 file is read directly with h5py.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable

import h5py
import numpy as np

from jaxrl.data import io
from jaxrl.data import validate as validation
from jaxrl.data.dataset import OfflineDataset
from jaxrl.data.validate import fail

MAIN_FILE = "main_data.hdf5"
# Gymnasium ids -> ours (PointMaze_UMaze-v3 and PointMaze_UMazeDense-v3 both map to the maze)
_GYM_TO_OURS = (("Hopper", "hopper"), ("HalfCheetah", "halfcheetah"), ("Walker2d", "walker2d"),
                ("PointMaze_UMaze", "pointmaze-umaze"), ("PointMaze_Medium", "pointmaze-medium"),
                ("PointMaze_Large", "pointmaze-large"))


def datasets_root() -> str:
  return os.environ.get("MINARI_DATASETS_PATH") or os.path.join(
      os.path.expanduser("~"), ".minari", "datasets")


def env_from_ids(*ids: str) -> str:
  """Our env name from a Gymnasium env id or a Minari dataset id ("" when none matches)."""
  for s in ids:
    if not s:
      continue
    for gym_name, ours in _GYM_TO_OURS:
      if s.startswith(gym_name):
        return ours
    parts = [p.lower() for p in re.split(r"[/_-]", s)]
    for ours in ("hopper", "halfcheetah", "walker2d"):
      if ours in parts:
        return ours
    if "pointmaze" in parts:
      for size in ("umaze", "medium", "large"):
        if size in parts:
          return f"pointmaze-{size}"
  return ""


def resolve(source: str) -> tuple[str, str]:
  """(main_data.hdf5 path, or "" when there is none; the dataset's directory) for `source`.

  `source` is a main_data.hdf5 path, a dataset directory (or its data/ folder), or a dataset id
  under `datasets_root()`.
  """
  if os.path.isfile(source):
    return source, os.path.dirname(os.path.dirname(os.path.abspath(source)))
  candidates = (source, os.path.join(datasets_root(), source))
  for d in candidates:
    if os.path.isfile(os.path.join(d, "data", MAIN_FILE)):
      return os.path.join(d, "data", MAIN_FILE), d
    if os.path.isfile(os.path.join(d, MAIN_FILE)):
      return os.path.join(d, MAIN_FILE), os.path.dirname(os.path.abspath(d))
  return "", next((d for d in candidates if os.path.isdir(d)), source)


def _metadata(directory: str) -> dict[str, Any]:
  path = os.path.join(directory, "data", "metadata.json")
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    meta = json.load(f)
  return meta if isinstance(meta, dict) else {}


def _spec_id(meta: dict[str, Any]) -> str:
  spec = meta.get("env_spec")
  if isinstance(spec, str):
    try:
      spec = json.loads(spec)
    except ValueError:
      return spec
  return str(spec.get("id", "")) if isinstance(spec, dict) else ""


def _read_group(g: h5py.Group | h5py.Dataset) -> Any:
  if isinstance(g, h5py.Dataset):
    return g[()]
  return {k: _read_group(v) for k, v in g.items()}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  out: dict[str, Any] = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}/"))
    else:
      out[f"{prefix}{k}"] = v
  return out


def episode_arrays(source: str, observations: Any, actions: Any, rewards: Any,
                   terminations: Any, truncations: Any, infos: Any = None,
                   observation_key: str = "observation") -> dict[str, np.ndarray]:
  """One Minari episode as D4RL-named arrays (module docstring for the conversion)."""
  infos = dict(infos) if isinstance(infos, dict) else {}
  if isinstance(observations, dict):
    if observation_key not in observations:
      raise fail(source, f"observations are a dict with keys {sorted(observations)}; pass "
                         f"observation_key= one of them")
    if "desired_goal" in observations:
      infos["goal"] = observations["desired_goal"]
    observations = observations[observation_key]
  if isinstance(actions, dict):
    raise fail(source, "actions are a dict space; only Box actions are supported")
  obs = np.asarray(observations)
  obs = obs.reshape(len(obs), -1)
  t = len(rewards)
  if len(obs) != t + 1:
    raise fail(source, f"an episode has {len(obs)} observations for {t} steps (expected {t + 1})")
  out = {"observations": obs[:-1], "next_observations": obs[1:],
         "actions": np.asarray(actions).reshape(t, -1), "rewards": np.asarray(rewards),
         "terminals": np.asarray(terminations, bool),
         "timeouts": np.asarray(truncations, bool).copy()}
  if t and not (out["terminals"][-1] or out["timeouts"][-1]):
    out["timeouts"][-1] = True
  for k, v in _flatten(infos).items():
    v = np.asarray(v)
    if v.ndim == 0 or v.dtype.kind not in "biuf":
      continue
    if len(v) == t + 1:
      out[f"infos/{k}"] = v[:t]
    elif len(v) == t:
      out[f"infos/{k}"] = v
  return out


def _concat(source: str, episodes: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  episodes = [e for e in episodes if len(e["rewards"])]
  if not episodes:
    raise fail(source, "no episodes with steps")
  keys = [k for k in episodes[0] if all(k in e for e in episodes)]
  try:
    return {k: np.concatenate([e[k] for e in episodes]) for k in keys}
  except ValueError as e:
    raise fail(source, f"episodes disagree in shape ({e})") from None


def _read_file(path: str, observation_key: str) -> dict[str, np.ndarray]:
  try:
    f = h5py.File(path, "r")
  except OSError as e:
    raise fail(path, f"not a readable HDF5 file ({e})") from None
  with f:
    names = sorted((k for k in f.keys() if k.startswith("episode_")),
                   key=lambda k: int(k.split("_")[1]) if k.split("_")[1].isdigit() else -1)
    episodes = []
    for name in names:
      g = f[name]
      missing = [k for k in ("observations", "actions", "rewards", "terminations",
                             "truncations") if k not in g]
      if missing:
        raise fail(path, f"{name} is missing {', '.join(repr(k) for k in missing)}")
      infos = _read_group(g["infos"]) if "infos" in g and isinstance(g["infos"], h5py.Group) \
          else None
      episodes.append(episode_arrays(
          path, _read_group(g["observations"]), g["actions"][()], g["rewards"][()],
          g["terminations"][()], g["truncations"][()], infos, observation_key))
  return _concat(path, episodes)


def _read_with_minari(dataset_id: str, observation_key: str) -> tuple[dict, str]:
  import minari  # pylint: disable=g-import-not-at-top
  try:
    data = minari.load_dataset(dataset_id)
  except Exception as e:  # minari raises several types for a missing/corrupt dataset
    raise fail(dataset_id, f"minari could not load it ({type(e).__name__}: {e})") from None
  episodes = [episode_arrays(dataset_id, ep.observations, ep.actions, ep.rewards,
                             ep.terminations, ep.truncations, ep.infos, observation_key)
              for ep in data.iterate_episodes()]
  spec = getattr(data, "env_spec", None) or getattr(getattr(data, "spec", None), "env_spec", None)
  return _concat(dataset_id, episodes), str(getattr(spec, "id", "") or "")


def _has_minari() -> bool:
  try:
    import minari  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    return True
  except ImportError:
    return False


def read_minari(source: str, env: str | None = None, check: bool = True,
                observation_key: str = "observation", use_package: bool = True
                ) -> OfflineDataset:
  """A Minari dataset (id, dataset directory or main_data.hdf5 path) as an OfflineDataset.

  `env` defaults to the environment named by the dataset's env_spec or id, when it is one of ours.
  """
  source = os.fspath(source)
  path, directory = resolve(source)
  meta = _metadata(directory)
  looks_like_path = os.path.exists(source) or source.endswith(".hdf5")
  if use_package and not looks_like_path and _has_minari():
    arrays, spec_id = _read_with_minari(source, observation_key)
    where = source
  elif path:
    arrays, spec_id, where = _read_file(path, observation_key), _spec_id(meta), path
  else:
    fmt = meta.get("data_format")
    if fmt and fmt != "hdf5":
      raise fail(source, f"is in Minari's {fmt!r} format; install minari "
                         "(pip install minari) to read it")
    raise fail(source, f"no Minari dataset here (looked for {MAIN_FILE} in it, in its data/ "
                       f"folder and under MINARI_DATASETS_PATH={datasets_root()})")
  dataset_id = str(meta.get("dataset_id", "")) or (source if not looks_like_path else "")
  level = dataset_id.rsplit("/", 1)[-1] if dataset_id else ""
  ds = io.from_arrays(arrays, source=where, env=env_from_ids(spec_id, dataset_id), level=level,
                      attrs={"format": "minari", "dataset_id": dataset_id, "env_spec_id": spec_id})
  return validation.validate(ds, env) if check else ds


__all__ = ["datasets_root", "env_from_ids", "episode_arrays", "read_minari", "resolve"]
