"""Optimisers from config, EMA, and the train-state convention every trainer follows.

Train state (one documented dict layout, a pytree the loop checkpoints as is):

    {"params":    model parameters (an nnx.State or a dict of them, e.g. {"actor", "critic"}),
     "opt_state": the optax state of `params` (a dict of them when `params` is a dict of nets
                  with one optimiser each),
     "step":      int32 scalar, updates applied so far,
     "rng":       raw uint32 PRNG key (jax.random.PRNGKey / key_data; never a typed key),
     "ema":       optional, an exponential moving average of `params`,
     ...          anything else the method needs (target networks, a temperature), documented
                  by the method's step function}

`init_train_state(params, tx, seed, ema=...)` builds it; step functions return the same keys.

An optimiser section of a config (`optim_config()` gives the defaults) becomes an optax
transformation with `make_optimizer(config.optim, num_steps)`:

    name            adamw | adam | sgd
    lr              peak learning rate
    schedule        cosine (warm-up, then cosine to end_lr_fraction * lr) | constant (after warm-up)
                    | linear (warm-up, then linear to end_lr_fraction * lr)
    warmup_steps    linear warm-up from 0 (0: start at lr)
    end_lr_fraction final learning rate as a fraction of lr (cosine, linear)
    weight_decay    decoupled weight decay (adamw)
    decay_mask      all | matrices (only leaves with ndim >= 2 decay: no biases, norms, scalars)
    b1, b2, eps     Adam moments
    max_grad_norm   clip by global norm before the update (0: off)
"""
from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax

from experiments.errors import UserError

SCHEDULES = ("cosine", "constant", "linear")
OPTIMIZERS = ("adamw", "adam", "sgd")
DECAY_MASKS = ("all", "matrices")


def optim_config(**overrides: Any) -> ml_collections.ConfigDict:
  """The defaults of an `optim` config section, with `overrides` applied."""
  c = ml_collections.ConfigDict({
      "name": "adamw", "lr": 1e-4, "schedule": "cosine", "warmup_steps": 0,
      "end_lr_fraction": 0.0, "weight_decay": 0.0, "decay_mask": "all", "b1": 0.9, "b2": 0.999,
      "eps": 1e-8, "max_grad_norm": 0.0})
  for k, v in overrides.items():
    if k not in c:
      raise KeyError(f"unknown optim field {k!r}; valid: {', '.join(c)}")
    c[k] = v
  return c


def _get(o: Mapping[str, Any], key: str) -> Any:
  defaults = optim_config()
  return o[key] if key in o else defaults[key]


def make_schedule(o: Mapping[str, Any], num_steps: int, prefix: str = "optim") -> optax.Schedule:
  """Learning rate per step: warm-up, then the configured decay over `num_steps`."""
  lr, warmup = float(_get(o, "lr")), int(_get(o, "warmup_steps"))
  kind, end = _get(o, "schedule"), float(_get(o, "end_lr_fraction")) * float(_get(o, "lr"))
  if kind not in SCHEDULES:
    raise UserError(f"{prefix}.schedule={kind!r}; valid: {', '.join(SCHEDULES)}")
  if not 0 <= warmup < max(num_steps, 1):
    raise UserError(f"{prefix}.warmup_steps={warmup} must be in [0, num_steps={num_steps})")
  if kind == "cosine":
    return optax.warmup_cosine_decay_schedule(0.0 if warmup else lr, lr, warmup,
                                              max(num_steps, warmup + 1), end_value=end)
  if kind == "linear":
    decay = optax.linear_schedule(lr, end, max(num_steps - warmup, 1))
  else:
    decay = optax.constant_schedule(lr)
  if not warmup:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def make_optimizer(o: Mapping[str, Any], num_steps: int,
                   prefix: str = "optim") -> optax.GradientTransformation:
  """The optax transformation an `optim` config section describes (module docstring)."""
  name, mask_kind = _get(o, "name"), _get(o, "decay_mask")
  if name not in OPTIMIZERS:
    raise UserError(f"{prefix}.name={name!r}; valid: {', '.join(OPTIMIZERS)}")
  if mask_kind not in DECAY_MASKS:
    raise UserError(f"{prefix}.decay_mask={mask_kind!r}; valid: {', '.join(DECAY_MASKS)}")
  lr = make_schedule(o, num_steps, prefix)
  b1, b2, eps = float(_get(o, "b1")), float(_get(o, "b2")), float(_get(o, "eps"))
  if name == "adamw":
    mask = (lambda params: jax.tree.map(lambda x: jnp.ndim(x) >= 2, params)
            ) if mask_kind == "matrices" else None
    tx = optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=float(_get(o, "weight_decay")),
                     mask=mask)
  elif name == "adam":
    tx = optax.adam(lr, b1=b1, b2=b2, eps=eps)
  else:
    tx = optax.sgd(lr)
  clip = float(_get(o, "max_grad_norm"))
  return optax.chain(optax.clip_by_global_norm(clip), tx) if clip > 0 else tx


def ema_update(ema: Any, params: Any, decay: float | jax.Array) -> Any:
  """decay * ema + (1 - decay) * params, leaf by leaf (decay 0 copies params)."""
  return optax.incremental_update(params, ema, 1.0 - decay)


def init_train_state(params: Any, tx: optax.GradientTransformation, seed: int | jax.Array,
                     ema: bool = False, **extra: Any) -> dict[str, Any]:
  """The conventional train state (module docstring); `seed` an int or a raw uint32 key."""
  rng = jax.random.PRNGKey(seed) if isinstance(seed, int) else seed
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.zeros((), jnp.int32),
           "rng": rng}
  if ema:
    state["ema"] = jax.tree.map(jnp.copy, params)
  state.update(extra)
  return state


def apply_gradients(state: dict[str, Any], grads: Any, tx: optax.GradientTransformation,
                    ema_decay: float | None = None, **updates: Any) -> dict[str, Any]:
  """One optimiser update of a conventional train state (and its EMA, if it has one)."""
  upd, opt_state = tx.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], upd)
  out = dict(state, params=params, opt_state=opt_state, step=state["step"] + 1, **updates)
  if "ema" in state:
    out["ema"] = ema_update(state["ema"], params, 0.0 if ema_decay is None else ema_decay)
  return out
