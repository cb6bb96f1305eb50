"""Customer service: find and fix a customer's hidden problem in 20 turns.

    spec = GROUPS["customer_service"]
    game = spec.make()                         # simulator; make(endpoint=ChatClient(...)) for an LLM
    first = game.reset(spec.scenarios("train", n=3, seed=0)[0])   # the customer's complaint
    game.step("are any lights blinking?").text     # "An orange ink light is blinking."
    game.step("please replace the ink cartridge").text   # "I put in a new cartridge ... Goal reached!"

The agent plays the service agent; the environment plays a scripted customer. The personas (44
problems with 8 products: printer, home internet, laptop, smartphone, television, washing
machine, wireless earbuds, coffee machine) are in data/customer_service.json: a complaint, the
facts the customer can report (topic -> answer), the fixes already tried, and the one fix that
works. The customer's name is picked from `NAMES` by a hash of the problem id.

What the simulator understands (after `simulated.normalize`):
- A fix proposal: any text that matches a fix of the product's catalog or a generic fix
  (restart, update, factory reset, replace/repair): every keyword group of the fix has a word
  that starts with one of its keywords ("replace" + "cartridge"; "plug" matches "plugged"), or
  one of its `alone` keywords occurs ("reboot", "descale"). Phrasing does not matter, so "have
  you tried restarting it?" and "is the door fully closed?" propose fixes too. When several
  fixes match, the one with more groups, then longer matched keywords, then the product's own
  wins. Texts that start with an open-question word (what, which, how, ...) are never proposals.
  The fix that works wins (the customer says it worked). A fix already tried answers "I already
  tried that, and it didn't help."; replacing the device or a factory reset is declined; any
  other fix answers "I just tried that, but nothing changed." Nothing loses.
- Otherwise a question: its topic is the one with the longest keyword in it (the product's
  topics and `TOPICS`: power, lights, error, noise, when, change, cable, battery, network, other
  devices, damage, age, what was tried, frequency, model; "what's the problem?" repeats the
  complaint). The answer is the problem's fact for that topic, else the product's or the shared
  default ("No error message."). No topic: the help reply lists the topics.
Replies are a pure function of (problem, text), so the customer is consistent.

Difficulty (curated, 12 / 19 / 13 problems, split by problem 75/25): "easy": the complaint or the
first natural question points at the fix and nothing was tried; "medium": one or two diagnostic
questions are needed and the customer already tried a generic fix; "hard": the complaint is
misleading, the customer tried two plausible fixes, and the decisive fact only comes from a
specific question.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jaxllm.paprika.games.base import GroupSpec, Scenario, register
from jaxllm.paprika.games.simulated import (
  MAX_TURNS,
  SimulatedGame,
  draw,
  normalize,
  reply_rules,
  split_pool,
  stable_hash,
  strip_fillers,
  strip_prefix,
  word_match,
)

GROUP = "customer_service"
DIFFICULTIES = ("easy", "medium", "hard")
DATA = Path(__file__).parent / "data" / "customer_service.json"
NAMES = ("Alex", "Sam", "Maria", "John", "Priya", "Chen", "Fatima", "Lukas", "Aiko", "Carlos",
         "Emma", "Omar", "Grace", "Ivan", "Nadia", "Tom", "Zoe", "Ravi", "Lena", "Kofi")

# topic -> (keywords, default answer). "tried" and "problem" are answered from the problem.
TOPICS: dict[str, tuple[tuple[str, ...], str]] = {
    "power": (("turn on", "turns on", "power", "switch on", "boot", "start up", "starts up",
               "dead", "come on", "comes on", "switches on"), "Yes, it turns on."),
    "lights": (("light", "led", "indicator", "blink", "flash", "lamp", "icon", "symbol"),
               "No unusual lights."),
    "error": (("error", "message", "code", "warning", "say anything", "show anything", "display",
               "screen say", "says", "show on", "shows"), "No error message."),
    "noise": (("noise", "sound", "hear", "beep", "click", "grind", "buzz", "hum", "loud",
               "rattle"), "No strange noises."),
    "when": (("when", "since", "how long", "began", "first notice", "start happening",
              "started happening", "it start"), "It started yesterday."),
    "change": (("change", "recent", "new", "update", "install", "moved", "different",
                "anything happen", "did anything", "before it started"),
               "Nothing has changed that I know of."),
    "cable": (("cable", "plug", "cord", "socket", "outlet", "wire", "loose"),
              "All the cables look plugged in."),
    "battery": (("battery", "charge", "charging", "charger"), "The battery seems fine."),
    "network": (("wifi", "wi fi", "internet", "network", "router", "online", "signal",
                 "bluetooth", "connected"), "The internet works on my other devices."),
    "other": (("other device", "another device", "other phone", "other computer",
               "another computer", "other laptop", "different device", "someone else",
               "other appliance", "elsewhere"), "I haven't tried it with anything else."),
    "damage": (("drop", "water damage", "wet", "spill", "damage", "broken", "crack", "fell",
                "physical"), "No, it hasn't been dropped or damaged."),
    "age": (("old", "age", "how long have you had", "warranty", "bought", "purchase"),
            "It's about two years old."),
    "tried": (("tried", "already done", "what have you done", "so far", "troubleshoot",
               "attempted"), ""),
    "frequency": (("always", "every time", "sometimes", "how often", "all the time",
                   "intermittent", "constantly"), "It happens every time."),
    "model": (("model", "brand", "make and model", "what kind of"), "It's a fairly common model."),
}
FALLBACK = ("problem", "issue", "wrong", "help you", "happening", "tell me more", "describe",
            "details", "symptom", "what happens", "hello", "hi", "good morning", "good afternoon")
GENERIC_FIXES: dict[str, dict[str, Any]] = {
    "restart": {"text": "restart it (turn it off and on again)",
                "alone": ["restart", "reboot", "re start", "re boot", "power cycle", "off and on",
                          "off and back on", "unplug it", "unplug and", "reset"]},
    "update": {"text": "update the software",
               "groups": [["update", "upgrade", "install the latest", "latest version",
                           "newest version"],
                          ["app", "software", "firmware", "system", "application", "os",
                           "program", "version"]]},
    "factory_reset": {"text": "do a factory reset",
                      "alone": ["factory reset", "factory setting", "reset to factory",
                                "reset everything", "restore setting", "factory default",
                                "hard reset", "master reset"]},
    "replace": {"text": "replace it or send it for repair",
                "alone": ["buy a new", "get a new one", "replace it", "new one", "send it for",
                          "send it in", "repair shop", "technician", "return it",
                          "exchange it", "replacement", "take it to"]},
}
OPEN = ("what", "whats", "which", "how", "hows", "when", "where", "why", "who", "whose")


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
  return json.loads(DATA.read_text())


@functools.lru_cache(maxsize=1)
def problems() -> dict[str, dict[str, Any]]:
  return {p["id"]: p for p in table()["problems"]}


def product(problem: dict[str, Any]) -> dict[str, Any]:
  return table()["products"][problem["product"]]


def fixes(problem: dict[str, Any]) -> dict[str, dict[str, Any]]:
  """The fixes the simulator recognizes for this problem: the product's, then the generic ones."""
  return {**product(problem)["fixes"], **GENERIC_FIXES}


