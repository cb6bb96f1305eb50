"""Runtime shared by every trainer: mesh, multi-host start, checkpoints, metrics, the loop."""
from experiments.runtime.checkpoint import Checkpointer, abstract_like
from experiments.runtime.loop import (NONFINITE_STEP, LoopResult, check_schedule, loop_args,
                                      make_multi_step, run, train)
from experiments.runtime import host_state, optim
from experiments.runtime.host_state import Counter, RngState
from experiments.runtime.mesh import (batch_sharding, fsdp_sharding, make_mesh, put_batch,
                                      replicated, replicated_sharding)
from experiments.runtime.metrics import MetricWriter, Progress, read_metrics
from experiments.runtime.platform import enable_compilation_cache, maybe_initialize_distributed
