#!/usr/bin/env bash
# Sets up qweave and runs its main job on the bundled digits CNN (QDQ, quantized by
# onnxruntime): installs the open FPGA tools when they are missing (scripts/hw-tools.sh:
# Verilator, yosys, nextpnr-ice40, fpga-icestorm from Debian's packages), builds the
# compiler, compiles the model for the iCE40 UP5K (target/demo-ice40: the program, the packed
# weights, accel.sv and the bitstream ice40/accel.bin from yosys, nextpnr-ice40 and icepack,
# with its fmax, utilization and per-layer latency; about 2 minutes), then runs one held-out
# image (examples/digits_image.npz, the first of tests/models/digits_test.npz) on the
# generated accelerator in Verilator, checks every layer against the bit-accurate
# interpreter, and prints the predicted class beside the interpreter's.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed (https://rustup.rs)" >&2; exit 1; }
scripts/hw-tools.sh
cargo build --release --locked --quiet
target/release/qweave compile tests/models/digits_qdq.onnx --target ice40up5k -o target/demo-ice40
target/release/qweave simulate target/demo-ice40 --engine rtl -i examples/digits_image.npz \
  -o target/demo-ice40-logits.npz --check
