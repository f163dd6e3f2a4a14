#!/usr/bin/env bash
# bench-compile.sh: compile time and simulation speed of the accelerator flow.
#
# Prepares .cache/bench/: ResNet-50 and DenseNet-121 from the onnx 1.22 wheel's `light` models
# (scripts/fetch-onnx-tests.sh), their softmax cut off (it runs on the host), quantized to
# 8 bits by `qweave quantize` on 4 random calibration images, one random test image each, and
# one digits test image. Then runs benches/compile_and_simulate.rs, which compiles each model
# for the sim target, simulates one image on the ISA simulator checking every layer against
# the interpreter, and times the interpreter and single-threaded onnxruntime in the same run.
#
# Usage: scripts/bench-compile.sh
# Environment: QWEAVE_BENCH_RUNS (compilations per model, default 3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
scripts/python-env.sh
scripts/fetch-onnx-tests.sh
cargo build --release --locked --quiet
out=.cache/bench
mkdir -p "$out"
.cache/venv/bin/python - "$out" <<'PY'
import sys, os
import numpy as np
import onnx
out = sys.argv[1]
light = ".cache/onnx-backend/light"
for name in ["resnet50", "densenet121"]:
    m = onnx.load(os.path.join(light, f"light_{name}.onnx"))
    g = m.graph
    inits = {i.name for i in g.initializer}
    data = [i for i in g.input if i.name not in inits][0]
    soft = [n for n in g.node if n.op_type == "Softmax"]
    if soft:
        g.node.remove(soft[0])
        old = list(g.output)
        for o in old:
            g.output.remove(o)
        g.output.append(onnx.helper.make_tensor_value_info(soft[0].input[0], onnx.TensorProto.FLOAT, None))
    onnx.save(m, os.path.join(out, f"{name}.onnx"))
    rng = np.random.default_rng(0)
    shape = [d.dim_value for d in data.type.tensor_type.shape.dim]
    calib = rng.standard_normal([4] + shape[1:]).astype(np.float32)
    np.savez(os.path.join(out, f"{name}_calib.npz"), **{data.name: calib})
    np.save(os.path.join(out, f"{name}_x.npy"), rng.standard_normal(shape).astype(np.float32))
digits = np.load("tests/models/digits_test.npz")["x"][:1]
np.save(os.path.join(out, "digits_x.npy"), digits.astype(np.float32))
np.save(os.path.join(out, "resnet8_x.npy"), np.load("tests/models/bench_input.npz")["x"])
PY
for name in resnet50 densenet121; do
  if [ ! -f "$out/${name}_w8a8.qir" ]; then
    target/release/qweave quantize "$out/$name.onnx" --data "$out/${name}_calib.npz" \
      --bits default=8 -o "$out/${name}_w8a8.qir" 2>&1 | tail -1 || true
  fi
done
cargo bench --bench compile_and_simulate
