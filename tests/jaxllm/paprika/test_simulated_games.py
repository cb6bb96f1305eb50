"""The four LLM-played task groups: table simulators, scenario lists, and the env-LLM backend.

Scripted players use the tables to ask discriminating questions and must win every secret; the
LLM backend is checked against a fake endpoint and, once, through `ChatClient` against a local
HTTP stub speaking the OpenAI chat-completions JSON.
"""
from __future__ import annotations

import copy
import functools
import http.server
import json
import re
import threading

import pytest

from jaxllm.client import ChatClient
from jaxllm.paprika.games import (
  customer_service,
  guess_my_city,
  murder_mystery,
  twenty_questions,
)
from jaxllm.paprika.games.base import GROUPS, GameOver, Scenario
from jaxllm.paprika.games.simulated import normalize

MODULES = [twenty_questions, guess_my_city, customer_service, murder_mystery]
IDS = [m.GROUP for m in MODULES]


def fresh(module, scenario, **options):
  game = module.SPEC.make(**options)
  game.reset(scenario)
  return game


def secret_of(s: Scenario) -> str:
  return s.data.get("secret") or s.data.get("problem") or s.data["case"]["setting"]


# -- shared behaviour of the four groups -----------------------------------------------------------

@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_registered_spec(module):
  spec = GROUPS[module.GROUP]
  assert spec is module.SPEC and spec.simulated and spec.difficulties == ("easy", "medium", "hard")
  assert spec.make().max_turns == 20


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_scenarios_deterministic_cycling_and_options(module):
  a = module.scenarios("train", 12, seed=3)
  assert a == module.scenarios("train", 12, seed=3)
  assert [s.id for s in a] != [s.id for s in module.scenarios("train", 12, seed=4)]
  assert [s.difficulty for s in a] == ["easy", "medium", "hard"] * 4
  assert len({s.id for s in module.scenarios("eval", 40, seed=0)}) == 40
  assert all(s.group == module.GROUP and s.split == "train" for s in a)
  hard = module.scenarios("eval", 5, seed=1, difficulty="hard")
  assert {s.difficulty for s in hard} == {"hard"}
  assert all(s.data["max_turns"] == 20 for s in a)
  with pytest.raises(ValueError):
    module.scenarios("test", 2)


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_train_eval_disjoint_and_every_difficulty_in_both(module):
  for split in ("train", "eval"):
    got = module.scenarios(split, 60, seed=0)
    assert {s.difficulty for s in got} == {"easy", "medium", "hard"}
  train = {secret_of(s) for s in module.scenarios("train", 300, seed=0)}
  evals = {secret_of(s) for s in module.scenarios("eval", 300, seed=0)}
  assert train and evals and not train & evals


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_json_round_trip_replays_identically(module):
  for s in module.scenarios("eval", 3, seed=2):
    back = Scenario.from_json(json.loads(json.dumps(s.to_json())))
    assert back == s
    g1, g2 = module.SPEC.make(), module.SPEC.make()
    assert g1.reset(s) == g2.reset(back)
    for move in ("is it big?", "ask nobody about it", "what is the problem?", "examine body"):
      assert g1.step(move).text == g2.step(move).text


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_turn_budget_and_game_over(module):
  game = fresh(module, module.scenarios("train", 1, seed=0)[0])
  for i in range(20):
    fb = game.step("xyzzy plugh")
    assert fb.turns == i + 1 and not fb.success
    assert fb.done == (i == 19)
    assert "goal reached" not in fb.text.lower()
  assert "out of turns" in fb.text
  with pytest.raises(GameOver):
    game.step("xyzzy")


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_same_question_same_answer(module):
  s = module.scenarios("train", 1, seed=5)[0]
  moves = ["is it alive?", "what is it famous for?", "are any lights blinking?",
           "examine the body", "does it have wheels?", "is it in asia?", "when did it start?"]
  g1, g2 = fresh(module, s), fresh(module, s)
  first = [g1.step(m).text for m in moves]
  assert first[:6] == [g1.step(m).text for m in moves[:6]]
  assert first == [g2.step(m).text for m in moves]


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_terse_text_is_short(module):
  for s in module.scenarios("train", 30, seed=0):
    game = module.SPEC.make(verbose=False)
    assert len(game.reset(s)) < 200, game.reset(s)
    for move in ("is it alive?", "xyzzy", "what language do they speak?", "any error message?",
                 "examine body", "ask someone about it"):
      assert len(game.step(move).text) <= 60, move


