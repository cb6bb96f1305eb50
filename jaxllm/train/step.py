"""A generic jittable train step: state = {'params', 'opt_state', 'step', ...}, one update.

    step_fn = make_train_step(functools.partial(sft_loss, logits_fn=logits_fn), optax.adamw(1e-5),
                              max_grad_norm=1.0)
    state = init_train_state(params, optimizer)
    shardings = jaxllm.sharding.train_state_shardings(state, param_shardings, mesh)
    step_fn = jax.jit(step_fn, in_shardings=(shardings, batch_sharding(mesh)),
                      out_shardings=(shardings, replicated(mesh)), donate_argnums=0)
    state, metrics = step_fn(state, batch)

Trainers run it inside the runner's scanned loop (`experiments.runtime.run`), which jits it the
same way. Keys of the state besides params / opt_state / step (the runner's 'rng', method extras,
an 'ema' the method updates itself) pass through unchanged.

`loss_fn(params, batch) -> (loss, metrics)`. Gradient clipping by global norm is the optax transform
`clip_by_global_norm` applied before `optimizer` (the same as optax.chain(clip, optimizer), but
stateless, so the optimiser state does not depend on the clipping setting). Metrics gain `grad_norm`
(before clipping), `update_norm` and `param_norm`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]]
TrainState = dict[str, Any]


def init_train_state(params: Any, optimizer: optax.GradientTransformation) -> TrainState:
  """{'params', 'opt_state', 'step'}; call under jax.jit(out_shardings=...) to place it sharded."""
  return {"params": params, "opt_state": optimizer.init(params),
          "step": jnp.zeros((), jnp.int32)}


def make_train_step(loss_fn: LossFn, optimizer: optax.GradientTransformation,
                    max_grad_norm: float | None = None
                    ) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]:
  """Pure `step(state, batch) -> (state, metrics)`: grad of loss_fn, clip, optimiser update."""
  clip = None if max_grad_norm is None else optax.clip_by_global_norm(max_grad_norm)

  def step(state: TrainState, batch: Any) -> tuple[TrainState, dict[str, jax.Array]]:
    params = state["params"]
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
    metrics = dict(metrics)
    metrics["loss"] = loss
    metrics["grad_norm"] = optax.global_norm(grads)
    if clip is not None:
      grads, _ = clip.update(grads, clip.init(params))
    updates, opt_state = optimizer.update(grads, state["opt_state"], params)
    params = optax.apply_updates(params, updates)
    metrics["update_norm"] = optax.global_norm(updates)
    metrics["param_norm"] = optax.global_norm(params)
    return dict(state, params=params, opt_state=opt_state, step=state["step"] + 1), metrics

  return step
