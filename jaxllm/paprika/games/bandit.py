"""Bandit best-arm identification: 20 pulls of Bernoulli arms, then name the best arm (21 turns).

    spec = GROUPS["bandit"]
    game = spec.make()                                   # verbose=False: terse text
    game.reset(spec.scenarios("train", n=3, seed=0, arms=4)[0])
    game.step("pull 2").text                             # "Arm 2 gave reward 1. ..."
    ...
    game.step("choose 3")

Each scenario draws eps ~ U(0.2, 0.4); the best arm pays 1 with p = 0.5 + eps/2, every other
arm with p ~ U(0, 0.5 - eps/2), so the best arm leads the rest by at least eps.

Decisions the spec leaves open:
- Arms are numbered from 1. Moves: `pull K` (turns 1-20) and `choose K` (the final answer;
  "arm" may follow the verb: "pull arm 2"). The default is 4 arms (`arms=` scenario knob,
  2..9 so that an arm is one digit in the prompt's examples).
- `choose K` may be given at any turn and ends the game: success iff K is the best arm, a
  wrong choice loses. On the last turn (21) a pull is refused and, since it was the last turn,
  the game ends unsuccessfully ("out of turns"); a malformed move there ends it too. Malformed
  moves cost a turn like any other, so they eat into the 20 pulls.
- Rewards replay exactly: the j-th pull of arm K always gets the j-th draw of a numpy
  Generator seeded by (scenario seed, K), whatever the order of pulls. Feedback is the reward
  of the pull and the pulls left (no running totals: the history is in the conversation).
- Difficulty: the eps band, easiest first: "wide_gap" eps in [0.333, 0.4), "mid_gap" in
  [0.267, 0.333), "narrow_gap" in [0.2, 0.267). Cycling the three keeps eps ~ U(0.2, 0.4) overall.
- Train/eval split: a scenario belongs to eval when sha256 of its (arm probabilities, seed)
  mod 5 == 0; scenarios of the other split are redrawn, so the splits never share one.
"""
from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from jaxllm.paprika.games.base import SPLITS, Game, GroupSpec, Scenario, register

GROUP = "bandit"
TURNS = 21
ARMS = 4
BANDS = (("wide_gap", 0.4 - 0.2 / 3, 0.4), ("mid_gap", 0.2 + 0.2 / 3, 0.4 - 0.2 / 3),
         ("narrow_gap", 0.2, 0.2 + 0.2 / 3))
DIFFICULTIES = tuple(b[0] for b in BANDS)
MOVE = re.compile(r"^(pull|choose)\s+(?:arm\s*)?(\d+)\.?$")


def split_of(probs: list[float], seed: int) -> str:
  key = f"{GROUP}:{[round(p, 9) for p in probs]}:{seed}"
  return "eval" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 5 == 0 else "train"


def rewards(seed: int, arm: int, n: int, p: float) -> list[int]:
  """The first n rewards of `arm` (1-based) in a scenario."""
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), seed, arm])
  return [int(u < p) for u in rng.random(n)]


class Bandit(Game):
  group = GROUP

  def __init__(self, verbose: bool = True) -> None:
    super().__init__()
    self.verbose = verbose
    self.probs: list[float] = []
    self.best, self.seed, self._turns = 1, 0, TURNS
    self.streams: list[list[int]] = []
    self.pulls: list[int] = []

  @property
  def max_turns(self) -> int:
    return self._turns

  def _reset(self, scenario: Scenario) -> str:
    d = scenario.data
    self.probs = [float(p) for p in d["probs"]]
    self.best, self.seed = int(d["best"]), int(d["seed"])
    self._turns = int(d.get("max_turns", TURNS))
    self.streams = [rewards(self.seed, k + 1, self._turns, p) for k, p in enumerate(self.probs)]
    self.pulls = [0] * len(self.probs)
    k, pulls = len(self.probs), self._turns - 1
    if not self.verbose:
      return (f"Bandit: {k} arms pay 0/1. {pulls} pulls: pull K (1-{k}), then choose K: the arm "
              "with the best payout rate.")
    return (f"There are {k} slot machine arms, numbered 1 to {k}. Each arm pays reward 1 with "
            "its own fixed hidden probability, else 0. One arm has a clearly higher probability "
            f"than the others. You have {pulls} pulls to explore: answer `pull K` to pull arm K "
            f"(for example: pull 2). Then, on turn {self._turns}, answer `choose K` with the arm "
            "you think has the highest probability (for example: choose 3). Choosing ends the "
            "game; you may choose earlier. You win if you choose the best arm.")

  def _step(self, answer: str) -> tuple[str, bool, bool]:
    k = len(self.probs)
    m = MOVE.match(answer)
    arm = int(m.group(2)) if m else 0
    if m is None or not 1 <= arm <= k:
      if not self.verbose:
        return f"Bad move: write pull K or choose K, K in 1-{k}.", False, False
      why = f"arm {arm} does not exist (arms are 1-{k})" if m else "I cannot read that move"
      return (f"'{answer}': {why}. Write `pull K` or `choose K` with K from 1 to {k}, for "
              "example: pull 2. This still cost a turn."), False, False
    if m.group(1) == "choose":
      if arm == self.best:
        return (f"Arm {arm} is the best arm. Goal reached!" if self.verbose
                else f"arm {arm} best. Goal reached!"), True, False
      if not self.verbose:
        return f"arm {arm} wrong; best was {self.best}.", False, True
      return f"Arm {arm} is not the best arm; arm {self.best} was. You lose.", False, True
    if self.turns >= self._turns:
      if not self.verbose:
        return "No pulls left: you had to choose.", False, False
      return "You have no pulls left: on the last turn you had to answer `choose K`.", False, False
    reward = self.streams[arm - 1][self.pulls[arm - 1]]
    self.pulls[arm - 1] += 1
    left = self._turns - 1 - self.turns
    if not self.verbose:
      return f"arm {arm}: {reward}" + ("" if left else ". Now choose K."), False, False
    tail = (f"Pulls left: {left}." if left
            else "That was your last pull: now answer `choose K` with the best arm.")
    return f"Arm {arm} gave reward {reward}. {tail}", False, False


def scenarios(split: str, n: int, seed: int = 0, arms: int = ARMS,
              max_turns: int = TURNS) -> list[Scenario]:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
  if not 2 <= arms <= 9:
    raise ValueError("arms must be 2..9")
  rng = np.random.default_rng([zlib.crc32(GROUP.encode()), SPLITS.index(split), seed, arms])
  out = []
  for i in range(n):
    name, lo, hi = BANDS[i % len(BANDS)]
    while True:
      eps = float(rng.uniform(lo, hi))
      best = int(rng.integers(arms)) + 1
      probs = [float(rng.uniform(0.0, 0.5 - eps / 2)) for _ in range(arms)]
      probs[best - 1] = 0.5 + eps / 2
      reward_seed = int(rng.integers(2**31))
      if split_of(probs, reward_seed) == split:
        break
    out.append(Scenario(GROUP, f"{GROUP}-{split}-{seed}-{i}", split, name,
                        {"probs": probs, "best": best, "eps": eps, "seed": reward_seed,
                         "max_turns": int(max_turns)}))
  return out


SPEC = register(GroupSpec(
    name=GROUP, make=Bandit, scenarios=scenarios, difficulties=DIFFICULTIES,
    description="Bandit: 20 pulls of Bernoulli arms (best arm ahead by eps in [0.2, 0.4)), "
                "then choose the best arm."))
