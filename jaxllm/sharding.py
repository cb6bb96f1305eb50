"""Shardings for any pytree on a named mesh: rules -> PartitionSpecs, FSDP by size, batches, state.

One set of placement helpers for every library and trainer (experiments.runtime re-exports them):

  replicated(mesh), replicated_sharding(tree, mesh)   everything on every device
  batch_sharding(mesh, leading=0)                     dim `leading` split over ('data', 'fsdp')
  fsdp_sharding(tree, mesh, axis, min_size)           model-agnostic FSDP: each large leaf split
                                                      along its largest dim the axis size divides
  rule_shardings(tree, mesh, rules)                   rules -> one NamedSharding per leaf
  train_state_shardings(state, param_shardings, mesh) a conventional train state: optimiser
                                                      moments (and an EMA) follow their parameters

Rules (big_vision / maxtext style) are (pattern, mesh axes) pairs, e.g.

    rules = (("embed", "fsdp"), ("mlp", "tensor"), ("heads", "tensor"),
             (r"layers/\\d+/mlp/down_proj", ("tensor", "fsdp")))

* A pattern that is a bare name (letters, digits, '_') is a *logical axis*: it applies to every
  parameter dimension annotated with that name (NNX `out_sharding` metadata, see
  jaxllm.models.transformer), and its value is that one dimension's mesh axis, a tuple of mesh
  axes (the dimension split over their product), or None (replicated). Unnamed logical axes
  replicate.
* Any other pattern is a regex, fully matched against a leaf's path ('layers/0/attn/q_proj',
  `path_str`), and its value gives the whole leaf's spec, one entry per dimension (missing trailing
  entries replicate; None replicates the leaf). The first matching regex wins over the logical
  rules, so regexes are the exceptions and logical names the defaults. (A top-level parameter
  called like a logical name is matched as a regex by writing e.g. 'embed$'.)

Either way a mesh axis of size 1 (or absent from the mesh) is left out, a dimension whose size its
mesh axes do not divide is replicated (e.g. 2 key/value heads on a tensor axis of 4), and one mesh
axis is never used twice in one spec. Meshes are expected with `AxisType.Auto` axes.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

Rules = Sequence[tuple[str, Any]]
BATCH_AXES = ("data", "fsdp")
_LOGICAL = re.compile(r"[A-Za-z_]\w*")


def path_str(path: tuple[Any, ...]) -> str:
  """'layers/0/attn/q_proj' from a jax key path; NNX's trailing `.value` attribute is dropped."""
  parts = []
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      parts.append(str(key.key))
    elif isinstance(key, jax.tree_util.SequenceKey):
      parts.append(str(key.idx))
    elif isinstance(key, jax.tree_util.GetAttrKey):
      if key.name != "value":
        parts.append(key.name)
    else:
      parts.append(str(key))
  return "/".join(parts)


# --------------------------------------------------------------------------------------------------
# replicated, batch, fsdp
# --------------------------------------------------------------------------------------------------


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def replicated_sharding(tree: Any, mesh: Mesh) -> Any:
  """`replicated(mesh)` for every leaf of `tree`."""
  return jax.tree.map(lambda _: NamedSharding(mesh, P()), tree)


def batch_axes(mesh: Mesh, axes: Sequence[str] = BATCH_AXES) -> tuple[str, ...]:
  return tuple(a for a in axes if a in mesh.axis_names)


def batch_sharding(mesh: Mesh, leading: int = 0, axes: Sequence[str] = BATCH_AXES
                   ) -> NamedSharding:
  """Dim `leading` (the batch; earlier dims such as a scan axis stay whole) split over `axes`.

  A prefix sharding: valid for every leaf of a batch whatever its rank.
  """
  return NamedSharding(mesh, P(*([None] * leading), batch_axes(mesh, axes)))


def fsdp_sharding(tree: Any, mesh: Mesh, axis: str | Sequence[str] = "fsdp",
                  min_size: int = 2**14) -> Any:
  """Splits each leaf with >= `min_size` elements along its largest dim divisible by the size of
  `axis` (a mesh axis or a tuple of them); smaller or indivisible leaves replicate.

  Model-agnostic FSDP for pytrees without logical annotations (annotated models use rules).
  """
  axes = (axis,) if isinstance(axis, str) else tuple(axis)
  n = math.prod(mesh.shape.get(a, 1) for a in axes)

  def one(x):
    shape = tuple(getattr(x, "shape", ()))
    if n > 1 and math.prod(shape) >= min_size:
      for d in sorted(range(len(shape)), key=lambda i: -shape[i]):
        if shape[d] and shape[d] % n == 0:
          return NamedSharding(mesh, P(*([None] * d), axes[0] if len(axes) == 1 else axes))
    return NamedSharding(mesh, P())

  return jax.tree.map(one, tree)


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------


def is_logical(pattern: str) -> bool:
  """True for a logical-axis rule ('embed'), False for a regex over paths ('layers/.*/q_proj')."""
  return bool(_LOGICAL.fullmatch(pattern))


def _as_axes(entry: Any) -> tuple[Any, ...]:
  if entry is None:
    return ()
  return tuple(entry) if isinstance(entry, (tuple, list)) else (entry,)


