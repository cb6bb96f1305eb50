"""Generate one offline dataset (jaxrl.behavior) into the workdir, with a manifest and a table.

Sections: spec from config -> generate (or reuse the cache) -> copy into the workdir -> manifest
and results table. Nothing here goes through the training loop: SAC's online loop (jaxrl.agents)
steps host environments and is run, and cached, by jaxrl.behavior.generate.
"""
from __future__ import annotations

import json
import os
import shutil

import jax
import ml_collections

from experiments.errors import UserError
from experiments.results import write_results
from jaxrl.agents.sac import SACConfig
from jaxrl.agents.sac_train import SACTrainConfig
from jaxrl.behavior import datasets as gen


def make_spec(config: ml_collections.ConfigDict) -> gen.DatasetSpec:
  s, d = config.sac, config.dataset
  sac = SACTrainConfig(num_env_steps=s.num_env_steps, start_steps=s.start_steps,
                       num_envs=s.num_envs, updates_per_step=s.updates_per_step,
                       train_every=s.train_every, snapshot_every=s.snapshot_every,
                       eval_episodes=s.eval_episodes, seed=config.seed)
  sac_config = SACConfig(hidden=(s.hidden_dim,) * s.num_layers, actor_lr=s.lr, critic_lr=s.lr,
                         alpha_lr=s.lr, gamma=s.gamma, tau=s.tau, batch_size=s.batch_size)
  spec = gen.DatasetSpec(env=config.env, level=config.level, size=d.size, num_envs=d.num_envs,
                         seed=config.seed, deterministic=d.deterministic,
                         medium_fraction=d.medium_fraction, sac=sac, sac_config=sac_config,
                         maze_kp=config.maze.kp, maze_kd=config.maze.kd,
                         maze_action_noise=config.maze.action_noise)
  try:
    spec.validate()
  except ValueError as e:
    raise UserError(f"{e} (config.env / config.level)") from None
  if d.size < 1 or s.num_env_steps < 1 or s.start_steps > s.num_env_steps:
    raise UserError("dataset.size and sac.num_env_steps must be positive and "
                    "sac.start_steps <= sac.num_env_steps")
  return spec


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  spec = make_spec(config)
  cached, manifest = gen.generate(spec, config.data_dir or None)
  out = {"path": os.path.join(workdir, "dataset.hdf5"), **manifest}
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    shutil.copyfile(cached, out["path"])
    out["cache"] = cached
    with open(os.path.join(workdir, "manifest.json"), "w") as f:
      json.dump({k: v for k, v in out.items() if k != "path"}, f, indent=1, sort_keys=True,
                default=str)
  row = {k: manifest.get(k) for k in ("transitions", "episodes", "policy_return",
                                      "normalized_score", "dataset_return",
                                      "generation_seconds")}
  row["sha256"] = manifest["sha256"][:12]
  write_results(workdir, out, {f"{spec.env}-{spec.level}": row},
                title=f"dataset {spec.env}-{spec.level} -> {out['path']}")
  return out
