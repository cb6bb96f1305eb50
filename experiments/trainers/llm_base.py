"""Base models for the LLM-RL methods: SFT from scratch on a trainer's own chats, or a local HF
checkpoint, and a small JSON cache for results keyed by what produced them.

    graphdef, params, tokenizer = build_base(config, mesh, rules, base_dir, make_chats, "srt")

`config` needs `model_path`, `base` (sizes, seq_len, batch_size, optim, num_steps,
steps_per_call), `data.seed`, `mesh` and `sharding`; `make_chats()` returns the SFT chats (a list
of message lists) and is only called when `<base_dir>/chats.json` is missing. SRT (reasoning
solutions) and PAPRIKA (scripted game trajectories) both train their base models this way, through
the sft trainer, so the base is resumable and shared across seeds and arms.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import flax.nnx as nnx
import jax
import ml_collections

from experiments import runtime
from experiments.configs import sft as sft_config
from experiments.errors import UserError
from experiments.runtime import paths
from experiments.trainers import sft as sft_trainer
from jaxllm.hf_dir import ModelDirError, load_model_dir


def base_sft_config(config, corpus: str) -> ml_collections.ConfigDict:
  """The sft trainer's config for the from-scratch base model."""
  b, s = config.base, sft_config.get_config("smoke")
  for k in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
            "head_dim"):
    s.model[k] = b[k]
  s.seed, s.mesh, s.sharding = config.data.seed, config.mesh, config.sharding  # not the RL seed
  s.data.corpus, s.data.seq_len, s.data.batch_size, s.data.eval_fraction = (
      corpus, b.seq_len, b.batch_size, 0.02)
  s.data.pack = b.get("pack", True)
  s.optim = b.optim
  s.train.num_steps, s.train.steps_per_call = b.num_steps, b.steps_per_call
  s.train.log_every = max(b.steps_per_call, (b.num_steps // 20) // b.steps_per_call
                          * b.steps_per_call)
  s.train.checkpoint_every = max(b.steps_per_call, (b.num_steps // 4) // b.steps_per_call
                                 * b.steps_per_call)
  s.eval.every, s.eval.prompts = 0, ()
  return s


def build_base(config, mesh, rules, base_dir: str, make_chats: Callable[[], list],
               name: str = "base") -> tuple[Any, Any, Any]:
  """(graphdef, params, tokenizer): trained here from scratch (resumable) or loaded."""
  if config.model_path:
    try:
      model, tokenizer = load_model_dir(config.model_path, mesh=mesh, rules=rules)
    except ModelDirError as e:
      raise UserError(f"config.model_path={e}") from e
    graphdef, params = nnx.split(model)
    return graphdef, params, tokenizer
  corpus = paths.join(base_dir, "chats.json")
  paths.makedirs(base_dir)
  if not paths.exists(corpus):
    paths.write_text(corpus, json.dumps(make_chats()))
  scfg = base_sft_config(config, corpus)
  sft_trainer.check_config(scfg)
  graphdef, make_params, tokenizer, _ = sft_trainer.build_model(scfg, mesh, rules)
  print(f"[{name}] base model: SFT from scratch in {base_dir}", flush=True)
  sft_trainer.train_and_evaluate(scfg, base_dir)
  tx = sft_trainer.make_optimizer(scfg)
  init_fn, state_sharding, _ = sft_trainer.build_state(scfg, mesh, rules, graphdef, make_params,
                                                       tx)
  ckpt = runtime.Checkpointer(base_dir)
  state, _ = ckpt.restore(runtime.abstract_like(jax.eval_shape(init_fn), state_sharding))
  ckpt.close()
  return graphdef, state["params"], tokenizer


def cached(path: str, key: dict, fn):
  """fn() unless `path` holds a result computed with the same key."""
  key = json.loads(json.dumps(key, default=str))
  if paths.exists(path):
    saved = json.loads(paths.read_text(path))
    if saved.get("key") == key:
      return saved["value"]
  value = fn()
  if jax.process_index() == 0:
    paths.write_text(path, json.dumps({"key": key, "value": value}, default=float))
  return value
