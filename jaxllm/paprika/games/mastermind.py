"""Mastermind: find a secret code of digits in 12 turns from exact / partial match counts.

    spec = GROUPS["mastermind"]
    game = spec.make()                                  # verbose=False: terse text
    game.reset(spec.scenarios("eval", n=6, seed=0, length=5)[0])   # a held-out 5-digit variant
    game.step("01234").text

Rules: the code has `length` digits (default 4) drawn from 0..symbols-1 (default 10), repeats
allowed. Feedback is `exact` (right digit, right position) and `partial` = sum over digits of
min(count in guess, count in code) - exact.

Decisions the spec leaves open:
- Move syntax: the digits of the guess, e.g. 1234. Spaces and commas between digits are ignored
  ("1 2 3 4" and "1,2,3,4" read as 1234). Anything else (wrong length, a digit >= symbols, a
  letter) is malformed and costs the turn.
- Difficulty: the number k of distinct digits in the code. "distinct": k = length (no repeats),
  "one_repeat": k = length - 1, "more_repeats": k <= length - 2. Repeats are harder because
  partial counts then overlap. Codes are built to have exactly the chosen k (k uniform over the
  category's allowed values), then digits shuffled. A category that the options make impossible
  (e.g. "distinct" with symbols < length) raises ValueError.
- Train/eval split: a code belongs to eval when sha256("mastermind:{length}:{symbols}:{code}")
  mod 5 == 0; codes of the other split are redrawn, so the splits never share a code.
- scenarios(split, n, seed, length=4, symbols=10, max_turns=12) records all of them in `data`.
"""
from __future__ import annotations

import hashlib
import zlib
from collections import Counter

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "mastermind"
TURNS = 12
DIFFICULTIES = ("distinct", "one_repeat", "more_repeats")


def split_of(code: str, symbols: int) -> str:
  h = int(hashlib.sha256(f"{GROUP}:{len(code)}:{symbols}:{code}".encode()).hexdigest(), 16)
  return "eval" if h % 5 == 0 else "train"


def evaluate(code: str, guess: str) -> tuple[int, int]:
  """(exact, partial) of `guess` against `code`."""
  exact = sum(a == b for a, b in zip(code, guess))
  common = sum((Counter(code) & Counter(guess)).values())
  return exact, common - exact


def distinct_counts(difficulty: str, length: int, symbols: int) -> list[int]:
  top = min(length, symbols)
  want = {"distinct": [length], "one_repeat": [length - 1],
          "more_repeats": list(range(1, length - 1))}[difficulty]
  return [k for k in want if 1 <= k <= top]


def _draw(rng: np.random.Generator, k: int, length: int, symbols: int) -> str:
  digits = [int(d) for d in rng.choice(symbols, size=k, replace=False)]
  digits += [digits[int(j)] for j in rng.integers(k, size=length - k)]
  rng.shuffle(digits)
  return "".join(str(d) for d in digits)


class Mastermind(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.code, self.symbols, self._turns = "", 10, TURNS

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    d = scenario.data
    self.code, self.symbols = d["code"], int(d["symbols"])
    self._turns = int(d.get("max_turns", TURNS))
    n, top = len(self.code), self.symbols - 1
    if not self.verbose:
      return (f"Mastermind: find a {n}-digit code, digits 0-{top}, repeats ok, in {self._turns} "
              f"turns. Reply e.g. {self._example()}. Feedback: exact, partial.")
    return (f"Let's play Mastermind. I have picked a secret code of {n} digits, each from 0 to "
            f"{top}; digits may repeat. You have {self._turns} turns to find it. Each turn, answer "
            f"with a guess of exactly {n} digits (for example: {self._example()}). I reply with "
            "the number of exact matches (right digit in the right position) and partial matches "
            "(right digit in the wrong position; a digit counts at most as many times as it "
            "appears in the code).")

  def _example(self) -> str:
    return "".join(str(i % self.symbols) for i in range(len(self.code)))

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    guess = answer.replace(" ", "").replace(",", "")
    n, top = len(self.code), self.symbols - 1
    if len(guess) != n or not all(c.isdigit() and int(c) <= top for c in guess):
      if not self.verbose:
        return f"Bad guess: write {n} digits 0-{top}, e.g. {self._example()}.", False, False
      return (f"'{answer}' is not a valid guess: write exactly {n} digits, each from 0 to {top}, "
              f"and nothing else (for example: {self._example()}). This still cost a turn."), \
          False, False
    exact, partial = evaluate(self.code, guess)
    won = exact == n
    if not self.verbose:
      return f"{guess}: {exact} exact {partial} partial" + (" Goal reached!" if won else ""), \
          won, False
    if won:
      return f"Guess {guess}: {exact} exact, 0 partial. You found the code. Goal reached!", \
          True, False
    left = self._turns - self.turns
    return (f"Guess {guess}: {exact} exact, {partial} partial. "
            f"{left} turn{'s' if left != 1 else ''} left."), False, False


def scenarios(split: str, n: int, seed: int = 0, length: int = 4, symbols: int = 10,
              max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if not 1 <= symbols <= 10 or length < 1:
    raise ValueError("need 1 <= symbols <= 10 (single-digit symbols) and length >= 1")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed, length,
                               symbols])
  out = []
  for i in range(n):
    diff = DIFFICULTIES[i % len(DIFFICULTIES)]
    ks = distinct_counts(diff, length, symbols)
    if not ks:
      raise ValueError(f"no {diff!r} codes exist with length={length}, symbols={symbols}")
    for _ in range(10_000):
      code = _draw(rng, ks[int(rng.integers(len(ks)))], length, symbols)
      if split_of(code, symbols) == split:
        break
    else:
      raise ValueError(f"could not draw a {split} {diff!r} code; too few codes for these options")
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, diff,
                        {"code": code, "symbols": int(symbols), "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=Mastermind, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Mastermind: find a 4-digit code (0-9, repeats allowed) in 12 guesses from "
                "exact/partial match counts."))
