"""Online SAC in the D4RL recipe, as library pieces: train state, update, collection, a plain run.

  nets = make_networks(obs_dim, act_dim, config.hidden)
  state = init_state(nets, config, seed)             # the train-state dict below
  update_many = jax.jit(make_update_many(nets, config), donate_argnums=0)
  state, metrics = update_many(state, batches)       # lax.scan over the batches' leading axis

  online = OnlineSAC("hopper", SACTrainConfig(...), SACConfig())
  state = online.init_state()
  state, metrics = online.advance(state, step)       # env steps (step, step + train_every]
  online.host                                        # {"envs", "buffer", "collector"}

Recipe (as D4RL's behaviour policies were trained): actor and two critics are 2x256 ReLU MLPs;
Adam with lr 3e-4 for actor, critics and temperature; batch 256; gamma 0.99; Polyak target
critics with tau 0.005 after every update; alpha = exp(log_alpha) tuned towards the target
entropy -|A|, initial alpha 1. One update (losses.py): critic step on the TD target from the
target critics, then actor step against the just-updated critics, then temperature step on the
actor's log-probabilities, then the target update.

Train state (experiments/runtime/optim.py's convention, a dict):
  {"params":        {"actor": nnx.State, "critic": nnx.State (twin Q), "log_alpha": f32 scalar},
   "target_params": {"critic": nnx.State},
   "opt_state":     {"actor", "critic", "log_alpha"}: one Adam state each,
   "rng":           raw uint32 key of the updates (split 3-way per update),
   "explore_rng":   raw uint32 key of the exploration actions (split once per env step),
   "step":          int32, updates applied}

Online training (`OnlineSAC`): `num_envs` native MuJoCo environments on the host. Env steps
1..start_steps (per environment) take uniform random actions, later ones sample the current
policy. Each transition is stored with next observation = info["final_obs"] (autoreset never
leaks a fresh episode's state into a transition). `advance(state, step)` collects env steps
step + 1 .. step + train_every and then, once start_steps have been collected, runs
train_every * num_envs * updates_per_step updates as one jitted lax.scan over batches drawn from
the buffer with the run's numpy Generator (the same Generator as the random actions). The host
state that a resumed run needs -- environments mid-episode (exact MuJoCo state), the buffer (by
segment files), the Generator, the current observations and episode returns -- is in
`online.host`; the exploration key is in the train state. `run` drives it without checkpoints;
experiments/trainers/sac.py drives it on the experiments loop (checkpoints, resume, SIGTERM).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl import envs
from jaxrl.agents.sac import losses, snapshots
from jaxrl.agents.sac.buffer import ReplayBuffer
from jaxrl.agents.sac.networks import SACNetworks, make_networks, scaled_policy, stepper
from jaxrl.evaluation import EvalResult, Evaluator

Batch = dict[str, jax.Array]
RECENT = 10   # finished training episodes averaged into the `train_return` metric


@dataclasses.dataclass(frozen=True)
class SACConfig:
  """The agent's hyperparameters (D4RL recipe defaults)."""
  hidden: tuple[int, ...] = (256, 256)
  actor_lr: float = 3e-4
  critic_lr: float = 3e-4
  alpha_lr: float = 3e-4
  gamma: float = 0.99
  tau: float = 0.005
  batch_size: int = 256
  init_alpha: float = 1.0
  target_entropy: float | None = None  # None: -action_dim


