"""Reasoning testbed: every written solution line is true arithmetic, boxes hold the answer, the
splits are disjoint and reproducible, and the scorer agrees with the answers."""
import re

import numpy as np
import pytest

from jaxllm.reasoning import GENERATORS, ReasoningSpec, make_splits, score, sft_chat, tasks
from jaxllm.rewards import extract_boxed


def _check_line(line: str, problem) -> None:
  # "a op b = c" chains, possibly "3x=22-7=15" / "x=15/3=5" in the linear task.
  parts = line.split("=")
  values = []
  for part in parts:
    if "x" in part:
      continue
    values.append(eval(part.replace("/", "//")))  # noqa: S307 -- our own generated arithmetic
  assert len(set(values)) == 1, (line, problem)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_solutions_are_correct(name):
  rng = np.random.default_rng(0)
  for _ in range(300):
    p = GENERATORS[name](rng)
    lines = p.solution.split("\n")
    assert extract_boxed(lines[-1]) == p.answer == extract_boxed(p.solution)
    for line in lines[:-1]:
      _check_line(line, p)
    if name == "linear":
      a, b, c = map(int, re.fullmatch(r"Solve (\d+)x([+-]\d+)=(-?\d+)\.", p.question).groups())
      assert a * int(p.answer) + b == c
    else:
      assert eval(p.question[len("Compute "):-1]) == int(p.answer)  # noqa: S307
    assert score(p, p.answer) == 1.0 and score(p, str(int(p.answer) + 1)) == 0.0
    assert score(p, None) == 0.0


def test_difficulty_knob_sets_the_chain_length():
  rng = np.random.default_rng(1)
  for terms in (2, 4, 6):
    p = tasks.arith(rng, terms=terms, digits=2)
    assert p.difficulty == terms and len(p.solution.split("\n")) == terms  # terms-1 ops + box


def test_splits_are_disjoint_and_reproducible():
  spec = ReasoningSpec(tasks=(("arith", {"terms": (2, 4), "digits": (1, 2)}), ("linear", {})),
                     sizes=(("sft", 3000), ("rl", 400), ("val", 100), ("test", 200)))
  a, b = make_splits(spec, seed=3), make_splits(spec, seed=3)
  assert {k: len(v) for k, v in a.items()} == {"test": 200, "val": 100, "rl": 400, "sft": 3000}
  assert [p.key for p in a["rl"]] == [p.key for p in b["rl"]]
  keys = {k: {p.key for p in v} for k, v in a.items()}
  names = list(keys)
  for i, s in enumerate(names):
    assert len(keys[s]) == len(a[s])
    for t in names[i + 1:]:
      assert not keys[s] & keys[t], (s, t)
  chat = sft_chat(a["sft"][0])
  assert chat[0]["content"].endswith("within \\boxed{}.") and chat[1]["role"] == "assistant"


def test_too_small_task_space_is_a_clear_error():
  spec = ReasoningSpec(tasks=(("arith", {"terms": 2, "digits": 1}),), sizes=(("test", 1000),))
  with pytest.raises(ValueError, match="cannot draw 1000 distinct test problems"):
    make_splits(spec)
  with pytest.raises(ValueError, match="unknown reasoning task 'nope'"):
    make_splits(ReasoningSpec(tasks=(("nope", {}),)))
