"""Online SAC on the experiments loop, and the resumable behaviour SAC run of dataset generation.

Sections: configs -> the run's pieces (jaxrl.agents.sac.OnlineSAC: envs, buffer, collector) ->
the loop (advance = train_every env steps of collection + their updates; eval = an evaluated
actor snapshot) -> final snapshot (and buffer) -> results.

The loop's step is the env step (per environment): `num_steps` = train.num_env_steps,
`steps_per_call` = train.train_every, `eval_every` = train.snapshot_every. Host state saved with
each checkpoint: the environments mid-episode (exact MuJoCo state), the replay buffer (one
immutable segment file per checkpoint with the rows added since the previous one), the numpy
Generator, current observations and episode returns; the exploration key is in the train state.
A SIGKILLed run rerun with the same command ends with exactly the parameters, buffer and
snapshots of an uninterrupted one. SAC is a host-driven single-device method: the state lives on
the first local device (one process).
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import ml_collections
import numpy as np

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from jaxrl import envs
from jaxrl.agents.sac import snapshots
from jaxrl.agents.sac.train import OnlineSAC, SACConfig, SACTrainConfig
from jaxrl.evaluation import normalized_score


# ------------------------------------------------------------------ configs
def agent_config(s: ml_collections.ConfigDict) -> SACConfig:
  """SACConfig from a config section with hidden_dim, num_layers, lr, batch_size, gamma, tau."""
  return SACConfig(hidden=(s.hidden_dim,) * s.num_layers, actor_lr=s.lr, critic_lr=s.lr,
                   alpha_lr=s.lr, gamma=s.gamma, tau=s.tau, batch_size=s.batch_size,
                   init_alpha=s.get("init_alpha", 1.0))


def online_config(s: ml_collections.ConfigDict, seed: int) -> SACTrainConfig:
  """SACTrainConfig from a config section (num_env_steps, start_steps, ..., eval_episodes)."""
  t = SACTrainConfig(num_env_steps=s.num_env_steps, start_steps=s.start_steps,
                     num_envs=s.num_envs, updates_per_step=s.updates_per_step,
                     train_every=s.train_every, snapshot_every=s.snapshot_every,
                     eval_episodes=s.eval_episodes, seed=seed)
  try:
    t.validate()
  except ValueError as e:
    raise UserError(f"{e} (config.train / config.sac)") from None
  return t


# ------------------------------------------------------------------ the run
PROGRESS = ("train_return", "critic_loss", "actor_loss", "alpha", "entropy", "env_steps_per_s")


def run_online(env_name: str, train: SACTrainConfig, config: SACConfig, workdir: str,
               snapshot_dir: str, *, log_every: int, checkpoint_every: int,
               keep_checkpoints: int = 2, save_buffer: bool = False, name: str = "sac",
               meta: dict | None = None, log: Callable[[str], None] = print,
               async_checkpoint: bool = True) -> tuple[runtime.LoopResult, list[dict]]:
  """Trains (or resumes) in `workdir`; snapshots (and, if asked, replay.npz) in `snapshot_dir`.

  Returns the loop's result and the snapshot records (snapshots.json, written last).
  """
  mesh = runtime.make_mesh({"data": 1}, devices=jax.local_devices()[:1])
  online = OnlineSAC(env_name, train, config, state_sharding=runtime.replicated(mesh))
  sharding = runtime.replicated_sharding(jax.eval_shape(online.init_state), mesh)

  def snapshot(state, step):
    return online.snapshot(state, step, snapshot_dir, log)

  try:
    result = runtime.train(
        workdir=workdir, mesh=mesh, init_fn=online.init_state, advance=online.advance,
        state_sharding=sharding, num_steps=train.num_env_steps,
        steps_per_call=train.train_every, host=online.host, log_every=log_every,
        checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
        eval_fn=snapshot if train.snapshot_every else None, eval_every=train.snapshot_every,
        progress_keys=PROGRESS, name=name, meta=meta, async_checkpoint=async_checkpoint)
    final = train.num_env_steps
    if not os.path.exists(os.path.join(snapshot_dir, f"snapshot_{final}.json")):
      snapshot(result.state, final)
    records = snapshots.finish(snapshot_dir, train.snapshot_steps(),
                               online.buffer if save_buffer else None)
  finally:
    online.close()
  return result, records


def behavior_runner(log_every: int, checkpoint_every: int, keep_checkpoints: int = 2) -> Callable:
  """A jaxrl.behavior SAC runner on the loop: the behaviour directory is the run's workdir, so a
  preempted dataset build resumes its SAC run instead of starting over."""

  def runner(env_name: str, train: SACTrainConfig, config: SACConfig, directory: str,
             log: Callable[[str], None]) -> None:
    run_online(env_name, train, config, directory, directory, log_every=log_every,
               checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
               save_buffer=True, name="behavior_sac", log=log)

  return runner


# ------------------------------------------------------------------ main
def check(config: ml_collections.ConfigDict) -> tuple[SACTrainConfig, SACConfig]:
  """UserError for a bad setting, before any work; the library configs otherwise."""
  t = config.train
  train, agent = online_config(t, config.seed), agent_config(config.sac)
  for name in ("log_every", "checkpoint_every"):
    if t[name] < 1 or t[name] % t.train_every:
      raise UserError(f"train.{name}={t[name]} must be a positive multiple of "
                      f"train.train_every={t.train_every}")
  try:
    task = envs.make_task(config.env)
  except ValueError as e:
    raise UserError(f"{e} (config.env)") from None
  if not isinstance(task.observation_size, int):
    raise UserError(f"config.env={config.env!r} has dict observations; SAC here takes flat "
                    "ones: hopper, halfcheetah or walker2d")
  return train, agent


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  train, agent = check(config)
  snapshot_dir = os.path.join(workdir, "snapshots")
  result, records = run_online(
      config.env, train, agent, workdir, snapshot_dir, log_every=t.log_every,
      checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints,
      meta={"config": config.to_dict()})
  final, best = records[-1], max(records, key=lambda r: r["return"])
  score = float(normalized_score(config.env, final["return"]))
  out = {"env": config.env, "env_steps": train.num_env_steps, "final_return": final["return"],
         "final_return_stderr": final["return_stderr"], "normalized_score": score,
         "best_return": best["return"], "best_env_steps": best["env_steps"],
         "env_steps_per_s": result.steps_per_second * train.num_envs,
         "snapshots": records, "snapshot_dir": snapshot_dir}
  rows = {str(r["env_steps"]): {"return": r["return"], "stderr": r["return_stderr"]}
          for r in records}
  write_results(workdir, out, rows, title=f"sac {config.env}: eval return per env step "
                f"(final {final['return']:.1f}, {np.nan_to_num(out['env_steps_per_s']):.0f} "
                "env steps/s)")
  return out