# -- twenty questions ------------------------------------------------------------------------------

TQ = twenty_questions


def tq_questions() -> list[str]:
  qs = [f"is it a {p[0]}?" for p in TQ.CATEGORIES.values()]
  qs += [f"does it {p[0]}?" for p in TQ.PHRASES.values()]
  qs += [f"is it {c}?" for c in ("red", "yellow", "green", "blue", "brown", "black", "white",
                                  "gray", "silver", "gold", "orange", "pink", "purple")]
  qs += [f"is it bigger than a {r}?" for r in ("coin", "key", "pencil", "book", "breadbox",
                                                "suitcase", "person", "door", "room", "house",
                                                "building")]
  return qs


@functools.lru_cache(maxsize=1)
def tq_matrix() -> tuple[list[str], dict[str, list[str]]]:
  qs = tq_questions()
  out = {}
  for t in TQ.things():
    g = TQ.TwentyQuestions()
    g.reset(Scenario(TQ.GROUP, "t", "train", "easy", {"secret": t.name}))
    out[t.name] = [g.respond(q)[0] for q in qs]
  return qs, out


def greedy_play(game, candidates, questions, answers, guess, max_questions=19):
  """Ask the question that best splits `candidates`, filter by the game's reply, then guess."""
  asked = set()
  def worst(i, candidates):
    buckets = {}
    for c in candidates:
      buckets[answers[c][i]] = buckets.get(answers[c][i], 0) + 1
    return max(buckets.values())
  while len(candidates) > 1 and len(asked) < max_questions:
    best = min((i for i in range(len(questions)) if i not in asked),
               key=lambda i: worst(i, candidates))
    if worst(best, candidates) == len(candidates):
      break
    asked.add(best)
    reply = game.step(questions[best]).text
    candidates = [c for c in candidates if answers[c][best] == reply]
  for c in candidates:
    fb = game.step(guess(c))
    if fb.done:
      return fb
  return fb


def test_tq_table():
  things = TQ.things()
  assert 100 <= len(things) <= 150
  assert len({t.name for t in things}) == len(things)
  phrases = TQ.phrase_table()
  assert not [n for n in TQ.names() if n in phrases or n in TQ.COLORS]
  assert {t.category for t in things} == set(TQ.CATEGORIES)
  counts = {d: len(TQ.pools("train")[d]) + len(TQ.pools("eval")[d]) for d in TQ.DIFFICULTIES}
  assert sum(counts.values()) == len(things) and min(counts.values()) >= 40


def test_tq_answers_agree_with_table():
  for t in TQ.things()[::7]:
    g = TQ.TwentyQuestions()
    g.reset(Scenario(TQ.GROUP, "t", "train", "easy", {"secret": t.name}))
    for tok, phrases in TQ.PHRASES.items():
      assert g.respond(f"does it {phrases[0]}?")[0] == ("Yes." if tok in t.attrs else "No.")
    for cat, phrases in TQ.CATEGORIES.items():
      assert g.respond(f"Is it a {phrases[-1]}?")[0] == ("Yes." if t.category == cat else "No.")


