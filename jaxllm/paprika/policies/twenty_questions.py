"""Scripted twenty-questions player: ask the yes/no question that best splits the things left.

    move, note = policy(game, history, rng, noise)     # ("is it a mammal?", "145 things fit")

Reads from the game: `game.verbose` (the reply style, a public option), `game.turns` and
`game.max_turns` (the budget the intro states); never `game.secret` or the scenario. The history:
the questions sent and the replies shown.

Decisions:
- Candidates are the module's public table of things (`twenty_questions.things()`, both splits).
  Each candidate gets its own simulator (`Shadows`): a game reset on that thing as hypothetical
  secret, asked the same text, in the same reply style. A candidate stays when its predicted
  replies equal the shown ones (after `simulated.normalize`). If no candidate fits every reply
  (an env LLM phrasing differently), those with the fewest mismatches stay.
- Questions come from the module's grammar, one short natural question per category, kind,
  attribute token (`PHRASES`), colour, size word and size comparison with the reference objects
  (`QUESTIONS`); a test checks that every one is understood for every thing.
- Informed move: the question, not yet asked, minimising the largest reply group among the
  candidates (then the expected group size; ties at random). With three or fewer candidates
  left their guesses "is it a <name>?" compete on the same score, the winning reply left out
  (so with two left a guess wins ties: it splits as well and may win at once). A guess of a
  random candidate left when one is left, when nothing splits them, or on the last turn.
- Noise move: with equal chance a random question not yet asked or a guess of a random
  candidate left.
- `Shadows` and `best_move` are shared with the guess-my-city and customer-service players,
  `ask_or_guess` (one turn of the above) with guess my city.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from jaxllm.paprika.games import twenty_questions as tq
from jaxllm.paprika.games.base import Game, Scenario
from jaxllm.paprika.games.simulated import normalize
from jaxllm.paprika.policies.observe import History, shown

CATEGORY_QUESTIONS = ("is it an animal?", "is it a plant?", "is it a food?", "is it a vehicle?",
                      "is it a tool?", "is it a musical instrument?", "is it furniture?",
                      "is it clothing?", "is it an electronic device?", "is it sports equipment?",
                      "is it a kitchen item?")
ATTRIBUTE_QUESTIONS = {
    "alive": "is it alive?", "edible": "can you eat it?", "manmade": "is it man-made?",
    "natural": "is it natural?", "electric": "does it use electricity?",
    "engine": "does it have an engine?", "wheels": "does it have wheels?",
    "legs": "does it have legs?", "walk": "can it walk?", "fourlegs": "does it have four legs?",
    "twolegs": "does it have two legs?", "sixlegs": "does it have six legs?",
    "eightlegs": "does it have eight legs?", "wings": "does it have wings?", "fly": "can it fly?",
    "swim": "can it swim?", "water": "does it live in water?", "fur": "does it have fur?",
    "feathers": "does it have feathers?", "scales": "does it have scales?",
    "shell": "does it have a shell?", "eggs": "does it lay eggs?", "carnivore": "does it eat meat?",
    "herbivore": "does it eat plants?", "pet": "is it a pet?", "farm": "is it a farm animal?",
    "wild": "is it wild?", "domestic": "is it domesticated?", "dangerous": "is it dangerous?",
    "nocturnal": "is it nocturnal?", "tropical": "is it tropical?",
    "desert": "does it live in the desert?", "metal": "is it made of metal?",
    "wood": "is it made of wood?", "plastic": "is it made of plastic?",
    "fabric": "is it made of fabric?", "glass": "is it made of glass?", "soft": "is it soft?",
    "sweet": "is it sweet?", "sour": "is it sour?", "cooked": "is it eaten cooked?",
    "dairy": "is it dairy?", "cold": "is it cold?", "round": "is it round?",
    "sharp": "is it sharp?", "screen": "does it have a screen?",
    "strings": "does it have strings?", "keys": "does it have keys?",
    "buttons": "does it have buttons?", "wind": "is it a wind instrument?",
    "percussion": "is it a percussion instrument?", "sound": "does it make sound?",
    "music": "does it make music?", "sport": "is it used in sports?", "ball": "is it a ball?",
    "wear": "do you wear it?", "feet": "is it worn on the feet?",
    "head": "is it worn on the head?", "hands": "is it worn on the hands?",
    "ride": "can you ride it?", "drive": "can you drive it?",
    "transport": "is it used for transport?", "road": "does it go on the road?",
    "indoors": "is it found indoors?", "outdoors": "is it found outdoors?",
    "kitchen": "is it used in the kitchen?", "appliance": "is it an appliance?",
    "treegrow": "does it grow on trees?", "ground": "does it grow underground?",
    "grow": "does it grow?", "tail": "does it have a tail?", "stripes": "does it have stripes?",
    "spots": "does it have spots?", "expensive": "is it expensive?", "heavy": "is it heavy?",
    "sit": "can you sit on it?", "sleep": "can you sleep on it?", "light": "does it give light?",
    "drink": "does it hold liquid?", "hot": "does it get hot?", "calls": "can it make calls?",
    "photos": "can it take photos?",
}
COLOR_QUESTIONS = tuple(f"is it {c}?" for c in ("red", "orange", "yellow", "green", "blue",
                                                 "purple", "pink", "brown", "black", "white",
                                                 "gray", "silver", "gold"))
SIZE_QUESTIONS = ("is it big?", "is it huge?", "is it small?", "is it tiny?",
                  "can it fit in a pocket?", "can you hold it in your hand?", "can you carry it?")
SIZE_REFS = ("pea", "marble", "coin", "key", "fist", "hand", "pencil", "book", "shoebox",
             "breadbox", "suitcase", "child", "person", "door", "room", "house", "building")
QUESTIONS: tuple[str, ...] = (CATEGORY_QUESTIONS + tuple(ATTRIBUTE_QUESTIONS.values())
                              + COLOR_QUESTIONS + SIZE_QUESTIONS
                              + tuple(f"is it bigger than a {r}?" for r in SIZE_REFS))
GUESS_BELOW = 3          # guesses join the question pool when this few candidates are left


# -- candidates with one simulator each (shared with guess_my_city and customer_service) --------

class Shadows:
  """Predicted replies to any move, one hypothetical game per candidate secret."""

  def __init__(self, keys: Sequence[str], make: Callable[[str], Any]) -> None:
    self.keys = tuple(keys)
    self.games = [make(k) for k in self.keys]
    self._cache: dict[str, tuple[np.ndarray, np.ndarray, dict[str, int]]] = {}

  def __len__(self) -> int:
    return len(self.keys)

  def predict(self, move: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(reply id per candidate, won per candidate, normalized reply -> id) for one move."""
    if move not in self._cache:
      ids, won, table = [], [], {}
      for g in self.games:
        text, win, _ = g.respond(move)
        ids.append(table.setdefault(normalize(text), len(table)))
        won.append(bool(win))
      self._cache[move] = (np.array(ids, np.int32), np.array(won), table)
    return self._cache[move]

  def fit(self, history: History) -> np.ndarray:
    """Indices of the candidates with the fewest predicted replies differing from the shown."""
    miss = np.zeros(len(self), np.int32)
    for move, text in history:
      ids, _, table = self.predict(move)
      miss += ids != table.get(normalize(shown(text)), -1)
    return np.flatnonzero(miss == miss.min())

  def score(self, move: str, idx: np.ndarray) -> tuple[int, float, int]:
    """(largest non-winning reply group, expected group size, -winners): smaller is better."""
    ids, won, _ = self.predict(move)
    sub, win = ids[idx], won[idx]
    rest = np.bincount(sub[~win]) if (~win).any() else np.zeros(1, np.int64)
    return int(rest.max()), float((rest.astype(float) ** 2).sum() / len(idx)), -int(win.sum())


