#!/usr/bin/env bash
# Sets up qweave and runs its main job on the bundled example: builds the compiler, then reads
# examples/tiny_cnn.qir (+ .qwb), runs the default pipeline with verification after each pass,
# prints the result and each pass's timing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed (https://rustup.rs)" >&2; exit 1; }
cargo build --release --locked --quiet
exec target/release/qweave ir examples/tiny_cnn.qir -p default --verify-each --timings
