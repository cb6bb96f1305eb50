"""LADiBI trainer: `config.stage` "prior" trains the text-conditioned image prior, "restore" runs
blind restoration with it (experiments/trainers/ladibi_restore.py).

Prior sections: mesh -> data (jit-side scenes or device-resident crops, degradation banks) ->
model -> state and shardings -> update (EDM loss with prompt dropout on partly degraded,
re-captioned images) -> loop -> sample grids. The data are drawn inside the jitted update, so the
run is a handful of compiled calls, sharded over the mesh's data axis.
"""
from __future__ import annotations

import json
import os

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import optim, paths
from jaxdiff import edm, guidance, images, samplers
from jaxdiff.images import captions
from jaxdiff.ladibi import augment, operators
from jaxdiff.networks.unet2d import ImageUNet


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  if config.stage == "prior":
    return train_prior(config, workdir)
  if config.stage == "restore":
    from experiments.trainers import ladibi_restore
    return ladibi_restore.restore_and_evaluate(config, workdir)
  raise UserError(f"config.stage must be 'prior' or 'restore', got '{config.stage}'")


# ------------------------------------------------------------------------------------ pieces
def make_dataset(config: ml_collections.ConfigDict):
  d = config.data
  try:
    if d.name == "folder":
      return images.get_dataset("folder", d.size, config.seed, path=d.path or None,
                                caption_file=d.caption_file or None, prompt=d.prompt or None)
    return images.get_dataset(d.name, d.size, config.seed)
  except ValueError as e:
    raise UserError(f"config.data: {e}") from e


def make_model(config: ml_collections.ConfigDict, max_len: int, rngs: nnx.Rngs) -> ImageUNet:
  m = config.model
  return ImageUNet(3, channels=tuple(m.channels), num_res_blocks=m.num_res_blocks,
                   attn_levels=tuple(m.attn_levels), emb_dim=m.emb_dim,
                   text_vocab_size=len(captions.VOCAB) + captions.OFFSET, text_len=max_len,
                   text_dim=m.text_dim, text_layers=m.text_layers, num_heads=m.num_heads,
                   dropout=m.dropout, rngs=rngs)


def make_banks(config: ml_collections.ConfigDict, dataset) -> augment.Banks:
  """Motion kernels and real JPEG round-trips (Pillow, on host) of train-split images."""
  a = config.augment
  motion = operators.motion_kernels(jax.random.PRNGKey(config.seed + 11), a.motion_bank,
                                    a.kernel_size, 0.5)
  n = int(a.jpeg_bank)
  if n == 0:
    size = config.data.size
    return augment.Banks(motion, jnp.zeros((0, size, size, 3)), jnp.zeros((0, dataset.max_len),
                                                                         jnp.int32))
  from jaxdiff.ladibi import jpeg
  clean, ids = jax.jit(dataset.sample, static_argnums=1)(jax.random.PRNGKey(config.seed + 12), n)
  q = np.random.default_rng(config.seed).integers(a.jpeg_quality[0], a.jpeg_quality[1] + 1, n)
  jpg = np.concatenate([jpeg.jpeg_roundtrip(np.asarray(clean[i:i + 1]), int(q[i]))
                        for i in range(n)])
  return augment.Banks(motion, jnp.asarray(jpg, jnp.float32), ids)


def net_apply_fn(graphdef):
  def net_apply(params, deterministic=True):
    model = nnx.merge(graphdef, params)
    if deterministic:
      model.eval()
    else:
      model.train()
    return lambda x, c_noise, cond=None: model(x, c_noise, cond)
  return net_apply


def denoiser(graphdef, params, sigma_data: float):
  """D(x, sigma, ids) of a trained prior (eval mode: no dropout)."""
  return edm.make_denoiser(net_apply_fn(graphdef)(params), sigma_data)


