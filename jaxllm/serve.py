"""OpenAI-compatible HTTP server for a local Hugging Face checkpoint, with request batching.

    python -m jaxllm.serve --model /path/to/Qwen2.5-0.5B-Instruct --port 8000
    curl localhost:8000/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "Qwen2.5-0.5B-Instruct", "messages": [{"role": "user", "content": "hi"}]}'

Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models (and /health, /stats).
Concurrent requests are collected for --batch-wait-ms (up to --max-batch sequences) by a single
worker thread and run as few `Sampler.generate` calls as their sampling settings allow; see
jaxllm/serving/ for the details. `--port 0` picks a free port; the first line printed to stdout is
`jaxllm.serve listening on http://HOST:PORT`.

The tokenizer comes from the model directory (tokenizer.json / tokenizer_config.json with a chat
template); `--tokenizer byte` uses jaxllm.tokenizers.ByteTokenizer instead (tiny test models).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from aiohttp import web


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
  p = argparse.ArgumentParser(prog="python -m jaxllm.serve", description=__doc__.split("\n")[0])
  p.add_argument("--model", required=True, help="local Hugging Face model directory")
  p.add_argument("--host", default="127.0.0.1")
  p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
  p.add_argument("--served-model-name", default=None,
                 help="the model id clients must send (default: the directory name)")
  p.add_argument("--tokenizer", default=None,
                 help="tokenizer directory (default: --model), or 'byte' for ByteTokenizer")
  p.add_argument("--dtype", default="float32", help="compute dtype, e.g. bfloat16")
  p.add_argument("--max-batch", type=int, default=16, help="most sequences per generate call")
  p.add_argument("--batch-wait-ms", type=float, default=5.0,
                 help="how long to collect requests after the first one arrives")
  p.add_argument("--cache-size", type=int, default=None,
                 help="KV-cache slots per sequence (default: min(context length, 4096))")
  p.add_argument("--prompt-bucket", type=int, default=64,
                 help="prompts are padded to this times a power of two")
  p.add_argument("--max-new-tokens-limit", type=int, default=4096,
                 help="largest max_tokens a request may ask for")
  p.add_argument("--default-max-tokens", type=int, default=256,
                 help="max_tokens of chat requests that give none")
  p.add_argument("--fixed-batch", action="store_true",
                 help="pad every generate call to --max-batch rows (fewer compilations)")
  p.add_argument("--max-queue", type=int, default=4096, help="queued requests before 503s")
  p.add_argument("--warmup", action="store_true", help="compile one request before serving")
  p.add_argument("--log-level", default="WARNING")
  args = p.parse_args(argv)
  if args.max_batch < 1 or args.batch_wait_ms < 0 or args.prompt_bucket < 1:
    p.error("--max-batch and --prompt-bucket must be positive, --batch-wait-ms >= 0.")
  return args


def load_tokenizer_for(args: argparse.Namespace) -> Any:
  from jaxllm.tokenizers import ByteTokenizer, load_tokenizer

  if args.tokenizer == "byte":
    return ByteTokenizer()
  return load_tokenizer(args.tokenizer or args.model)


def build(args: argparse.Namespace) -> web.Application:
  """Loads the model and tokenizer and returns the (not yet started) app."""
  from jaxllm.hf_io import load_hf_model
  from jaxllm.sampling import Sampler
  from jaxllm.serving import Batcher, build_app

  model = load_hf_model(args.model, dtype=args.dtype)
  tokenizer = load_tokenizer_for(args)
  from jaxllm.sampling import vocab_mismatch
  mismatch = vocab_mismatch(tokenizer, model.cfg.vocab_size)
  if mismatch:
    print(f"[jaxllm.serve] warning: {args.model}: {mismatch}", file=sys.stderr, flush=True)
  cache_size = args.cache_size or min(model.cfg.max_position_embeddings, 4096)
  if cache_size <= args.prompt_bucket:
    raise SystemExit(f"--cache-size {cache_size} must be larger than --prompt-bucket "
                     f"{args.prompt_bucket}.")
  sampler = Sampler(model, tokenizer, cache_size=cache_size, prompt_bucket=args.prompt_bucket)
  batcher = Batcher(sampler, max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                    max_queue=args.max_queue, fixed_rows=args.fixed_batch)
  if args.warmup:
    from jaxllm.sampling import SamplingParams
    sampler.generate([tokenizer.encode("warm up")], SamplingParams(max_new_tokens=2,
                                                                   temperature=0.0))
  name = args.served_model_name or Path(args.model).resolve().name
  return build_app(batcher, model_name=name, max_new_tokens_limit=args.max_new_tokens_limit,
                   default_max_tokens=args.default_max_tokens)


async def serve(app: web.Application, host: str, port: int) -> None:
  """Runs until SIGINT/SIGTERM."""
  runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
  await runner.setup()
  site = web.TCPSite(runner, host, port)
  await site.start()
  bound = runner.addresses[0][1]
  print(f"jaxllm.serve listening on http://{host}:{bound}", flush=True)
  done = asyncio.Event()
  loop = asyncio.get_running_loop()
  for sig in (signal.SIGINT, signal.SIGTERM):
    loop.add_signal_handler(sig, done.set)
  try:
    await done.wait()
  finally:
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  app = build(args)
  asyncio.run(serve(app, args.host, args.port))
  return 0


if __name__ == "__main__":
  sys.exit(main())