def customer_name(problem_id: str) -> str:
  return NAMES[stable_hash(GROUP, problem_id) % len(NAMES)]


def match_fix(text: str, catalog: dict[str, dict[str, Any]]) -> str | None:
  """The fix id `text` proposes (see the module docstring), or None."""
  if strip_prefix(text, OPEN)[0]:
    return None
  best: tuple[tuple[int, int], str] | None = None
  for fid, spec in catalog.items():
    scores = []
    alone = [k for k in spec.get("alone", ()) if word_match(text, k)]
    if alone:
      scores.append((1, max(map(len, alone))))
    groups = spec.get("groups", ())
    hits = [[k for k in g if word_match(text, k)] for g in groups]
    if groups and all(hits):
      scores.append((len(groups), sum(max(map(len, h)) for h in hits)))
    if scores and (best is None or max(scores) > best[0]):
      best = (max(scores), fid)
  return best[1] if best else None


def topic_of(text: str, problem: dict[str, Any]) -> str | None:
  best: tuple[int, str] | None = None
  merged = {t: tuple(k) for t, k in product(problem)["topics"].items()}
  for t, (keys, _) in TOPICS.items():
    merged.setdefault(t, keys)
  for t, keys in merged.items():
    hit = [len(k) for k in keys if word_match(text, k)]
    if hit and (best is None or max(hit) > best[0]):
      best = (max(hit), t)
  if best is not None:
    return best[1]
  return "problem" if any(word_match(text, k) for k in FALLBACK) else None


def pools(split: str) -> dict[str, list[str]]:
  return {d: split_pool(GROUP, [p["id"] for p in table()["problems"] if p["difficulty"] == d],
                        split) for d in DIFFICULTIES}


def scenarios(split: str, n: int, seed: int = 0, difficulty: str | None = None,
              max_turns: int = MAX_TURNS) -> list[Scenario]:
  def data(pid: str) -> dict[str, Any]:
    return {"problem": pid, "customer": customer_name(pid), "max_turns": int(max_turns)}
  return draw(GROUP, split, n, seed, pools(split), data, difficulty)


