"""SFT of a decoder-only LLM on multi-turn chats: from scratch (smoke) or from a HF checkpoint.

Sections: mesh and rules -> tokenizer and model -> data -> optimiser -> state and shardings ->
update -> loop -> evaluation and samples -> export. The pieces other LLM trainers share live in
jaxllm: HF directories (`jaxllm.hf_dir`), LoRA (`jaxllm.train.lora`), shardings
(`jaxllm.sharding`), held-out evaluation and greedy samples (`jaxllm.train.evaluate`); this file
composes them with the runner.

The loss is the token-mean next-token NLL over assistant tokens only (`jaxllm.train.sft_loss`);
the assistant spans come from the tokenizer's chat template (`jaxllm.data.chat`). Chats are packed
into fixed rows once on the host; `get_batch(step)` draws rows from a per-epoch permutation seeded
by the epoch, so a resumed run sees the same batches. Parameters are placed by the config's
`sharding.rules` on the ('data', 'fsdp', 'tensor') mesh; optimiser moments follow their
parameters. The optimiser is `experiments.runtime.optim.make_optimizer(config.optim)` (clipping
included). With `lora.rank` > 0 the state's params are {'base', 'lora'}: only the adapters train
(the base gets no optimiser state), each adapter sharded like its kernel, and the export merges
them into the base weights.
"""
from __future__ import annotations

import functools
import math
import os

import flax.nnx as nnx
import jax
import ml_collections
import numpy as np
import optax

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from experiments.runtime import optim
from jaxllm import train as llm_train
from jaxllm.data.chat import ChatTemplateError, PackedRows, pack_examples, tokenize_chat
from jaxllm.data.corpus import load_chats, split_chats
from jaxllm.hf_dir import ModelDirError, export_model_dir, load_model_dir
from jaxllm.models import ModelConfig, Transformer, model_shardings
from jaxllm.sharding import Rules, check_rules, train_state_shardings
from jaxllm.tokenizers import ByteTokenizer


def _one_line(err: Exception) -> str:
  text = str(err).strip().splitlines()
  return text[0] if text else type(err).__name__


# ---------------------------------------------------------------------------------------------
# config checks, mesh and rules
# ---------------------------------------------------------------------------------------------
def check_config(config) -> None:
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every, eval_every=config.eval.every)
  if config.init not in ("scratch", "pretrained"):
    raise UserError(f"unknown init '{config.init}'; valid: scratch, pretrained")
  if config.init == "scratch" and config.model_path:
    raise UserError("config.model_path is set but init=scratch; use the finetune preset (or "
                    "--config.init=pretrained) to fine-tune a checkpoint")
  if config.init == "pretrained" and not config.model_path:
    raise UserError("init=pretrained (the finetune preset) needs --config.model_path=DIR, a local "
                    "Hugging Face model directory (config.json, *.safetensors, tokenizer)")


def sharding_rules(config, mesh) -> Rules:
  """config.sharding.rules as a tuple of (pattern, axes) pairs, checked against the mesh."""
  rules = tuple(tuple(r) if isinstance(r, (list, tuple)) else r for r in config.sharding.rules)
  try:
    check_rules(rules, mesh)
  except ValueError as e:
    raise UserError(f"sharding.rules: {e}") from e
  return rules


# ---------------------------------------------------------------------------------------------
# tokenizer and model
# ---------------------------------------------------------------------------------------------
def scratch_model_config(config, tokenizer: ByteTokenizer) -> ModelConfig:
  m = config.model
  return ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=m.hidden_size,
                     intermediate_size=m.intermediate_size, num_layers=m.num_layers,
                     num_heads=m.num_heads, num_kv_heads=m.num_kv_heads, head_dim=m.head_dim,
                     max_position_embeddings=max(2048, config.data.seq_len),
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id, dtype=m.dtype, param_dtype=m.param_dtype)


