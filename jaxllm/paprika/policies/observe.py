"""What a scripted player has seen of a game: the moves sent and the feedback they got.

    game, history = observe(episode)      # from the chat itself (an Episode)
    game, history = observe(game)         # from a recorder put on a bare Game (first call)
    for answer, feedback in history: ...  # one pair per game turn, oldest first
    history.intro                         # the game's first message (rules, case, complaint)
    shown(feedback)                       # the feedback without the episode's "Next?" prompt

Decisions:
- `history` is a list of (answer the game received, the game's feedback text), one per game
  turn, malformed moves included (they cost a turn and their feedback says so). Policies parse
  the feedback text, i.e. exactly what the agent was told; they never ask the game to score
  anything, so they cannot learn more than the chat shows.
- From an `Episode` the history is read off its messages: each assistant reply whose `<Answer>`
  parses (the same `parse_answer` the episode uses, so the same lower-cased text the game got)
  paired with the user message after it. Unparsable replies never reached the game and are
  skipped. This works whoever played the earlier turns.
- From a bare `Game` there is no chat, and the games do not keep one (wordle, mastermind and the
  CA keep no history at all), so the first call wraps that instance's `step` and `reset` to log
  (answer, feedback text) and clear the log on reset. That first call must come before any
  move (game.turns == 0), else the history is unknown and it raises. The wrap is on the
  instance only; the game modules are untouched.
- `history.intro` is the game's first user message (None when unknown): the LLM-simulated groups
  state public set-up facts there (the customer's product and complaint, the suspects). From an
  Episode it is the first user message; from a bare Game the recorder takes it from
  `game.intro()` (the simulated games' own rendering of it) when it is put on at turn 0, and from
  `reset`'s return value afterwards. `History` is a list subclass, so plain lists of pairs still
  work wherever no intro is needed.
- Episode feedback carries the episode's next-move prompt on a last line; `shown` drops it for
  policies that compare reply texts exactly (the rule-based ones search the text and keep it).
"""
from __future__ import annotations

from typing import Any

from jaxllm.paprika.games.base import Game
from jaxllm.paprika.turns import NEXT_MOVE, NEXT_MOVE_TERSE, Episode, parse_answer

LOG_ATTR = "_scripted_history"
INTRO_ATTR = "_scripted_intro"


class History(list):
  """(answer, feedback text) pairs, oldest first; `intro`: the game's first message or None."""

  def __init__(self, pairs: Any = (), intro: str | None = None) -> None:
    super().__init__(pairs)
    self.intro = intro


def shown(text: str) -> str:
  """The game's feedback without the episode's trailing next-move prompt line."""
  head, sep, tail = text.rpartition("\n")
  return head if sep and tail.strip() in (NEXT_MOVE, NEXT_MOVE_TERSE) else text


def watch(game: Game) -> list[tuple[str, str]]:
  """Starts (or returns) the log of (answer, feedback text) on this game instance."""
  log = getattr(game, LOG_ATTR, None)
  if log is not None:
    return log
  if game.turns:
    raise ValueError(f"this {game.group} game already played {game.turns} turns unseen: call the "
                     "scripted player from the first turn, or pass the Episode instead")
  log = []
  intro = getattr(game, "intro", None)
  setattr(game, INTRO_ATTR, intro() if callable(intro) and game.scenario is not None else None)
  step, reset = game.step, game.reset

  def logged_step(answer: str) -> Any:
    fb = step(answer)
    log.append((answer, fb.text))
    return fb

  def logged_reset(scenario: Any) -> str:
    log.clear()
    first = reset(scenario)
    setattr(game, INTRO_ATTR, first)
    return first

  game.step, game.reset = logged_step, logged_reset
  setattr(game, LOG_ATTR, log)
  return log


def episode_history(ep: Episode) -> History:
  msgs = ep.messages
  out = History(intro=next((m["content"] for m in msgs if m["role"] == "user"), None))
  for i, m in enumerate(msgs):
    if m["role"] != "assistant":
      continue
    answer = parse_answer(m["content"])
    if answer is not None and i + 1 < len(msgs) and msgs[i + 1]["role"] == "user":
      out.append((answer, msgs[i + 1]["content"]))
  return out


def observe(source: Episode | Game) -> tuple[Game, History]:
  if isinstance(source, Episode):
    return source.game, episode_history(source)
  if not isinstance(source, Game):
    raise TypeError(f"expected an Episode or a Game, not {type(source).__name__}")
  log = watch(source)
  if len(log) != source.turns:
    raise ValueError(f"the {source.group} game played {source.turns} turns but {len(log)} were "
                     "logged: it was stepped around the recorder")
  return source, History(log, getattr(source, INTRO_ATTR, None))
