"""The training signal: preference pairs from two judged oracle episodes, prompts, rewards, the
plot split and the teacher-forced fork probability, checked against hand-computed values."""
import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.trainers.agentdam_policy import fork_probabilities, key_string, split_pairs
from jaxllm.agentdam import pairs as P
from jaxllm.agentdam.judges import make_judge
from jaxllm.agentdam.study import judge_study
from jaxllm.agentdam.tasks import get_spec
from jaxllm.tokenizers import ByteTokenizer

AXTREE = """RootWebArea 'Submit a post - Postmill Forum', focused
\t[12] link 'Submit a post'
\t[21] combobox 'Forum', value='f/gardening'
\t\t[22] option 'f/gardening', selected
\t[27] textbox 'Title'
\t[31] textbox 'Body'
\t[33] button 'Create post'"""


def _write_episode(workdir, agent, task_id, rows):
  d = os.path.join(workdir, "episodes", agent, task_id, "seed0")
  os.makedirs(d, exist_ok=True)
  with open(os.path.join(d, "steps.jsonl"), "w") as f:
    for r in rows:
      f.write(json.dumps(r) + "\n")
    f.write(json.dumps({"step": len(rows), "url": "x", "final": True}) + "\n")


def _record(agent, task_id):
  return {"key": f"{agent}|{task_id}|0", "agent": agent, "task_id": task_id, "seed": 0,
          "success": True, "status": "completed"}


def test_pairs_match_steps_by_path_across_worker_ports(tmp_path):
  task = "agentdam.forum.0"
  spec = get_spec(task)
  minimal = "fill('27', 'Basil WP403')"
  leaky = f"fill('27', 'Basil WP403\\n\\n{spec['sensitive_data'][0]}')"
  goal = spec["intent"]
  _write_episode(str(tmp_path), "minimal", task, [
    {"step": 0, "url": "http://127.0.0.1:4001/", "goal": goal, "observation": "home",
     "action": "click('12')"},
    {"step": 1, "url": "http://127.0.0.1:4001/submit", "goal": goal, "observation": AXTREE,
     "action": minimal}])
  _write_episode(str(tmp_path), "leaky", task, [
    {"step": 0, "url": "http://127.0.0.1:5002/", "goal": goal, "observation": "home",
     "action": "click('12')"},
    {"step": 1, "url": "http://127.0.0.1:5002/submit", "goal": goal, "observation": AXTREE,
     "action": leaky}])
  judged = judge_study(str(tmp_path), [_record("minimal", task), _record("leaky", task)],
                       {"offline": make_judge("offline")})
  assert [j["leaked"]["offline"] for j in judged] == [False, True]
  pairs = P.step_pairs(str(tmp_path), judged)
  assert len(pairs) == 1
  p = pairs[0]
  assert (p["step"], p["chosen"], p["rejected"], p["chosen_score"], p["rejected_score"]) == (
    1, minimal, leaky, 0.0, 1.0)
  chats = P.pair_chats(pairs)
  user = chats[0]["chosen"][1]["content"]
  assert user == (f"Goal: {goal}\n\nPage: /submit\nControls:\n[21] combobox 'Forum'\n"
                  "[27] textbox 'Title'\n[31] textbox 'Body'\n[33] button 'Create post'")
  assert chats[0]["chosen"][-1] == {"role": "assistant", "content": minimal}
  assert chats[0]["rejected"][:-1] == chats[0]["chosen"][:-1]
  generic = P.pair_chats(pairs, style="generic")[0]["chosen"]
  assert "# Page (accessibility tree)" in generic[1]["content"]
  with pytest.raises(ValueError, match="unknown prompt style"):
    P.pair_chats(pairs, style="xml")


def test_rewards_are_success_minus_the_worst_leak():
  sens = ["Metformin", "521-44-6789"]
  clean, leak = "fill('3', 'hello')", "fill('3', 'my SSN 521 44 6789')"
  assert P.privacy_reward([clean, clean], sens, success=True) == 1.0
  assert P.privacy_reward([clean, leak], sens, success=True, penalty=2.0) == -1.0
  assert P.privacy_reward([], sens, success=False) == 0.0
  assert P.step_reward(leak, sens, last=False, success=True) == -1.0
  assert P.step_reward(clean, sens, last=True, success=True) == 1.0


def test_split_by_plot_keeps_every_plot_on_one_side():
  pairs = [{"task_id": f"agentdam.forum.{i}"} for i in range(57)]
  train, test = split_pairs(pairs, 4)
  plots = lambda ps: {get_spec(p["task_id"])["plot"] for p in ps}
  assert plots(train).isdisjoint(plots(test))
  assert len(plots(test)) == len(plots(train) | plots(test)) // 4
  assert split_pairs(pairs, 4) == (train, test)
  assert split_pairs(pairs, 0) == (pairs, [])


def test_key_string_is_the_uid_or_the_needed_value():
  spec = get_spec("agentdam.forum.0")
  assert key_string("agentdam.forum.0") in spec["intent_template"]
  wish = next(f"agentdam.shop.{i}" for i in range(84)
              if get_spec(f"agentdam.shop.{i}")["intent_type"] == "add_to_wishlist")
  assert key_string(wish) == get_spec(wish)["solution"]["product"]


def test_fork_probability_against_a_hand_made_model():
  tok = ByteTokenizer()
  prompt = [{"role": "user", "content": "go"}]
  chat = {"chosen": prompt + [{"role": "assistant", "content": "ab'"}],
          "rejected": prompt + [{"role": "assistant", "content": "ab\\n"}]}
  quote, slash = tok.encode("'")[-1], tok.encode("\\")[-1]   # byte ids (after BOS)

  def logits_fn(params, tokens, positions, mask):
    del params, positions, mask
    out = np.zeros(tokens.shape + (tok.vocab_size,), np.float32)
    out[..., quote] = np.log(3.0)      # p(') : p(\) = 3 : 1 at every position
    return jnp.asarray(out)

  assert fork_probabilities(logits_fn, None, tok, [chat]) == pytest.approx([0.25], abs=1e-6)
  same = {"chosen": chat["chosen"], "rejected": chat["chosen"]}
  assert fork_probabilities(logits_fn, None, tok, [same]) == []   # no fork: nothing to measure
