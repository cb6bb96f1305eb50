"""Scripted customer-service agent: diagnostic questions narrow the product's problems, then a fix.

    move, note = policy(game, history, rng, noise)     # ("how is the ink?", "6 problems fit")

Reads from the game: `game.verbose` (reply style), `game.turns`, `game.max_turns`; never
`game.problem`, `game.product`, `game.catalog`, `game.customer` or the scenario. The history's
intro (the product and the complaint the customer states) and the questions and replies.

Decisions:
- The product is read off the intro ("Customer (printer): ..." / "... about their printer:");
  the candidates are that product's problems in the module's public table (both splits), with
  one hypothetical customer each (`twenty_questions.Shadows`); a candidate stays when it would
  have given every reply shown (the fewest mismatches if none does).
- The complaint is not matched against the table's complaint strings: they are unique per
  problem, so matching would pick the problem in one step and every demonstration would be
  "complaint -> fix" (a lookup that does not carry over to held-out problems). It only ranks the
  candidates (content-word overlap with each candidate's complaint), for the final choice.
- Moves: one short question per topic (the shared `TOPICS` but "problem", which only repeats
  the complaint, and the product's own topics; `QUESTIONS`, `PRODUCT_QUESTIONS`) and one short
  proposal per fix of the product's catalog and the generic ones (`fix_text`, at most 50
  characters). Tests check that
  the simulator reads every question as its topic and never as a fix, and every proposal as its
  fix.
- Informed move: when the candidates left share one fix not yet failed, propose it; otherwise
  the question or proposal minimising the largest non-winning reply group (then the expected
  group size, then more chance to win now; ties: the proposal of the best-ranked candidate, else
  a random question); on the last turn, or when nothing splits, the fix of the best-ranked
  candidate. Failed proposals drop their problems from the
  candidates, so a failed fix is never proposed again by the informed move.
- Noise move: with equal chance a random unasked question or a random fix (not yet failed).
"""
from __future__ import annotations

import functools
import re

import numpy as np

from jaxllm.paprika.games import customer_service as cs
from jaxllm.paprika.games.base import Game, Scenario
from jaxllm.paprika.games.simulated import normalize
from jaxllm.paprika.policies.observe import History
from jaxllm.paprika.policies.twenty_questions import Shadows, best_move

QUESTIONS = {
    "power": "does it turn on?", "lights": "are any lights on?", "error": "any error message?",
    "noise": "any strange noises?", "when": "when did it start?",
    "change": "did anything change recently?", "cable": "how are the cables?",
    "battery": "how is the battery?", "network": "how is the wifi?",
    "other": "does it work on another device?", "damage": "was it dropped or damaged?",
    "age": "how old is it?", "tried": "what have you tried?",
    "frequency": "how often does it happen?", "model": "what model is it?",
}
PRODUCT_QUESTIONS = {
    ("printer", "quality"): "how is the print quality?",
    ("printer", "queue"): "how is the print queue?",
    ("router", "where"): "where is it placed?",
    ("phone", "notifications"): "how are notifications?",
    ("washer", "buttons"): "how are the buttons?",
    ("headphones", "ear"): "how are the earbuds?",
    ("coffee", "water"): "how is the water tank?",
    ("coffee", "descale"): "when was it descaled?",
    ("coffee", "grounds"): "how is the grounds drawer?",
    ("coffee", "taste"): "how does it taste?",
}
GENERIC_TEXT = {"restart": "restart it", "update": "update the software",
                "factory_reset": "do a factory reset", "replace": "replace it"}
INTRO = (re.compile(r"Customer \((.+?)\): (.+?)\. Ask questions"),
         re.compile(r"about their (.+?): \"(.+?)\" Find out"))
STOP = frozenset({"a", "an", "the", "my", "i", "it", "is", "its", "to", "of", "and", "on", "in",
                  "no", "not", "wont", "dont", "cant"})


def read_intro(intro: str | None) -> tuple[str | None, str]:
  """(product key, complaint) stated in the intro; (None, "") if it cannot be read."""
  for pat in INTRO:
    m = pat.search(intro or "")
    if m:
      key = next((k for k, p in cs.table()["products"].items() if p["label"] == m.group(1)), None)
      return key, m.group(2)
  return None, ""


