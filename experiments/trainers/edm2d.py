"""EDM on a 2-D Gaussian mixture: the smallest real trainer, and a template for the others.

Sections: mesh -> data -> model -> state and shardings -> update -> loop -> evaluation.
The data are drawn inside the jitted update from the exact mixture (no host input pipeline), so
the whole run is a handful of compiled calls. Evaluation compares Heun samples of the EMA model
with exact mixture samples (sliced Wasserstein-2, mean/covariance errors) next to two references:
the same sampler driven by the mixture's exact denoiser (the sampler's own error) and a second
exact sample set (the finite-sample floor).
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
from jaxdiff import edm, metrics, samplers, toy
from jaxdiff.networks.mlp import MLPDenoiser

MIXTURES = {"ring8": lambda: toy.ring_gmm(8, radius=1.0, std=0.1), "default": toy.default_gmm}


def make_model(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> MLPDenoiser:
  return MLPDenoiser(2, hidden_dim=config.model.hidden, num_layers=config.model.depth,
                     emb_dim=config.model.emb_dim, rngs=rngs)


def edm_config(config) -> edm.EDMConfig:
  e = config.edm
  return edm.EDMConfig(sigma_min=e.sigma_min, sigma_max=e.sigma_max, rho=e.rho,
                       sigma_data=e.sigma_data, num_bins=config.eval.num_bins)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every)
  if not 0 <= config.optim.warmup_steps < t.num_steps:
    raise UserError(f"optim.warmup_steps={config.optim.warmup_steps} must be in [0, "
                    f"train.num_steps={t.num_steps})")
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
  ecfg = edm_config(config)

  def net_apply(params):
    model = nnx.merge(graphdef, params)
    return lambda x, c_noise, cond=None: model(x, c_noise, cond)

  schedule = optax.warmup_cosine_decay_schedule(0.0, config.optim.lr, config.optim.warmup_steps,
                                                config.train.num_steps)
  tx = optax.adamw(schedule, weight_decay=config.optim.weight_decay)

  # ---------------------------------------------------------------- state and shardings
  def init_fn():
    params = nnx.state(make_model(config, nnx.Rngs(config.seed)))
    return {"params": params, "ema": params, "opt": tx.init(params),
            "rng": jax.random.PRNGKey(config.seed + 1)}

  state_sharding = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)

  # ---------------------------------------------------------------- update
  def step_fn(state, batch, consts):
    del batch
    rng, k_data, k_loss = jax.random.split(state["rng"], 3)
    x0 = jax.lax.with_sharding_constraint(consts.sample(k_data, batch_size), data_sharding)

    def loss_fn(params):
      return edm.edm_loss(net_apply(params), x0, k_loss, config=ecfg)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    updates, opt = tx.update(grads, state["opt"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    d = config.optim.ema_decay
    ema = jax.tree.map(lambda e, p: d * e + (1 - d) * p, state["ema"], params)
    return ({"params": params, "ema": ema, "opt": opt, "rng": rng},
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  # ---------------------------------------------------------------- loop
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, num_steps=t.num_steps,
                       steps_per_call=t.steps_per_call, log_every=t.log_every,
                       checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints,
                       consts=gmm, consts_sharding=runtime.replicated_sharding(gmm, mesh),
                       meta={"config": config.to_dict()})

  # ---------------------------------------------------------------- evaluation
  return evaluate(config, workdir, gmm, net_apply(result.state["ema"]), ecfg, result)


def evaluate(config, workdir, gmm, apply, ecfg, result) -> dict:
  n = config.eval.num_samples
  keys = jax.random.split(jax.random.PRNGKey(config.seed + 2), 4)
  proj = metrics.random_projections(keys[0], 2, 256)
  exact = gmm.sample(keys[1], n)
  floor = gmm.sample(keys[2], n)

  @jax.jit
  def draw(key):
    model_x = samplers.sample(edm.make_denoiser(apply, ecfg.sigma_data), key, (n, 2), ecfg)
    oracle_x = samplers.sample(gmm.denoise_fn, key, (n, 2), ecfg)
    return model_x, oracle_x

  model_x, oracle_x = draw(keys[3])
  rows = {}
  for name, x in (("model (EMA, Heun)", model_x), ("exact denoiser, Heun", oracle_x),
                  ("exact samples", floor)):
    m = metrics.moment_errors(x, gmm.mean(), gmm.cov())
    rows[name] = {"sliced_w2": float(metrics.sliced_wasserstein(x, exact, proj)),
                  "mean_err": float(m["mean_err"]), "cov_err": float(m["cov_err"])}
  nfe = samplers.sampler_nfe("heun", ecfg.num_bins + 1)
  out = {"sliced_w2": rows["model (EMA, Heun)"]["sliced_w2"],
         "sliced_w2_exact_denoiser": rows["exact denoiser, Heun"]["sliced_w2"],
         "sliced_w2_floor": rows["exact samples"]["sliced_w2"], "nfe": nfe,
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