def build_model(config, mesh, rules):
  """(graphdef, make_params, tokenizer, model config): the pretrained directory loaded onto the
  mesh, or a random model (`make_params` builds it, to run under jit with its shardings)."""
  if config.init == "pretrained":
    try:
      model, tokenizer = load_model_dir(config.model_path, dtype=config.model.dtype,
                                        param_dtype=config.model.param_dtype, mesh=mesh,
                                        rules=rules)
    except ModelDirError as e:
      raise UserError(f"config.model_path={e}") from e
    graphdef, loaded = nnx.split(model)
    return graphdef, lambda: loaded, tokenizer, model.cfg
  tokenizer = ByteTokenizer()
  cfg = scratch_model_config(config, tokenizer)
  graphdef = nnx.graphdef(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))))
  return (graphdef, lambda: nnx.state(Transformer(cfg, rngs=nnx.Rngs(config.seed))), tokenizer,
          cfg)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def build_rows(config, tokenizer, vocab_size: int) -> tuple[PackedRows, PackedRows]:
  """(train rows, eval rows) from the configured chats."""
  d = config.data
  try:
    chats = load_chats(d.corpus or None)
    train_chats, eval_chats = split_chats(chats, d.eval_fraction)
  except (OSError, ValueError) as e:
    raise UserError(f"data.corpus={d.corpus or '(embedded)'}: {_one_line(e)}") from e
  pad = tokenizer.pad_token_id
  pad = pad if pad is not None else (tokenizer.eos_token_id or 0)

  def rows(chats):
    try:
      examples = [tokenize_chat(tokenizer, c) for c in chats]
    except ChatTemplateError as e:
      raise UserError(str(e)) from e
    top = max(int(ids.max()) for ids, _ in examples)
    if top >= vocab_size:
      raise UserError(f"token id {top} is outside the model's vocabulary ({vocab_size}); the "
                      "tokenizer does not belong to this model")
    return pack_examples(examples, d.seq_len, pad, pack=d.pack)

  train_rows, eval_rows = rows(train_chats), rows(eval_chats)
  if len(train_rows) < d.batch_size:
    raise UserError(f"data.batch_size={d.batch_size} exceeds the {len(train_rows)} training rows")
  return train_rows, eval_rows


def make_get_batch(rows: PackedRows, batch_size: int, seed: int):
  """step -> batch dict; epoch e visits the rows in permutation(seed, e) (drops the remainder)."""
  per_epoch = len(rows) // batch_size

  @functools.lru_cache(maxsize=2)
  def order(epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(len(rows))

  def get_batch(step: int) -> dict[str, np.ndarray]:
    epoch, i = divmod(step, per_epoch)
    return rows.take(order(epoch)[i * batch_size:(i + 1) * batch_size])

  return get_batch


# ---------------------------------------------------------------------------------------------
# optimiser, state and shardings
# ---------------------------------------------------------------------------------------------
def make_optimizer(config) -> optax.GradientTransformation:
  """runtime.optim's optimiser for config.optim (lr: lora.lr when training adapters, which are then
  the only parameters it updates)."""
  if config.lora.rank <= 0:
    return optim.make_optimizer(config.optim, config.train.num_steps)
  o = dict(config.optim.to_dict(), lr=config.lora.lr)
  return llm_train.lora_optimizer(optim.make_optimizer(o, config.train.num_steps))


def build_state(config, mesh, rules, graphdef, make_params, tx):
  """(init_fn, state_sharding, logits_fn) for full fine-tuning or LoRA ({'base', 'lora'} params).

  The base parameters are placed by `rules`; LoRA adapters follow their kernels; optimiser
  moments follow their parameters; step and rng are replicated.
  """
  base_logits = llm_train.nnx_logits_fn(graphdef)
  base_sharding = model_shardings(jax.eval_shape(make_params), mesh, rules)
  if config.lora.rank > 0:
    try:
      predicate = llm_train.transformer_lora_predicate(config.lora.targets)
    except ValueError as e:
      raise UserError(f"lora.targets={config.lora.targets!r}: {e}") from e

    def init_params():
      base = make_params()
      adapters = llm_train.init_lora(jax.random.PRNGKey(config.seed + 1), base, predicate,
                                     config.lora.rank, in_dims=llm_train.transformer_in_dims)
      return llm_train.lora_params(base, adapters)

    abstract_lora = jax.eval_shape(init_params)["lora"]
    param_sharding = llm_train.lora_param_shardings(base_sharding, abstract_lora)
    logits_fn = llm_train.lora_logits_fn(base_logits, config.lora.alpha)
  else:
    init_params, param_sharding, logits_fn = make_params, base_sharding, base_logits

  def init_fn():
    return optim.init_train_state(init_params(), tx, config.seed)

  state_sharding = train_state_shardings(jax.eval_shape(init_fn), param_sharding, mesh)
  return init_fn, state_sharding, logits_fn


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  check_config(config)
  t = config.train
  tx = make_optimizer(config)  # checks optim.* first: a one-line error before any model loads
  # ---------------------------------------------------------------- mesh and rules
  mesh = runtime.make_mesh(config.mesh)
  rules = sharding_rules(config, mesh)
  batch_size = config.data.batch_size
  divisor = runtime.mesh.batch_size_divisor(mesh)
  if batch_size % divisor:
    raise UserError(f"data.batch_size={batch_size} is not divisible by the {divisor} devices on "
                    "mesh axes data x fsdp; change the batch size or the mesh")

  # ---------------------------------------------------------------- tokenizer and model
  graphdef, make_params, tokenizer, cfg = build_model(config, mesh, rules)

  # ---------------------------------------------------------------- data
  train_rows, eval_rows = build_rows(config, tokenizer, cfg.vocab_size)
  get_batch = make_get_batch(train_rows, batch_size, config.seed)
  print(f"[sft] {cfg.num_params() / 1e6:.2f}M params, {len(train_rows)} train rows "
        f"({train_rows.num_target_tokens} assistant tokens), {len(eval_rows)} eval rows of "
        f"{config.data.seq_len} tokens; mesh {dict(mesh.shape)}", flush=True)

  # ---------------------------------------------------------------- state and shardings
  init_fn, state_sharding, logits_fn = build_state(config, mesh, rules, graphdef, make_params, tx)

  # ---------------------------------------------------------------- update
  loss_fn = functools.partial(llm_train.sft_loss, logits_fn=logits_fn)
  train_step = llm_train.make_train_step(loss_fn, tx)  # clipping: inside tx (optim.max_grad_norm)

  def step_fn(state, batch, consts):
    del consts
    return train_step(state, batch)

  eval_fn = llm_train.make_eval_fn(loss_fn, eval_rows, batch_size, config.eval.max_rows,
                                   sharding=runtime.batch_sharding(mesh))

  # ---------------------------------------------------------------- loop
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, get_batch=get_batch,
                       eval_fn=lambda s, _: eval_fn(s["params"]),
                       eval_every=config.eval.every, meta={"config": config.to_dict()},
                       **runtime.loop_args(t))

  # ---------------------------------------------------------------- evaluation and samples
  params = result.state["params"]
  if config.lora.rank > 0:
    params = llm_train.merge_lora(params["base"], params["lora"], config.lora.alpha)
  model = nnx.merge(graphdef, params)
  evals = eval_fn(result.state["params"])
  samples = llm_train.sample_prompts(model, tokenizer, config.eval.prompts,
                                     config.eval.max_new_tokens)
  if samples and jax.process_index() == 0:
    print("\n[sft] greedy samples:", flush=True)
    for s in samples:
      print(f"  user: {s['prompt']}\n  assistant: {s['completion']!r}", flush=True)

  # ---------------------------------------------------------------- export
  export_dir = config.export_dir or (os.path.join(config.model_path, "export")
                                     if config.init == "pretrained" else "")
  if export_dir and jax.process_index() == 0:
    export_model_dir(model, tokenizer, export_dir, source_dir=config.model_path or None)
    print(f"[sft] exported to {export_dir}", flush=True)
  return report(config, workdir, result, evals, samples, export_dir, cfg,
                batch_size * config.data.seq_len)


