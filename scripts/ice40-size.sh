#!/usr/bin/env bash
# ice40-size.sh: what the iCE40 design costs, part by part, the way the resource model in
# hw/src/serial.rs and the table in docs/hw.md were measured.
#
# Installs the tools when missing (scripts/hw-tools.sh), compiles the digits model for
# `ice40up5k` without running the FPGA step, then reports for its accel.sv:
#   - per module, yosys 0.23 `synth_ice40 -dsp -noflatten` LUT4s and flip-flops;
#   - flattened, the LUT4s and flip-flops of `main` (the accelerator) and of `board` (the
#     accelerator in its board shell);
#   - the logic cells nextpnr-ice40 packs each into (`--pack-only`), which is what the fit
#     check compares with the UP5K's 5280.
#
# Usage: scripts/ice40-size.sh [OUT_DIR]   (default target/ice40-size; it keeps the logs)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
out="$(realpath -m "${1:-target/ice40-size}")"
scripts/hw-tools.sh
cargo build --release --locked --quiet
rm -rf "$out"
mkdir -p "$out"
target/release/qweave compile tests/models/digits_qdq.onnx --target ice40up5k \
  --mapping default --no-fpga-tools -o "$out/bundle" > "$out/compile.log" 2>&1 \
  || { cat "$out/compile.log" >&2; exit 1; }
cp "$out/bundle/accel.sv" "$out/accel.sv"
# the board's pins (the PLL's input must be on its pin for nextpnr to pack it)
cat > "$out/accel.pcf" <<'PCF'
set_io -nowarn clk_12mhz 35
set_io -nowarn rx 6
set_io -nowarn tx 9
set_io -nowarn led_n 37
PCF
cd "$out"

echo "per module (synth_ice40 -dsp -noflatten): LUT4 flip-flops module"
yosys -q -p "read_verilog -sv accel.sv; synth_ice40 -dsp -top board -noflatten; \
  tee -q -o modules.txt stat" > modules.log 2>&1
awk '/^=== /{m=$2} /SB_LUT4/{l[m]=$2} /SB_DFF/{f[m]+=$2}
     END{for (k in l) if (l[k] > 20) print l[k], f[k]+0, k}' modules.txt \
  | sed 's/\$paramod\$[0-9a-f]*\\//; s/ design$/ (all, unflattened)/' | sort -k3

for top in main board; do
  yosys -q -p "read_verilog -sv accel.sv; synth_ice40 -dsp -top $top -json $top.json; \
    tee -q -o $top.txt stat" > "$top.log" 2>&1
  luts=$(awk '/SB_LUT4/{s+=$2} END{print s+0}' "$top.txt")
  ffs=$(awk '/SB_DFF/{s+=$2} END{print s+0}' "$top.txt")
  pins=()
  if [ "$top" = board ]; then pins=(--pcf accel.pcf); fi
  cells=$(nextpnr-ice40 --up5k --package sg48 --json "$top.json" "${pins[@]}" --pack-only \
    2> "$top-pack.log" > /dev/null; grep -o 'ICESTORM_LC: *[0-9]*' "$top-pack.log" \
    | grep -o '[0-9]*$' | head -1)
  echo "$top: $luts LUT4, $ffs flip-flops flattened; $cells logic cells packed (UP5K: 5280)"
done
