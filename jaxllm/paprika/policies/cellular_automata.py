"""Scripted cellular-automaton player: read the rule off the 3 examples.

    move, note = policy(game, history, rng, noise)     # ("01011010", "8/8 entries seen")

Reads from the game: `game.inputs` and `game.outputs` (the example rows the prompt shows); the
history, for the rules already tried. Never the scenario's hidden rule.

Decisions:
- Every neighbourhood that occurs in the examples (wrap-around, as the game applies it) fixes
  its output bit; neighbourhoods never shown get a random bit. Such a rule reproduces all three
  outputs, so the informed move wins at once (the game accepts any rule agreeing on the shown
  neighbourhoods).
- Noise move: not a uniformly random rule (that would almost never win, so every noisy
  trajectory would fail and none would vary in length) but the informed rule with each shown
  entry flipped with probability FLIP (0.25); it is still right with probability 0.75**k for k
  shown entries (about 0.1-0.2 for k = 6-8). Up to 20 redraws avoid repeating a rule already
  tried.
- Moves are the 8 bits for 111 110 ... 000 (the game's `ORDER`).
"""
from __future__ import annotations

import numpy as np

from jaxllm.paprika.games import cellular_automata as rules
from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

FLIP = 0.25


def shown_table(inputs: list[str], outputs: list[str]) -> dict[str, str]:
  """neighbourhood (e.g. '101') -> the output bit the examples show for it."""
  table = {}
  for row, out in zip(inputs, outputs):
    n = len(row)
    for i in range(n):
      table[row[i - 1] + row[i] + row[(i + 1) % n]] = out[i]
  return table


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  table = shown_table(list(game.inputs), list(game.outputs))
  note = f"{len(table)}/8 entries seen"

  def draw(flip: float) -> str:
    bits = []
    for hood in rules.ORDER:
      coin = int(rng.integers(2))
      if hood not in table:
        bits.append(str(coin))
      else:
        bits.append(str(1 - int(table[hood])) if rng.random() < flip else table[hood])
    return "".join(bits)
  if rng.random() >= noise:
    return draw(0.0), note
  tried = {rules.parse_rule(a) for a, _ in history}
  for _ in range(20):
    move = draw(FLIP)
    if int(move, 2) not in tried:
      break
  return move, note + ", some flipped"
