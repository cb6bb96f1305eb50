"""RACTD speed: teacher vs student latency per action, and teacher training vs PyTorch.

  python -m experiments.bench.ractd [--dims 512,1024,2048] [--train-dims 64,128,256]
      [--train-batch 256] [--train-steps 20] [--repeats 3]

Rows:
  teacher latency   one action at batch 1: standardise obs, 80-bin Heun over a 16-action chunk
                    (159 U-Net evaluations), first action; jitted, median of `repeats` calls
  student latency   the same with the 1-step CTM student (1 evaluation)
  teacher train     our jitted teacher update (EDM loss, AdamW) on `train-batch` chunks sampled
                    inside the step from a device-resident dataset, `train-steps` per call
  torch train       the same U-Net (experiments/bench/torch_unet1d.py), EDM loss and AdamW in
                    PyTorch on the CPU (all cores), a fixed batch already in memory
Latency uses the paper's U-Net (down dims 512/1024/2048, kernel 5, hopper: obs 11, act 3); the
training comparison a smaller U-Net (CPU time), both sides the same. Last line: JSON ratios.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench.common import median_time, print_ratios, print_table
from experiments.runtime import optim
from jaxdiff import edm
from jaxrl import data as jdata
from jaxrl.ractd import data as rdata
from jaxrl.ractd import networks, policy, train

OBS, ACT, H = 11, 3, 16


def synthetic(n_episodes=50, length=200, seed=0) -> jdata.OfflineDataset:
  rng = np.random.default_rng(seed)
  n = n_episodes * length
  ends = np.arange(n) % length == length - 1
  return jdata.from_arrays({
      "observations": rng.normal(size=(n, OBS)).astype(np.float32),
      "actions": np.clip(rng.normal(size=(n, ACT)), -1, 1).astype(np.float32),
      "rewards": rng.normal(size=n).astype(np.float32), "terminals": np.zeros(n, bool),
      "timeouts": ends}, env="hopper")


def net(dims, student, emb=128, cond_emb=256):
  return networks.FunctionalNet(networks.chunk_unet(
      ACT, OBS, down_dims=dims, kernel_size=5, emb_dim=emb, cond_embed_dim=cond_emb,
      student=student, dropout_rate=0.2, seed=0))


def latency(dims, repeats):
  ecfg = edm.EDMConfig()
  out = {}
  for who in ("teacher", "student"):
    n = net(dims, who == "student")
    sample = policy.make_sampler(who, n, (H, ACT), ecfg, num_bins=80, steps=1)
    pol = policy.chunk_policy(sample, np.zeros(OBS, np.float32), np.ones(OBS, np.float32))
    out[who] = policy.seconds_per_action(pol, n.init_params, OBS, repeats=repeats,
                                         min_seconds=0.0)
  return out, networks.param_count(net(dims, False).init_params)


def jax_train_rate(dims, batch, steps, repeats):
  prep = rdata.prepare(synthetic(), "chunks", H)
  n = net(dims, False, emb=64, cond_emb=128)
  tx = optim.make_optimizer(optim.optim_config(lr=1e-4), 10 ** 6)   # AdamW, like torch's side
  init, step = train.make_teacher(prep, n, train.Stage(batch_size=batch, tx=tx), edm.EDMConfig(),
                                  0)

  def multi(state, data):
    return jax.lax.scan(lambda s, _: step(s, None, data), state, None, length=steps)

  fn = jax.jit(multi, donate_argnums=0)
  state = [jax.jit(init)()]

  def go():
    state[0], m = fn(state[0], prep.data)
    jax.block_until_ready(m)

  return steps / median_time(go, repeats=repeats)


def torch_train_rate(dims, batch, steps, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  from experiments.bench.torch_unet1d import TorchUnet1D, edm_loss
  torch.manual_seed(0)
  model = TorchUnet1D(ACT, OBS, dims, emb=64, cond_emb=128)
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
  x0 = torch.randn(batch, H, ACT).clamp(-1, 1)
  cond = torch.randn(batch, OBS)

  def go():
    for _ in range(steps):
      opt.zero_grad(set_to_none=True)
      loss = edm_loss(model, x0, cond)
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)
      opt.step()

  return steps / median_time(go, repeats=repeats), torch.get_num_threads()


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--dims", default="512,1024,2048")
  p.add_argument("--train-dims", default="64,128,256")
  p.add_argument("--train-batch", type=int, default=256)
  p.add_argument("--train-steps", type=int, default=20)
  p.add_argument("--repeats", type=int, default=3)
  a = p.parse_args()
  dims = tuple(int(x) for x in a.dims.split(","))
  tdims = tuple(int(x) for x in a.train_dims.split(","))
  t0 = time.perf_counter()
  lat, nparams = latency(dims, a.repeats)
  ours = jax_train_rate(tdims, a.train_batch, a.train_steps, a.repeats)
  theirs, threads = torch_train_rate(tdims, a.train_batch, a.train_steps, a.repeats)
  rows = [
      ("teacher latency (80-bin Heun, 159 NFE)", f"U-Net {a.dims} ({nparams / 1e6:.1f}M)",
       "s/action", lat["teacher"]),
      ("student latency (CTM, 1 NFE)", f"U-Net {a.dims}", "s/action", lat["student"]),
      ("teacher train, jaxrl.ractd", f"U-Net {a.train_dims}, batch {a.train_batch}", "steps/s",
       ours),
      (f"teacher train, PyTorch ({threads} threads)", f"U-Net {a.train_dims}, batch "
       f"{a.train_batch}", "steps/s", theirs),
  ]
  print_table(f"RACTD speed ({time.perf_counter() - t0:.0f} s)", ("what", "setting", "unit",
                                                                  "value"), rows)
  print_ratios({"student_speedup": lat["teacher"] / lat["student"],
                "teacher_train_jax_vs_torch": ours / theirs})


if __name__ == "__main__":
  main()
