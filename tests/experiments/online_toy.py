"""An online toy for the host-driven loop (not a method): streaming linear regression.

Every advance draws `NEW` fresh (x, y) pairs from a host numpy Generator, appends them to an
append-only replay buffer kept on disk in immutable segments (host state by file reference),
samples a minibatch of buffer rows with the same Generator and takes one jitted Adam step. A
counter of rows seen and the running mean of the loss are host state too. Everything the next
step depends on is in the train state or the host state, so a killed run resumed from its last
checkpoint must end with exactly the parameters of an uninterrupted one.

  python -m tests.experiments.online_toy WORKDIR NUM_STEPS [KILL_AT]   # SIGKILLs itself at KILL_AT
"""
from __future__ import annotations

import os
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import runtime

DIM, NEW, BATCH = 8, 4, 16
TRUE_W = np.linspace(-1.0, 1.0, DIM).astype(np.float32)
TX = optax.adam(3e-2)


class SegmentBuffer:
  """Append-only rows; each checkpoint writes the rows added since the last one as a new file."""

  def __init__(self):
    self.x = np.zeros((0, DIM), np.float32)
    self.y = np.zeros((0,), np.float32)
    self.segments: list[list] = []   # [file name, rows]
    self.saved = 0

  def add(self, x, y):
    self.x, self.y = np.concatenate([self.x, x]), np.concatenate([self.y, y])

  def state_dict(self, files_dir):
    if len(self.y) > self.saved:
      name = f"rows_{self.saved}_{len(self.y)}.npz"
      np.savez(os.path.join(files_dir, name), x=self.x[self.saved:], y=self.y[self.saved:])
      self.segments.append([name, len(self.y) - self.saved])
      self.saved = len(self.y)
    return {"segments": self.segments, "size": self.saved}

  def load_state_dict(self, d, files_dir):
    xs, ys = [np.zeros((0, DIM), np.float32)], [np.zeros((0,), np.float32)]
    for name, _ in d["segments"]:
      with np.load(os.path.join(files_dir, name)) as f:
        xs.append(f["x"])
        ys.append(f["y"])
    self.x, self.y = np.concatenate(xs), np.concatenate(ys)
    assert len(self.y) == d["size"]
    self.segments, self.saved = [list(s) for s in d["segments"]], d["size"]


def init_fn():
  params = {"w": jnp.zeros((DIM,)), "b": jnp.zeros(())}
  return runtime.optim.init_train_state(params, TX, 0)


@jax.jit
def update(state, x, y):
  def loss_fn(p):
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

  loss, grads = jax.value_and_grad(loss_fn)(state["params"])
  return runtime.optim.apply_gradients(state, grads, TX), {"loss": loss}


def make(kill_at: int | None = None):
  """(host objects, advance) for one run."""
  rng, buffer, stats = runtime.RngState(7), SegmentBuffer(), runtime.Counter(rows=0, loss_sum=0.0)

  def advance(state, step):
    if kill_at is not None and step == kill_at:
      os.kill(os.getpid(), signal.SIGKILL)
    g = rng.generator
    x = g.normal(size=(NEW, DIM)).astype(np.float32)
    buffer.add(x, x @ TRUE_W + 0.1 * g.normal(size=NEW).astype(np.float32))
    idx = g.integers(0, len(buffer.y), size=BATCH)
    state, m = update(state, buffer.x[idx], buffer.y[idx])
    stats["rows"] += NEW
    stats["loss_sum"] += float(m["loss"])   # a host sync, as online loops often have
    return state, dict(m, mean_loss=stats["loss_sum"] / (step + 1))

  return {"rng": rng, "buffer": buffer, "stats": stats}, advance


def train(workdir: str, num_steps: int, kill_at: int | None = None, **kw):
  host, advance = make(kill_at)
  mesh = runtime.make_mesh({"data": -1})
  sh = runtime.replicated_sharding(jax.eval_shape(init_fn), mesh)
  kw = {"log_every": 2, "checkpoint_every": 4, "async_checkpoint": False, **kw}
  result = runtime.train(workdir=workdir, mesh=mesh, init_fn=init_fn, advance=advance,
                         state_sharding=sh, num_steps=num_steps, host=host, **kw)
  return result, host


if __name__ == "__main__":
  train(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