def report(config, workdir, result, evals, samples, export_dir, cfg, tokens_per_step) -> dict:
  train_rows = []
  try:
    train_rows = [r for r in runtime.read_metrics(workdir) if "train/loss" in r]
  except (OSError, FileNotFoundError):
    pass
  last = result.last_metrics.get("train/loss", train_rows[-1]["train/loss"] if train_rows
                                 else float("nan"))
  first = train_rows[0]["train/loss"] if train_rows else float("nan")
  rate = result.steps_per_second
  out = {"final_train_loss": float(last), "final_train_perplexity": math.exp(min(last, 50.0)),
         "initial_train_loss": float(first), "uniform_loss": math.log(cfg.vocab_size),
         "eval_loss": evals["loss"], "eval_perplexity": evals["perplexity"],
         "eval_accuracy": evals["accuracy"], "steps": result.step,
         "train_steps_per_second": rate, "train_tokens_per_second": rate * tokens_per_step,
         "num_params": cfg.num_params(), "lora_rank": config.lora.rank,
         "samples": samples, "export_dir": export_dir or None}
  rows = {"train (first log)": {"loss": out["initial_train_loss"],
                                "perplexity": math.exp(min(first, 50.0))},
          "train (last log)": {"loss": out["final_train_loss"],
                               "perplexity": out["final_train_perplexity"]},
          "eval (held-out)": {"loss": out["eval_loss"], "perplexity": out["eval_perplexity"],
                              "accuracy": out["eval_accuracy"]}}
  write_results(workdir, out, rows, title=f"sft: {cfg.num_params() / 1e6:.2f}M params, "
                                          f"{result.step} steps, loss on assistant tokens")
  return out
