"""Collecting D4RL-layout transitions from a behaviour policy on the native backend.

`collect` steps `num_envs` environments in parallel with `act(obs) -> actions` until the batch
holds at least `num_transitions`, then `contiguous` reorders the interleaved stream so each
environment's episodes are contiguous (D4RL datasets are a concatenation of whole episodes) and
cuts it to `num_transitions`. An episode that the end of collection cuts off gets timeouts=True on
its last transition, as D4RL marks its final partial trajectory; terminals mark true termination.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from jaxrl import envs

LOCOMOTION_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals",
                   "timeouts")


def contiguous(stream: dict[str, np.ndarray], num_transitions: int | None = None
               ) -> dict[str, np.ndarray]:
  """Reorders a stream with `env_ids` into per-environment runs (stable), cut to length.

  Keys other than `env_ids` are kept (nested `infos/...` names included); the last transition of
  every run that is neither terminal nor timeout becomes a timeout.
  """
  order = np.argsort(stream["env_ids"], kind="stable")
  if num_transitions is not None:
    order = order[:num_transitions]
  out = {k: np.asarray(v)[order] for k, v in stream.items() if k != "env_ids"}
  ids = np.asarray(stream["env_ids"])[order]
  last = np.ones(len(ids), bool)
  last[:-1] = ids[1:] != ids[:-1]
  out["timeouts"] = out["timeouts"] | (last & ~out["terminals"])
  return out


def collect(env_name: str, act: Callable[[np.ndarray], np.ndarray], num_transitions: int,
            num_envs: int = 8, seed: int = 0, **env_kwargs: Any) -> dict[str, np.ndarray]:
  """`num_transitions` transitions of `act` on `env_name` (flat observations), D4RL keys."""
  env = envs.make(env_name, backend="native", num_envs=num_envs, seed=seed, **env_kwargs)
  steps = -(-num_transitions // num_envs)
  obs, _ = env.reset(seed=seed)
  rows: dict[str, list[np.ndarray]] = {k: [] for k in LOCOMOTION_KEYS + ("env_ids",)}
  for _ in range(steps):
    action = np.asarray(act(obs), np.float64)
    next_obs, reward, terminated, truncated, info = env.step(action)
    for k, v in (("observations", obs), ("actions", action), ("rewards", reward),
                 ("next_observations", info["final_obs"]), ("terminals", terminated),
                 ("timeouts", truncated), ("env_ids", np.arange(num_envs))):
      rows[k].append(v)
    obs = next_obs
  env.close()
  stream = {k: np.concatenate(v) for k, v in rows.items()}
  return as_d4rl(contiguous(stream, num_transitions))


def as_d4rl(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """float32 arrays and bool flags, as D4RL stores them."""
  return {k: (np.asarray(v, bool) if k in ("terminals", "timeouts")
              else np.asarray(v, np.float32)) for k, v in data.items()}


def episode_returns(data: dict[str, np.ndarray]) -> np.ndarray:
  """Undiscounted return of every complete or cut episode (ends at terminals | timeouts)."""
  ends = np.flatnonzero(data["terminals"] | data["timeouts"])
  if len(ends) == 0 or ends[-1] != len(data["rewards"]) - 1:
    ends = np.append(ends, len(data["rewards"]) - 1)
  sums = np.cumsum(np.asarray(data["rewards"], np.float64))[ends]
  return np.diff(np.concatenate([[0.0], sums]))
