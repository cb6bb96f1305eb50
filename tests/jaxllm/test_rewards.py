"""Answer extraction, self-consistency votes (ties, thresholds, KL mask, soft) and ground truth."""
import pytest

from jaxllm import rewards
from jaxllm.rewards import extract_boxed, self_consistency_rewards


@pytest.mark.parametrize("text, want", [
    ("so the answer is \\boxed{42}.", "42"),
    ("\\boxed{1} then \\boxed{2}", "2"),                             # the last box
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),                       # nested braces
    ("\\boxed{ {a}+{b} }", "{a}+{b}"),
    ("$\\boxed 7$ done", "7"),                                       # the space form
    ("\\fbox{x^2}", "x^2"),
    ("\\fbox{1} and \\boxed{3}", "3"),                               # \boxed wins over \fbox
    ("no box here", None),
    ("\\boxed{unclosed", None),
    ("", None),
    ("\\boxed", None),
])
def test_extract_boxed(text, want):
  assert extract_boxed(text) == want


def _r(*answers):
  return [f"step... \\boxed{{{a}}}" if a is not None else "I give up" for a in answers]


def test_majority_rewards_and_math_equivalence():
  # 0.5 and \frac{1}{2} are different raw strings (separate votes) but equivalent answers.
  got = self_consistency_rewards(_r("0.5", "0.5", "\\frac{1}{2}", "3", None))
  assert got == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_tie_goes_to_the_answer_seen_first():
  assert self_consistency_rewards(_r("7", "8", "8", "7")) == [1.0, 0.0, 0.0, 1.0]
  assert self_consistency_rewards(_r("8", "7", "7", "8")) == [1.0, 0.0, 0.0, 1.0]
  v = rewards.vote(_r("8", "7", "7", "8"))
  assert v.majority == "8" and v.majority_fraction == 0.5


def test_min_majority_zeroes_and_masks_the_group():
  group = _r("1", "1", "2", "3", None)           # majority 1 with 2 of 5 votes = 0.4
  assert rewards.vote(group, min_majority=0.4).labelled
  assert self_consistency_rewards(group, min_majority=0.4) == [1.0, 1.0, 0.0, 0.0, 0.0]
  v = rewards.vote(group, min_majority=0.5)
  assert not v.labelled and v.rewards == (0.0,) * 5
  none = rewards.vote(_r(None, None))
  assert not none.labelled and none.majority is None and none.rewards == (0.0, 0.0)


def test_soft_reward_is_the_answer_frequency():
  got = self_consistency_rewards(_r("1", "1", "2", None), soft=True)
  assert got == [0.5, 0.5, 0.25, 0.0]
  assert self_consistency_rewards(_r("1", "1", "2", None), soft=True, min_majority=0.6) == [0.0] * 4


def test_ground_truth_rewards():
  assert rewards.ground_truth_rewards(_r("12", "12.0", "13", None), "12") == [1.0, 1.0, 0.0, 0.0]
  assert rewards.equivalent("\\frac{3}{4}", "0.75") and not rewards.equivalent("3", None)
