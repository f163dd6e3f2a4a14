#!/usr/bin/env bash
# bench-rtl.sh: the generated accelerator in Verilator on the real-model fixtures.
#
# Installs Verilator when missing (scripts/hw-tools.sh), then runs benches/rtl_simulate.rs:
# per fixture the RTL engine's wall time, the hardware's cycles and simulated cycles per
# second, the cycle model's error, the ISA simulator and the interpreter timed in the same run,
# and the array's utilization on the 3x3 convolutions.
#
# Usage: scripts/bench-rtl.sh
# Environment: QWEAVE_BENCH_RUNS (inferences timed per engine, default 3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/hw-tools.sh
cargo bench --locked --bench rtl_simulate