@dataclasses.dataclass(frozen=True)
class SACTrainConfig:
  """Online training settings; step counts are per environment."""
  num_env_steps: int = 1_000_000
  start_steps: int = 10_000        # uniform random actions for env steps 1..start_steps
  num_envs: int = 1
  updates_per_step: int = 1        # gradient updates per collected transition
  train_every: int = 50            # env steps per advance (one lax.scan of updates each)
  snapshot_every: int = 20_000     # env steps between evaluated actor snapshots (0: final only)
  eval_episodes: int = 10
  seed: int = 0

  def validate(self) -> None:
    """ValueError naming the field unless the schedule fits (multiples of train_every)."""
    if self.train_every < 1 or self.num_env_steps < 1 or self.num_envs < 1:
      raise ValueError("train_every, num_env_steps and num_envs must be positive")
    for name in ("num_env_steps", "snapshot_every"):
      if getattr(self, name) % self.train_every:
        raise ValueError(f"{name}={getattr(self, name)} must be a multiple of train_every="
                         f"{self.train_every}")

  def snapshot_steps(self) -> list[int]:
    """Env steps with an evaluated snapshot: every snapshot_every, and always the last."""
    every = self.snapshot_every or self.num_env_steps
    steps = list(range(every, self.num_env_steps + 1, every))
    return steps if steps and steps[-1] == self.num_env_steps else steps + [self.num_env_steps]


# ------------------------------------------------------------------ train state and update
def optimizers(config: SACConfig) -> dict[str, optax.GradientTransformation]:
  return {"actor": optax.adam(config.actor_lr), "critic": optax.adam(config.critic_lr),
          "log_alpha": optax.adam(config.alpha_lr)}


def target_entropy(config: SACConfig, act_dim: int) -> float:
  return -float(act_dim) if config.target_entropy is None else float(config.target_entropy)


def init_state(nets: SACNetworks, config: SACConfig, seed: int) -> dict[str, Any]:
  """The train state (module docstring) for `seed`."""
  k_actor, k_critic, k_rng = jax.random.split(jax.random.PRNGKey(seed), 3)
  actor, critic = nets.init(k_actor, k_critic)
  params = {"actor": actor, "critic": critic,
            "log_alpha": jnp.log(jnp.float32(config.init_alpha))}
  txs = optimizers(config)
  return {"params": params, "target_params": {"critic": jax.tree.map(jnp.copy, critic)},
          "opt_state": {k: txs[k].init(v) for k, v in params.items()}, "rng": k_rng,
          "explore_rng": jax.random.PRNGKey(seed + 2), "step": jnp.zeros((), jnp.int32)}


def make_update(nets: SACNetworks, config: SACConfig) -> Callable:
  """update(state, batch) -> (state, metrics): one SAC update (pure; module docstring)."""
  txs, entropy_target = optimizers(config), target_entropy(config, nets.act_dim)

  def step(name, grads, opt_state, params):
    upd, opt_state = txs[name].update(grads, opt_state, params)
    return optax.apply_updates(params, upd), opt_state

  def update(state: dict[str, Any], batch: Batch) -> tuple[dict[str, Any], dict]:
    p, opt = state["params"], state["opt_state"]
    rng, k_next, k_pi = jax.random.split(state["rng"], 3)
    alpha = jnp.exp(p["log_alpha"])
    obs, act, next_obs = batch["observations"], batch["actions"], batch["next_observations"]

    next_a, next_logp = nets.sample(p["actor"], next_obs, k_next)
    nq1, nq2 = nets.critic_apply(state["target_params"]["critic"], next_obs, next_a)
    target = jax.lax.stop_gradient(losses.td_target(batch["rewards"], batch["terminals"], nq1,
                                                    nq2, next_logp, alpha, config.gamma))

    def critic_loss_fn(params):
      q1, q2 = nets.critic_apply(params, obs, act)
      return losses.critic_loss(q1, q2, target), q1

    (critic_loss, q1), g = jax.value_and_grad(critic_loss_fn, has_aux=True)(p["critic"])
    critic, critic_opt = step("critic", g, opt["critic"], p["critic"])

    def actor_loss_fn(params):
      a, logp = nets.sample(params, obs, k_pi)
      q1_pi, q2_pi = nets.critic_apply(critic, obs, a)
      return losses.actor_loss(logp, q1_pi, q2_pi, alpha), logp

    (actor_loss, logp), g = jax.value_and_grad(actor_loss_fn, has_aux=True)(p["actor"])
    actor, actor_opt = step("actor", g, opt["actor"], p["actor"])

    a_loss, g = jax.value_and_grad(losses.alpha_loss)(p["log_alpha"], logp, entropy_target)
    log_alpha, alpha_opt = step("log_alpha", g, opt["log_alpha"], p["log_alpha"])

    target_critic = losses.soft_update(state["target_params"]["critic"], critic, config.tau)
    new = dict(state, params={"actor": actor, "critic": critic, "log_alpha": log_alpha},
               target_params={"critic": target_critic}, rng=rng, step=state["step"] + 1,
               opt_state={"actor": actor_opt, "critic": critic_opt, "log_alpha": alpha_opt})
    metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha_loss": a_loss,
               "alpha": alpha, "entropy": -jnp.mean(logp), "q": jnp.mean(q1)}
    return new, metrics

  return update


