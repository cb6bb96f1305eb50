"""The training loop: one host-driven loop for offline and online training.

`train(...)` is the loop every trainer runs on. A method supplies
  init_fn()                -> state               (a pytree, the train state; raw uint32 PRNG keys;
                                                   layout in optim.py)
  advance(state, step)     -> (state, metrics)    (steps [step, step + steps_per_call): whatever the
                                                   method does between two loop ticks, on the host
                                                   and on devices: collect with the current policy,
                                                   score, store, update)
and optionally `host={"name": obj}`: objects with `state_dict(files_dir)` / `load_state_dict(d,
files_dir)` (host_state.py) holding what lives outside the train state -- data cursors, numpy
Generators, environments mid-episode, replay buffers (by file reference), curriculum statistics,
finished-episode keys.

The loop owns:
  restore-or-init  the latest checkpoint in `workdir/<checkpoint_subdir>` gives the train state
                   (onto `state_sharding`, whatever mesh saved it) and the host state saved with
                   it; otherwise `init_fn` under jit with `out_shardings=state_sharding`.
  cadence          log every `log_every`, evaluate every `eval_every`, checkpoint every
                   `checkpoint_every` steps (multiples of `steps_per_call`) and at the end; the
                   last `keep_checkpoints` are kept; host state is saved with each checkpoint.
  preemption       SIGTERM (or a TPU preemption notice) saves a checkpoint and raises Preempted
                   (experiments.main exits 143); a SIGKILLed run loses at most `checkpoint_every`
                   steps and, rerun, ends where an uninterrupted run ends.
  NaN/Inf guard    any non-finite floating metric stops the run with NonFiniteError naming the
                   step, before that state is saved. A metric named NONFINITE_STEP (an int,
                   -1 if all finite) gives the exact step when advance runs several updates.
  metrics          every `log_every` steps, advance's metrics from the last call go to
                   `workdir/metrics.jsonl` and TensorBoard (prefixed `<name>/`), and a progress
                   line with steps/s and ETA is printed.
  no host sync     between log / checkpoint boundaries the loop never reads a device value: the
                   metrics stay on device until a boundary (advance itself may sync, e.g. to act).

`run(...)` is the offline client: pure `step_fn(state, batch, consts)` updates, `steps_per_call`
of them scanned in one jitted call with explicit shardings and the state donated, over host
batches `get_batch(step)` (a pure function of the step, so a resumed run sees the same data) or
device-resident `consts` that step_fn samples from with the state's key.
"""
from __future__ import annotations

import dataclasses
import signal
import threading
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from experiments.errors import NonFiniteError, Preempted, UserError
from experiments.runtime import host_state as host_lib
from experiments.runtime import mesh as mesh_lib
from experiments.runtime import paths
from experiments.runtime.checkpoint import Checkpointer, abstract_like
from experiments.runtime.metrics import MetricWriter, Progress

StepFn = Callable[[Any, Any, Any], tuple[Any, dict]]
AdvanceFn = Callable[[Any, int], tuple[Any, dict]]
NONFINITE_STEP = "nonfinite_step"


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


def loop_args(t: Mapping[str, Any]) -> dict[str, Any]:
  """The loop's keyword arguments from a config's `train` section (the fields every trainer
  passes): num_steps, steps_per_call, log_every, checkpoint_every, keep_checkpoints and,
  when present, eval_every."""
  keys = ("num_steps", "steps_per_call", "log_every", "checkpoint_every", "keep_checkpoints",
          "eval_every")
  return {k: t[k] for k in keys if k in t}


def _files_dir(workdir: str, subdir: str, name: str) -> str:
  d = paths.join(workdir, f"{subdir}_files", name)
  paths.makedirs(d)
  return d


def _save_host(host: Mapping[str, Any], workdir: str, subdir: str) -> dict[str, Any]:
  return {n: host_lib.encode(obj.state_dict(_files_dir(workdir, subdir, n)))
          for n, obj in host.items()}


