"""Small utilities shared by the jaxdiff tests (not part of the library).

A model is initialised under one jit and split into (graphdef, params, rest); a training run is one
jitted `lax.scan` over steps, so a test pays one compilation per program.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.nnx as nnx
import jax
import optax

Array = jax.Array

# XLA options for programs that run once or a few times (initialisers, shape/conditioning checks):
# skipping LLVM's expensive passes cuts their CPU compile time by about 2.5x.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fit(loss_fn: Callable[[Any, Array], Array], params: Any, key: Array, *, steps: int,
        lr: float) -> tuple[Any, Array]:
  """Adam, cosine schedule, on loss_fn(params, key) for `steps` steps -> (params, losses)."""
  opt = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))

  @jax.jit
  def run(params, key):
    def step(carry, k):
      p, s = carry
      loss, grads = jax.value_and_grad(loss_fn)(p, k)
      updates, s = opt.update(grads, s, p)
      return (optax.apply_updates(p, updates), s), loss
    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)),
                                       jax.random.split(key, steps))
    return params, losses

  return run(params, key)


def init_split(ctor: Callable[[], nnx.Module]):
  """(graphdef, state) of ctor() with the initialisation compiled as one jitted program.

  Eager NNX construction dispatches every initializer op by op, and each distinct shape compiles
  its own small program; one jit of the whole init, compiled without expensive LLVM passes, is
  several times cheaper.
  """
  graphdef = nnx.split(nnx.eval_shape(ctor))[0]
  state = jax.jit(lambda: nnx.split(ctor())[1], compiler_options=FAST_COMPILE)()
  return graphdef, state


def init_params(ctor: Callable[[], nnx.Module]):
  """(apply(params) -> module, params) for ctor(); non-Param state is closed over unchanged."""
  graphdef, state = init_split(ctor)
  params, rest = nnx.split_state(state, nnx.Param, ...)

  def apply(p):
    return nnx.merge(graphdef, p, rest)
  return apply, params
