"""Scripted detective: scene trace, suspects' traces, alibis and their checks, then one accusation.

    move, note = policy(game, history, rng, noise)     # ("examine library", "3 suspects")

Reads from the game: `game.turns` and `game.max_turns` only (both reply styles are parsed);
never `game.case`, `game.people`, `game.culprit` or the scenario. From the history: the intro
(crime room, suspects' first names, things to examine) and the replies. From the module: the
public trace table (`murder_mystery.table()["traces"]`: how a scene clue and the matching
suspect's trait are worded).

Decisions:
- The reasoning is the case logic the intro states: the murderer left a trace in the crime room
  and lies about where they were; innocents tell the truth. So the murderer matches the scene's
  trace and has no confirmed alibi. A suspect's alibi is confirmed by a companion saying they
  were together ("ask <y> about <x>" -> "<x> was with me") or by evidence naming them ("examine
  <item>"); it is refuted (a lie, so the murderer) when the companion denies it.
- Informed move, in order: examine the crime room; examine each suspect (intro order); then,
  among the suspects matching the trace: accuse one refuted; accuse the only one not confirmed
  once all others are; else check the next unconfirmed one (ask their alibi, ask their
  companion about them, examine their evidence). When nothing is left to check, or on the last
  turn, accuse the most suspicious (refuted, then alone without evidence, then unchecked;
  ties at random among those matching the trace, else among everyone).
- Moves are short: "examine <room>", "examine <name>", "ask <name> about alibi", "ask <name>
  about <name>", "examine <item>", "accuse <name>" (names as the intro writes them, lower case).
- Noise move: with equal chance examine a random thing or suspect, ask a random suspect about
  their alibi / the victim / another suspect, or accuse a random suspect (an early accusation,
  which loses unless lucky).
- Replies are parsed per move: only the policy's own move forms are read; other text in a
  history played by someone else is ignored.
"""
from __future__ import annotations

import re

import numpy as np

from jaxllm.paprika.games import murder_mystery as mm
from jaxllm.paprika.games.base import Game
from jaxllm.paprika.policies.observe import History, shown

TERSE_INTRO = re.compile(r"Murder in the (.+?)\. Suspects: (.+?)\. Examine: (.+?)\. Cmds")
VERBOSE_ROOM = re.compile(r"found dead (?:in|on) the (.+?); death came")
VERBOSE_SUSPECTS = re.compile(r"The suspects are: (.+?)\. Rooms:")
VERBOSE_THINGS = re.compile(r"Things to examine: (.+?), any room, or a suspect\.")
EXAMINE = re.compile(r"examine (.+)")
ASK = re.compile(r"ask (\S+) about (.+)")
WITH = re.compile(r"with (\w+)\.\"?$")
PROOF = re.compile(r"see ([^.]+)\.$|Check the (.+?) if you doubt me")
DENIED = re.compile(r"wasn.?t with me|never saw", re.IGNORECASE)


def read_intro(intro: str | None) -> tuple[str, list[str], list[str]]:
  """(crime room, suspects' first names, things to examine) as the intro states them."""
  text = intro or ""
  m = TERSE_INTRO.search(text)
  if m:
    return m.group(1).lower(), m.group(2).lower().split(", "), m.group(3).lower().split(", ")
  room, people, things = (VERBOSE_ROOM.search(text), VERBOSE_SUSPECTS.search(text),
                          VERBOSE_THINGS.search(text))
  names = [p.split()[0].lower() for p in people.group(1).split("; ")] if people else []
  return (room.group(1).lower() if room else "", names,
          things.group(1).lower().split(", ") if things else [])


def trace_of(text: str, keys: tuple[str, ...]) -> int | None:
  """Index of the trace table entry whose `keys` fields best (longest) match the reply."""
  low, best = text.lower(), (0, None)
  for i, t in enumerate(mm.table()["traces"]):
    for k in keys:
      if t[k].lower() in low and len(t[k]) > best[0]:
        best = (len(t[k]), i)
  return best[1]


