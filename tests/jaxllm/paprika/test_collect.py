"""PAPRIKA collection: the turn format, games played in lockstep rounds through one batched
generate call per round, unparsable replies, context overflow, and the real sampler end to end."""
import numpy as np
import pytest
from flax import nnx

from jaxllm.models import ModelConfig, Transformer
from jaxllm.paprika.collect import CollectConfig, collect
from jaxllm.paprika.games import mastermind  # noqa: F401  (registers the group)
from jaxllm.paprika.games.base import GROUPS
from jaxllm.paprika.turns import Episode, parse_answer
from jaxllm.sampling import Completion, Sampler
from jaxllm.tokenizers import ByteTokenizer

TOK = ByteTokenizer()


def test_parse_answer():
  assert parse_answer("<Think>hmm</Think> <Answer> CRANE </Answer>") == "crane"
  assert parse_answer("<think>x</think><answer>\n1 2\n3 4</answer> <Answer>9</Answer>") == "1 2\n3 4"
  assert parse_answer("<Answer>unclosed") is None
  assert parse_answer("") is None


class ScriptedSampler:
  """Stands in for Sampler: reply(prompt_text, call, row) -> text; records every call."""

  cache_size = None

  def __init__(self, reply):
    self.reply, self.calls = reply, []

  def padded_length(self, n):
    return n

  def generate(self, prompts, params):
    texts = [TOK.decode(p, skip_special_tokens=False) for p in prompts]
    self.calls.append((texts, params))
    return [Completion(i, [], np.zeros(0), "stop", self.reply(t, len(self.calls) - 1, i))
            for i, t in enumerate(texts)]


def code_of(scenario):
  return scenario.data["code"]


def test_rounds_batch_every_live_game_and_finish_in_order():
  scen = GROUPS["mastermind"].scenarios("train", n=2, seed=0)
  secrets = [code_of(s) for s in scen]

  cfg = CollectConfig(samples_per_scenario=2, terse=True, max_invalid=3, max_new_tokens=16,
                      max_context=100_000)
  # Replies are chosen per (call, row): rows are the live games in collection order.
  plan = {}

  def reply(text, call, row):
    # game 0 wins on its 3rd turn, games 1 and 2 guess wrong, game 3 never writes the tags
    live = plan[call]
    if row >= len(live):
      return "padding row"         # batch padding: copies of the first prompt, reply discarded
    ep = live[row]
    if ep == 0:
      return f"<Answer>{secrets[0]}</Answer>" if call == 2 else "<Answer>0000</Answer>"
    if ep == 3:
      return "no tags here"
    wrong = "0000" if secrets[ep // 2] != "0000" else "1111"
    return f"<Think>guess</Think><Answer>{wrong}</Answer>"

  # live games per call: calls 0-2 all 4 (game 3 is dropped after its 3rd bad reply),
  # then games 1 and 2 play on to the 12-turn limit.
  for c in range(12):
    plan[c] = [0, 1, 2, 3] if c < 3 else [1, 2]
  sampler = ScriptedSampler(reply)
  recs = collect(sampler, TOK, scen, cfg)
  # every call holds the live games (4, 4, 4, then 2) padded to 8 rows with copies of the first
  assert [len(t) for t, _ in sampler.calls] == [8] * 12
  texts, _ = sampler.calls[5]
  assert texts[2:] == [texts[0]] * 6
  assert recs[0]["success"] and recs[0]["turns"] == 3
  assert "goal reached" in recs[0]["messages"][-1]["content"].lower()
  assert not recs[1]["success"] and recs[1]["turns"] == 12 and not recs[1]["dropped"]
  assert recs[3]["dropped"] and recs[3]["invalid"] == 3 and recs[3]["turns"] == 0
  assert not recs[3]["success"]
  # the collection's sampling settings: min-p only at temperature >= 0.2, fresh seed per round
  _, p0 = sampler.calls[0]
  assert (p0.temperature, p0.min_p, p0.n, p0.max_new_tokens) == (1.5, 0.3, 1, 16)
  assert len({p.seed for _, p in sampler.calls}) == len(sampler.calls)
  assert CollectConfig(temperature=0.1).params(0).min_p == 0.0
  # the next user turn is the game's feedback plus the fixed prompt; the unparsable reply is told
  assert recs[1]["messages"][3]["content"].endswith("Next?")
  assert recs[3]["messages"][3]["content"].startswith("Bad format")
  assert recs[0]["scenario"] == scen[0].to_json()


def test_context_overflow_ends_a_game_as_failure():
  scen = GROUPS["mastermind"].scenarios("train", n=1, seed=1)
  first = Episode(GROUPS["mastermind"].make(verbose=False), scen[0], terse=True)
  n0 = len(TOK.apply_chat_template(first.messages, add_generation_prompt=True, tokenize=True))
  cfg = CollectConfig(samples_per_scenario=1, terse=True, max_new_tokens=16,
                      max_context=n0 + 16 + 30)     # room for the first turn only
  sampler = ScriptedSampler(lambda t, c, r: "<Answer>0000</Answer>")
  rec = collect(sampler, TOK, scen, cfg)[0]
  assert rec["overflow"] and not rec["success"] and rec["turns"] == 1
  assert len(sampler.calls) == 1


@pytest.mark.parametrize("terse", [True])
def test_real_sampler_plays_a_batch_of_games(terse):
  cfg_m = ModelConfig(vocab_size=TOK.vocab_size, hidden_size=32, intermediate_size=64,
                      num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16,
                      max_position_embeddings=2048, bos_token_id=TOK.bos_token_id,
                      eos_token_id=TOK.eos_token_id, pad_token_id=TOK.pad_token_id)
  model = Transformer(cfg_m, rngs=nnx.Rngs(0))
  sampler = Sampler(model, TOK, cache_size=1024, prompt_step=128)
  scen = GROUPS["mastermind"].scenarios("eval", n=2, seed=0)
  cfg = CollectConfig(samples_per_scenario=3, terse=terse, max_new_tokens=8, max_invalid=2,
                      max_context=1024)
  recs = collect(sampler, TOK, scen, cfg)
  assert len(recs) == 6
  # a random byte model never writes <Answer>...</Answer>: every game is dropped after 2 replies
  assert all(r["dropped"] and r["invalid"] == 2 for r in recs)
  assert all(sum(m["role"] == "assistant" for m in r["messages"]) == 2 for r in recs)
