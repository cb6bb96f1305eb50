"""Minesweeper: reveal every safe cell of a rows x cols board in 20 turns without hitting a mine.

    spec = GROUPS["minesweeper"]
    game = spec.make()                                   # verbose=False: terse text
    game.reset(spec.scenarios("eval", n=3, seed=0)[0])
    game.step("reveal 3 3").text                         # the board after the reveal

The board has max(1, rows*cols // 10) mines. They are placed when the first valid reveal
arrives, from a numpy Generator seeded by (scenario seed, first row, first column), so a
scenario replays exactly given the same first move.

Decisions the spec leaves open:
- Coordinates are 1-based: `reveal R C` with row R from 1 (top) and column C from 1 (left).
  "reveal 2,3" and a bare "2 3" are accepted too. Off-board, already-revealed and unreadable
  moves cost the turn and are told so.
- The first revealed cell is never a mine; when the board has room (rows*cols - 9 >= mines) none
  of its neighbours is a mine either, so the first reveal always opens a region.
- Revealing a cell with no neighbouring mines also reveals its neighbours, recursively (flood
  fill). Revealing a mine loses the game (lost=True). Success: all non-mine cells revealed.
  There are no flags: they do not change the outcome.
- Board text: one line per row, `?` hidden, a digit (0-8) for a revealed cell's mine count,
  `*` for mines (only shown after a loss). Verbose mode adds row/column numbers; terse mode
  joins the rows with `/` ("??1/010/000").
- Difficulty: board size, "5x5" (2 mines), "6x6" (3), "7x7" (4); scenarios(..., rows=R, cols=C)
  gives every scenario that board (labelled "RxC"; a held-out variant if not one of the three).
  With the layout known, winning takes (median / worst of 600) 2/5 reveals on 5x5, 4/10 on 6x6
  and 6/15 on 7x7, so 20 turns leave room for deduction and the odd forced guess.
- Train/eval split: a mine layout belongs to eval when sha256 of its canonical text mod 5 == 0;
  when placing the mines, layouts of the other split are redrawn, so a train game and an eval
  game never share a layout. Tests (or hand-laid puzzles) may fix the layout with
  data["mines"] = [[r, c], ...] (1-based, like moves); then nothing is drawn.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "minesweeper"
TURNS = 20
SIZES = ((5, 5), (6, 6), (7, 7))
DIFFICULTIES = tuple(f"{r}x{c}" for r, c in SIZES)
MOVE = re.compile(r"^(?:reveal\s+)?(\d+)\s*[\s,]\s*(\d+)$")


def mine_count(rows: int, cols: int) -> int:
  return max(1, rows * cols // 10)


def split_of(rows: int, cols: int, mines: set[tuple[int, int]]) -> str:
  key = f"{GROUP}:{rows}x{cols}:{sorted(mines)}"
  return "eval" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 5 == 0 else "train"


def neighbours(r: int, c: int, rows: int, cols: int) -> list[tuple[int, int]]:
  return [(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
          if (dr or dc) and 0 <= r + dr < rows and 0 <= c + dc < cols]


def place_mines(seed: int, rows: int, cols: int, first: tuple[int, int],
                split: str) -> set[tuple[int, int]]:
  """0-based mine cells, never on `first` (nor its neighbours when there is room)."""
  n = mine_count(rows, cols)
  banned = {first} | set(neighbours(*first, rows, cols))
  if rows * cols - len(banned) < n:
    banned = {first}
  free = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in banned]
  if len(free) < n:
    raise ValueError(f"a {rows}x{cols} board cannot hold {n} mines besides the first cell")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), seed, first[0], first[1]])
  for _ in range(10_000):
    mines = {free[int(k)] for k in rng.choice(len(free), size=n, replace=False)}
    if split_of(rows, cols, mines) == split:
      return mines
  raise ValueError(f"no {split} layout found for a {rows}x{cols} board")  # tiny boards only


class Minesweeper(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.rows = self.cols = 5
    self._turns = TURNS
    self.mines: set[tuple[int, int]] | None = None
    self.revealed: set[tuple[int, int]] = set()

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    d = scenario.data
    self.rows, self.cols = int(d["rows"]), int(d["cols"])
    self._turns = int(d.get("max_turns", TURNS))
    fixed = d.get("mines")
    self.mines = None if fixed is None else {(int(r) - 1, int(c) - 1) for r, c in fixed}
    self.revealed = set()
    n = len(self.mines) if self.mines is not None else mine_count(self.rows, self.cols)
    if not self.verbose:
      return (f"Minesweeper {self.rows}x{self.cols}, {n} mines, {self._turns} turns. Reply "
              "reveal R C (1-based). Reveal all safe cells. ?=hidden, digit=adjacent mines.")
    return (f"Let's play Minesweeper on a board of {self.rows} rows and {self.cols} columns with "
            f"{n} hidden mine{'s' if n != 1 else ''}. Each turn, answer `reveal R C` to reveal "
            f"the cell in row R (1-{self.rows}, top to bottom) and column C (1-{self.cols}, left "
            "to right), for example: reveal 3 2. Numbers are 1-based. A revealed cell shows how "
            "many of its 8 neighbours are mines; a 0 also reveals its neighbours. Revealing a "
            "mine loses the game. The first cell you reveal is never a mine. Reveal every cell "
            f"without a mine within {self._turns} turns to win. Hidden cells are shown as ?.")

  def _count(self, r: int, c: int) -> int:
    return sum(p in self.mines for p in neighbours(r, c, self.rows, self.cols))

  def _flood(self, start: tuple[int, int]) -> None:
    todo = [start]
    while todo:
      p = todo.pop()
      if p in self.revealed:
        continue
      self.revealed.add(p)
      if self._count(*p) == 0:
        todo.extend(q for q in neighbours(*p, self.rows, self.cols) if q not in self.revealed)

  def board(self, show_mines: bool = False) -> str:
    lines = []
    for r in range(self.rows):
      cells = []
      for c in range(self.cols):
        if show_mines and self.mines and (r, c) in self.mines:
          cells.append("*")
        elif (r, c) in self.revealed:
          cells.append(str(self._count(r, c)))
        else:
          cells.append("?")
      lines.append(cells)
    if not self.verbose:
      return "/".join("".join(cells) for cells in lines)
    w = len(str(max(self.rows, self.cols)))
    head = " " * (w + 1) + " ".join(f"{c + 1:>{w}}" for c in range(self.cols))
    return head + "\n" + "\n".join(
        f"{r + 1:>{w}} " + " ".join(f"{x:>{w}}" for x in cells) for r, cells in enumerate(lines))

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    m = MOVE.match(answer)
    if m is None:
      if not self.verbose:
        return "Bad move: write reveal R C, e.g. reveal 2 3.", False, False
      return (f"'{answer}' is not a valid move: write `reveal R C` with a row number R and a "
              "column number C (1-based), for example: reveal 2 3. This still cost a turn."), \
          False, False
    r, c = int(m.group(1)) - 1, int(m.group(2)) - 1
    if not (0 <= r < self.rows and 0 <= c < self.cols):
      if not self.verbose:
        return f"Off board: rows 1-{self.rows}, cols 1-{self.cols}.", False, False
      return (f"Row {r + 1}, column {c + 1} is off the board: rows are 1-{self.rows} and columns "
              f"1-{self.cols}. This still cost a turn."), False, False
    if (r, c) in self.revealed:
      if not self.verbose:
        return f"{r + 1} {c + 1} already revealed.\n{self.board()}", False, False
      return (f"Row {r + 1}, column {c + 1} is already revealed; pick a hidden cell (?). "
              f"This still cost a turn.\n{self.board()}"), False, False
    if self.mines is None:
      d = self.scenario.data
      self.mines = place_mines(int(d["seed"]), self.rows, self.cols, (r, c), self.scenario.split)
    if (r, c) in self.mines:
      if not self.verbose:
        return f"Boom! Mine at {r + 1} {c + 1}. You lose.\n{self.board(True)}", False, True
      return (f"Boom! Row {r + 1}, column {c + 1} was a mine. You lose.\n"
              f"{self.board(True)}"), False, True
    self._flood((r, c))
    won = len(self.revealed) == self.rows * self.cols - len(self.mines)
    if not self.verbose:
      return (f"Goal reached!\n{self.board()}" if won else self.board()), won, False
    if won:
      return f"All safe cells are revealed. Goal reached!\n{self.board()}", True, False
    left = self._turns - self.turns
    return (f"Revealed row {r + 1}, column {c + 1}. {left} turn{'s' if left != 1 else ''} left.\n"
            f"{self.board()}"), False, False


def scenarios(split: str, n: int, seed: int = 0, rows: int | None = None, cols: int | None = None,
              max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if (rows is None) != (cols is None):
    raise ValueError("give both rows and cols, or neither")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed,
                               rows or 0, cols or 0])
  out = []
  for i in range(n):
    r, c = (rows, cols) if rows is not None else SIZES[i % len(SIZES)]
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, f"{r}x{c}",
                        {"rows": int(r), "cols": int(c), "seed": int(rng.integers(2**31)),
                         "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=Minesweeper, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Minesweeper: reveal all safe cells of a 5x5-7x7 board in 20 turns; the first "
                "reveal is safe."))
