"""EDM on a 2-D Gaussian mixture: the smallest real trainer, and a template for the others.

Sections: mesh -> data -> model -> state and shardings -> update -> loop -> evaluation.
The data are drawn inside the jitted update from the exact mixture (no host input pipeline), so
the whole run is a handful of compiled calls. The train state is the codebase's layout
(experiments/runtime/optim.py: params, opt_state, step, rng, ema), the optimiser comes from
`config.optim` (runtime.optim.make_optimizer) and the loop's cadence from `config.train`.
Evaluation compares Heun samples of the EMA model with exact mixture samples (sliced
Wasserstein-2, mean/covariance errors) next to three references: the same sampler driven by the
mixture's exact denoiser (the sampler's own error), a second exact sample set (the finite-sample
floor) and the model at its initialisation (what training bought).
"""
from __future__ import annotations

import os

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import optax

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import optim
from jaxdiff import edm, metrics, samplers, toy
from jaxdiff.networks.mlp import MLPDenoiser

MIXTURES = {"ring8": lambda: toy.ring_gmm(8, radius=1.0, std=0.1), "default": toy.default_gmm}


def make_model(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> MLPDenoiser:
  return MLPDenoiser(2, hidden_dim=config.model.hidden, num_layers=config.model.depth,
                     emb_dim=config.model.emb_dim, rngs=rngs)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every)
  tx = optim.make_optimizer(config.optim, t.num_steps)
  # ---------------------------------------------------------------- mesh
  mesh = runtime.make_mesh(config.mesh)
  data_sharding = runtime.batch_sharding(mesh)

  # ---------------------------------------------------------------- data
  if config.data.mixture not in MIXTURES:
    raise UserError(f"unknown data.mixture '{config.data.mixture}'; valid: {', '.join(MIXTURES)}")
  gmm = MIXTURES[config.data.mixture]()
  batch_size = config.data.batch_size

  # ---------------------------------------------------------------- model
  graphdef, abstract_params = nnx.split(nnx.eval_shape(lambda: make_model(config, nnx.Rngs(0))))
  ecfg = edm.EDMConfig.from_config(config.edm, num_bins=config.eval.num_bins)

  def net_apply(params):
    model = nnx.merge(graphdef, params)
    return lambda x, c_noise, cond=None: model(x, c_noise, cond)

  # ---------------------------------------------------------------- state and shardings
  def init_params():
    return nnx.state(make_model(config, nnx.Rngs(config.seed)))

  def init_fn():
    return optim.init_train_state(init_params(), tx, config.seed + 1, ema=True)

  state_sharding = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)

  # ---------------------------------------------------------------- update
  def step_fn(state, batch, consts):
    del batch
    rng, k_data, k_loss = jax.random.split(state["rng"], 3)
    x0 = jax.lax.with_sharding_constraint(consts.sample(k_data, batch_size), data_sharding)

    def loss_fn(params):
      return edm.edm_loss(net_apply(params), x0, k_loss, config=ecfg)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (optim.apply_gradients(state, grads, tx, t.ema_decay, rng=rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  # ---------------------------------------------------------------- loop
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, consts=gmm,
                       consts_sharding=runtime.replicated_sharding(gmm, mesh),
                       meta={"config": config.to_dict()}, **runtime.loop_args(t))

  # ---------------------------------------------------------------- evaluation
  untrained = net_apply(jax.jit(init_params)())
  return evaluate(config, workdir, gmm, net_apply(result.state["ema"]), untrained, ecfg, result)


MODEL, UNTRAINED, ORACLE, FLOOR = ("model (EMA, Heun)", "untrained model, Heun",
                                   "exact denoiser, Heun", "exact samples")


def evaluate(config, workdir, gmm, apply, untrained_apply, ecfg, result) -> dict:
  """Sample-quality rows (module docstring) of the trained and the untrained model, written to
  results.json with the run's step and rate."""
  n = config.eval.num_samples
  keys = jax.random.split(jax.random.PRNGKey(config.seed + 2), 4)
  proj = metrics.random_projections(keys[0], 2, 256)
  exact = gmm.sample(keys[1], n)
  floor = gmm.sample(keys[2], n)

  @jax.jit
  def draw(key):
    heun = lambda denoise_fn: samplers.sample(denoise_fn, key, (n, 2), ecfg)
    return (heun(edm.make_denoiser(apply, ecfg.sigma_data)),
            heun(edm.make_denoiser(untrained_apply, ecfg.sigma_data)), heun(gmm.denoise_fn))

  model_x, untrained_x, oracle_x = draw(keys[3])
  rows = {}
  for name, x in ((MODEL, model_x), (UNTRAINED, untrained_x), (ORACLE, oracle_x),
                  (FLOOR, floor)):
    m = metrics.moment_errors(x, gmm.mean(), gmm.cov())
    rows[name] = {"sliced_w2": float(metrics.sliced_wasserstein(x, exact, proj)),
                  "mean_err": float(m["mean_err"]), "cov_err": float(m["cov_err"])}
  nfe = samplers.sampler_nfe("heun", ecfg.num_bins + 1)
  out = {"sliced_w2": rows[MODEL]["sliced_w2"],
         "sliced_w2_untrained": rows[UNTRAINED]["sliced_w2"],
         "sliced_w2_exact_denoiser": rows[ORACLE]["sliced_w2"],
         "sliced_w2_floor": rows[FLOOR]["sliced_w2"], "nfe": nfe,
         "num_samples": n, "steps": result.step,
         "train_steps_per_second": result.steps_per_second, "rows": rows}
  write_results(workdir, out, rows, title=f"edm2d ({config.data.mixture}): {n} samples vs exact, "
                                          f"Heun {ecfg.num_bins} bins ({nfe} NFE)")
  if jax.process_index() == 0:
    _plot(os.path.join(workdir, "samples.png"), exact, model_x)
  return out


def _plot(path, exact, model_x):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
  for ax, x, title in ((axes[0], exact, "exact"), (axes[1], model_x, "EDM model")):
    ax.scatter(*jax.device_get(x).T, s=1, alpha=0.3)
    ax.set_title(title)
    ax.set_aspect("equal")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
