"""Soft actor-critic (Haarnoja et al. 2018, v2) in the D4RL recipe, laid out like brax's agents.

  networks.py   actor and twin critics as apply functions of their parameters, scaled policies
  losses.py     TD target, critic / actor / temperature losses, Polyak update (pure)
  buffer.py     the append-only replay buffer, saved as immutable segment files
  train.py      configs, the train-state dict, the update (a lax.scan of them), host-side
                collection (`OnlineSAC.advance`) and a checkpoint-free `run`
  snapshots.py  a run directory's evaluated actor snapshots and final buffer

experiments/trainers/sac.py runs `OnlineSAC.advance` on the experiments loop (checkpoints,
resume, SIGTERM); jaxrl.behavior builds D4RL-style datasets from the snapshots.
"""
from jaxrl.agents.sac.buffer import ReplayBuffer
from jaxrl.agents.sac.networks import SACNetworks, make_networks, scaled_policy, stepper
from jaxrl.agents.sac.train import (Collector, OnlineSAC, SACConfig, SACTrainConfig, init_state,
                                    make_update, make_update_many, run)

__all__ = ["Collector", "OnlineSAC", "ReplayBuffer", "SACConfig", "SACNetworks",
           "SACTrainConfig", "init_state", "make_networks", "make_update", "make_update_many",
           "run", "scaled_policy", "stepper"]
