"""The policy-gradient update of online LLM RL: shaped rewards -> group advantages -> PPO-clip.

    ref = logprobs_fn(logits_fn)                             # (params, batch) -> [B, T]
    update = make_update(logits_fn, tx, PGConfig(...), group_size=n)
    batch["ref_logprobs"] = ref(ref_params, batch)           # the frozen reference
    state, metrics = update(state, batch)                    # pure; jit both with shardings

`batch`: the rollout arrays (`Rollouts.arrays()`) plus `rewards` [B] (the task reward: 0/1
correctness, self-consistency ...), `kl_mask` [B] (False: no KL term for that sequence, e.g.
SRT's unlabelled prompts), `ref_logprobs` [B, T] and optionally `sample_mask` [B] (False: the
sequence is dropped from the update altogether, e.g. by an online prompt filter). In one call, as the SRT authors' recipe
(verl, RLOO):

  1. the current policy's ("old") log-probs: recomputed by a forward pass (`old_logprobs=
     "recompute"`), or the sampler's (`"sampler"`, exact only at temperature 1, saves a forward);
  2. KL in the reward: r <- r - kl_coef * sum_t kl_t over completion tokens (k3 "low-variance"
     estimator on the old/ref log-probs, no gradient), where kl_mask allows;
  3. advantages: RLOO within each group of n samples, r_i - mean of the other n - 1
     (= r_i * n/(n-1) - mean * n/(n-1)), or GRPO;
  4. `num_epochs` passes over `num_minibatches` shuffled minibatches of whole sequences: loss =
     PPO-clipped surrogate (ratio to the old log-probs, clip_eps) - entropy_coef * entropy
     (+ kl_loss_coef * k3 KL to the reference, GRPO-style, off by default), aggregated "token"
     (mean over all completion tokens of the minibatch) or "sequence".
With one epoch over one minibatch (the authors' setting) the ratio is exactly 1 and the update is
REINFORCE with the RLOO baseline.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxllm.train.logprobs import (LogitsFn, masked_mean, model_logits, target_mask,
                                   token_entropy, token_logprobs)
from jaxllm.train.policy_gradient import (grpo_advantages, kl_penalised_rewards,
                                          policy_gradient_loss_from_logprobs, rloo_advantages)


@dataclasses.dataclass(frozen=True)
class PGConfig:
  advantage: str = "rloo"          # or "grpo"
  kl_coef: float = 0.001           # KL in the reward (0: off)
  kl_estimator: str = "k3"
  kl_loss_coef: float = 0.0        # KL as a loss term (GRPO style)
  entropy_coef: float = 0.001
  clip_eps: float = 0.2
  aggregation: str = "token"
  num_minibatches: int = 1
  num_epochs: int = 1
  max_grad_norm: float = 0.0       # 0: no clipping (the optimiser may clip too)
  old_logprobs: str = "recompute"  # or "sampler"

  def validate(self, batch_size: int, group_size: int) -> None:
    if self.advantage not in ("rloo", "grpo"):
      raise ValueError(f"advantage must be 'rloo' or 'grpo', got {self.advantage!r}")
    if batch_size % self.num_minibatches:
      raise ValueError(f"{batch_size} rollouts do not split into {self.num_minibatches} "
                       "minibatches")
    if group_size < 2:
      raise ValueError("group advantages need at least 2 samples per prompt")
    if self.old_logprobs not in ("recompute", "sampler"):
      raise ValueError(f"old_logprobs must be 'recompute' or 'sampler', got {self.old_logprobs!r}")


def logprobs_fn(logits_fn: LogitsFn) -> Callable[[Any, dict], jax.Array]:
  """(params, batch) -> aligned token log-probs [B, T] (no gradient intended)."""
  def fn(params, batch):
    return token_logprobs(model_logits(logits_fn, params, batch), batch["tokens"])
  return fn


def shaped_advantages(batch: dict, old_lp: jax.Array, ref_lp: jax.Array, cfg: PGConfig,
                      group_size: int) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Steps 2-3 of the module docstring: (advantages [B], metrics)."""
  mask = target_mask(batch)
  kl_seq_mask = mask & batch["kl_mask"].astype(bool)[:, None]
  shaped, kl_sum = kl_penalised_rewards(batch["rewards"], old_lp, ref_lp, kl_seq_mask,
                                        beta=cfg.kl_coef, estimator=cfg.kl_estimator)
  if cfg.advantage == "rloo":
    adv = rloo_advantages(shaped, group_size)
  else:
    adv = grpo_advantages(shaped, group_size)
  tokens = jnp.maximum(jnp.sum(mask, axis=-1), 1)
  metrics = {"reward": jnp.mean(batch["rewards"]), "shaped_reward": jnp.mean(shaped),
             "kl_ref": jnp.sum(kl_sum) / jnp.sum(tokens),
             "advantage_abs": jnp.mean(jnp.abs(adv))}
  return adv, metrics


