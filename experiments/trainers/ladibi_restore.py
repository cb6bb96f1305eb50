"""LADiBI restoration stage: held-out images, a task's degradation, every method, metrics, strips.

Sections: prior (load from `restore.prior_dir`, or train it there first) -> held-out images and
their captions -> the task (true operator, measurements, blind operator family) -> methods, each
one jitted call per batch of images -> metrics (PSNR, SSIM, perceptual distance, kernel error;
mean +- standard error over images) -> results.json, a printed table and strips.png.

Methods (`restore.methods`):
  degraded    the measurement itself
  ladibi      Algorithm 2 (operator initialisation) then Algorithm 1 (refinement)
  nonblind    the same refinement with the true operator held fixed (the upper bound)
  prior_only  the guided prior from the noised measurement, no measurement steps (what the prompt
              alone buys)
  classical   blind Richardson-Lucy (alternating image / kernel updates; blur tasks only)

The JPEG task's measurements are Pillow round-trips of the images (host, before the jitted
calls); its blind operator is a JPEGNet pretrained on a range of qualities (`jpeg_operators`).
"""
from __future__ import annotations

import json
import os
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import optim, paths
from experiments.trainers import ladibi as prior_lib
from jaxdiff import edm, guidance, image_metrics
from jaxdiff.images import captions
from jaxdiff.ladibi import classical, posterior, tasks

METHODS = ("degraded", "ladibi", "nonblind", "prior_only", "classical")
NEGATIVE_KIND = {"gaussian-deblur": "gaussian_blur", "motion-deblur": "motion_blur",
                 "jpeg": "jpeg"}


# ------------------------------------------------------------------------------------ prior
def load_prior(config: ml_collections.ConfigDict, workdir: str):
  """(graphdef, EMA params, prior config, dataset) from restore.prior_dir, trained first if it
  holds no checkpoint."""
  r = config.restore
  prior_dir = r.prior_dir or paths.join(workdir, "prior")
  cfg_path = paths.join(prior_dir, "config.json")
  if paths.exists(cfg_path):
    pcfg = ml_collections.ConfigDict(json.loads(paths.read_text(cfg_path)))
  else:
    if r.prior_dir and paths.exists(r.prior_dir):
      raise UserError(f"restore.prior_dir={r.prior_dir} holds no config.json; point it at a "
                      "ladibi prior stage's workdir")
    from experiments.configs import ladibi as ladibi_configs
    pcfg = ladibi_configs.get_config(r.prior_preset)
    pcfg.seed = config.seed
    paths.makedirs(prior_dir)
    paths.write_text(cfg_path, pcfg.to_json_best_effort(indent=2, sort_keys=True))
  ckpt = runtime.Checkpointer(prior_dir)
  done = ckpt.latest_step() is not None and ckpt.latest_step() >= pcfg.train.num_steps
  ckpt.close()
  if not done:
    print(f"[ladibi] training the prior ({r.prior_preset}) in {prior_dir}", flush=True)
    prior_lib.train_prior(pcfg, prior_dir)
  dataset = prior_lib.make_dataset(pcfg)
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: prior_lib.make_model(pcfg, dataset.max_len,
                                                                     nnx.Rngs(0))))
  tx = optim.make_optimizer(pcfg.optim, pcfg.train.num_steps)

  def init_fn():
    params = nnx.state(prior_lib.make_model(pcfg, dataset.max_len, nnx.Rngs(0)))
    return optim.init_train_state(params, tx, 0, ema=True)

  mesh = runtime.make_mesh(config.mesh)
  sharding = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
  ckpt = runtime.Checkpointer(prior_dir)
  state, _ = ckpt.restore(runtime.abstract_like(jax.eval_shape(init_fn), sharding))
  ckpt.close()
  return graphdef, state["ema"], pcfg, dataset


