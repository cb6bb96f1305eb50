"""The Transformer's logical axes on a ('data', 'fsdp', 'tensor') mesh: default rules, placement.

Parameters carry logical names ('vocab', 'embed', 'mlp', 'heads', 'kv_heads', 'head_dim', 'norm');
rules map them (and, as regexes, parameter paths) to mesh axes -- the rule language and its
fallbacks are `jaxllm.sharding`'s, shared with every other pytree:

    rules = logical_to_mesh_rules(fsdp=True, tensor=True)
    mesh = jax.make_mesh((1, 4, 2), ("data", "fsdp", "tensor"))
    model = shard_model(model, mesh, rules)

`init_model` creates a random model inside one jit, each parameter born with its sharding.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh

from jaxllm.models.config import ModelConfig
from jaxllm.models.transformer import Transformer
from jaxllm.sharding import Rules, logical_to_spec, rule_shardings, variable_axes

__all__ = ["Rules", "init_model", "logical_to_mesh_rules", "logical_to_spec", "model_shardings",
           "shard_model", "variable_axes"]


def logical_to_mesh_rules(fsdp: bool = True, tensor: bool = True) -> Rules:
  """Rules for FSDP (weights' 'embed' dim over 'fsdp') and/or Megatron-style tensor parallelism.

  Activations: 'batch' over ('data', 'fsdp'); heads, mlp and vocab over 'tensor'. Logical names
  without a rule ('head_dim', 'norm', 'length') replicate.
  """
  f = "fsdp" if fsdp else None
  t = "tensor" if tensor else None
  return (("batch", ("data", "fsdp")), ("vocab", t), ("embed", f), ("mlp", t), ("heads", t),
          ("kv_heads", t))


def model_shardings(model_or_state: Any, mesh: Mesh, rules: Rules) -> Any:
  """A pytree of NamedShardings matching `nnx.state(model)` (or the given state / any pytree)."""
  tree = nnx.state(model_or_state) if isinstance(model_or_state, nnx.Module) else model_or_state
  return rule_shardings(tree, mesh, rules)


def shard_model(model: nnx.Module, mesh: Mesh, rules: Rules | None = None) -> nnx.Module:
  """Moves every parameter onto `mesh` per its logical axes (in place; returns the model)."""
  rules = logical_to_mesh_rules() if rules is None else rules
  state = nnx.state(model)
  nnx.update(model, jax.device_put(state, model_shardings(state, mesh, rules)))
  return model


def init_model(cfg: ModelConfig, seed: int = 0, mesh: Mesh | None = None,
               rules: Rules | None = None) -> Transformer:
  """A randomly initialised Transformer, built in one jitted call (sharded on `mesh` if given)."""
  def make():
    return nnx.state(Transformer(cfg, rngs=nnx.Rngs(seed)))

  abstract = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(seed)))
  graphdef, abstract_state = nnx.split(abstract)
  out_shardings = None
  if mesh is not None:
    rules = logical_to_mesh_rules() if rules is None else rules
    out_shardings = model_shardings(abstract_state, mesh, rules)
  state = jax.jit(make, out_shardings=out_shardings)()
  return nnx.merge(graphdef, state)
