"""Process-level start-up: multi-host initialisation and the persistent compilation cache.

Multi-host start (`jax.distributed.initialize`) happens when the launch says so:
- Cloud TPU pod slices: `tpu/launch.sh` sets JAXRESEARCH_DISTRIBUTED=1 (GKE sets
  TPU_WORKER_HOSTNAMES); we call `jax.distributed.initialize()` with no arguments and JAX finds
  the other workers itself (TPU metadata).
- Multi-node GPU: JAX_COORDINATOR_ADDRESS (host:port), JAX_NUM_PROCESSES, JAX_PROCESS_ID; or SLURM
  (SLURM_NTASKS > 1), which JAX's cluster detection reads. See docs/multinode_gpu.md.
A single process (laptop, one GPU host) initialises nothing.
"""
from __future__ import annotations

import os

import jax
from absl import logging

from experiments.errors import UserError

_initialized = False


def _tpu_pod() -> bool:
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  return len([h for h in hosts.split(",") if h]) > 1


def maybe_initialize_distributed() -> bool:
  """Starts jax.distributed when launched as one of several processes. Returns True if it did."""
  global _initialized
  if _initialized:
    return True
  env = os.environ
  if "JAX_COORDINATOR_ADDRESS" in env:
    missing = [k for k in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID") if k not in env]
    if missing:
      raise UserError(f"JAX_COORDINATOR_ADDRESS is set but {', '.join(missing)} is not; "
                      "set all three (see docs/multinode_gpu.md)")
    jax.distributed.initialize(coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
                               num_processes=int(env["JAX_NUM_PROCESSES"]),
                               process_id=int(env["JAX_PROCESS_ID"]))
  elif (env.get("JAXRESEARCH_DISTRIBUTED") == "1" or int(env.get("SLURM_NTASKS", "1")) > 1
        or _tpu_pod()):
    jax.distributed.initialize()
  else:
    return False
  _initialized = True
  logging.info("jax.distributed: process %d of %d, %d local / %d global devices",
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
  return True


def enable_compilation_cache(path: str | None = None) -> str | None:
  """Turns on JAX's persistent compilation cache (reruns and resumes skip recompiling).

  Path: the argument, else $JAX_COMPILATION_CACHE_DIR, else ~/.cache/jaxresearch/xla.
  An empty string disables it.
  """
  if path is None:
    path = os.environ.get("JAX_COMPILATION_CACHE_DIR",
                          os.path.join(os.path.expanduser("~"), ".cache", "jaxresearch", "xla"))
  if not path:
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
