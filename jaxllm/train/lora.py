"""Low-rank adapters (LoRA, Hu et al., 2021) for any pytree of kernels, NNX states included.

A kernel W with shape in_shape + out_shape (e.g. [in, out], or [embed, heads, head_dim] for an
einsum projection, `in_dims=1`; [heads, head_dim, embed] with `in_dims=2`) gets adapters

    A: in_shape + (r,)   ~ N(0, 1 / prod(in_shape))      B: (r,) + out_shape = 0
    W' = W + (alpha / r) * tensordot(A, B, 1)

so the merged model equals the base model at initialisation. Adapters are a flat dict
{"path/to/kernel": {"a": A, "b": B}} keyed by `path_str`: a pytree that jits and shards as usual.

Training only the adapters, with params = {"base": base_params, "lora": adapters}:

    logits_fn = lora_logits_fn(base_logits_fn, alpha)      # merges, stop-gradient on the base
    optimizer = lora_optimizer(optax.adamw(1e-4))           # base frozen, no optimiser state
    shardings = lora_param_shardings(base_shardings, adapters)  # adapters follow their kernels

For `jaxllm.models.Transformer`, `transformer_lora_predicate("q,v")` picks the projections by name
and `transformer_in_dims` knows each kernel's input dims (o_proj: [heads, head_dim] -> embed).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxllm.sharding import path_str

Predicate = Callable[[str, jax.Array], bool]


def init_lora(key: jax.Array, params: Any, predicate: Predicate, rank: int,
              in_dims: int | Callable[[str, tuple[int, ...]], int] = 1,
              dtype: jnp.dtype = jnp.float32) -> dict[str, dict[str, jax.Array]]:
  """Adapters for every leaf where `predicate(path_str, leaf)` holds (leaves need >= 2 dims).

  `in_dims`: how many leading kernel dims are inputs (an int or a function of (path, shape)).
  """
  adapters = {}
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in leaves:
    name = path_str(path)
    if not predicate(name, leaf):
      continue
    shape = tuple(leaf.shape)
    k = in_dims(name, shape) if callable(in_dims) else in_dims
    if not 1 <= k < len(shape):
      raise ValueError(f"LoRA on {name}: in_dims={k} does not split kernel shape {shape}")
    key, sub = jax.random.split(key)
    fan_in = math.prod(shape[:k])
    a = jax.random.normal(sub, shape[:k] + (rank,), jnp.float32) / math.sqrt(fan_in)
    adapters[name] = {"a": a.astype(dtype), "b": jnp.zeros((rank,) + shape[k:], dtype)}
  if not adapters:
    raise ValueError("LoRA predicate matched no parameter; check the path names (see path_str)")
  return adapters


def lora_delta(adapter: dict[str, jax.Array], alpha: float) -> jax.Array:
  """(alpha / r) * A B in float32, shaped like the kernel."""
  a, b = adapter["a"].astype(jnp.float32), adapter["b"].astype(jnp.float32)
  rank = a.shape[-1]
  return (alpha / rank) * jnp.tensordot(a, b, axes=1)


def merge_lora(params: Any, adapters: dict[str, dict[str, jax.Array]], alpha: float) -> Any:
  """params with W + (alpha / r) A B on every adapted kernel (kept in W's dtype)."""
  def merge(path, w):
    adapter = adapters.get(path_str(path))
    if adapter is None:
      return w
    return (w.astype(jnp.float32) + lora_delta(adapter, alpha)).astype(w.dtype)

  return jax.tree_util.tree_map_with_path(merge, params)


def lora_params(base: Any, adapters: dict[str, dict[str, jax.Array]]) -> dict[str, Any]:
  """The trainable-state params for LoRA training: {'base': base, 'lora': adapters}."""
  return {"base": base, "lora": adapters}


def lora_logits_fn(logits_fn: Callable[..., jax.Array], alpha: float) -> Callable[..., jax.Array]:
  """Wraps a base `logits_fn` to take {'base', 'lora'} params; base gradients are stopped (zero)."""
  def wrapped(params, *args):
    base = jax.lax.stop_gradient(params["base"])
    return logits_fn(merge_lora(base, params["lora"], alpha), *args)

  return wrapped


def trainable_labels(params: dict[str, Any]) -> dict[str, Any]:
  """'frozen' on the base partition, 'train' on the adapters (labels for optax.multi_transform)."""
  return {"base": jax.tree.map(lambda _: "frozen", params["base"]),
          "lora": jax.tree.map(lambda _: "train", params["lora"])}


def lora_optimizer(optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
  """`optimizer` on the adapters only; the base gets zero updates and no optimiser state.

  (optax.masked alone would pass the base's raw gradients through as updates, so frozen leaves go
  through optax.set_to_zero instead.)
  """
  return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()},
                               trainable_labels)


def lora_param_shardings(base_shardings: Any, adapters: dict[str, dict[str, Any]]
                         ) -> dict[str, Any]:
  """Shardings of {'base', 'lora'} params: the base as given, each adapter after its kernel.

  A kernel sharded [*in_spec, *out_spec] gives A (in_shape + (r,)) the spec (*in_spec, None) and
  B ((r,) + out_shape) the spec (None, *out_spec), so A B and the merged kernel keep the kernel's
  layout and no adapter is gathered whole on one device. `adapters` may be abstract.
  """
  kernels = {path_str(p): s for p, s in jax.tree_util.tree_flatten_with_path(base_shardings)[0]}

  def one(name: str, adapter: dict[str, Any]) -> dict[str, NamedSharding]:
    kernel = kernels.get(name)
    if kernel is None:
      raise ValueError(f"adapter {name!r} has no kernel sharding in base_shardings")
    k = len(adapter["a"].shape) - 1
    ndim = k + len(adapter["b"].shape) - 1
    spec = tuple(kernel.spec) + (None,) * (ndim - len(kernel.spec))
    return {"a": NamedSharding(kernel.mesh, P(*spec[:k], None)),
            "b": NamedSharding(kernel.mesh, P(None, *spec[k:]))}

  return {"base": base_shardings, "lora": {n: one(n, a) for n, a in adapters.items()}}


# --------------------------------------------------------------------------------------------------
# LoRA on jaxllm.models.Transformer
# --------------------------------------------------------------------------------------------------

TRANSFORMER_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
_TRANSFORMER_KERNEL = re.compile(r"^layers/\d+/(attn|mlp)/(\w+)_proj$")


def transformer_lora_predicate(targets: str | Sequence[str]) -> Predicate:
  """A predicate for `init_lora` selecting the Transformer's projections named in `targets`
  ("q,k,v,o,gate,up,down" or a sequence of those names); ValueError on unknown names."""
  names = targets.split(",") if isinstance(targets, str) else list(targets)
  wanted = {t.strip() for t in names if t.strip()}
  if not wanted or wanted - set(TRANSFORMER_TARGETS):
    raise ValueError(f"LoRA targets {sorted(wanted - set(TRANSFORMER_TARGETS)) or 'empty'}; "
                     f"valid: comma-separated {', '.join(TRANSFORMER_TARGETS)}")

  def predicate(name: str, _leaf) -> bool:
    m = _TRANSFORMER_KERNEL.match(name)
    return bool(m) and m.group(2) in wanted

  return predicate


def transformer_in_dims(name: str, shape: tuple[int, ...]) -> int:
  """Input dims of a Transformer kernel: 2 for o_proj [heads, head_dim, embed], else 1."""
  del shape
  return 2 if name.endswith("attn/o_proj") else 1
