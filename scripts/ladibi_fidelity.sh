#!/usr/bin/env bash
# LADiBI fidelity at CPU scale (docs/ladibi_fidelity.md): one prior, then each task on the test
# split for 3 restoration seeds, then the report. The prior stage resumes from its checkpoints and
# a finished prior is reused, so rerunning after an interruption continues where it stopped.
#   bash scripts/ladibi_fidelity.sh [TASKS] [SEEDS] [EXTRA_FLAGS]
# Step sizes were chosen on the val split first (docs/ladibi_fidelity.md lists those runs):
#   python -m experiments.main --config experiments/configs/ladibi.py:restore-gaussian-deblur \
#     --workdir runs/ladibi/val/... --config.restore.split=val --config.restore.prior_dir=...
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${1:-gaussian-deblur motion-deblur}
SEEDS=${2:-0 1 2}
EXTRA=${3:-}
PY=${PYTHON:-.venv/bin/python}
PRIOR=runs/ladibi/prior-shapes-cpu
mkdir -p runs/ladibi
if [ ! -f "$PRIOR/results.json" ]; then
  "$PY" -m experiments.main --config experiments/configs/ladibi.py:prior-shapes-cpu \
    --workdir "$PRIOR" 2>&1 | tee -a runs/ladibi/prior.log
fi
for task in $TASKS; do
  for seed in $SEEDS; do
    # shellcheck disable=SC2086
    "$PY" -m experiments.main --config "experiments/configs/ladibi.py:restore-${task}" \
      --workdir "runs/ladibi/${task}/seed${seed}" --config.restore.seed="${seed}" \
      --config.restore.prior_dir="$PRIOR" $EXTRA 2>&1 | tee -a "runs/ladibi/${task}.log"
  done
  "$PY" scripts/ladibi_report.py "runs/ladibi/${task}" $SEEDS
done
