#!/usr/bin/env python3
"""Writes examples/tiny_cnn.qir (+ .qwb): a small CNN for 8x8 one-channel images.

The weights are deterministic pseudo-random numbers (seed 7), not trained: the example
shows the IR and the default pipeline, not accuracy. The graph carries what real imports
carry: weights behind a quantize/dequantize pair (per output channel), a weight stored
transposed, an unfolded batch normalization, and a dead debugging probe.

Run from the repository root:  python3 examples/make_tiny_cnn.py
It writes a raw .qir with inline constants to a temporary file and lets qweave print the
canonical form, which moves large constants into the sidecar.
"""
import os
import random
import subprocess
import tempfile

rng = random.Random(7)


def floats(n, scale):
    return [round(rng.gauss(0.0, scale), 4) for _ in range(n)]


def dense(values):
    return "dense<[" + ", ".join(repr(float(v)) for v in values) + "]>"


w1 = floats(4 * 1 * 3 * 3, 0.5)
w1_scales = [max(abs(v) for v in w1[c * 9:(c + 1) * 9]) / 127.0 for c in range(4)]
b1 = floats(4, 0.1)
w2 = floats(8 * 4 * 3 * 3, 0.25)
gamma = [round(1.0 + v, 4) for v in floats(8, 0.1)]
beta = floats(8, 0.1)
mean = floats(8, 0.2)
var = [round(0.5 + abs(v), 4) for v in floats(8, 0.3)]
fc_t = floats(8 * 10, 0.4)
fc_b = floats(10, 0.05)

scales = ", ".join(repr(float(s)) for s in w1_scales)
src = f"""!w1 = quant<i8, axis = 0, scale = [{scales}]>
graph @tiny_cnn(%image: tensor<1x1x8x8xf32>) -> (tensor<1x10xf32>) {{
  %w1f = const {dense(w1)} : tensor<4x1x3x3xf32>
  %w1q = onnx.quantize_linear %w1f {{out = !w1}} : tensor<4x1x3x3x!w1> loc("conv1.weight_quantize")
  %w1 = onnx.dequantize_linear %w1q : tensor<4x1x3x3xf32> loc("conv1.weight_dequantize")
  %b1 = const {dense(b1)} : tensor<4xf32>
  %c1 = onnx.conv %image, %w1, %b1 {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]}} : tensor<1x4x8x8xf32> loc("conv1")
  %r1 = onnx.relu %c1 : tensor<1x4x8x8xf32> loc("relu1")
  %p1 = onnx.max_pool %r1 {{kernel = [2, 2], strides = [2, 2], pads = [0, 0, 0, 0], dilations = [1, 1]}} : tensor<1x4x4x4xf32> loc("pool1")
  %w2 = const {dense(w2)} : tensor<8x4x3x3xf32>
  %c2 = onnx.conv %p1, %w2 {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]}} : tensor<1x8x4x4xf32> loc("conv2")
  %gamma = const {dense(gamma)} : tensor<8xf32>
  %beta = const {dense(beta)} : tensor<8xf32>
  %mean = const {dense(mean)} : tensor<8xf32>
  %var = const {dense(var)} : tensor<8xf32>
  %bn2 = onnx.batch_norm %c2, %gamma, %beta, %mean, %var : tensor<1x8x4x4xf32> loc("bn2")
  %r2 = onnx.relu %bn2 : tensor<1x8x4x4xf32> loc("relu2")
  %gap = onnx.global_average_pool %r2 : tensor<1x8x1x1xf32> loc("gap")
  %flat = reshape %gap {{shape = [1, 8]}} : tensor<1x8xf32> loc("flatten")
  %fc_t = const {dense(fc_t)} : tensor<8x10xf32>
  %fc_w = transpose %fc_t {{perm = [1, 0]}} : tensor<10x8xf32> loc("fc.weight_transpose")
  %fc_b = const {dense(fc_b)} : tensor<10xf32>
  %logits = onnx.gemm %flat, %fc_w, %fc_b {{trans_b = true}} : tensor<1x10xf32> loc("fc")
  %probe = onnx.softmax %logits {{axis = 1}} : tensor<1x10xf32> loc("debug_probe")
  return %logits
}}
"""

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with tempfile.TemporaryDirectory() as tmp:
    raw = os.path.join(tmp, "raw.qir")
    with open(raw, "w") as f:
        f.write(src)
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--", "ir", raw, "-o", "examples/tiny_cnn.qir"],
        cwd=root,
        check=True,
    )
print("wrote examples/tiny_cnn.qir and examples/tiny_cnn.qwb")
