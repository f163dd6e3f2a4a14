#!/usr/bin/env bash
# Installs the hardware tools qweave's tests drive when they are missing, from Debian's
# packages: Verilator (the RTL tests build their models with it) and the open iCE40 flow
# qweave-fpga runs (yosys, nextpnr-ice40, and icepack/iceunpack from fpga-icestorm).
# Run by scripts/test.sh; prints the versions it ends up with.
set -euo pipefail
need=()
command -v verilator >/dev/null || need+=(verilator)
command -v yosys >/dev/null || need+=(yosys)
command -v nextpnr-ice40 >/dev/null || need+=(nextpnr-ice40)
command -v icepack >/dev/null || need+=(fpga-icestorm)
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
yosys -V
nextpnr-ice40 --version 2>&1
# icepack has no --version: the package's is the one to know
echo "icestorm $(dpkg-query -W -f='${Version}' fpga-icestorm 2>/dev/null || echo '(not from a Debian package)')"
