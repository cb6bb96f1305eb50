"""RACTD's view of an offline dataset: normalisers, returns-to-go, and the on-device batches.

Locomotion (`kind="chunks"`): a sample is the observation o_t (standardised, the FiLM condition)
and the action chunk a_t .. a_{t+H-1} (H = 16) of the same episode, padded past the episode's end
by repeating its last action (`jaxrl.data.sample_windows(pad="repeat")`). Actions stay in the
environment's [-1, 1] (the policy clamps its samples there). The reward model's input is
[standardised o_t, a_t] and its target the min-max normalised discounted Monte-Carlo return-to-go
G_t (gamma 0.99) -- in [0, 1].

Maze2D (`kind="states"`): a sample is a window of H states s = [qpos, qvel] min-max scaled to
[-1, 1] per dimension (Diffuser's limits normaliser), conditioned on [s_0, xy of s_{H-1}]: the
start and, in hindsight, the place the window ends, which at test time is the goal. Windows never
cross an episode end (min_window = H). The reward model reads [state, goal] (both scaled) and
regresses the normalised return-to-go of the dataset's own sparse goal reward.
"""
from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import data as jdata
from jaxrl.data.dataset import OfflineDataset

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Scaler:
  """y = (x - shift) / scale per dimension (arrays), serialisable as JSON."""
  shift: np.ndarray
  scale: np.ndarray

  @classmethod
  def standard(cls, x: np.ndarray) -> "Scaler":
    x = np.asarray(x, np.float64)
    std = x.std(0)
    return cls(x.mean(0).astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32))

  @classmethod
  def limits(cls, x: np.ndarray) -> "Scaler":
    """Maps [min, max] of each dimension onto [-1, 1]."""
    x = np.asarray(x, np.float64)
    lo, hi = x.min(0), x.max(0)
    half = np.where(hi - lo > 1e-6, (hi - lo) / 2, 1.0)
    return cls(((lo + hi) / 2).astype(np.float32), half.astype(np.float32))

  def __call__(self, x):
    return (x - self.shift) / self.scale

  def inverse(self, y):
    return y * self.scale + self.shift

  def to_json(self) -> dict:
    return {"shift": self.shift.tolist(), "scale": self.scale.tolist()}

  @classmethod
  def from_json(cls, d: dict) -> "Scaler":
    return cls(np.asarray(d["shift"], np.float32), np.asarray(d["scale"], np.float32))


@dataclasses.dataclass
class Prepared:
  """What the three trainers need, on device, plus the host-side normalisers."""
  kind: str                       # "chunks" or "states"
  data: jdata.DeviceDataset       # fields: cond_obs, x (chunk channels), rtg, [goal]
  horizon: int
  channels: int                   # action size (chunks) or state size (states)
  cond_dim: int                   # FiLM condition size
  reward_in: int                  # reward model input size
  obs_scaler: Scaler
  rtg_norm: jdata.Normalizer
  goal_dims: int = 0              # states: how many leading state dims are the position

  def scalers_json(self) -> str:
    return json.dumps({"kind": self.kind, "obs": self.obs_scaler.to_json(),
                       "rtg": {"kind": self.rtg_norm.kind, "shift": self.rtg_norm.shift,
                               "scale": self.rtg_norm.scale}}, indent=1)


def prepare(ds: OfflineDataset, kind: str, horizon: int, gamma: float = 0.99,
            mesh=None) -> Prepared:
  """Normalises `ds` and puts it on device (replicated over `mesh` when given)."""
  rtg, rtg_norm = jdata.normalized_returns_to_go(ds, gamma, kind="minmax")
  if kind == "chunks":
    scaler = Scaler.standard(ds.observations)
    extras = {"obs_n": scaler(ds.observations).astype(np.float32), "rtg": rtg}
    dev = jdata.to_device(ds, extras=extras, min_window=1, mesh=mesh)
    return Prepared(kind, dev, horizon, ds.action_size, ds.observation_size,
                    ds.observation_size + ds.action_size, scaler, rtg_norm)
  if kind == "states":
    if "goal" not in ds.infos:
      raise ValueError("a Maze2D dataset needs infos/goal (generate it with "
                       "experiments/configs/datasets.py:maze2d-*)")
    scaler = Scaler.limits(ds.observations)
    goal_dims = ds.infos["goal"].shape[-1]
    goal_scaler = Scaler(scaler.shift[:goal_dims], scaler.scale[:goal_dims])
    extras = {"obs_n": scaler(ds.observations).astype(np.float32), "rtg": rtg,
              "goal_n": goal_scaler(ds.infos["goal"]).astype(np.float32)}
    dev = jdata.to_device(ds, extras=extras, min_window=horizon, mesh=mesh)
    d = ds.observation_size
    return Prepared(kind, dev, horizon, d, d + goal_dims, d + goal_dims, scaler, rtg_norm,
                    goal_dims=goal_dims)
  raise ValueError(f"kind must be 'chunks' or 'states', got {kind!r}")


def diffusion_batch(p: Prepared, data: jdata.DeviceDataset, key: Array, batch_size: int,
                    mesh=None) -> dict[str, Array]:
  """{"x0": [B, H, C] in the model's space, "cond": [B, cond_dim], "obs_n": [B, obs]}.

  `data` is `p.data` as passed into the jitted step (an argument, so it is not baked into the
  compiled program as a constant).
  """
  if p.kind == "chunks":
    w = jdata.sample_windows(data, key, batch_size, p.horizon, pad="repeat",
                             keys=("actions", "obs_n"), mesh=mesh)
    obs = w["obs_n"][:, 0]
    return {"x0": w["actions"], "cond": obs, "obs_n": obs}
  w = jdata.sample_windows(data, key, batch_size, p.horizon, keys=("obs_n",), mesh=mesh)
  states = w["obs_n"]
  cond = jnp.concatenate([states[:, 0], states[:, -1, :p.goal_dims]], axis=-1)
  return {"x0": states, "cond": cond, "obs_n": states[:, 0]}


def reward_batch(p: Prepared, data: jdata.DeviceDataset, key: Array, batch_size: int,
                 mesh=None) -> dict[str, Array]:
  """{"inputs": [B, reward_in], "target": [B]} rows of (obs, act) or (state, goal)."""
  second = "actions" if p.kind == "chunks" else "goal_n"
  b = jdata.sample_transitions(data, key, batch_size, keys=("obs_n", second, "rtg"), mesh=mesh)
  return {"inputs": jnp.concatenate([b["obs_n"], b[second]], axis=-1), "target": b["rtg"]}
