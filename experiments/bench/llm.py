"""jaxllm vs transformers/PyTorch on one Llama-style model: decode, SFT training, checkpoint load.

  python -m experiments.bench.llm [--small] [--repeats 3]

One random checkpoint (transformers `LlamaForCausalLM`, float32, saved as safetensors to a temp
dir) is used by both sides, so weights, shapes and prompts are identical:

  decode   greedy generation of `--new` tokens for `--batch` prompts of `--prompt` random tokens:
           our `Sampler` (jitted prefill + while_loop decode with a KV cache) vs transformers'
           `generate` (do_sample=False, KV cache, min_new_tokens so neither side stops early);
           tokens/s = batch * new / median wall seconds (after a warm-up call that compiles)
  train    one SFT update on `--train-batch` x `--seq` tokens: our jitted
           `make_train_step(sft_loss, adamw)` vs a PyTorch step (forward with labels, backward,
           clip_grad_norm_, AdamW.step); tokens/s from the median step time after warm-up
  load     peak host memory while loading the checkpoint, each side in a fresh subprocess:
           growth of the peak RSS (VmHWM = ru_maxrss, reset to the current RSS after the imports
           via /proc/self/clear_refs, since import-time peaks would hide a small load) across
           `load_hf_model` (and transformers' `from_pretrained`, for reference) divided by the
           checkpoint's size on disk

Model: ~100M parameters (vocab 32000, hidden 768, 8 layers, 12 heads / 4 KV heads, MLP 2048,
untied) or `--small` (~19M: vocab 8192, hidden 384, 8 layers, 6 / 2 heads, MLP 1024).
Ratios: ours / transformers for throughputs (> 1: we are faster); for memory, our peak growth /
checkpoint size (1.0 = one copy of the weights).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.bench.common import median_time, print_ratios, print_table

FULL = dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
            num_attention_heads=12, num_key_value_heads=4)
SMALL = dict(vocab_size=8192, hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
             num_attention_heads=6, num_key_value_heads=2)

_LOAD_CHILD = r"""
import json, resource, sys, time
which, path = sys.argv[1], sys.argv[2]

def status(key):
  for line in open("/proc/self/status"):
    if line.startswith(key + ":"):
      return int(line.split()[1]) * 1024
  return None

def reset_peak():
  # Imports peak above what a small load adds, so the peak (VmHWM, what ru_maxrss reports) is
  # reset to the current RSS first; without /proc (not Linux) fall back to ru_maxrss.
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return status("VmRSS"), "VmHWM"
  except OSError:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, None

if which == "jax":
  import jax
  from flax import nnx
  from jaxllm.hf_io import load_hf_model
  jax.block_until_ready(jax.numpy.zeros(1))
  before, key = reset_peak()
  t0 = time.perf_counter()
  model = load_hf_model(path)
  jax.block_until_ready(jax.tree.leaves(nnx.state(model)))
else:
  import torch, transformers
  before, key = reset_peak()
  t0 = time.perf_counter()
  model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                            dtype=torch.float32)
