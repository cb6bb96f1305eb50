"""A generic jittable train step: state = {'params', 'opt_state', 'step'}, one optimiser update.

    step_fn = make_train_step(functools.partial(sft_loss, logits_fn=logits_fn), optax.adamw(1e-5),
                              max_grad_norm=1.0)
    state = init_train_state(params, optimizer)
    shardings = train_state_shardings(optimizer, state, param_shardings, mesh)
    step_fn = jit_train_step(step_fn, shardings, batch_sharding(mesh))   # donates the state
    state, metrics = step_fn(state, batch)

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
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

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
    new_state = {"params": params, "opt_state": opt_state, "step": state["step"] + 1}
    return new_state, metrics

  return step


# --------------------------------------------------------------------------------------------------
# Sharding helpers
# --------------------------------------------------------------------------------------------------


def fsdp_shardings(tree: Any, mesh: Mesh, axis: str | tuple[str, ...] = "fsdp",
                   min_size: int = 0) -> Any:
  """NamedSharding per leaf: the largest dimension divisible by the axis size is split over `axis`.

  Leaves with fewer than `min_size` elements, or no divisible dimension, are replicated.
  """
  axes = (axis,) if isinstance(axis, str) else tuple(axis)
  n = 1
  for a in axes:
    n *= mesh.shape[a]

  def one(x):
    shape = tuple(getattr(x, "shape", ()))
    spec = [None] * len(shape)
    size = 1
    for d in shape:
      size *= d
    if n > 1 and size >= min_size:
      dims = [i for i, d in enumerate(shape) if d % n == 0 and d >= n]
      if dims:
        best = max(dims, key=lambda i: shape[i])
        spec[best] = axes[0] if len(axes) == 1 else axes
    return NamedSharding(mesh, P(*spec))

  return jax.tree.map(one, tree)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, axes: tuple[str, ...] = ("data", "fsdp")) -> NamedSharding:
  """Leading (batch) dimension split over `axes`; a prefix sharding for every leaf of a batch."""
  return NamedSharding(mesh, P(tuple(a for a in axes if a in mesh.shape)))


def _is_masked(x: Any) -> bool:
  return isinstance(x, optax.MaskedNode)


def train_state_shardings(optimizer: optax.GradientTransformation, state: TrainState,
                          param_shardings: Any, mesh: Mesh) -> TrainState:
  """Shardings of the whole train state: optimiser moments follow their parameters, the rest
  (counts, step) is replicated. `state` may hold arrays or jax.ShapeDtypeStructs.

  Every subtree of the optimiser state shaped like the params (same pytree structure, same leaf
  shapes) takes `param_shardings`, also where frozen leaves hold `optax.MaskedNode` (the state of
  `optax.masked` / `optax.multi_transform`, e.g. `lora_optimizer`): such leaves stay MaskedNodes,
  empty pytrees like the ones in the state, so the result is a valid jax.jit in/out_shardings.
  (optax.tree_map_params is not used: it initialises the optimiser on a placeholder instead of
  params, which partitioned optimisers cannot split.) `optimizer` is kept for API compatibility.
  """
  del optimizer  # the optimiser state's own structure is enough
  params_def = jax.tree.structure(state["params"])
  if jax.tree.structure(param_shardings) != params_def:
    raise ValueError("param_shardings must have the structure of state['params']: "
                     f"{jax.tree.structure(param_shardings)} vs {params_def}")
  shapes = [tuple(jnp.shape(x)) for x in jax.tree.leaves(state["params"])]

  def like_params(node: Any) -> bool:
    leaves, treedef = jax.tree.flatten(node, is_leaf=_is_masked)
    return treedef == params_def and all(
        _is_masked(x) or tuple(jnp.shape(x)) == shape for x, shape in zip(leaves, shapes))

  def one(node: Any) -> Any:
    if like_params(node):
      return jax.tree.map(lambda x, s: x if _is_masked(x) else s, node, param_shardings,
                          is_leaf=_is_masked)
    return replicated(mesh)

  opt = jax.tree.map(one, state["opt_state"], is_leaf=like_params)
  return {"params": param_shardings, "opt_state": opt, "step": replicated(mesh)}


def jit_train_step(step: Callable, state_shardings: TrainState, batch_shardings: Any,
                   metrics_sharding: Any = None) -> Callable:
  """jax.jit with explicit in/out shardings and the state donated (argument 0)."""
  if metrics_sharding is None:
    leaves = jax.tree.leaves(state_shardings)
    metrics_sharding = replicated(leaves[0].mesh) if leaves else None
  return jax.jit(step, in_shardings=(state_shardings, batch_shardings),
                 out_shardings=(state_shardings, metrics_sharding), donate_argnums=0)
