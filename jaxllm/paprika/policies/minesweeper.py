"""Scripted Minesweeper player: the centre first, then single-cell deduction, then the safest
looking cell.

    move, note = policy(game, history, rng, noise)     # ("reveal 2 4", "3 safe cells known")

Reads from the game: `game.rows`, `game.cols` (the board the prompt states); the mine count is
`minesweeper.mine_count(rows, cols)`, the number the prompt states for drawn boards (hand-laid
`data["mines"]` boards may differ; only the probability guess uses it). The board itself is
parsed from the latest feedback in the history that shows one (terse `??1/010/000` or the
verbose grid with row and column numbers). Never `game.mines`, `game.board()` (it reads the
mines to count) or the scenario's seed.

Decisions:
- First move (nothing revealed yet): the centre cell; the game guarantees it opens a region.
- Deduction, repeated to a fixpoint: for a revealed number k with known-mine neighbours m and
  undecided hidden neighbours U, k == m makes all of U safe and k - m == |U| makes all of U
  mines; when the known mines reach the mine count every other hidden cell is safe.
- Informed move: a random deduced-safe cell; else the undecided hidden cell with the lowest naive
  mine probability: the largest (k - m) / |U| over its numbered neighbours, or, with none, the
  remaining mines spread evenly over the undecided cells (ties random).
- Noise move: a uniformly random hidden cell (it may be a mine: that is the noise).
"""
from __future__ import annotations

import numpy as np

from jaxllm.paprika.games import minesweeper as rules
from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History

CELLS = set("012345678?*")


def parse_board(text: str, rows: int, cols: int) -> list[str] | None:
  """The rows of the board a feedback text shows ('?' hidden, digits revealed), or None."""
  lines = text.splitlines()
  for line in reversed(lines):
    parts = line.strip().split("/")
    if len(parts) == rows and all(len(p) == cols and set(p) <= CELLS for p in parts):
      return parts
  grid = []
  for line in lines:
    tok = line.split()
    if len(tok) == cols + 1 and tok[0].isdigit() and all(t in CELLS for t in tok[1:]):
      grid.append("".join(tok[1:]))
  return grid[-rows:] if len(grid) >= rows else None


def latest_board(history: History, rows: int, cols: int) -> list[str]:
  for _, text in reversed(history):
    board = parse_board(text, rows, cols)
    if board is not None:
      return board
  return ["?" * cols] * rows


def deduce(board: list[str], total: int) -> tuple[set, set, dict]:
  """(safe hidden cells, mine cells, {revealed number cell: (k, hidden neighbours)})."""
  rows, cols = len(board), len(board[0])
  hidden = {(r, c) for r in range(rows) for c in range(cols) if board[r][c] == "?"}
  numbers = {(r, c): (int(board[r][c]), [q for q in rules.neighbours(r, c, rows, cols)
                                         if q in hidden])
             for r in range(rows) for c in range(cols) if board[r][c].isdigit()}
  safe, mines = set(), set()
  changed = True
  while changed:
    changed = False
    for k, around in numbers.values():
      undecided = [q for q in around if q not in safe and q not in mines]
      if not undecided:
        continue
      left = k - sum(q in mines for q in around)
      if left == 0:
        safe.update(undecided)
        changed = True
      elif left == len(undecided):
        mines.update(undecided)
        changed = True
    if len(mines) >= total and hidden - safe - mines:
      safe |= hidden - mines
      changed = True
  return safe, mines, numbers


def risk(board, total, safe, mines, numbers) -> dict[tuple[int, int], float]:
  rows, cols = len(board), len(board[0])
  undecided = [(r, c) for r in range(rows) for c in range(cols)
               if board[r][c] == "?" and (r, c) not in safe and (r, c) not in mines]
  spread = max(total - len(mines), 0) / max(len(undecided), 1)
  out = {}
  for p in undecided:
    worst = None
    for q in rules.neighbours(*p, rows, cols):
      if q in numbers:
        k, around = numbers[q]
        und = [x for x in around if x not in safe and x not in mines]
        frac = (k - sum(x in mines for x in around)) / len(und)
        worst = frac if worst is None else max(worst, frac)
    out[p] = spread if worst is None else worst
  return out


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  rows, cols = int(game.rows), int(game.cols)
  board = latest_board(history, rows, cols)
  hidden = [(r, c) for r in range(rows) for c in range(cols) if board[r][c] == "?"]

  def say(p):
    return f"reveal {p[0] + 1} {p[1] + 1}"

  def pick(cells):
    return say(cells[int(rng.integers(len(cells)))])
  if not hidden:
    return say((0, 0)), "nothing hidden"
  if rng.random() < noise:
    return pick(hidden), "random cell"
  if len(hidden) == rows * cols:
    return say((rows // 2, cols // 2)), "centre first"
  total = rules.mine_count(rows, cols)
  safe, mines, numbers = deduce(board, total)
  if safe:
    return pick(sorted(safe)), f"{len(safe)} safe cell{'s' if len(safe) != 1 else ''} known"
  odds = risk(board, total, safe, mines, numbers)
  if not odds:
    return pick(hidden), "no undecided cell"
  low = min(odds.values())
  return pick(sorted(p for p, v in odds.items() if v == low)), f"guess, risk {low:.2f}"
