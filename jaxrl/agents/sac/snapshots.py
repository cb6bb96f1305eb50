"""A SAC run directory's evaluated actor snapshots and final replay buffer (one layout, two users).

  DIR/actor_<env_steps>.msgpack    the actor's parameters (flax msgpack of the pure dict)
  DIR/snapshot_<env_steps>.json    {"env_steps", "return", "return_stderr"} of its evaluation
  DIR/replay.npz                   the whole replay buffer, in collection order (optional)
  DIR/snapshots.json               the list of snapshot records: written last, it marks the run
                                   complete

A snapshot is written when its step is reached; a resumed run that redoes steps after its last
checkpoint rewrites the same files with the same bits. Dataset generation (jaxrl.behavior) reads
the directory back; experiments/trainers/sac.py writes it from the experiments loop, `train.run`
without one.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import flax.nnx as nnx
import flax.serialization
import jax
import numpy as np

from jaxrl.evaluation import EvalResult

COMPLETE = "snapshots.json"


def _replace(path: str, data: bytes) -> None:
  with open(path + ".tmp", "wb") as f:
    f.write(data)
  os.replace(path + ".tmp", path)


def save(directory: str, env_steps: int, actor: Any, result: EvalResult) -> None:
  """Writes the actor (an nnx.State) and its evaluation at `env_steps`."""
  os.makedirs(directory, exist_ok=True)
  _replace(os.path.join(directory, f"actor_{env_steps}.msgpack"),
           flax.serialization.msgpack_serialize(actor.to_pure_dict()))
  record = {"env_steps": env_steps, "return": result.mean_return,
            "return_stderr": result.stderr_return}
  _replace(os.path.join(directory, f"snapshot_{env_steps}.json"), json.dumps(record).encode())


def finish(directory: str, steps: Sequence[int], buffer: Any = None) -> list[dict]:
  """Writes replay.npz (if given a buffer) and snapshots.json (the records of `steps`, which
  must all exist); returns the records."""
  records = []
  for s in steps:
    with open(os.path.join(directory, f"snapshot_{s}.json")) as f:
      records.append(json.load(f))
  if buffer is not None:
    with open(os.path.join(directory, "replay.npz.tmp"), "wb") as f:
      np.savez(f, **buffer.data())
    os.replace(os.path.join(directory, "replay.npz.tmp"), os.path.join(directory, "replay.npz"))
  _replace(os.path.join(directory, COMPLETE), json.dumps(records, indent=1).encode())
  return records


def is_complete(directory: str) -> bool:
  return os.path.exists(os.path.join(directory, COMPLETE))


def records(directory: str) -> list[dict]:
  """[{"env_steps", "return", "return_stderr"}] of a complete run, in step order."""
  with open(os.path.join(directory, COMPLETE)) as f:
    return json.load(f)


def load_actor(directory: str, env_steps: int, abstract: Any) -> Any:
  """The actor saved at `env_steps`, as an nnx.State of numpy arrays shaped like `abstract`."""
  with open(os.path.join(directory, f"actor_{env_steps}.msgpack"), "rb") as f:
    pure = flax.serialization.msgpack_restore(f.read())
  nnx.replace_by_pure_dict(abstract, pure)
  return jax.tree.map(np.asarray, abstract)


def replay(directory: str, stop: int | None = None) -> dict[str, np.ndarray]:
  """The first `stop` rows of the saved replay buffer (all by default)."""
  with np.load(os.path.join(directory, "replay.npz")) as z:
    return {k: z[k][:stop] for k in z.files}
