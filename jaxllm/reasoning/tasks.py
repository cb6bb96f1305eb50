"""Procedural reasoning problems with exact answers, step-by-step solutions and difficulty knobs.

Each generator draws a `Problem` from a numpy Generator: the question, the exact answer, and a
solution written the way the base model is taught to reason (one operation per line, the final
answer in `\\boxed{}`), so a model trained from scratch by SFT on the solutions gets a base accuracy
that the difficulty knobs move (each line is a chance to slip, so longer chains are harder).

  arith      a chain of + / - over `terms` integers of `digits` digits:
               "Compute 37+48-19." -> "37+48=85\\n85-19=66\\n\\boxed{66}"
  linear     a*x + b = c with integer x in [-9, 9]:
               "Solve 3x+7=22." -> "3x=22-7=15\\nx=15/3=5\\n\\boxed{5}"
  multiply   a 2-digit x 1-digit product by partial products:
               "Compute 47*6." -> "40*6=240\\n7*6=42\\n240+42=282\\n\\boxed{282}"

Answers are integers written in decimal; checking goes through `jaxllm.rewards.equivalent`.
`reasoning_gym_problems` adapts tasks of the PyPI `reasoning-gym` package (question and answer
only: it has no step-by-step solutions; its partial-credit scores are binarised by the scorer).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Problem:
  task: str
  question: str
  answer: str
  solution: str          # step-by-step, ends with \boxed{answer}; "" when unknown
  difficulty: int        # the generator's main knob (terms, coefficient digits, ...)
  scorer: str = "math"   # "math" (math-verify equivalence) or "reasoning_gym:<dataset>"

  @property
  def key(self) -> str:
    return f"{self.task}:{self.question}"


def _number(rng: np.random.Generator, digits: int) -> int:
  return int(rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits))


def arith(rng: np.random.Generator, terms: int = 3, digits: int = 2) -> Problem:
  """A chain of `terms` numbers joined by + / -, solved left to right."""
  xs = [_number(rng, digits) for _ in range(terms)]
  ops = ["+" if rng.random() < 0.5 else "-" for _ in range(terms - 1)]
  expr = str(xs[0]) + "".join(f"{o}{x}" for o, x in zip(ops, xs[1:]))
  total, lines = xs[0], []
  for o, x in zip(ops, xs[1:]):
    new = total + x if o == "+" else total - x
    lines.append(f"{total}{o}{x}={new}")
    total = new
  return Problem("arith", f"Compute {expr}.", str(total),
                 "\n".join(lines + [f"\\boxed{{{total}}}"]), terms)


def linear(rng: np.random.Generator, digits: int = 1) -> Problem:
  """a*x + b = c for integer x; solved by moving b, then dividing by a."""
  a = int(rng.integers(2, 10 ** digits))
  x = int(rng.integers(-9, 10))
  b = int(rng.integers(-20, 21))
  c = a * x + b
  bs = f"+{b}" if b >= 0 else str(b)
  rhs = f"{c}-{b}" if b >= 0 else f"{c}+{-b}"
  lines = [f"{a}x={rhs}={a * x}", f"x={a * x}/{a}={x}", f"\\boxed{{{x}}}"]
  return Problem("linear", f"Solve {a}x{bs}={c}.", str(x), "\n".join(lines), digits)


def multiply(rng: np.random.Generator, digits: int = 2) -> Problem:
  """An n-digit by 1-digit product through its partial products."""
  a, b = _number(rng, max(digits, 2)), int(rng.integers(2, 10))
  parts = [int(d) * 10 ** i * b for i, d in enumerate(reversed(str(a))) if d != "0"][::-1]
  lines = [f"{p // b}*{b}={p}" for p in parts]
  total = parts[0]
  for p in parts[1:]:
    lines.append(f"{total}+{p}={total + p}")
    total += p
  assert total == a * b
  return Problem("multiply", f"Compute {a}*{b}.", str(total),
                 "\n".join(lines + [f"\\boxed{{{total}}}"]), digits)


GENERATORS: dict[str, Callable[..., Problem]] = {"arith": arith, "linear": linear,
                                                  "multiply": multiply}


def reasoning_gym_problems(name: str, size: int, seed: int, **config: Any) -> list[Problem]:
  """`size` problems of reasoning-gym's dataset `name` (needs `pip install reasoning-gym`)."""
  try:
    import reasoning_gym  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("reasoning-gym tasks need `pip install reasoning-gym`") from e
  data = reasoning_gym.create_dataset(name, size=size, seed=seed, **config)
  return [Problem(f"rg.{name}", str(e["question"]), str(e["answer"]), "", 0,
                  scorer=f"reasoning_gym:{name}") for e in data]


def score(problem: Problem, answer: str | None) -> float:
  """1.0 if `answer` is right for `problem` (math equivalence, or reasoning-gym's scorer == 1)."""
  if answer is None:
    return 0.0
  if problem.scorer == "math":
    from jaxllm.rewards import equivalent  # pylint: disable=import-outside-toplevel
    return 1.0 if equivalent(answer, problem.answer) else 0.0
  import reasoning_gym  # pylint: disable=import-outside-toplevel
  scorer = reasoning_gym.get_score_answer_fn(problem.scorer.split(":", 1)[1])
  return 1.0 if scorer(answer, {"question": problem.question, "answer": problem.answer,
                                "metadata": {}}) >= 1.0 else 0.0
