"""Gaussian mixtures with exact sampling, density, score and EDM denoiser (for tests and toys).

For p(x0) = sum_k w_k N(x0; mu_k, S_k) and x = x0 + sigma * n, n ~ N(0, I), the noised density is
p_sigma(x) = sum_k w_k N(x; mu_k, C_k) with C_k = S_k + sigma^2 I, and

    score:    grad log p_sigma(x) = -sum_k r_k(x) C_k^{-1} (x - mu_k)
    denoiser: E[x0 | x] = sum_k r_k(x) (mu_k + S_k C_k^{-1} (x - mu_k))

with responsibilities r_k(x) = w_k N(x; mu_k, C_k) / p_sigma(x). The two agree through Tweedie's
formula E[x0 | x] = x + sigma^2 grad log p_sigma(x), which the tests check.
"""
from __future__ import annotations

import math
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

Array = jax.Array


@flax.struct.dataclass
class GaussianMixture:
  """A mixture of full-covariance Gaussians; a pytree, so it can be passed through jit."""
  weights: Array  # [K], sums to 1
  means: Array  # [K, D]
  covs: Array  # [K, D, D]

  @property
  def dim(self) -> int:
    return self.means.shape[-1]

  def sample(self, key: Array, n: int) -> Array:
    """Exact samples, [n, D]."""
    k_comp, k_noise = jax.random.split(key)
    comp = jax.random.categorical(k_comp, jnp.log(self.weights), shape=(n,))
    chol = jnp.linalg.cholesky(self.covs)
    z = jax.random.normal(k_noise, (n, self.dim), self.means.dtype)
    return self.means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)

  def _noised(self, x: Array, sigma: Array):
    """Per-example log w_k N(x; mu_k, C_k) [B, K] and C_k^{-1}(x - mu_k) [B, K, D].

    Uses S_k = U_k diag(lam_k) U_k^T, so C_k^{-1} = U_k diag(1 / (lam_k + sigma^2)) U_k^T and no
    batched linear solve is needed.
    """
    sigma = jnp.broadcast_to(jnp.asarray(sigma, x.dtype), x.shape[:1])
    lam, vecs = jnp.linalg.eigh(self.covs)  # [K, D], [K, D, D]
    var = lam[None] + (sigma ** 2)[:, None, None]  # [B, K, D]
    diff = x[:, None, :] - self.means[None]  # [B, K, D]
    proj = jnp.einsum("kdj,bkd->bkj", vecs, diff) / var  # U^T (x - mu) / (lam + sigma^2)
    sol = jnp.einsum("kdj,bkj->bkd", vecs, proj)  # C^{-1}(x - mu)
    maha = jnp.sum(diff * sol, -1)
    logdet = jnp.sum(jnp.log(var), -1)
    log_comp = -0.5 * (maha + logdet + self.dim * math.log(2 * math.pi))
    return jnp.log(self.weights)[None] + log_comp, sol

  def log_prob(self, x: Array, sigma: Array = 0.0) -> Array:
    """log p_sigma(x), [B] (sigma = 0 gives the data density)."""
    log_joint, _ = self._noised(x, sigma)
    return jax.nn.logsumexp(log_joint, axis=-1)

  def score(self, x: Array, sigma: Array = 0.0) -> Array:
    """grad_x log p_sigma(x), [B, D], in closed form."""
    log_joint, sol = self._noised(x, sigma)
    r = jax.nn.softmax(log_joint, axis=-1)
    return -jnp.einsum("bk,bkd->bd", r, sol)

  def denoise(self, x: Array, sigma: Array) -> Array:
    """Exact EDM denoiser E[x0 | x0 + sigma n = x], [B, D]; sigma scalar or [B]."""
    log_joint, sol = self._noised(x, sigma)
    r = jax.nn.softmax(log_joint, axis=-1)
    post_means = self.means[None] + jnp.einsum("kij,bkj->bki", self.covs, sol)
    return jnp.einsum("bk,bkd->bd", r, post_means)

  def denoise_fn(self, x: Array, sigma: Array, cond: Any = None) -> Array:
    """`denoise` with the sampler signature (x, sigma, cond); cond is ignored."""
    del cond
    return self.denoise(x, sigma)

  def mean(self) -> Array:
    return jnp.einsum("k,kd->d", self.weights, self.means)

  def cov(self) -> Array:
    """Exact mixture covariance sum_k w_k (S_k + mu_k mu_k^T) - m m^T."""
    m = self.mean()
    second = jnp.einsum("k,kij->ij", self.weights,
                        self.covs + self.means[:, :, None] * self.means[:, None, :])
    return second - jnp.outer(m, m)


def _rotated_cov(std_major: float, std_minor: float, angle: float) -> Array:
  c, s = math.cos(angle), math.sin(angle)
  rot = jnp.array([[c, -s], [s, c]])
  return rot @ jnp.diag(jnp.array([std_major ** 2, std_minor ** 2])) @ rot.T


def default_gmm() -> GaussianMixture:
  """A 2-D, 4-component mixture with unequal weights and anisotropic, rotated covariances.

  Overall per-axis std is about 0.6-0.8, close to EDM's sigma_data = 0.5 scale.
  """
  weights = jnp.array([0.35, 0.3, 0.2, 0.15])
  means = jnp.array([[-0.8, -0.5], [0.8, -0.5], [0.0, 0.8], [0.9, 0.9]])
  covs = jnp.stack([
      _rotated_cov(0.25, 0.08, 0.6), _rotated_cov(0.2, 0.1, -0.4),
      _rotated_cov(0.3, 0.07, 0.0), _rotated_cov(0.1, 0.1, 0.0)])
  return GaussianMixture(weights, means, covs)


def ring_gmm(num: int = 8, radius: float = 1.0, std: float = 0.1) -> GaussianMixture:
  """`num` equal-weight isotropic Gaussians evenly spaced on a circle (the classic 2-D toy)."""
  angles = jnp.arange(num) * (2 * math.pi / num)
  means = radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
  covs = jnp.broadcast_to(jnp.eye(2) * std ** 2, (num, 2, 2))
  return GaussianMixture(jnp.full((num,), 1.0 / num), means, covs)
