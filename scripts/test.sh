#!/usr/bin/env bash
# Sets up and runs every test of qweave: formatting, lints, unit tests, file tests (insta
# snapshots; a missing or changed snapshot fails under CI=true), ONNX backend conformance
# (its data is fetched from PyPI into .cache/ first), RTL tests in Verilator (installed from
# Debian's packages when missing, by scripts/hw-tools.sh) and end-to-end CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed (https://rustup.rs)" >&2; exit 1; }
./scripts/fetch-onnx-tests.sh
./scripts/hw-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
