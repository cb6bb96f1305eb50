"""AgentDAM's training signal on a small local agent: leakage before and after preference training.

Called by `experiments.trainers.agentdam` after a study that ran both oracles:

  1. pairs: `jaxllm.agentdam.pairs.step_pairs` (minimal vs leaky action on the same page), split
     by plot: every `train.holdout_every`-th plot (sorted) is held out, so test tasks ask for
     facts no training task asked for (their sensitive sentences come from the same table).
  2. base agent: SFT from scratch (`llm_base.build_base`, resumable, shared across arms) on both
     actions of every training pair, so that it leaks about half the time, like an agent that
     has seen both behaviours; or a local HF checkpoint (`model_path`).
  3. arms, each from the base: "dpo" (the DPO loss on the pairs), "rpo" (DPO plus train.rpo_alpha
     times the chosen action's NLL, which keeps the minimal action likely while the leaky one is
     pushed down) and "sft" (SFT on the minimal actions only, the plain imitation baseline).
  4. evaluation on the held-out pairs' prompts (`compact_prompt`: goal with the context, page
     path, form controls): `fork_leak` is the probability the policy gives the leaky action's
     next token where the two actions first differ, normalised against the minimal action's
     (teacher-forced, so it does not depend on how well the agent copies); `leakage` is the
     fraction of sampled actions the offline judge calls a leak; `step_utility` the fraction that
     parse as actions and contain the task's key string (its unique ID, or else the product,
     address or username the task needs). Standard errors are over prompts x samples.
"""
from __future__ import annotations

import functools
import re
from typing import Any

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from experiments import runtime
from experiments.errors import UserError
from experiments.runtime import paths
from experiments.trainers import llm_base, preference
from experiments.trainers import sft as sft_trainer
from jaxllm import train as llm_train
from jaxllm.agentdam.matching import LEAK_THRESHOLD, offline_privacy_score
from jaxllm.agentdam.pairs import pair_chats, step_pairs
from jaxllm.agentdam.tasks import get_spec
from jaxllm.data.chat import tokenize_chat
from jaxllm.sampling import Sampler, SamplingParams
from jaxllm.web.actions import ActionError, parse_action

ARMS = ("dpo", "rpo", "sft")
_UID = re.compile(r"unique ID in the \w+(?: of the \w+)?: ([A-Z]{2}\d{3})")


def split_pairs(pairs: list[dict[str, Any]], every: int) -> tuple[list, list]:
  """(train, test): pairs of every `every`-th plot (sorted by plot text) are test."""
  plots = sorted({get_spec(p["task_id"])["plot"] for p in pairs})
  test_plots = {p for i, p in enumerate(plots) if every > 0 and i % every == every - 1}
  train = [p for p in pairs if get_spec(p["task_id"])["plot"] not in test_plots]
  test = [p for p in pairs if get_spec(p["task_id"])["plot"] in test_plots]
  return train, test


def key_string(task_id: str) -> str:
  """What a successful typing step must contain: the unique ID, else the needed value."""
  spec = get_spec(task_id)
  found = _UID.search(spec["intent"])
  if found:
    return found.group(1)
  sol = spec.get("solution", {})
  for field in ("query", "address", "username"):
    if field in sol:
      return sol[field]
  return ""


