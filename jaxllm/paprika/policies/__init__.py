"""Scripted players for the PAPRIKA games, with tunable skill (for behaviour-cloning data).

    from jaxllm.paprika.policies import POLICIES, ScriptedAgent, play, scripted_move
    move = scripted_move(game, np.random.default_rng(0), noise=0.3)    # "crane"
    agent = ScriptedAgent(noise=0.3, seed=0, think=True)
    rec = play(scenario, agent)           # Episode.record() of one full game (terse messages)
    agent.act(episode)                    # "<Think>523 words fit</Think> <Answer>crane</Answer>"

Each group's policy (one module per group here) is `policy(game, history, rng, noise) ->
(move text, short note)`, keyed by group name in `POLICIES`. The move is what goes inside
`<Answer>`, in the game's own syntax.

Decisions:
- Skill is one knob: every turn, with probability `noise` the policy plays a random legal move
  (well-formed and not obviously wasted: an untried cell, a dictionary word, ...; each module
  says which), otherwise its informed move. noise=0 is the best scripted play, noise=1 random
  legal play.
- Informed moves use only what the agent has seen: the moves sent and the feedback text
  (`observe.py`), plus the public facts of the set-up the prompt states (board size, code
  length, the CA examples). Each module lists the game attributes it reads; none reads a secret
  or the scenario's data.
- `ScriptedAgent` owns one numpy Generator seeded once, so a sequence of games played by one
  agent is reproducible from (noise, seed). `think=True` prefixes `<Think>note</Think>` with the
  policy's note (a few words: candidates left, open hits, means).
- `act` accepts an Episode (history read off its chat) or a bare Game (history logged by a
  recorder the first call puts on the instance: call it from the first turn).
- The four LLM-simulated groups (twenty_questions, guess_my_city, customer_service,
  murder_mystery) also read the intro (`history.intro`: the product and complaint, the suspects).
  The first three keep one hypothetical simulator per candidate secret of the module's public
  table and ask what best splits the candidates still consistent with the replies; the detective
  reasons from the replies. Their informed play models the deterministic simulators: with an
  env LLM the reply texts differ, and they keep the candidates with the fewest mismatches.
- `scripted_move` raises KeyError for a group without a policy (none at present).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

# The other game modules are imported (and so registered) by their policies.
from jaxllm.paprika.games import bandit as _bandit_game  # noqa: F401  (registers the group)
from jaxllm.paprika.games.base import GROUPS, Game, Scenario
from jaxllm.paprika.policies import (bandit, battleship, cellular_automata, customer_service,
                                     guess_my_city, mastermind, minesweeper, murder_mystery,
                                     twenty_questions, wordle)
from jaxllm.paprika.policies.observe import History, observe
from jaxllm.paprika.turns import Episode

Policy = Callable[[Game, History, np.random.Generator, float], tuple[str, str]]

POLICIES: dict[str, Policy] = {
    "wordle": wordle.policy,
    "mastermind": mastermind.policy,
    "battleship": battleship.policy,
    "minesweeper": minesweeper.policy,
    "cellular_automata": cellular_automata.policy,
    "bandit": bandit.policy,
    "twenty_questions": twenty_questions.policy,
    "guess_my_city": guess_my_city.policy,
    "customer_service": customer_service.policy,
    "murder_mystery": murder_mystery.policy,
}


def decide(source: Episode | Game, rng: np.random.Generator, noise: float) -> tuple[str, str]:
  """(move, note) for the next turn of an Episode or a Game."""
  if not 0.0 <= noise <= 1.0:
    raise ValueError(f"noise must be in [0, 1], not {noise}")
  game, history = observe(source)
  if game.done:
    raise RuntimeError(f"the {game.group} game is over")
  if game.group not in POLICIES:
    raise KeyError(f"no scripted policy for group {game.group!r}; have {sorted(POLICIES)}")
  return POLICIES[game.group](game, history, rng, float(noise))


def scripted_move(game: Episode | Game, rng: np.random.Generator, noise: float) -> str:
  """The move text (what goes inside <Answer>) for the next turn."""
  return decide(game, rng, noise)[0]


class ScriptedAgent:
  """A scripted player producing full agent replies `<Answer>MOVE</Answer>`."""

  def __init__(self, noise: float, seed: int, think: bool = False):
    self.noise, self.seed, self.think = float(noise), int(seed), think
    self.rng = np.random.default_rng(self.seed)

  def act(self, source: Episode | Game) -> str:
    move, note = decide(source, self.rng, self.noise)
    answer = f"<Answer>{move}</Answer>"
    return f"<Think>{note}</Think> {answer}" if self.think else answer


def play(scenario: Scenario, agent: ScriptedAgent, terse: bool = True) -> dict[str, Any]:
  """Plays one scenario to the end on a fresh game; returns the Episode's record."""
  ep = Episode(GROUPS[scenario.group].make(verbose=not terse), scenario, terse=terse)
  while not ep.done:
    ep.apply(agent.act(ep))
  return ep.record()