# ------------------------------------------------------------------------------------ run
def restore_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  r = config.restore
  methods = [m for m in r.methods.split(",") if m]
  bad = [m for m in methods if m not in METHODS]
  if bad:
    raise UserError(f"restore.methods: unknown {bad}; valid: {', '.join(METHODS)}")
  if r.task not in tasks.BLUR_TASKS + ("jpeg",):
    raise UserError(f"restore.task='{r.task}' is unknown; valid: "
                    f"{', '.join(tasks.BLUR_TASKS + ('jpeg',))}")
  if r.task == "jpeg" and "classical" in methods:
    raise UserError("restore.methods: 'classical' is a blind deblurring baseline; drop it for "
                    "restore.task=jpeg")
  if r.num_images % r.batch:
    raise UserError(f"restore.num_images={r.num_images} must be a multiple of "
                    f"restore.batch={r.batch}")
  pcfg_post = posterior.PosteriorConfig.from_config(config.posterior)
  graphdef, params, pcfg, dataset = load_prior(config, workdir)
  sigma_data = pcfg.edm.sigma_data
  denoise = guidance.cfg_denoiser(prior_lib.denoiser(graphdef, params, sigma_data),
                                  pcfg_post.guidance)
  # ---------------------------------------------------------------- images and prompts
  x_all, ids_all, texts = dataset.fixed_set(r.split, r.num_images)
  if r.positive != "caption":
    ids_all = captions.encode([r.positive] * r.num_images, dataset.max_len)
  neg_text = captions.DEGRADATION_PROMPTS[NEGATIVE_KIND[r.task]] if r.negative == "degradation" \
      else r.negative
  neg_all = captions.encode([neg_text] * r.num_images, dataset.max_len)
  perceptual = image_metrics.perceptual_distance

  # ---------------------------------------------------------------- JPEG: measurements, nets
  # host-side task inputs, sliced per batch into the jitted calls: JPEG measurements (Pillow) and
  # motion kernels (drawn by numpy); the Gaussian task draws everything inside the call
  host = {}
  if r.task == "jpeg":
    from jaxdiff.ladibi import jpeg
    host["y"] = jpeg.jpeg_roundtrip(x_all, r.jpeg_quality)
    jpeg_nets = jpeg_operators(config, workdir, dataset)
  elif r.task == "motion-deblur":
    from jaxdiff.ladibi import operators
    host["kernels"] = np.asarray(operators.motion_kernels(
        jax.random.PRNGKey(r.seed + 1000), r.num_images, r.kernel_size, r.motion_intensity))

  # ---------------------------------------------------------------- methods (one jit each)
  def task_of(key, x, given):
    if r.task == "jpeg":
      return tasks.jpeg_task(given["y"], *jpeg_nets)
    return tasks.blur_task(key, x, r.task, kernel_size=r.kernel_size, sigma_y=r.sigma_y,
                           gaussian_sigma=r.gaussian_sigma, motion_intensity=r.motion_intensity,
                           kernel_param=r.kernel_param, kernel_init_sigma=r.kernel_init_sigma,
                           kernels=given.get("kernels"))

  def run_method(name, key, x, given, ids, neg):
    k_task, k_run = jax.random.split(key)
    t = task_of(k_task, x, given)
    kernel_of = t.kernel_of or (lambda phi: None)
    cond = (ids, neg)
    out = {"y": t.y, "k_true": t.kernel_true}
    if name == "degraded":
      out["x"] = t.y
    elif name == "ladibi":
      res = posterior.restore(k_run, t.y, cond, t.phi0, denoise, t.op, pcfg_post,
                              perceptual=perceptual)
      out.update(x=res["x"], kernel=kernel_of(res["phi"]), kernel_init=kernel_of(res["phi_init"]))
    elif name == "nonblind":
      out["x"] = posterior.restore_nonblind(k_run, t.y, cond, t.phi_true, denoise,
                                            t.op_true or t.op,
                                            pcfg_post, perceptual=perceptual)
    elif name == "prior_only":
      k_start, k_s = jax.random.split(k_run)
      start = t.y + pcfg_post.sigma_start * jax.random.normal(k_start, t.y.shape)
      out["x"], _ = posterior.sample(k_s, start, t.y, cond, t.phi0, denoise, t.op, pcfg_post,
                                     num_steps=pcfg_post.num_steps, guide=False,
                                     update_phi=False)
    elif name == "classical":
      xk, kern = classical.blind_richardson_lucy(t.y, r.kernel_size, iters=r.classical_iters)
      out.update(x=xk, kernel=kern)
    return out

  keys = jax.random.split(jax.random.PRNGKey(r.seed), r.num_images // r.batch)
  outputs, seconds = {}, {}

  def batch(sl):
    return (jnp.asarray(x_all[sl]), {k: jnp.asarray(v[sl]) for k, v in host.items()},
            jnp.asarray(ids_all[sl]), jnp.asarray(neg_all[sl]))

  for name in methods:
    fn = jax.jit(lambda key, x, given, ids, neg, name=name: run_method(name, key, x, given, ids,
                                                                       neg))
    parts, t0 = [], None
    for i, key in enumerate(keys):
      out = fn(key, *batch(slice(i * r.batch, (i + 1) * r.batch)))
      jax.block_until_ready(out)
      if i == 0:
        t0 = time.perf_counter()  # timing excludes the first (compiling) batch
      parts.append(jax.device_get(out))
    if len(keys) == 1:  # one batch: time a second run of it
      t0 = time.perf_counter()
      jax.block_until_ready(fn(keys[0], *batch(slice(0, r.batch))))
    seconds[name] = (time.perf_counter() - t0) / (max(len(keys) - 1, 1) * r.batch)
    outputs[name] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]
                     if parts[0][k] is not None}
    print(f"[ladibi] {name}: done ({seconds[name]:.2f} s/image)", flush=True)

  # ---------------------------------------------------------------- metrics
  x_true = jnp.asarray(x_all)
  rows, per_image = {}, {}
  for name, out in outputs.items():
    x = jnp.clip(jnp.asarray(out["x"]), -1, 1)
    per = {"psnr": image_metrics.psnr(x, x_true), "ssim": image_metrics.ssim(x, x_true),
           "perceptual": image_metrics.perceptual_distance(x, x_true)}
    if "kernel" in out:
      per["kernel_rel_l2"] = image_metrics.kernel_error(out["kernel"], out["k_true"])["rel_l2"]
    per_image[name] = {m: np.asarray(v, np.float64).round(5).tolist() for m, v in per.items()}
    row = {}
    for m, v in per.items():
      v = np.asarray(v, np.float64)
      row[m] = float(v.mean())
      row[m + "_se"] = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    row["seconds_per_image"] = seconds[name]
    if name in ("ladibi", "nonblind"):
      row["nfe"] = posterior.nfe(pcfg_post, blind=name == "ladibi")
    elif name == "prior_only":
      row["nfe"] = posterior.nfe(pcfg_post, blind=False)
    rows[name] = row
  result = {"task": r.task, "split": r.split, "num_images": r.num_images, "seed": r.seed,
            "positive": r.positive, "negative": neg_text, "rows": rows, "per_image": per_image}
  write_results(workdir, result, rows,
                title=f"ladibi {r.task}: {r.num_images} {r.split} images, seed {r.seed}")
  if jax.process_index() == 0:
    save_strips(os.path.join(workdir, "strips.png"), x_all, outputs, r.strips)
  return result