seconds = time.perf_counter() - t0
after = status(key) if key else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"growth_bytes": after - before, "seconds": seconds}))
"""


def make_checkpoint(directory: Path, arch: dict, seed: int = 0):
  import torch
  import transformers
  torch.manual_seed(seed)
  config = transformers.LlamaConfig(**arch, max_position_embeddings=2048, rms_norm_eps=1e-6,
                                    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                                    pad_token_id=0)
  model = transformers.LlamaForCausalLM(config).float()
  model.save_pretrained(directory)
  return model


def checkpoint_bytes(directory: Path) -> int:
  return sum(f.stat().st_size for f in directory.glob("*.safetensors"))


# ---------------------------------------------------------------------------------------------
# decode
# ---------------------------------------------------------------------------------------------
def bench_decode(model_jax, model_torch, prompts: np.ndarray, new: int, repeats: int):
  import torch
  from jaxllm.sampling import Sampler, SamplingParams
  sampler = Sampler(model_jax)
  params = SamplingParams(max_new_tokens=new, temperature=0.0, stop_token_ids=())
  rows = [list(map(int, p)) for p in prompts]
  ours_out = []
  ours = median_time(lambda: ours_out.append(sampler.generate(rows, params)), repeats=repeats)
  ids = torch.from_numpy(prompts.astype(np.int64))
  mask = torch.ones_like(ids)
  model_torch.eval()
  theirs_out = []

  def generate():
    with torch.no_grad():
      theirs_out.append(model_torch.generate(
          input_ids=ids, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
          do_sample=False, pad_token_id=0, eos_token_id=None))

  theirs = median_time(generate, repeats=repeats)
  ours_tokens = np.array([c.tokens for c in ours_out[-1]])
  theirs_tokens = theirs_out[-1][:, prompts.shape[1]:].numpy()
  agree = float((ours_tokens == theirs_tokens).mean())
  return ours, theirs, agree


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def bench_train(model_jax, model_torch, tokens: np.ndarray, repeats: int):
  import jax
  import jax.numpy as jnp
  import optax
  import torch
  from flax import nnx
  from jaxllm import train
  graphdef, params = nnx.split(model_jax)
  tx = optax.adamw(1e-4, weight_decay=0.0)
  loss_fn = functools.partial(train.sft_loss, logits_fn=train.nnx_logits_fn(graphdef))
  step = jax.jit(train.make_train_step(loss_fn, tx, max_grad_norm=1.0), donate_argnums=0)
  state = jax.jit(lambda p: train.init_train_state(p, tx))(params)
  batch = {"tokens": jnp.asarray(tokens), "attention_mask": jnp.ones(tokens.shape, bool),
           "loss_mask": jnp.ones(tokens.shape, bool)}

  def ours_step():
    nonlocal state
    state, m = step(state, batch)
    jax.block_until_ready(m["loss"])

  ours = median_time(ours_step, repeats=repeats)
  del state
  model_torch.train()
  opt = torch.optim.AdamW(model_torch.parameters(), lr=1e-4, weight_decay=0.0)
  ids = torch.from_numpy(tokens.astype(np.int64))

  def theirs_step():
    out = model_torch(input_ids=ids, labels=ids)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model_torch.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)

  theirs = median_time(theirs_step, repeats=repeats)
  return ours, theirs


# ---------------------------------------------------------------------------------------------
# checkpoint loading memory
# ---------------------------------------------------------------------------------------------
def bench_load(directory: Path) -> tuple[dict, dict]:
  root = Path(__file__).resolve().parents[2]
  env = {**os.environ, "PYTHONPATH": str(root)}
  out = []
  for which in ("jax", "torch"):
    res = subprocess.run([sys.executable, "-c", _LOAD_CHILD, which, str(directory)], env=env,
                         capture_output=True, text=True, cwd=root, timeout=600)
    if res.returncode:
      raise RuntimeError(f"{which} load child failed:\n{res.stderr[-2000:]}")
    out.append(json.loads(res.stdout.strip().splitlines()[-1]))
  return out[0], out[1]


def main(args):
  import jax
  import torch
  from jaxllm.hf_io import load_hf_model
  torch.set_num_threads(os.cpu_count() or 1)
  arch = SMALL if args.small else FULL
  rs = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as tmp:
    ckpt = Path(tmp) / "ckpt"
    t0 = time.perf_counter()
    model_torch = make_checkpoint(ckpt, arch)
    size = checkpoint_bytes(ckpt)
    n_params = sum(p.numel() for p in model_torch.parameters())
    print(f"checkpoint: {n_params / 1e6:.1f}M params, {size / 2**20:.0f} MiB "
          f"({time.perf_counter() - t0:.0f}s)", flush=True)
    mem_ours, mem_torch = bench_load(ckpt)
    print(f"load: ours +{mem_ours['growth_bytes'] / 2**20:.0f} MiB, transformers "
          f"+{mem_torch['growth_bytes'] / 2**20:.0f} MiB", flush=True)
    model_jax = load_hf_model(ckpt)
    prompts = rs.integers(3, arch["vocab_size"], (args.batch, args.prompt))
    dec_ours, dec_theirs, agree = bench_decode(model_jax, model_torch, prompts, args.new,
                                               args.repeats)
    print(f"decode: ours {dec_ours:.2f}s, transformers {dec_theirs:.2f}s", flush=True)
    tokens = rs.integers(3, arch["vocab_size"], (args.train_batch, args.seq)).astype(np.int32)
    tr_ours, tr_theirs = bench_train(model_jax, model_torch, tokens, args.repeats)

  n_dec = args.batch * args.new
  n_tr = args.train_batch * args.seq
  rows = [
      [f"decode tokens/s (greedy, batch {args.batch}, prompt {args.prompt}, +{args.new})",
       n_dec / dec_ours, n_dec / dec_theirs, dec_theirs / dec_ours],
      [f"SFT train tokens/s (batch {args.train_batch} x {args.seq}, AdamW)",
       n_tr / tr_ours, n_tr / tr_theirs, tr_theirs / tr_ours],
      [f"load peak RSS growth / checkpoint size ({size / 2**20:.0f} MiB)",
       mem_ours["growth_bytes"] / size, mem_torch["growth_bytes"] / size,
       mem_ours["growth_bytes"] / max(mem_torch["growth_bytes"], 1)],
  ]
  print_table(f"jaxllm vs transformers {__import__('transformers').__version__} / torch "
              f"{torch.__version__} ({n_params / 1e6:.0f}M-param Llama, float32, "
              f"{torch.get_num_threads()} torch threads, {args.repeats} repeats; greedy tokens "
              f"agree {100 * agree:.0f}%)", ["measure", "jaxllm", "transformers", "ratio"], rows)
  print_ratios({"decode_tokens_per_s_ours_over_torch": dec_theirs / dec_ours,
                "train_tokens_per_s_ours_over_torch": tr_theirs / tr_ours,
                "load_peak_rss_over_checkpoint_ours": mem_ours["growth_bytes"] / size,
                "load_peak_rss_over_checkpoint_torch": mem_torch["growth_bytes"] / size,
                "params_millions": round(n_params / 1e6, 1), "jax_devices": jax.device_count()})


if __name__ == "__main__":
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--small", action="store_true", help="~19M-parameter model instead of ~100M")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--batch", type=int, default=4, help="decode prompts")
  p.add_argument("--prompt", type=int, default=32, help="prompt tokens")
  p.add_argument("--new", type=int, default=64, help="generated tokens per prompt")
  p.add_argument("--train-batch", type=int, default=4)
  p.add_argument("--seq", type=int, default=256)
  main(p.parse_args())
