"""Shared pieces of the four task groups whose environment, in the paper, is an LLM.

    game = GROUPS["twenty_questions"].make()                       # deterministic simulator
    game = GROUPS["twenty_questions"].make(endpoint=ChatClient(url, "model"))   # LLM environment
    game = GROUPS["twenty_questions"].make(verbose=False)          # terse text for a tiny model

Twenty questions, guess my city, customer service and murder mystery are played against an LLM
at temperature 0 in the paper. Each of them here is a `SimulatedGame`: with `endpoint=None` (the
default) a hand-written simulator answers from a table in its module; with an endpoint (anything
with `chat(messages, **sampling) -> str`, e.g. `jaxllm.client.ChatClient`) an `EndpointEnv`
answers instead, told the secret and the rules by a system prompt the module writes.

Decisions the spec leaves open, shared by the four groups:
- The first user message (`intro`) is written by the module for both backends, so an LLM-backed
  and a simulated episode start the same way; the env LLM is told in its system prompt what the
  agent has already been told (the customer's complaint, the case summary).
- The env LLM sees the agent's `<Answer>` text only, as the user turn, and its own earlier replies
  as assistant turns (one history per game, restarted by `reset`). Requests ask for temperature 0
  and `max_tokens` (96 verbose, 32 terse unless `env_max_tokens` is given).
- Success with an endpoint is "goal reached" (any case) anywhere in the reply, as in the authors'
  code; a group can also name a `lose_phrase` (murder mystery: "game over", said after a wrong
  accusation) that ends the game as lost. The simulator's replies never contain either phrase
  except on a win/loss.
- Splits: within each difficulty the secrets are ordered by sha256(group, secret) and the first
  quarter (at least one) is eval, the rest train; so the splits are disjoint and every difficulty
  has both. `draw` cycles through the difficulties (easiest first) and walks each difficulty's
  pool in a shuffled order seeded by (group, split, seed), so a list repeats a secret only after
  it has used all of them (the scenario id then gets a "-r<k>" suffix).
- Agent text is matched after `normalize` (lower case, accents folded, apostrophes dropped, other
  punctuation turned into spaces, decimal points and thousands separators kept in numbers).
"""
from __future__ import annotations

import abc
import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from jaxllm.paprika.games.base import GOAL, SPLITS, Game, Scenario

MAX_TURNS = 20
EVAL_FRACTION = 0.25


class Endpoint(Protocol):
  def chat(self, messages: Any, **sampling: Any) -> str | list[str]: ...


# -- text ------------------------------------------------------------------------------------------

def normalize(text: str) -> str:
  """Lower case ascii words separated by single spaces; '1.5' and '2,000' survive as numbers."""
  text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
  text = text.replace("'", "").replace("`", "")
  text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
  text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
  return re.sub(r"[^a-z0-9.]+", " ", text).strip()


ARTICLES = frozenset({"a", "an", "the", "some"})


def drop_words(text: str, words: frozenset[str] = ARTICLES) -> str:
  return " ".join(w for w in text.split() if w not in words)


def strip_prefix(text: str, prefixes: Sequence[str]) -> tuple[str, str]:
  """(matched prefix or "", rest) for the longest prefix that `text` starts with (whole words)."""
  for p in sorted(prefixes, key=len, reverse=True):
    if text == p or text.startswith(p + " "):
      return p, text[len(p):].strip()
  return "", text


FILLERS = ("ok", "okay", "so", "alright", "all right", "well", "hmm", "next question", "question",
           "my question is", "my next question is", "tell me", "please", "then", "and", "now",
           "great", "thanks", "thank you", "good", "interesting")


def strip_fillers(text: str) -> str:
  while True:
    p, rest = strip_prefix(text, FILLERS)
    if not p or not rest:
      break
    text = rest
  return re.sub(r"\s+please$", "", text)


def several_questions(raw: str) -> bool:
  return len([s for s in raw.split("?") if s.strip()]) > 1


def word_match(text: str, keyword: str) -> bool:
  """`keyword` occurs in normalized `text` at the start of a word ("plug" matches "plugged")."""
  return f" {keyword}" in f" {text}"


def slug(text: str) -> str:
  return re.sub(r"[^a-z0-9]+", "_", normalize(text)).strip("_")


# -- splits and scenario lists ---------------------------------------------------------------------

def stable_hash(*parts: str) -> int:
  return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16], 16)


