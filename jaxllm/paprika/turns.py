"""The agent's turn format and one game played as a chat.

    ep = Episode(GROUPS["wordle"].make(), scenario)
    ep.messages                      # [system, user]: the format instructions, then the rules
    while not ep.done:
      ep.apply(agent_text)           # "<Think>...</Think> <Answer>crane</Answer>"
    ep.record()                      # JSON: scenario, messages, success, turns, invalid, dropped

As in the authors' code: the agent writes `<Think>...</Think> <Answer>...</Answer>`; only the
`<Answer>` text (regex, DOTALL, stripped, lower-cased) goes to the game; the game's feedback plus
a fixed "make your next move" message is the next user turn; success is the game's own "goal
reached" check (`Game.step`).

Decisions the facts leave open:
- An unparsable reply (no `<Answer>...</Answer>`) does not reach the game and costs no game turn;
  the agent is told the format and asked again. After `max_invalid` (10) such replies in one
  trajectory it is dropped (`dropped=True`): pair selection discards it. The unparsable replies stay
  in the chat (the record is what was played).
- The last user message (the final feedback) is kept in the record for reading; the chat a
  trainer tokenizes ends at the agent's last reply (`pairs.training_messages`).
- `think=False` asks for the bare `<Answer>` (tiny byte-level models, whose turns must be short);
  the parser accepts both.
"""
from __future__ import annotations

import re
from typing import Any

from jaxllm.paprika.games.base import Game, Scenario

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)

SYSTEM = ("You are playing a game. In each turn, first think about what you know so far inside "
          "<Think>...</Think>, then write your move inside <Answer>...</Answer>. Only the text "
          "inside <Answer> is sent to the game.")
SYSTEM_TERSE = "Reply <Answer>move</Answer>."
NEXT_MOVE = "Now make your next move."
NEXT_MOVE_TERSE = "Next?"
INVALID = ("Your reply could not be read: write your move inside <Answer>...</Answer> "
           "(after your thinking in <Think>...</Think>). This did not count as a turn.")
INVALID_TERSE = "Bad format: <Answer>move</Answer>."


def parse_answer(text: str) -> str | None:
  """The first `<Answer>...</Answer>` text, stripped and lower-cased; None if there is none."""
  m = ANSWER_RE.search(text or "")
  return m.group(1).strip().lower() if m else None


class Episode:
  """One scenario played as a chat (module docstring)."""

  def __init__(self, game: Game, scenario: Scenario, *, terse: bool = False,
               max_invalid: int = 10, system: str | None = None):
    self.game, self.scenario, self.terse, self.max_invalid = game, scenario, terse, max_invalid
    first = game.reset(scenario)
    sys_msg = system if system is not None else (SYSTEM_TERSE if terse else SYSTEM)
    self.messages: list[dict[str, str]] = []
    if sys_msg:
      self.messages.append({"role": "system", "content": sys_msg})
    self.messages.append({"role": "user", "content": first})
    self.invalid = 0
    self.dropped = False
    self.overflow = False
    self.done = False

  @property
  def turns(self) -> int:
    return self.game.turns

  @property
  def success(self) -> bool:
    return self.game.success and not self.dropped

  def apply(self, agent_text: str) -> None:
    """Adds the agent's reply and the game's answer to it."""
    if self.done:
      raise RuntimeError("the episode is over")
    self.messages.append({"role": "assistant", "content": agent_text})
    answer = parse_answer(agent_text)
    if answer is None:
      self.invalid += 1
      if self.invalid >= self.max_invalid:
        self.dropped = self.done = True
        return
      self.messages.append({"role": "user", "content": INVALID_TERSE if self.terse else INVALID})
      return
    fb = self.game.step(answer)
    if fb.done:
      self.done = True
      self.messages.append({"role": "user", "content": fb.text})
    else:
      nxt = NEXT_MOVE_TERSE if self.terse else NEXT_MOVE
      self.messages.append({"role": "user", "content": f"{fb.text}\n{nxt}"})

  def stop_overflow(self) -> None:
    """Ends the episode because the chat no longer fits the model's context (a failure)."""
    self.overflow = self.done = True

  def record(self) -> dict[str, Any]:
    return {"scenario": self.scenario.to_json(), "messages": self.messages,
            "success": bool(self.success), "turns": int(self.turns),
            "max_turns": int(self.game.max_turns), "invalid": self.invalid,
            "dropped": self.dropped, "overflow": self.overflow}
