#!/usr/bin/env bash
# System packages the project needs outside pip, installed idempotently.
#
# Today that is a browser for jaxllm.web: Debian's `chromium` (driven by Playwright through
# executable_path, so `playwright install` is never needed) plus fonts-liberation so pages render
# with real glyph metrics. Run as root (or with sudo available):
#
#   bash scripts/setup_system.sh
#
# Re-running it does nothing when everything is already present.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup_system.sh: needs root (or sudo) to run apt-get" >&2
    exit 1
  fi
fi

missing=()
if [[ ! -x "${CHROMIUM}" ]]; then
  missing+=(chromium)
fi
if ! dpkg -s fonts-liberation >/dev/null 2>&1; then
  missing+=(fonts-liberation)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup_system.sh: nothing to do (${CHROMIUM} and fonts-liberation present)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_system.sh: apt-get not found; install ${missing[*]} with your package manager" >&2
  exit 1
fi

echo "setup_system.sh: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
${SUDO} apt-get update -q
${SUDO} apt-get install -y -q --no-install-recommends "${missing[@]}"
if [[ -x "${CHROMIUM}" ]]; then
  version="$(${CHROMIUM} --version 2>/dev/null || echo chromium)"
  echo "setup_system.sh: installed ${version} at ${CHROMIUM}"
else
  echo "setup_system.sh: apt-get finished but ${CHROMIUM} is missing" >&2
  exit 1
fi