def make_update(logits_fn: LogitsFn, tx: optax.GradientTransformation, cfg: PGConfig,
                group_size: int) -> Callable:
  """update(state, batch) -> (state, metrics); state per experiments' convention
  ({"params", "opt_state", "step", "rng", ...}); see the module docstring."""
  lp_fn = logprobs_fn(logits_fn)
  clip = optax.clip_by_global_norm(cfg.max_grad_norm) if cfg.max_grad_norm > 0 else None

  def loss_fn(params, mb):
    logits = model_logits(logits_fn, params, mb)
    mask = target_mask(mb)
    lp = token_logprobs(logits, mb["tokens"])
    loss, m = policy_gradient_loss_from_logprobs(
        lp, mb["advantages"], mask, mb["old_logprobs"], mb["ref_logprobs"],
        clip_eps=cfg.clip_eps, kl_coef=cfg.kl_loss_coef, aggregation=cfg.aggregation)
    ent = masked_mean(token_entropy(logits), mask)
    loss = loss - cfg.entropy_coef * ent
    m = dict(m, entropy=ent, loss=loss)
    return loss, m

  def update(state, batch):
    b = batch["tokens"].shape[0]
    cfg.validate(b, group_size)
    ref_lp = jax.lax.stop_gradient(batch["ref_logprobs"])
    old_lp = jax.lax.stop_gradient(lp_fn(state["params"], batch) if cfg.old_logprobs ==
                                   "recompute" else batch["sampler_logprobs"])
    adv, metrics = shaped_advantages(batch, old_lp, ref_lp, cfg, group_size)
    loss_mask = batch["loss_mask"]
    if "sample_mask" in batch:
      loss_mask = loss_mask & batch["sample_mask"].astype(bool)[:, None]
    data = {"tokens": batch["tokens"], "attention_mask": batch["attention_mask"],
            "loss_mask": loss_mask, "advantages": adv, "old_logprobs": old_lp,
            "ref_logprobs": ref_lp}
    rng, shuffle_key = jax.random.split(state["rng"])
    mb_size = b // cfg.num_minibatches

    def epoch(carry, key):
      st = carry
      order = (jax.random.permutation(key, b) if cfg.num_minibatches > 1
               else jnp.arange(b))
      mbs = jax.tree.map(lambda x: x[order].reshape((cfg.num_minibatches, mb_size)
                                                    + x.shape[1:]), data)

      def minibatch(st, mb):
        (_, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(st["params"], mb)
        m["grad_norm"] = optax.global_norm(grads)
        if clip is not None:
          grads, _ = clip.update(grads, clip.init(st["params"]))
        upd, opt_state = tx.update(grads, st["opt_state"], st["params"])
        params = optax.apply_updates(st["params"], upd)
        m["update_norm"] = optax.global_norm(upd)
        return dict(st, params=params, opt_state=opt_state, step=st["step"] + 1), m

      st, ms = jax.lax.scan(minibatch, st, mbs)
      return st, ms

    keys = jax.random.split(shuffle_key, cfg.num_epochs)
    state, ms = jax.lax.scan(epoch, state, keys)
    metrics.update(jax.tree.map(jnp.mean, ms))
    metrics["response_length"] = jnp.mean(jnp.sum(target_mask(batch), axis=-1))
    return dict(state, rng=rng), metrics

  return update
