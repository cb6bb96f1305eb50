"""Offline dataset generation in the D4RL recipe, cached under a data directory.

Levels (locomotion: hopper, halfcheetah, walker2d):
  random         uniform random actions
  medium         a SAC snapshot whose evaluation return is closest to `medium_fraction` (1/3) of
                 the final (expert) return, actions sampled from its tanh-Gaussian
  medium-replay  the SAC replay buffer up to that snapshot, as contiguous episodes
  expert         the final SAC policy
  medium-expert  the medium dataset followed by the expert dataset (2 x size)
and `maze2d` for pointmaze-{umaze,medium,large}: the BFS waypoint controller (behavior.maze).

One SAC run per (env, SAC settings) serves every level: its evaluated actor snapshots, their
returns and its replay buffer are saved under DATA_DIR/behavior/<env>/sac-<hash>/ (the layout of
jaxrl.agents.sac.snapshots; snapshots.json, written last, marks it complete), and each dataset
under DATA_DIR/datasets/<env>-<level>-<hash>/ (dataset.hdf5 + manifest.json), where the hash
covers every setting that changes the content. DATA_DIR is `$JAXRL_DATA_DIR`, default
~/.cache/jaxresearch/data. A later call with the same settings reuses what is there.

The SAC run itself is the `runner` argument's job: by default `jaxrl.agents.sac.train.run`, in
one go; experiments/trainers/datasets.py passes a runner on the experiments loop that
checkpoints into the behaviour directory, so an interrupted build resumes its SAC run. Both
compute the same bits.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Any, Callable

import jax
import numpy as np

from jaxrl import envs
from jaxrl.agents.sac import snapshots
from jaxrl.agents.sac import train as sac_train
from jaxrl.agents.sac.networks import make_networks, scaled_policy, stepper
from jaxrl.agents.sac.train import SACConfig, SACTrainConfig
from jaxrl.behavior import maze, rollout
from jaxrl.data import io
from jaxrl.evaluation import normalized_score

LOCOMOTION_LEVELS = ("random", "medium", "medium-replay", "expert", "medium-expert")
MAZE_LEVEL = "maze2d"


def data_dir(override: str = "") -> str:
  return os.path.expanduser(override or os.environ.get("JAXRL_DATA_DIR")
                            or "~/.cache/jaxresearch/data")


def _hash(obj: Any) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  env: str
  level: str
  size: int                      # transitions (medium-expert: per half; medium-replay: ignored)
  num_envs: int = 8              # parallel environments while rolling out a behaviour policy
  seed: int = 0
  deterministic: bool = False    # SAC levels: tanh(mean) instead of sampled actions
  medium_fraction: float = 1 / 3
  sac: SACTrainConfig = SACTrainConfig()
  sac_config: SACConfig = SACConfig()
  maze_kp: float = 10.0
  maze_kd: float = 1.0
  maze_action_noise: float = 0.0

  def validate(self) -> None:
    if self.env.startswith("pointmaze-"):
      if self.level != MAZE_LEVEL:
        raise ValueError(f"level {self.level!r} for {self.env}: mazes have level '{MAZE_LEVEL}'")
    elif self.level not in LOCOMOTION_LEVELS:
      raise ValueError(f"unknown level {self.level!r}; valid: {', '.join(LOCOMOTION_LEVELS)}")
    envs.make_task(self.env)

  def key(self) -> dict:
    d = dataclasses.asdict(self)
    if self.level in ("random", MAZE_LEVEL):
      d.pop("sac"), d.pop("sac_config"), d.pop("medium_fraction")
    return d


# ------------------------------------------------------------------ SAC behaviour policies
# runner(env_name, SACTrainConfig, SACConfig, directory, log): trains SAC and leaves a complete
# jaxrl.agents.sac.snapshots directory. Default: sac_train.run (no checkpoints);
# experiments/trainers/datasets.py passes one on the experiments loop (resumable).
Runner = Callable[[str, SACTrainConfig, SACConfig, str, Callable[[str], None]], Any]


class BehaviorPolicies:
  """A cached SAC run: snapshots (env step, eval return, actor params) and its replay buffer."""

  def __init__(self, spec: DatasetSpec, root: str, log: Callable[[str], None] = print,
               runner: Runner | None = None):
    self.spec = spec
    self.dir = os.path.join(root, "behavior", spec.env, "sac-" + _hash(
        {"train": dataclasses.asdict(spec.sac), "config": dataclasses.asdict(spec.sac_config)}))
    task = envs.make_task(spec.env)
    self.low, self.high = task.action_low, task.action_high
    self.nets = make_networks(task.observation_size, task.action_size, spec.sac_config.hidden)
    if not snapshots.is_complete(self.dir):
      (runner or sac_train.run)(spec.env, spec.sac, spec.sac_config, self.dir, log)
    else:
      log(f"[datasets] reusing SAC behaviour policies in {self.dir}")
    self.snapshots = snapshots.records(self.dir)

  def pick(self, level: str) -> dict:
    """The expert (final) snapshot, or the medium one (return closest to fraction * expert)."""
    expert = self.snapshots[-1]
    if level == "expert":
      return expert
    candidates = self.snapshots[:-1] or self.snapshots
    target = self.spec.medium_fraction * expert["return"]
    return min(candidates, key=lambda s: abs(s["return"] - target))

  def actor(self, snapshot: dict) -> Any:
    return snapshots.load_actor(self.dir, snapshot["env_steps"], self.nets.abstract_actor())

  def replay(self, env_steps: int) -> dict[str, np.ndarray]:
    return snapshots.replay(self.dir, env_steps * self.spec.sac.num_envs)


# ------------------------------------------------------------------ datasets
def _rollout_sac(spec: DatasetSpec, policies: BehaviorPolicies, snapshot: dict) -> dict:
  params = policies.actor(snapshot)
  policy = stepper(scaled_policy(policies.nets, policies.low, policies.high, spec.deterministic))
  key = [jax.random.PRNGKey(spec.seed + 7)]

  def act(obs):
    action, key[0] = policy(params, obs.astype(np.float32), key[0])
    return np.asarray(action)

  return rollout.collect(spec.env, act, spec.size, spec.num_envs, spec.seed)


def _build(spec: DatasetSpec, root: str, log, runner: Runner | None) -> tuple[dict, dict]:
  """(data, manifest extras) for one spec."""
  if spec.level == MAZE_LEVEL:
    data = maze.collect_maze(spec.env, spec.size, spec.num_envs, spec.seed, spec.maze_kp,
                             spec.maze_kd, action_noise=spec.maze_action_noise)
    return data, {"goals_reached": maze.goals_reached(data)}
  if spec.level == "random":
    rng = np.random.default_rng(spec.seed)
    task = envs.make_task(spec.env)
    lo, hi = task.action_low, task.action_high
    act = lambda obs: rng.uniform(lo, hi, size=(len(obs), len(lo)))  # noqa: E731
    return rollout.collect(spec.env, act, spec.size, spec.num_envs, spec.seed), {}
  if spec.level == "medium-expert":
    parts = [generate(dataclasses.replace(spec, level=lv), root, log, runner)[0] for lv in
             ("medium", "expert")]
    halves = [io.read_hdf5(p).arrays() for p in parts]
    data = {k: np.concatenate([h[k] for h in halves]) for k in halves[0]}
    return data, {"parts": parts}
  policies = BehaviorPolicies(spec, root, log, runner)
  snap = policies.pick(spec.level)
  extras = {"policy_return": snap["return"], "policy_return_stderr": snap["return_stderr"],
            "policy_env_steps": snap["env_steps"], "behavior_dir": policies.dir,
            "expert_return": policies.snapshots[-1]["return"]}
  if spec.level == "medium-replay":
    data = rollout.as_d4rl(rollout.contiguous(policies.replay(snap["env_steps"])))
  else:
    data = _rollout_sac(spec, policies, snap)
  return data, extras


def generate(spec: DatasetSpec, root: str | None = None, log: Callable[[str], None] = print,
             runner: Runner | None = None) -> tuple[str, dict]:
  """(path of dataset.hdf5, manifest) for `spec`, generated or reused from the cache.

  `runner` trains the behaviour SAC when its run is not cached (see `Runner`)."""
  spec.validate()
  root = data_dir(root or "")
  out_dir = os.path.join(root, "datasets", f"{spec.env}-{spec.level}-{_hash(spec.key())}")
  path, manifest_path = os.path.join(out_dir, "dataset.hdf5"), os.path.join(out_dir,
                                                                           "manifest.json")
  if os.path.exists(manifest_path) and os.path.exists(path):
    with open(manifest_path) as f:
      manifest = json.load(f)
    if manifest.get("sha256") == io.sha256_file(path):
      log(f"[datasets] reusing {path}")
      return path, manifest
  t0 = time.perf_counter()
  data, extras = _build(spec, root, log, runner)
  # Validated on the way out (NaNs, lengths, ...), written in the layout the loaders read.
  io.write_hdf5(path, io.from_arrays(data, source=path, env=spec.env, level=spec.level))
  returns = rollout.episode_returns(data)
  ends = data["terminals"] | data["timeouts"]
  complete = returns[:-1] if not ends[-1] else returns
  episode_return = float(np.mean(complete)) if len(complete) else float(np.mean(returns))
  manifest = {"env": spec.env, "level": spec.level, "transitions": int(len(data["rewards"])),
              "episodes": int(np.sum(ends)), "dataset_return": episode_return,
              "policy_return": episode_return, "sha256": io.sha256_file(path),
              "spec": spec.key(), **extras,
              # wall time of this build, including training the behaviour SAC unless it was cached
              "generation_seconds": round(time.perf_counter() - t0, 1)}
  manifest["normalized_score"] = float(normalized_score(spec.env, manifest["policy_return"]))
  manifest["dataset_normalized_score"] = float(normalized_score(spec.env, episode_return))
  with open(manifest_path + ".tmp", "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True, default=str)
  os.replace(manifest_path + ".tmp", manifest_path)
  return path, manifest
