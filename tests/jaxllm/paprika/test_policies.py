"""The scripted PAPRIKA players: skill at noise 0, worse at noise 1, legal moves, no secrets read.

    python -m pytest -q tests/jaxllm/paprika/test_policies.py -p no:cacheprovider

Measured on these scenario sets (seed-0 eval scenarios, one agent of seed 0 per set; success /
mean turns at noise 0 -> noise 1): wordle 30: 0.97 / 4.5 -> 0.00 / 6; mastermind 30: 1.00 / 6.2
-> 0.00 / 12; battleship 5x5 30: 0.83 / 15.7 -> 0.03 / 20 (0.95 on 300); minesweeper 5x5 30:
0.93 / 2.3 -> 0.23 / 2.6 (0.96 on 300); cellular_automata 30: 1.00 / 1.0 -> 0.57 / 4.3;
bandit 100: 0.76 / 21 -> 0.29 / 13.3. The floors below leave margin under those.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from jaxllm.paprika.games import (bandit, battleship, cellular_automata, mastermind, minesweeper,
                                  wordle)
from jaxllm.paprika.games.base import GROUPS, Scenario
from jaxllm.paprika.policies import POLICIES, ScriptedAgent, play, scripted_move
from jaxllm.paprika.policies import battleship as bs_policy
from jaxllm.paprika.policies import mastermind as mm_policy
from jaxllm.paprika.policies import minesweeper as ms_policy
from jaxllm.paprika.turns import Episode, parse_answer

# group -> (scenario options, count, success floor at noise 0)
SETUPS = {
    "wordle": ({}, 30, 0.6),
    "mastermind": ({}, 30, 0.9),
    "battleship": ({"size": 5}, 30, 0.6),
    "minesweeper": ({"rows": 5, "cols": 5}, 30, 0.6),
    "cellular_automata": ({}, 30, 0.95),
    "bandit": ({}, 100, 0.6),
}
GROUP_NAMES = list(SETUPS)
MALFORMED = re.compile(r"bad (guess|move|rule)|not a valid|not a rule|cannot read|does not exist|"
                       r"off (the )?board|already|no pulls left", re.IGNORECASE)
PARSE = {
    "wordle": lambda m: re.fullmatch(r"[a-z]{5}", m) is not None,
    "mastermind": lambda m: re.fullmatch(r"\d{4}", m) is not None,
    "battleship": lambda m: battleship.MOVE.match(m) is not None,
    "minesweeper": lambda m: minesweeper.MOVE.match(m) is not None,
    "cellular_automata": lambda m: cellular_automata.parse_rule(m) is not None,
    "bandit": lambda m: bandit.MOVE.match(m) is not None,
}
SECRETS = {"wordle": ["secret"], "mastermind": ["code"], "battleship": ["ship_at"],
           "minesweeper": ["mines"], "cellular_automata": [],
           "bandit": ["probs", "best", "streams", "seed"]}


def scenarios(group: str, n: int | None = None) -> list[Scenario]:
  opts, count, _ = SETUPS[group]
  return GROUPS[group].scenarios("eval", n=n or count, seed=0, **opts)


_RUNS: dict = {}


def runs(group: str, noise: float) -> list[dict]:
  key = (group, noise)
  if key not in _RUNS:
    agent = ScriptedAgent(noise, seed=0)
    _RUNS[key] = [play(s, agent) for s in scenarios(group)]
  return _RUNS[key]


def rate(recs):
  return float(np.mean([r["success"] for r in recs])), float(np.mean([r["turns"] for r in recs]))


def moves_and_feedback(rec):
  msgs = rec["messages"]
  return [(parse_answer(m["content"]), msgs[i + 1]["content"])
          for i, m in enumerate(msgs) if m["role"] == "assistant"]


def test_registry_covers_every_group():
  assert set(GROUP_NAMES) <= set(POLICIES) == set(GROUPS)   # simulated: test_sim_policies.py


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_noise0_wins_and_noise1_is_worse(group):
  succ0, turns0 = rate(runs(group, 0.0))
  succ1, turns1 = rate(runs(group, 1.0))
  assert succ0 >= SETUPS[group][2], (group, succ0, turns0)
  assert succ1 < succ0 - 0.2 or (succ1 <= succ0 and turns1 > turns0 + 1), (succ0, succ1)
  if group == "wordle":
    assert all(r["turns"] <= 6 for r in runs(group, 0.0))


@pytest.mark.parametrize("group", GROUP_NAMES)
@pytest.mark.parametrize("terse", [True, False])
def test_every_move_is_well_formed(group, terse):
  noises = (0.0, 1.0) if terse else (0.5,)
  recs = [r for nz in noises for r in runs(group, nz)] if terse else \
      [play(s, ScriptedAgent(0.5, seed=3, think=True), terse=False)
       for s in scenarios(group, 8)]
  for rec in recs:
    assert rec["invalid"] == 0 and not rec["dropped"]
    for move, fb in moves_and_feedback(rec):
      assert PARSE[group](move), (group, move)
      assert not MALFORMED.search(fb), (group, move, fb)


def test_think_prefix_is_short():
  ep = Episode(GROUPS["wordle"].make(verbose=False), scenarios("wordle", 1)[0], terse=True)
  text = ScriptedAgent(0.0, seed=0, think=True).act(ep)
  m = re.fullmatch(r"<Think>(.{1,40})</Think> <Answer>([a-z]{5})</Answer>", text)
  assert m and m.group(1).endswith("words fit"), text


class Sealed:
  """Stands in for a secret attribute: any use but len() fails the test."""

  def __init__(self, name, n):
    object.__setattr__(self, "_name", name)
    object.__setattr__(self, "_n", n)

  def __len__(self):
    return self._n

  def _fail(self, *a, **k):
    raise AssertionError(f"the policy read the secret {self._name!r}")

  __getattr__ = __iter__ = __getitem__ = __contains__ = __eq__ = __hash__ = _fail
  __str__ = __bool__ = __int__ = __float__ = __lt__ = __gt__ = _fail


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_policies_never_read_the_secret(group):
  for i, s in enumerate(scenarios(group, 3)):
    game = GROUPS[group].make(verbose=bool(i % 2))
    game.reset(s)
    rng = np.random.default_rng(i)
    while not game.done:
      saved = {a: getattr(game, a) for a in SECRETS[group] + ["scenario"]}
      for a, v in saved.items():
        setattr(game, a, Sealed(a, len(v) if hasattr(v, "__len__") else 0))
      try:
        move = scripted_move(game, rng, 0.3)
      finally:
        for a, v in saved.items():
          setattr(game, a, v)
      game.step(move)


def _episode(group, data, first_move):
  game = GROUPS[group].make(verbose=False)
  ep = Episode(game, Scenario(group, "hand", "eval", "hand", data), terse=True)
  ep.apply(f"<Answer>{first_move}</Answer>")
  return ep


def _twin_secret(secret: str, guess: str) -> str:
  pattern = wordle.score(secret, guess)
  return next(w for w in wordle.words() if w != secret and wordle.score(w, guess) == pattern)


@pytest.mark.parametrize("group,a,b,guess", [
    ("wordle", {"secret": "abbey"}, {"secret": _twin_secret("abbey", "crane")}, "crane"),
    ("mastermind", {"code": "1234", "symbols": 10}, {"code": "1243", "symbols": 10}, "1200"),
])
def test_same_feedback_same_moves_whatever_the_secret(group, a, b, guess):
  ea, eb = _episode(group, a, guess), _episode(group, b, guess)
  assert ea.messages[-1] == eb.messages[-1]          # the same feedback was shown
  for seed in range(20):
    ma = scripted_move(ea, np.random.default_rng(seed), 0.0)
    mb = scripted_move(eb, np.random.default_rng(seed), 0.0)
    assert ma == mb


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_deterministic_given_the_seed_and_bare_game_matches_episode(group):
  ss = scenarios(group, 2)
  one = [play(s, ScriptedAgent(0.3, seed=7)) for s in ss]
  two = [play(s, ScriptedAgent(0.3, seed=7)) for s in ss]
  assert one == two
  agent = ScriptedAgent(0.3, seed=7)
  for s, rec in zip(ss, one):
    agent.rng = np.random.default_rng(7)
    game = GROUPS[group].make(verbose=False)
    game.reset(s)
    moves = []
    while not game.done:
      moves.append(parse_answer(agent.act(game)))
      game.step(moves[-1])
    assert moves == [m for m, _ in moves_and_feedback(rec)]
  if group == "wordle":
    assert [play(s, ScriptedAgent(0.3, seed=8)) for s in ss] != one


def test_bare_game_needs_the_first_turn():
  game = GROUPS["mastermind"].make()
  game.reset(scenarios("mastermind", 1)[0])
  game.step("0000")
  with pytest.raises(ValueError, match="first turn"):
    scripted_move(game, np.random.default_rng(0), 0.0)


# ---- pieces ---------------------------------------------------------------------------------


def test_mastermind_vectorised_feedback_matches_the_game():
  rng = np.random.default_rng(0)
  codes, counts = mm_policy.all_codes(4, 10)
  idx = rng.integers(len(codes), size=200)
  for g in ("0000", "1234", "1122", "9098"):
    exact, partial = mm_policy.feedback(codes[idx], counts[idx], g, 10)
    for i, e, p in zip(idx, exact, partial):
      assert mastermind.evaluate(mm_policy._text(codes[i]), g) == (e, p)


def test_mastermind_candidates_contain_the_code_and_shrink():
  sc = scenarios("mastermind", 1)[0]
  ep = Episode(GROUPS["mastermind"].make(verbose=False), sc, terse=True)
  sizes = []
  for guess in ("0123", "4567"):
    ep.apply(f"<Answer>{guess}</Answer>")
    cons = mm_policy.constraints([(guess, ep.messages[-1]["content"])], 4)
    sizes.append(len(mm_policy.survivors(4, 10, cons)))
  codes, _ = mm_policy.all_codes(4, 10)
  hist = [(parse_answer(m["content"]), ep.messages[i + 1]["content"])
          for i, m in enumerate(ep.messages) if m["role"] == "assistant"]
  left = mm_policy.survivors(4, 10, mm_policy.constraints(hist, 4))
  assert sc.data["code"] in {mm_policy._text(codes[i]) for i in left}
  assert len(left) < min(sizes) < 10**4


def test_minesweeper_board_parse_and_deduction():
  assert ms_policy.parse_board("Goal reached!\n??1/010/000", 3, 3) == ["??1", "010", "000"]
  verbose = "Revealed row 3, column 3. 19 turns left.\n  1 2 3\n1 ? ? 1\n2 0 1 0\n3 0 0 0"
  assert ms_policy.parse_board(verbose, 3, 3) == ["??1", "010", "000"]
  assert ms_policy.parse_board("Bad move: write reveal R C, e.g. reveal 2 3.", 3, 3) is None
  # 1x3 with one mine: the 1 pins its only hidden neighbour; then the count frees the rest
  assert ms_policy.deduce(["1??"], total=1)[:2] == ({(0, 2)}, {(0, 1)})
  assert ms_policy.deduce(["0??"], total=1)[:2] == ({(0, 1)}, set())
  assert ms_policy.deduce(["?1"], total=1)[:2] == (set(), {(0, 0)})


def test_battleship_sunk_ships_close_their_hits():
  hits = {(0, 0), (0, 1), (1, 1)}
  hist = [("a1", "a1 hit"), ("b1", "b1 hit, sunk the destroyer"), ("b2", "b2 hit")]
  assert bs_policy.sunk_cells(hist, hits) == {(0, 0), (0, 1)}
  assert bs_policy.targets({(1, 1)}, set(hits), 5) == [(1, 0), (1, 2), (2, 1)]
  assert bs_policy.targets({(1, 1), (1, 2)}, set(hits) | {(1, 2)}, 5) == [(1, 0), (1, 3)]


def test_bandit_chooses_on_the_last_turn():
  for rec in runs("bandit", 0.0):
    moves = [m for m, _ in moves_and_feedback(rec)]
    assert rec["turns"] == 21 and moves[-1].startswith("choose")
    assert all(m.startswith("pull") for m in moves[:-1])
    counts = np.bincount([int(m.split()[1]) for m in moves[:-1]], minlength=5)[1:]
    assert counts.tolist() == [5, 5, 5, 5]


def test_cellular_automata_noise_flips_but_stays_close():
  recs = runs("cellular_automata", 1.0)
  succ = [r for r in recs if r["success"]]
  assert 0.2 < len(succ) / len(recs) < 0.9
  assert np.mean([r["turns"] for r in succ]) > 1.5      # noisy rules need several turns
