"""RACTD's networks: the chunk U-Net (teacher and student), the reward model, and a functional view.

Teacher and student are `jaxdiff.networks.ConditionalUnet1D` over [batch, horizon, channels]
(action chunks, or state plans for Maze2D) with FiLM conditioning on the observation (PAPERS.md
section 1: down dims 512/1024/2048, kernel 5). The student adds an embedding of CTM's stop time s
and dropout 0.2. `student_params_from_teacher` initialises it from the teacher so that at step 0
the student's g(x, t, s) equals the teacher's denoiser D(x, t) for every s: every shared weight is
copied and the FiLM rows that read the new s-embedding are zero.

The reward model (`RewardMLP`) is PAPERS.md's residual MLP, obs+act -> 64 -> 128 -> 256 -> 1 with
Mish: each block is h <- proj(h) + Linear(Mish(Linear(h))) into the next width (proj = a linear
map when the width changes), then a linear head on Mish(h).

`FunctionalNet` holds a module's graph and non-parameter state (dropout RNG streams) and rebuilds
the module inside jitted code from a parameter pytree, either deterministic or with dropout driven
by an explicit key: `net.apply(params, key=None)` returns the module, ready to call.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff.networks.unet1d import ConditionalUnet1D

Array = jax.Array


def chunk_unet(channels: int, cond_dim: int, *, down_dims: Sequence[int], kernel_size: int,
               emb_dim: int, cond_embed_dim: int | None, student: bool, dropout_rate: float,
               seed: int) -> ConditionalUnet1D:
  """The teacher (student=False) or the student (stop-time embedding, dropout) U-Net."""
  return ConditionalUnet1D(channels, cond_dim=cond_dim, down_dims=tuple(down_dims),
                           kernel_size=kernel_size, emb_dim=emb_dim,
                           cond_embed_dim=cond_embed_dim or None, stop_time=student,
                           dropout_rate=dropout_rate if student else 0.0, rngs=nnx.Rngs(seed))


class RewardMLP(nnx.Module):
  """R(obs, act) (or R(state, goal) for mazes): the residual Mish MLP of the module docstring."""

  def __init__(self, in_dim: int, widths: Sequence[int] = (64, 128, 256), *, rngs: nnx.Rngs):
    dims = (in_dim,) + tuple(widths)
    self.fc1 = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
    self.fc2 = nnx.List([nnx.Linear(b, b, rngs=rngs) for b in dims[1:]])
    self.proj = nnx.List([nnx.Linear(a, b, use_bias=False, rngs=rngs)
                          for a, b in zip(dims[:-1], dims[1:])])
    self.head = nnx.Linear(dims[-1], 1, rngs=rngs)

  def __call__(self, *inputs: Array) -> Array:
    h = jnp.concatenate(inputs, axis=-1)
    for fc1, fc2, proj in zip(self.fc1, self.fc2, self.proj):
      h = proj(h) + fc2(jax.nn.mish(fc1(h)))
    return self.head(jax.nn.mish(h))[..., 0]


class FunctionalNet:
  """A module as (graphdef, params, rest) with `apply(params, key)` for use inside jit."""

  def __init__(self, module: nnx.Module):
    self.graphdef, params, self.rest = nnx.split(module, nnx.Param, ...)
    self.init_params = params
    self.has_dropout = any(isinstance(m, nnx.Dropout) for _, m in module.iter_modules())

  def apply(self, params: Any, key: Array | None = None) -> nnx.Module:
    """The module at `params`: deterministic if key is None, else dropout seeded by key."""
    leaves, treedef = jax.tree.flatten(self.rest)
    fresh, i = [], 0
    for leaf in leaves:  # copy: the module's own Variables must not be mutated across traces
      if key is not None and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        fresh.append(jax.random.fold_in(_typed(key), i))
        i += 1
      else:
        fresh.append(jnp.asarray(leaf))
    model = nnx.merge(self.graphdef, params, jax.tree.unflatten(treedef, fresh))
    if key is None and self.has_dropout:
      return nnx.view(model, deterministic=True)
    return model


def _typed(key: Array) -> Array:
  return key if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else \
      jax.random.wrap_key_data(key)


def student_params_from_teacher(student: Any, teacher: Any, emb_dim: int) -> Any:
  """Student parameters equal to the teacher's wherever shapes agree (module docstring).

  FiLM kernels read [emb(t), emb(s), cond] in the student and [emb(t), cond] in the teacher; the
  teacher's rows go to the t and cond slots and the s slot gets zeros. The s-embedding MLP keeps
  its fresh initialisation (its output is multiplied by those zeros at first).
  """
  s_leaves = jax.tree_util.tree_leaves_with_path(student)
  t_flat = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(teacher)}
  out = []
  for path, s in s_leaves:
    name = jax.tree_util.keystr(path)
    t = t_flat.get(name)
    if t is None:
      out.append(s)  # s_embed: only in the student
    elif t.shape == s.shape:
      out.append(t)
    elif "film" in name and s.ndim == 2 and s.shape[0] == t.shape[0] + emb_dim:
      zeros = jnp.zeros((emb_dim,) + t.shape[1:], t.dtype)
      out.append(jnp.concatenate([t[:emb_dim], zeros, t[emb_dim:]], axis=0))
    else:
      raise ValueError(f"student parameter {name} has shape {s.shape}, teacher {t.shape}; "
                       "build both with the same model config")
  return jax.tree.unflatten(jax.tree.structure(student), out)


def param_count(params: Any) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
