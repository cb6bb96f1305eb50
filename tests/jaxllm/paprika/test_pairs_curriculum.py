"""PAPRIKA pair selection (hand-built trajectory sets), the RPO token layout, the learning
potential against its closed form, and the UCB curriculum's choices worked by hand."""
import math

import numpy as np
import pytest

from jaxllm.data.chat import tokenize_chat
from jaxllm.paprika.curriculum import (ProportionalCurriculum, UCBCurriculum,
                                       learning_potential)
from jaxllm.paprika.pairs import pair_arrays, select_pair, select_pairs
from jaxllm.tokenizers import ByteTokenizer


def traj(i, success, turns, dropped=False, sid="s0"):
  msgs = [{"role": "user", "content": "play"}]
  for k in range(turns):
    msgs += [{"role": "assistant", "content": f"<Answer>m{i}.{k}</Answer>"},
             {"role": "user", "content": "fb"}]
  return {"scenario": {"group": "g", "split": "train", "id": sid, "difficulty": "easy",
                       "data": {}},
          "messages": msgs, "success": success, "turns": turns, "dropped": dropped,
          "invalid": 0, "overflow": False, "max_turns": 10, "tag": i}


def test_chosen_is_the_fewest_turn_success_and_rejected_from_the_candidates():
  ts = [traj(0, True, 5), traj(1, True, 3, dropped=True), traj(2, True, 4), traj(3, False, 10),
        traj(4, True, 5), traj(5, True, 6), traj(6, True, 4)]
  seen = set()
  for seed in range(40):
    c, r = select_pair(ts, np.random.default_rng(seed), threshold=2)
    assert c["tag"] == 2                       # 3-turn success is dropped; first 4-turn one wins
    assert r["tag"] in (3, 5)                  # failure, or a success >= 4 + 2 turns
    seen.add(r["tag"])
  assert seen == {3, 5}


def test_no_candidate_gives_rejected_equal_chosen_and_no_success_gives_no_pair():
  ts = [traj(0, True, 4), traj(1, True, 5)]
  c, r = select_pair(ts, np.random.default_rng(0), threshold=2)
  assert c is r and c["tag"] == 0
  assert select_pair([traj(0, False, 10), traj(1, True, 2, dropped=True)],
                     np.random.default_rng(0)) is None
  pairs = select_pairs(ts + [traj(2, False, 10, sid="s1")], np.random.default_rng(0))
  assert len(pairs) == 1 and pairs[0]["same"] and pairs[0]["chosen_turns"] == 4


def test_pair_arrays_pad_to_one_length_with_loss_on_agent_turns():
  tok = ByteTokenizer()
  pairs = select_pairs([traj(0, True, 1), traj(1, False, 3)], np.random.default_rng(0))
  arrays, skipped = pair_arrays(tok, pairs, max_len=4096, pad_id=tok.pad_token_id, bucket=32)
  assert skipped == 0
  ids_c, mask_c = tokenize_chat(tok, pairs[0]["chosen"])
  ids_r, _ = tokenize_chat(tok, pairs[0]["rejected"])
  t = arrays["chosen_tokens"].shape[1]
  assert t == arrays["rejected_tokens"].shape[1] and t % 32 == 0 and t >= len(ids_r)
  np.testing.assert_array_equal(arrays["chosen_tokens"][0, :len(ids_c)], ids_c)
  assert (arrays["chosen_tokens"][0, len(ids_c):] == tok.pad_token_id).all()
  np.testing.assert_array_equal(arrays["chosen_loss_mask"][0, :len(ids_c)], mask_c)
  # the loss covers exactly the agent's text and its end-of-turn token
  text = tok.decode(ids_c[mask_c], skip_special_tokens=False)
  assert text == "<Answer>m0.0</Answer><|eos|>\n"   # the template writes EOS, newline
  # a side longer than max_len is skipped
  _, skipped = pair_arrays(tok, pairs, max_len=len(ids_c), pad_id=tok.pad_token_id)
  assert skipped == 1


def test_learning_potential_closed_form():
  # failures count as max turns: x = [2, 4, 10]
  x = np.array([2.0, 4.0, 10.0])
  want = (1 + 1 / 12) * np.std(x, ddof=1) / x.mean()
  assert learning_potential([2, 4, 7], [True, True, False], 10) == pytest.approx(want)
  assert learning_potential([3, 3, 3], [True] * 3, 10) == 0.0
  assert learning_potential([3], [True], 10) == 0.0


def test_ucb_plays_unsampled_arms_first_then_the_upper_bound():
  cur = UCBCurriculum(["easy", "medium", "hard"], alpha=1.0)
  picks = []
  for reward in (0.1, 0.5, 0.2):
    arm = cur.choose()
    picks.append(arm)
    cur.update(arm, reward)
  assert picks == ["easy", "medium", "hard"]
  # N = 3, each n = 1: the bonus is equal, so the best mean (medium) is next
  assert cur.choose() == "medium"
  cur.update("medium", 0.0)        # medium mean 0.25, n = 2; N = 4
  b1, b2 = math.sqrt(2 * math.log(4) / 1), math.sqrt(2 * math.log(4) / 2)
  assert cur.score("hard") == pytest.approx(0.2 + b1)
  assert cur.score("medium") == pytest.approx(0.25 + b2)
  assert cur.choose() == "hard"    # 0.2 + 1.665 > 0.25 + 1.177
  fresh = UCBCurriculum(cur.arms)
  fresh.load(cur.state())
  assert fresh.choose() == "hard" and fresh.total == 4


def test_batched_ucb_spreads_pending_picks():
  cur = UCBCurriculum(["a", "b", "c"])
  assert cur.choose_batch(3) == ["a", "b", "c"]       # unsampled arms first
  for arm, r in (("a", 0.9), ("b", 0.1), ("c", 0.1)):
    cur.update(arm, r)
  picks = cur.choose_batch(4)
  # a (mean 0.9) leads; each pending pick of a shrinks its bonus until b/c win one
  assert picks[0] == "a" and set(picks) != {"a"}
  # with k = 1 the batch is plain UCB1
  assert cur.choose_batch(1) == [cur.choose()]


def test_proportional_curriculum_frequencies():
  cur = ProportionalCurriculum(["a", "b"], [3, 1])
  rng = np.random.default_rng(0)
  draws = [cur.choose(rng) for _ in range(4000)]
  assert abs(draws.count("a") / 4000 - 0.75) < 0.03
  with pytest.raises(ValueError):
    ProportionalCurriculum(["a"], [0])
