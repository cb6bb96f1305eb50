"""The curriculum: which task category (or task group) to collect from next.

    cur = UCBCurriculum(["easy", "medium", "hard"], alpha=1.0)
    arm = cur.choose()                       # unsampled arms first, then the UCB score
    cur.update(arm, learning_potential(turns, successes, max_turns))

Learning potential (authors' code): the coefficient of variation of the turns a scenario's
trajectories took, failures counted as max turns, with the small-sample correction

    (1 + 1/(4n)) * std(turns, ddof=1) / mean(turns)

(0 with fewer than 2 trajectories). It is high where the model sometimes solves the task quickly
and sometimes not, i.e. where the pairs carry signal. An arm's value is the mean of the potentials
observed for it; its UCB score is `mean + alpha * sqrt(2 ln N / n_arm)` with N the total number of
updates; arms never updated are chosen first, in order. The baseline samples arms in proportion to
their size (`ProportionalCurriculum`).

A round collects many scenarios at once, so `choose_batch(k)` picks k arms before any of their
rewards is known: each pick counts as pending (its n and N grow, its mean does not), which
shrinks its bonus and spreads the batch (with k = 1 it is plain UCB1).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def learning_potential(turns: Sequence[int], successes: Sequence[bool], max_turns: int) -> float:
  x = np.asarray([t if s else max_turns for t, s in zip(turns, successes)], np.float64)
  n = len(x)
  if n < 2 or x.mean() <= 0:
    return 0.0
  return float((1.0 + 1.0 / (4 * n)) * x.std(ddof=1) / x.mean())


class UCBCurriculum:
  """UCB1 over arms whose reward is the learning potential (module docstring)."""

  def __init__(self, arms: Sequence[str], alpha: float = 1.0):
    if not arms:
      raise ValueError("the curriculum needs at least one arm")
    self.arms = list(arms)
    self.alpha = alpha
    self.counts = {a: 0 for a in self.arms}
    self.sums = {a: 0.0 for a in self.arms}

  @property
  def total(self) -> int:
    return sum(self.counts.values())

  def mean(self, arm: str) -> float:
    return self.sums[arm] / self.counts[arm] if self.counts[arm] else 0.0

  def score(self, arm: str) -> float:
    n = self.counts[arm]
    if n == 0:
      return math.inf
    return self.mean(arm) + self.alpha * math.sqrt(2.0 * math.log(max(self.total, 1)) / n)

  def choose(self, rng: np.random.Generator | None = None) -> str:
    del rng  # deterministic: ties go to the first arm
    scores = [self.score(a) for a in self.arms]
    return self.arms[int(np.argmax(scores))]

  def choose_batch(self, k: int, rng: np.random.Generator | None = None) -> list[str]:
    del rng
    pending = {a: 0 for a in self.arms}
    total = self.total
    out = []
    for _ in range(k):
      def score(a):
        n = self.counts[a] + pending[a]
        if self.counts[a] == 0 and pending[a] == 0:
          return math.inf
        bonus = self.alpha * math.sqrt(2.0 * math.log(max(total, 1)) / n)
        return self.mean(a) + bonus
      arm = self.arms[int(np.argmax([score(a) for a in self.arms]))]
      pending[arm] += 1
      total += 1
      out.append(arm)
    return out

  def update(self, arm: str, reward: float) -> None:
    self.counts[arm] += 1
    self.sums[arm] += float(reward)

  def state(self) -> dict:
    return {"counts": dict(self.counts), "sums": dict(self.sums)}

  def load(self, state: dict) -> None:
    self.counts = {a: int(state["counts"][a]) for a in self.arms}
    self.sums = {a: float(state["sums"][a]) for a in self.arms}


class ProportionalCurriculum:
  """Arms drawn in proportion to their sizes (the uniform-over-scenarios baseline)."""

  def __init__(self, arms: Sequence[str], sizes: Sequence[int]):
    self.arms = list(arms)
    w = np.asarray(sizes, np.float64)
    if len(w) != len(self.arms) or (w < 0).any() or w.sum() <= 0:
      raise ValueError("sizes must be one non-negative number per arm, not all zero")
    self.p = w / w.sum()

  def choose(self, rng: np.random.Generator) -> str:
    return self.arms[int(rng.choice(len(self.arms), p=self.p))]

  def choose_batch(self, k: int, rng: np.random.Generator) -> list[str]:
    return [self.arms[i] for i in rng.choice(len(self.arms), size=k, p=self.p)]

  def update(self, arm: str, reward: float) -> None:
    del arm, reward

  def state(self) -> dict:
    return {}

  def load(self, state: dict) -> None:
    del state
