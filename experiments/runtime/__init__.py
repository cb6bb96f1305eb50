"""Runtime shared by every trainer: mesh, multi-host start, checkpoints, metrics, the loop."""
from experiments.runtime.checkpoint import Checkpointer, abstract_like
from experiments.runtime.loop import LoopResult, check_schedule, make_multi_step, run
from experiments.runtime.mesh import (batch_sharding, fsdp_sharding, make_mesh, put_batch,
                                      replicated, replicated_sharding)
from experiments.runtime.metrics import MetricWriter, Progress, read_metrics
from experiments.runtime.platform import enable_compilation_cache, maybe_initialize_distributed
