#!/usr/bin/env bash
# Starts the experiment runner on every TPU worker, in the background.
#
#   tpu/launch.sh --name NAME --zone ZONE \
#       --config experiments/configs/NAME.py:PRESET --workdir gs://BUCKET/run \
#       [--config.key=value ...] [--env KEY=VALUE ...] [--log FILE] [--restart]
#       [--remote-dir DIR] [--worker all|N] [--project P] [--dry-run]
#       [-- MORE_RUNNER_FLAGS...]
#
# Each worker runs `.venv/bin/python -m experiments.main ...` under nohup in
# DIR (see install.sh), appending to its own DIR/LOG (default logs/run.log)
# and writing the pid to LOG.pid. A worker whose previous run is still alive
# refuses to start unless --restart, which stops that run first (SIGTERM,
# then SIGKILL after 60 s). The workdir must be one path every worker sees.
set -euo pipefail

USAGE="launch.sh --name NAME --zone ZONE --config CONFIG --workdir DIR"
USAGE+=" [--config.KEY=VALUE ...] [--env KEY=VALUE ...] [--log FILE]"
USAGE+=" [--restart] [--remote-dir DIR] [--worker all|N] [--project P]"
USAGE+=" [--dry-run] [-- RUNNER_FLAGS...]"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONFIG=""
WORKDIR=""
LOG=logs/run.log
RESTART=0
WORKER=all
value=""
ENVS=()
RUNNER_FLAGS=()

while (($#)); do
  SHIFT=1
  case $1 in
    --config | --config=*) take_value CONFIG "$@" ;;
    --workdir | --workdir=*) take_value WORKDIR "$@" ;;
    --config.*=*) RUNNER_FLAGS+=("$1") ;;
    --config.*) usage_error "write $1=VALUE (one argument)" ;;
    --env | --env=*)
      take_value value "$@"
      [[ $value =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "--env takes KEY=VALUE, got '$value'"
      ENVS+=("$value")
      ;;
    --log | --log=*) take_value LOG "$@" ;;
    --restart) RESTART=1 ;;
    --remote-dir | --remote-dir=*) take_value REMOTE_DIR "$@" ;;
    --worker | --worker=*) take_value WORKER "$@" ;;
    --)
      shift
      RUNNER_FLAGS+=("$@")
      break
      ;;
    *) parse_common "$@" || usage_error "unknown argument '$1' (runner flags go after --)" ;;
  esac
  shift "$SHIFT"
done

for arg in "${RUNNER_FLAGS[@]}"; do
  if [[ $arg == --dry-run ]]; then
    usage_error "--dry-run after -- would be passed on; put it before --"
  fi
done
check_common
require "$CONFIG" --config
require "$WORKDIR" --workdir
require "$LOG" --log
require "$REMOTE_DIR" --remote-dir
check_worker "$WORKER"
if [[ $WORKDIR != gs://* && $WORKDIR != /* ]]; then
  note "workdir '$WORKDIR' is relative: each worker would write its own copy; use gs://... or a shared mount"
fi

log=$(shell_quote "$LOG")
pid=$(shell_quote "$LOG.pid")
cmd=(.venv/bin/python -m experiments.main "--config=$CONFIG" "--workdir=$WORKDIR"
  "${RUNNER_FLAGS[@]}")
# Every worker joins one jax.distributed job (experiments/runtime/platform.py).
cmd=(env JAXRESEARCH_DISTRIBUTED=1 "${ENVS[@]}" "${cmd[@]}")
runner=$(shell_quote "${cmd[@]}")

# The worker-side script, one statement per entry ($ expands on the worker).
# A pid counts as the old run only while its command line names the runner
# (a recycled pid after a reboot, a zombie, or this shell, does not).
# shellcheck disable=SC2016
alive='alive() { [ -n "$old" ] && [ "$old" != "$$" ] && grep -qa experiments.main "/proc/$old/cmdline" 2>/dev/null; }'
if ((RESTART)); then
  # shellcheck disable=SC2016
  on_alive='kill "$old" || true; for _ in $(seq 60); do alive || break; sleep 1; done; if alive; then kill -9 "$old" || true; fi'
else
  # shellcheck disable=SC2016
  on_alive='echo "$(hostname): run $old still alive; pass --restart to stop it" >&2; exit 1'
fi
# shellcheck disable=SC2016
steps=(
  "set -euo pipefail"
  "cd $(shell_quote "$REMOTE_DIR")"
  "mkdir -p \"\$(dirname $log)\""
  "old=\$(cat $pid 2>/dev/null || true)"
  "$alive"
  "if alive; then $on_alive; fi"
  'echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) launch on $(hostname)" >> '"$log"
  "nohup $runner >> $log 2>&1 < /dev/null & echo \$! > $pid"
  'echo "$(hostname): started pid $(cat '"$pid"'), log:" '"$log"
)
tpu_ssh "$WORKER" "$(join_steps "${steps[@]}")"
