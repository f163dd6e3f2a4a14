#!/usr/bin/env bash
# bench-interp.sh: time qweave's reference interpreter against onnxruntime.
#
# Runs benches/interp_vs_onnxruntime.rs: the int8 ResNet-8 QOperator model
# tests/models/bench_resnet_qop.onnx on tests/models/bench_input.npz, with qweave_interp::run
# (checking its output against the recorded onnxruntime logits bit for bit) and with
# single-threaded onnxruntime from the Python venv, printing the median time per image of each,
# qweave's GMAC/s and the ratio qweave/onnxruntime.
#
# Usage: scripts/bench-interp.sh
# Environment: QWEAVE_BENCH_RUNS (timed runs per engine, default 500), QWEAVE_BENCH_PROFILE=1
# (also print the time of every op). The venv is created or updated by scripts/python-env.sh.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/python-env.sh
cargo bench --bench interp_vs_onnxruntime
