#!/usr/bin/env bash
# Sets up qweave and runs its main job on the bundled examples: builds the compiler; reads
# examples/tiny_cnn.qir (+ .qwb) and runs the default pipeline with verification after each
# pass, printing the result and each pass's timing; then imports the bundled digits CNN
# quantized by onnxruntime (QOperator form) and runs it with the bit-accurate interpreter on
# 300 held-out images, writing the logits to target/demo-logits.npz; finally compiles the
# 4-bit QONNX digits CNN for the accelerator (target/demo-accel: program, packed weights,
# manifest, report) and runs the 300 images on the ISA simulator, checking every layer
# against the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed (https://rustup.rs)" >&2; exit 1; }
cargo build --release --locked --quiet
target/release/qweave ir examples/tiny_cnn.qir -p default --verify-each --timings
target/release/qweave run tests/models/digits_qop.onnx -i tests/models/digits_test.npz -o target/demo-logits.npz
target/release/qweave compile tests/models/digits_w4a4.onnx --target sim -o target/demo-accel
target/release/qweave simulate target/demo-accel --engine isa -i tests/models/digits_test.npz \
  -o target/demo-accel-logits.npz --check
