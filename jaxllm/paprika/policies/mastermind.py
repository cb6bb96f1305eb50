"""Scripted Mastermind player: a random code consistent with all (exact, partial) feedback.

    move, note = policy(game, history, rng, noise)     # ("0451", "37 codes fit")

Reads from the game: `game.symbols` and `len(game.code)` (the digit range and code length the
prompt states; never the code's digits); the history: the guesses sent and the
"E exact P partial" counts each feedback shows.

Decisions:
- When symbols**length <= 10**6 every code is enumerated once (numpy, cached per (length,
  symbols)) and filtered vectorised: exact = matching positions, partial = sum over digits of
  min(count in code, count in guess) - exact (the game's `evaluate`; a test checks they agree).
  The surviving indices are cached per feedback prefix, so each turn filters only the survivors.
- Bigger spaces (held-out long codes): 20,000 random codes are drawn and filtered; if none fits,
  a random code is played.
- Informed move: a uniformly random consistent code. Noise move: a uniformly random code (digits
  i.i.d.) not yet guessed. A malformed move's feedback adds no constraint.
"""
from __future__ import annotations

import functools
import itertools
import re

import numpy as np

from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

COUNTS = re.compile(r"(\d+) exact,? (\d+) partial")
ENUMERATE_MAX = 10**6
SAMPLES = 20_000


def constraints(history: History, length: int) -> tuple[tuple[str, int, int], ...]:
  out = []
  for answer, text in history:
    guess = answer.replace(" ", "").replace(",", "")
    m = COUNTS.search(text)
    if m and len(guess) == length and guess.isdigit():
      out.append((guess, int(m.group(1)), int(m.group(2))))
  return tuple(out)


def feedback(codes: np.ndarray, counts: np.ndarray, guess: str,
             symbols: int) -> tuple[np.ndarray, np.ndarray]:
  """(exact, partial) of `guess` against every row of `codes` (counts: per-row digit counts)."""
  g = np.array([int(c) for c in guess], np.int8)
  exact = (codes == g).sum(1)
  common = np.minimum(counts, np.bincount(g, minlength=symbols)).sum(1)
  return exact, common - exact


def digit_counts(codes: np.ndarray, symbols: int) -> np.ndarray:
  return np.stack([(codes == d).sum(1) for d in range(symbols)], 1).astype(np.int8)


@functools.lru_cache(maxsize=4)
def all_codes(length: int, symbols: int) -> tuple[np.ndarray, np.ndarray]:
  codes = np.array(list(itertools.product(range(symbols), repeat=length)), np.int8)
  return codes, digit_counts(codes, symbols)


def _keep(codes, counts, idx, cons, symbols):
  for guess, e, p in cons:
    exact, partial = feedback(codes[idx], counts[idx], guess, symbols)
    idx = idx[(exact == e) & (partial == p)]
  return idx


@functools.lru_cache(maxsize=1024)
def survivors(length: int, symbols: int, cons: tuple[tuple[str, int, int], ...]) -> np.ndarray:
  codes, counts = all_codes(length, symbols)
  if not cons:
    return np.arange(len(codes), dtype=np.int32)
  return _keep(codes, counts, survivors(length, symbols, cons[:-1]), cons[-1:], symbols)


def _text(row: np.ndarray) -> str:
  return "".join(str(int(d)) for d in row)


def _random_code(rng, length, symbols, tried):
  while True:
    code = _text(rng.integers(symbols, size=length))
    if code not in tried or len(tried) >= symbols**length:
      return code


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  length, symbols = len(game.code), int(game.symbols)
  tried = {a for a, _ in history}
  if rng.random() < noise:
    return _random_code(rng, length, symbols, tried), "random code"
  cons = constraints(history, length)
  if symbols**length <= ENUMERATE_MAX:
    codes, _ = all_codes(length, symbols)
    idx = survivors(length, symbols, cons)
    if len(idx):
      return _text(codes[idx[int(rng.integers(len(idx)))]]), f"{len(idx)} codes fit"
    return _random_code(rng, length, symbols, tried), "no code fits"
  codes = rng.integers(symbols, size=(SAMPLES, length)).astype(np.int8)
  idx = _keep(codes, digit_counts(codes, symbols), np.arange(SAMPLES), cons, symbols)
  if len(idx):
    return _text(codes[idx[0]]), f"{len(idx)} of {SAMPLES} sampled codes fit"
  return _random_code(rng, length, symbols, tried), "no sampled code fits"
