#!/usr/bin/env bash
# Shows the runner's log from one TPU worker or from all of them.
#
#   tpu/logs.sh --name NAME --zone ZONE [--worker 0|N|all] [--lines 100]
#       [--follow] [--log logs/run.log] [--remote-dir DIR] [--project P]
#       [--dry-run]
#
# With --worker all, every line is prefixed with the worker's hostname.
# --follow keeps printing new lines (tail -F) until Ctrl-C.
set -euo pipefail

USAGE="logs.sh --name NAME --zone ZONE [--worker N|all] [--lines N]"
USAGE+=" [--follow] [--log FILE] [--remote-dir DIR] [--project P] [--dry-run]"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKER=0
LINES=100
FOLLOW=0
LOG=logs/run.log

while (($#)); do
  SHIFT=1
  case $1 in
    --worker | --worker=*) take_value WORKER "$@" ;;
    --lines | --lines=*) take_value LINES "$@" ;;
    --follow | -f) FOLLOW=1 ;;
    --log | --log=*) take_value LOG "$@" ;;
    --remote-dir | --remote-dir=*) take_value REMOTE_DIR "$@" ;;
    *) parse_common "$@" || usage_error "unknown argument '$1'" ;;
  esac
  shift "$SHIFT"
done

check_common
check_worker "$WORKER"
require "$LOG" --log
require "$REMOTE_DIR" --remote-dir
if [[ ! $LINES =~ ^[0-9]+$ ]]; then
  usage_error "--lines must be a number, got '$LINES'"
fi

tail_cmd=(tail -n "$LINES")
if ((FOLLOW)); then
  tail_cmd+=(-F)
fi
remote="cd $(shell_quote "$REMOTE_DIR") && $(shell_quote "${tail_cmd[@]}" "$LOG")"
if [[ $WORKER == all ]]; then
  # shellcheck disable=SC2016  # $(hostname) expands on the worker
  remote+=' | sed -u "s/^/[$(hostname)] /"'
fi
tpu_ssh "$WORKER" "$remote"
