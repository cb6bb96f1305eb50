# shellcheck shell=bash disable=SC2034  # globals used by the sourcing script
# Shared helpers for tpu/*.sh: flag parsing, shell quoting and --dry-run.
#
# Sourced by each script after it sets USAGE (one line, without "usage: ").
# Flags common to every script: --name, --zone, --project, --dry-run, --help.
# With --dry-run, run_or_print prints each command, shell-quoted, one per line
# on stdout and runs nothing; progress notes always go to stderr.

DRY_RUN=0
NAME=""
ZONE=""
PROJECT=""
REMOTE_DIR="jaxresearch"  # on each worker, relative to $HOME unless absolute
SHIFT=1
SCRIPT_NAME=$(basename "$0")
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Prints one line to stderr and exits 2 (bad command line).
usage_error() {
  printf '%s: %s (usage: %s)\n' "$SCRIPT_NAME" "$1" "$USAGE" >&2
  exit 2
}

# Prints one line to stderr and exits 1 (environment problem).
die() {
  printf '%s: %s\n' "$SCRIPT_NAME" "$1" >&2
  exit 1
}

note() {
  printf '%s: %s\n' "$SCRIPT_NAME" "$1" >&2
}

# take_value VAR "$@": reads `--flag=value` or `--flag value` into VAR and
# sets SHIFT to the number of arguments used.
take_value() {
  local var=$1
  shift
  if [[ $1 == *=* ]]; then
    printf -v "$var" '%s' "${1#*=}"
    SHIFT=1
  elif (($# >= 2)) && [[ $2 != --* ]]; then
    printf -v "$var" '%s' "$2"
    SHIFT=2
  else
    usage_error "$1 needs a value"
  fi
}

# parse_common "$@": handles a flag every script accepts; returns 1 otherwise.
parse_common() {
  SHIFT=1
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --name | --name=*) take_value NAME "$@" ;;
    --zone | --zone=*) take_value ZONE "$@" ;;
    --project | --project=*) take_value PROJECT "$@" ;;
    -h | --help)
      printf 'usage: %s\n' "$USAGE"
      printf 'See tpu/README.md for what each flag means.\n'
      exit 0
      ;;
    *) return 1 ;;
  esac
}

# require VALUE FLAG: usage error naming FLAG when VALUE is empty.
require() {
  if [[ -z $1 ]]; then
    usage_error "missing $2"
  fi
}

# shell_quote ARG...: the arguments as one line a POSIX shell reads back
# verbatim (plain words bare, anything else in single quotes).
shell_quote() {
  local arg out="" sep="" safe='^[A-Za-z0-9_@%+=:,./-]+$' q="'\\''"
  for arg in "$@"; do
    if [[ $arg =~ $safe ]]; then
      out+="$sep$arg"
    else
      out+="$sep'${arg//\'/$q}'"
    fi
    sep=" "
  done
  printf '%s' "$out"
}

# join_steps STATEMENT...: one shell line, the statements joined by "; ".
join_steps() {
  local out=$1
  shift
  for step in "$@"; do
    out+="; $step"
  done
  printf '%s' "$out"
}

# run_or_print CMD ARG...: prints the command (dry run) or echoes it to
# stderr with a "+ " prefix and runs it.
run_or_print() {
  if ((DRY_RUN)); then
    printf '%s\n' "$(shell_quote "$@")"
    return 0
  fi
  printf '+ %s\n' "$(shell_quote "$@")" >&2
  "$@"
}

# check_common: validates the shared flags; fails early without gcloud.
check_common() {
  require "$NAME" --name
  require "$ZONE" --zone
  if ((!DRY_RUN)) && ! command -v gcloud >/dev/null 2>&1; then
    die "gcloud not found; install the Google Cloud CLI (or pass --dry-run)"
  fi
}

# location_flags: prints nothing; fills the LOCATION array (--zone, --project).
location_flags() {
  LOCATION=("--zone=$ZONE")
  if [[ -n $PROJECT ]]; then
    LOCATION+=("--project=$PROJECT")
  fi
}

# tpu_ssh WORKER REMOTE_COMMAND: runs a shell command on TPU workers.
tpu_ssh() {
  location_flags
  run_or_print gcloud compute tpus tpu-vm ssh "$NAME" "${LOCATION[@]}" \
    "--worker=$1" "--command=$2"
}

# check_worker VALUE: "all" or a worker number.
check_worker() {
  if [[ $1 != all && ! $1 =~ ^[0-9]+$ ]]; then
    usage_error "--worker must be 'all' or a worker number, got '$1'"
  fi
}
