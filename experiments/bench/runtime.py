"""Runtime overhead: experiments.runtime.run vs a bare jax.jit loop over the same step and batch.

  python -m experiments.bench.runtime [--steps 2000] [--repeats 5]

Both sides run the same MLP-regression update (hidden 512, batch 256) on a device-resident batch.
The bare loop calls a donated `jax.jit(step)` once per update and blocks at the end; the runtime
runs its full loop (scan of `steps_per_call` updates, NaN check and metrics every 100 steps,
progress line, final checkpoint excluded from the timed span). Medians after a warm-up run.
Ratio = runtime seconds per update / bare seconds per update (target <= 1.05).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import runtime
from experiments.bench.common import median_time, print_ratios, print_table

HIDDEN, BATCH, DIM = 512, 256, 64


def _init():
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
  params = {"w1": jax.random.normal(k1, (DIM, HIDDEN)) / 8, "w2": jax.random.normal(k2, (HIDDEN, HIDDEN)) / 22,
            "w3": jax.random.normal(k3, (HIDDEN, 1)) / 22}
  return {"params": params, "opt": optax.adam(1e-3).init(params)}


def _step(state, batch, consts):
  x, y = consts if batch is None else batch

  def loss_fn(p):
    h = jax.nn.gelu(x @ p["w1"])
    h = jax.nn.gelu(h @ p["w2"])
    return jnp.mean((h @ p["w3"] - y) ** 2)

  loss, g = jax.value_and_grad(loss_fn)(state["params"])
  upd, opt = optax.adam(1e-3).update(g, state["opt"], state["params"])
  return {"params": optax.apply_updates(state["params"], upd), "opt": opt}, {
      "loss": loss, "grad_norm": optax.global_norm(g)}


def _batch():
  rs = np.random.default_rng(0)
  x = rs.normal(size=(BATCH, DIM)).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(np.sin(x.sum(1, keepdims=True)).astype(np.float32))


def bare_loop(steps: int) -> float:
  consts = _batch()
  step = jax.jit(lambda s, c: _step(s, None, c), donate_argnums=0)
  state = jax.jit(_init)()
  state, m = step(state, consts)  # compile outside the timing
  jax.block_until_ready(m)

  def go():
    nonlocal state
    for _ in range(steps):
      state, m = step(state, consts)
    jax.block_until_ready(m)

  return median_time(go, repeats=ARGS.repeats) / steps


def runtime_loop(steps: int, steps_per_call: int) -> float:
  consts = _batch()
  mesh = runtime.make_mesh({"data": -1})
  sh = runtime.replicated_sharding(jax.eval_shape(_init), mesh)
  rates = []

  def go():
    with tempfile.TemporaryDirectory() as wd, contextlib.redirect_stdout(io.StringIO()):
      res = runtime.run(workdir=wd, mesh=mesh, init_fn=_init, step_fn=_step, state_sharding=sh,
                        num_steps=steps + steps_per_call * 10, steps_per_call=steps_per_call,
                        log_every=100, checkpoint_every=0, consts=consts)
    rates.append(res.steps_per_second)

  for _ in range(ARGS.repeats + 1):
    go()
  return 1.0 / float(np.median(rates[1:]))


def main():
  bare = bare_loop(ARGS.steps)
  rows, ratios = [], {}
  for k in (1, 10):
    ours = runtime_loop(ARGS.steps, k)
    rows.append([f"runtime.run (steps_per_call={k})", ours * 1e6, bare * 1e6, ours / bare])
    ratios[f"runtime_over_bare_k{k}"] = ours / bare
  print_table(f"runtime loop vs bare jax.jit loop ({ARGS.steps} updates, MLP {HIDDEN}, batch {BATCH})",
              ["loop", "us/update", "bare us/update", "ratio"], rows)
  print_ratios(ratios)


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--steps", type=int, default=2000)
  p.add_argument("--repeats", type=int, default=5)
  ARGS = p.parse_args()
  main()
