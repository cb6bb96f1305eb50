"""The SFT trainer through the runner, in subprocesses: the smoke preset learns, the finetune preset
trains LoRA on a tiny local HF checkpoint and exports a directory transformers reloads, and a bad
model_path fails with one line. In process: config.sharding.rules reach the trainer's state
shardings, and the trainer's sharded full / LoRA step equals its single-device step."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from experiments import runtime
from experiments.configs import sft as sft_config
from experiments.errors import UserError
from experiments.trainers import sft
from jaxllm import train as llm_train
from jaxllm.sharding import path_str
from jaxllm.tokenizers import ByteTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "--config=experiments/configs/sft.py:{}"
TINY_MODEL = ["--config.model.hidden_size=64", "--config.model.intermediate_size=128",
              "--config.model.num_layers=2", "--config.model.num_heads=4",
              "--config.model.num_kv_heads=2", "--config.model.head_dim=16"]
SHORT = ["--config.data.seq_len=128", "--config.data.batch_size=8", "--config.eval.max_rows=16",
         "--config.eval.max_new_tokens=8"]
TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant: {% endif %}")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  e = dict(os.environ)  # keeps conftest's 8 fake CPU devices for the sharded meshes below
  e["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("xla_cache"))
  e["PYTHONUNBUFFERED"] = "1"
  return e


def _run(args, env, timeout=300):
  return subprocess.run([sys.executable, "-m", "experiments.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def test_smoke_learns_on_a_sharded_mesh(tmp_path, env):
  wd = tmp_path / "smoke"
  res = _run([CONFIG.format("smoke"), f"--workdir={wd}", *TINY_MODEL, *SHORT,
              "--config.train.num_steps=60", "--config.train.steps_per_call=10",
              "--config.train.log_every=10", "--config.train.checkpoint_every=30",
              "--config.eval.every=30", "--config.optim.warmup_steps=5",
              "--config.mesh.data=2", "--config.mesh.fsdp=2", "--config.mesh.tensor=2"], env)
  assert res.returncode == 0, res.stderr[-3000:]
  out = json.loads((wd / "results.json").read_text())
  assert out["steps"] == 60
  assert out["initial_train_loss"] > 4.0  # near uniform over 259 byte tokens (5.56)
  assert out["final_train_loss"] < out["initial_train_loss"] - 1.5, out
  assert out["eval_loss"] < out["initial_train_loss"] - 1.5, out
  assert np.isclose(out["eval_perplexity"], np.exp(out["eval_loss"]), rtol=1e-4)
  assert len(out["samples"]) == 3 and "greedy samples" in res.stdout
  evals = [json.loads(l) for l in (wd / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in evals if "train_eval/loss" in r] == [30, 60]
  assert sorted(os.listdir(wd / "checkpoints")) == ["30", "60"]


def _byte_hf_checkpoint(directory: Path) -> None:
  """A random 2-layer Llama with a byte-level HF tokenizer (259 ids) and a chat template."""
  import tokenizers as hf_tokenizers
  import torch
  import transformers

  bpe = hf_tokenizers.Tokenizer(hf_tokenizers.models.BPE(unk_token=None))
  bpe.pre_tokenizer = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
  bpe.decoder = hf_tokenizers.decoders.ByteLevel()
  trainer = hf_tokenizers.trainers.BpeTrainer(
      vocab_size=259, special_tokens=["<pad>", "<s>", "</s>"],
      initial_alphabet=hf_tokenizers.pre_tokenizers.ByteLevel.alphabet())
  bpe.train_from_iterator(["hello"], trainer)
  transformers.PreTrainedTokenizerFast(
      tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
      chat_template=TEMPLATE).save_pretrained(directory)
  torch.manual_seed(0)
  config = transformers.LlamaConfig(
      vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
      tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2)
  transformers.LlamaForCausalLM(config).float().save_pretrained(directory)


def test_finetune_lora_exports_a_checkpoint_transformers_loads(tmp_path, env):
  import torch
  import transformers

  ckpt = tmp_path / "hf"
  _byte_hf_checkpoint(ckpt)
  wd = tmp_path / "ft"
  res = _run([CONFIG.format("finetune"), f"--workdir={wd}", f"--config.model_path={ckpt}", *SHORT,
              "--config.train.num_steps=10", "--config.train.steps_per_call=5",
              "--config.train.log_every=5", "--config.train.checkpoint_every=0",
              "--config.eval.every=0", "--config.optim.warmup_steps=2", "--config.lora.rank=4",
              "--config.lora.lr=1e-2", "--config.mesh.data=1", "--config.mesh.fsdp=-1"], env)
  assert res.returncode == 0, res.stderr[-3000:]
  out = json.loads((wd / "results.json").read_text())
  assert out["steps"] == 10 and out["lora_rank"] == 4
  assert out["final_train_loss"] < out["initial_train_loss"], out
  export = ckpt / "export"
  assert out["export_dir"] == str(export)
  tuned = transformers.AutoModelForCausalLM.from_pretrained(export, local_files_only=True).eval()
  base = transformers.AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True).eval()
  tok = transformers.AutoTokenizer.from_pretrained(export, local_files_only=True)
  assert tok.chat_template == TEMPLATE
  ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 plus 2?"}],
                                add_generation_prompt=True, return_tensors="pt", return_dict=True)
  with torch.no_grad():
    logits = tuned(**ids).logits
    logits_base = base(**ids).logits
  assert torch.isfinite(logits).all()
  # LoRA was merged into the adapted projections only: q changed, embeddings did not.
  sd, sd_base = tuned.state_dict(), base.state_dict()
  assert not torch.allclose(sd["model.layers.0.self_attn.q_proj.weight"],
                            sd_base["model.layers.0.self_attn.q_proj.weight"])
  torch.testing.assert_close(sd["model.embed_tokens.weight"], sd_base["model.embed_tokens.weight"])
  assert not torch.allclose(logits, logits_base)


@pytest.mark.parametrize("path, expected", [
    ("/nonexistent/model", "config.model_path=/nonexistent/model is not a directory"),
    ("{tmp}", "is not a Hugging Face model directory: it needs config.json"),
])
def test_bad_model_path_is_one_line(tmp_path, env, path, expected):
  args = [CONFIG.format("finetune"), f"--workdir={tmp_path / 'wd'}",
          f"--config.model_path={path.format(tmp=tmp_path)}"]
  res = _run(args, env, timeout=120)
  assert res.returncode == 2, res.stderr[-2000:]
  lines = [l for l in res.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and expected in lines[0] and "Traceback" not in res.stderr, res.stderr


UP0 = "layers/0/mlp/up_proj"


def _tiny_config(lora_rank=0, mesh=None):
  c = sft_config.get_config("smoke")
  c.model.update(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                 head_dim=8)
  c.data.update(seq_len=128, batch_size=8)
  c.train.update(num_steps=10, steps_per_call=1)
  c.optim.warmup_steps = 2
  c.lora.rank = lora_rank
  c.mesh = mesh or {"data": 1, "fsdp": 2, "tensor": 4}
  # One regex exception before the default logical rules: layer 0's up_proj swaps its axes.
  c.sharding.rules = ((r"layers/0/mlp/up_proj", ("tensor", "fsdp")),) + tuple(c.sharding.rules)
  return c


def _trainer_pieces(config, devices=None):
  mesh = runtime.make_mesh(config.mesh, devices=devices)
  rules = sft.sharding_rules(config, mesh)
  graphdef, make_params, tokenizer, cfg = sft.build_model(config, mesh, rules)
  tx = sft.make_optimizer(config)
  init_fn, state_sh, logits_fn = sft.build_state(config, mesh, rules, graphdef, make_params, tx)
  return mesh, tokenizer, cfg, tx, init_fn, state_sh, logits_fn


@functools.lru_cache(maxsize=1)
def _train_rows():
  """The embedded corpus packed for _tiny_config (byte tokenizer: the same for every variant)."""
  tokenizer = ByteTokenizer()
  return sft.build_rows(_tiny_config(), tokenizer, tokenizer.vocab_size)[0]


def _specs(tree, suffix):
  return {path_str(p): s.spec for p, s in jax.tree_util.tree_flatten_with_path(tree)[0]
          if path_str(p).endswith(suffix)}


@pytest.mark.parametrize("lora_rank", [0, 4], ids=["full", "lora"])
def test_config_rules_reach_the_trainers_shardings(devices, lora_rank):
  *_, state_sh, _ = _trainer_pieces(_tiny_config(lora_rank))
  params = state_sh["params"]["base"] if lora_rank else state_sh["params"]
  assert params["layers"][0]["mlp"]["up_proj"].value.spec == P("tensor", "fsdp")   # the regex
  assert params["layers"][1]["mlp"]["up_proj"].value.spec == P("fsdp", "tensor")   # logical
  assert params["layers"][0]["attn"]["q_proj"].value.spec == P("fsdp", "tensor", None)
  assert state_sh["rng"].spec == P() and state_sh["step"].spec == P()
  moments = _specs(state_sh["opt_state"], UP0 if not lora_rank else UP0 + "/a")
  if not lora_rank:
    assert moments and set(moments.values()) == {P("tensor", "fsdp")}   # mu and nu follow
    return
  adapter = state_sh["params"]["lora"][UP0]
  assert adapter["a"].spec == P("tensor", None) and adapter["b"].spec == P(None, "fsdp")
  assert moments and set(moments.values()) == {P("tensor", None)}


def test_bad_sharding_rule_is_one_line(devices):
  config = _tiny_config()
  config.sharding.rules = (("embed", "fsdpp"),)
  with pytest.raises(UserError, match=r"^sharding.rules: rule 0 \('embed'\) names unknown mesh "
                                      r"axes \['fsdpp'\]; mesh axes: data, fsdp, tensor$"):
    _trainer_pieces(config)


@pytest.mark.parametrize("lora_rank", [0, 4], ids=["full", "lora"])
def test_trainer_sharded_step_equals_single_device(devices, lora_rank):
  """Two of the trainer's updates (optimiser from runtime.optim, clipping included) on a
  (data, fsdp, tensor) = (2, 2, 2) mesh by the config's rules == the same on one device."""
  results = []
  for mesh_axes, devs in (({"data": 1, "fsdp": 1, "tensor": 1}, devices[:1]),
                          ({"data": 2, "fsdp": 2, "tensor": 2}, devices)):
    config = _tiny_config(lora_rank, mesh=mesh_axes)
    mesh, _, _, tx, init_fn, state_sh, logits_fn = _trainer_pieces(config, devs)
    get_batch = sft.make_get_batch(_train_rows(), config.data.batch_size, config.seed)
    loss_fn = functools.partial(llm_train.sft_loss, logits_fn=logits_fn)
    step = jax.jit(llm_train.make_train_step(loss_fn, tx),
                   in_shardings=(state_sh, runtime.batch_sharding(mesh)),
                   out_shardings=(state_sh, runtime.replicated(mesh)), donate_argnums=0)
    state = jax.jit(init_fn, out_shardings=state_sh)()
    losses = []
    for i in range(2):
      state, metrics = step(state, runtime.put_batch(get_batch(i), mesh))
      losses.append(float(metrics["loss"]))
    results.append((losses, jax.device_get(state["params"])))
  (want_losses, want), (losses, got) = results
  np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
  trained = (lambda p: p["lora"]) if lora_rank else (lambda p: p)
  # Split matmuls reduce in another order; Adam turns that noise in near-zero gradients into
  # update noise far below the lr (3e-3 full, 2e-4 LoRA).
  for a, b in zip(jax.tree.leaves(trained(got)), jax.tree.leaves(trained(want))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
