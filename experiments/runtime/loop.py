"""The training loop a method plugs its step into.

A method supplies pure functions:
  init_fn()                          -> state            (a pytree; raw uint32 PRNG keys)
  step_fn(state, batch, consts)      -> (state, metrics) (one update; metrics: dict of scalars)
and optionally `get_batch(step) -> host batch` (a pytree of numpy arrays, a pure function of the
step so a resumed run sees the same data) and `consts` (device-resident data such as a replay
dataset that step_fn samples from with the state's key).

The loop jits `steps_per_call` updates as one lax.scan with explicit in/out shardings and the
state donated, resumes from the latest checkpoint in the workdir, saves every `checkpoint_every`
steps and at the end, logs metrics every `log_every` steps (the mean over the last call's updates),
prints a progress line, stops with NonFiniteError naming the step when any metric (loss, gradient
norm) is NaN/Inf -- without saving that state -- and on SIGTERM saves a checkpoint and raises
Preempted. There is no host sync in between log/checkpoint boundaries.
"""
from __future__ import annotations

import dataclasses
import signal
import threading
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from experiments.errors import NonFiniteError, Preempted, UserError
from experiments.runtime import mesh as mesh_lib
from experiments.runtime.checkpoint import Checkpointer, abstract_like
from experiments.runtime.metrics import MetricWriter, Progress

StepFn = Callable[[Any, Any, Any], tuple[Any, dict]]


@dataclasses.dataclass
class LoopResult:
  state: Any
  step: int
  start_step: int          # where this process started (0, or the restored step)
  steps_per_second: float  # measured after the first (compiling) call; nan if too few calls
  last_metrics: dict


class _SigtermFlag:
  """Records SIGTERM instead of dying, so the loop can checkpoint first (main thread only)."""

  def __init__(self):
    self.set = False
    self._previous = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):  # noqa: ARG002
    self.set = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _all_finite(metrics: dict) -> jax.Array:
  flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(metrics)
           if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def make_multi_step(step_fn: StepFn, steps_per_call: int) -> Callable:
  """(state, batches, consts, step0) -> (state, first_bad_step or -1, mean metrics) via lax.scan."""

  def multi_step(state, batches, consts, step0):
    def body(carry, batch):
      st, bad, i = carry
      st, m = step_fn(st, batch, consts)
      bad = jnp.where((bad < 0) & ~_all_finite(m), step0 + i, bad)
      return (st, bad, i + 1), m

    init = (state, jnp.array(-1, jnp.int32), jnp.array(0, jnp.int32))
    (state, bad, _), ms = jax.lax.scan(body, init, batches, length=steps_per_call)
    return state, bad, jax.tree.map(lambda x: jnp.mean(x, axis=0), ms)

  return multi_step


def check_schedule(num_steps: int, steps_per_call: int, **every: int) -> None:
  """UserError unless num_steps and each `*_every` interval are multiples of steps_per_call."""
  for name, n in every.items():
    if n and n % steps_per_call:
      raise UserError(f"{name}={n} must be a multiple of steps_per_call={steps_per_call}")
  if num_steps % steps_per_call:
    raise UserError(f"num_steps={num_steps} must be a multiple of steps_per_call={steps_per_call}")