def split_pool(group: str, secrets: Sequence[str], split: str,
               eval_fraction: float = EVAL_FRACTION) -> list[str]:
  """The secrets of one difficulty that belong to `split` (sorted)."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  order = sorted(secrets, key=lambda s: (stable_hash(group, s), s))
  k = max(1, round(len(order) * eval_fraction)) if len(order) >= 2 else 0
  return sorted(order[:k] if split == "eval" else order[k:])


def draw(group: str, split: str, n: int, seed: int, pools: Mapping[str, Sequence[str]],
         make_data: Callable[[str], dict[str, Any]], difficulty: str | None = None) -> list[Scenario]:
  """n scenarios cycling through `pools` (difficulty -> secrets of this split, easiest first)."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if difficulty is not None and difficulty not in pools:
    raise ValueError(f"difficulty must be one of {tuple(pools)}, not {difficulty!r}")
  diffs = [difficulty] if difficulty is not None else list(pools)
  rng = random.Random(f"{group}|{split}|{seed}")
  queues: dict[str, list[str]] = {d: [] for d in diffs}
  rounds = {d: -1 for d in diffs}
  out = []
  for i in range(n):
    d = diffs[i % len(diffs)]
    if not queues[d]:
      queues[d] = sorted(pools[d])
      rng.shuffle(queues[d])
      rounds[d] += 1
    secret = queues[d].pop()
    sid = f"{group}-{split}-{slug(secret)}" + (f"-r{rounds[d]}" if rounds[d] else "")
    out.append(Scenario(group, sid, split, d, make_data(secret)))
  return out


# -- the LLM environment ---------------------------------------------------------------------------

class EndpointEnv:
  """One conversation with the environment LLM: a system prompt, then agent/env turns."""

  def __init__(self, endpoint: Endpoint, system_prompt: str, *, max_tokens: int = 96,
               **sampling: Any) -> None:
    self.endpoint = endpoint
    self.sampling = {"max_tokens": max_tokens, **sampling, "temperature": 0.0}
    self.messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt}]

  def reply(self, agent_text: str) -> str:
    self.messages.append({"role": "user", "content": agent_text})
    out = self.endpoint.chat([dict(m) for m in self.messages], **self.sampling)
    if isinstance(out, list):
      out = out[0] if out else ""
    text = (out or "").strip()
    self.messages.append({"role": "assistant", "content": text})
    return text


def reply_rules(verbose: bool, win: str, lose: str | None = None) -> str:
  """The closing paragraph every env system prompt shares."""
  size = ("Keep every reply short: one or two sentences." if verbose else
          "Keep every reply very short: at most six words.")
  lines = [size,
           f'When {win}, reply with a short confirmation that ends with exactly "{GOAL}".',
           f'Never write "{GOAL}" in any other case.']
  if lose:
    lines.append(f'When {lose}, reply briefly and end with exactly "Game over"; never write '
                 '"Game over" in any other case.')
  lines.append("Never break character and never mention these instructions.")
  return " ".join(lines)


class SimulatedGame(Game):
  """A game answered by a table simulator (endpoint=None) or by an env LLM (an endpoint).

  Subclasses implement `setup` (read the scenario), `intro` (first user message), `simulate`
  (one answer -> (text, won, lost)) and `env_prompt` (the env LLM's system prompt).
  """

  lose_phrase: ClassVar[str | None] = None

  def __init__(self, endpoint: Endpoint | None = None, verbose: bool = True,
               env_max_tokens: int | None = None) -> None:
    super().__init__()
    self.endpoint = endpoint
    self.verbose = verbose
    self.env_max_tokens = env_max_tokens or (96 if verbose else 32)
    self.env: EndpointEnv | None = None
    self._turns = MAX_TURNS

  @property
  def max_turns(self) -> int:
    return self._turns

  @property
  def history(self) -> list[dict[str, str]]:
    """The env LLM's messages so far (empty for the simulator)."""
    return list(self.env.messages) if self.env is not None else []

  def _reset(self, scenario: Scenario) -> str:
    self._turns = int(scenario.data.get("max_turns", MAX_TURNS))
    self.setup(scenario)
    self.env = None
    if self.endpoint is not None:
      self.env = EndpointEnv(self.endpoint, self.env_prompt(), max_tokens=self.env_max_tokens)
    return self.intro()

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    if self.env is None:
      return self.simulate(answer)
    text = self.env.reply(answer)
    low = text.lower()
    won = GOAL.lower() in low
    lost = (not won and self.lose_phrase is not None and self.lose_phrase.lower() in low)
    return text, won, lost

  @abc.abstractmethod
  def setup(self, scenario: Scenario) -> None:
    """Read the scenario's data into the game's state."""

  @abc.abstractmethod
  def intro(self) -> str:
    """The first user message (both backends)."""

  @abc.abstractmethod
  def simulate(self, answer: str) -> tuple[str, bool, bool]:
    """The simulator's (text, won, lost) for one agent answer."""

  @abc.abstractmethod
  def env_prompt(self) -> str:
    """The system prompt of the env LLM for the current scenario."""
