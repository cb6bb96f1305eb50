"""Logical axis names -> mesh axes; placing parameters on a ('data', 'fsdp', 'tensor') mesh.

Parameters carry logical names ('vocab', 'embed', 'mlp', 'heads', 'kv_heads', 'head_dim', 'norm').
Rules are (logical name, mesh axis | tuple of mesh axes | None) pairs, as in flax/maxtext:

    rules = logical_to_mesh_rules(fsdp=True, tensor=True)
    mesh = jax.make_mesh((1, 4, 2), ("data", "fsdp", "tensor"))
    model = shard_model(model, mesh, rules)

Mesh axes of size 1 are left out of specs. A dimension whose size does not divide the product of its
mesh axes is replicated instead (e.g. 2 key/value heads on a tensor axis of 4), and one mesh axis is
never used twice in one spec. Meshes are expected with `AxisType.Auto` axes (GSPMD propagation).

`init_model` creates a random model inside one jit, each parameter born with its sharding.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxllm.models.config import ModelConfig
from jaxllm.models.transformer import Transformer

Rules = tuple[tuple[str, Any], ...]
MESH_AXES = ("data", "fsdp", "tensor")


def logical_to_mesh_rules(fsdp: bool = True, tensor: bool = True) -> Rules:
  """Rules for FSDP (weights' 'embed' dim over 'fsdp') and/or Megatron-style tensor parallelism.

  Activations: 'batch' over ('data', 'fsdp'); heads, mlp and vocab over 'tensor'.
  """
  f = "fsdp" if fsdp else None
  t = "tensor" if tensor else None
  return (
      ("batch", ("data", "fsdp")),
      ("vocab", t),
      ("embed", f),
      ("mlp", t),
      ("heads", t),
      ("kv_heads", t),
      ("head_dim", None),
      ("norm", None),
      ("length", None),
      ("cache_length", None),
  )


def _mesh_axes_for(name: str | None, rules: Rules) -> tuple[str, ...]:
  if name is None:
    return ()
  for logical, mesh_axes in rules:
    if logical == name:
      if mesh_axes is None:
        return ()
      return (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
  return ()


def logical_to_spec(axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh,
                    rules: Rules) -> PartitionSpec:
  """The PartitionSpec for one array; falls back to replication where sizes do not divide."""
  used: set[str] = set()
  spec = []
  for name, dim in zip(axes, shape):
    mesh_axes = [a for a in _mesh_axes_for(name, rules)
                 if a in mesh.shape and mesh.shape[a] > 1 and a not in used]
    size = 1
    for a in mesh_axes:
      size *= mesh.shape[a]
    if not mesh_axes or size == 1 or dim % size:
      spec.append(None)
      continue
    used.update(mesh_axes)
    spec.append(mesh_axes[0] if len(mesh_axes) == 1 else tuple(mesh_axes))
  return PartitionSpec(*spec)


def variable_axes(var: nnx.Variable) -> tuple[str | None, ...]:
  axes = var.get_metadata().get("out_sharding")
  return tuple(axes) if axes else (None,) * len(var.value.shape)


def model_shardings(model_or_state: Any, mesh: Mesh, rules: Rules) -> Any:
  """A pytree of NamedShardings matching `nnx.state(model)` (or the given state)."""
  state = model_or_state if isinstance(model_or_state, nnx.State) else nnx.state(model_or_state)

  def one(var):
    if not isinstance(var, nnx.Variable):
      return NamedSharding(mesh, PartitionSpec())
    spec = logical_to_spec(variable_axes(var), var.value.shape, mesh, rules)
    return var.replace(NamedSharding(mesh, spec))

  return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def shard_model(model: nnx.Module, mesh: Mesh, rules: Rules | None = None) -> nnx.Module:
  """Moves every parameter onto `mesh` per its logical axes (in place; returns the model)."""
  rules = logical_to_mesh_rules() if rules is None else rules
  state = nnx.state(model)
  shardings = model_shardings(state, mesh, rules)
  nnx.update(model, jax.device_put(state, shardings))
  return model


def batch_sharding(mesh: Mesh, rules: Rules, ndim: int = 2) -> NamedSharding:
  """Sharding for [batch, ...] inputs (tokens, masks): batch over the rules' 'batch' axes."""
  spec = logical_to_spec(("batch",) + (None,) * (ndim - 1), (0,) * ndim, mesh, rules)
  return NamedSharding(mesh, spec)


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
