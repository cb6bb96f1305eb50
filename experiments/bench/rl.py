"""Online-RL throughput: rollouts with n samples per prompt, ours vs transformers, and one RL step.

  python -m experiments.bench.rl [--prompts 4] [--n 32] [--prompt-len 96] [--new 48] [--repeats 3]

One random Llama-style checkpoint (transformers `LlamaForCausalLM`, float32, the `--small` size
of experiments.bench.llm unless `--arch tiny`) is used by both sides:

  rollouts  P prompts x n samples at temperature 1 with `min_new_tokens = max_new_tokens` so
            neither side stops early: our `Sampler` (each prompt prefilled once, its KV cache
            shared by its n samples, then one jitted while_loop decode) vs transformers'
            `generate(do_sample=True, num_return_sequences=n)` (which expands the prompt n times
            before its prefill). Rollout tokens/s = P * n * new / median wall seconds.
  rl step   one `jaxllm.rl.OnlineRL.step` on the same model: sampling, scoring (a trivial
            reward), reference log-probs, update (KL-shaped RLOO, PPO-clip, Adam), each phase's
            median wall seconds (after a warm-up step that compiles).
Ratio: ours / transformers rollout tokens/s (> 1: we are faster; target >= 2).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.bench.common import median_time, print_ratios, print_table
from experiments.bench.llm import SMALL, make_checkpoint

TINY = dict(vocab_size=512, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2)


def bench_rollouts(model_jax, model_torch, prompts: np.ndarray, n: int, new: int, repeats: int):
  import torch
  from jaxllm.sampling import Sampler, SamplingParams

  sampler = Sampler(model_jax)
  params = SamplingParams(max_new_tokens=new, temperature=1.0, n=n, stop_token_ids=(), seed=0)
  ours = median_time(lambda: sampler.generate(prompts.tolist(), params), repeats=repeats)

  ids = torch.tensor(prompts, dtype=torch.long)

  def theirs_call():
    with torch.no_grad():
      model_torch.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                           temperature=1.0, top_k=0, num_return_sequences=n, max_new_tokens=new,
                           min_new_tokens=new, pad_token_id=0)

  theirs = median_time(theirs_call, repeats=repeats)
  tokens = len(prompts) * n * new
  return tokens / ours, tokens / theirs


def bench_rl_step(model_jax, prompts: np.ndarray, n: int, new: int, repeats: int):
  import jax
  import jax.numpy as jnp
  import optax
  from flax import nnx
  from jaxllm.rl import OnlineRL, PGConfig, Scored
  from jaxllm.sampling import SamplingParams

  graphdef, params = nnx.split(model_jax)
  tx = optax.adam(1e-5)

  def reward_fn(_, rollouts):
    r = np.array([float(t[0] % 2) for t in rollouts.tokens[:, rollouts.prompt_len:]], np.float32)
    return Scored(r, np.ones(len(r), bool))

  rl = OnlineRL(graphdef, params, None, SamplingParams(max_new_tokens=new, temperature=1.0, n=n,
                                                       stop_token_ids=()),
                PGConfig(), tx, reward_fn)
  state = {"params": jax.tree.map(jnp.copy, params), "opt_state": tx.init(params),
           "step": jnp.zeros((), jnp.int32), "rng": jax.random.PRNGKey(0)}
  ids = prompts.tolist()
  phases = {"time/sample_s": [], "time/score_s": [], "time/ref_s": [], "time/update_s": []}
  for i in range(repeats + 1):
    state, m, _, _ = rl.step(state, params, list(range(len(ids))), ids, seed=i)
    if i:
      for k in phases:
        phases[k].append(m[k])
  return {k: statistics.median(v) for k, v in phases.items()}


def main(args):
  import jax
  import torch
  import transformers
  from jaxllm.hf_io import load_hf_model

  torch.set_num_threads(max(1, torch.get_num_threads()))
  arch = TINY if args.arch == "tiny" else SMALL
  with tempfile.TemporaryDirectory() as tmp:
    ckpt = Path(tmp)
    make_checkpoint(ckpt, arch)
    model_torch = transformers.AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True)
    model_torch.eval()
    model_jax = load_hf_model(ckpt)
  rs = np.random.default_rng(0)
  prompts = rs.integers(3, arch["vocab_size"], size=(args.prompts, args.prompt_len))
  ours, theirs = bench_rollouts(model_jax, model_torch, prompts, args.n, args.new, args.repeats)
  rows = [["rollouts (tokens/s)", ours, theirs, ours / theirs]]
  print_table(f"rollouts: {args.prompts} prompts x {args.n} samples, {args.prompt_len}-token "
              f"prompts, {args.new} new tokens, {args.arch} model",
              ["", "jaxllm", "transformers", "ratio"], rows)
  phases = bench_rl_step(model_jax, prompts, args.n, args.new, args.repeats)
  total = sum(phases.values())
  print_table(f"one OnlineRL step ({args.prompts} x {args.n} rollouts): median seconds per phase",
              ["phase", "seconds", "share"],
              [[k.split("/")[1][:-2], v, v / total] for k, v in phases.items()]
              + [["total", total, 1.0]])
  print_ratios({"rollout_tokens_per_s_ours_over_transformers": ours / theirs,
                "rl_step_seconds": total, **{k.split("/")[1]: v for k, v in phases.items()}})
  del jax


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--arch", choices=("small", "tiny"), default="small")
  p.add_argument("--prompts", type=int, default=4)
  p.add_argument("--n", type=int, default=32)
  p.add_argument("--prompt-len", type=int, default=96)
  p.add_argument("--new", type=int, default=48)
  p.add_argument("--repeats", type=int, default=3)
  main(p.parse_args())