# ------------------------------------------------------------------------------------ prior
def prior_trainer(config: ml_collections.ConfigDict, mesh):
  """(init_fn, step_fn, consts, graphdef, dataset, EDMConfig) of the prior stage on `mesh`:
  step_fn(state, None, consts) draws a batch inside the step, sharded over the data axis."""
  t = config.train
  tx = optim.make_optimizer(config.optim, t.num_steps)
  data_sharding = runtime.batch_sharding(mesh)
  # ---------------------------------------------------------------- data
  dataset = make_dataset(config)
  banks = make_banks(config, dataset)
  batch_size = config.data.batch_size
  a = config.augment
  # ---------------------------------------------------------------- model
  ecfg = edm.EDMConfig.from_config(config.edm)
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: make_model(config, dataset.max_len,
                                                            nnx.Rngs(0))))

  # ---------------------------------------------------------------- state
  def init_params():
    return nnx.state(make_model(config, dataset.max_len, nnx.Rngs(config.seed)))

  def init_fn():
    return optim.init_train_state(init_params(), tx, config.seed + 1, ema=True)

  # ---------------------------------------------------------------- update
  def step_fn(state, batch, consts):
    del batch
    ds, bk = consts
    rng, k_data, k_deg, k_drop, k_loss, k_dropout = jax.random.split(state["rng"], 6)
    x0, ids = ds.sample(k_data, batch_size)
    x0, ids, _ = augment.degrade_batch(k_deg, x0, ids, bk, fraction=a.degrade_fraction,
                                       blur_sigma=tuple(a.blur_sigma))
    ids = guidance.drop_prompts(k_drop, ids, a.prompt_dropout)
    x0 = jax.lax.with_sharding_constraint(x0, data_sharding)
    ids = jax.lax.with_sharding_constraint(ids, data_sharding)

    def loss_fn(params):
      model = nnx.merge(graphdef, params)
      model.train()
      if config.model.dropout > 0:
        nnx.reseed(model, dropout=k_dropout)
      return edm.edm_loss(lambda x, c, cond: model(x, c, cond), x0, k_loss, ids, ecfg)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    return (optim.apply_gradients(state, grads, tx, t.ema_decay, rng=rng),
            {"loss": loss, "grad_norm": optax.global_norm(grads)})

  return init_fn, step_fn, (dataset, banks), graphdef, dataset, ecfg


def train_prior(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every)
  mesh = runtime.make_mesh(config.mesh)
  init_fn, step_fn, consts, graphdef, dataset, ecfg = prior_trainer(config, mesh)
  state_sharding = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, consts=consts,
                       consts_sharding=runtime.replicated_sharding(consts, mesh),
                       meta={"config": config.to_dict()}, **runtime.loop_args(t))
  return evaluate_prior(config, workdir, dataset, graphdef, result.state["ema"], ecfg, result)


def evaluate_prior(config, workdir, dataset, graphdef, params, ecfg, result) -> dict:
  """Heun samples for held-out val captions (plain, and with a degradation as the negative
  prompt), the val images themselves, and the held-out denoising loss of EMA vs untrained."""
  g = config.eval.grid
  n = g * g
  val_x, val_ids, texts = dataset.fixed_set("val", n)
  val_x, val_ids = jnp.asarray(val_x), jnp.asarray(val_ids)
  d = denoiser(graphdef, params, ecfg.sigma_data)
  neg = jnp.asarray(captions.encode([captions.DEGRADATION_PROMPTS["gaussian_blur"]] * n,
                                    dataset.max_len))
  null = jnp.zeros_like(val_ids)
  grid = edm.EDMConfig.from_config(config.edm, num_bins=config.eval.num_bins)
  w = config.eval.guidance

  @jax.jit
  def draw(key):
    shape = val_x.shape
    cond_null = samplers.sample(guidance.cfg_denoiser(d, w), key, shape, grid,
                                cond=(val_ids, null))
    cond_neg = samplers.sample(guidance.cfg_denoiser(d, w), key, shape, grid,
                               cond=(val_ids, neg))
    return cond_null, cond_neg

  key = jax.random.PRNGKey(config.seed + 3)
  with_null, with_neg = draw(key)

  @jax.jit
  def val_loss(p, key):
    return edm.edm_loss(net_apply_fn(graphdef)(p), val_x, key, val_ids, ecfg)

  losses = [float(val_loss(params, jax.random.fold_in(key, i))) for i in range(4)]
  out = {"steps": result.step, "train_steps_per_second": result.steps_per_second,
         "val_edm_loss": float(np.mean(losses)), "guidance": w,
         "grid_captions": texts[:g]}
  rows = {"EMA prior": {"val_edm_loss": out["val_edm_loss"]}}
  write_results(workdir, out, rows, title=f"ladibi prior ({dataset.name}, {config.data.size}px)")
  if jax.process_index() == 0:
    save_grid(os.path.join(workdir, "samples.png"), [val_x, with_null, with_neg],
              ["held-out val images", f"samples, their captions (CFG {w})",
               f"samples, negative prompt 'blurry' (CFG {w})"], g)
    paths.write_text(os.path.join(workdir, "samples_captions.json"), json.dumps(texts, indent=1))
  return out


def save_grid(path: str, panels, titles, g: int) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.3))
  for ax, x, title in zip(np.atleast_1d(axes), panels, titles):
    x = np.clip((np.asarray(x[:g * g]) + 1) / 2, 0, 1)
    s = x.shape[1]
    tile = x.reshape(g, g, s, s, 3).transpose(0, 2, 1, 3, 4).reshape(g * s, g * s, 3)
    ax.imshow(tile, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
