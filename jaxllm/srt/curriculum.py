"""SRT's mitigations that choose prompts, and the early-stopping rule.

Offline curriculum: rank the RL prompts by the frozen base model's majority share (how confident
its votes are) and keep the easiest `fraction` (the authors: a third) for the whole run.
Online filter: in each batch keep the top `keep_fraction` of prompts by their majority share;
the others are dropped from the update (sample mask), as if never drawn.
Early stopping: stop when the labelled validation accuracy has not improved for `patience`
evaluations; the run reports the test accuracy of the best-validation checkpoint.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from jaxllm.reasoning import Problem
from jaxllm.rewards import GroupVote


def easiest(problems: Sequence[Problem], votes: Sequence[GroupVote],
            fraction: float) -> list[Problem]:
  """The `fraction` of problems with the highest base-model majority share (stable order)."""
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f"curriculum fraction {fraction} must be in (0, 1]")
  share = np.array([v.majority_fraction for v in votes])
  keep = max(1, int(round(fraction * len(problems))))
  order = np.argsort(-share, kind="stable")[:keep]
  return [problems[i] for i in sorted(order)]


def online_keep_mask(votes: Sequence[GroupVote], keep_fraction: float, group_size: int
                     ) -> np.ndarray:
  """[P * n] bool: the rollouts of the top keep_fraction prompts by majority share."""
  if not 0.0 < keep_fraction <= 1.0:
    raise ValueError(f"online keep_fraction {keep_fraction} must be in (0, 1]")
  share = np.array([v.majority_fraction for v in votes])
  keep = max(1, int(round(keep_fraction * len(votes))))
  chosen = np.zeros(len(votes), bool)
  chosen[np.argsort(-share, kind="stable")[:keep]] = True
  return np.repeat(chosen, group_size)


@dataclasses.dataclass
class EarlyStopping:
  """Host state: the best validation accuracy so far, its step, evaluations since."""
  patience: int = 0            # 0: never stop
  best: float = -1.0
  best_step: int = -1
  since: int = 0

  def update(self, value: float, step: int) -> bool:
    """Records a validation value; True when training should stop."""
    if value > self.best:
      self.best, self.best_step, self.since = value, step, 0
    else:
      self.since += 1
    return bool(self.patience) and self.since >= self.patience

  def state_dict(self, files_dir: str) -> dict:
    del files_dir
    return dataclasses.asdict(self)

  def load_state_dict(self, d: dict, files_dir: str) -> None:
    del files_dir
    for k, v in d.items():
      setattr(self, k, v)
