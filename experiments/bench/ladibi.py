"""LADiBI speed: the prior's training steps/s against the same U-Net in PyTorch.

  python -m experiments.bench.ladibi [--preset prior-smoke] [--batch 32] [--steps 5] [--repeats 3]
  python -m experiments.bench.ladibi --conv     # one 3x3 conv, fwd + both grads, per variant

Rows:
  prior train, jaxdiff   the prior stage's jitted update (EDM loss with prompt dropout, AdamW, EMA) on
                         `batch` captioned 32 px scenes rendered inside the step, `steps` per call
  prior train, PyTorch   the same U-Net and text encoder (experiments/bench/torch_unet2d.py), EDM
                         loss and AdamW on the CPU (all cores), a fixed batch already in memory
Last line: JSON ratios. Restoration time per image and NFE, LADiBI against the non-blind sampler,
are measured by the restore stage itself: every `restore-<task>` run times each method (excluding
its compiling first batch) into the `seconds_per_image` and `nfe` columns of results.json.
"""
from __future__ import annotations

import argparse
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from experiments import runtime
from experiments.bench.common import median_time, print_ratios, print_table
from experiments.configs import ladibi as ladibi_config
from experiments.trainers import ladibi as trainer
from jaxdiff.images import captions


def jax_train_rate(config, steps, repeats):
  """The prior stage's own update (experiments/trainers/ladibi.prior_trainer), `steps` per
  jitted lax.scan, on one device."""
  init_fn, step_fn, consts, graphdef, dataset, _ = trainer.prior_trainer(
      config, runtime.make_mesh({"data": 1}, jax.devices()[:1]))

  def multi(state, consts):
    return jax.lax.scan(lambda s, _: step_fn(s, None, consts), state, None, length=steps)

  fn = jax.jit(multi, donate_argnums=0)
  state = [jax.jit(init_fn)()]
  model = nnx.merge(graphdef, jax.device_get(state[0]["params"]))  # torch copies these weights

  def go():
    state[0], metrics = fn(state[0], consts)
    jax.block_until_ready(metrics)

  return steps / median_time(go, repeats=repeats), model, dataset


def torch_train_rate(config, jax_model, dataset, steps, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.bench.torch_unet2d import TorchImageUNet, edm_loss, load_jax_params
  m = config.model
  net = TorchImageUNet(3, channels=tuple(m.channels), num_res_blocks=m.num_res_blocks,
                       attn_levels=tuple(m.attn_levels), emb_dim=m.emb_dim,
                       text_vocab_size=len(captions.VOCAB) + captions.OFFSET,
                       text_len=dataset.max_len, text_dim=m.text_dim, text_layers=m.text_layers,
                       num_heads=m.num_heads, dropout=m.dropout)
  load_jax_params(net, jax_model)
  opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.0)
  x0, ids = jax.jit(dataset.sample, static_argnums=1)(jax.random.PRNGKey(0),
                                                      config.data.batch_size)
  x0, ids = torch.tensor(np.asarray(x0)), torch.tensor(np.asarray(ids))
  net.train()

  def go():
    for _ in range(steps):
      opt.zero_grad(set_to_none=True)
      loss = edm_loss(net, x0, ids)
      loss.backward()
      torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
      opt.step()

  return steps / median_time(go, repeats=repeats), torch.get_num_threads()


def conv_rates(repeats, b=32, h=32, c=96, o=32, steps=10):
  """ms per fwd + both grads of one 3x3 conv [b, h, h, c] -> o: im2col (ours) and bf16 im2col
  inside a lax.scan, XLA's native conv as a bare jit (inside a scan it falls to a naive loop),
  PyTorch's oneDNN conv."""
  import torch  # pylint: disable=g-import-not-at-top
  from jaxdiff.networks.conv2d import unfold_conv2d
  x = jax.random.normal(jax.random.PRNGKey(0), (b, h, h, c))
  w = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (3, 3, c, o))
  pads = ((1, 1), (1, 1))
  variants = {
      "im2col": lambda x, w: unfold_conv2d(x, w, (1, 1), pads),
      "im2col bf16 (f32 accumulation)": lambda x, w: unfold_conv2d(
          x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), (1, 1), pads,
          preferred_element_type=jnp.float32),
      "native": lambda x, w: jax.lax.conv_general_dilated(
          x, w, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))}
  out = {}
  for name, f in variants.items():
    grad = jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
    if name == "native":
      g = jax.jit(grad)
      fn = lambda: jax.block_until_ready(g(x, w))
      n = 1
    else:
      def loop(x, w, grad=grad):
        def body(carry, _):
          dx, dw = grad(*carry)
          return (carry[0] + 1e-6 * dx, carry[1] + 1e-6 * dw), None
        return jax.lax.scan(body, (x, w), None, length=steps)[0]
      lp = jax.jit(loop)
      fn = lambda lp=lp: jax.block_until_ready(lp(x, w))
      n = steps
    out[f"{name} ({'bare jit' if n == 1 else 'in lax.scan'})"] = 1e3 * median_time(
        fn, repeats=repeats) / n
  xt = torch.randn(b, c, h, h, requires_grad=True)
  wt = torch.randn(o, c, 3, 3, requires_grad=True)

  def go():
    for _ in range(steps):
      (torch.nn.functional.conv2d(xt, wt, padding=1) ** 2).sum().backward()

  out[f"PyTorch oneDNN ({torch.get_num_threads()} threads)"] = (
      1e3 * median_time(go, repeats=repeats) / steps)
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--preset", default="prior-smoke")
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--conv", action="store_true", help="the one-conv comparison only")
  a = p.parse_args()
  if a.conv:
    rates = conv_rates(a.repeats)
    print_table("one 3x3 conv [32, 32, 32, 96] -> 32, fwd + both grads",
                ("variant", "unit", "value"), [(k, "ms", v) for k, v in rates.items()])
    print_ratios({"im2col_vs_torch": rates[next(iter(rates))] /
                  rates[[k for k in rates if k.startswith("PyTorch")][0]]})
    return
  config = ladibi_config.get_config(a.preset)
  config.data.batch_size = a.batch
  t0 = time.perf_counter()
  ours, model, dataset = jax_train_rate(config, a.steps, a.repeats)
  theirs, threads = torch_train_rate(config, model, dataset, a.steps, a.repeats)
  m = config.model
  setting = (f"U-Net {tuple(m.channels)} x{m.num_res_blocks}, {config.data.size}px, "
             f"batch {a.batch}")
  rows = [("prior train, jaxdiff", setting, "steps/s", ours),
          (f"prior train, PyTorch ({threads} threads)", setting, "steps/s", theirs)]
  ratios = {"prior_train_jax_vs_torch": ours / theirs}
  print_table(f"LADiBI speed ({time.perf_counter() - t0:.0f} s)",
              ("what", "setting", "unit", "value"), rows)
  print_ratios(ratios)


if __name__ == "__main__":
  main()
