"""Scripted bandit player: round-robin pulls, then choose the best empirical mean.

    move, note = policy(game, history, rng, noise)     # ("pull 3", "means .60 .20 .40 .00")

Reads from the game: `len(game.pulls)` (the number of arms the prompt states), `game.turns` and
`game.max_turns` (the turn budget the prompt states: the last turn must be `choose`); the
history, for the rewards the feedback reported ("arm 2: 1" / "Arm 2 gave reward 1"). Never
`game.probs`, `game.best`, `game.streams` or the scenario.

Decisions:
- The game requires `choose K` on its last turn (turn max_turns, 21 by default: a pull there is
  refused and ends the game); any earlier `choose` ends the game too.
- Informed move: before the last turn, pull the arm pulled least so far (lowest number on ties:
  round-robin, which also evens out after noisy pulls); on the last turn, choose the arm with
  the best mean reward (an arm never pulled counts as 0.5; ties random).
- Noise move: on the last turn a random `choose`; before it a random `choose` with probability
  EARLY (0.05: an early, uninformed end) and otherwise a pull of a uniformly random arm.
"""
from __future__ import annotations

import re

import numpy as np

from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

REWARD = re.compile(r"arm (\d+)(?::| gave reward) ([01])", re.IGNORECASE)
EARLY = 0.05


def tallies(history: History, arms: int) -> tuple[np.ndarray, np.ndarray]:
  """(pulls, total reward) per arm, from the feedback."""
  pulls, wins = np.zeros(arms), np.zeros(arms)
  for _, text in history:
    m = REWARD.search(text)
    if m and 1 <= int(m.group(1)) <= arms:
      pulls[int(m.group(1)) - 1] += 1
      wins[int(m.group(1)) - 1] += int(m.group(2))
  return pulls, wins


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  arms = len(game.pulls)
  last = game.turns >= game.max_turns - 1
  if rng.random() < noise:
    if last or rng.random() < EARLY:
      return f"choose {int(rng.integers(arms)) + 1}", "random choice"
    return f"pull {int(rng.integers(arms)) + 1}", "random pull"
  pulls, wins = tallies(history, arms)
  means = np.where(pulls > 0, wins / np.maximum(pulls, 1), 0.5)
  note = "means " + " ".join(f"{m:.2f}".lstrip("0") or "0" for m in means)
  if not last:
    return f"pull {int(np.argmin(pulls)) + 1}", note
  best = np.flatnonzero(means == means.max())
  return f"choose {int(best[int(rng.integers(len(best)))]) + 1}", note
