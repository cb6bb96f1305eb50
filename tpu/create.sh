#!/usr/bin/env bash
# Creates a Cloud TPU VM (single host or pod slice).
#
#   tpu/create.sh --name NAME --zone ZONE --accelerator-type v4-32 \
#       [--version RUNTIME] [--spot | --preemptible | --reserved] \
#       [--project P] [--dry-run] [-- EXTRA_GCLOUD_FLAGS...]
#
# --version defaults to the usual JAX runtime for the accelerator family.
# Flags after `--` are passed to `gcloud compute tpus tpu-vm create`.
set -euo pipefail

USAGE="create.sh --name NAME --zone ZONE --accelerator-type TYPE"
USAGE+=" [--version RUNTIME] [--spot|--preemptible|--reserved] [--project P]"
USAGE+=" [--dry-run] [-- GCLOUD_FLAGS...]"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ACCELERATOR=""
VERSION=""
CAPACITY=""
EXTRA=()

set_capacity() {
  if [[ -n $CAPACITY && $CAPACITY != "$1" ]]; then
    usage_error "$CAPACITY and $1 exclude each other"
  fi
  CAPACITY=$1
}

while (($#)); do
  SHIFT=1
  case $1 in
    --accelerator-type | --accelerator-type=*) take_value ACCELERATOR "$@" ;;
    --version | --version=*) take_value VERSION "$@" ;;
    --spot | --preemptible | --reserved) set_capacity "$1" ;;
    --)
      shift
      EXTRA=("$@")
      break
      ;;
    *) parse_common "$@" || usage_error "unknown argument '$1'" ;;
  esac
  shift "$SHIFT"
done

require "$NAME" --name
require "$ZONE" --zone
require "$ACCELERATOR" --accelerator-type
if [[ ! $ACCELERATOR =~ ^v[0-9]+[a-z]*-[0-9]+$ ]]; then
  usage_error "--accelerator-type looks like v4-32, v5litepod-16, v5p-32 or v6e-16, got '$ACCELERATOR'"
fi

if [[ -z $VERSION ]]; then
  case $ACCELERATOR in
    v2-* | v3-* | v4-*) VERSION=tpu-ubuntu2204-base ;;
    v5litepod-* | v5e-*) VERSION=v2-alpha-tpuv5-lite ;;
    v5p-*) VERSION=v2-alpha-tpuv5 ;;
    v6e-*) VERSION=v2-alpha-tpuv6e ;;
    *) usage_error "no default --version for $ACCELERATOR; pass --version RUNTIME" ;;
  esac
fi
for arg in "${EXTRA[@]}"; do
  if [[ $arg == --dry-run ]]; then
    usage_error "--dry-run after -- would be passed on; put it before --"
  fi
done
check_common
location_flags

cmd=(gcloud compute tpus tpu-vm create "$NAME" "${LOCATION[@]}"
  "--accelerator-type=$ACCELERATOR" "--version=$VERSION")
if [[ -n $CAPACITY ]]; then
  cmd+=("$CAPACITY")
fi
run_or_print "${cmd[@]}" "${EXTRA[@]}"
