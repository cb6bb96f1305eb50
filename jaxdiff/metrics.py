"""Sample-set metrics: sliced Wasserstein distance and moment comparisons (all jittable).

Sliced Wasserstein-p between sample sets X (n points) and Y (m points) in R^D, with fixed unit
directions theta_1..theta_L:

    SW_p(X, Y) = ( (1/L) sum_l W_p^p(theta_l . X, theta_l . Y) )^(1/p)

Each 1-D W_p between empirical measures is computed from sorted projections: exactly (mean of
|x_(i) - y_(i)|^p) when n = m, otherwise by comparing the two empirical quantile functions at the
max(n, m) midpoints (i + 1/2) / max(n, m) (exact when one size divides the other). Pass the same
`projections` to every call that should be comparable.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def random_projections(key: Array, dim: int, num: int = 128) -> Array:
  """`num` directions drawn uniformly on the unit sphere in R^dim, [num, dim]."""
  v = jax.random.normal(key, (num, dim))
  return v / jnp.linalg.norm(v, axis=-1, keepdims=True)


def _empirical_quantiles(sorted_proj: Array, levels: Array) -> Array:
  n = sorted_proj.shape[0]
  idx = jnp.clip(jnp.floor(levels * n).astype(jnp.int32), 0, n - 1)
  return sorted_proj[idx]


def sliced_wasserstein(x: Array, y: Array, projections: Array, p: float = 2.0) -> Array:
  """SW_p between sample sets x [n, D] and y [m, D] (extra trailing axes are flattened)."""
  x = x.reshape(x.shape[0], -1)
  y = y.reshape(y.shape[0], -1)
  px = jnp.sort(x @ projections.T, axis=0)  # [n, L]
  py = jnp.sort(y @ projections.T, axis=0)
  if px.shape[0] != py.shape[0]:
    k = max(px.shape[0], py.shape[0])
    levels = (jnp.arange(k) + 0.5) / k
    px = _empirical_quantiles(px, levels)
    py = _empirical_quantiles(py, levels)
  per_direction = jnp.mean(jnp.abs(px - py) ** p, axis=0)
  return jnp.mean(per_direction) ** (1.0 / p)


def mean_and_cov(x: Array) -> tuple[Array, Array]:
  """Sample mean [D] and (unbiased) covariance [D, D] of x [n, D]."""
  x = x.reshape(x.shape[0], -1)
  m = jnp.mean(x, axis=0)
  xc = x - m
  return m, xc.T @ xc / (x.shape[0] - 1)


def moment_errors(x: Array, mean: Array, cov: Array) -> dict[str, Array]:
  """Max-abs errors of the sample mean and covariance of x against reference moments."""
  m, c = mean_and_cov(x)
  return {"mean_err": jnp.max(jnp.abs(m - mean)), "cov_err": jnp.max(jnp.abs(c - cov))}
