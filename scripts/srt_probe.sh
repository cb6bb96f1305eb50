#!/usr/bin/env bash
# SRT reward-hacking probe (docs/srt_fidelity.md, part b): the same testbed arms at a learning
# rate above the validated one (Adam 1e-4 instead of 3e-5), seed 0, then a figure of the
# self-reward against ground-truth accuracy. Resumable like scripts/srt_fidelity.sh.
#   bash scripts/srt_probe.sh [LR] [ARMS]
set -euo pipefail
cd "$(dirname "$0")/.."
LR=${1:-1e-4}
ARMS=${2:-srt,ground_truth}
PY=${PYTHON:-.venv/bin/python}
DIR=runs/srt/probe_lr${LR}
"$PY" -m experiments.main --config experiments/configs/srt.py:testbed --workdir "$DIR" \
  --config.seed=0 --config.base.dir=runs/srt/base --config.arms="$ARMS" \
  --config.rl.optim.lr="$LR" 2>&1 | tee -a "$DIR.log"
"$PY" - "$DIR" "$ARMS" <<'PY'
import sys
from experiments.plotting import plot_runs
d, arms = sys.argv[1], sys.argv[2].split(",")
print(plot_runs(f"{d}/probe.png", {a: f"{d}/{a}" for a in arms},
                ["{run}/reward", "{run}/gt/accuracy", "{run}_eval/accuracy",
                 "{run}/sc/majority_share", "{run}/sc/correct_label_fraction", "{run}/entropy"],
                title=f"SRT vs ground truth at Adam lr {d.rsplit('lr', 1)[1]} (seed 0)"))
PY
