"""PAPRIKA multi-turn collection throughput: 64 concurrent games, ours vs transformers.

  python -m experiments.bench.paprika [--games 64] [--group mastermind] [--turns 4] [--new 48]

Both sides play the same games (terse messages, the byte tokenizer's chat template) with the same
random Llama-style checkpoint (transformers `LlamaForCausalLM`, float32, vocab 259):

  ours          `jaxllm.paprika.collect.play_rounds`: every round, all live games' chats go to one
                `Sampler.generate` call (one prefill, one jitted decode loop for the whole batch)
  transformers  the same `Episode` loop, one game at a time, each turn one
                `generate(do_sample=True, temperature, min_p)` call on that game's chat

A random model never writes `<Answer>` tags, so every reply is unparsable and each game lasts
exactly `--turns` agent replies (max_invalid = turns), and `min_new_tokens = max_new_tokens` on
both sides keeps every reply `--new` tokens long: the work is identical. Reported: agent turns/s
and generated tokens/s; ratio = ours / transformers (target >= 5). The first (compiling) run of
ours is excluded: it is timed over a second set of games after one warm-up collection.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from experiments.bench.common import machine, print_ratios, print_table

ARCH = dict(vocab_size=259, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2)


def episodes(group: str, games: int, turns: int, seed: int):
  from jaxllm.paprika import games as _  # noqa: F401  (registers every group)
  from jaxllm.paprika.games.base import GROUPS
  from jaxllm.paprika.turns import Episode
  spec = GROUPS[group]
  scen = spec.scenarios("train", n=games, seed=seed)
  return [Episode(spec.make(verbose=False), s, terse=True, max_invalid=turns) for s in scen]


def run_ours(model_jax, tok, eps, new: int, max_context: int):
  from jaxllm.paprika.collect import CollectConfig, make_sampler, play_rounds

  class FullLength(CollectConfig):
    def params(self, r):
      import dataclasses
      return dataclasses.replace(super().params(r), stop_token_ids=())

  cfg = FullLength(max_new_tokens=new, max_context=max_context, terse=True)
  sampler = make_sampler(model_jax, tok, cfg)
  t0 = time.perf_counter()
  stats = play_rounds(sampler, tok, eps, cfg)
  return time.perf_counter() - t0, stats


def run_torch(model_torch, tok, eps, new: int):
  import torch
  t0 = time.perf_counter()
  turns = 0
  for ep in eps:
    while not ep.done:
      ids = torch.tensor([tok.apply_chat_template(ep.messages, add_generation_prompt=True,
                                                  tokenize=True)])
      with torch.no_grad():
        out = model_torch.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                   do_sample=True, temperature=1.5, min_p=0.3, top_k=0,
                                   max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
      ep.apply(tok.decode(out[0, ids.shape[1]:].tolist()))
      turns += 1
  return time.perf_counter() - t0, turns


def main(args):
  import torch
  from jaxllm.hf_io import load_hf_model
  from jaxllm.tokenizers import ByteTokenizer
  from experiments.bench.llm import make_checkpoint
  torch.set_num_threads(os.cpu_count() or 1)
  tok = ByteTokenizer()
  with tempfile.TemporaryDirectory() as tmp:
    ckpt = Path(tmp) / "ckpt"
    model_torch = make_checkpoint(ckpt, ARCH)
    model_jax = load_hf_model(ckpt)
  n_params = sum(p.numel() for p in model_torch.parameters())
  run_ours(model_jax, tok, episodes(args.group, args.games, args.turns, 1), args.new,
           args.max_context)                                   # compile
  ours_s, stats = run_ours(model_jax, tok, episodes(args.group, args.games, args.turns, 0),
                           args.new, args.max_context)
  theirs_games = max(1, args.torch_games)
  theirs_s, theirs_turns = run_torch(model_torch, tok,
                                     episodes(args.group, theirs_games, args.turns, 0), args.new)
  ours_tps = stats["agent_turns"] / ours_s
  theirs_tps = theirs_turns / theirs_s
  rows = [[f"agent turns/s ({args.games} concurrent {args.group} games, {args.turns} turns, "
           f"+{args.new} tokens/turn)", ours_tps, theirs_tps, ours_tps / theirs_tps],
          ["generated tokens/s", ours_tps * args.new, theirs_tps * args.new,
           ours_tps / theirs_tps]]
  print_table(f"PAPRIKA collection, {n_params / 1e6:.1f}M-param Llama (float32), "
              f"transformers {__import__('transformers').__version__} one game at a time "
              f"({theirs_games} games timed), {machine()}",
              ["measure", "jaxllm", "transformers", "ratio"], rows)
  print(f"ours: {stats['rounds']} rounds, {stats['generate_s']:.1f}s in generate, "
        f"{stats['env_s']:.2f}s in the games", flush=True)
  print_ratios({"collection_turns_per_s_ours_over_torch": ours_tps / theirs_tps})


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--games", type=int, default=64)
  p.add_argument("--torch-games", type=int, default=8,
                 help="games timed on the transformers side (it is one game at a time, so its "
                      "rate does not depend on how many)")
  p.add_argument("--group", default="mastermind")
  p.add_argument("--turns", type=int, default=4)
  p.add_argument("--new", type=int, default=48)
  p.add_argument("--max-context", type=int, default=1024)
  main(p.parse_args())