def _join(items: list[str]) -> str:
  return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class CustomerService(SimulatedGame):
  group = GROUP

  def setup(self, scenario: Scenario) -> None:
    self.problem = problems()[scenario.data["problem"]]
    self.customer = scenario.data.get("customer") or customer_name(self.problem["id"])
    self.product = product(self.problem)
    self.catalog = fixes(self.problem)

  def intro(self) -> str:
    p, t, label = self.problem, self.max_turns, self.product["label"]
    if not self.verbose:
      return (f"Customer ({label}): {p['short']}. Ask questions or suggest a fix, e.g. "
              f"'restart it'. {t} turns.")
    return (f"You are a customer service agent. A customer, {self.customer}, contacts you about "
            f"their {label}: \"{p['complaint']}\" Find out what is wrong by asking the customer "
            "questions, one per turn, and tell them what to do to fix it. The customer will "
            "answer your questions and tell you whether your suggestions worked. The problem is "
            f"solved when you suggest the fix that works. You have {t} turns.")

  # -- simulator -----------------------------------------------------------------------------------

  def simulate(self, answer: str) -> tuple[str, bool, bool]:
    return self.respond(answer)

  def respond(self, raw: str) -> tuple[str, bool, bool]:
    text = strip_fillers(normalize(raw))
    fid = match_fix(text, self.catalog) if text else None
    if fid is not None:
      return self._fix_reply(fid)
    topic = topic_of(text, self.problem) if text else None
    if topic is None:
      return self._help(text), False, False
    return self._fact(topic), False, False

  def _fix_reply(self, fid: str) -> tuple[str, bool, bool]:
    p = self.problem
    if fid == p["fix"]:
      return self._say(p["success"], p["success"]), True, False
    if fid in p["tried"]:
      return self._say("I already tried that, and it didn't help.", "Already tried that."), False, False
    if fid in ("replace", "factory_reset"):
      return self._say("I'd rather not do that yet. Is there anything else I can try?",
                       "I'd rather not. Anything else?"), False, False
    return self._say("I just tried that, but nothing changed.", "Tried it: no change."), False, False

  def _fact(self, topic: str) -> str:
    p = self.problem
    if topic == "problem":
      return p["complaint"] if self.verbose else p["short"].capitalize() + "."
    if topic in p["facts"]:
      return p["facts"][topic]
    if topic == "tried":
      if not p["tried"]:
        return self._say("I haven't tried anything yet.", "Nothing yet.")
      if not self.verbose:
        return "Tried: " + ", ".join(f.replace("_", " ") for f in p["tried"]) + "."
      return "I've already tried to " + _join([self.catalog[f]["text"] for f in p["tried"]]) + "."
    if topic in self.product["defaults"]:
      return self.product["defaults"][topic]
    return TOPICS[topic][1]

  def _say(self, verbose: str, terse: str) -> str:
    return verbose if self.verbose else terse

  def _help(self, text: str) -> str:
    topics = list(self.product["topics"]) + [t for t in TOPICS if t not in ("tried",)]
    if not self.verbose:
      h = stable_hash(GROUP, text)
      pick = [topics[(h >> (8 * i)) % len(topics)] for i in range(2)]
      return "Not sure. Ask about: " + ", ".join(dict.fromkeys(pick))
    return ("Sorry, I'm not sure what you mean. You can ask me about: " + ", ".join(topics)
            + ", or what I have tried; or tell me what to try.")

  # -- LLM environment -----------------------------------------------------------------------------

  def env_prompt(self) -> str:
    p, label = self.problem, self.product["label"]
    fix = self.catalog[p["fix"]]["text"]
    facts = "\n".join(f"- {topic}: {fact}" for topic, fact in p["facts"].items())
    tried = (_join([self.catalog[f]["text"] for f in p["tried"]]) if p["tried"]
             else "nothing yet")
    return (f"You are role-playing {self.customer}, a customer who contacted customer service "
            f"about their {label}. You already told the agent: \"{p['complaint']}\"\n"
            f"Hidden from the agent (never reveal it directly): what will solve the problem is "
            f"to {fix}.\nWhat you know, to share only when the agent asks about it:\n{facts}\n"
            f"You have already tried: {tried} (it did not help).\n"
            "Answer the agent's questions in the first person, briefly, using these facts; if "
            "asked about something not listed, say it looks normal or that you don't know. If "
            "the agent suggests something other than the solution, say you tried it and it did "
            "not help. Never suggest the solution yourself. "
            + reply_rules(self.verbose, f"the agent tells you to {fix} (in any wording), so that "
                          "the problem is solved"))


SPEC = register(GroupSpec(
    name=GROUP, make=CustomerService, scenarios=scenarios, difficulties=DIFFICULTIES,
    simulated=True,
    description="Customer service: diagnose a scripted customer's device problem and propose "
                "the fix that works, in 20 turns; simulator or env LLM plays the customer."))
