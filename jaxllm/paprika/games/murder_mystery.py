"""Murder mystery: question suspects, examine evidence and accuse the murderer, in 20 turns.

    spec = GROUPS["murder_mystery"]
    game = spec.make()                         # simulator; make(endpoint=ChatClient(...)) for an LLM
    print(game.reset(spec.scenarios("train", n=3, seed=0)[0]))   # the case and the suspects
    game.step("examine the library").text      # the trace left at the scene
    game.step("ask hugo about his alibi").text
    game.step("accuse hugo").text              # right: "... Goal reached!"; wrong: lost

Cases are generated, deterministically from (split, difficulty, case seed), out of the component
tables in data/murder_mystery.json (settings and their rooms, names, roles with motives,
weapons, traces, alibi evidence); `Scenario.data["case"]` holds the whole generated case, so a
scenario replays without regenerating. Train and eval cases never share a setting (the 10
settings are split 8/2 by hash), so no case is in both splits.

The logic of every case (told to the agent in the verbose intro): the murderer was in the crime
room at the time of death and left a trace there (examining the room shows it; examining a
suspect shows their own trace, e.g. "has long red hair"); innocent suspects tell the truth; the
murderer lies about where they were. So the murderer is the one suspect who matches the trace
and whose alibi nobody confirms: every other suspect matching the trace has an alibi confirmed
by a companion (who says the same when asked) or by a piece of evidence to examine.

Commands understood by the simulator (after `simulated.normalize`):
- "ask <suspect> about <topic>" (also question / interrogate / talk to ...; "ask <suspect> where
  they were"): topics alibi (where, whereabouts, that night, ...), the victim, another suspect
  (what they know of them: a companion confirms, everyone else reports that suspect's motive),
  or an item/room ("I don't know anything about that."). Suspects are named by first name, last
  name, full name or role ("the chef").
- "examine <thing>" (inspect, search, look at, check ...; a bare item name works): the body, the
  crime room (the trace), the weapon, any other room ("nothing of interest"), a suspect (their
  trace), the alibi evidence of hard cases, the victim's letter (medium and hard).
- "accuse <suspect>" (arrest, "the murderer is X", "X did it", "it was X"): the murderer wins; anyone
  else loses the game at once (lost=True, "Game over"). An unknown name is not an accusation.
- Anything else gets the list of commands, suspects and things to examine.

Difficulty: "easy": 3 suspects and the trace matches only the murderer (the two others alibi each
other); "medium": 4 suspects, the trace matches two, one of whom has a companion's alibi, and an
unconfirmed red herring with a letter revealing a motive; "hard": 5 suspects, the trace matches
three (one confirmed by a companion, one by evidence to examine), plus the red herring. The
murderer either claims to have been alone or (when there is an alone innocent) falsely claims
that innocent's company, which the innocent denies.
"""
from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path
from typing import Any

from jaxllm.paprika.games.base import SPLITS, GroupSpec, Scenario, register
from jaxllm.paprika.games.simulated import (
  ARTICLES,
  MAX_TURNS,
  SimulatedGame,
  drop_words,
  normalize,
  reply_rules,
  split_pool,
  strip_fillers,
  strip_prefix,
)

GROUP = "murder_mystery"
DIFFICULTIES = ("easy", "medium", "hard")
DATA = Path(__file__).parent / "data" / "murder_mystery.json"
SUSPECTS = {"easy": 3, "medium": 4, "hard": 5}
ASK = ("ask", "question", "interrogate", "interview", "talk to", "speak to", "speak with",
       "talk with", "quiz", "ask the", "question the", "interrogate the")
EXAMINE = ("examine", "inspect", "search", "look at", "look around", "look in", "investigate",
           "check", "study", "analyze", "analyse", "observe", "look for", "search the",
           "examine the", "inspect the")
ACCUSE = ("accuse", "i accuse", "arrest", "i arrest", "charge", "blame", "i blame",
          "the murderer is", "the murderer was", "the killer is", "the killer was",
          "the culprit is", "the culprit was", "murderer is", "killer is", "culprit is",
          "it was", "it is", "i think it was", "my accusation is", "final answer",
          "i accuse the", "accuse the", "arrest the")