def test_tq_grammar():
  g = TQ.TwentyQuestions()
  g.reset(Scenario(TQ.GROUP, "t", "train", "easy", {"secret": "dog"}))
  yes = ["Is it an animal?", "Is it a living thing?", "Does it have four legs?", "Is it a mammal?",
         "Can you keep it as a pet?", "Is it bigger than a breadbox?", "Is it brown?",
         "Is it natural?", "Is it usually found indoors?", "Is it smaller than a person?"]
  no = ["Can you eat it?", "Is it man-made?", "Is it a kind of bird?", "Can it fly?",
        "Is it bigger than a car?", "Can you hold it in your hand?", "Is it red in color?"]
  assert [g.respond(q)[0] for q in yes] == ["Yes."] * len(yes)
  assert [g.respond(q)[0] for q in no] == ["No."] * len(no)
  assert g.respond("Is it the size of a dog?")[0] == "About the same size."
  assert g.respond("Is it fast?")[0].startswith("I can't answer that; ask")
  assert g.respond("What color is it?")[0] == "Please ask a yes/no question."
  assert g.respond("Is it alive? Does it bark?")[0] == "Please ask one question at a time."
  assert g.respond("is it a hippo?")[0].startswith("No, it is not a hippo")
  assert g.respond("Is it a cat?") == ("No, it is not a cat.", False, False)
  for win in ("Is it a dog?", "it is a puppy", "my guess is dogs", "dog"):
    assert g.respond(win)[1]
  fb = g.step("Is it a dog?")
  assert fb.success and fb.done and "goal reached" in fb.text.lower()
  with pytest.raises(GameOver):
    g.step("is it a dog?")


def test_tq_scripted_play_wins_every_thing():
  qs, answers = tq_matrix()
  for t in TQ.things():
    g = TQ.TwentyQuestions()
    g.reset(Scenario(TQ.GROUP, "t", "train", "easy", {"secret": t.name}))
    fb = greedy_play(g, list(answers), qs, answers, lambda c: f"is it a {c}?")
    assert fb.success and "goal reached" in fb.text.lower(), t.name
    assert fb.turns <= 20


def test_tq_wrong_guess_does_not_win():
  g = TQ.SPEC.make()
  g.reset(Scenario(TQ.GROUP, "t", "train", "easy", {"secret": "piano"}))
  fb = g.step("is it a guitar?")
  assert not fb.done and not fb.success and "goal" not in fb.text.lower()


# -- guess my city ---------------------------------------------------------------------------------

GM = guess_my_city


def city_questions() -> list[str]:
  cities = GM.cities()
  qs = [f"is it in {p}?" for p in sorted({p for c in cities for p in c.places()})]
  qs += ["is it a capital city?", "is it the largest city in its country?", "is it coastal?",
         "is it on an island?", "is it on a river?", "is it at high altitude?",
         "is it in the northern hemisphere?", "is it in the eastern hemisphere?",
         "does it have more than 5 million people?", "does it have more than 10 million people?",
         "is it in the tropics?", "is it hot?", "is it cold?", "is it mild?"]
  qs += [f"do they speak {l}?" for l in sorted({l for c in cities for l in c.languages})]
  qs += [f"does it have the {c.landmarks[0]}?" for c in cities]
  return qs


@functools.lru_cache(maxsize=1)
def city_matrix() -> tuple[list[str], dict[str, list[str]]]:
  qs = city_questions()
  out = {}
  for c in GM.cities():
    g = GM.GuessMyCity()
    g.reset(Scenario(GM.GROUP, "t", "train", "easy", {"secret": c.name}))
    out[c.name] = [g.respond(q)[0] for q in qs]
  return qs, out


def test_city_table():
  cities = GM.cities()
  assert 60 <= len(cities) <= 120
  assert len(GM.city_names()) == len({n for c in cities for n in (c.key, *c.aliases)})
  assert {c.climate for c in cities} <= set(GM.CLIMATE_TEXT)
  assert {d for c in cities for d in [c.difficulty]} == set(GM.DIFFICULTIES)
  for c in cities:
    assert c.landmarks and c.known and c.languages and c.continents


def test_city_answers_agree_with_table():
  for c in GM.cities()[::5]:
    g = GM.GuessMyCity()
    g.reset(Scenario(GM.GROUP, "t", "train", "easy", {"secret": c.name}))
    yn = lambda v: "Yes." if v else "No."
    assert g.respond(f"Is it in {c.country}?")[0] == "Yes."
    assert g.respond(f"Is it in {c.continents[0]}?")[0] == "Yes."
    assert g.respond("Is it a capital city?")[0] == yn(c.capital)
    assert g.respond("Is it on the coast?")[0] == yn(c.coastal)
    assert g.respond("Is it in the southern hemisphere?")[0] == yn(c.lat < 0)
    assert g.respond(f"Do people speak {c.languages[0]} there?")[0] == "Yes."
    assert c.country in g.respond("Which country is it in?")[0]
    assert c.languages[0].title() in g.respond("What language do they speak?")[0]
    assert c.known[0] in g.respond("What is it famous for?")[0]
    assert c.name not in g.respond("What is it famous for?")[0]
    assert f"{c.pop:g} million" in g.respond("How many people live there?")[0]
    assert g.respond(f"is the {c.landmarks[0]} there?")[0] == "Yes."


