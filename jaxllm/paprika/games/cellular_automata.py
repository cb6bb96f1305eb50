"""Cellular automata: infer an elementary CA rule from 3 input/output pairs, in 6 turns.

    spec = GROUPS["cellular_automata"]
    game = spec.make()                                   # verbose=False: terse text
    game.reset(spec.scenarios("train", n=3, seed=0)[0])
    game.step("01011010").text                           # rule 90, in the order 111..000

An elementary CA (Wolfram rules 0-255) maps each cell to bit (4*left + 2*self + right) of the
rule number; the row wraps around (the left neighbour of the first cell is the last cell). The
scenario shows 3 random binary rows and the row one step later.

Decisions the spec leaves open:
- Move syntax, any of:
  * 8 bits, the new cell for neighbourhoods 111 110 101 100 011 010 001 000 in that order
    (spaces inside are ignored: "0101 1010"). This string is the rule number in binary.
  * 8 pairs `111:0 110:1 ...` in any order, separated by spaces, commas or semicolons; `=` or
    `->` may replace `:`. Each neighbourhood must appear exactly once.
  * `rule N` with N in 0-255 (Wolfram numbering).
  Anything else is malformed and costs the turn.
- Success: the stated rule reproduces all 3 outputs. Neighbourhoods the examples never show
  are unconstrained, so any rule agreeing on the shown ones wins (the hidden rule is not the
  only answer). A wrong rule is shown the 3 rows it produces, each marked right or wrong, with
  the differing cells (1-based) listed.
- Difficulty: row width, "width6", "width8", "width10" (more cells to read and more
  neighbourhoods pinned down). scenarios(..., width=W) gives every scenario width W (labelled
  "widthW"; a held-out variant if W is not one of the three).
- Train/eval split: by rule. A rule is an eval rule when sha256("cellular_automata:" + N) mod
  5 == 0 (51 of the 256 rules); train scenarios only use the other rules, so the splits never
  share a hidden rule.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "cellular_automata"
TURNS = 6
PAIRS = 3
WIDTHS = (6, 8, 10)
DIFFICULTIES = tuple(f"width{w}" for w in WIDTHS)
ORDER = ("111", "110", "101", "100", "011", "010", "001", "000")
PAIR = re.compile(r"([01]{3}):([01])")


def split_of(rule: int) -> str:
  h = int(hashlib.sha256(f"{GROUP}:{rule}".encode()).hexdigest(), 16)
  return "eval" if h % 5 == 0 else "train"


def rules_of(split: str) -> list[int]:
  return [r for r in range(256) if split_of(r) == split]


def apply(rule: int, row: str) -> str:
  """One step of `rule` on the binary string `row`, wrapping around."""
  n = len(row)
  return "".join(str(rule >> (4 * int(row[i - 1]) + 2 * int(row[i]) + int(row[(i + 1) % n])) & 1)
                 for i in range(n))


def parse_rule(answer: str) -> int | None:
  """The rule number an answer states, or None when it is not in one of the three syntaxes."""
  text = answer.strip().rstrip(".")
  m = re.fullmatch(r"rule\s*(\d{1,3})", text)
  if m:
    n = int(m.group(1))
    return n if n < 256 else None
  bits = re.sub(r"\s+", "", text)
  if re.fullmatch(r"[01]{8}", bits):
    return int(bits, 2)
  pairs = re.sub(r"\s*(?:->|=|:)\s*", ":", text)
  table: dict[str, str] = {}
  for p in filter(None, re.split(r"[\s,;]+", pairs)):
    m = PAIR.fullmatch(p)
    if m is None or m.group(1) in table:
      return None
    table[m.group(1)] = m.group(2)
  if len(table) != 8:
    return None
  return int("".join(table[k] for k in ORDER), 2)


class CellularAutomata(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.inputs: list[str] = []
    self.outputs: list[str] = []
    self._turns = TURNS

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    d = scenario.data
    self.inputs = list(d["inputs"])
    self.outputs = [apply(int(d["rule"]), row) for row in self.inputs]
    self._turns = int(d.get("max_turns", TURNS))
    if not self.verbose:
      pairs = "\n".join(f"{a}>{b}" for a, b in zip(self.inputs, self.outputs))
      return (f"CA rule? wrap. Reply 8 bits: new cell for 111,110,..,000. {self._turns} turns."
              f"\n{pairs}")
    pairs = "\n".join(f"{i + 1}. {a} -> {b}" for i, (a, b) in enumerate(zip(self.inputs,
                                                                           self.outputs)))
    return ("Find the rule of an elementary cellular automaton. Each cell's next value depends on "
            "its left neighbour, itself and its right neighbour; the row wraps around (the first "
            "and last cells are neighbours). Here are 3 rows and the rows one step later:\n"
            f"{pairs}\nState the rule as 8 bits giving the new cell for the neighbourhoods 111, "
            "110, 101, 100, 011, 010, 001, 000 in that order (for example 01011010), or as 8 "
            "pairs like 111:0 110:1 101:0 100:1 011:1 010:0 001:1 000:0, or as rule N (Wolfram "
            "number 0-255). You win when your rule reproduces all 3 outputs. You have "
            f"{self._turns} turns.")

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    rule = parse_rule(answer)
    if rule is None:
      if not self.verbose:
        return "Bad rule: reply 8 bits for 111..000, e.g. 01011010.", False, False
      return (f"'{answer}' is not a rule I can read: give 8 bits for the neighbourhoods 111, 110, "
              "101, 100, 011, 010, 001, 000 in that order (e.g. 01011010), or 8 pairs like "
              "111:0 110:1 ... 000:0 covering each neighbourhood once, or rule N with N in "
              "0-255. This still cost a turn."), False, False
    got = [apply(rule, row) for row in self.inputs]
    won = got == self.outputs
    bits = format(rule, "08b")
    if not self.verbose:
      marks = "; ".join(f"{g} {'ok' if g == o else 'no'}" for g, o in zip(got, self.outputs))
      return (f"{bits} right. Goal reached!" if won else marks), won, False
    if won:
      return (f"Rule {bits} (rule {rule}) reproduces all 3 outputs. Goal reached!"), True, False
    lines = []
    for i, (g, o) in enumerate(zip(got, self.outputs)):
      if g == o:
        lines.append(f"{i + 1}. {self.inputs[i]} -> {g} (correct)")
      else:
        diff = [str(k + 1) for k in range(len(g)) if g[k] != o[k]]
        where = f"cell {diff[0]} differs" if len(diff) == 1 else f"cells {', '.join(diff)} differ"
        lines.append(f"{i + 1}. {self.inputs[i]} -> {g} (wrong: expected {o}; {where})")
    left = self._turns - self.turns
    return (f"Your rule {bits} (rule {rule}) gives:\n" + "\n".join(lines) +
            f"\n{left} turn{'s' if left != 1 else ''} left."), False, False


def scenarios(split: str, n: int, seed: int = 0, width: int | None = None,
              max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if width is not None and width < 3:
    raise ValueError("width must be at least 3")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed, width or 0])
  rules = rules_of(split)
  out = []
  for i in range(n):
    w = width or WIDTHS[i % len(WIDTHS)]
    rule = rules[int(rng.integers(len(rules)))]
    inputs = ["".join(str(int(b)) for b in rng.integers(2, size=w)) for _ in range(PAIRS)]
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, f"width{w}",
                        {"rule": int(rule), "inputs": inputs, "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=CellularAutomata, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Cellular automata: state the 8 entries of an elementary CA rule shown by 3 "
                "input/output rows (wrap-around), in 6 turns."))
