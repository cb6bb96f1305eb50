"""What a scripted player has seen of a game: the moves sent and the feedback they got.

    game, history = observe(episode)      # from the chat itself (an Episode)
    game, history = observe(game)         # from a recorder put on a bare Game (first call)
    for answer, feedback in history: ...  # one pair per game turn, oldest first

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
"""
from __future__ import annotations

from typing import Any

from jaxllm.paprika.games.base import Game
from jaxllm.paprika.turns import Episode, parse_answer

History = list[tuple[str, str]]
LOG_ATTR = "_scripted_history"


def watch(game: Game) -> History:
  """Starts (or returns) the log of (answer, feedback text) on this game instance."""
  log = getattr(game, LOG_ATTR, None)
  if log is not None:
    return log
  if game.turns:
    raise ValueError(f"this {game.group} game already played {game.turns} turns unseen: call the "
                     "scripted player from the first turn, or pass the Episode instead")
  log = []
  step, reset = game.step, game.reset

  def logged_step(answer: str) -> Any:
    fb = step(answer)
    log.append((answer, fb.text))
    return fb

  def logged_reset(scenario: Any) -> str:
    log.clear()
    return reset(scenario)

  game.step, game.reset = logged_step, logged_reset
  setattr(game, LOG_ATTR, log)
  return log


def episode_history(ep: Episode) -> History:
  out: History = []
  msgs = ep.messages
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
  return source, list(log)