def _load_host(host: Mapping[str, Any], saved: Mapping[str, Any] | None, workdir: str,
               subdir: str, where: str) -> None:
  saved = saved or {}
  missing = [n for n in host if n not in saved]
  if missing:
    raise UserError(f"checkpoint {where} has no host state for {', '.join(missing)} (it was "
                    "written by a different trainer or version); use a new --workdir to start "
                    "fresh")
  for n, obj in host.items():
    try:
      obj.load_state_dict(host_lib.decode(saved[n]), _files_dir(workdir, subdir, n))
    except (OSError, ValueError, KeyError, TypeError) as e:
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      raise UserError(f"checkpoint {where}: host state {n!r} cannot be restored "
                      f"({type(e).__name__}: {first}); its files under "
                      f"{_files_dir(workdir, subdir, n)} are missing or damaged: delete {where} "
                      "to resume from an older checkpoint, or use a new --workdir") from e


def train(*, workdir: str, mesh: Mesh, init_fn: Callable[[], Any], advance: AdvanceFn,
          state_sharding: Any, num_steps: int, steps_per_call: int = 1,
          host: Mapping[str, Any] | None = None, log_every: int = 100,
          checkpoint_every: int = 1000, keep_checkpoints: int = 3,
          eval_fn: Callable[[Any, int], dict] | None = None, eval_every: int = 0,
          stop_fn: Callable[[], bool] | None = None,
          progress_keys: tuple[str, ...] | None = None, name: str = "train", checkpoint_subdir: str = "checkpoints",
          writer: MetricWriter | None = None, meta: dict | None = None,
          async_checkpoint: bool = True) -> LoopResult:
  """Advances from the latest checkpoint in `workdir` (or from init_fn) up to `num_steps`.

  See the module docstring. `stop_fn()` (e.g. early stopping on a validation metric, its state
  kept as host state) is asked before every call: True ends the run there with a checkpoint, and
  a rerun that restores that state stops at once. `progress_keys` picks the metrics the progress
  line shows (default: all; every metric is written either way). With several processes, host state must agree
  across processes (process 0's is the one saved).
  """
  k = int(steps_per_call)
  check_schedule(num_steps, k, log_every=log_every, checkpoint_every=checkpoint_every,
                 eval_every=eval_every)
  host = dict(host or {})
  ckpt = Checkpointer(workdir, keep=keep_checkpoints, async_save=async_checkpoint,
                      subdir=checkpoint_subdir)
  own_writer = writer is None
  writer = writer or MetricWriter(workdir)

  # ------------------------------------------------------------------ state: restore or init
  start = ckpt.latest_step()
  if start is not None:
    abstract = abstract_like(jax.eval_shape(init_fn), state_sharding)
    state, saved_meta = ckpt.restore(abstract, start)
    _load_host(host, saved_meta.get("host"), workdir, checkpoint_subdir, ckpt.step_path(start))
    print(f"[{name}] resumed from {ckpt.step_path(start)}", flush=True)
  else:
    start = 0
    state = jax.jit(init_fn, out_shardings=state_sharding)()
  if start >= num_steps:
    ckpt.close()
    if own_writer:
      writer.close()
    return LoopResult(state, start, start, float("nan"), {})

  # ------------------------------------------------------------------ guard, save
  progress = Progress(num_steps, start, name=name)
  pending: list[tuple[int, Any]] = []   # (first step of the call, its metrics), unchecked
  last_saved = start
  metrics: dict = {}

  def raise_if_bad():
    if not pending:
      return
    fetched = jax.device_get([m for _, m in pending])
    calls = [s for s, _ in pending]
    pending.clear()
    for s0, m in zip(calls, fetched):
      bad = _first_bad(m, s0 + k)
      if bad is not None:
        ckpt.wait()
        latest = ckpt.latest_step()
        where = (f"the last good checkpoint, step {latest}, is intact in {ckpt.directory}"
                 if latest is not None else "no checkpoint was written")
        raise NonFiniteError(f"[{name}] non-finite loss or gradient at step {bad}; {where}; "
                             "lower the learning rate or check the data, then rerun to resume")

  def save(at):
    nonlocal last_saved
    raise_if_bad()
    saved_host = _save_host(host, workdir, checkpoint_subdir) if host else None
    ckpt.save(at, state, dict(meta or {}, name=name), host=saved_host)
    last_saved = at

  # ------------------------------------------------------------------ loop
  t_first = t_end = None
  s_first = step = start
  with _SigtermFlag() as sigterm:
    try:
      while step < num_steps:
        if stop_fn is not None and stop_fn():
          print(f"[{name}] stopped early at step {step}", flush=True)
          break
        state, m = advance(state, step)
        pending.append((step, m))
        step += k
        if t_first is None:
          jax.block_until_ready(m)
          t_first, s_first = time.perf_counter(), step
        if step % log_every == 0 or step == num_steps:
          raise_if_bad()
          logged = {n: v for n, v in m.items() if n != NONFINITE_STEP}
          metrics = writer.write(step, logged, prefix=f"{name}/")
          t_end = time.perf_counter()
          shown = {n.split("/", 1)[-1]: v for n, v in metrics.items()}
          if progress_keys is not None:
            shown = {k: shown[k] for k in progress_keys if k in shown}
          progress.update(step, shown)
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

  # Rate over the calls after the first (compiling) one, up to the final metrics fetch.
  elapsed = t_end - t_first if t_first is not None and t_end is not None else 0.0
  rate = (step - s_first) / elapsed if elapsed > 0 and step > s_first else float("nan")
  return LoopResult(state, step, start, rate, metrics)


