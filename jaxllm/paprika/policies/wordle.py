"""Scripted Wordle player: a random dictionary word consistent with all feedback so far.

    move, note = policy(game, history, rng, noise)     # ("crane", "523 words fit")

Reads from the game: nothing (not even `game.secret`); only the history: the guesses sent and
the G/Y/- pattern each feedback shows.

Decisions:
- Candidates are the game's own dictionary (`wordle.words()`, which holds every answer of both
  splits) filtered by the game's own `score`: a word w stays when score(w, guess) == the
  observed pattern for every past guess (so duplicate letters follow the game's rules exactly).
  The filtering is cached by the tuple of (guess, pattern) so far, prefix by prefix: a game only
  pays one full-dictionary pass (about 40 ms), for its first guess.
- Informed move: a uniformly random candidate (a guessed non-answer never fits its own pattern,
  so guesses are not repeated). If nothing fits (an answer outside the dictionary) it falls back
  to a random dictionary word not yet guessed.
- Noise move: a uniformly random dictionary word not yet guessed.
- A malformed move's feedback has no pattern and adds no constraint.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from jaxllm.paprika.games import wordle as rules
from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

PATTERN = re.compile(r"(?<![A-Za-z-])([GY-]{5})(?![A-Za-z-])")
GUESS = re.compile(r"[a-z]{5}")


def constraints(history: History) -> tuple[tuple[str, str], ...]:
  out = []
  for answer, text in history:
    guess = answer.strip().strip("'\"`").rstrip(".").strip("'\"`").strip()
    m = PATTERN.search(text)
    if GUESS.fullmatch(guess) and m:
      out.append((guess, m.group(1)))
  return tuple(out)


@functools.lru_cache(maxsize=4096)
def candidates(cons: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
  if not cons:
    return rules.words()
  guess, pattern = cons[-1]
  return tuple(w for w in candidates(cons[:-1]) if rules.score(w, guess) == pattern)


def _random_word(rng: np.random.Generator, tried: set[str]) -> str:
  vocab = rules.words()
  while True:
    w = vocab[int(rng.integers(len(vocab)))]
    if w not in tried:
      return w


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  tried = {a for a, _ in history}
  if rng.random() < noise:
    return _random_word(rng, tried), "random word"
  cands = candidates(constraints(history))
  if not cands:
    return _random_word(rng, tried), "no word fits"
  return cands[int(rng.integers(len(cands)))], f"{len(cands)} words fit"