def fix_text(fid: str, catalog: dict) -> str:
  """A short proposal of fix `fid`: the catalog text without parentheses and "e.g." tails, cut
  before " and ..." when the simulator still reads the cut text as the same fix; lower case."""
  if fid in GENERIC_TEXT:
    return GENERIC_TEXT[fid]
  text = re.sub(r"\s*\(.*?\)|,? e\.g\..*$", "", catalog[fid]["text"]).strip().lower()
  head = text.split(" and ")[0]
  return head if cs.match_fix(normalize(head), catalog) == fid else text


@functools.lru_cache(maxsize=32)
def setup(product: str | None, verbose: bool) -> tuple[Shadows, tuple[str, ...], dict, dict]:
  """(one customer per problem of the product, its questions, its fix catalog, fix id ->
  proposal text); every problem of the table when the product is unknown."""
  probs = [p for p in cs.table()["problems"] if product is None or p["product"] == product]
  def make(pid: str) -> cs.CustomerService:
    g = cs.CustomerService(verbose=verbose)
    g.reset(Scenario(cs.GROUP, "hypothesis", "train", "easy", {"problem": pid}))
    return g
  sh = Shadows([p["id"] for p in probs], make)
  products = sorted({p["product"] for p in probs})
  qs = {q: None for k in products for q in questions(k).values()}
  catalog = {fid: spec for p in probs for fid, spec in cs.fixes(p).items()}
  return sh, tuple(qs), catalog, {fid: fix_text(fid, catalog) for fid in catalog}


def questions(product: str) -> dict[str, str]:
  """topic -> the question asking about it, for one product."""
  own = {t: PRODUCT_QUESTIONS.get((product, t)) or f"how is the {t}?"
         for t in cs.table()["products"][product]["topics"]}
  return {**QUESTIONS, **own}


def words(text: str) -> set[str]:
  return set(normalize(text).split()) - STOP


def ranked(idx: np.ndarray, keys: tuple[str, ...], complaint: str, verbose: bool,
           rng: np.random.Generator) -> list[int]:
  """Candidate indices, best first: complaint-word overlap, ties in random order."""
  said = words(complaint)
  def overlap(i: int) -> float:
    p = cs.problems()[keys[i]]
    theirs = words(p["complaint"] if verbose else p["short"])
    return len(said & theirs) / max(1, len(said | theirs))
  order = list(idx[rng.permutation(len(idx))])
  return sorted(order, key=overlap, reverse=True)


def policy(game: Game, history: History, rng: np.random.Generator,
           noise: float) -> tuple[str, str]:
  product, complaint = read_intro(getattr(history, "intro", None))
  verbose = bool(game.verbose)
  sh, qs, catalog, proposals = setup(product, verbose)
  asked = {a for a, _ in history}
  failed = {cs.match_fix(normalize(a), catalog) for a in asked} - {None}
  fresh_fixes = [f for f in proposals if f not in failed]
  if rng.random() < noise:
    fresh = [q for q in qs if q not in asked] or list(qs)
    if rng.random() < 0.5 or not fresh_fixes:
      return fresh[int(rng.integers(len(fresh)))], "random question"
    return proposals[fresh_fixes[int(rng.integers(len(fresh_fixes)))]], "random fix"
  idx = sh.fit(history)
  fix_of = {i: cs.problems()[sh.keys[i]]["fix"] for i in idx}
  live = [i for i in idx if fix_of[i] not in failed] or list(idx)
  note = f"{len(live)} {'problem fits' if len(live) == 1 else 'problems fit'}"
  order = ranked(np.array(live), sh.keys, complaint, verbose, rng)
  if len({fix_of[i] for i in live}) == 1 or game.max_turns - game.turns <= 1:
    return proposals[fix_of[order[0]]], note
  fixes = [proposals[f] for f in dict.fromkeys(fix_of[i] for i in order)]
  fresh = [q for q in qs if q not in asked]
  moves = fixes + [fresh[i] for i in rng.permutation(len(fresh))]
  move, (worst, _, _) = best_move(sh, np.array(live), moves, rng, first=True)
  if move is None or worst >= len(live):
    return proposals[fix_of[order[0]]], note
  return move, note
