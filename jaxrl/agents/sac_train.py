"""Online SAC on the native MuJoCo backend: collect, store, update; snapshots of the actor.

  result = train_sac("hopper", SACTrainConfig(num_env_steps=1_000_000), SACConfig())
  result.snapshots        # [Snapshot(env_steps, actor params, eval return ...)], one per snapshot_every
  result.buffer.data()    # every transition in collection order (for medium-replay datasets)

The loop runs `num_envs` environments on the host (jaxrl.envs native backend). Each env step it
acts with the current policy (uniform random actions for the first `start_steps` steps per
environment), stores the transition (next observation = info["final_obs"], so autoreset never
leaks a fresh episode's state into a transition) and, every `train_every` env steps, runs
`train_every * num_envs * updates_per_step` gradient updates as one jitted lax.scan over batches
sampled uniformly from the buffer on the host. Time-limit truncations bootstrap; terminations do
not. The buffer keeps every transition (capacity = total steps) with the index of the
environment it came from, so it can be replayed as contiguous episodes.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs
from jaxrl.agents.sac import SAC, SACConfig, SACState
from jaxrl.evaluation import Evaluator

FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts",
          "env_ids")


@dataclasses.dataclass(frozen=True)
class SACTrainConfig:
  num_env_steps: int = 1_000_000   # per environment
  start_steps: int = 10_000        # uniform random actions before this many steps (per env)
  num_envs: int = 1
  updates_per_step: int = 1        # gradient updates per collected transition
  train_every: int = 50            # env steps between update calls (one lax.scan each)
  snapshot_every: int = 20_000     # env steps between evaluated actor snapshots (0: final only)
  eval_episodes: int = 10
  seed: int = 0


@dataclasses.dataclass
class Snapshot:
  env_steps: int
  actor: Any                 # host copy of the actor's nnx.State
  mean_return: float
  stderr_return: float


class ReplayBuffer:
  """Append-only transitions in numpy arrays (observations flat float32)."""

  def __init__(self, capacity: int, obs_dim: int, act_dim: int):
    self.size = 0
    self._d = {"observations": np.zeros((capacity, obs_dim), np.float32),
               "actions": np.zeros((capacity, act_dim), np.float32),
               "rewards": np.zeros((capacity,), np.float32),
               "next_observations": np.zeros((capacity, obs_dim), np.float32),
               "terminals": np.zeros((capacity,), bool), "timeouts": np.zeros((capacity,), bool),
               "env_ids": np.zeros((capacity,), np.int32)}

  def add(self, **rows: np.ndarray) -> None:
    n = len(rows["rewards"])
    for k, v in rows.items():
      self._d[k][self.size:self.size + n] = v
    self.size += n

  def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    idx = rng.integers(0, self.size, size=shape)
    return {"observations": self._d["observations"][idx], "actions": self._d["actions"][idx],
            "rewards": self._d["rewards"][idx],
            "next_observations": self._d["next_observations"][idx],
            "terminals": self._d["terminals"][idx].astype(np.float32)}

  def data(self, stop: int | None = None) -> dict[str, np.ndarray]:
    """The first `stop` transitions (all by default), views in collection order."""
    stop = self.size if stop is None else min(stop, self.size)
    return {k: v[:stop] for k, v in self._d.items()}


@dataclasses.dataclass
class SACTrainResult:
  agent: SAC
  state: SACState
  snapshots: list[Snapshot]
  buffer: ReplayBuffer
  updates_per_second: float


def scaled_policy(agent: SAC, low: np.ndarray, high: np.ndarray, deterministic: bool) -> Callable:
  """policy(actor params, obs, key) -> action in [low, high]."""
  center, scale = jnp.asarray((high + low) / 2), jnp.asarray((high - low) / 2)
  base = agent.act_deterministic if deterministic else agent.act
  return lambda params, obs, key: center + scale * base(params, obs, key)


def train_sac(env_name: str, train: SACTrainConfig = SACTrainConfig(),
              config: SACConfig = SACConfig(), log: Callable[[str], None] = print,
              **env_kwargs: Any) -> SACTrainResult:
  """Trains SAC online on `env_name` (module docstring); returns agent, state, snapshots, buffer."""
  if train.train_every < 1 or train.num_env_steps < 1:
    raise ValueError("train_every and num_env_steps must be positive")
  env = envs.make(env_name, backend="native", num_envs=train.num_envs, seed=train.seed,
                  **env_kwargs)
  obs_dim, act_dim, n = env.observation_size, env.action_size, train.num_envs
  low, high = env.action_low.astype(np.float64), env.action_high.astype(np.float64)
  agent = SAC(obs_dim, act_dim, config)
  state = agent.init(train.seed)
  buffer = ReplayBuffer(train.num_env_steps * n, obs_dim, act_dim)
  evaluator = Evaluator(env_name, train.eval_episodes, seed=train.seed + 1, **env_kwargs)
  eval_policy = scaled_policy(agent, low, high, deterministic=True)
  explore = jax.jit(scaled_policy(agent, low, high, deterministic=False))
  rng = np.random.default_rng(train.seed)
  key = jax.random.PRNGKey(train.seed + 2)
  snapshots: list[Snapshot] = []
  ep_ret, recent = np.zeros(n), []
  update_time, num_updates, t0 = 0.0, 0, time.perf_counter()

  def snapshot(step: int) -> None:
    actor = jax.device_get(state.actor)
    r = evaluator(eval_policy, actor, jax.random.PRNGKey(step))
    snapshots.append(Snapshot(step, actor, r.mean_return, r.stderr_return))
    train_ret = np.mean(recent[-10:]) if recent else float("nan")
    log(f"[sac {env_name}] env step {step}/{train.num_env_steps}: eval return "
        f"{r.mean_return:.1f} +- {r.stderr_return:.1f}, train return {train_ret:.1f}, "
        f"{num_updates / max(update_time, 1e-9):.0f} updates/s, {time.perf_counter() - t0:.0f}s")

  obs, _ = env.reset(seed=train.seed)
  for step in range(1, train.num_env_steps + 1):
    if step <= train.start_steps:
      action = rng.uniform(low, high, size=(n, act_dim))
    else:
      key, sub = jax.random.split(key)
      action = np.asarray(explore(state.actor, obs.astype(np.float32), sub), np.float64)
    next_obs, reward, terminated, truncated, info = env.step(action)
    buffer.add(observations=obs, actions=action, rewards=reward,
               next_observations=info["final_obs"], terminals=terminated, timeouts=truncated,
               env_ids=np.arange(n))
    ep_ret += reward
    for i in np.flatnonzero(terminated | truncated):
      recent.append(ep_ret[i])
      ep_ret[i] = 0.0
    obs = next_obs
    if step >= train.start_steps and step % train.train_every == 0:
      k = train.train_every * n * train.updates_per_step
      batches = buffer.sample(rng, (k, config.batch_size))
      t_u = time.perf_counter()
      state, metrics = agent.update_many(state, batches)
      jax.block_until_ready(metrics)
      update_time += time.perf_counter() - t_u
      num_updates += k
    if train.snapshot_every and step % train.snapshot_every == 0:
      snapshot(step)
  if not snapshots or snapshots[-1].env_steps != train.num_env_steps:
    snapshot(train.num_env_steps)
  env.close()
  evaluator.close()
  return SACTrainResult(agent, state, snapshots, buffer,
                        num_updates / update_time if update_time else float("nan"))
