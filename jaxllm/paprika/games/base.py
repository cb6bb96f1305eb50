"""The one interface every PAPRIKA task group implements.

    game = GROUPS["mastermind"].make()                 # a fresh game object (any options)
    scenario = GROUPS["mastermind"].scenarios("eval", n=50, seed=0)[0]
    first = game.reset(scenario)                       # the first user message: rules + task
    fb = game.step("1234")                             # the agent's parsed <Answer> text
    fb.text, fb.done, fb.success, fb.turns

A `Scenario` is plain JSON-able data (group, id, split, difficulty, data): everything needed to
replay the game exactly (the secret word, the ship layout, the RNG seed of a bandit). `split` is
"train" or "eval"; the two are disjoint by construction. `difficulty` is the category label the
UCB curriculum treats as an arm.

`step` takes the text of the agent's `<Answer>` (already stripped and lower-cased by
`jaxllm.paprika.turns`); it never sees the `<Think>` part. Every call to `step` costs one turn,
including a malformed move (the feedback says what was wrong). Success is signalled the way the
authors' code checks it: the feedback text contains "goal reached" (any case), and only then is
`success` True. When the turn budget runs out, or the game is lost (a mine), `done` is True with
`success` False. Calling `step` after `done` raises `GameOver`.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar, Mapping, Sequence

SPLITS = ("train", "eval")
GOAL = "Goal reached"


class GameOver(RuntimeError):
  """`step` was called on a finished game."""


@dataclasses.dataclass(frozen=True)
class Scenario:
  group: str
  id: str
  split: str
  difficulty: str
  data: Mapping[str, Any]

  def to_json(self) -> dict[str, Any]:
    return {"group": self.group, "id": self.id, "split": self.split,
            "difficulty": self.difficulty, "data": dict(self.data)}

  @classmethod
  def from_json(cls, d: Mapping[str, Any]) -> "Scenario":
    return cls(d["group"], d["id"], d["split"], d["difficulty"], dict(d["data"]))


@dataclasses.dataclass(frozen=True)
class Feedback:
  text: str        # what the environment says back (the next user turn, before the fixed prompt)
  done: bool
  success: bool
  turns: int       # turns used so far, this one included


class Game(abc.ABC):
  """One playable game. Subclasses set `group` and implement `_reset`/`_step`."""

  group: ClassVar[str] = ""

  def __init__(self) -> None:
    self.turns = 0
    self.done = False
    self.success = False
    self.scenario: Scenario | None = None

  @property
  @abc.abstractmethod
  def max_turns(self) -> int:
    """The turn budget of the current scenario."""

  def reset(self, scenario: Scenario) -> str:
    if scenario.group != self.group:
      raise ValueError(f"a {scenario.group!r} scenario cannot be played by the {self.group!r} "
                       "game; take the game from GROUPS[scenario.group]")
    self.scenario, self.turns, self.done, self.success = scenario, 0, False, False
    return self._reset(scenario)

  def step(self, answer: str) -> Feedback:
    if self.scenario is None:
      raise RuntimeError("call reset(scenario) before step()")
    if self.done:
      raise GameOver(f"{self.group} scenario {self.scenario.id} is over; reset() to play again")
    self.turns += 1
    text, won, lost = self._step(answer)
    self.success = bool(won)
    if won and GOAL.lower() not in text.lower():
      text = f"{text} {GOAL}!"
    self.done = bool(won or lost or self.turns >= self.max_turns)
    if self.done and not won and not lost:
      text = f"{text} You are out of turns: the game is over.".strip()
    return Feedback(text, self.done, self.success, self.turns)

  @abc.abstractmethod
  def _reset(self, scenario: Scenario) -> str:
    """The first user message."""

  @abc.abstractmethod
  def _step(self, answer: str) -> tuple[str, bool, bool]:
    """(feedback text, won, lost) for one move; the base class counts turns and ends the game."""


@dataclasses.dataclass(frozen=True)
class GroupSpec:
  """A task group: how to make its game and draw its scenarios.

  make(**options) -> Game. scenarios(split, n, seed, **options) -> list[Scenario], deterministic
  in (split, n, seed, options); the train and eval sets never share a scenario (same secret).
  difficulties: the category labels scenarios carry (curriculum arms), easiest first.
  simulated: True for the groups whose environment is an LLM (played by a deterministic
  simulator unless an endpoint is given to make()).
  """
  name: str
  make: Callable[..., Game]
  scenarios: Callable[..., list[Scenario]]
  difficulties: Sequence[str]
  simulated: bool = False
  description: str = ""


GROUPS: dict[str, GroupSpec] = {}


def register(spec: GroupSpec) -> GroupSpec:
  if spec.name in GROUPS:
    raise ValueError(f"task group {spec.name!r} is registered twice")
  GROUPS[spec.name] = spec
  return spec
