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
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

Predicate = Callable[[str, jax.Array], bool]


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
