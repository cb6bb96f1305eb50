"""RACTD's three trainers as `(init_fn, step_fn)` pairs for `experiments.runtime.run`.

Each `make_*` returns pure functions: `init_fn() -> state` and
`step_fn(state, batch, consts) -> (state, metrics)`, where `consts` holds the device-resident
dataset (and, for the student, the frozen teacher and reward-model parameters). The batch is drawn
inside the step from the state's key (`jaxrl.ractd.data`), constrained to be split over the mesh's
("data", "fsdp") axes; parameters and optimiser state are replicated, so XLA all-reduces the
gradients: data parallelism, and the same numbers as on one device.

Optimisers: AdamW with a linear warm-up then cosine decay to 0 (PAPERS.md: teacher lr 1e-4; student
lr 1e-4, weight decay 1e-4, cosine), optional global-norm clipping. EMA weights: teacher (decay from
the config; sampled at evaluation) and student (decay `ema_decay`, evaluated; its CTM *target* is
the stop-gradient of the current weights, EMA decay 0, as in the paper).
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
  batch_size: int
  num_steps: int
  lr: float = 1e-4
  weight_decay: float = 0.0
  warmup_steps: int = 0
  schedule: str = "cosine"          # or "constant"
  grad_clip: float = 0.0            # 0: off
  ema_decay: float = 0.0            # 0: no EMA copy


def optimizer(s: Stage) -> optax.GradientTransformation:
  if s.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(0.0 if s.warmup_steps else s.lr, s.lr,
                                            s.warmup_steps, max(s.num_steps, s.warmup_steps + 1))
  elif s.schedule == "constant":
    lr = optax.linear_schedule(0.0, s.lr, s.warmup_steps) if s.warmup_steps else s.lr
  else:
    raise ValueError(f"schedule must be 'cosine' or 'constant', got {s.schedule!r}")
  tx = optax.adamw(lr, weight_decay=s.weight_decay)
  return optax.chain(optax.clip_by_global_norm(s.grad_clip), tx) if s.grad_clip else tx


def _ema(decay: float, ema: Any, params: Any) -> Any:
  return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, params)


def _init(params: Any, tx, seed: int, ema: bool) -> Callable[[], dict]:
  def init_fn():
    state = {"params": params, "opt": tx.init(params), "rng": jax.random.PRNGKey(seed)}
    if ema:
      state["ema"] = params
    return state
  return init_fn


def _apply_grads(state: dict, grads: Any, tx, stage: Stage, rng: Array) -> dict:
  updates, opt = tx.update(grads, state["opt"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  out = {"params": params, "opt": opt, "rng": rng}
  if "ema" in state:
    out["ema"] = _ema(stage.ema_decay, state["ema"], params)
  return out


def make_teacher(prep: rdata.Prepared, net: FunctionalNet, stage: Stage, ecfg: edm.EDMConfig,
                 seed: int, mesh=None):
  """EDM teacher over chunks/plans; consts = the DeviceDataset."""
  tx = optimizer(stage)

  def step_fn(state, batch, data):
    del batch
    rng, k_data, k_loss = jax.random.split(state["rng"], 3)
    b = rdata.diffusion_batch(prep, data, k_data, stage.batch_size, mesh)

    def loss_fn(params):
      model = net.apply(params)
      return losses.teacher_loss(model, b, k_loss, ecfg)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (_apply_grads(state, grads, tx, stage, rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  return _init(net.init_params, tx, seed, ema=stage.ema_decay > 0), step_fn


def make_reward(prep: rdata.Prepared, net: FunctionalNet, stage: Stage, seed: int, mesh=None):
  """Reward model regression; consts = the DeviceDataset."""
  tx = optimizer(stage)

  def step_fn(state, batch, data):
    del batch
    rng, k_data = jax.random.split(state["rng"])
    b = rdata.reward_batch(prep, data, k_data, stage.batch_size, mesh)

    def loss_fn(params):
      return losses.reward_loss(net.apply(params), b)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (_apply_grads(state, grads, tx, stage, rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  return _init(net.init_params, tx, seed, ema=False), step_fn


def make_student(prep: rdata.Prepared, student: FunctionalNet, teacher: FunctionalNet,
                 reward: FunctionalNet, init_params: Any, stage: Stage, ecfg: edm.EDMConfig,
                 weights: losses.StudentLoss, seed: int, mesh=None):
  """CTM + DSM + reward student; consts = {"data", "teacher", "reward"} (frozen parameters)."""
  tx = optimizer(stage)

  def step_fn(state, batch, consts):
    del batch
    rng, k_data, k_loss, k_drop = jax.random.split(state["rng"], 4)
    b = rdata.diffusion_batch(prep, consts["data"], k_data, stage.batch_size, mesh)
    teacher_denoise = edm.make_denoiser(teacher.apply(consts["teacher"]), ecfg.sigma_data)
    reward_fn = reward.apply(consts["reward"]) if weights.reward_weight else None

    def loss_fn(params):
      target = student.apply(jax.lax.stop_gradient(params))
      total, parts = losses.student_loss(student.apply(params, k_drop), target, teacher_denoise,
                                         reward_fn, b, k_loss, ecfg, weights, prep.kind,
                                         prep.goal_dims)
      return total, parts

    (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    return (_apply_grads(state, grads, tx, stage, rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads), **parts})

  return _init(init_params, tx, seed, ema=stage.ema_decay > 0), step_fn
