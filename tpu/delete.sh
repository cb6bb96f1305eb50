#!/usr/bin/env bash
# Deletes a Cloud TPU VM (all its workers and their local disks).
#
#   tpu/delete.sh --name NAME --zone ZONE [--async] [--project P] [--dry-run]
#
# gcloud runs with --quiet (no confirmation prompt). Anything written only to
# the workers' disks, such as logs/run.log, is lost; the workdir is not
# touched when it lives on gs:// or a shared mount.
set -euo pipefail

USAGE="delete.sh --name NAME --zone ZONE [--async] [--project P] [--dry-run]"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ASYNC=()

while (($#)); do
  SHIFT=1
  case $1 in
    --async) ASYNC=(--async) ;;
    *) parse_common "$@" || usage_error "unknown argument '$1'" ;;
  esac
  shift "$SHIFT"
done

check_common
location_flags
run_or_print gcloud compute tpus tpu-vm delete "$NAME" "${LOCATION[@]}" --quiet "${ASYNC[@]}"
