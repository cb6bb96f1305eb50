"""Battleship: sink a carrier (5), a battleship (4) and a destroyer (2) in 20 shots.

    spec = GROUPS["battleship"]
    game = spec.make()                                   # verbose=False: terse text
    game.reset(spec.scenarios("train", n=3, seed=0)[1])  # a 6x6 board
    game.step("b3").text                                 # "b3: miss. ..."

Decisions the spec leaves open:
- Board: square, `size` x `size`. Columns are letters a.. from the left, rows numbers 1.. from
  the top; a move is a column letter then a row number, e.g. a1 or c4 (A1 arrives lower-cased;
  a space between is tolerated: "c 4"). The reference board is 6x6; difficulty categories are
  the board sizes "5x5" (easy), "6x6" (medium), "7x7" (hard). The 11 ship cells always fit in
  the 20 turns (on 7x7 a hunt-and-target strategy needs some luck, which is what makes it hard).
  scenarios(..., size=N) gives every scenario an N x N board (labelled "NxN"; a held-out variant
  when N is not one of the three); size must be 5..26.
- Ships are placed one by one (carrier, battleship, destroyer), each with a random orientation
  and position, redrawn on overlap; ships may touch.
- Feedback: "hit", "miss" or "hit, sunk the <ship>". Firing at a cell already fired at, a cell
  off the board, or an unreadable move costs the turn and is told so. Verbose feedback also
  draws the shots so far (X hit, o miss, . unknown) and names the ships still afloat.
- Success: every ship cell hit (all three sunk).
- Train/eval split: a layout belongs to eval when sha256 of its canonical text mod 5 == 0;
  layouts of the other split are redrawn, so the splits never share a layout.
"""
from __future__ import annotations

import hashlib
import re
import string
import zlib

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "battleship"
TURNS = 20
SHIPS = (("carrier", 5), ("battleship", 4), ("destroyer", 2))
SIZES = (5, 6, 7)
DIFFICULTIES = tuple(f"{s}x{s}" for s in SIZES)
MOVE = re.compile(r"^([a-z])\s*(\d+)$")


def cell_name(r: int, c: int) -> str:
  return f"{string.ascii_lowercase[c]}{r + 1}"


def _key(size: int, ships: dict[str, list[list[int]]]) -> str:
  return f"{GROUP}:{size}:" + ";".join(f"{n}={sorted(map(tuple, ships[n]))}" for n, _ in SHIPS)


def split_of(size: int, ships: dict[str, list[list[int]]]) -> str:
  h = int(hashlib.sha256(_key(size, ships).encode()).hexdigest(), 16)
  return "eval" if h % 5 == 0 else "train"


def place(rng: np.random.Generator, size: int) -> dict[str, list[list[int]]]:
  """ship name -> list of [row, col] (0-based)."""
  taken: set[tuple[int, int]] = set()
  ships = {}
  for name, length in SHIPS:
    while True:
      horizontal = bool(rng.integers(2))
      r0 = int(rng.integers(size if horizontal else size - length + 1))
      c0 = int(rng.integers(size - length + 1 if horizontal else size))
      cells = [(r0, c0 + k) if horizontal else (r0 + k, c0) for k in range(length)]
      if not taken.intersection(cells):
        break
    taken.update(cells)
    ships[name] = [list(c) for c in cells]
  return ships


class Battleship(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.size, self._turns = 6, TURNS
    self.ship_at: dict[tuple[int, int], str] = {}
    self.shots: dict[tuple[int, int], bool] = {}

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    d = scenario.data
    self.size, self._turns = int(d["size"]), int(d.get("max_turns", TURNS))
    self.ship_at = {(r, c): name for name, cells in d["ships"].items() for r, c in cells}
    self.shots = {}
    last = cell_name(self.size - 1, self.size - 1)
    if not self.verbose:
      return (f"Battleship {self.size}x{self.size}, cols a-{last[0]}, rows 1-{self.size}. Ships "
              f"5,4,2 long. Sink all in {self._turns} shots. Reply e.g. b3.")
    return (f"Let's play Battleship on a {self.size}x{self.size} board. Columns are letters a to "
            f"{last[0]} (left to right) and rows are numbers 1 to {self.size} (top to bottom). "
            "Hidden on the board are a carrier (5 cells), a battleship (4 cells) and a destroyer "
            "(2 cells), each placed horizontally or vertically without overlapping. You have "
            f"{self._turns} shots to hit every ship cell. Each turn, answer with the cell to fire "
            "at as column letter then row number, for example: b3. I tell you hit, miss, or "
            "which ship you sunk.")

  def _board(self) -> str:
    rows = []
    for r in range(self.size):
      marks = ["X" if self.shots.get((r, c)) else "o" if (r, c) in self.shots else "."
               for c in range(self.size)]
      rows.append(f"{r + 1:>2} " + " ".join(marks))
    return "   " + " ".join(string.ascii_lowercase[:self.size]) + "\n" + "\n".join(rows)

  def _afloat(self) -> list[str]:
    return [n for n, _ in SHIPS if any(s == n and p not in self.shots
                                       for p, s in self.ship_at.items())]

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    answer = answer.lower()
    m = MOVE.match(answer)
    last = cell_name(self.size - 1, self.size - 1)
    if m is None:
      if not self.verbose:
        return f"Bad move: write column a-{last[0]} and row 1-{self.size}, e.g. b3.", False, False
      return (f"'{answer}' is not a valid move: write a column letter a-{last[0]} followed by a "
              f"row number 1-{self.size}, for example: b3. This still cost a turn."), False, False
    r, c = int(m.group(2)) - 1, string.ascii_lowercase.index(m.group(1))
    if not (0 <= r < self.size and 0 <= c < self.size):
      if not self.verbose:
        return f"{answer} is off the board (a1-{last}).", False, False
      return (f"{answer} is off the board: columns are a-{last[0]} and rows 1-{self.size}. "
              "This still cost a turn."), False, False
    name = cell_name(r, c)
    if (r, c) in self.shots:
      was = "hit" if self.shots[(r, c)] else "miss"
      if not self.verbose:
        return f"{name} already shot ({was}).", False, False
      return (f"You already fired at {name} (it was a {was}); pick a new cell. "
              "This still cost a turn."), False, False
    ship = self.ship_at.get((r, c))
    self.shots[(r, c)] = ship is not None
    afloat = self._afloat()
    if ship is None:
      result = "miss"
    elif ship not in afloat:
      result = f"hit, sunk the {ship}"
    else:
      result = "hit"
    won = not afloat
    if not self.verbose:
      return f"{name} {result}" + (". Goal reached!" if won else ""), won, False
    if won:
      return f"{name}: {result}! All ships are sunk. Goal reached!", True, False
    left = self._turns - self.turns
    return (f"{name}: {result}. Ships afloat: {', '.join(afloat)}. "
            f"{left} shot{'s' if left != 1 else ''} left.\n{self._board()}"), False, False


def scenarios(split: str, n: int, seed: int = 0, size: int | None = None,
              max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if size is not None and not 5 <= size <= 26:
    raise ValueError("size must be 5..26 (the carrier is 5 long; columns are letters)")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed,
                               size or 0])
  out = []
  for i in range(n):
    s = size or SIZES[i % len(SIZES)]
    while True:
      ships = place(rng, s)
      if split_of(s, ships) == split:
        break
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, f"{s}x{s}",
                        {"size": s, "ships": ships, "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=Battleship, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Battleship: sink a carrier, battleship and destroyer on a 5x5-7x7 board "
                "in 20 shots."))
