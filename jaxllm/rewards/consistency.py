"""SRT's self-consistency reward and the ground-truth reward, per prompt group of n rollouts.

Self-consistency (no labels). Each rollout's final answer is extracted (`extract_boxed`); votes
count the **raw extracted strings** (unparsable rollouts do not vote); the majority is
`Counter.most_common(1)`, so on a tie the answer seen first in the group's order wins. A rollout's
reward is 1 when its answer is mathematically equivalent to the majority (`equivalent`), else 0;
no answer -> 0. Options:
  min_majority  the majority's share of the group's n rollouts must reach this fraction, else
                every reward of the group is 0 and the group is **unlabelled**: its KL term is
                masked too (`GroupVote.labelled`, the trainer's KL mask). A group with no
                parsable answer is unlabelled whatever the threshold.
  soft          reward = the frequency (count / n) of the rollout's raw answer string instead of
                the 0/1 agreement.
Decision (the paper leaves it open): the majority fraction's denominator is n, all rollouts of
the prompt, parsable or not.

Ground truth (the baseline): reward 1 when the answer is equivalent to the hidden label.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

from jaxllm.rewards.boxed import extract_boxed
from jaxllm.rewards.equivalence import equivalent


@dataclasses.dataclass(frozen=True)
class GroupVote:
  answers: tuple[str | None, ...]   # extracted answer per rollout (None: no box)
  majority: str | None              # the most common raw answer (None: no parsable answer)
  majority_fraction: float          # its count / n
  labelled: bool                    # the group passed min_majority and has a majority
  rewards: tuple[float, ...]


def majority_answer(answers: Sequence[str | None]) -> tuple[str | None, int]:
  """(most common raw answer, its count); ties go to the answer seen first; (None, 0) if none."""
  votes = collections.Counter(a for a in answers if a is not None)
  if not votes:
    return None, 0
  answer, count = votes.most_common(1)[0]
  return answer, count


def vote(responses: Sequence[str], min_majority: float = 0.0, soft: bool = False) -> GroupVote:
  """The self-consistency vote of one prompt's rollouts (module docstring)."""
  answers = tuple(extract_boxed(r) for r in responses)
  n = len(answers)
  majority, count = majority_answer(answers)
  fraction = count / n if n else 0.0
  labelled = majority is not None and fraction >= min_majority
  if not labelled:
    rewards = (0.0,) * n
  elif soft:
    counts = collections.Counter(a for a in answers if a is not None)
    rewards = tuple(counts[a] / n if a is not None else 0.0 for a in answers)
  else:
    rewards = tuple(1.0 if equivalent(a, majority) else 0.0 for a in answers)
  return GroupVote(answers, majority, fraction, labelled, rewards)


def self_consistency_rewards(responses: list[str], min_majority: float = 0.0,
                             soft: bool = False) -> list[float]:
  """SRT rewards of one prompt's group of rollouts (module docstring)."""
  return list(vote(responses, min_majority, soft).rewards)


def ground_truth_rewards(responses: Sequence[str], truth: str) -> list[float]:
  """1.0 for each rollout whose boxed answer is equivalent to `truth`, else 0.0."""
  return [1.0 if equivalent(extract_boxed(r), truth) else 0.0 for r in responses]
