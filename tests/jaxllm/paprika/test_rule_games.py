"""The rule-based PAPRIKA games: hand-worked feedback cases, then contracts every group keeps."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jaxllm.paprika.games import (bandit, battleship, cellular_automata, mastermind, minesweeper,
                                  wordle)
from jaxllm.paprika.games.base import GROUPS, GameOver, Scenario

MODULES = (wordle, mastermind, battleship, minesweeper, cellular_automata, bandit)
NAMES = [m.GROUP for m in MODULES]


def scenario(group: str, data: dict, split: str = "train") -> Scenario:
  return Scenario(group, "hand", split, "hand", data)


# ---- wordle ---------------------------------------------------------------------------------


@pytest.mark.parametrize("guess,pattern", [
    ("babes", "YYGG-"),   # one b green (pos 3); the other secret b makes guess b1 yellow
    ("keeps", "-Y---"),   # abbey has one e: first e yellow, second e gets nothing
    ("bobby", "Y-G-G"),   # b3 and y green; one b left -> b1 yellow, b4 grey
    ("abbey", "GGGGG"),
    ("bbbbb", "-GG--"),   # only two b's: both green, the rest grey
])
def test_wordle_duplicate_letters(guess, pattern):
  assert wordle.score("abbey", guess) == pattern
  game = wordle.Wordle()
  game.reset(scenario("wordle", {"secret": "abbey"}))
  fb = game.step(guess)
  assert pattern in fb.text and fb.success == (guess == "abbey")


def test_wordle_verbose_explains_no_further_copies():
  game = wordle.Wordle()
  game.reset(scenario("wordle", {"secret": "abbey"}))
  text = game.step("keeps").text
  assert "2. e is in the word but in a different place" in text
  assert "3. e has no further copies in the word" in text
  assert "1. k is not in the word" in text


def test_wordle_malformed_costs_turn_and_limit():
  game = wordle.Wordle()
  game.reset(scenario("wordle", {"secret": "abbey"}))
  fb = game.step("abc")
  assert fb.turns == 1 and not fb.done and "exactly 5 letters" in fb.text
  assert game.step("ab3de").turns == 2                     # not a-z: also malformed
  for _ in range(3):
    assert not game.step("crane").done
  fb = game.step("zzzzz")
  assert fb.done and not fb.success and fb.turns == 6 and "out of turns" in fb.text
  with pytest.raises(GameOver):
    game.step("abbey")


def test_wordle_non_dictionary_guess_and_quotes():
  game = wordle.Wordle(verbose=False)
  game.reset(scenario("wordle", {"secret": "abbey"}))
  assert game.step("xyzzy").text == "xyzzy ----G"          # not a word, still scored
  assert game.step("'abbey'.").success


def test_wordle_lists_split_and_categories():
  lists = wordle.answer_lists()
  train = {w for (s, _), v in lists.items() if s == "train" for w in v}
  evl = {w for (s, _), v in lists.items() if s == "eval" for w in v}
  assert not train & evl and train | evl == set(wordle.words())
  assert 0.15 < len(evl) / len(wordle.words()) < 0.25
  assert all(len(v) > 100 for v in lists.values())
  counts = wordle.neighbour_counts(("light", "might", "night", "fight", "abbey"))
  assert counts == {"light": 3, "might": 3, "night": 3, "fight": 3, "abbey": 0}


# ---- mastermind -----------------------------------------------------------------------------


@pytest.mark.parametrize("guess,expected", [
    ("3211", (0, 4)),   # every digit present, none in place
    ("1312", (1, 3)),
    ("1213", (2, 2)),
    ("1111", (2, 0)),   # code has two 1s: both in place, extra guessed 1s count for nothing
    ("2214", (0, 2)),   # one 2 and one 1 shared; the second 2 and the 4 count for nothing
    ("1123", (4, 0)),
])
def test_mastermind_counts(guess, expected):
  assert mastermind.evaluate("1123", guess) == expected
  game = mastermind.Mastermind()
  game.reset(scenario("mastermind", {"code": "1123", "symbols": 10}))
  fb = game.step(guess)
  assert f"{expected[0]} exact, {expected[1]} partial" in fb.text
  assert fb.success == (guess == "1123")


def test_mastermind_parsing_and_variants():
  game = mastermind.Mastermind(verbose=False)
  game.reset(scenario("mastermind", {"code": "1123", "symbols": 10}))
  assert game.step("1 2 3 4").text == "1234: 1 exact 2 partial"
  assert "Bad guess" in game.step("12345").text
  assert "Bad guess" in game.step("12a4").text
  assert game.turns == 3
  five = mastermind.scenarios("eval", 9, seed=1, length=5, symbols=6)
  assert all(len(s.data["code"]) == 5 and max(s.data["code"]) <= "5" for s in five)
  for s in five:
    k = len(set(s.data["code"]))
    assert {"distinct": k == 5, "one_repeat": k == 4, "more_repeats": k <= 3}[s.difficulty]
  with pytest.raises(ValueError):
    mastermind.scenarios("train", 3, length=5, symbols=4)   # "distinct" impossible


# ---- battleship -----------------------------------------------------------------------------

SHIPS = {"carrier": [[0, c] for c in range(5)],              # a1-e1
         "battleship": [[r, 0] for r in range(1, 5)],        # a2-a5
         "destroyer": [[3, 3], [3, 4]]}                      # d4, e4


def test_battleship_hit_miss_sunk_and_win():
  game = battleship.Battleship()
  game.reset(scenario("battleship", {"size": 5, "ships": SHIPS}))
  assert game.step("c3").text.startswith("c3: miss.")
  assert game.step("D4").text.startswith("d4: hit.")
  fb = game.step("e4")
  assert fb.text.startswith("e4: hit, sunk the destroyer.") and "afloat: carrier, battleship" in fb.text
  fb = game.step("d4")
  assert "already fired at d4" in fb.text and fb.turns == 4
  assert "off the board" in game.step("f1").text
  assert "off the board" in game.step("a6").text
  assert "not a valid move" in game.step("fire!").text
  for cell in ("a1", "b1", "c1", "d1"):
    assert game.step(cell).text.startswith(f"{cell}: hit. Ships afloat: carrier, battleship.")
  assert game.step("e1").text.startswith("e1: hit, sunk the carrier. Ships afloat: battleship.")
  for cell in ("a2", "a3", "a4"):
    assert not game.step(cell).done
  fb = game.step("a5")
  assert fb.text == "a5: hit, sunk the battleship! All ships are sunk. Goal reached!"
  assert fb.done and fb.success and fb.turns == 16


def test_battleship_terse_and_sunk_order():
  game = battleship.Battleship(verbose=False)
  game.reset(scenario("battleship", {"size": 5, "ships": SHIPS}))
  assert game.step("b2").text == "b2 miss"
  for cell in ("a1", "b1", "c1", "d1"):
    assert game.step(cell).text == f"{cell} hit"
  assert game.step("e1").text == "e1 hit, sunk the carrier"
  assert game.step("z9").text.startswith("z9 is off the board")


def test_battleship_layouts_valid():
  for s in battleship.scenarios("train", 30, seed=2) + battleship.scenarios("eval", 30, seed=2):
    cells = [tuple(c) for ship in s.data["ships"].values() for c in ship]
    assert len(cells) == len(set(cells)) == 11
    assert all(0 <= r < s.data["size"] and 0 <= c < s.data["size"] for r, c in cells)
    for (name, length) in battleship.SHIPS:
      ship = s.data["ships"][name]
      rows, cols = {r for r, _ in ship}, {c for _, c in ship}
      assert len(ship) == length and (len(rows) == 1 or len(cols) == 1)
      span = cols if len(rows) == 1 else rows
      assert max(span) - min(span) == length - 1


# ---- minesweeper ----------------------------------------------------------------------------


def test_minesweeper_first_reveal_safe_and_mine_count():
  rng = np.random.default_rng(0)
  for s in minesweeper.scenarios("train", 45, seed=0) + minesweeper.scenarios("eval", 45, seed=0):
    rows, cols = s.data["rows"], s.data["cols"]
    r, c = int(rng.integers(rows)), int(rng.integers(cols))
    game = minesweeper.Minesweeper()
    game.reset(s)
    fb = game.step(f"reveal {r + 1} {c + 1}")
    assert not fb.done or fb.success
    assert len(game.mines) == max(1, rows * cols // 10)
    assert (r, c) not in game.mines
    assert not set(minesweeper.neighbours(r, c, rows, cols)) & game.mines   # room on 5x5+
    assert minesweeper.split_of(rows, cols, game.mines) == s.split
    again = minesweeper.place_mines(s.data["seed"], rows, cols, (r, c), s.split)
    assert again == game.mines                                 # replay from seed + first move


def test_minesweeper_tiny_board_only_first_cell_banned():
  for seed in range(30):
    mines = minesweeper.place_mines(seed, 3, 3, (1, 1), "train")
    assert len(mines) == 1 and (1, 1) not in mines


def test_minesweeper_flood_fill_hand_laid():
  game = minesweeper.Minesweeper(verbose=False)
  game.reset(scenario("minesweeper", {"rows": 4, "cols": 4, "seed": 0, "mines": [[1, 3], [3, 1]]}))
  assert game.step("reveal 4 4").text == "????/?211/?100/?100"
  assert game.step("reveal 1 1").text == "01??/1211/?100/?100"
  assert "already revealed" in game.step("reveal 2 2").text
  assert game.step("reveal 1 4").text == "01?1/1211/?100/?100"
  assert "Off board" in game.step("reveal 5 1").text
  fb = game.step("4,1")
  assert fb.success and fb.done and fb.text == "Goal reached!\n01?1/1211/?100/1100"


def test_minesweeper_mine_loses():
  game = minesweeper.Minesweeper()
  game.reset(scenario("minesweeper", {"rows": 4, "cols": 4, "seed": 0, "mines": [[1, 3], [3, 1]]}))
  assert "not a valid move" in game.step("click 1 1").text
  fb = game.step("reveal 1 3")
  assert fb.done and not fb.success and "Boom" in fb.text and "*" in fb.text
  assert "out of turns" not in fb.text
  with pytest.raises(GameOver):
    game.step("reveal 1 1")


# ---- cellular automata ----------------------------------------------------------------------


def test_ca_rule_outputs_hand_computed():
  assert cellular_automata.apply(90, "0010110") == "0100111"
  assert cellular_automata.apply(30, "0010110") == "0110101"
  assert cellular_automata.apply(90, "1000") == "0101"       # wraps at both ends
  assert cellular_automata.apply(30, "1000000") == "1100001"
  assert cellular_automata.apply(204, "0110") == "0110"      # identity rule


def test_ca_parse_syntaxes():
  parse = cellular_automata.parse_rule
  assert parse("01011010") == 90 == parse("0101 1010") == parse("rule 90")
  assert parse("111:0 110:1 101:0 100:1 011:1 010:0 001:1 000:0") == 90
  assert parse("000->0, 001->1; 010=1 011 : 1 100:1 101:0 110:0 111:0") == 30
  for bad in ("0101101", "rule 256", "111:0 110:1", "111:0 111:1 101:0 100:1 011:1 010:0 001:1 "
              "000:0", "ninety", ""):
    assert parse(bad) is None


def test_ca_wrong_rule_shown_its_outputs():
  data = {"rule": 90, "inputs": ["0010110", "1000000", "1111111"]}
  game = cellular_automata.CellularAutomata()
  first = game.reset(scenario("cellular_automata", data))
  assert "1. 0010110 -> 0100111" in first and "2. 1000000 -> 0100001" in first
  fb = game.step("00011110")
  assert "1. 0010110 -> 0110101 (wrong: expected 0100111; cells 3, 6 differ)" in fb.text
  assert "2. 1000000 -> 1100001 (wrong: expected 0100001; cell 1 differs)" in fb.text
  assert "3. 1111111 -> 0000000 (correct)" in fb.text and not fb.done
  assert "Bad rule" not in fb.text and "not a rule" in game.step("xyz").text
  assert game.step("rule 90").success


def test_ca_any_rule_matching_examples_wins():
  game = cellular_automata.CellularAutomata(verbose=False)
  game.reset(scenario("cellular_automata", {"rule": 90, "inputs": ["0000", "1111", "0000"]}))
  fb = game.step("00000000")                 # only 000 and 111 are shown; rule 0 agrees on both
  assert fb.success and "Goal reached" in fb.text


def test_ca_split_by_rule():
  train = {s.data["rule"] for s in cellular_automata.scenarios("train", 300, seed=0)}
  evl = {s.data["rule"] for s in cellular_automata.scenarios("eval", 300, seed=0)}
  assert not train & evl and len(cellular_automata.rules_of("eval")) in range(30, 80)


# ---- bandit ---------------------------------------------------------------------------------


def test_bandit_draws_in_range():
  scs = bandit.scenarios("train", 150, seed=0) + bandit.scenarios("eval", 150, seed=0)
  bands = {name: (lo, hi) for name, lo, hi in bandit.BANDS}
  eps = []
  for s in scs:
    d = s.data
    lo, hi = bands[s.difficulty]
    assert 0.2 <= lo <= d["eps"] < hi <= 0.4
    assert d["probs"][d["best"] - 1] == pytest.approx(0.5 + d["eps"] / 2)
    assert 0.6 <= d["probs"][d["best"] - 1] <= 0.7
    others = [p for k, p in enumerate(d["probs"]) if k != d["best"] - 1]
    assert len(others) == 3 and all(0 <= p < 0.5 - d["eps"] / 2 for p in others)
    eps.append(d["eps"])
  assert min(eps) < 0.22 and max(eps) > 0.38


def test_bandit_rewards_reproducible_and_order_free():
  s = bandit.scenarios("eval", 1, seed=4)[0]
  def play(moves):
    game = bandit.Bandit(verbose=False)
    game.reset(s)
    return [game.step(m).text for m in moves]
  a = play(["pull 1", "pull 2", "pull 1", "pull 2"])
  b = play(["pull 2", "pull 2", "pull 1", "pull 1"])
  assert a == play(["pull 1", "pull 2", "pull 1", "pull 2"])
  assert [a[0], a[2]] == [b[2], b[3]] and [a[1], a[3]] == [b[0], b[1]]
  p = s.data["probs"][0]
  assert abs(np.mean(bandit.rewards(s.data["seed"], 1, 4000, p)) - p) < 0.03


def test_bandit_flow():
  s = bandit.scenarios("train", 1, seed=1)[0]
  best, wrong = s.data["best"], s.data["best"] % 4 + 1
  game = bandit.Bandit()
  game.reset(s)
  for t in range(1, 21):
    fb = game.step(f"pull {t % 4 + 1}")
    assert not fb.done and "reward" in fb.text
  assert "last pull" in fb.text
  fb = game.step(f"choose {best}")
  assert fb.success and fb.turns == 21 and "Goal reached" in fb.text
  game.reset(s)
  for _ in range(20):
    game.step("pull arm 1")
  fb = game.step("pull 1")
  assert fb.done and not fb.success and "no pulls left" in fb.text
  game.reset(s)
  assert "does not exist" in game.step("pull 5").text
  fb = game.step(f"choose {wrong}")
  assert fb.done and not fb.success and f"arm {best} was" in fb.text


# ---- every group ----------------------------------------------------------------------------


def secret(s: Scenario):
  d = s.data
  return {"wordle": lambda: d["secret"], "mastermind": lambda: d["code"],
          "battleship": lambda: json.dumps(d["ships"], sort_keys=True),
          "minesweeper": lambda: d["seed"], "cellular_automata": lambda: d["rule"],
          "bandit": lambda: (tuple(d["probs"]), d["seed"])}[s.group]()


def winning_moves(game, s: Scenario):
  """Yield moves that win, reading the secret (for minesweeper, after the first reveal)."""
  d = s.data
  if s.group == "wordle":
    yield d["secret"]
  elif s.group == "mastermind":
    yield d["code"]
  elif s.group == "battleship":
    for cells in d["ships"].values():
      yield from (battleship.cell_name(r, c) for r, c in cells)
  elif s.group == "cellular_automata":
    yield format(d["rule"], "08b")
  elif s.group == "bandit":
    yield f"choose {d['best']}"
  else:
    yield f"reveal {d['rows'] // 2 + 1} {d['cols'] // 2 + 1}"
    while not game.done:
      hidden = [(r, c) for r in range(d["rows"]) for c in range(d["cols"])
                if (r, c) not in game.revealed and (r, c) not in game.mines]
      hidden.sort(key=lambda p: game._count(*p) != 0)        # zeros first: fewest clicks
      yield f"reveal {hidden[0][0] + 1} {hidden[0][1] + 1}"


@pytest.mark.parametrize("name", NAMES)
def test_registered(name):
  spec = GROUPS[name]
  assert spec.name == name and not spec.simulated and spec.description
  assert isinstance(spec.make(), type(spec.make(verbose=False))) and spec.make().verbose


@pytest.mark.parametrize("name", NAMES)
def test_scenarios_deterministic_and_categories(name):
  spec = GROUPS[name]
  a = spec.scenarios("train", 12, seed=3)
  assert a == spec.scenarios("train", 12, seed=3)
  assert [secret(s) for s in a] != [secret(s) for s in spec.scenarios("train", 12, seed=4)]
  for split in ("train", "eval"):
    first = spec.scenarios(split, len(spec.difficulties), seed=0)
    assert [s.difficulty for s in first] == list(spec.difficulties)
    assert all(s.split == split and s.group == name for s in first)
  ids = [s.id for s in a]
  assert len(set(ids)) == len(ids)
  with pytest.raises(ValueError):
    spec.scenarios("test", 1)


@pytest.mark.parametrize("name", NAMES)
def test_train_eval_disjoint(name):
  spec = GROUPS[name]
  train = spec.scenarios("train", 90, seed=0)
  evl = spec.scenarios("eval", 90, seed=0)
  if name == "minesweeper":     # the secret is the layout, drawn at the first reveal
    layouts = {}
    for s in train + evl:
      game = spec.make()
      game.reset(s)
      game.step("reveal 1 1")
      layouts.setdefault(s.split, set()).add(frozenset(game.mines))
    assert not layouts["train"] & layouts["eval"]
  else:
    assert not {secret(s) for s in train} & {secret(s) for s in evl}


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trip_and_replay(name):
  spec = GROUPS[name]
  for s in spec.scenarios("eval", 6, seed=5):
    back = Scenario.from_json(json.loads(json.dumps(s.to_json())))
    assert back == s
    g1, g2 = spec.make(), spec.make()
    assert g1.reset(s) == g2.reset(back)
    move = next(winning_moves(g1, s))
    assert g1.step(move) == g2.step(move)


@pytest.mark.parametrize("verbose", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_win_goal_reached_then_game_over(name, verbose):
  spec = GROUPS[name]
  for s in spec.scenarios("train", 6, seed=7) + spec.scenarios("eval", 6, seed=7):
    game = spec.make(verbose=verbose)
    game.reset(s)
    for move in winning_moves(game, s):
      fb = game.step(move)
      assert fb.turns <= game.max_turns
      if not verbose:
        assert len(fb.text) < 75, fb.text
    assert fb.done and fb.success and "goal reached" in fb.text.lower(), (s, fb)
    with pytest.raises(GameOver):
      game.step(move)


@pytest.mark.parametrize("name", NAMES)
def test_out_of_turns_and_terse_limits(name):
  spec = GROUPS[name]
  for s in spec.scenarios("train", len(spec.difficulties), seed=0):
    terse = spec.make(verbose=False)
    first = terse.reset(s)
    assert len(first) < 150, (len(first), first)
    for t in range(terse.max_turns):
      fb = terse.step("?")
      if t < terse.max_turns - 1:
        assert len(fb.text) < 60 and not fb.done and fb.turns == t + 1, fb.text
    assert fb.done and not fb.success
    verbose = spec.make()
    assert len(verbose.reset(s)) > len(first)
    assert str(verbose.max_turns) in verbose.reset(s)
