"""Wordle: guess a secret 5-letter word in 6 turns.

    spec = GROUPS["wordle"]
    game = spec.make(verbose=True)          # verbose=False: terse text for a tiny byte-level model
    game.reset(spec.scenarios("train", n=8, seed=0)[0])
    game.step("crane").text                 # "Guess 'crane': ... pattern --Y-G"

Decisions the spec leaves open:
- Words: the 5-letter, a-z words of the `english-words` package's "gcide" list (6.8k words; many
  are rare). A word is an eval answer when sha256("wordle:" + word) mod 5 == 0, else a train
  answer (about 80/20), so the two answer lists are disjoint by construction and stable across
  runs and package orderings.
- Guesses need not be dictionary words: any 5 letters a-z are scored (the prompt says so). A
  guess that is not exactly 5 letters a-z is malformed and still costs the turn. Surrounding
  quotes and a trailing full stop are dropped before checking ("'crane'." reads as crane).
- Feedback is the standard Wordle colouring with repeated letters: greens first, then yellows
  left to right, each limited by how many copies of the letter the secret has left after the
  greens. The pattern uses G (right place), Y (in the word, elsewhere), - (not in the word, or
  no copies left); verbose mode also spells it out letter by letter.
- Difficulty: the size of the secret's one-letter neighbourhood, i.e. how many other words of
  the whole list differ from it in exactly one position (the -ight / -ater trap, where greens
  leave many candidates): "few_neighbours" 0-1, "some_neighbours" 2-4, "many_neighbours" 5+.
  These thresholds split the list roughly 30/40/30.
- scenarios(split, n, seed, max_turns=6): scenario i has category i mod 3; the word is drawn
  from that category's list for the split with a numpy Generator seeded by (group, split, seed).
"""
from __future__ import annotations

import functools
import hashlib
import zlib
from collections import Counter

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "wordle"
LENGTH = 5
TURNS = 6
DIFFICULTIES = ("few_neighbours", "some_neighbours", "many_neighbours")


def split_of(word: str) -> str:
  h = int(hashlib.sha256(f"{GROUP}:{word}".encode()).hexdigest(), 16)
  return "eval" if h % 5 == 0 else "train"


@functools.lru_cache(maxsize=1)
def words() -> tuple[str, ...]:
  from english_words import get_english_words_set
  found = get_english_words_set(["gcide"], lower=True, alpha=True)
  return tuple(sorted(w for w in found if len(w) == LENGTH and w.isalpha() and w.isascii()))


def neighbour_counts(vocab: tuple[str, ...]) -> dict[str, int]:
  """word -> number of other words in `vocab` that differ from it in exactly one position."""
  masks = Counter(w[:i] + "_" + w[i + 1:] for w in vocab for i in range(LENGTH))
  return {w: sum(masks[w[:i] + "_" + w[i + 1:]] - 1 for i in range(LENGTH)) for w in vocab}


def difficulty_of(neighbours: int) -> str:
  return DIFFICULTIES[0 if neighbours <= 1 else 1 if neighbours <= 4 else 2]


@functools.lru_cache(maxsize=1)
def answer_lists() -> dict[tuple[str, str], tuple[str, ...]]:
  """(split, difficulty) -> sorted answers."""
  out: dict[tuple[str, str], list[str]] = {(s, d): [] for s in SPLITS for d in DIFFICULTIES}
  for w, k in neighbour_counts(words()).items():
    out[(split_of(w), difficulty_of(k))].append(w)
  return {key: tuple(v) for key, v in out.items()}


def score(secret: str, guess: str) -> str:
  """The G/Y/- pattern of `guess` against `secret` (equal lengths), standard Wordle rules."""
  pattern = ["-"] * len(guess)
  left = Counter(s for s, g in zip(secret, guess) if s != g)
  for i, (s, g) in enumerate(zip(secret, guess)):
    if s == g:
      pattern[i] = "G"
    elif left[g] > 0:
      pattern[i] = "Y"
      left[g] -= 1
  return "".join(pattern)


def _explain(guess: str, pattern: str) -> str:
  def say(i: int) -> str:
    if pattern[i] == "G":
      return "is in the right place"
    if pattern[i] == "Y":
      return "is in the word but in a different place"
    if any(g == guess[i] and p != "-" for g, p in zip(guess, pattern)):
      return "has no further copies in the word"
    return "is not in the word"
  return "; ".join(f"{i + 1}. {c} {say(i)}" for i, c in enumerate(guess))


class Wordle(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.secret = ""
    self._turns = TURNS

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    self.secret = scenario.data["secret"]
    self._turns = int(scenario.data.get("max_turns", TURNS))
    if not self.verbose:
      return (f"Wordle: guess a 5-letter word in {self._turns} turns. Reply e.g. crane. "
              "Feedback per letter: G right place, Y elsewhere, - absent.")
    return (f"Let's play Wordle. I have picked a secret English word of 5 letters. You have "
            f"{self._turns} turns to find it. Each turn, answer with a guess of exactly 5 letters "
            "a-z (for example: crane); it does not need to be a real word. For each letter of your "
            "guess I say G if it is in the right place, Y if it is in the word but in a different "
            "place, and - if it is not in the word. Repeated letters are counted: a letter gets G "
            "or Y only as many times as it occurs in the secret (greens are assigned first).")

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    guess = answer.strip().strip("'\"`").rstrip(".").strip("'\"`").strip()
    if len(guess) != LENGTH or not (guess.isascii() and guess.isalpha()):
      if not self.verbose:
        return "Bad guess: write exactly 5 letters a-z, e.g. crane.", False, False
      return (f"'{guess}' is not a valid guess: a guess must be exactly 5 letters a-z with nothing "
              "else, for example: crane. This still cost a turn."), False, False
    pattern = score(self.secret, guess)
    won = guess == self.secret
    if not self.verbose:
      return f"{guess} {pattern}" + (" Goal reached!" if won else ""), won, False
    if won:
      return f"Guess '{guess}': {pattern}. That is the secret word. Goal reached!", True, False
    left = self._turns - self.turns
    return (f"Guess '{guess}': pattern {pattern} ({_explain(guess, pattern)}). "
            f"{left} turn{'s' if left != 1 else ''} left."), False, False


def scenarios(split: str, n: int, seed: int = 0, max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed])
  lists = answer_lists()
  out = []
  for i in range(n):
    diff = DIFFICULTIES[i % len(DIFFICULTIES)]
    pool = lists[(split, diff)]
    word = pool[int(rng.integers(len(pool)))]
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, diff,
                        {"secret": word, "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=Wordle, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Wordle: find a secret 5-letter word in 6 guesses from G/Y/- letter feedback."))