def check_rules(rules: Rules, mesh: Mesh | None = None) -> None:
  """ValueError (one line) unless `rules` are (str pattern, axes) pairs with valid regexes and,
  given a mesh, only its axis names."""
  for i, rule in enumerate(rules):
    if not (isinstance(rule, (tuple, list)) and len(rule) == 2 and isinstance(rule[0], str)):
      raise ValueError(f"rule {i} is {rule!r}; each rule is a (pattern, mesh axes) pair")
    pattern, value = rule
    if not is_logical(pattern):
      try:
        re.compile(pattern)
      except re.error as e:
        raise ValueError(f"rule {i}: {pattern!r} is not a valid regex ({e})") from None
    entries = [value] if is_logical(pattern) or isinstance(value, str) else list(value or ())
    names = [a for entry in entries for a in _as_axes(entry)]
    bad = [a for a in names if not isinstance(a, str) or (mesh is not None
                                                          and a not in mesh.axis_names)]
    if bad:
      valid = f"; mesh axes: {', '.join(mesh.axis_names)}" if mesh is not None else ""
      raise ValueError(f"rule {i} ({pattern!r}) names unknown mesh axes {bad}{valid}")


def _fit(entries: Sequence[Any], shape: Sequence[int], mesh: Mesh) -> P:
  """A PartitionSpec from per-dim mesh-axis entries: size-1/absent axes dropped, indivisible dims
  and axes already used replicated."""
  used: set[str] = set()
  spec = []
  for entry, dim in zip(list(entries) + [None] * (len(shape) - len(entries)), shape):
    axes = [a for a in _as_axes(entry) if mesh.shape.get(a, 1) > 1 and a not in used]
    size = math.prod(mesh.shape[a] for a in axes)
    if not axes or dim % size:
      spec.append(None)
      continue
    used.update(axes)
    spec.append(axes[0] if len(axes) == 1 else tuple(axes))
  return P(*spec)


def logical_to_spec(axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh,
                    rules: Rules) -> P:
  """The PartitionSpec of one array with logical axis names `axes` (logical rules only)."""
  table: dict[str, Any] = {}
  for pattern, value in rules:
    if is_logical(pattern):
      table.setdefault(pattern, value)
  return _fit([table.get(name) if name is not None else None for name in axes], shape, mesh)


def leaf_spec(path: str, shape: Sequence[int], axes: Sequence[str | None] | None, mesh: Mesh,
              rules: Rules) -> P:
  """The PartitionSpec of the leaf at `path` (logical axis names `axes`, or None) under `rules`."""
  for pattern, value in rules:
    if not is_logical(pattern) and re.fullmatch(pattern, path):
      entries = (value,) if isinstance(value, str) else tuple(value or ())
      return _fit(entries, shape, mesh)
  if axes is None:
    return P()
  return logical_to_spec(axes, shape, mesh, rules)


def variable_axes(var: Any) -> tuple[str | None, ...]:
  """The logical axis names of an NNX Variable (None per dim when it has none)."""
  axes = var.get_metadata().get("out_sharding")
  return tuple(axes) if axes else (None,) * len(var.value.shape)


def rule_shardings(tree: Any, mesh: Mesh, rules: Rules) -> Any:
  """A NamedSharding per leaf of `tree` (arrays, ShapeDtypeStructs, or an nnx.State whose
  Variables carry logical axes; the result keeps the Variables, holding shardings)."""
  from flax import nnx  # local: the rest of this module needs no flax

  is_var = lambda x: isinstance(x, nnx.Variable)

  def one(path, leaf):
    if is_var(leaf):
      spec = leaf_spec(path_str(path), leaf.value.shape, variable_axes(leaf), mesh, rules)
      return leaf.replace(NamedSharding(mesh, spec))
    shape = tuple(getattr(leaf, "shape", ()))
    return NamedSharding(mesh, leaf_spec(path_str(path), shape, None, mesh, rules))

  return jax.tree_util.tree_map_with_path(one, tree, is_leaf=is_var)


# --------------------------------------------------------------------------------------------------
# train state
# --------------------------------------------------------------------------------------------------


def _is_masked(x: Any) -> bool:
  import optax
  return isinstance(x, optax.MaskedNode)


def train_state_shardings(state: dict[str, Any], param_shardings: Any, mesh: Mesh
                          ) -> dict[str, Any]:
  """Shardings of a train state {'params', 'opt_state', ['ema'], ...} (arrays or
  ShapeDtypeStructs): 'params' and 'ema' take `param_shardings`, every optimiser-state subtree
  shaped like the params (moments) follows them too, everything else (counts, step, rng) is
  replicated.

  Frozen leaves that hold `optax.MaskedNode` (the state of optax.masked / multi_transform, e.g.
  LoRA's frozen base) stay MaskedNodes, empty pytrees like the ones in the state, so the result
  is a valid jax.jit in/out_shardings. (optax.tree_map_params is not used: it initialises the
  optimiser on a placeholder, which partitioned optimisers cannot split.)
  """
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

  out = {k: replicated_sharding(v, mesh) for k, v in state.items()}
  out["params"] = param_shardings
  out["opt_state"] = jax.tree.map(one, state["opt_state"], is_leaf=like_params)
  if "ema" in state:
    out["ema"] = param_shardings
  return out