def test_city_grammar():
  g = GM.SPEC.make()
  g.reset(Scenario(GM.GROUP, "t", "train", "easy", {"secret": "Paris"}))
  assert g.step("Is it a European city?").text == "Yes."
  assert g.step("Is it in Pakistan?").text == "No."
  assert g.step("Is it the capital of France?").text == "Yes."
  assert g.step("Is it on the Seine?").text == "Yes."
  assert g.step("Is it Lyon?").text == "No, it is not Lyon."
  assert g.step("Is it Mexico City?").text == "No, it is not Mexico City."
  assert g.step("Is it in Mexico?").text == "No."
  assert g.step("What is the name of the city?").text.startswith("I can't tell you its name")
  assert g.step("Is it fast?").text.startswith("I can't answer that")
  fb = g.step("Is it Paris, France?")
  assert fb.success and fb.done and "goal reached" in fb.text.lower()


def test_city_scripted_play_wins_every_city():
  qs, answers = city_matrix()
  for c in GM.cities():
    g = GM.GuessMyCity()
    g.reset(Scenario(GM.GROUP, "t", "train", "easy", {"secret": c.name}))
    fb = greedy_play(g, list(answers), qs, answers, lambda n: f"is it {n}?")
    assert fb.success and "goal reached" in fb.text.lower(), c.name


# -- customer service ------------------------------------------------------------------------------

CS = customer_service


def cs_game(pid: str, **options):
  return fresh(CS, Scenario(CS.GROUP, "t", "train", "easy", {"problem": pid}), **options)


def test_cs_table():
  probs = CS.problems()
  assert len(probs) >= 40
  for p in probs.values():
    catalog = CS.fixes(p)
    assert p["fix"] in catalog and all(f in catalog for f in p["tried"])
    assert p["fix"] not in p["tried"]
    topics = set(CS.product(p)["topics"]) | set(CS.TOPICS)
    assert set(p["facts"]) <= topics, p["id"]


def test_cs_correct_fix_wins_and_others_do_not():
  for pid, p in CS.problems().items():
    for fid, spec in CS.fixes(p).items():
      g = cs_game(pid)
      fb = g.step(f"Please {spec['text']}.")
      assert fb.success == (fid == p["fix"]), (pid, fid)
      assert ("goal reached" in fb.text.lower()) == fb.success
      if fid in p["tried"]:
        assert fb.text == "I already tried that, and it didn't help."


def test_cs_facts_answer_topic_questions():
  for pid, p in CS.problems().items():
    g = cs_game(pid)
    topics = {**{t: k for t, (k, _) in CS.TOPICS.items()}, **CS.product(p)["topics"]}
    for topic, fact in p["facts"].items():
      q = f"what about the {topics[topic][0]}?"
      assert g.respond(q)[0] == fact, (pid, topic)


def test_cs_scripted_conversation():
  g = cs_game("printer_jam")
  assert g.step("Hello, what seems to be the problem?").text.startswith("My printer stopped")
  assert g.step("Are any lights blinking?").text == "The paper light is blinking."
  assert g.step("Is there an error message?").text == "It says 'Check paper path'."
  assert "restart it" in g.step("What have you tried so far?").text
  assert g.step("Have you tried restarting it?").text.startswith("I already tried")
  assert g.step("Could you buy a new one?").text.startswith("I'd rather not")
  assert g.step("Did you reinstall the driver?").text == "I just tried that, but nothing changed."
  assert g.step("Which cable do you use?").text == "All the cables look plugged in."
  assert g.step("blorp").text.startswith("Sorry, I'm not sure")
  fb = g.step("Open the printer and check for a paper jam.")
  assert fb.success and fb.done and fb.turns == 10 and "goal reached" in fb.text.lower()


# -- murder mystery --------------------------------------------------------------------------------

MM = murder_mystery


