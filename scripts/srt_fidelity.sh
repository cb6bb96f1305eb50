#!/usr/bin/env bash
# SRT fidelity at CPU scale (docs/srt_fidelity.md): one base model, then every arm for 3 RL seeds.
# Every stage is resumable: rerun this script after an interruption and it continues where it
# stopped (finished arms are restored, not retrained). Logs: runs/srt/seed<k>.log.
#   bash scripts/srt_fidelity.sh [ARMS] [SEEDS] [EXTRA_FLAGS]
# Two copies with disjoint ARMS can run side by side (2 cores: one stream each); a final pass
# with all arms then writes each seed's results.json from the finished arms.
set -euo pipefail
cd "$(dirname "$0")/.."
ARMS=${1:-ground_truth,srt,srt_pseudo_label,srt_curriculum}
SEEDS=${2:-0 1 2}
EXTRA=${3:-}
PY=${PYTHON:-.venv/bin/python}
mkdir -p runs/srt
for seed in $SEEDS; do
  # shellcheck disable=SC2086
  "$PY" -m experiments.main --config experiments/configs/srt.py:testbed \
    --workdir "runs/srt/seed${seed}" --config.seed="${seed}" --config.base.dir=runs/srt/base \
    --config.arms="${ARMS}" $EXTRA 2>&1 | tee -a "runs/srt/seed${seed}.log"
done
"$PY" scripts/srt_report.py runs/srt $SEEDS
