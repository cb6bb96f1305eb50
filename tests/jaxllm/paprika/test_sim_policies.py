"""Scripted players of the four LLM-simulated groups: skill, legal moves, determinism, no secrets.

    python -m pytest -q tests/jaxllm/paprika/test_sim_policies.py -p no:cacheprovider

Measured on the seed-0 eval scenarios in terse mode, one agent of seed 0 per set (success / mean
turns at noise 0 -> 0.3 -> 1): twenty_questions 30: 1.00 / 6.2 -> 1.00 / 7.5 -> 0.33 / 17.7;
guess_my_city 30: 1.00 / 3.2 -> 1.00 / 3.7 -> 0.57 / 14.3; customer_service 30: 1.00 / 2.0 ->
1.00 / 2.5 -> 0.97 / 10.2 (random fixes of a ~10-fix catalog find the right one, slowly);
murder_mystery 30: 1.00 / 8.0 -> 0.47 / 6.5 -> 0.27 / 3.6 (random early accusations). The
floors below leave margin under those.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from jaxllm.paprika.games import customer_service as cs
from jaxllm.paprika.games import murder_mystery as mm
from jaxllm.paprika.games.base import GROUPS, Scenario
from jaxllm.paprika.games.simulated import normalize
from jaxllm.paprika.policies import POLICIES, ScriptedAgent, play, scripted_move
from jaxllm.paprika.policies import customer_service as cs_policy
from jaxllm.paprika.policies import guess_my_city as gm_policy
from jaxllm.paprika.policies import murder_mystery as mm_policy
from jaxllm.paprika.policies import twenty_questions as tq_policy
from jaxllm.paprika.policies.observe import observe, shown
from jaxllm.paprika.turns import Episode, parse_answer
from tests.jaxllm.paprika.test_policies import Sealed

# group -> (success floor at noise 0, mean-turn ceiling at noise 0)
SETUPS = {"twenty_questions": (0.9, 10), "guess_my_city": (0.9, 6),
          "customer_service": (0.9, 4), "murder_mystery": (0.9, 12)}
GROUP_NAMES = list(SETUPS)
COUNT = 30
# the simulators' help / refusal replies, terse and verbose
REFUSAL = re.compile(
    r"Unknown\. (Try|Ask):|Yes/no questions only|One question at a time|Unknown size reference|"
    r"Can't say the name|Ask: continent|Not sure\. Ask about|Cmds: ask|No such suspect|"
    r"about what\?|I can't answer|Please ask|I can compare sizes|I can't tell you its name|"
    r"I can answer open questions|Sorry, I'm not sure|I don't understand|There is no suspect")
SECRETS = {"twenty_questions": ["secret"], "guess_my_city": ["city"],
           "customer_service": ["problem", "product", "catalog", "customer"],
           "murder_mystery": ["case", "people", "culprit"]}


def scenarios(group: str, n: int = COUNT) -> list[Scenario]:
  return GROUPS[group].scenarios("eval", n=n, seed=0)


_RUNS: dict = {}


def runs(group: str, noise: float) -> list[dict]:
  if (group, noise) not in _RUNS:
    agent = ScriptedAgent(noise, seed=0)
    _RUNS[(group, noise)] = [play(s, agent) for s in scenarios(group)]
  return _RUNS[(group, noise)]


def rate(recs):
  return float(np.mean([r["success"] for r in recs])), float(np.mean([r["turns"] for r in recs]))


def moves_and_feedback(rec):
  msgs = rec["messages"]
  return [(parse_answer(m["content"]), msgs[i + 1]["content"])
          for i, m in enumerate(msgs) if m["role"] == "assistant"]


def test_registered():
  assert set(GROUP_NAMES) <= set(POLICIES)


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_noise0_wins_and_noise1_is_worse(group):
  floor, ceiling = SETUPS[group]
  succ0, turns0 = rate(runs(group, 0.0))
  succ1, turns1 = rate(runs(group, 1.0))
  assert succ0 >= floor and turns0 <= ceiling, (group, succ0, turns0)
  assert succ1 < succ0 - 0.2 or (succ1 <= succ0 and turns1 > turns0 + 3), (succ0, succ1, turns1)
  assert all(r["turns"] <= 20 for r in runs(group, 0.0))


@pytest.mark.parametrize("group", GROUP_NAMES)
@pytest.mark.parametrize("terse", [True, False])
def test_every_move_is_well_formed_and_short(group, terse):
  recs = ([r for nz in (0.0, 1.0) for r in runs(group, nz)] if terse else
          [play(s, ScriptedAgent(0.5, seed=3, think=True), terse=False)
           for s in scenarios(group, 6)])
  for rec in recs:
    assert rec["invalid"] == 0 and not rec["dropped"]
    for move, fb in moves_and_feedback(rec):
      assert move and len(move) <= 50 and "\n" not in move, (group, move)
      assert not REFUSAL.search(fb), (group, move, fb)


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_deterministic_given_the_seed_and_bare_game_matches_episode(group):
  ss = scenarios(group, 3)
  one = [play(s, ScriptedAgent(0.3, seed=7)) for s in ss]
  assert one == [play(s, ScriptedAgent(0.3, seed=7)) for s in ss]
  assert one != [play(s, ScriptedAgent(0.3, seed=8)) for s in ss]
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


@pytest.mark.parametrize("group", GROUP_NAMES)
@pytest.mark.parametrize("bare", [False, True])
def test_policies_never_read_the_secret(group, bare):
  for i, s in enumerate(scenarios(group, 3)):
    game = GROUPS[group].make(verbose=bool(i % 2))
    ep = None if bare else Episode(game, s, terse=not game.verbose)
    if bare:
      game.reset(s)
      observe(game)                 # the recorder reads the intro, as the agent does, at turn 0
    rng = np.random.default_rng(i)
    while not game.done:
      saved = {a: getattr(game, a) for a in SECRETS[group] + ["scenario"]}
      for a, v in saved.items():
        setattr(game, a, Sealed(a, len(v) if hasattr(v, "__len__") else 0))
      try:
        move = scripted_move(ep or game, rng, 0.3)
      finally:
        for a, v in saved.items():
          setattr(game, a, v)
      ep.apply(f"<Answer>{move}</Answer>") if ep else game.step(move)


def _second_move(group, data, first, seed):
  ep = Episode(GROUPS[group].make(verbose=False), Scenario(group, "hand", "eval", "hand", data),
               terse=True)
  ep.apply(f"<Answer>{first}</Answer>")
  return ep.messages[-1]["content"], scripted_move(ep, np.random.default_rng(seed), 0.0)


@pytest.mark.parametrize("group,a,b,first", [
    ("twenty_questions", {"secret": "dog"}, {"secret": "cat"}, "is it an animal?"),
    ("guess_my_city", {"secret": "Rome"}, {"secret": "Milan"}, "which country is it in?"),
    ("customer_service", {"problem": "printer_offline"}, {"problem": "printer_default"},
     "any strange noises?"),
])
def test_same_replies_same_moves_whatever_the_secret(group, a, b, first):
  for seed in range(5):
    fa, ma = _second_move(group, a, first, seed)
    fb, mb = _second_move(group, b, first, seed)
    assert fa == fb and ma == mb


# ---- pieces ---------------------------------------------------------------------------------

def test_tq_questions_understood_and_guesses_win():
  for verbose in (False, True):
    sh = tq_policy.shadows(verbose)
    for q in tq_policy.QUESTIONS:
      replies = sh.predict(q)[2]
      assert len(replies) > 1 and all(
          r.split()[0] in ("yes", "no") or "same size" in r or "many colors" in r
          for r in replies), (q, replies)
    for i, name in enumerate(sh.keys):
      assert sh.games[i].respond(tq_policy.guess(name))[1], name


def test_city_questions_understood_and_guesses_win():
  qs = gm_policy.questions()
  assert len(qs) > 200 and "which country is it in?" in qs
  assert "is it in bay area?" in qs                     # multi-word areas parse
  sh = gm_policy.shadows(False)
  for q in qs:
    assert not any(r.startswith(gm_policy.HELP) for r in sh.predict(q)[2]), q
  for i, name in enumerate(sh.keys):
    assert sh.games[i].respond(gm_policy.guess(name))[1], name


def test_cs_questions_read_as_their_topic_and_proposals_as_their_fix():
  for key in cs.table()["products"]:
    p = next(p for p in cs.problems().values() if p["product"] == key)
    catalog = cs.fixes(p)
    for topic, q in cs_policy.questions(key).items():
      assert cs.topic_of(normalize(q), p) == topic and cs.match_fix(normalize(q), catalog) is None
    for fid in catalog:
      assert cs.match_fix(normalize(cs_policy.fix_text(fid, catalog)), catalog) == fid
    for verbose in (False, True):
      game = cs.SPEC.make(verbose=verbose)
      assert cs_policy.read_intro(game.reset(
          Scenario(cs.GROUP, "t", "eval", "easy", {"problem": p["id"]})))[0] == key


def test_cs_failed_fix_is_not_repeated():
  for rec in runs("customer_service", 0.0) + [play(s, ScriptedAgent(0.0, seed=1))
                                              for s in scenarios("customer_service", 12)]:
    moves = [m for m, _ in moves_and_feedback(rec)]
    assert len(moves) == len(set(moves)), moves


def test_mm_reads_the_intro_in_both_styles():
  s = mm.scenarios("eval", 3, seed=0, difficulty="hard")[0]
  case = s.data["case"]
  for verbose in (False, True):
    room, names, things = mm_policy.read_intro(mm.SPEC.make(verbose=verbose).reset(s))
    assert room == case["crime_room"].lower()
    assert names == [p["first"].lower() for p in case["suspects"]]
    assert case["proof"]["item"] in things and "letter" in things


def test_mm_never_accuses_before_the_clues_at_noise0():
  for rec in runs("murder_mystery", 0.0):
    moves = [m for m, _ in moves_and_feedback(rec)]
    assert [m for m in moves if m.startswith("accuse")] == moves[-1:]
    n = len(rec["scenario"]["data"]["case"]["suspects"])
    assert sum(m.startswith("examine") for m in moves) >= n + 1


def test_bare_game_recorder_follows_reset():
  ss = mm.scenarios("eval", 2, seed=0)
  game, agent = mm.SPEC.make(verbose=False), ScriptedAgent(0.0, seed=0)
  for s in ss:
    first = game.reset(s)
    while not game.done:
      move = parse_answer(agent.act(game))     # act first: its first call wraps game.step
      game.step(move)
    assert game.success and observe(game)[1].intro == first


def test_shown_drops_the_next_move_prompt():
  assert shown("Yes.\nNext?") == "Yes." and shown("Yes.\nNow make your next move.") == "Yes."
  assert shown("Yes.") == "Yes." and shown("a\nb") == "a\nb"