DONE_IT = re.compile(r"^(.+?) (?:did it|is the (?:murderer|killer|culprit)|was the (?:murderer|"
                     r"killer|culprit)|killed .+|murdered .+|is guilty|is responsible)$")
ALIBI = ("alibi", "where", "whereabouts", "doing", "that night", "last night", "the night",
         "evening", "movements", "time of the murder", "at the time", "murder", "were you")
TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "doctor", "sir", "lady", "lord", "madam"})
DROP = ARTICLES | {"his", "her", "their", "your", "its", "my", "own"}


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
  return json.loads(DATA.read_text())


def settings(split: str) -> list[dict[str, Any]]:
  names = split_pool(GROUP, [s["name"] for s in table()["settings"]], split)
  return [s for s in table()["settings"] if s["name"] in names]


def make_case(split: str, difficulty: str, case_seed: int) -> dict[str, Any]:
  """One case: a JSON-able dict (see the module docstring for its logic)."""
  t = table()
  rng = random.Random(f"{GROUP}|{split}|{difficulty}|{case_seed}")
  setting = rng.choice(settings(split))
  rooms = list(setting["rooms"])
  rng.shuffle(rooms)
  crime_room, others = rooms[0], rooms[1:]
  victim = f"{rng.choice(t['victim_first'])} {rng.choice(t['victim_last'])}"
  time = rng.choice(t["times"])
  n = SUSPECTS[difficulty]
  firsts = rng.sample(t["suspect_first"], n)
  lasts = rng.sample(t["suspect_last"], n)
  roles = rng.sample(t["roles"], n)
  traces = rng.sample(t["traces"], n)
  people = [{"first": f, "last": l, "role": r["role"],
             "motive": r["motive"].format(victim=victim)} for f, l, r in zip(firsts, lasts, roles)]
  order = list(range(n))
  rng.shuffle(order)
  slots = {"easy": ("c", "a", "b"), "medium": ("c", "d1", "e", "f"),
           "hard": ("c", "d1", "d2", "e", "f")}[difficulty]
  who = dict(zip(slots, (people[i] for i in order)))
  matching = {"c", "d1", "d2"} & set(slots)
  decoys = iter(traces[1:])
  for slot, p in who.items():
    tr = traces[0] if slot in matching else next(decoys)
    p.update(trait=tr["trait"], tag=tr["tag"], culprit=slot == "c")
  pair = ("a", "b") if difficulty == "easy" else ("d1", "e")
  for x, y in (pair, pair[::-1]):
    who[x]["alibi"] = {"room": others[0], "with": who[y]["first"], "proof": None}
  proof = None
  if "d2" in who:
    proof = dict(rng.choice(t["proofs"]))
    who["d2"]["alibi"] = {"room": others[2], "with": None, "proof": proof["item"],
                          "doing": proof["doing"]}
    proof.update(text=proof["text"].format(room=others[2], time=time, name=_full(who["d2"])),
                 short=proof["short"].format(room=others[2], time=time, first=who["d2"]["first"]))
  if "f" in who:
    who["f"]["alibi"] = {"room": others[3], "with": None, "proof": None}
  if "f" in who and rng.random() < 0.5:
    who["c"]["alibi"] = {"room": others[3], "with": who["f"]["first"], "proof": None}
  else:
    who["c"]["alibi"] = {"room": others[1], "with": None, "proof": None}
  return {
      "setting": setting["name"], "host": setting["host"], "rooms": list(setting["rooms"]),
      "crime_room": crime_room, "victim": victim, "time": time,
      "weapon": rng.choice(t["weapons"]), "weapon_home": rng.choice(others),
      "trace": {"clue": traces[0]["clue"], "short": traces[0]["short"]},
      "suspects": people, "culprit": who["c"]["first"], "proof": proof,
      "letter": who["f"]["first"] if "f" in who else None,
  }


def _full(p: dict[str, Any]) -> str:
  return f"{p['first']} {p['last']}"


ON = ("deck", "stage", "bridge", "gaming floor", "rooftop terrace", "balcony", "courtyard")


def at(room: str) -> str:
  """'in the library' / 'on the deck'."""
  return f"{'on' if room in ON else 'in'} the {room}"