class Notes:
  """What the replies so far establish."""

  def __init__(self, room: str, names: list[str], history: History) -> None:
    self.scene: int | None = None
    self.trace: dict[str, int | None] = {}
    self.alibi: dict[str, str] = {}
    self.word: dict[tuple[str, str], str] = {}      # (asked, about) -> reply
    self.seen: dict[str, str] = {}                  # examined item -> reply
    for move, text in history:
      text = shown(text)
      m, a = EXAMINE.fullmatch(move), ASK.fullmatch(move)
      if m and m.group(1) == room:
        self.scene = trace_of(text, ("clue", "short"))
      elif m and m.group(1) in names:
        self.trace[m.group(1)] = trace_of(text, ("trait", "tag"))
      elif m:
        self.seen[m.group(1)] = text
      elif a and a.group(1) in names and a.group(2) == "alibi":
        self.alibi[a.group(1)] = text
      elif a and a.group(1) in names and a.group(2) in names:
        self.word[(a.group(1), a.group(2))] = text

  def claim(self, x: str) -> tuple[str, str | None]:
    """("with", companion) / ("proof", item) / ("alone", None) / ("unknown", None)."""
    text = self.alibi.get(x)
    if text is None:
      return "unknown", None
    m, p = WITH.search(text), PROOF.search(text)
    if m:
      return "with", m.group(1).lower()
    if p:
      return "proof", (p.group(1) or p.group(2)).strip().lower()
    return "alone", None

  def status(self, x: str) -> str:
    """confirmed / refuted / alone / open (something left to check)."""
    kind, arg = self.claim(x)
    if kind == "with":
      said = self.word.get((arg, x))
      if said is None:
        return "open"
      return "refuted" if DENIED.search(said) else "confirmed" if "with me" in said else "refuted"
    if kind == "proof":
      seen = self.seen.get(arg)
      return "open" if seen is None else "confirmed" if x in seen.lower() else "refuted"
    return "alone" if kind == "alone" else "open"

  def check(self, x: str) -> str:
    """The move that checks x's alibi further."""
    kind, arg = self.claim(x)
    if kind == "with":
      return f"ask {arg} about {x}"
    if kind == "proof":
      return f"examine {arg}"
    return f"ask {x} about alibi"


def noise_move(names: list[str], things: list[str], rng: np.random.Generator) -> str:
  kind = int(rng.integers(3))
  pick = lambda xs: xs[int(rng.integers(len(xs)))]
  if kind == 0:
    return f"examine {pick(things + names)}"
  if kind == 1:
    x = pick(names)
    return f"ask {x} about {pick(['alibi', 'victim'] + [n for n in names if n != x])}"
  return f"accuse {pick(names)}"


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  room, names, things = read_intro(getattr(history, "intro", None))
  if not names:
    return "examine body", "no suspects read"
  if rng.random() < noise:
    return noise_move(names, things or ["body"], rng), "random command"
  notes = Notes(room, names, history)
  last = game.max_turns - game.turns <= 1
  if notes.scene is None and not last:
    return f"examine {room}", f"{len(names)} suspects"
  todo = [x for x in names if x not in notes.trace]
  if todo and not last:
    return f"examine {todo[0]}", "traces"
  matching = [x for x in names if notes.trace.get(x) == notes.scene] or names
  status = {x: notes.status(x) for x in matching}
  refuted = [x for x in matching if status[x] == "refuted"]
  if refuted:
    return f"accuse {refuted[0]}", f"{refuted[0]} lied"
  unconfirmed = [x for x in matching if status[x] != "confirmed"]
  if len(unconfirmed) == 1:
    return f"accuse {unconfirmed[0]}", f"only {unconfirmed[0]} unconfirmed"
  pending = [x for x in unconfirmed if status[x] == "open"]
  if pending and not last:
    return notes.check(pending[0]), f"{len(unconfirmed)} unconfirmed"
  pool = [x for x in unconfirmed if status[x] == "alone"] or unconfirmed or matching
  x = pool[int(rng.integers(len(pool)))]
  return f"accuse {x}", f"{len(pool)} suspects left"