def jpeg_operators(config: ml_collections.ConfigDict, workdir: str, dataset):
  """((graphdef, params) of the blind JPEGNet, (graphdef, params) of the true codec).

  The blind net: codec base at `restore.jpeg_base_quality` (fixed tables), residual trained
  for `restore.jpeg_net_steps` on Pillow round-trips of train-split images at qualities drawn
  from `restore.jpeg_train_quality` -- "a strong JPEG of unknown quality"; cached in
  <workdir>/jpeg_net.msgpack. The true operator: the differentiable codec at the measurement's
  quality with a zero residual (jaxdiff.ladibi.jpeg.jpeg_model, ~47 dB from Pillow)."""
  from flax import serialization
  from jaxdiff.ladibi import jpeg
  r = config.restore
  kw = dict(quality=r.jpeg_base_quality)
  graphdef, params = jpeg.init_jpeg_net(jax.random.PRNGKey(config.seed + 21), **kw)
  path = paths.join(workdir, "jpeg_net.msgpack")
  if paths.exists(path):
    with open(path, "rb") as f:
      pure = serialization.from_bytes(nnx.to_pure_dict(params), f.read())
    nnx.replace_by_pure_dict(params, pure)
  else:
    sample = jax.jit(lambda k: dataset.sample(k, 16)[0])
    t0 = time.perf_counter()
    params = jpeg.train_jpeg_net(
        jax.random.PRNGKey(config.seed + 22), sample, tuple(r.jpeg_train_quality),
        steps=r.jpeg_net_steps, net_kwargs=kw,
        log_fn=lambda step, loss: print(f"[ladibi] jpeg net step {step}: loss {loss:.2e}",
                                        flush=True))
    print(f"[ladibi] jpeg net trained in {time.perf_counter() - t0:.0f} s", flush=True)
    paths.makedirs(workdir)
    with open(path + ".tmp", "wb") as f:  # atomic: an interrupted write leaves no cache
      f.write(serialization.to_bytes(nnx.to_pure_dict(params)))
    os.replace(path + ".tmp", path)
  true = jpeg.init_jpeg_net(jax.random.PRNGKey(0), quality=r.jpeg_quality)
  return (graphdef, params), true


def save_strips(path: str, x_true, outputs: dict, n: int) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  cols = list(outputs) + ["truth"]
  n = min(n, len(x_true))
  fig, axes = plt.subplots(n, len(cols), figsize=(1.6 * len(cols), 1.6 * n), squeeze=False)
  for i in range(n):
    for j, c in enumerate(cols):
      img = x_true[i] if c == "truth" else outputs[c]["x"][i]
      axes[i, j].imshow(np.clip((np.asarray(img) + 1) / 2, 0, 1), interpolation="nearest")
      axes[i, j].axis("off")
      if i == 0:
        axes[i, j].set_title(c, fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
