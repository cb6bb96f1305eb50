"""A small MLP EDM teacher trained on the 2-D Gaussian mixture samples it (CPU-fast)."""
import flax.nnx as nnx
import jax
import numpy as np

from jaxdiff import edm, metrics, samplers, toy
from jaxdiff.networks import MLPDenoiser
from tests.jaxdiff.helpers import fit, init_params

N = 4096


def test_mlp_teacher_learns_the_mixture():
  g = toy.default_gmm()
  cfg = edm.EDMConfig()
  apply, params = init_params(lambda: MLPDenoiser(
      2, hidden_dim=128, num_layers=3, emb_dim=32, rngs=nnx.Rngs(0)))

  def loss_fn(p, key):
    k_data, k_loss = jax.random.split(key)
    return edm.edm_loss(apply(p), g.sample(k_data, 256), k_loss, config=cfg)

  params, losses = fit(loss_fn, params, jax.random.key(1), steps=600, lr=2e-3)
  losses = np.asarray(losses)
  # The Karras-weighted loss averages ~2 over the first 10 steps and ~0.95 over the last 100
  # (its irreducible part for this data is not 0); require a clear drop.
  assert losses[-100:].mean() < 0.6 * losses[:10].mean(), (losses[:10].mean(), losses[-100:])

  @jax.jit
  def evaluate(p, key, ref, proj):
    x = samplers.sample(edm.make_denoiser(apply(p)), key, (N, 2), cfg, num_bins=18)  # 35 NFE
    return x, metrics.sliced_wasserstein(x, ref, proj)

  ref = jax.jit(lambda k: g.sample(k, N))(jax.random.key(2))
  proj = metrics.random_projections(jax.random.key(0), 2, 64)
  x, sw = evaluate(params, jax.random.key(3), ref, proj)
  # Exact-vs-exact sliced-W at this n is 0.03-0.05 (test_samplers.py) and the reversed-weights
  # mixture is at 0.44; the trained teacher measured 0.049 here (0.08 after 400 steps, 0.04 after
  # 800), so 0.15 passes with a margin and still rejects a wrong mixture.
  assert float(sw) < 0.15, float(sw)
  m, c = metrics.mean_and_cov(x)
  np.testing.assert_allclose(m, g.mean(), atol=0.08)
  np.testing.assert_allclose(c, g.cov(), atol=0.1)
