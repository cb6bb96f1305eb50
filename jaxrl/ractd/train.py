"""RACTD's three trainers as `(init_fn, step_fn)` pairs for `experiments.runtime.run`.

Each `make_*` returns pure functions: `init_fn() -> state` and
`step_fn(state, batch, consts) -> (state, metrics)`, where `consts` holds the device-resident
dataset (and, for the student, the frozen teacher and reward-model parameters). The batch is drawn
inside the step from the state's key (`jaxrl.ractd.data`), constrained to be split over the mesh's
("data", "fsdp") axes; parameters and optimiser state are replicated, so XLA all-reduces the
gradients: data parallelism, and the same numbers as on one device.

State: the codebase's train-state layout (experiments/runtime/optim.py), {"params", "opt_state",
"step" (int32, updates applied), "rng" (raw uint32 key), "ema" (when the stage's ema_decay > 0)}.

Optimisers are the caller's: `Stage.tx` is an optax transformation (the experiments trainer builds
it from the stage's `optim` config section; PAPERS.md: teacher AdamW lr 1e-4; student AdamW lr
1e-4, weight decay 1e-4, cosine). EMA weights: teacher (decay from the config; sampled at
evaluation) and student (decay `ema_decay`, evaluated); the student's CTM *target* is the
stop-gradient of the current weights (EMA decay 0, as in the paper), see `student_objective`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxdiff import edm
from jaxrl.ractd import data as rdata
from jaxrl.ractd import losses
from jaxrl.ractd.networks import FunctionalNet

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Stage:
  """What one stage's step needs besides its networks."""
  batch_size: int
  tx: optax.GradientTransformation   # the optimiser, schedule and clipping included
  ema_decay: float = 0.0            # 0: no EMA copy


def _init(params: Any, stage: Stage, seed: int) -> Callable[[], dict]:
  def init_fn():
    state = {"params": params, "opt_state": stage.tx.init(params),
             "step": jnp.zeros((), jnp.int32), "rng": jax.random.PRNGKey(seed)}
    return dict(state, ema=params) if stage.ema_decay > 0 else state
  return init_fn


def _apply_grads(state: dict, grads: Any, stage: Stage, rng: Array) -> dict:
  """One update of `state` (module docstring); the EMA as optax's Polyak average."""
  updates, opt_state = stage.tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  ema = ({"ema": optax.incremental_update(params, state["ema"], 1.0 - stage.ema_decay)}
         if "ema" in state else {})
  return dict(state, params=params, opt_state=opt_state, step=state["step"] + 1, rng=rng, **ema)


def make_teacher(prep: rdata.Prepared, net: FunctionalNet, stage: Stage, ecfg: edm.EDMConfig,
                 seed: int, mesh=None):
  """EDM teacher over chunks/plans; consts = the DeviceDataset."""

  def step_fn(state, batch, data):
    del batch
    rng, k_data, k_loss = jax.random.split(state["rng"], 3)
    b = rdata.diffusion_batch(prep, data, k_data, stage.batch_size, mesh)

    def loss_fn(params):
      return losses.teacher_loss(net.apply(params), b, k_loss, ecfg)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (_apply_grads(state, grads, stage, rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  return _init(net.init_params, stage, seed), step_fn


def make_reward(prep: rdata.Prepared, net: FunctionalNet, stage: Stage, seed: int, mesh=None):
  """Reward model regression; consts = the DeviceDataset."""

  def step_fn(state, batch, data):
    del batch
    rng, k_data = jax.random.split(state["rng"])
    b = rdata.reward_batch(prep, data, k_data, stage.batch_size, mesh)

    def loss_fn(params):
      return losses.reward_loss(net.apply(params), b)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (_apply_grads(state, grads, stage, rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  return _init(net.init_params, stage, seed), step_fn


def student_objective(prep: rdata.Prepared, student: FunctionalNet, teacher: FunctionalNet,
                      reward: FunctionalNet, ecfg: edm.EDMConfig, weights: losses.StudentLoss,
                      batch_size: int, mesh=None):
  """`loss(params, target_params, consts, keys) -> (total, parts)`: the student's loss on one batch.

  keys = (k_data, k_loss, k_drop): the batch draw, the loss's noise and index draws, and the
  student's dropout. The CTM target network is the student at stop_gradient(target_params) (the
  step passes the current params: EMA decay 0); the teacher enters only through the
  stop-gradient Heun solve inside `jaxdiff.ctm.ctm_loss`; so only `params` gets a gradient.
  """

  def loss(params, target_params, consts, keys):
    k_data, k_loss, k_drop = keys
    b = rdata.diffusion_batch(prep, consts["data"], k_data, batch_size, mesh)
    teacher_denoise = edm.make_denoiser(teacher.apply(consts["teacher"]), ecfg.sigma_data)
    reward_fn = reward.apply(consts["reward"]) if weights.reward_weight else None
    target = student.apply(jax.lax.stop_gradient(target_params))
    return losses.student_loss(student.apply(params, k_drop), target, teacher_denoise, reward_fn,
                               b, k_loss, ecfg, weights, prep.kind, prep.goal_dims)

  return loss


def make_student(prep: rdata.Prepared, student: FunctionalNet, teacher: FunctionalNet,
                 reward: FunctionalNet, init_params: Any, stage: Stage, ecfg: edm.EDMConfig,
                 weights: losses.StudentLoss, seed: int, mesh=None):
  """CTM + DSM + reward student; consts = {"data", "teacher", "reward"} (frozen parameters)."""
  loss = student_objective(prep, student, teacher, reward, ecfg, weights, stage.batch_size, mesh)

  def step_fn(state, batch, consts):
    del batch
    rng, k_data, k_loss, k_drop = jax.random.split(state["rng"], 4)
    params = state["params"]
    (total, parts), grads = jax.value_and_grad(loss, has_aux=True)(
        params, params, consts, (k_data, k_loss, k_drop))
    return (_apply_grads(state, grads, stage, rng),
            {"loss": total, "grad_norm": optax.global_norm(grads), **parts})

  return _init(init_params, stage, seed), step_fn
