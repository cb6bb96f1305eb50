"""SFT of a decoder-only LLM on multi-turn chats: from scratch (smoke) or from a HF checkpoint.

Sections: mesh -> tokenizer and model -> data -> optimiser -> state and shardings -> update ->
loop -> evaluation and samples -> export.

The loss is the token-mean next-token NLL over assistant tokens only (`jaxllm.train.sft_loss`);
the assistant spans come from the tokenizer's chat template (`jaxllm.data.chat`). Chats are packed
into fixed rows once on the host; `get_batch(step)` draws rows from a per-epoch permutation seeded
by the epoch, so a resumed run sees the same batches. Parameters are placed with the model's logical
sharding rules on the ('data', 'fsdp', 'tensor') mesh; optimiser moments follow their parameters.
With `lora.rank` > 0 the state's params are {'base', 'lora'}: only the adapters train (the base gets
no optimiser state) and the export merges them into the base weights.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
from pathlib import Path

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import runtime
from experiments.errors import UserError
from experiments.results import write_results
from jaxllm import train as llm_train
from jaxllm.data.chat import ChatTemplateError, PackedRows, pack_examples, tokenize_chat
from jaxllm.data.corpus import load_chats, split_chats
from jaxllm.models import ModelConfig, Transformer, logical_to_mesh_rules, model_shardings
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.tokenizers import ByteTokenizer

_LORA_PATH = re.compile(r"^layers/\d+/(attn|mlp)/(\w+)_proj$")


# ---------------------------------------------------------------------------------------------
# tokenizer and model
# ---------------------------------------------------------------------------------------------
def _one_line(err: Exception) -> str:
  text = str(err).strip().splitlines()
  return text[0] if text else type(err).__name__


def load_pretrained(config, mesh, rules):
  """(Transformer, tokenizer) from config.model_path; every mistake is a one-line UserError."""
  from jaxllm.hf_io import load_hf_model
  from jaxllm.tokenizers import load_tokenizer

  path = config.model_path
  if not path:
    raise UserError("init=pretrained (the finetune preset) needs --config.model_path=DIR, a local "
                    "Hugging Face model directory (config.json, *.safetensors, tokenizer)")
  p = Path(path).expanduser()
  if not p.is_dir():
    raise UserError(f"config.model_path={path} is not a directory; pass a local Hugging Face "
                    "model directory")
  if not (p / "config.json").is_file() or not list(p.glob("*.safetensors")):
    raise UserError(f"config.model_path={path} is not a Hugging Face model directory: it needs "
                    "config.json and *.safetensors weights")
  try:
    tokenizer = load_tokenizer(p)
  except Exception as e:  # transformers raises many kinds; the user fixes the directory
    raise UserError(f"config.model_path={path}: cannot load its tokenizer: {_one_line(e)}") from e
  if not getattr(tokenizer.hf, "chat_template", None):
    raise UserError(f"config.model_path={path}: the tokenizer has no chat_template; add one to "
                    "tokenizer_config.json or chat_template.jinja")
  try:
    model = load_hf_model(p, dtype=config.model.dtype, param_dtype=config.model.param_dtype,
                          mesh=mesh, rules=rules)
  except (ValueError, FileNotFoundError, KeyError, OSError) as e:
    raise UserError(f"config.model_path={path}: {_one_line(e)}") from e
  return model, tokenizer


def scratch_model_config(config, tokenizer: ByteTokenizer) -> ModelConfig:
  m = config.model
  return ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=m.hidden_size,
                     intermediate_size=m.intermediate_size, num_layers=m.num_layers,
                     num_heads=m.num_heads, num_kv_heads=m.num_kv_heads, head_dim=m.head_dim,
                     max_position_embeddings=max(2048, config.data.seq_len),
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id, dtype=m.dtype, param_dtype=m.param_dtype)


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
# optimiser and LoRA
# ---------------------------------------------------------------------------------------------
def make_optimizer(config) -> optax.GradientTransformation:
  o, lora = config.optim, config.lora.rank > 0
  lr = config.lora.lr if lora else o.lr
  schedule = optax.warmup_cosine_decay_schedule(0.0, lr, o.warmup_steps, config.train.num_steps,
                                                end_value=lr * 0.1)
  decay_mask = lambda params: jax.tree.map(lambda x: x.ndim >= 2, params)
  tx = optax.adamw(schedule, b2=o.b2, weight_decay=o.weight_decay, mask=decay_mask)
  return llm_train.lora_optimizer(tx) if lora else tx


def lora_predicate(targets: str):
  wanted = {t.strip() for t in targets.split(",") if t.strip()}
  valid = {"q", "k", "v", "o", "gate", "up", "down"}
  if not wanted or wanted - valid:
    raise UserError(f"lora.targets={targets!r}; valid: comma-separated {', '.join(sorted(valid))}")

  def predicate(name: str, _leaf) -> bool:
    m = _LORA_PATH.match(name)
    return bool(m) and m.group(2) in wanted

  return predicate


def _lora_in_dims(name: str, shape: tuple[int, ...]) -> int:
  return 2 if name.endswith("attn/o_proj") else 1  # o: [heads, head_dim, embed]


# ---------------------------------------------------------------------------------------------
# the trainer
# ---------------------------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  t = config.train
  runtime.check_schedule(t.num_steps, t.steps_per_call, log_every=t.log_every,
                         checkpoint_every=t.checkpoint_every, eval_every=config.eval.every)
  if not 0 <= config.optim.warmup_steps < t.num_steps:
    raise UserError(f"optim.warmup_steps={config.optim.warmup_steps} must be in [0, "
                    f"train.num_steps={t.num_steps})")
  if config.init not in ("scratch", "pretrained"):
    raise UserError(f"unknown init '{config.init}'; valid: scratch, pretrained")
  if config.init == "scratch" and config.model_path:
    raise UserError("config.model_path is set but init=scratch; use the finetune preset (or "
                    "--config.init=pretrained) to fine-tune a checkpoint")
  # ---------------------------------------------------------------- mesh
  mesh = runtime.make_mesh(config.mesh)
  rules = logical_to_mesh_rules(fsdp=True, tensor=True)

  # ---------------------------------------------------------------- tokenizer and model
  if config.init == "pretrained":
    model, tokenizer = load_pretrained(config, mesh, rules)
    cfg = model.cfg
    graphdef, loaded = nnx.split(model)
    del model
    make_params = lambda: loaded
  else:
    tokenizer = ByteTokenizer()
    cfg = scratch_model_config(config, tokenizer)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))))
    make_params = lambda: nnx.state(Transformer(cfg, rngs=nnx.Rngs(config.seed)))
  abstract_params = jax.eval_shape(make_params)
  param_sharding = model_shardings(abstract_params, mesh, rules)

  # ---------------------------------------------------------------- data
  train_rows, eval_rows = build_rows(config, tokenizer, cfg.vocab_size)
  batch_size = config.data.batch_size
  get_batch = make_get_batch(train_rows, batch_size, config.seed)
  print(f"[sft] {cfg.num_params() / 1e6:.2f}M params, {len(train_rows)} train rows "
        f"({train_rows.num_target_tokens} assistant tokens), {len(eval_rows)} eval rows of "
        f"{config.data.seq_len} tokens; mesh {dict(mesh.shape)}", flush=True)

  # ---------------------------------------------------------------- optimiser, state, shardings
  tx = make_optimizer(config)
  base_logits = llm_train.nnx_logits_fn(graphdef)
  lora = config.lora.rank > 0
  if lora:
    predicate = lora_predicate(config.lora.targets)
    logits_fn = llm_train.lora_logits_fn(base_logits, config.lora.alpha)

    def init_params():
      base = make_params()
      adapters = llm_train.init_lora(jax.random.PRNGKey(config.seed + 1), base, predicate,
                                     config.lora.rank, in_dims=_lora_in_dims)
      return llm_train.lora_params(base, adapters)
  else:
    logits_fn, init_params = base_logits, make_params

  def init_fn():
    return llm_train.init_train_state(init_params(), tx)

  abstract_state = jax.eval_shape(init_fn)
  repl = runtime.replicated(mesh)
  if lora:
    # Adapters are small and replicated, the frozen base has no optimiser state: every optimiser
    # leaf is replicated. (train_state_shardings cannot trace lora_optimizer's callable labels.)
    param_sharding = {"base": param_sharding,
                      "lora": jax.tree.map(lambda _: repl, abstract_state["params"]["lora"])}
    state_sharding = {"params": param_sharding, "step": repl,
                      "opt_state": jax.tree.map(lambda _: repl, abstract_state["opt_state"])}
  else:
    state_sharding = llm_train.train_state_shardings(tx, abstract_state, param_sharding, mesh)

  # ---------------------------------------------------------------- update
  loss_fn = functools.partial(llm_train.sft_loss, logits_fn=logits_fn)
  train_step = llm_train.make_train_step(loss_fn, tx, max_grad_norm=config.optim.max_grad_norm)

  def step_fn(state, batch, consts):
    del consts
    return train_step(state, batch)

  eval_fn = make_eval_fn(loss_fn, eval_rows, batch_size, config.eval.max_rows, mesh)

  # ---------------------------------------------------------------- loop
  result = runtime.run(workdir=workdir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, num_steps=t.num_steps,
                       steps_per_call=t.steps_per_call, log_every=t.log_every,
                       checkpoint_every=t.checkpoint_every, keep_checkpoints=t.keep_checkpoints,
                       get_batch=get_batch, eval_fn=lambda s, _: eval_fn(s["params"]),
                       eval_every=config.eval.every, meta={"config": config.to_dict()})

  # ---------------------------------------------------------------- evaluation and samples
  params = result.state["params"]
  if lora:
    params = llm_train.merge_lora(params["base"], params["lora"], config.lora.alpha)
  model = nnx.merge(graphdef, params)
  evals = eval_fn(result.state["params"])
  samples = sample_prompts(model, tokenizer, config)

  # ---------------------------------------------------------------- export
  export_dir = config.export_dir or (os.path.join(config.model_path, "export")
                                     if config.init == "pretrained" else "")
  if export_dir and jax.process_index() == 0:
    export(model, tokenizer, config, export_dir)
  return report(config, workdir, result, evals, samples, export_dir, cfg,
                batch_size * config.data.seq_len)


def make_eval_fn(loss_fn, rows: PackedRows, batch_size: int, max_rows: int, mesh):
  """params -> {'loss', 'perplexity', 'accuracy'}: token-weighted over the held-out rows."""
  n = len(rows) if not max_rows else min(max_rows, len(rows))
  n_batches = max(1, math.ceil(n / batch_size))
  index = np.arange(n_batches * batch_size) % max(n, 1)
  batches = []
  for b in range(n_batches):
    batch = rows.take(index[b * batch_size:(b + 1) * batch_size])
    dup = np.arange(b * batch_size, (b + 1) * batch_size) >= n  # wrap-around rows: not scored
    batch["loss_mask"] = batch["loss_mask"] & ~dup[:, None]
    batches.append(runtime.put_batch(batch, mesh))

  @jax.jit
  def score(params, batch):
    _, m = loss_fn(params, batch)
    return m["loss"] * m["tokens"], m["accuracy"] * m["tokens"], m["tokens"]

  def eval_fn(params) -> dict[str, float]:
    totals = np.zeros(3)
    for batch in batches:
      totals += np.asarray(jax.device_get(score(params, batch)), np.float64)
    loss = totals[0] / max(totals[2], 1.0)
    return {"loss": float(loss), "perplexity": float(math.exp(min(loss, 50.0))),
            "accuracy": float(totals[1] / max(totals[2], 1.0))}

  return eval_fn


def sample_prompts(model, tokenizer, config) -> list[dict[str, str]]:
  """Greedy completions of `eval.prompts`, each as a one-turn chat with the generation prompt."""
  prompts = [p for p in config.eval.prompts if p]
  if not prompts:
    return []
  ids = [tokenizer.apply_chat_template([{"role": "user", "content": p}],
                                       add_generation_prompt=True, tokenize=True) for p in prompts]
  sampler = Sampler(model, tokenizer)
  outs = sampler.generate(ids, SamplingParams(max_new_tokens=config.eval.max_new_tokens,
                                              temperature=0.0))
  samples = [{"prompt": p, "completion": o.text} for p, o in zip(prompts, outs)]
  if jax.process_index() == 0:
    print("\n[sft] greedy samples:", flush=True)
    for s in samples:
      print(f"  user: {s['prompt']}\n  assistant: {s['completion']!r}", flush=True)
  return samples


def export(model, tokenizer, config, export_dir: str) -> None:
  """HF safetensors + config.json, and the tokenizer files so the directory is self-contained."""
  from jaxllm.hf_io import save_hf_model
  save_hf_model(model, export_dir)
  if hasattr(tokenizer, "hf"):
    tokenizer.hf.save_pretrained(export_dir)
  gen = Path(config.model_path or "", "generation_config.json")
  if config.model_path and gen.is_file():
    shutil.copyfile(gen, Path(export_dir, "generation_config.json"))
  print(f"[sft] exported to {export_dir}", flush=True)


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
