"""An offline RL dataset held in host memory: D4RL's flat layout plus episode bookkeeping.

`OfflineDataset` keeps the D4RL arrays, one row per transition, episodes concatenated:

  observations (N, obs_dim) float32     actions (N, act_dim) float32     rewards (N,) float32
  next_observations (N, obs_dim)        terminals (N,) bool              timeouts (N,) bool
  infos: dict name -> (N, ...) array (maze2d: goal, qpos, qvel)

Episode boundaries: row t ends an episode when terminals[t] or timeouts[t], and the last row always
ends one (a collection cut off mid-episode is treated as truncated there). `terminals` means the MDP
really terminated (no future reward); `timeouts` means the episode was cut by a time limit or by the
end of collection, so the state had a future that the data does not contain.

Returns-to-go (Monte-Carlo, what RACTD's reward model regresses to, PAPERS.md section 1):

  G_t = r_t + gamma * G_{t+1} inside an episode,   G_last = r_last.

For an episode ending in a terminal this is the exact discounted return. For one ending in a
timeout (or the file's end) it is the return of the rewards the data holds, i.e. a *truncated*
return that underestimates the value of the late states: a TD method would bootstrap from a
critic at the cut, but a Monte-Carlo target has nothing to bootstrap from, so the truncation is kept
as it is (whether RACTD's code does anything else is not confirmed). `truncated_rows()` marks the
rows whose episode was cut, so a caller can weight or drop them.

Normalisation (`Normalizer`): y = (x - shift) / scale with
  "minmax":   shift = min(x), scale = max(x) - min(x)          -> y in [0, 1]
  "standard": shift = mean(x), scale = std(x)                   -> mean 0, std 1
(scale falls back to 1 when the data is constant). `inverse(y) = y * scale + shift`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

CORE_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")


@dataclasses.dataclass
class OfflineDataset:
  """D4RL-layout transitions (module docstring) with the env name and where they came from."""

  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  terminals: np.ndarray
  timeouts: np.ndarray
  next_observations: np.ndarray
  infos: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  env: str = ""
  level: str = ""
  source: str = ""
  attrs: dict[str, Any] = dataclasses.field(default_factory=dict)

  # ---------------------------------------------------------------- shape
  def __len__(self) -> int:
    return int(self.rewards.shape[0])

  @property
  def observation_size(self) -> int:
    return int(self.observations.shape[-1])

  @property
  def action_size(self) -> int:
    return int(self.actions.shape[-1])

  def arrays(self) -> dict[str, np.ndarray]:
    """Every per-row array by its D4RL name (`infos/...` for infos)."""
    out = {k: getattr(self, k) for k in CORE_KEYS}
    out.update({f"infos/{k}": v for k, v in self.infos.items()})
    return out

  # ---------------------------------------------------------------- episodes
  @property
  def ends(self) -> np.ndarray:
    """(N,) bool: row t is the last of its episode (terminal, timeout, or the last row)."""
    ends = np.asarray(self.terminals, bool) | np.asarray(self.timeouts, bool)
    if len(ends):
      ends = ends.copy()
      ends[-1] = True
    return ends

  def episode_bounds(self) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops): episode e covers rows starts[e] <= t < stops[e]."""
    stops = np.flatnonzero(self.ends) + 1
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return starts, stops.astype(np.int64)

  @property
  def num_episodes(self) -> int:
    return int(self.ends.sum())

  def episode_slices(self) -> list[slice]:
    starts, stops = self.episode_bounds()
    return [slice(int(a), int(b)) for a, b in zip(starts, stops)]

  def episode_lengths(self) -> np.ndarray:
    starts, stops = self.episode_bounds()
    return stops - starts

  def episode_ids(self) -> np.ndarray:
    """(N,) int: the episode index of each row."""
    ends = self.ends
    return np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int64) if len(ends) else ends

  def episode_stop(self) -> np.ndarray:
    """(N,) int: for each row, one past the last row of its episode."""
    _, stops = self.episode_bounds()
    return stops[self.episode_ids()]

  def episode(self, e: int) -> dict[str, np.ndarray]:
    """Episode `e`'s arrays (views), D4RL names."""
    s = self.episode_slices()[e]
    return {k: v[s] for k, v in self.arrays().items()}

  def episode_returns(self) -> np.ndarray:
    """(E,) undiscounted return of each episode (float64)."""
    starts, _ = self.episode_bounds()
    return np.add.reduceat(np.asarray(self.rewards, np.float64), starts) if len(self) else \
        np.zeros(0)

  def truncated_episodes(self) -> np.ndarray:
    """(E,) bool: the episode ends without a terminal (time limit or end of data)."""
    _, stops = self.episode_bounds()
    return ~np.asarray(self.terminals, bool)[stops - 1]

  def truncated_rows(self) -> np.ndarray:
    """(N,) bool: the row belongs to a truncated episode (its returns-to-go are truncated)."""
    return self.truncated_episodes()[self.episode_ids()]

  def discounted_returns_to_go(self, gamma: float) -> np.ndarray:
    """(N,) float64 Monte-Carlo G_t within each episode (module docstring; no bootstrapping).

    Vectorised over episodes: rows are visited by their distance to their episode's last row,
    so the Python loop runs max-episode-length times, not N times.
    """
    n = len(self)
    rewards = np.asarray(self.rewards, np.float64)
    out = np.zeros(n, np.float64)
    if n == 0:
      return out
    from_end = self.episode_stop() - 1 - np.arange(n)
    order = np.argsort(from_end, kind="stable")
    counts = np.bincount(from_end)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for k in range(len(counts)):
      rows = order[offsets[k]:offsets[k + 1]]
      out[rows] = rewards[rows] if k == 0 else rewards[rows] + gamma * out[rows + 1]
    return out

  # ---------------------------------------------------------------- editing
  def select(self, rows: np.ndarray) -> "OfflineDataset":
    """A dataset of the given rows (take whole episodes to keep the boundaries meaningful)."""
    pick = lambda x: np.asarray(x)[rows]  # noqa: E731
    return dataclasses.replace(
        self, **{k: pick(getattr(self, k)) for k in CORE_KEYS},
        infos={k: pick(v) for k, v in self.infos.items()})

  def summary(self) -> str:
    ret = self.episode_returns()
    name = "-".join(x for x in (self.env, self.level) if x) or "dataset"
    return (f"{name}: {len(self)} transitions, {self.num_episodes} episodes "
            f"({int(self.truncated_episodes().sum())} truncated), obs {self.observation_size}, "
            f"act {self.action_size}, return mean {ret.mean():.2f} min {ret.min():.2f} "
            f"max {ret.max():.2f}")


@dataclasses.dataclass(frozen=True)
class Normalizer:
  """y = (x - shift) / scale; see the module docstring for the two kinds."""

  kind: str
  shift: float
  scale: float

  @classmethod
  def fit(cls, x: np.ndarray, kind: str = "minmax") -> "Normalizer":
    x = np.asarray(x, np.float64)
    if kind == "minmax":
      shift, scale = float(x.min()), float(x.max() - x.min())
    elif kind == "standard":
      shift, scale = float(x.mean()), float(x.std())
    else:
      raise ValueError(f"normalizer kind {kind!r}: choose 'minmax' or 'standard'")
    return cls(kind, shift, scale if scale > 0 else 1.0)

  def __call__(self, x):
    return (x - self.shift) / self.scale

  def inverse(self, y):
    return y * self.scale + self.shift


def normalized_returns_to_go(ds: OfflineDataset, gamma: float = 0.99, kind: str = "minmax"
                             ) -> tuple[np.ndarray, Normalizer]:
  """(float32 normalised G_t, the fitted Normalizer): RACTD's reward-model target."""
  rtg = ds.discounted_returns_to_go(gamma)
  norm = Normalizer.fit(rtg, kind)
  return norm(rtg).astype(np.float32), norm