def make_update_many(nets: SACNetworks, config: SACConfig) -> Callable:
  """update_many(state, batches) -> (state, mean metrics): one update per leading-axis entry."""
  update = make_update(nets, config)

  def update_many(state, batches):
    state, ms = jax.lax.scan(update, state, batches)
    return state, jax.tree.map(jnp.mean, ms)

  return update_many


# ------------------------------------------------------------------ collection (host state)
class Collector:
  """The host side of collection: the run's numpy Generator, current observations, returns.

  The Generator draws the random actions of env steps 1..start_steps and every update batch.
  """

  def __init__(self, env: Any, seed: int):
    self.env, self.n = env, env.num_envs
    self.rng = np.random.default_rng(seed)
    self.obs, _ = env.reset(seed=seed)
    self.ep_return = np.zeros(self.n)
    self.recent = np.zeros(0)   # the last RECENT finished episodes' returns
    self.episodes = 0

  def record(self, reward: np.ndarray, done: np.ndarray) -> None:
    self.ep_return += reward
    for i in np.flatnonzero(done):
      self.recent = np.append(self.recent, self.ep_return[i])[-RECENT:]
      self.episodes += 1
      self.ep_return[i] = 0.0

  def state_dict(self, files_dir: str | None = None) -> dict[str, Any]:
    del files_dir
    return {"rng": self.rng.bit_generator.state, "obs": self.obs.copy(),
            "ep_return": self.ep_return.copy(), "recent": self.recent.copy(),
            "episodes": self.episodes}

  def load_state_dict(self, d: Mapping[str, Any], files_dir: str | None = None) -> None:
    del files_dir
    self.rng.bit_generator.state = d["rng"]
    self.obs, self.ep_return = np.array(d["obs"]), np.array(d["ep_return"], np.float64)
    self.recent, self.episodes = np.array(d["recent"], np.float64), int(d["episodes"])


