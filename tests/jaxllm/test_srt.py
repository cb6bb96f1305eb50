"""SRT rewards and diagnostics on hand-written rollouts; curriculum, online filter, early stop."""
import numpy as np
import pytest

from jaxllm.reasoning import Problem
from jaxllm.rewards import vote
from jaxllm.rl import Rollouts
from jaxllm.srt import EarlyStopping, RewardSpec, easiest, online_keep_mask

P1 = Problem("arith", "Compute 1+1.", "2", "1+1=2\n\\boxed{2}", 2)
P2 = Problem("arith", "Compute 2+2.", "4", "2+2=4\n\\boxed{4}", 2)
N = 4


def _rollouts(groups):
  texts = [t for g in groups for t in g]
  b = len(texts)
  z = np.zeros((b, 1))
  return Rollouts(z, z, z, z, np.repeat(np.arange(len(groups)), N), np.ones(b), texts,
                  ["stop"] * b, N, 1)


B = lambda a: f"so \\boxed{{{a}}}"
# Prompt 1: majority "2" (right) 3/4; prompt 2: majority "5" (wrong) 2/4, one right, one no box.
GROUPS = [[B(2), B(2), B(3), B(2)], [B(5), B(4), B(5), "no idea"]]


def test_self_consistency_rewards_and_diagnostics():
  s = RewardSpec("self_consistency").build()([P1, P2], _rollouts(GROUPS))
  np.testing.assert_array_equal(s.rewards, [1, 1, 0, 1, 1, 0, 1, 0])
  assert s.kl_mask.all() and s.sample_mask is None
  m = s.metrics
  assert m["sc/labelled_fraction"] == 1.0
  assert m["sc/correct_label_fraction"] == 0.5 and m["sc/self_label_accuracy"] == 0.5
  assert m["gt/accuracy"] == pytest.approx(4 / 8)
  assert m["sc/majority_share"] == pytest.approx((0.75 + 0.5) / 2)
  assert m["sc/distinct_majorities"] == 2 and m["sc/no_answer_fraction"] == 1 / 8
  assert m["sc/top_answer_share"] == 3 / 8
  # pass rates 0.75 and 0.25 -> bins 3 and 1 of [0, .2, .4, .6, .8, 1]
  assert [m[f"pass_rate/hist_{k}"] for k in range(5)] == [0, 0.5, 0, 0.5, 0]


def test_threshold_masks_kl_and_ground_truth_baseline():
  s = RewardSpec("self_consistency", min_majority=0.6).build()([P1, P2], _rollouts(GROUPS))
  np.testing.assert_array_equal(s.rewards, [1, 1, 0, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(s.kl_mask, [True] * 4 + [False] * 4)
  assert s.metrics["sc/labelled_fraction"] == 0.5 and s.metrics["sc/self_label_accuracy"] == 1.0
  g = RewardSpec("ground_truth").build()([P1, P2], _rollouts(GROUPS))
  np.testing.assert_array_equal(g.rewards, [1, 1, 0, 1, 0, 1, 0, 0])
  soft = RewardSpec("self_consistency", soft=True).build()([P1, P2], _rollouts(GROUPS))
  np.testing.assert_allclose(soft.rewards, [.75, .75, .25, .75, .5, .25, .5, 0])


def test_pseudo_labels_and_online_filter():
  labels = {P1.key: "3", P2.key: "4"}
  s = RewardSpec("pseudo_label").build(labels)([P1, P2], _rollouts(GROUPS))
  np.testing.assert_array_equal(s.rewards, [0, 0, 1, 0, 0, 1, 0, 0])
  with pytest.raises(ValueError, match="need labels"):
    RewardSpec("pseudo_label").build()
  f = RewardSpec("self_consistency", online_keep_fraction=0.5).build()([P1, P2], _rollouts(GROUPS))
  np.testing.assert_array_equal(f.sample_mask, [True] * 4 + [False] * 4)
  assert f.metrics["sc/kept_fraction"] == 0.5


def test_offline_curriculum_and_early_stopping():
  probs = [P1, P2, Problem("arith", "Compute 3+3.", "6", "", 2)]
  votes = [vote(g) for g in ([B(1)] * 2, [B(1), B(2)], [B(7), B(7)])]
  assert easiest(probs, votes, 2 / 3) == [P1, probs[2]]       # shares 1.0, 0.5, 1.0
  np.testing.assert_array_equal(online_keep_mask(votes, 1 / 3, 2), [1, 1, 0, 0, 0, 0])
  es = EarlyStopping(patience=2)
  assert [es.update(v, s) for s, v in enumerate([0.1, 0.3, 0.2, 0.25])] == [False] * 3 + [True]
  assert (es.best, es.best_step) == (0.3, 1)
  again = EarlyStopping()
  again.load_state_dict(es.state_dict(""), "")
  assert again == es
