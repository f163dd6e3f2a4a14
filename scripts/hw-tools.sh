#!/usr/bin/env bash
# Installs the hardware tools qweave's tests drive when they are missing: Verilator (the
# Debian package; the RTL tests build their models with it). Run by scripts/test.sh.
set -euo pipefail
need=()
command -v verilator >/dev/null || need+=(verilator)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: installing ${need[*]} needs root or sudo" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "installing ${need[*]} (Debian packages)" >&2
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${need[@]}" >/dev/null
fi
verilator --version