def _first_bad(m: Mapping[str, Any], call_end: int) -> int | None:
  """The step a call's (fetched) metrics name as non-finite, or None when all are finite."""
  if NONFINITE_STEP in m:
    bad = int(m[NONFINITE_STEP])
    return bad if bad >= 0 else None
  for v in jax.tree.leaves(dict(m)):
    a = np.asarray(v)
    if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
      return call_end
  return None


def run(*, workdir: str, mesh: Mesh, init_fn: Callable[[], Any], step_fn: StepFn,
        state_sharding: Any, num_steps: int, steps_per_call: int = 1,
        get_batch: Callable[[int], Any] | None = None, consts: Any = None,
        consts_sharding: Any = None, **loop_kwargs: Any) -> LoopResult:
  """Offline training on the loop: `steps_per_call` pure updates per jitted lax.scan.

  `loop_kwargs` are `train`'s (log_every, checkpoint_every, host, eval_fn, name, ...).
  """
  k = int(steps_per_call)
  check_schedule(num_steps, k)
  repl = mesh_lib.replicated(mesh)
  if get_batch is not None:
    batch_sh = jax.tree.map(lambda _: mesh_lib.batch_sharding(mesh, leading=1), get_batch(0))
  else:
    batch_sh = None
  if consts is not None and consts_sharding is None:
    consts_sharding = jax.tree.map(lambda x: getattr(x, "sharding", repl), consts)
  multi = jax.jit(make_multi_step(step_fn, k),
                  in_shardings=(state_sharding, batch_sh, consts_sharding, repl),
                  out_shardings=(state_sharding, repl, repl), donate_argnums=0)

  def advance(state, step):
    batches = None
    if get_batch is not None:
      per_step = [get_batch(step + i) for i in range(k)]
      batches = mesh_lib.put_batch(jax.tree.map(lambda *xs: np.stack(xs), *per_step), mesh,
                                   leading=1)
    state, bad, metrics = multi(state, batches, consts, np.int32(step))
    return state, dict(metrics, **{NONFINITE_STEP: bad})

  return train(workdir=workdir, mesh=mesh, init_fn=init_fn, advance=advance,
               state_sharding=state_sharding, num_steps=num_steps, steps_per_call=k,
               **loop_kwargs)
