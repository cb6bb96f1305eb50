"""Scripted guess-my-city player: ask the question that best splits the cities left, then guess.

    move, note = policy(game, history, rng, noise)   # ("what region is it in?", "87 cities fit")

Reads from the game: `game.verbose` (reply style), `game.turns`, `game.max_turns`; never
`game.city` or the scenario. The history: the questions sent and the replies shown.

Decisions:
- Candidates are the module's public table (`guess_my_city.cities()`, both splits), filtered
  with one hypothetical simulator per city (`twenty_questions.Shadows`: exact normalized
  replies; the fewest mismatches if nothing fits).
- Questions (`QUESTIONS`), all from the module's grammar: "is it in <place>?" for every
  continent, country and area of the table; hemispheres, equator, tropics; capital, largest
  city, coast, island, river, lake, altitude, mountains; climate words; size and "more than <n>
  million people"; "do they speak <language>?" for every language of the table; "is it famous
  for <theme>?" for the themes at least two cities share; "is it a famous city?"; and the open
  questions whose answers are shared categories (continent, country, region, language, climate,
  hemisphere). Open questions with near-unique answers (population, elevation, river, "what is
  it famous for?") are left out: they name the city in one reply, which turns play into table
  lookup rather than questioning. A question stays only if no city gets the simulator's help
  reply and the replies split the table.
- Informed move: the unasked question minimising the largest reply group (several-answer open
  questions compete with yes/no ones on that same count), then the expected group size, ties at
  random; guess "is it <city>?" when one city is left, when nothing splits them, when a guess
  splits as well (two or three left), or on the last turn.
- Noise move: with equal chance a random unasked question or a guess of a random city left.
"""
from __future__ import annotations

import collections
import functools

import numpy as np

from jaxllm.paprika.games import guess_my_city as gm
from jaxllm.paprika.games.base import Game, Scenario
from jaxllm.paprika.games.simulated import normalize
from jaxllm.paprika.policies.observe import History
from jaxllm.paprika.policies.twenty_questions import Shadows, ask_or_guess

ATTRIBUTES = ("is it a capital?", "is it the largest city in its country?", "is it coastal?",
              "is it on an island?", "is it on a river?", "is it on a lake?",
              "is it at high altitude?", "is it in the mountains?",
              "is it in the northern hemisphere?", "is it in the eastern hemisphere?",
              "is it near the equator?", "is it in the tropics?", "is it hot?", "is it warm?",
              "is it cold?", "is it mild?", "is it humid?", "is it dry?", "is it a megacity?",
              "is it a big city?", "is it a small city?", "is it a famous city?",
              "does it have more than 2 million people?",
              "does it have more than 5 million people?",
              "does it have more than 10 million people?",
              "does it have more than 20 million people?")
HELP = "unknown ask"      # the terse help reply, normalized ("Unknown. Ask: ...")
OPEN = ("what continent is it in?", "which country is it in?", "what region is it in?",
        "what language do they speak?", "what is the climate like?",
        "which hemisphere is it in?")


@functools.lru_cache(maxsize=1)
def questions() -> tuple[str, ...]:
  """The question pool: understood (no help reply) for every city, and splitting the table."""
  cities = gm.cities()
  places = sorted({p for c in cities for p in c.places()})
  langs = sorted({lang for c in cities for lang in c.languages})
  themes = collections.Counter(k for c in cities for k in set(c.known))
  pool = (OPEN + ATTRIBUTES + tuple(f"is it in {p}?" for p in places)
          + tuple(f"do they speak {lang}?" for lang in langs)
          + tuple(f"is it famous for {k}?" for k in sorted(themes) if themes[k] >= 2))
  sh = shadows(False)
  def ok(q: str) -> bool:
    table = sh.predict(q)[2]
    return len(table) > 1 and not any(t.startswith(HELP) for t in table)
  return tuple(q for q in pool if ok(q))


def guess(name: str) -> str:
  return f"is it {normalize(name)}?"


@functools.lru_cache(maxsize=2)
def shadows(verbose: bool) -> Shadows:
  def make(name: str) -> gm.GuessMyCity:
    g = gm.GuessMyCity(verbose=verbose)
    g.reset(Scenario(gm.GROUP, "hypothesis", "train", "easy", {"secret": name}))
    return g
  return Shadows([c.name for c in gm.cities()], make)


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  return ask_or_guess(shadows(bool(game.verbose)), questions(), guess, game, history, rng, noise,
                      ("city", "cities"))
