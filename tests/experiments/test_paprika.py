"""PAPRIKA trainer: an RPO round through the runner sharded (data 4 x fsdp 2 over 8 fake CPUs) ==
single device, the RPO round raising the chosen-over-rejected margin, and the smoke pipeline with
a round's trajectories given (scripted players), rerun from its cache to the same results."""
import json

import chex
import jax
import numpy as np
import pytest
from flax import nnx

from experiments import runtime
from experiments.configs import paprika as configs
from experiments.errors import UserError
from experiments.trainers import paprika
from jaxllm import train as llm_train
from jaxllm.models import ModelConfig, Transformer
from jaxllm.paprika.collect import write_jsonl
from jaxllm.paprika.games.base import GROUPS
from jaxllm.paprika.pairs import select_pairs
from jaxllm.paprika.policies import ScriptedAgent, play
from jaxllm.tokenizers import ByteTokenizer

TOK = ByteTokenizer()


def scripted_trajectories(group, n_scen, per, seed=0):
  out = []
  rng = np.random.default_rng(seed)
  for s in GROUPS[group].scenarios("train", n=n_scen, seed=seed):
    for _ in range(per):
      out.append(play(s, ScriptedAgent(float(rng.uniform(0, 1)), int(rng.integers(1 << 30)))))
  return out


def tiny_model():
  cfg = ModelConfig(vocab_size=TOK.vocab_size, hidden_size=32, intermediate_size=64,
                    num_layers=2, num_heads=2, num_kv_heads=1, head_dim=16,
                    max_position_embeddings=2048, bos_token_id=TOK.bos_token_id,
                    eos_token_id=TOK.eos_token_id, pad_token_id=TOK.pad_token_id)
  return nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))


def round_config():
  c = configs.get_config("smoke")
  c.train.batch_size, c.train.log_every = 8, 1
  c.train.rpo_optim.lr = 3e-3
  c.collect.max_context = 2048
  return c


def test_rpo_round_sharded_equals_single_device_and_raises_the_margin(tmp_path, devices):
  config = round_config()
  pairs = select_pairs(scripted_trajectories("mastermind", 8, 4), np.random.default_rng(0))
  assert len(pairs) >= 6 and not all(p["same"] for p in pairs)
  graphdef, params = tiny_model()
  logits_fn = llm_train.nnx_logits_fn(graphdef)
  arrays, n = paprika.round_batches("rpo", config, TOK, pairs, logits_fn, params, TOK.pad_token_id)
  assert n == len(pairs) and arrays["ref_chosen_logps"].shape == (n,)
  out = {}
  meshes = {"one": runtime.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices[:1]),
            "eight": runtime.make_mesh({"data": 4, "fsdp": 2, "tensor": 1}, devices)}
  for name, mesh in meshes.items():
    rules = paprika.sft_trainer.sharding_rules(config, mesh)
    p, info = paprika.train_round("rpo", config, str(tmp_path / name), mesh, rules, graphdef,
                                  params, arrays, n, 0, (TOK.eos_token_id,))
    out[name] = (jax.device_get(p), info)
  chex.assert_trees_all_close(out["eight"][0], out["one"][0], rtol=2e-5, atol=2e-5)
  assert out["one"][1]["steps"] == -(-n // 8)
  # the trained policy prefers chosen over rejected more than the reference did (margin > 0)
  b = {k: v[:8] for k, v in arrays.items()}
  _, m = llm_train.rpo_loss(out["one"][0], b, logits_fn=logits_fn,
                            dpo_exclude_ids=(TOK.eos_token_id,))
  assert float(m["rewards/margins"]) > 0.0


def _pipeline_config(base_dir):
  c = configs.get_config("smoke")
  c.base.dir = str(base_dir)
  c.data.groups = "mastermind,bandit"
  c.data.train_scenarios, c.data.eval_scenarios = 8, 2
  c.base.num_steps, c.base.steps_per_call, c.base.batch_size = 10, 5, 8
  c.train.batch_size, c.base.optim.warmup_steps = 8, 2
  c.arms = "rpo,sft"
  c.collect.scenarios_per_round = 2
  return c


@pytest.mark.slow
def test_smoke_pipeline_with_given_trajectories_and_rerun(tmp_path):
  config = _pipeline_config(tmp_path / "base")
  work = tmp_path / "run"
  trajs = scripted_trajectories("mastermind", 3, 3, seed=1)
  for arm in ("rpo", "sft"):
    (work / arm / "round1").mkdir(parents=True)
    write_jsonl(work / arm / "round1" / "trajectories.jsonl", trajs)
  res = paprika.train_and_evaluate(config, str(work))
  assert res["eval_groups"] == ["mastermind", "bandit"]
  for arm in ("rpo", "sft"):
    r1 = res["arms"][arm][1]
    assert r1["pairs"] == 3 and r1["steps"] == 1 and r1["trajectories"] == 9
    assert set(r1["eval"]) == {"mastermind", "bandit", "ALL"}
    assert r1["eval"]["mastermind"]["n"] == 2
  assert (work / "rounds.png").exists()
  saved = json.loads((work / "results.json").read_text())
  assert saved["arms"]["rpo"][1]["pairs"] == 3
  again = paprika.train_and_evaluate(config, str(work))      # everything cached / restored
  assert json.dumps(again["arms"], sort_keys=True, default=float) == json.dumps(
      res["arms"], sort_keys=True, default=float)


def test_bad_groups_and_holdout_are_one_line():
  c = configs.get_config("smoke")
  c.data.groups = "mastermind,chess"
  with pytest.raises(UserError, match="data.groups='mastermind,chess'; valid"):
    paprika.groups_of(c)
  c = configs.get_config("loo-wordle")
  c.data.groups = "mastermind"
  with pytest.raises(UserError, match="data.holdout='wordle' is not one of data.groups"):
    paprika.groups_of(c)
  c.data.holdout, c.data.options = "", "{bad"
  with pytest.raises(UserError, match="data.options is not JSON"):
    paprika.group_options(c)
