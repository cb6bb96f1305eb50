#!/usr/bin/env bash
# The val-split runs that chose LADiBI's sampler settings (docs/ladibi_fidelity.md): 16 val
# images per setting, the prior of scripts/ladibi_fidelity.sh. Never the test split.
#   bash scripts/ladibi_val_sweep.sh TASK NAME "FLAGS" [NAME "FLAGS" ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
TASK=$1; shift
while [ $# -ge 2 ]; do
  name=$1; flags=$2; shift 2
  # shellcheck disable=SC2086
  "$PY" -m experiments.main --config "experiments/configs/ladibi.py:restore-${TASK}" \
    --workdir "runs/ladibi/val/${TASK}/${name}" --config.restore.split=val \
    --config.restore.num_images=16 --config.restore.prior_dir=runs/ladibi/prior-shapes-cpu \
    --config.restore.methods=degraded,ladibi,nonblind $flags 2>&1 \
    | grep -v Warn | tee -a "runs/ladibi/val/${TASK}.log"
done
