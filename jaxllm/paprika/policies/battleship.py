"""Scripted Battleship player: hunt on a checkerboard by ship density, then target open hits.

    move, note = policy(game, history, rng, noise)     # ("c4", "2 open hits")

Reads from the game: `game.size` (the board the prompt states) and `game.shots` (cell -> hit or
miss: the results the feedback reported); the history, for which shot sank which ship ("sunk
the carrier"). Ship lengths come from the published rules (`battleship.SHIPS`). Never
`game.ship_at`, `game._afloat()` or the scenario's layout.

Decisions:
- Sunk ships are matched to hits: a ship of length L sunk by the shot at p takes a run of L
  hits through p, horizontal or vertical, not already given to another ship (the first such run,
  horizontal first; ambiguous only when ships touch end to end). Hits not given to a sunk ship
  are open.
- Target mode (open hits exist): the untried cells just past either end of a run of two or more
  open hits in line; if there is none, the untried orthogonal neighbours of open hits. A random
  one of them.
- Hunt mode: an untried cell with (row + column) even (every ship, the 2-long destroyer
  included, covers one; odd cells once no even one is left), drawn with weight density**4,
  where density is the number of placements of the ships still afloat through the cell that
  avoid every cell shot so far (cells no afloat ship fits are skipped). Measured on 300 eval
  scenarios at noise 0: plain random parity wins 50% (5x5 91%, 6x6 39%, 7x7 21%), this 67%
  (96 / 67 / 38%); the power keeps some randomness between near-equal cells.
- Noise move: a uniformly random untried cell.
"""
from __future__ import annotations

import re

import numpy as np

from jaxllm.paprika.games import battleship as rules
from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

SUNK = re.compile(r"sunk the (\w+)")
LENGTH = dict(rules.SHIPS)
STEPS = ((0, 1), (1, 0))
HUNT_POWER = 4.0


def _cell(answer: str) -> tuple[int, int] | None:
  m = rules.MOVE.match(answer.lower())
  return (int(m.group(2)) - 1, ord(m.group(1)) - ord("a")) if m else None


def sunk_cells(history: History, hits: set[tuple[int, int]]) -> set[tuple[int, int]]:
  taken: set[tuple[int, int]] = set()
  for answer, text in history:
    m, p = SUNK.search(text), _cell(answer)
    if m is None or p is None or m.group(1) not in LENGTH:
      continue
    n = LENGTH[m.group(1)]
    runs = [[(p[0] + (s + k) * dr, p[1] + (s + k) * dc) for k in range(n)]
            for dr, dc in STEPS for s in range(-n + 1, 1)]
    runs = [run for run in runs if all(q in hits and q not in taken for q in run)]
    taken.update(runs[0] if runs else [p])
  return taken


def targets(open_hits, tried, size) -> list[tuple[int, int]]:
  def free(q):
    return 0 <= q[0] < size and 0 <= q[1] < size and q not in tried
  inline = set()
  for r, c in open_hits:
    for dr, dc in STEPS:
      if (r + dr, c + dc) not in open_hits and (r - dr, c - dc) not in open_hits:
        continue
      for s in (1, -1):
        k = 1
        while (r + s * k * dr, c + s * k * dc) in open_hits:
          k += 1
        inline.add((r + s * k * dr, c + s * k * dc))
  out = sorted(q for q in inline if free(q))
  if out:
    return out
  return sorted({q for r, c in open_hits for q in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1))
                 if free(q)})


def afloat(history: History) -> list[tuple[str, int]]:
  sunk = {m.group(1) for _, t in history for m in [SUNK.search(t)] if m}
  return [(n, k) for n, k in rules.SHIPS if n not in sunk]


def density(size, shot, lengths) -> dict[tuple[int, int], int]:
  """cell -> number of placements of the afloat ships through it that avoid every shot cell."""
  out = {(r, c): 0 for r in range(size) for c in range(size)}
  for n in lengths:
    for dr, dc in STEPS:
      for r in range(size - n * dr + dr):
        for c in range(size - n * dc + dc):
          run = [(r + k * dr, c + k * dc) for k in range(n)]
          if not any(q in shot for q in run):
            for q in run:
              out[q] += 1
  return out


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  size, tried = int(game.size), set(game.shots)
  untried = [(r, c) for r in range(size) for c in range(size) if (r, c) not in tried]
  if not untried:
    return "a1", "board full"

  def pick(cells):
    return rules.cell_name(*cells[int(rng.integers(len(cells)))])
  if rng.random() < noise:
    return pick(untried), "random cell"
  hits = {p for p, hit in game.shots.items() if hit}
  open_hits = hits - sunk_cells(history, hits)
  aim = targets(open_hits, tried, size) if open_hits else []
  if aim:
    return pick(aim), f"{len(open_hits)} open hit{'s' if len(open_hits) != 1 else ''}"
  fits = density(size, tried, [k for _, k in afloat(history)])
  even = [p for p in untried if sum(p) % 2 == 0 and fits[p]] or [p for p in untried if fits[p]]
  if not even:
    return pick(untried), "hunting"
  w = np.array([fits[p] for p in even], float) ** HUNT_POWER
  return rules.cell_name(*even[int(rng.choice(len(even), p=w / w.sum()))]), "hunting"
