"""RACTD's three losses (PAPERS.md section 1) on batches from `jaxrl.ractd.data`.

  teacher:  EDM denoising loss on x0 (action chunk or state plan) given cond (jaxdiff.edm)
  reward:   mean (R(inputs) - G_norm)^2, G_norm the normalised Monte-Carlo return-to-go
  student:  alpha * CTM + beta * DSM + reward_weight * (-mean R(s0, a0_hat))

Reward term. The student's one-step prediction from pure noise is
x_hat = G(sigma_max * z, sigma_max, sigma_min | cond), z ~ N(0, I). For action chunks
a0_hat = x_hat[:, 0] (the action that would be executed) and the term is -mean_b R(o_b, a0_hat_b).
For Maze2D state plans the reward model scores every planned state against the goal in the
condition and the term is -mean_b sum_h R(x_hat_bh, goal_b). Gradients reach only the student:
the reward model and the teacher are fixed inputs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxdiff import ctm, edm

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class StudentLoss:
  alpha: float = 1.0           # CTM weight
  beta: float = 1.0            # DSM weight
  reward_weight: float = 1.0   # sigma_r, per task (PAPERS.md)
  num_heun_steps: int = 1      # teacher Heun steps from t to u
  dsm_stop: str = "t"          # see jaxdiff.ctm: "t" (official CTM) or "sigma_min" (PAPERS wording)


def teacher_loss(net_apply: edm.NetApply, batch: dict, key: Array, ecfg: edm.EDMConfig) -> Array:
  return edm.edm_loss(net_apply, batch["x0"], key, batch["cond"], ecfg)


def reward_loss(reward_fn: Callable[[Array], Array], batch: dict) -> Array:
  return jnp.mean(jnp.square(reward_fn(batch["inputs"]) - batch["target"]))


def reward_term(student_apply: edm.NetApply, reward_fn: Callable[[Array], Array], batch: dict,
                key: Array, ecfg: edm.EDMConfig, kind: str, goal_dims: int = 0) -> Array:
  """-mean reward of the student's one-step prediction (module docstring)."""
  x0 = batch["x0"]
  x_t = ecfg.sigma_max * jax.random.normal(key, x0.shape, x0.dtype)
  x_hat = ctm.ctm_g(student_apply, x_t, ecfg.sigma_max, ecfg.sigma_min, batch["cond"],
                    sigma_data=ecfg.sigma_data)
  if kind == "chunks":
    r = reward_fn(jnp.concatenate([batch["obs_n"], x_hat[:, 0]], axis=-1))
  else:
    goal = batch["cond"][:, -goal_dims:]
    goal = jnp.broadcast_to(goal[:, None, :], x_hat.shape[:2] + goal.shape[-1:])
    r = jnp.sum(reward_fn(jnp.concatenate([x_hat, goal], axis=-1)), axis=-1)
  return -jnp.mean(r)


def student_loss(student_apply: edm.NetApply, target_apply: edm.NetApply,
                 teacher_denoise: edm.DenoiseFn, reward_fn: Callable[[Array], Array] | None,
                 batch: dict, key: Array, ecfg: edm.EDMConfig, w: StudentLoss, kind: str,
                 goal_dims: int = 0) -> tuple[Array, dict[str, Any]]:
  """(total, {"ctm", "dsm", "reward"}) for one batch. reward_fn None or weight 0 skips the term."""
  k_ctm, k_dsm, k_r = jax.random.split(key, 3)
  x0, cond = batch["x0"], batch["cond"]
  l_ctm = ctm.ctm_loss(student_apply, target_apply, teacher_denoise, x0, k_ctm, cond, ecfg,
                       num_heun_steps=w.num_heun_steps)
  l_dsm = ctm.ctm_dsm_loss(student_apply, x0, k_dsm, cond, ecfg, stop=w.dsm_stop)
  total = w.alpha * l_ctm + w.beta * l_dsm
  if reward_fn is not None and w.reward_weight:
    l_r = reward_term(student_apply, reward_fn, batch, k_r, ecfg, kind, goal_dims)
    total = total + w.reward_weight * l_r
  else:
    l_r = jnp.zeros((), x0.dtype)
  return total, {"ctm": l_ctm, "dsm": l_dsm, "reward": l_r}