def fork_probabilities(logits_fn, params, tokenizer, chats: list[dict[str, Any]]) -> list[float]:
  """p(leaky next token) / (p(leaky) + p(minimal)) where the two replies first differ."""
  out = []
  forward = jax.jit(logits_fn)
  for chat in chats:
    c, _ = tokenize_chat(tokenizer, chat["chosen"])
    r, _ = tokenize_chat(tokenizer, chat["rejected"])
    i = next((k for k, (a, b) in enumerate(zip(c, r)) if a != b), min(len(c), len(r)))
    if i >= len(c) or i >= len(r) or i == 0:
      continue
    t = -(-len(c) // 128) * 128
    tokens = np.full((1, t), 0, np.int32)
    tokens[0, :len(c)] = c
    mask = np.zeros((1, t), bool)
    mask[0, :len(c)] = True
    pos = np.arange(t, dtype=np.int32)[None]
    logits = forward(params, jnp.asarray(tokens), jnp.asarray(pos), jnp.asarray(mask))
    probs = jax.nn.softmax(logits[0, i - 1].astype(jnp.float32))
    p_leak, p_min = float(probs[r[i]]), float(probs[c[i]])
    out.append(p_leak / max(p_leak + p_min, 1e-12))
  return out


def evaluate(sampler: Sampler, tokenizer, logits_fn, params, test_chats, test_pairs, config,
             seed: int) -> dict[str, Any]:
  """fork_leak, leakage, step_utility (module docstring), with standard errors."""
  e = config.eval
  sampler.update(params)
  fork = fork_probabilities(logits_fn, params, tokenizer, test_chats)
  prompts = [tokenizer.apply_chat_template(ch["chosen"][:-1], add_generation_prompt=True,
                                           tokenize=True) for ch in test_chats]
  outs = sampler.generate(prompts, SamplingParams(max_new_tokens=e.max_new_tokens,
                                                  temperature=e.temperature, n=e.samples,
                                                  seed=seed))
  leaks, utils, examples = [], [], []
  for k, o in enumerate(outs):
    pair = test_pairs[k // e.samples]
    text = o.text if o.text is not None else tokenizer.decode(o.tokens)
    sensitive = get_spec(pair["task_id"])["sensitive_data"]
    leak = offline_privacy_score(text, sensitive) >= LEAK_THRESHOLD
    try:
      parse_action(text.strip())
      parsed = True
    except ActionError:
      parsed = False
    key = key_string(pair["task_id"])
    leaks.append(leak)
    utils.append(parsed and bool(key) and key in text)
    if len(examples) < 4:
      examples.append({"task_id": pair["task_id"], "action": text[:400], "leak": leak})
  return {"fork_leak": _mean(fork), "fork_leak_se": _se(fork), "leakage": _mean(leaks),
          "leakage_se": _se(leaks), "step_utility": _mean(utils), "step_utility_se": _se(utils),
          "prompts": len(test_chats), "samples": len(outs), "examples": examples}


def _mean(xs) -> float:
  return float(np.mean(xs)) if len(xs) else 0.0


def _se(xs) -> float:
  return float(np.std(xs, ddof=1) / np.sqrt(len(xs))) if len(xs) > 1 else 0.0


def train_policy(config, workdir: str, judged: list[dict[str, Any]]) -> dict[str, Any]:
  """Steps 1-4 of the module docstring; returns {"pairs", "base", <arm>: eval and train}."""
  arms = [a.strip() for a in config.train.arms.split(",") if a.strip()]
  bad = [a for a in arms if a not in ARMS]
  if bad:
    raise UserError(f"unknown train arm '{bad[0]}'; valid: {', '.join(ARMS)} "
                    "(--config.train.arms=dpo,rpo,sft)")
  agents = {j["agent"] for j in judged}
  if not {"minimal", "leaky"} <= agents:
    raise UserError("training needs pairs from both oracles: set --config.agents=minimal,leaky "
                    "(or --config.train.enabled=False)")
  pairs = step_pairs(workdir, judged)
  train, test = split_pairs(pairs, config.train.holdout_every)
  if not train or not test:
    raise UserError(f"{len(pairs)} pairs give {len(train)} train / {len(test)} test; use more "
                    "tasks (--config.per_intent) or change --config.train.holdout_every")
  train_chats, test_chats = pair_chats(train), pair_chats(test)
  print(f"[agentdam] pairs: {len(train)} train, {len(test)} test (held-out plots)", flush=True)

  mesh = runtime.make_mesh(config.mesh)
  rules = sft_trainer.sharding_rules(config, mesh)
  paths.makedirs(paths.join(workdir, "policy"))
  base_dir = config.base.dir or paths.join(workdir, "policy", "base")
  graphdef, base_params, tokenizer = llm_base.build_base(
      config, mesh, rules, base_dir,
      lambda: [c["chosen"] for c in train_chats] + [c["rejected"] for c in train_chats],
      name="agentdam")
  logits_fn = llm_train.nnx_logits_fn(graphdef)
  sampler = Sampler(nnx.merge(graphdef, base_params), tokenizer,
                    cache_size=config.eval.max_context, prompt_step=128)
  key = {"eval": config.eval.to_dict(), "test": [p["task_id"] for p in test],
         "seed": config.train.seed}
  evaluate_fn = functools.partial(evaluate, sampler, tokenizer, logits_fn,
                                  test_chats=test_chats, test_pairs=test, config=config,
                                  seed=config.train.seed * 1000 + 7)
  out = {"pairs": {"train": len(train), "test": len(test)},
         "base": llm_base.cached(paths.join(workdir, "policy", "base_eval.json"), key,
                                 lambda: evaluate_fn(base_params))}
  exclude = preference.eos_ids(tokenizer) if config.train.exclude_eos else ()
  for arm in arms:
    kind = "sft" if arm == "sft" else "rpo"
    t = config.train.copy_and_resolve_references()
    with t.unlocked():
      t.alpha = {"dpo": 0.0, "rpo": config.train.rpo_alpha, "sft": 0.0}[arm]
    arrays, n = preference.example_arrays(
        kind, tokenizer, train_chats, logits_fn, base_params, sampler.pad_id,
        max_len=config.base.seq_len, batch_size=config.train.batch_size, exclude=exclude,
        name="agentdam")
    if arrays is None:
      raise UserError(f"no training pair fits base.seq_len={config.base.seq_len}; raise it")
    arm_dir = paths.join(workdir, "policy", arm)
    params, info = preference.train_round(kind, t, arm_dir, mesh, rules, graphdef,
                                          base_params, arrays, n, config.train.seed, exclude,
                                          meta={"config": config.to_dict()})
    result = llm_base.cached(paths.join(arm_dir, "eval.json"), key, lambda: evaluate_fn(params))
    out[arm] = {**result, "train": info}
  return out
