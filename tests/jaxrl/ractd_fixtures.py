"""Small RACTD pieces shared by the RACTD tests: a synthetic hopper-shaped dataset and tiny nets."""
from __future__ import annotations

import numpy as np

from jaxdiff import edm, toy
from jaxrl import data as jdata
from jaxrl.ractd import data as rdata
from jaxrl.ractd import networks

OBS, ACT = 11, 3
TINY = dict(down_dims=(16, 32), kernel_size=3, emb_dim=16, cond_embed_dim=32, dropout_rate=0.2)
ECFG = edm.EDMConfig(num_bins=10)


def synthetic_dataset(episodes: int = 12, length: int = 40, seed: int = 0,
                      obs: int = OBS, act: int = ACT) -> jdata.OfflineDataset:
  """Episodes whose reward depends on obs and action, some ending in a terminal, some timeouts."""
  rng = np.random.default_rng(seed)
  n = episodes * length
  o = rng.normal(size=(n, obs)).astype(np.float32)
  a = np.clip(rng.normal(size=(n, act)) * 0.5, -1, 1).astype(np.float32)
  r = (o[:, 0] + a[:, 0]).astype(np.float32)
  ends = (np.arange(n) % length) == length - 1
  terminals = ends & (np.arange(n) // length % 2 == 0)
  return jdata.from_arrays({"observations": o, "actions": a, "rewards": r,
                            "terminals": terminals, "timeouts": ends & ~terminals},
                           env="hopper", level="synthetic")


def tiny_nets(prep: rdata.Prepared, seed: int = 0):
  teacher = networks.FunctionalNet(networks.chunk_unet(
      prep.channels, prep.cond_dim, student=False, seed=seed, **TINY))
  student = networks.FunctionalNet(networks.chunk_unet(
      prep.channels, prep.cond_dim, student=True, seed=seed + 1, **TINY))
  import flax.nnx as nnx  # pylint: disable=g-import-not-at-top
  reward = networks.FunctionalNet(networks.RewardMLP(prep.reward_in, (8, 16, 32),
                                                     rngs=nnx.Rngs(seed + 2)))
  return teacher, student, reward


# A chunk distribution known exactly: every episode holds one mode (-MODE, +MODE alternately) and
# each action is its mode + N(0, STD^2); observations are noise. A chunk sampled anywhere then
# starts with an action distributed as the 1-D mixture `bimodal_first_action()`.
MODE, STD = 0.5, 0.1


def bimodal_dataset(episodes: int = 40, length: int = 25, seed: int = 0) -> jdata.OfflineDataset:
  rng = np.random.default_rng(seed)
  n = episodes * length
  mode = np.where(np.arange(n) // length % 2 == 0, -MODE, MODE)
  ends = (np.arange(n) % length) == length - 1
  return jdata.from_arrays({
      "observations": rng.normal(size=(n, 2)).astype(np.float32),
      "actions": (mode + STD * rng.normal(size=n)).astype(np.float32)[:, None],
      "rewards": np.zeros(n, np.float32), "terminals": np.zeros(n, bool), "timeouts": ends},
      env="hopper", level="bimodal")


def bimodal_first_action() -> toy.GaussianMixture:
  return toy.GaussianMixture(np.array([0.5, 0.5], np.float32),
                             np.array([[-MODE], [MODE]], np.float32),
                             np.full((2, 1, 1), STD ** 2, np.float32))
