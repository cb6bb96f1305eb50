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
returns and its replay buffer are saved under DATA_DIR/behavior/<env>/sac-<hash>/, and each
dataset under DATA_DIR/datasets/<env>-<level>-<hash>/ (dataset.hdf5 + manifest.json), where the
hash covers every setting that changes the content. DATA_DIR is `$JAXRL_DATA_DIR`, default
~/.cache/jaxresearch/data. A later call with the same settings reuses what is there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Any, Callable

import flax.nnx as nnx
import flax.serialization
import jax
import numpy as np

from jaxrl import envs
from jaxrl.agents import sac_train
from jaxrl.agents.sac import SAC, SACConfig
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
  sac: sac_train.SACTrainConfig = sac_train.SACTrainConfig()
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
class BehaviorPolicies:
  """A cached SAC run: snapshots (env step, eval return, actor params) and its replay buffer."""

  def __init__(self, spec: DatasetSpec, root: str, log: Callable[[str], None] = print):
    self.spec = spec
    self.dir = os.path.join(root, "behavior", spec.env, "sac-" + _hash(
        {"train": dataclasses.asdict(spec.sac), "config": dataclasses.asdict(spec.sac_config)}))
    env = envs.make(spec.env, num_envs=1)
    self.low, self.high = env.action_low, env.action_high
    self.agent = SAC(env.observation_size, env.action_size, spec.sac_config)
    env.close()
    if not os.path.exists(os.path.join(self.dir, "snapshots.json")):
      self._train(log)
    else:
      log(f"[datasets] reusing SAC behaviour policies in {self.dir}")
    with open(os.path.join(self.dir, "snapshots.json")) as f:
      self.snapshots = json.load(f)

  def _train(self, log) -> None:
    r = sac_train.train_sac(self.spec.env, self.spec.sac, self.spec.sac_config, log=log)
    os.makedirs(self.dir, exist_ok=True)
    for s in r.snapshots:
      with open(os.path.join(self.dir, f"actor_{s.env_steps}.msgpack"), "wb") as f:
        f.write(flax.serialization.msgpack_serialize(s.actor.to_pure_dict()))
    np.savez(os.path.join(self.dir, "replay.npz"), **r.buffer.data())
    meta = [{"env_steps": s.env_steps, "return": s.mean_return, "return_stderr": s.stderr_return}
            for s in r.snapshots]
    tmp = os.path.join(self.dir, "snapshots.json.tmp")
    with open(tmp, "w") as f:
      json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(self.dir, "snapshots.json"))  # the run is complete

  def pick(self, level: str) -> dict:
    """The expert (final) snapshot, or the medium one (return closest to fraction * expert)."""
    expert = self.snapshots[-1]
    if level == "expert":
      return expert
    candidates = self.snapshots[:-1] or self.snapshots
    target = self.spec.medium_fraction * expert["return"]
    return min(candidates, key=lambda s: abs(s["return"] - target))

  def actor(self, snapshot: dict) -> Any:
    abstract = nnx.state(nnx.eval_shape(lambda: self.agent._actor(nnx.Rngs(0))))
    with open(os.path.join(self.dir, f"actor_{snapshot['env_steps']}.msgpack"), "rb") as f:
      pure = flax.serialization.msgpack_restore(f.read())
    nnx.replace_by_pure_dict(abstract, pure)
    return jax.tree.map(np.asarray, abstract)

  def replay(self, env_steps: int) -> dict[str, np.ndarray]:
    with np.load(os.path.join(self.dir, "replay.npz")) as z:
      stop = env_steps * self.spec.sac.num_envs
      return {k: z[k][:stop] for k in z.files}


# ------------------------------------------------------------------ datasets
def _rollout_sac(spec: DatasetSpec, policies: BehaviorPolicies, snapshot: dict) -> dict:
  params = policies.actor(snapshot)
  policy = jax.jit(sac_train.scaled_policy(policies.agent, policies.low, policies.high,
                                           spec.deterministic))
  key = [jax.random.PRNGKey(spec.seed + 7)]

  def act(obs):
    key[0], sub = jax.random.split(key[0])
    return np.asarray(policy(params, obs.astype(np.float32), sub))

  return rollout.collect(spec.env, act, spec.size, spec.num_envs, spec.seed)


def _build(spec: DatasetSpec, root: str, log) -> tuple[dict, dict]:
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
    parts = [generate(dataclasses.replace(spec, level=lv), root, log)[0] for lv in
             ("medium", "expert")]
    halves = [io.read_hdf5(p).arrays() for p in parts]
    data = {k: np.concatenate([h[k] for h in halves]) for k in halves[0]}
    return data, {"parts": parts}
  policies = BehaviorPolicies(spec, root, log)
  snap = policies.pick(spec.level)
  extras = {"policy_return": snap["return"], "policy_return_stderr": snap["return_stderr"],
            "policy_env_steps": snap["env_steps"], "behavior_dir": policies.dir,
            "expert_return": policies.snapshots[-1]["return"]}
  if spec.level == "medium-replay":
    data = rollout.as_d4rl(rollout.contiguous(policies.replay(snap["env_steps"])))
  else:
    data = _rollout_sac(spec, policies, snap)
  return data, extras


def generate(spec: DatasetSpec, root: str | None = None,
             log: Callable[[str], None] = print) -> tuple[str, dict]:
  """(path of dataset.hdf5, manifest) for `spec`, generated or reused from the cache."""
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
  data, extras = _build(spec, root, log)
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
