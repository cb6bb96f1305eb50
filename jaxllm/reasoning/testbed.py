"""The reasoning testbed: a task mixture split into disjoint sft / rl / val / test sets.

    spec = ReasoningSpec(tasks=(("arith", {"terms": (2, 5), "digits": (1, 2)}),), sizes=...)
    splits = make_splits(spec, seed=0)            # {"sft": [Problem], "rl": ..., "val": ..., "test": ...}
    chat = sft_chat(problem, suffix)              # [user question + suffix, assistant solution]
    prompt = prompt_messages(problem, suffix)     # [user question + suffix]

Splits are drawn from their own seeded streams and made disjoint by question: test is drawn
first, then val, rl and sft, each skipping every question an earlier split holds, so no test
question is ever trained on (SFT or RL) and validation (the early-stopping signal) never sees test
questions either. A knob given as (lo, hi) is drawn uniformly per problem in [lo, hi].

Roles: `sft` (with solutions) trains the base model; `rl` holds the RL prompts (their labels are
used only by the ground-truth baseline and by the monitors); `val` is the labelled validation set
(early stopping); `test` is reported, never selected on.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxllm.reasoning.tasks import GENERATORS, Problem
from jaxllm.rewards import PROMPT_SUFFIX

SPLITS = ("test", "val", "rl", "sft")   # drawing order (earlier splits win a shared question)


@dataclasses.dataclass(frozen=True)
class ReasoningSpec:
  tasks: tuple[tuple[str, dict[str, Any]], ...] = (
      ("arith", {"terms": (2, 5), "digits": (1, 2)}),)
  sizes: tuple[tuple[str, int], ...] = (("sft", 20000), ("rl", 2000), ("val", 256),
                                        ("test", 512))
  weights: tuple[float, ...] | None = None   # task mixture weights (default uniform)

  def validate(self) -> None:
    for name, _ in self.tasks:
      if name not in GENERATORS:
        raise ValueError(f"unknown reasoning task {name!r}; valid: {', '.join(GENERATORS)}")
    for split, n in self.sizes:
      if split not in SPLITS or n < 0:
        raise ValueError(f"bad split size ({split!r}, {n}); splits are {', '.join(SPLITS)}")
    if self.weights is not None and len(self.weights) != len(self.tasks):
      raise ValueError("weights must have one entry per task")


def _draw(rng: np.random.Generator, spec: ReasoningSpec) -> Problem:
  w = np.asarray(spec.weights or [1.0] * len(spec.tasks), np.float64)
  name, knobs = spec.tasks[int(rng.choice(len(spec.tasks), p=w / w.sum()))]
  kwargs = {k: (int(rng.integers(v[0], v[1] + 1)) if isinstance(v, (tuple, list)) else v)
            for k, v in knobs.items()}
  return GENERATORS[name](rng, **kwargs)


def make_splits(spec: ReasoningSpec, seed: int = 0) -> dict[str, list[Problem]]:
  """Disjoint splits (module docstring); raises ValueError if the task space is too small."""
  spec.validate()
  sizes = dict(spec.sizes)
  seen: set[str] = set()
  out: dict[str, list[Problem]] = {}
  for i, split in enumerate(SPLITS):
    n = sizes.get(split, 0)
    rng = np.random.default_rng([seed, i])
    problems: list[Problem] = []
    tries = 0
    while len(problems) < n:
      tries += 1
      if tries > 50 * n + 1000:
        raise ValueError(f"cannot draw {n} distinct {split} problems from this task mixture "
                         f"(got {len(problems)}); widen the difficulty knobs or shrink the split")
      p = _draw(rng, spec)
      if p.key not in seen:
        seen.add(p.key)
        problems.append(p)
    out[split] = problems
  return out


def prompt_messages(problem: Problem, suffix: str = PROMPT_SUFFIX) -> list[dict[str, str]]:
  return [{"role": "user", "content": f"{problem.question} {suffix}".strip()}]


def sft_chat(problem: Problem, suffix: str = PROMPT_SUFFIX) -> list[dict[str, str]]:
  if not problem.solution:
    raise ValueError(f"{problem.task} problems have no written solution to train on")
  return prompt_messages(problem, suffix) + [{"role": "assistant", "content": problem.solution}]
