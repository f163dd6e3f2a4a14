#!/usr/bin/env bash
# Prints the README's accuracy table: top-1 on the 300 held-out digits images of the float
# model, of each quantized fixture in its source semantics, and in qweave's hardware-integer
# semantics (the q level), via `qweave analyze`; plus qweave's own post-training
# quantization of the float model. Reports go to target/accuracy/<model>/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
Q=target/release/qweave
M=tests/models
OUT=target/accuracy
mkdir -p "$OUT"
$Q quantize $M/digits_float.onnx --data $M/digits_calib.npz -o "$OUT/ptq_w8a8.qir" 2>/dev/null
$Q quantize $M/digits_float.onnx --data $M/digits_calib.npz --bits default=4,first=8,last=8 \
  --calibration mse --per-channel -o "$OUT/ptq_w4a4_first_last_8.qir" 2>/dev/null
echo "| model | float | source-quantized | hardware-integer (q level) | ops not yet lowered |"
echo "|---|---|---|---|---|"
for model in $M/digits_qdq.onnx $M/digits_qop.onnx $M/digits_w4a4.onnx $M/digits_w2a2.onnx \
  $M/digits_w1a1.onnx "$OUT/ptq_w8a8.qir" "$OUT/ptq_w4a4_first_last_8.qir"; do
  name=$(basename "$model")
  log=$($Q analyze "$model" --data $M/digits_test.npz --labels $M/digits_test.npz \
    --float $M/digits_float.onnx -o "$OUT/${name%.*}" 2>&1)
  line=$(grep '^top-1' <<<"$log")
  f=$(sed -E 's/.*float ([^,]*),.*/\1/' <<<"$line")
  s=$(sed -E 's/.*source ([^,]*),.*/\1/' <<<"$line")
  h=$(sed -E 's/.*hw ([^ ]*)$/\1/' <<<"$line")
  left=$(grep -oE 'still has [0-9]+' <<<"$log" | grep -oE '[0-9]+' || echo 0)
  echo "| $name | $f % | $s % | $h % | $left |"
done