def run(*, workdir: str, mesh: Mesh, init_fn: Callable[[], Any], step_fn: StepFn,
        state_sharding: Any, num_steps: int, steps_per_call: int = 1, log_every: int = 100,
        checkpoint_every: int = 1000, keep_checkpoints: int = 3,
        get_batch: Callable[[int], Any] | None = None, consts: Any = None,
        consts_sharding: Any = None, eval_fn: Callable[[Any, int], dict] | None = None,
        eval_every: int = 0, name: str = "train", checkpoint_subdir: str = "checkpoints",
        writer: MetricWriter | None = None, meta: dict | None = None,
        async_checkpoint: bool = True) -> LoopResult:
  """Trains from the latest checkpoint in `workdir` (or from init_fn) up to `num_steps`."""
  k = int(steps_per_call)
  check_schedule(num_steps, k, log_every=log_every, checkpoint_every=checkpoint_every,
                   eval_every=eval_every)
  ckpt = Checkpointer(workdir, keep=keep_checkpoints, async_save=async_checkpoint,
                      subdir=checkpoint_subdir)
  own_writer = writer is None
  writer = writer or MetricWriter(workdir)
  repl = mesh_lib.replicated(mesh)

  # ------------------------------------------------------------------ state: restore or init
  start = ckpt.latest_step()
  if start is not None:
    abstract = abstract_like(jax.eval_shape(init_fn), state_sharding)
    state, _ = ckpt.restore(abstract, start)
    print(f"[{name}] resumed from {ckpt.step_path(start)}", flush=True)
  else:
    start = 0
    state = jax.jit(init_fn, out_shardings=state_sharding)()
  if start >= num_steps:
    ckpt.close()
    if own_writer:
      writer.close()
    return LoopResult(state, start, start, float("nan"), {})

  # ------------------------------------------------------------------ compile the update
  if get_batch is not None:
    batch_sh = jax.tree.map(lambda _: mesh_lib.batch_sharding(mesh, leading=1), get_batch(start))
  else:
    batch_sh = None
  if consts is not None and consts_sharding is None:
    consts_sharding = jax.tree.map(lambda x: getattr(x, "sharding", repl), consts)
  multi = jax.jit(make_multi_step(step_fn, k),
                  in_shardings=(state_sharding, batch_sh, consts_sharding, repl),
                  out_shardings=(state_sharding, repl, repl), donate_argnums=0)

  def host_batches(step):
    if get_batch is None:
      return None
    per_step = [get_batch(step + i) for i in range(k)]
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *per_step)
    return mesh_lib.put_batch(stacked, mesh, leading=1)

  # ------------------------------------------------------------------ loop
  progress = Progress(num_steps, start, name=name)
  pending_bad: list[jax.Array] = []
  last_saved = start
  metrics: dict = {}
  t_first = t_end = None
  s_first = start
  step = start

  def raise_if_bad():
    bads = [int(b) for b in jax.device_get(pending_bad)]
    pending_bad.clear()
    bad = [b for b in bads if b >= 0]
    if bad:
      ckpt.wait()
      latest = ckpt.latest_step()
      where = (f"the last good checkpoint, step {latest}, is intact in {ckpt.directory}"
               if latest is not None else "no checkpoint was written")
      raise NonFiniteError(f"[{name}] non-finite loss or gradient at step {bad[0]}; {where}; "
                           "lower the learning rate or check the data, then rerun to resume")

  def save(at):
    nonlocal last_saved
    raise_if_bad()
    ckpt.save(at, state, dict(meta or {}, name=name))
    last_saved = at

  with _SigtermFlag() as sigterm:
    try:
      while step < num_steps:
        batches = host_batches(step)
        state, bad, metrics_dev = multi(state, batches, consts, np.int32(step))
        pending_bad.append(bad)
        step += k
        if t_first is None:
          jax.block_until_ready(bad)
          t_first, s_first = time.perf_counter(), step
        if step % log_every == 0 or step == num_steps:
          raise_if_bad()
          metrics = writer.write(step, metrics_dev, prefix=f"{name}/")
          t_end = time.perf_counter()
          progress.update(step, {k_.split("/", 1)[-1]: v for k_, v in metrics.items()})
        if eval_fn is not None and eval_every and step % eval_every == 0:
          raise_if_bad()
          writer.write(step, eval_fn(state, step), prefix=f"{name}_eval/")
        if checkpoint_every and step % checkpoint_every == 0:
          save(step)
        preempt = sigterm.set or ckpt.reached_preemption(step)
        if jax.process_count() > 1 and step % log_every == 0:
          from jax.experimental import multihost_utils
          preempt = bool(np.any(multihost_utils.process_allgather(np.array(preempt))))
        if preempt:
          if last_saved != step:
            save(step)
          ckpt.wait()
          raise Preempted(f"[{name}] preempted at step {step}: checkpoint saved in "
                          f"{ckpt.directory}; rerun the same command to resume")
      if last_saved != step:
        save(step)
      ckpt.wait()
    finally:
      ckpt.close()
      if own_writer:
        writer.close()

  # Rate over the updates after the first (compiling) call, up to the final metrics fetch.
  elapsed = t_end - t_first if t_first is not None and t_end is not None else 0.0
  rate = (step - s_first) / elapsed if elapsed > 0 and step > s_first else float("nan")
  return LoopResult(state, step, start, rate, metrics)
