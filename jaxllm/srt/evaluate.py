"""Held-out evaluation with self-consistency statistics, and the base model's votes for the
offline mitigations.

    ev = evaluate(sampler, tokenizer, problems, suffix, n=32, max_new_tokens=64, seed=0)
    ev.metrics   # accuracy (mean over samples at T=1), majority_accuracy, pass_at_n,
                 # no_answer_fraction, per-threshold share / accuracy of confident prompts
    ev.votes     # GroupVote per problem (the majority answer, its share)

Thresholds: for each t in THRESHOLDS, `share@t` = fraction of prompts whose majority share >= t
and `majority_accuracy@t` = majority-vote accuracy among those (how well confidence predicts
correctness -- the signal SRT relies on).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from jaxllm.reasoning import Problem, prompt_messages, score
from jaxllm.rewards import GroupVote, vote
from jaxllm.sampling import Sampler, SamplingParams

THRESHOLDS = (0.2, 0.4, 0.6, 0.8)


@dataclasses.dataclass
class Evaluation:
  metrics: dict[str, float]
  votes: list[GroupVote]
  correct: np.ndarray          # [P, n] 0/1 per sample


def prompt_ids(tokenizer, problems: Sequence[Problem], suffix: str) -> list[list[int]]:
  return [tokenizer.apply_chat_template(prompt_messages(p, suffix), add_generation_prompt=True,
                                        tokenize=True) for p in problems]


def evaluate(sampler: Sampler, tokenizer, problems: Sequence[Problem], suffix: str, *, n: int,
             max_new_tokens: int, temperature: float = 1.0, seed: int = 0,
             chunk: int = 64) -> Evaluation:
  """n samples per problem (chunks of `chunk` prompts per sampler call); module docstring."""
  votes, correct = [], []
  for start in range(0, len(problems), chunk):
    part = problems[start:start + chunk]
    outs = sampler.generate(prompt_ids(tokenizer, part, suffix),
                            SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature,
                                           n=n, seed=seed + start))
    for i, p in enumerate(part):
      v = vote([o.text or "" for o in outs[i * n:(i + 1) * n]])
      votes.append(v)
      correct.append([score(p, a) for a in v.answers])
  correct = np.asarray(correct, np.float64)
  maj_right = np.array([v.majority is not None and score(p, v.majority) == 1.0
                        for p, v in zip(problems, votes)])
  share = np.array([v.majority_fraction for v in votes])
  m = {"accuracy": float(correct.mean()), "accuracy_stderr":
       float(correct.mean(1).std(ddof=1) / np.sqrt(len(problems))) if len(problems) > 1 else 0.0,
       "majority_accuracy": float(maj_right.mean()), "pass_at_n": float(correct.max(1).mean()),
       "majority_share": float(share.mean()),
       "no_answer_fraction": float(np.mean([a is None for v in votes for a in v.answers]))}
  for t in THRESHOLDS:
    sel = share >= t
    m[f"share@{t}"] = float(sel.mean())
    m[f"majority_accuracy@{t}"] = float(maj_right[sel].mean()) if sel.any() else 0.0
  return Evaluation(m, votes, correct)
