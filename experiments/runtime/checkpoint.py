"""Preemption-safe checkpoints with orbax: save every N steps, keep the last K, resume by rerunning.

Layout: `workdir/checkpoints/<step>/{state,meta,host}`. `state` is the train-state pytree (arrays
saved sharded, restored onto whatever mesh the restoring run uses); `meta` is JSON (step, config,
the run's name); `host` is JSON too: the host state of an online loop (data cursors, numpy RNG
states, environments, buffer file references; see host_state.py), absent when there is none.

Safety:
- orbax writes each step into a temporary directory and renames it when complete, so a run killed
  mid-save leaves the previous checkpoints untouched; an unfinished directory is never "latest".
- old checkpoints are deleted only after a newer one is finalised.
- the training loop never saves a state that produced a NaN/Inf (see loop.py).
- a checkpoint that cannot be read raises CheckpointError naming the path and how to start fresh.

Train states must hold raw uint32 PRNG keys (jax.random.PRNGKey / key_data), not typed keys.
"""
from __future__ import annotations

from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging

from experiments.errors import CheckpointError
from experiments.runtime import paths


def abstract_like(tree: Any, shardings: Any | None = None) -> Any:
  """ShapeDtypeStructs (with target shardings, if given) to restore into."""
  if shardings is None:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=getattr(x, "sharding", None)), tree)
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      tree, shardings)


def _check_no_typed_keys(tree: Any):
  for path, x in jax.tree_util.tree_leaves_with_path(tree):
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
      raise TypeError(f"state leaf {jax.tree_util.keystr(path)} is a typed PRNG key; store "
                      "jax.random.key_data(key) (raw uint32) in train states")


class Checkpointer:
  """Orbax CheckpointManager with the conventions above."""

  def __init__(self, workdir: str, *, keep: int = 3, async_save: bool = True,
               subdir: str = "checkpoints"):
    self.directory = paths.absolute(paths.join(workdir, subdir))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True)
    self._mngr = ocp.CheckpointManager(self.directory, options=options,
                                       item_names=("state", "meta", "host"))

  # ---------------------------------------------------------------- queries
  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._mngr.all_steps())

  def step_path(self, step: int) -> str:
    return paths.join(self.directory, str(step))

  def reached_preemption(self, step: int) -> bool:
    """True when the TPU runtime has announced a preemption (multi-host only)."""
    try:
      return bool(self._mngr.reached_preemption(step))
    except Exception:  # noqa: BLE001 -- not available without jax.distributed
      return False

  # ---------------------------------------------------------------- save / restore
  def save(self, step: int, state: Any, meta: dict | None = None,
           host: dict | None = None) -> None:
    """Starts saving `state` (and the JSON `host` state) at `step` (async); a step that exists
    already is left alone."""
    if step in self._mngr.all_steps():
      return
    _check_no_typed_keys(state)
    meta = dict(meta or {}, step=int(step))
    items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
    if host is not None:
      items["host"] = ocp.args.JsonSave(host)
    self._mngr.save(step, args=ocp.args.Composite(**items), force=True)

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict]:
    """Restores (state, meta) at `step` (default latest) onto the shardings in `abstract_state`.

    meta["host"] holds the saved host state, when the checkpoint has one."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    path = self.step_path(step)
    items = {"state": ocp.args.StandardRestore(abstract_state), "meta": ocp.args.JsonRestore()}
    if paths.exists(paths.join(path, "host")):
      items["host"] = ocp.args.JsonRestore()
    try:
      restored = self._mngr.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # noqa: BLE001 -- any failure here means this checkpoint is unusable
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      older = [s for s in self.all_steps() if s < step]
      hint = (f"delete {path} to resume from step {older[-1]}" if older else f"delete {path}")
      raise CheckpointError(
          f"checkpoint {path} cannot be restored ({type(e).__name__}: {first}); it is truncated, "
          f"corrupt or from a different model/config: {hint}, or use a new --workdir to start "
          "fresh") from e
    logging.info("restored checkpoint %s", path)
    meta = dict(restored["meta"])
    if "host" in items:
      meta["host"] = restored["host"]
    return restored["state"], meta

  def wait(self) -> None:
    self._mngr.wait_until_finished()

  def close(self) -> None:
    self._mngr.wait_until_finished()
    self._mngr.close()
