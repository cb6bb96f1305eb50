"""One round of preference (RPO / DPO) or SFT training on a list of chat pairs, through the runner.

Shared by the trainers that learn from their own collected pairs (PAPRIKA's rounds, AgentDAM's
minimisation signal):

  arrays, n = example_arrays("rpo", tokenizer, pairs, logits_fn, params, pad_id,
                             max_len=1024, batch_size=8, exclude=eos_ids(tokenizer))
  params, info = train_round("rpo", config.train, round_dir, mesh, rules, graphdef, params,
                             arrays, n, seed, exclude)

`pairs` are {"chosen": messages, "rejected": messages}; kind "sft" trains on the chosen chats
only. For RPO the reference log-probs are computed once, from `params` (the round's starting
point), in batches of one compiled shape. `train_round` runs `epochs * n / batch_size` steps with
`experiments.runtime.run` in `round_dir` (resumable: a finished round is restored, and reports
the train metrics saved with it). The train section `t` needs batch_size, epochs, steps_per_call,
sft_optim, rpo_optim, warmup_fraction, beta, alpha, log_every, keep_checkpoints.
"""
from __future__ import annotations

import functools
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments import runtime
from experiments.runtime import optim, paths
from jaxllm import train as llm_train
from jaxllm.data.chat import pack_examples, tokenize_chat
from jaxllm.models import model_shardings
from jaxllm.paprika.pairs import pair_arrays
from jaxllm.sharding import train_state_shardings


def eos_ids(tokenizer: Any) -> tuple[int, ...]:
  """The tokenizer's end-of-turn ids (what a DPO log-ratio may skip)."""
  return tuple(getattr(tokenizer, "eos_token_ids", ()) or ())


def example_arrays(kind: str, tokenizer: Any, pairs: list[dict[str, Any]], logits_fn: Any,
                   params: Any, pad_id: int, *, max_len: int, batch_size: int,
                   exclude: tuple[int, ...] = (), name: str = "preference"
                   ) -> tuple[dict[str, np.ndarray] | None, int]:
  """(arrays [N, T], N) for RPO pairs with reference log-probs, or SFT chosen chats."""
  if kind == "sft":
    examples = [tokenize_chat(tokenizer, p["chosen"]) for p in pairs]
    examples = [e for e in examples if len(e[0]) <= max_len]
    if not examples:
      return None, 0
    t = min(-(-max(len(e[0]) for e in examples) // 64) * 64, max_len)
    rows = pack_examples(examples, t, pad_id, pack=False)
    return {"tokens": rows.tokens, "attention_mask": rows.attention_mask,
            "loss_mask": rows.loss_mask}, len(rows)
  arrays, skipped = pair_arrays(tokenizer, pairs, max_len, pad_id)
  n = len(arrays["chosen_tokens"])
  if skipped:
    print(f"[{name}] {skipped} pairs longer than {max_len} tokens skipped", flush=True)
  if n == 0:
    return None, 0
  ref = jax.jit(functools.partial(llm_train.reference_logps, logits_fn, dpo_exclude_ids=exclude))
  outs = []
  for i in range(0, n, batch_size):
    idx = np.arange(i, min(i + batch_size, n))
    idx = np.concatenate([idx, np.zeros(batch_size - len(idx), int)])   # one compiled shape
    chunk = {k: jnp.asarray(v[idx]) for k, v in arrays.items()}
    r = jax.device_get(ref(params, chunk))
    outs.append({k: v[:min(batch_size, n - i)] for k, v in r.items()})
  for k in ("ref_chosen_logps", "ref_rejected_logps"):
    arrays[k] = np.concatenate([o[k] for o in outs]).astype(np.float32)
  return arrays, n


def train_round(kind: str, t: Any, round_dir: str, mesh: Any, rules: Any, graphdef: Any,
                params: Any, arrays: dict[str, np.ndarray], n: int, seed: int,
                exclude: tuple[int, ...] = (), meta: dict[str, Any] | None = None
                ) -> tuple[Any, dict[str, Any]]:
  """(trained params, {"steps", "train": last metrics}) after one round (module docstring)."""
  bs = t.batch_size
  num_steps = max(1, math.ceil(t.epochs * n / bs))
  k = t.steps_per_call if num_steps % t.steps_per_call == 0 else 1
  o = dict((t.sft_optim if kind == "sft" else t.rpo_optim).to_dict())
  o["warmup_steps"] = int(t.warmup_fraction * num_steps)
  tx = optim.make_optimizer(o, num_steps, prefix=f"train.{'sft' if kind == 'sft' else 'rpo'}_optim")
  logits_fn = llm_train.nnx_logits_fn(graphdef)
  if kind == "sft":
    loss_fn = functools.partial(llm_train.sft_loss, logits_fn=logits_fn)
  else:
    loss_fn = functools.partial(llm_train.rpo_loss, logits_fn=logits_fn, beta=t.beta,
                                alpha=t.alpha, dpo_exclude_ids=exclude)
  step = llm_train.make_train_step(loss_fn, tx)
  param_sharding = model_shardings(jax.eval_shape(lambda: params), mesh, rules)

  def init_fn():
    return optim.init_train_state(jax.tree.map(jnp.copy, params), tx, seed)

  state_sharding = train_state_shardings(jax.eval_shape(init_fn), param_sharding, mesh)
  order = np.random.default_rng([seed, 5]).permutation(n)   # one pass; wraps for epochs > 1

  def get_batch(i):
    idx = np.asarray([order[(i * bs + j) % n] for j in range(bs)])
    return {kk: v[idx] for kk, v in arrays.items()}

  def step_fn(state, batch, consts):
    del consts
    return step(state, batch)

  result = runtime.run(workdir=round_dir, mesh=mesh, init_fn=init_fn, step_fn=step_fn,
                       state_sharding=state_sharding, get_batch=get_batch, num_steps=num_steps,
                       steps_per_call=k, log_every=min(t.log_every, num_steps),
                       checkpoint_every=num_steps, keep_checkpoints=t.keep_checkpoints,
                       name=f"{kind}", meta=meta or {})
  keep = ("loss", "nll", "dpo_loss", "rewards/accuracy", "rewards/margins")
  last = {key.split("/", 1)[1] if key.startswith(f"{kind}/") else key: float(v)
          for key, v in (result.last_metrics or {}).items()}
  last = {key: v for key, v in last.items() if key in keep}
  saved = paths.join(round_dir, "train.json")   # a rerun restores the round and logs nothing
  if result.start_step >= num_steps and paths.exists(saved):
    last = json.loads(paths.read_text(saved))
  elif jax.process_index() == 0:
    paths.write_text(saved, json.dumps(last))
  return result.state["params"], {"steps": num_steps, "train": last}