def best_move(shadows: Shadows, idx: np.ndarray, moves: Sequence[str], rng: np.random.Generator,
              first: bool = False) -> tuple[str | None, tuple[int, float, int]]:
  """The move with the smallest `Shadows.score` over the candidates `idx`; ties at random, or
  the earliest in `moves` with first=True."""
  if not moves:
    return None, (len(idx), float(len(idx)), 0)
  scores = [shadows.score(m, idx) for m in moves]
  low = min(scores)
  tied = [m for m, s in zip(moves, scores) if s == low]
  return tied[0 if first else int(rng.integers(len(tied)))], low


# -- twenty questions ------------------------------------------------------------------------------

def guess(name: str) -> str:
  return f"is it {tq.a(name)}?"


@functools.lru_cache(maxsize=2)
def shadows(verbose: bool) -> Shadows:
  def make(name: str) -> tq.TwentyQuestions:
    g = tq.TwentyQuestions(verbose=verbose)
    g.reset(Scenario(tq.GROUP, "hypothesis", "train", "easy", {"secret": name}))
    return g
  return Shadows([t.name for t in tq.things()], make)


def ask_or_guess(sh: Shadows, questions: Sequence[str], guess: Callable[[str], str], game: Game,
                 history: History, rng: np.random.Generator, noise: float,
                 unit: tuple[str, str]) -> tuple[str, str]:
  """One turn of a find-the-secret game over the candidates of `sh` (module docstring)."""
  idx = sh.fit(history)
  asked = {a for a, _ in history}
  names = [sh.keys[i] for i in idx if guess(sh.keys[i]) not in asked] or list(sh.keys)
  note = f"1 {unit[0]} fits" if len(idx) == 1 else f"{len(idx)} {unit[1]} fit"
  if rng.random() < noise:
    fresh = [q for q in questions if q not in asked] or list(questions)
    if rng.random() < 0.5:
      return fresh[int(rng.integers(len(fresh)))], "random question"
    return guess(names[int(rng.integers(len(names)))]), "random guess"
  if len(names) == 1 or game.max_turns - game.turns <= 1:
    return guess(names[int(rng.integers(len(names)))]), note
  moves = [q for q in questions if q not in asked]
  if len(names) <= GUESS_BELOW:
    moves += [guess(n) for n in names]
  move, (worst, _, _) = best_move(sh, idx, moves, rng)
  if move is None or worst >= len(idx):
    return guess(names[int(rng.integers(len(names)))]), note
  return move, note


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  return ask_or_guess(shadows(bool(game.verbose)), QUESTIONS, guess, game, history, rng, noise,
                      ("thing", "things"))