def confirmed(case: dict, p: dict) -> bool:
  by = {q["first"]: q for q in case["suspects"]}
  a = p["alibi"]
  return bool(a.get("proof")) or bool(a["with"] and by[a["with"]]["alibi"]["with"] == p["first"])


def test_mm_cases_have_one_logical_culprit():
  traces = {t["clue"]: t["trait"] for t in MM.table()["traces"]}
  for split in ("train", "eval"):
    for s in MM.scenarios(split, 90, seed=7):
      case = s.data["case"]
      assert len(case["suspects"]) == MM.SUSPECTS[s.difficulty]
      trait = traces[case["trace"]["clue"]]
      left = [p for p in case["suspects"] if p["trait"] == trait and not confirmed(case, p)]
      assert [p["first"] for p in left] == [case["culprit"]]
      matching = sum(p["trait"] == trait for p in case["suspects"])
      assert matching == {"easy": 1, "medium": 2, "hard": 3}[s.difficulty]
      seed = int(s.id.rsplit("-", 1)[1])
      assert MM.make_case(split, s.difficulty, seed) == case


def test_mm_settings_disjoint():
  train = {s["name"] for s in MM.settings("train")}
  evals = {s["name"] for s in MM.settings("eval")}
  assert train and evals and not train & evals
  assert len(train | evals) == len(MM.table()["settings"])


def detective(game, case) -> object:
  """Solve from the reply texts only: scene trace, suspects' traces, alibis and their checks."""
  traces = {t["clue"]: t["trait"] for t in MM.table()["traces"]}
  scene = game.step(f"examine the {case['crime_room']}").text
  trait = next(tr for clue, tr in traces.items() if clue in scene)
  names = [p["first"] for p in case["suspects"]]
  suspects = [n for n in names if trait in game.step(f"examine {n}").text]
  alibi = {n: game.step(f"ask {n} about their alibi").text for n in suspects}
  left = []
  for n in suspects:
    m = re.search(r"with (\w+)\.\"", alibi[n])
    proof = re.search(r"Check the (.+?) if you doubt me", alibi[n])
    if m:
      if f"with {n}." not in game.step(f"ask {m.group(1)} where they were").text:
        left.append(n)
    elif proof:
      if n not in game.step(f"examine the {proof.group(1)}").text:
        left.append(n)
    else:
      left.append(n)
  assert len(left) == 1
  return game.step(f"I accuse {left[0]}")


@pytest.mark.parametrize("difficulty", MM.DIFFICULTIES)
def test_mm_detective_wins_from_replies(difficulty):
  for s in MM.scenarios("eval", 12, seed=3, difficulty=difficulty):
    game = fresh(MM, s)
    fb = detective(game, s.data["case"])
    assert fb.success and fb.done and fb.turns <= 20 and "goal reached" in fb.text.lower()


def test_mm_wrong_accusation_loses():
  s = MM.scenarios("train", 1, seed=0)[0]
  case = s.data["case"]
  innocent = next(p for p in case["suspects"] if not p["culprit"])
  game = fresh(MM, s)
  assert not game.step("accuse Nobody McNobody").done
  fb = game.step(f"the murderer is the {innocent['role']}")
  assert fb.done and not fb.success and "game over" in fb.text.lower()
  with pytest.raises(GameOver):
    game.step(f"accuse {case['culprit']}")


def test_mm_commands():
  s = MM.scenarios("train", 3, seed=0, difficulty="hard")[0]
  case, game = s.data["case"], fresh(MM, s)
  c = next(p for p in case["suspects"] if p["culprit"])
  assert case["weapon"] in game.respond("examine the body")[0]
  assert case["trace"]["clue"] in game.respond(f"inspect {case['crime_room']}")[0]
  assert c["trait"] in game.respond(f"look at {c['last']}")[0]
  assert "alone" in game.respond(f"question the {c['role']} about where they were")[0] or \
      c["alibi"]["with"] in game.respond(f"ask {c['first']} about alibi")[0]
  other = next(p for p in case["suspects"] if not p["culprit"] and p["alibi"]["with"] is None
               and not p["alibi"].get("proof"))
  friend = next(p for p in case["suspects"] if not p["culprit"] and p["alibi"]["with"]
                and p["alibi"]["with"] != other["first"])
  assert other["motive"] in game.respond(f"ask {friend['first']} about {other['first']}")[0]
  assert friend["alibi"]["with"] in game.respond(f"ask {friend['first']} about "
                                                 f"{friend['alibi']['with']}")[0]
  assert game.respond(f"ask {c['first']} about the moon")[0].endswith("know anything about that.\"")
  assert game.respond("dance a jig")[0].startswith("I don't understand")
  assert game.respond(f"{c['first']} did it")[1]


