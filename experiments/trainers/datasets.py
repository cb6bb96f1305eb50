"""Generate one offline dataset (jaxrl.behavior) into the workdir, with a manifest and a table.

Sections: spec from config -> generate (or reuse the cache) -> copy into the workdir -> manifest
and results table. The behaviour SAC (when its run is not cached) trains on the experiments loop
(experiments/trainers/sac.py) with the cache's behaviour directory as its workdir: it checkpoints
every `sac.checkpoint_every` env steps, so a preempted or killed build, rerun, resumes the SAC run
where it stopped and produces the same datasets as an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import shutil

import jax
import ml_collections

from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import check_schedule
from experiments.trainers import sac as sac_trainer
from jaxrl.behavior import datasets as gen


def make_spec(config: ml_collections.ConfigDict) -> gen.DatasetSpec:
  s, d = config.sac, config.dataset
  if d.size < 1 or s.num_env_steps < 1 or s.start_steps > s.num_env_steps:
    raise UserError("dataset.size and sac.num_env_steps must be positive and "
                    "sac.start_steps <= sac.num_env_steps")
  sac = sac_trainer.online_config(s, config.seed)
  check_schedule(s.num_env_steps, s.train_every, log_every=s.log_every,
                 checkpoint_every=s.checkpoint_every)
  spec = gen.DatasetSpec(env=config.env, level=config.level, size=d.size, num_envs=d.num_envs,
                         seed=config.seed, deterministic=d.deterministic,
                         medium_fraction=d.medium_fraction, sac=sac,
                         sac_config=sac_trainer.agent_config(s), maze_kp=config.maze.kp,
                         maze_kd=config.maze.kd, maze_action_noise=config.maze.action_noise)
  try:
    spec.validate()
  except ValueError as e:
    raise UserError(f"{e} (config.env / config.level)") from None
  return spec


def generate(spec: gen.DatasetSpec, data_dir: str | None = None, log_every: int = 1000,
             checkpoint_every: int = 20_000, keep_checkpoints: int = 2) -> tuple[str, dict]:
  """jaxrl.behavior.generate with the behaviour SAC on the loop (resumable; module docstring)."""
  runner = sac_trainer.behavior_runner(log_every, checkpoint_every, keep_checkpoints)
  return gen.generate(spec, data_dir, runner=runner)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  spec = make_spec(config)
  s = config.sac
  cached, manifest = generate(spec, config.data_dir or None, s.log_every, s.checkpoint_every,
                              s.keep_checkpoints)
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
