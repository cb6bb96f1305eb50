"""One-step CTM student distilled from the exact Gaussian-mixture teacher (short CPU run)."""
import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from jaxdiff import ctm, edm, metrics, samplers, toy
from jaxdiff.networks import MLPDenoiser
from tests.jaxdiff.helpers import fit, init_params

N = 4096


def test_one_step_student_matches_teacher():
  g = toy.default_gmm()
  cfg = edm.EDMConfig()  # RACTD grid: 80 bins, sigma in [0.002, 80], rho 7
  apply, params0 = init_params(lambda: MLPDenoiser(
      2, hidden_dim=64, num_layers=3, emb_dim=32, stop_time=True, rngs=nnx.Rngs(0)))

  def loss_fn(p, key):
    k_data, k_ctm, k_dsm = jax.random.split(key, 3)
    x0 = g.sample(k_data, 128)
    student, target = apply(p), apply(jax.lax.stop_gradient(p))  # target: EMA decay 0
    return (ctm.ctm_loss(student, target, g.denoise_fn, x0, k_ctm, config=cfg)
            + ctm.ctm_dsm_loss(student, x0, k_dsm, config=cfg))

  params, losses = fit(loss_fn, params0, jax.random.key(1), steps=1000, lr=2e-3)
  assert np.all(np.isfinite(losses))

  @jax.jit
  def evaluate(p0, p, x_init, proj):
    teacher = samplers.sample_heun(g.denoise_fn, x_init, cfg.sigmas())  # 159 NFE
    one_step = lambda q, n: ctm.ctm_sample(ctm.make_ctm_g(apply(q)), x_init,
                                           ctm.ctm_sampling_sigmas(n, cfg))
    rms = lambda x: jnp.sqrt(jnp.mean(jnp.sum((x - teacher) ** 2, -1)))
    sw = lambda x: metrics.sliced_wasserstein(x, teacher, proj)
    student, untrained, chained = one_step(p, 1), one_step(p0, 1), one_step(p, 4)
    return dict(sw=sw(student), sw_untrained=sw(untrained), sw_4=sw(chained),
                rms=rms(student), rms_untrained=rms(untrained))

  x_init = cfg.sigma_max * jax.random.normal(jax.random.key(5), (N, 2))
  proj = metrics.random_projections(jax.random.key(0), 2, 64)
  r = {k: float(v) for k, v in evaluate(params0, params, x_init, proj).items()}
  # Measured after 1000 steps: one-step sliced-W to the teacher's samples 0.097 (0.092 for two
  # other init seeds; exact-vs-exact noise floor 0.03-0.05), untrained student 0.41; 4-step
  # deterministic chaining 0.060. The student also learns the teacher's noise -> sample map:
  # rms distance to the teacher's sample from the same noise 0.28 vs 1.03 untrained. (After only
  # 400 steps one-step sliced-W was 0.23-0.27 over 3 seeds, hence 1000.) Thresholds leave ~2x
  # margin.
  assert r["sw"] < 0.2, r
  assert r["sw"] < 0.5 * r["sw_untrained"], r
  assert r["sw_4"] < 0.2, r
  assert r["rms"] < 0.6 * r["rms_untrained"], r