def scenarios(split: str, n: int, seed: int = 0, difficulty: str | None = None,
              max_turns: int = MAX_TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if difficulty is not None and difficulty not in DIFFICULTIES:
    raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
  diffs = [difficulty] if difficulty else list(DIFFICULTIES)
  rng = random.Random(f"{GROUP}|{split}|{seed}")
  out, seen = [], set()
  while len(out) < n:
    d = diffs[len(out) % len(diffs)]
    case_seed = rng.randrange(2 ** 31)
    if (d, case_seed) in seen:
      continue
    seen.add((d, case_seed))
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{d}-{case_seed}", split, d,
                        {"case": make_case(split, d, case_seed), "max_turns": int(max_turns)}))
  return out


class MurderMystery(SimulatedGame):
  group = GROUP
  lose_phrase = "game over"

  def setup(self, scenario: Scenario) -> None:
    self.case = scenario.data["case"]
    self.people = {p["first"]: p for p in self.case["suspects"]}
    self.culprit = self.people[self.case["culprit"]]

  # -- names ---------------------------------------------------------------------------------------

  def suspect(self, text: str) -> dict[str, Any] | None:
    words = [w for w in drop_words(text, DROP).split() if w not in TITLES]
    key = " ".join(words)
    for p in self.case["suspects"]:
      if key in (normalize(p["first"]), normalize(p["last"]), normalize(_full(p)),
                 normalize(p["role"])):
        return p
    return None

  def _prefix_suspect(self, text: str) -> tuple[dict[str, Any] | None, str]:
    """The suspect named at the start of `text` (longest match) and the rest."""
    words = text.split()
    for k in range(min(len(words), 5), 0, -1):
      p = self.suspect(" ".join(words[:k]))
      if p is not None:
        return p, " ".join(words[k:])
    return None, text

  def things(self) -> list[str]:
    c = self.case
    out = ["body", c["crime_room"], c["weapon"]]
    if c["proof"]:
      out.append(c["proof"]["item"])
    if c["letter"]:
      out.append("letter")
    return out

  def intro(self) -> str:
    c, t = self.case, self.max_turns
    names = ", ".join(p["first"] for p in c["suspects"])
    if not self.verbose:
      return (f"Murder in the {c['crime_room']}. Suspects: {names}. Examine: "
              f"{', '.join(self.things())}. Cmds: ask X about Y; examine Z; accuse X.")
    people = "; ".join(f"{_full(p)} ({p['role']})" for p in c["suspects"])
    return (f"A murder at {c['setting']}. {c['victim']}, {c['host']}, was found dead "
            f"{at(c['crime_room'])}; death came at about {c['time']}. You are the detective. The "
            f"suspects are: {people}. Rooms: {', '.join(c['rooms'])}. Things to examine: "
            f"{', '.join(self.things())}, any room, or a suspect. Commands, one per turn: "
            "\"ask <suspect> about <topic>\" (their alibi, the victim, another suspect), "
            "\"examine <thing>\", \"accuse <suspect>\". What you know: the murderer was "
            f"{at(c['crime_room'])} at {c['time']} and left a trace there; innocent suspects tell "
            "the truth, the murderer lies about where they were. One accusation only: accusing "
            f"the wrong suspect ends the game. You have {t} turns.")

  # -- simulator -----------------------------------------------------------------------------------

  def simulate(self, answer: str) -> tuple[str, bool, bool]:
    return self.respond(answer)

  def respond(self, raw: str) -> tuple[str, bool, bool]:
    text = strip_fillers(normalize(raw))
    verb, rest = strip_prefix(text, ACCUSE)
    m = DONE_IT.match(text)
    if verb or m:
      target = rest if verb else m.group(1)
      p, _ = self._prefix_suspect(target)
      if p is not None:
        return self._accuse(p)
      if verb in ("accuse", "i accuse", "arrest", "i arrest", "accuse the", "arrest the"):
        return self._say(f"There is no suspect called \"{target}\". The suspects are: "
                         f"{self._names()}.", f"No such suspect. {self._names()}."), False, False
    verb, rest = strip_prefix(text, ASK)
    if verb:
      p, topic = self._prefix_suspect(rest)
      if p is not None:
        return self._ask(p, re.sub(r"^(about|regarding|concerning|on|if|whether)\s+", "", topic)), False, False
    verb, rest = strip_prefix(text, EXAMINE)
    reply = self._examine(rest if verb else text)
    if reply is not None:
      return reply, False, False
    return self._help(), False, False

  def _accuse(self, p: dict[str, Any]) -> tuple[str, bool, bool]:
    c = self.case
    if p is self.culprit:
      return self._say(f"{_full(p)} breaks down and confesses to killing {c['victim']} with the "
                       f"{c['weapon']} {at(c['crime_room'])}. Case solved!",
                       f"{p['first']} confesses! Solved."), True, False
    return self._say(f"{_full(p)} is innocent, and the real murderer walks free. Game over.",
                     f"{p['first']} is innocent. Game over."), False, True

  def _ask(self, p: dict[str, Any], topic: str) -> str:
    c, first = self.case, p["first"]
    topic = drop_words(topic, DROP | {"you", "they", "he", "she", "were", "was"})
    other = self.suspect(topic) if topic else None
    if not topic:
      return self._say(f"Ask {first} about what? Their alibi, the victim, or another suspect.",
                       f"Ask {first} about what?")
    if other is p or (other is None and any(re.search(rf"\b{re.escape(k)}", topic)
                                            for k in ALIBI)):
      return self._alibi(p)
    if other is not None:
      return self._about(p, other)
    victim_words = {"victim", "deceased", "dead", "body", "relationship", "motive", "him", "her",
                    "dead man", "dead woman", *normalize(c["victim"]).split()}
    if topic in victim_words or any(w in victim_words for w in topic.split()[:2]):
      return self._say(f"{first}: \"I was {c['victim']}'s {p['role']}. We had our differences, "
                       "like everyone here.\"", f"{first}: I was the {p['role']}.")
    return self._say(f"{first}: \"I don't know anything about that.\"", f"{first}: Don't know.")

  def _alibi(self, p: dict[str, Any]) -> str:
    c, a, first = self.case, p["alibi"], p["first"]
    if a.get("proof"):
      return self._say(f"{first}: \"At {c['time']} I was alone {at(a['room'])}, {a['doing']}. "
                       f"Check the {a['proof']} if you doubt me.\"",
                       f"{first}: {a['room']}, alone; see {a['proof']}.")
    if a["with"]:
      return self._say(f"{first}: \"At {c['time']} I was {at(a['room'])} with {a['with']}.\"",
                       f"{first}: {a['room']}, with {a['with']}.")
    return self._say(f"{first}: \"At {c['time']} I was alone {at(a['room'])}.\"",
                     f"{first}: {a['room']}, alone.")

  def _about(self, p: dict[str, Any], other: dict[str, Any]) -> str:
    first, o = p["first"], other["first"]
    if p["alibi"]["with"] == o:
      return self._say(f"{first}: \"{o} was with me {at(p['alibi']['room'])} the whole "
                       "time.\"", f"{first}: {o} was with me.")
    if not p["culprit"] and other["culprit"] and other["alibi"]["with"] == first:
      return self._say(f"{first}: \"{o} says we were together? Nonsense, I was alone "
                       f"{at(p['alibi']['room'])} and never saw {o}.\"",
                       f"{first}: {o} wasn't with me!")
    return self._say(f"{first}: \"Everyone knows {o} {other['motive']}.\"",
                     f"{first}: {o} had a motive.")

  def _examine(self, target: str) -> str | None:
    c = self.case
    key = drop_words(target, DROP)
    if not key:
      return None
    p = self.suspect(key)
    if p is not None:
      return self._say(f"You study {_full(p)} closely: {p['first']} {p['trait']}.",
                       f"{p['first']}: {p['tag']}.")
    body = {"body", "corpse", "victim", "dead body", *normalize(c["victim"]).split(),
            normalize(c["victim"])}
    if key in body:
      return self._say(f"{c['victim']} lies {at(c['crime_room'])}, killed with the "
                       f"{c['weapon']} at about {c['time']}.",
                       f"Killed with {c['weapon']}, {c['time']}.")
    if key in (normalize(c["crime_room"]), "crime scene", "scene", "room", "scene of crime",
               "murder room", "floor"):
      return self._say(f"{at(c['crime_room']).capitalize()}, near the body and the {c['weapon']}, you "
                       f"find {c['trace']['clue']}.", f"Found: {c['trace']['short']}.")
    if key in (normalize(c["weapon"]), "weapon", "murder weapon"):
      return self._say(f"The {c['weapon']} usually belongs in the {c['weapon_home']}. It has "
                       "been wiped clean.", "Wiped clean.")
    if c["proof"] and key in (normalize(c["proof"]["item"]), "evidence"):
      return self._say(c["proof"]["text"], c["proof"]["short"])
    if c["letter"] and key in ("letter", "desk", "letters", "victims desk", "victims letter"):
      f = self.people[c["letter"]]
      return self._say(f"In the victim's desk, an angry letter from {_full(f)}: it shows that "
                       f"{f['first']} {f['motive']}.", f"Letter: {f['first']} had a motive.")
    if key in {normalize(r) for r in c["rooms"]}:
      return self._say(f"You search the {target}: nothing of interest.", "Nothing of interest.")
    return None

  def _names(self) -> str:
    return ", ".join(p["first"] for p in self.case["suspects"])

  def _say(self, verbose: str, terse: str) -> str:
    return verbose if self.verbose else terse

  def _help(self) -> str:
    if not self.verbose:
      return "Cmds: ask X about Y; examine Z; accuse X."
    return ("I don't understand. Commands: \"ask <suspect> about <alibi | the victim | another "
            "suspect>\", \"examine <thing, room or suspect>\", \"accuse <suspect>\". Suspects: "
            f"{self._names()}. Things to examine: {', '.join(self.things())}.")

  # -- LLM environment -----------------------------------------------------------------------------

  def env_prompt(self) -> str:
    c = self.case
    lines = []
    for p in c["suspects"]:
      a = p["alibi"]
      claim = (f"claims to have been alone {at(a['room'])}"
               + (f", {a['doing']} (proof: the {a['proof']})" if a.get("proof") else "")
               if not a["with"] else f"claims to have been {at(a['room'])} with {a['with']}")
      truth = (f"THE MURDERER: was really {at(c['crime_room'])}; lies about the alibi"
               if p["culprit"] else "innocent; tells the truth")
      lines.append(f"- {_full(p)}, {p['role']}: {p['motive']}; appearance: {p['trait']}; "
                   f"{claim}; {truth}.")
    extra = []
    if c["proof"]:
      extra.append(f"- the {c['proof']['item']}: {c['proof']['text']}")
    if c["letter"]:
      f = self.people[c["letter"]]
      extra.append(f"- letter (in the victim's desk): shows that {_full(f)} {f['motive']}")
    return (
        "You are the narrator and game master of a murder-mystery game. The player is the "
        "detective. Case file (secret):\n"
        f"Setting: {c['setting']} (rooms: {', '.join(c['rooms'])}). Victim: {c['victim']}, "
        f"{c['host']}, killed {at(c['crime_room'])} with the {c['weapon']} at about "
        f"{c['time']}. At the scene: {c['trace']['clue']}. The {c['weapon']} usually belongs in "
        f"the {c['weapon_home']}.\nSuspects:\n" + "\n".join(lines) + "\n"
        + ("Evidence:\n" + "\n".join(extra) + "\n" if extra else "")
        + "The player gives commands: \"ask <suspect> about <topic>\", \"examine <thing>\", "
        "\"accuse <suspect>\". Answer in character from the case file: innocent suspects tell the "
        "truth (a companion confirms a true alibi; anyone can say what motive another suspect "
        "had), the murderer lies only about the alibi. Describe examined things from the case "
        "file. Never reveal who the murderer is. "
        + reply_rules(self.verbose, f"the player accuses {_full(self.culprit)}",
                      "the player accuses anyone else"))


SPEC = register(GroupSpec(
    name=GROUP, make=MurderMystery, scenarios=scenarios, difficulties=DIFFICULTIES,
    simulated=True,
    description="Murder mystery: question suspects, examine evidence and accuse the murderer in "
                "20 turns (a wrong accusation loses); simulator or env LLM narrates."))
