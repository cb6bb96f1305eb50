#!/usr/bin/env bash
# SRT fidelity at CPU scale (docs/srt_fidelity.md): one base model, then every arm for 3 RL seeds.
# Every stage is resumable: rerun this script after an interruption and it continues where it
# stopped (finished arms are restored, not retrained). Logs: runs/srt/seed<k>.log.
#   bash scripts/srt_fidelity.sh [ARMS] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ARMS=${1:-ground_truth,srt,srt_pseudo_label,srt_curriculum,srt_online_filter}
SEEDS=${2:-0 1 2}
PY=${PYTHON:-.venv/bin/python}
mkdir -p runs/srt
for seed in $SEEDS; do
  "$PY" -m experiments.main --config experiments/configs/srt.py:testbed \
    --workdir "runs/srt/seed${seed}" --config.seed="${seed}" --config.base.dir=runs/srt/base \
    --config.arms="${ARMS}" 2>&1 | tee -a "runs/srt/seed${seed}.log"
done
"$PY" scripts/srt_report.py runs/srt $SEEDS
