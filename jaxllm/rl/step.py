"""One online RL step for an LLM: sample with the current parameters, score, update.

    rl = OnlineRL(graphdef, params, tokenizer, SamplingParams(n=32, ...), PGConfig(), tx,
                  reward_fn, mesh=mesh, state_sharding=state_sharding)
    state, metrics, rollouts, scored = rl.step(state, ref_params, prompts, prompt_ids, seed=step)

`reward_fn(prompts, rollouts) -> Scored` runs on the host (answer extraction, votes, verifiers)
and returns per-rollout `rewards`, the `kl_mask` and its own metrics. The sampler reads
`state["params"]` in place (the same device arrays the update writes; no host copy); the reference
log-probs and the update are jitted once each, with the update's state donated and, given a mesh,
the rollout batch split over its ("data", "fsdp") axes and the state on `state_sharding`
(`length_bucket`: `collect`'s tight layout).
`metrics` holds the update's metrics, the reward function's, and the wall time of each phase
(`time/sample_s`, `time/score_s`, `time/ref_s`, `time/update_s`), measured with a device sync at
each phase end, so they add up to the step's time.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxllm.rl.objective import PGConfig, logprobs_fn, make_update
from jaxllm.rl.rollouts import Rollouts, collect
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.train.logprobs import nnx_logits_fn


@dataclasses.dataclass
class Scored:
  rewards: np.ndarray                 # [B] float32
  kl_mask: np.ndarray                 # [B] bool
  metrics: dict[str, float] = dataclasses.field(default_factory=dict)
  sample_mask: np.ndarray | None = None   # [B] bool; None: every rollout trains


RewardFn = Callable[[Sequence[Any], Rollouts], Scored]


class OnlineRL:
  """Sampler + reference log-probs + policy-gradient update for one model (module docstring)."""

  def __init__(self, graphdef: Any, params: Any, tokenizer: Any, sampling: SamplingParams,
               cfg: PGConfig, tx: optax.GradientTransformation, reward_fn: RewardFn, *,
               mesh: Mesh | None = None, state_sharding: Any = None, cache_size: int | None = None,
               prompt_bucket: int = 16, length_bucket: int = 0):
    self.sampling, self.cfg, self.reward_fn = sampling, cfg, reward_fn
    self.length_bucket = length_bucket
    self.tokenizer, self.prompt_bucket = tokenizer, prompt_bucket
    self.sampler = Sampler(nnx.merge(graphdef, params), tokenizer, cache_size=cache_size,
                           prompt_bucket=prompt_bucket)
    logits_fn = nnx_logits_fn(graphdef)
    update = make_update(logits_fn, tx, cfg, sampling.n)
    self.mesh = mesh
    if mesh is not None:
      axes = tuple(a for a in ("data", "fsdp") if a in mesh.axis_names)
      self._batch_sh = NamedSharding(mesh, P(axes))
      self._divisor = int(np.prod([mesh.shape[a] for a in axes]))
      repl = NamedSharding(mesh, P())
      self._ref = jax.jit(logprobs_fn(logits_fn), out_shardings=self._batch_sh)
      self._update = jax.jit(update, in_shardings=(state_sharding, self._batch_sh),
                             out_shardings=(state_sharding, repl), donate_argnums=0)
    else:
      self._batch_sh = None
      self._ref = jax.jit(logprobs_fn(logits_fn))
      self._update = jax.jit(update, donate_argnums=0)

  def _put(self, arrays: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    if self._batch_sh is None:
      return {k: jax.numpy.asarray(v) for k, v in arrays.items()}
    if len(arrays["tokens"]) % self._divisor:
      raise ValueError(f"{len(arrays['tokens'])} rollouts do not split over the mesh's "
                       f"{self._divisor} data x fsdp devices; change prompts x n or the mesh")
    sh = self._batch_sh
    return {k: jax.device_put(v, sh) for k, v in arrays.items()}

  def sample(self, params: Any, prompt_ids: Sequence[Sequence[int]], seed: int) -> Rollouts:
    self.sampler.update(params)
    return collect(self.sampler, prompt_ids, dataclasses.replace(self.sampling, seed=int(seed)),
                   pad_id=self.sampler.pad_id, prompt_bucket=self.prompt_bucket,
                   length_bucket=self.length_bucket)

  def step(self, state: dict, ref_params: Any, prompts: Sequence[Any],
           prompt_ids: Sequence[Sequence[int]], seed: int
           ) -> tuple[dict, dict[str, Any], Rollouts, Scored]:
    t0 = time.perf_counter()
    rollouts = self.sample(state["params"], prompt_ids, seed)
    t1 = time.perf_counter()
    scored = self.reward_fn(prompts, rollouts)
    t2 = time.perf_counter()
    arrays = dict(rollouts.arrays(), rewards=scored.rewards.astype(np.float32),
                  kl_mask=scored.kl_mask.astype(bool),
                  sample_mask=(np.ones(len(scored.rewards), bool) if scored.sample_mask is None
                               else scored.sample_mask.astype(bool)))
    batch = self._put(arrays)
    batch["ref_logprobs"] = self._ref(ref_params, batch)
    jax.block_until_ready(batch["ref_logprobs"])
    t3 = time.perf_counter()
    state, metrics = self._update(state, batch)
    metrics = dict(jax.device_get(metrics))
    t4 = time.perf_counter()
    metrics.update(scored.metrics)
    metrics.update({"time/sample_s": t1 - t0, "time/score_s": t2 - t1, "time/ref_s": t3 - t2,
                    "time/update_s": t4 - t3,
                    "truncated_fraction": float(np.mean([f == "length"
                                                         for f in rollouts.finish_reasons]))})
    return state, metrics, rollouts, scored
