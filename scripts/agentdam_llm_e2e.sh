#!/usr/bin/env bash
# AgentDAM's LLM path end to end against a real server (docs/agentdam_llm_path.md): a tiny
# randomly initialised byte-tokenizer model is written with jaxllm.hf_io.save_hf_model, served by
# `python -m jaxllm.serve` (port 0, the address read from its first stdout line), and the runner's
# llm and llm-mitigated presets run one task per intent type against it, the LLM privacy judge on
# the same server. Then the minimal and leaky oracles run on the two forum intents with that judge,
# since an untrained model writes no parsable action and so gives the judge nothing to read, and
# `python -m jaxllm.agentdam.rewrite` asks the same server for 4 new contexts.
# The point is that serving + agent + judge run; an untrained model scores utility 0 and its
# replies fail to parse (the episodes end as agent errors, reported in the results).
#   bash scripts/agentdam_llm_e2e.sh [DIR]            # default DIR: runs/agentdam/llm_e2e
# Knobs (environment): PYTHON, OBS_CHARS (agent.max_obs_chars, 1200), AGENT_RETRIES (agent
# re-asks after a parse failure, 1), CACHE (KV-cache slots, 6656) and BUCKET (prompt bucket, 768):
# byte prompts are ~2.3k + OBS_CHARS tokens (+1.9k with the privacy section), padded to
# BUCKET * 2^k, and the cache must hold the bucket plus the judge's 512 new tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DIR=${1:-runs/agentdam/llm_e2e}
OBS_CHARS=${OBS_CHARS:-1200}
AGENT_RETRIES=${AGENT_RETRIES:-1}
CACHE=${CACHE:-6656}
BUCKET=${BUCKET:-768}
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
export PYTHONUNBUFFERED=1
START=$SECONDS
rm -rf "$DIR"
mkdir -p "$DIR"

"$PY" - "$DIR/model" "$CACHE" <<'PY'
import sys

from flax import nnx

from jaxllm.hf_io import save_hf_model
from jaxllm.models import ModelConfig, Transformer
from jaxllm.tokenizers import ByteTokenizer

tok = ByteTokenizer()
cfg = ModelConfig(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_layers=2,
                  num_heads=4, num_kv_heads=2, head_dim=16,
                  max_position_embeddings=int(sys.argv[2]), tie_word_embeddings=True,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
path = save_hf_model(Transformer(cfg, rngs=nnx.Rngs(0)), sys.argv[1])
print(f"model (random init, not trained): {cfg}\nwritten to {path}")
PY

: >"$DIR/serve.out"
"$PY" -m jaxllm.serve --model "$DIR/model" --port 0 --tokenizer byte \
  --served-model-name tiny-random --cache-size "$CACHE" --prompt-bucket "$BUCKET" \
  --max-batch 4 --batch-wait-ms 50 --max-new-tokens-limit 512 >"$DIR/serve.out" 2>"$DIR/serve.err" &
SERVER=$!
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT
for _ in $(seq 180); do
  grep -q "listening on" "$DIR/serve.out" && break
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "jaxllm.serve exited:" >&2
    cat "$DIR/serve.err" >&2
    exit 1
  fi
  sleep 1
done
URL="$(awk '/listening on/ {print $NF; exit}' "$DIR/serve.out")"
if [ -z "$URL" ]; then
  echo "jaxllm.serve did not start in 180 s" >&2
  cat "$DIR/serve.err" >&2
  exit 1
fi
echo "server: $URL (pid $SERVER), ready after $((SECONDS - START)) s"

COMMON=(--config.per_intent=1 --config.max_steps=3 --config.agent.max_tokens=64
        "--config.agent.base_url=$URL/v1" --config.agent.model=tiny-random
        "--config.agent.max_obs_chars=$OBS_CHARS" "--config.agent.max_retries=$AGENT_RETRIES"
        "--config.judge.base_url=$URL/v1" --config.judge.model=tiny-random
        --config.agent.request_timeout_s=900 --config.timeouts.agent_s=1800
        --config.timeouts.episode_s=3600)
for PRESET in llm llm-mitigated; do
  T=$SECONDS
  "$PY" -m experiments.main --config "experiments/configs/agentdam.py:$PRESET" \
    --workdir "$DIR/$PRESET" "${COMMON[@]}" 2>&1 | tee "$DIR/$PRESET.log"
  echo "$PRESET: $((SECONDS - T)) s"
done
T=$SECONDS
"$PY" -m experiments.main --config experiments/configs/agentdam.py:oracle --workdir "$DIR/oracles" \
  --config.agents=minimal,leaky --config.per_intent=1 "--config.tasks=agentdam.forum.*" \
  --config.num_workers=2 \
  "--config.judge.base_url=$URL/v1" --config.judge.model=tiny-random \
  --config.timeouts.episode_s=3600 2>&1 | tee "$DIR/oracles.log"
echo "oracles + LLM judge: $((SECONDS - T)) s"
T=$SECONDS
"$PY" -m jaxllm.agentdam.rewrite --base_url "$URL/v1" --model tiny-random --out "$DIR/rewritten" \
  --limit 4 --workers 4 --max_tokens 256 2>&1 | tee "$DIR/rewrite.log"
echo "rewrite of 4 contexts: $((SECONDS - T)) s"

"$PY" - "$DIR" "$URL" <<'PY'
import collections
import glob
import json
import os
import sys
import urllib.request

d, url = sys.argv[1], sys.argv[2]
for name in ("llm", "llm-mitigated", "oracles"):
  out = json.load(open(os.path.join(d, name, "results.json")))
  kinds = collections.Counter(e.split(":", 1)[0] for e in out["errors"].values())
  unparsable = sum("no valid action" in e for e in out["errors"].values())
  steps = sum("action" in json.loads(line) for path in glob.glob(
    os.path.join(d, name, "episodes", "*", "*", "seed*", "steps.jsonl")) for line in open(path))
  print(f"{name}: episodes {out['episodes']}, utility {out['utility']}, leakage {out['leakage']}, "
        f"errored {dict(kinds)} ({unparsable} ended on unparsable replies), steps taken {steps}, "
        f"judge agreement {out.get('judge_agreement')}")
  for key, err in list(out["errors"].items())[:2]:
    print(f"  e.g. {key}: {err[:300]}")
try:
  print("server stats:", json.loads(urllib.request.urlopen(url + "/stats", timeout=30).read()))
except OSError as e:
  print(f"server stats: unavailable ({e})")
PY
echo "total wall time: $((SECONDS - START)) s"
