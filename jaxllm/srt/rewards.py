"""SRT's reward functions for `jaxllm.rl.OnlineRL`, and the collapse diagnostics of each batch.

    fn = RewardSpec(kind="self_consistency", min_majority=0.0, soft=False).build(problems)
    scored = fn(batch_problems, rollouts)      # Scored(rewards [B], kl_mask [B], metrics)

Kinds:
  ground_truth      reward 1 when the boxed answer equals the hidden label (the baseline).
  self_consistency  SRT: agreement with the group's own majority answer (`jaxllm.rewards.vote`);
                    min_majority / soft as there; unlabelled groups get reward 0 and no KL term.
  pseudo_label      offline pseudo-labels: agreement with a label fixed before RL (the frozen base
                    model's majority answer per prompt; `labels` maps problem key -> answer).

`online_keep_fraction` < 1 is the online mitigation: only the batch's most confident prompts (by
majority share) train (`Scored.sample_mask`).

Whatever the kind, the hidden labels are read for the **monitors only** (never for the SRT
rewards): the metrics every step are the paper's collapse diagnostics --
  sc/labelled_fraction       prompts labelled by self-consistency (pass min_majority)
  sc/correct_label_fraction  prompts whose majority equals the hidden truth (over all prompts)
  sc/self_label_accuracy     of the labelled prompts, the fraction correctly labelled
  gt/accuracy                ground-truth accuracy of the batch's rollouts
  sc/majority_share          the majority's mean share of its group
  sc/distinct_majorities     distinct majority answers across the batch's prompts
  sc/top_answer_share        the share of all rollouts held by the batch's most common answer
  sc/no_answer_fraction      rollouts without a boxed answer
  pass_rate/hist_k           prompts whose ground-truth pass rate falls in bin k of 5
(response length and entropy come from the update's metrics).
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Mapping, Sequence

import numpy as np

from jaxllm.reasoning import Problem, score
from jaxllm.rewards import vote
from jaxllm.rewards.equivalence import equivalent
from jaxllm.rl import Rollouts, Scored
from jaxllm.srt.curriculum import online_keep_mask

KINDS = ("ground_truth", "self_consistency", "pseudo_label")
HIST_BINS = 5


@dataclasses.dataclass(frozen=True)
class RewardSpec:
  kind: str = "self_consistency"
  min_majority: float = 0.0
  soft: bool = False
  online_keep_fraction: float = 1.0   # < 1: train only on the batch's most confident prompts

  def validate(self) -> None:
    if self.kind not in KINDS:
      raise ValueError(f"unknown reward kind {self.kind!r}; valid: {', '.join(KINDS)}")
    if not 0.0 <= self.min_majority <= 1.0:
      raise ValueError(f"min_majority={self.min_majority} must be in [0, 1]")
    if not 0.0 < self.online_keep_fraction <= 1.0:
      raise ValueError(f"online_keep_fraction={self.online_keep_fraction} must be in (0, 1]")

  def build(self, labels: Mapping[str, str] | None = None):
    """The reward function; `labels` (problem key -> pseudo-label) for kind pseudo_label."""
    self.validate()
    if self.kind == "pseudo_label" and labels is None:
      raise ValueError("pseudo_label rewards need labels (the base model's majority answers)")

    def reward_fn(problems: Sequence[Problem], rollouts: Rollouts) -> Scored:
      return score_batch(self, problems, rollouts, labels)

    return reward_fn


def score_batch(spec: RewardSpec, problems: Sequence[Problem], rollouts: Rollouts,
                labels: Mapping[str, str] | None = None) -> Scored:
  groups = rollouts.groups()
  assert len(groups) == len(problems), (len(groups), len(problems))
  rewards, kl_mask, votes, correct = [], [], [], []
  for problem, texts in zip(problems, groups):
    v = vote(texts, spec.min_majority, spec.soft)
    votes.append(v)
    truth = np.array([score(problem, a) for a in v.answers])
    correct.append(truth)
    if spec.kind == "ground_truth":
      rewards.append(truth)
      kl_mask.append(np.ones(len(texts), bool))
    elif spec.kind == "self_consistency":
      rewards.append(np.asarray(v.rewards))
      kl_mask.append(np.full(len(texts), v.labelled))
    else:
      label = (labels or {}).get(problem.key)
      rewards.append(np.array([1.0 if equivalent(a, label) else 0.0 for a in v.answers]))
      kl_mask.append(np.full(len(texts), label is not None))
  metrics = diagnostics(problems, votes, correct)
  sample_mask = None
  if spec.online_keep_fraction < 1.0:
    sample_mask = online_keep_mask(votes, spec.online_keep_fraction, rollouts.group_size)
    metrics["sc/kept_fraction"] = float(sample_mask.mean())
  return Scored(np.concatenate(rewards).astype(np.float32), np.concatenate(kl_mask), metrics,
                sample_mask)


def diagnostics(problems: Sequence[Problem], votes, correct: Sequence[np.ndarray]
                ) -> dict[str, float]:
  """The collapse diagnostics of one batch (module docstring)."""
  labelled = np.array([v.labelled for v in votes])
  right = np.array([v.majority is not None and score(p, v.majority) == 1.0
                    for p, v in zip(problems, votes)])
  answers = [a for v in votes for a in v.answers]
  counts = collections.Counter(a for a in answers if a is not None)
  pass_rates = np.array([c.mean() for c in correct])
  hist, _ = np.histogram(pass_rates, bins=HIST_BINS, range=(0.0, 1.0))
  out = {"sc/labelled_fraction": float(labelled.mean()),
         "sc/correct_label_fraction": float(right.mean()),
         "sc/self_label_accuracy": float(right[labelled].mean()) if labelled.any() else 0.0,
         "gt/accuracy": float(np.concatenate(correct).mean()),
         "sc/majority_share": float(np.mean([v.majority_fraction for v in votes])),
         "sc/distinct_majorities": float(len({v.majority for v in votes
                                              if v.majority is not None})),
         "sc/top_answer_share": (counts.most_common(1)[0][1] / len(answers)) if counts else 0.0,
         "sc/no_answer_fraction": float(np.mean([a is None for a in answers]))}
  out.update({f"pass_rate/hist_{k}": float(h) / len(problems) for k, h in enumerate(hist)})
  return out