# -- the env-LLM backend ---------------------------------------------------------------------------

class FakeEndpoint:
  def __init__(self, replies):
    self.replies, self.calls = list(replies), []

  def chat(self, messages, **sampling):
    self.calls.append((copy.deepcopy(messages), sampling))
    return self.replies.pop(0)


def secret_words(module, s: Scenario) -> str:
  if module is twenty_questions:
    return s.data["secret"]
  if module is guess_my_city:
    return s.data["secret"]
  if module is customer_service:
    p = CS.problems()[s.data["problem"]]
    return CS.fixes(p)[p["fix"]]["text"]
  c = s.data["case"]
  p = next(p for p in c["suspects"] if p["culprit"])
  return f"{p['first']} {p['last']}"


@pytest.mark.parametrize("module", MODULES, ids=IDS)
def test_llm_backend_with_fake_endpoint(module):
  s = module.scenarios("eval", 2, seed=0)[1]
  fake = FakeEndpoint(["No.", "Hmm, not quite.", "Yes! You got it. Goal reached."])
  game = module.SPEC.make(endpoint=fake)
  assert game.reset(s) == module.SPEC.make().reset(s)
  fb1 = game.step("is it big?")
  assert fb1.text == "No." and not fb1.done
  fb2 = game.step("what about the river?")
  assert not fb2.done
  fb3 = game.step("the answer")
  assert fb3.done and fb3.success and fb3.turns == 3
  (m1, kw1), (m2, _), (m3, _) = fake.calls
  assert m1[0]["role"] == "system" and secret_words(module, s) in m1[0]["content"]
  assert "Goal reached" in m1[0]["content"]
  assert kw1["temperature"] == 0.0 and kw1["max_tokens"] > 0
  assert [m["role"] for m in m3] == ["system", "user", "assistant", "user", "assistant", "user"]
  assert len(m2) == len(m1) + 2 and m3[-1]["content"] == "the answer"
  assert m3[2]["content"] == "No."
  game.reset(s)
  assert len(game.history) == 1


def test_llm_backend_murder_mystery_loses_on_game_over():
  s = MM.scenarios("train", 1, seed=0)[0]
  game = MM.SPEC.make(endpoint=FakeEndpoint(["Wrong suspect. Game over."]), verbose=False)
  game.reset(s)
  fb = game.step("accuse someone")
  assert fb.done and not fb.success
  assert "six words" in game.history[0]["content"]


def test_llm_backend_through_chat_client_and_http_stub():
  seen = []

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
      body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
      seen.append((self.path, body))
      text = "Goal reached" if "dog" in body["messages"][-1]["content"] else "No."
      out = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}]}).encode()
      self.send_response(200)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(out)))
      self.end_headers()
      self.wfile.write(out)

    def log_message(self, *args):
      pass

  server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    client = ChatClient(f"http://127.0.0.1:{server.server_port}/v1", "stub", max_retries=0)
    game = TQ.SPEC.make(endpoint=client)
    game.reset(Scenario(TQ.GROUP, "t", "eval", "easy", {"secret": "dog"}))
    assert game.step("is it a cat?").text == "No."
    fb = game.step("is it a dog?")
    assert fb.success and fb.done
  finally:
    server.shutdown()
    server.server_close()
  path, body = seen[-1]
  assert path == "/v1/chat/completions" and body["model"] == "stub"
  assert body["temperature"] == 0.0 and "dog" in body["messages"][0]["content"]
  assert len(body["messages"]) == 4


def test_normalize():
  assert normalize("  It's a São-Paulo, 2,000 people; 1.5 million?") == \
      "its a sao paulo 2000 people 1.5 million"