class OnlineSAC:
  """One online SAC run's pieces: envs, networks, buffer, collector, jitted update, evaluator."""

  def __init__(self, env_name: str, train: SACTrainConfig = SACTrainConfig(),
               config: SACConfig = SACConfig(), state_sharding: Any = None, **env_kwargs: Any):
    train.validate()
    self.env_name, self.train, self.config = env_name, train, config
    self.env = envs.make(env_name, backend="native", num_envs=train.num_envs, seed=train.seed,
                         **env_kwargs)
    obs_dim, act_dim = self.env.observation_size, self.env.action_size
    self.low = self.env.action_low.astype(np.float64)
    self.high = self.env.action_high.astype(np.float64)
    self.nets = make_networks(obs_dim, act_dim, config.hidden)
    self.buffer = ReplayBuffer(train.num_env_steps * train.num_envs, obs_dim, act_dim)
    self.collector = Collector(self.env, train.seed)
    self.evaluator = Evaluator(env_name, train.eval_episodes, seed=train.seed + 1, **env_kwargs)
    self._explore = stepper(scaled_policy(self.nets, self.low, self.high, deterministic=False))
    self._eval_policy = scaled_policy(self.nets, self.low, self.high, deterministic=True)
    sharding = {} if state_sharding is None else {"in_shardings": (state_sharding, None),
                                                  "out_shardings": (state_sharding, None)}
    self.update_many = jax.jit(make_update_many(self.nets, config), donate_argnums=0, **sharding)
    self._t_last: float | None = None

  @property
  def host(self) -> dict[str, Any]:
    """Host-state objects (state_dict / load_state_dict) a resumed run must restore."""
    return {"envs": self.env, "buffer": self.buffer, "collector": self.collector}

  def init_state(self) -> dict[str, Any]:
    return init_state(self.nets, self.config, self.train.seed)

  def advance(self, state: dict[str, Any], step: int) -> tuple[dict[str, Any], dict]:
    """Env steps step + 1 .. step + train_every, then their updates (module docstring)."""
    t, c, col = self.train, self.config, self.collector
    t0 = time.perf_counter()
    for s in range(step + 1, step + t.train_every + 1):
      if s <= t.start_steps:
        action = col.rng.uniform(self.low, self.high, size=(col.n, self.env.action_size))
      else:
        action, key = self._explore(state["params"]["actor"], col.obs.astype(np.float32),
                                    state["explore_rng"])
        state = dict(state, explore_rng=key)
        action = np.asarray(action, np.float64)
      next_obs, reward, terminated, truncated, info = self.env.step(action)
      self.buffer.add(observations=col.obs, actions=action, rewards=reward,
                      next_observations=info["final_obs"], terminals=terminated,
                      timeouts=truncated, env_ids=np.arange(col.n))
      col.record(reward, terminated | truncated)
      col.obs = next_obs
    metrics: dict[str, Any] = {"episodes": col.episodes, "buffer_size": self.buffer.size}
    end = step + t.train_every
    if end >= t.start_steps:
      k = t.train_every * col.n * t.updates_per_step
      state, m = self.update_many(state, self.buffer.sample(col.rng, (k, c.batch_size)))
      metrics.update(m)
    if len(col.recent):
      metrics["train_return"] = float(np.mean(col.recent))
    # Wall time since the previous call returned: this collection (whose first action waits for
    # the previous, asynchronous, update), this update's dispatch and the loop's work between.
    now = time.perf_counter()
    metrics["env_steps_per_s"] = t.train_every * col.n / (now - (self._t_last or t0))
    self._t_last = now
    return state, metrics

  def evaluate(self, state: dict[str, Any], step: int) -> tuple[Any, EvalResult]:
    """(host copy of the actor, its deterministic evaluation with key PRNGKey(step))."""
    actor = jax.device_get(state["params"]["actor"])
    return actor, self.evaluator(self._eval_policy, actor, jax.random.PRNGKey(step))

  def snapshot(self, state: dict[str, Any], step: int, directory: str,
               log: Callable[[str], None] = print) -> dict[str, float]:
    """Evaluates and saves the actor at env step `step` in `directory`; returns eval metrics."""
    actor, r = self.evaluate(state, step)
    snapshots.save(directory, step, actor, r)
    recent = self.collector.recent
    log(f"[sac {self.env_name}] env step {step}/{self.train.num_env_steps}: eval return "
        f"{r.mean_return:.1f} +- {r.stderr_return:.1f}, train return "
        f"{np.mean(recent) if len(recent) else float('nan'):.1f}")
    return {"return": r.mean_return, "return_stderr": r.stderr_return, "score": r.mean_score}

  def close(self) -> None:
    self.env.close()
    self.evaluator.close()


def run(env_name: str, train: SACTrainConfig, config: SACConfig, directory: str,
        log: Callable[[str], None] = print, **env_kwargs: Any) -> dict[str, Any]:
  """Trains online without checkpoints; writes snapshots and the buffer to `directory`.

  The same computation as experiments/trainers/sac.py on the experiments loop (which adds
  checkpoints, resume and SIGTERM handling); returns the final train state.
  """
  online = OnlineSAC(env_name, train, config, **env_kwargs)
  state, due = online.init_state(), set(train.snapshot_steps())
  for step in range(0, train.num_env_steps, train.train_every):
    state, _ = online.advance(state, step)
    if step + train.train_every in due:
      online.snapshot(state, step + train.train_every, directory, log)
  snapshots.finish(directory, train.snapshot_steps(), online.buffer)
  online.close()
  return state
