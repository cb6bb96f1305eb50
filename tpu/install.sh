#!/usr/bin/env bash
# Puts this repository on every TPU worker and installs it with jax[tpu].
#
#   tpu/install.sh --name NAME --zone ZONE [--ref REF] [--git-url URL]
#       [--extras llm,web] [--python 3.11] [--remote-dir DIR] [--worker all|N]
#       [--project P] [--dry-run]
#
# Without --git-url: `git archive` of REF (default HEAD: committed files only)
# from this checkout is copied to the workers with scp. With --git-url: each
# worker fetches REF from that URL itself. Either way DIR (default
# ~/jaxresearch) is replaced except its .venv and logs, then uv makes
# DIR/.venv with Python 3.11+ (TPU images ship 3.10) and installs
# `-e .[EXTRAS]` plus `jax[tpu]` into it.
set -euo pipefail

USAGE="install.sh --name NAME --zone ZONE [--ref REF] [--git-url URL]"
USAGE+=" [--extras LIST] [--python VERSION] [--remote-dir DIR] [--worker all|N]"
USAGE+=" [--project P] [--dry-run]"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

REF=HEAD
GIT_URL=""
EXTRAS=""
PYTHON_VERSION=3.11
WORKER=all

while (($#)); do
  SHIFT=1
  case $1 in
    --ref | --ref=*) take_value REF "$@" ;;
    --git-url | --git-url=*) take_value GIT_URL "$@" ;;
    --extras | --extras=*) take_value EXTRAS "$@" ;;
    --python | --python=*) take_value PYTHON_VERSION "$@" ;;
    --remote-dir | --remote-dir=*) take_value REMOTE_DIR "$@" ;;
    --worker | --worker=*) take_value WORKER "$@" ;;
    *) parse_common "$@" || usage_error "unknown argument '$1'" ;;
  esac
  shift "$SHIFT"
done

check_common
require "$REF" --ref
require "$REMOTE_DIR" --remote-dir
check_worker "$WORKER"
if [[ -n $EXTRAS && ! $EXTRAS =~ ^[A-Za-z0-9_,-]+$ ]]; then
  usage_error "--extras is a comma-separated list such as llm,web, got '$EXTRAS'"
fi
location_flags

dir=$(shell_quote "$REMOTE_DIR")
package=.
if [[ -n $EXTRAS ]]; then
  package=".[$EXTRAS]"
fi

# Step 1 on each worker: DIR holds REF (previous .venv and logs are kept).
if [[ -z $GIT_URL ]]; then
  tarball="${TMPDIR:-/tmp}/$NAME-jaxresearch.tar.gz"
  remote_tar=$(shell_quote "$(basename "$REMOTE_DIR").tar.gz")
  if ((!DRY_RUN)); then
    trap 'rm -f "$tarball"' EXIT
    if [[ -n $(git -C "$REPO_ROOT" status --porcelain --untracked-files=no) ]]; then
      note "uncommitted changes are not copied (git archive $REF); commit them or pass --ref \"\$(git stash create)\""
    fi
  fi
  run_or_print git -C "$REPO_ROOT" archive --format=tar.gz "--output=$tarball" "$REF"
  run_or_print gcloud compute tpus tpu-vm scp "$tarball" "$NAME:$(basename "$REMOTE_DIR").tar.gz" \
    "${LOCATION[@]}" "--worker=$WORKER"
  fetch=(
    "mkdir -p $dir"
    "find $dir -mindepth 1 -maxdepth 1 ! -name .venv ! -name logs -exec rm -rf {} +"
    "tar -xzf $remote_tar -C $dir"
    "rm -f $remote_tar"
  )
else
  fetch=(
    "mkdir -p $dir"
    "git -C $dir init --quiet"
    "git -C $dir fetch --quiet --depth=1 $(shell_quote "$GIT_URL" "$REF")"
    "git -C $dir checkout --quiet --force FETCH_HEAD"
    "git -C $dir clean -fdxq -e .venv -e logs"
  )
fi

# Step 2: a Python >= 3.11 venv via uv, then the package and jax[tpu].
# shellcheck disable=SC2016  # $HOME expands on the worker
uv='"$HOME/.local/bin/uv"'
get_uv="python3 -m pip install --user --quiet uv"
setup=(
  "cd $dir"
  "if [ ! -x $uv ]; then $get_uv || $get_uv --break-system-packages; fi"
  "if [ ! -x .venv/bin/python ]; then $uv venv --quiet --python $(shell_quote "$PYTHON_VERSION") .venv; fi"
  "$uv pip install --quiet --python .venv/bin/python -e $(shell_quote "$package") 'jax[tpu]'"
  ".venv/bin/python -c 'import jax; print(\"jax\", jax.__version__)'"
)
tpu_ssh "$WORKER" "$(join_steps "set -euo pipefail" "${fetch[@]}" "${setup[@]}")"
