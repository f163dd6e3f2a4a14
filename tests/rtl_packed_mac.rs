//! The DSP48E2 PE (`backends/src/rtl/packed_mac.rs`) in Verilator against the Rust packing
//! model: one PE built with every packing the ZU3EG preset builds and the mapper may build
//! (each mode's four best, 3x3 and 1x1 kernels, unsigned and signed activations), each chosen
//! by its `config` fields; random operands accumulated on the cascade input up to the
//! packing's depth decode to exactly the plain sums; the PE is clean under `verilator
//! --lint-only -Wall`. Verilator comes from
//! `scripts/hw-tools.sh`, which the README's test command runs.

mod common;

use qweave_backends::rtl::packed_mac;
use qweave_hw::isa::Format;
use qweave_hw::multiply::Packing;
use qweave_hw::{Target, pe};
use std::fmt::Write;

/// The packings to test, one per distinct hardware shape, with operand ranges to draw from.
fn packings() -> Vec<Packing> {
    let hw = Target::Xczu3eg.preset();
    let mut out: Vec<Packing> = Vec::new();
    for &rate in &hw.modes {
        for afmt in [Format::Unsigned, Format::Signed] {
            for taps in [3, 1] {
                for p in pe::candidates(&hw, rate, Format::Signed, afmt, taps)
                    .into_iter()
                    .take(4)
                {
                    let cfg = qweave_hw::isa::Config {
                        w: rate.mode.w,
                        a: rate.mode.a,
                        wfmt: Format::Signed,
                        afmt,
                        ..qweave_hw::isa::Config::zeroed()
                    };
                    let packing = p.packing(&cfg).expect("a DSP packing");
                    let same = |q: &Packing| {
                        (
                            q.layout,
                            q.weights,
                            q.activations,
                            q.lane_bits,
                            q.weights_on,
                        ) == (
                            packing.layout,
                            packing.weights,
                            packing.activations,
                            packing.lane_bits,
                            packing.weights_on,
                        )
                    };
                    if !out.iter().any(same) {
                        out.push(packing);
                    }
                }
            }
        }
    }
    out
}

/// The test top: operand registers loaded one value at a time, the PE built with every
/// packing under test, its cascade input a register (so products accumulate), and the lanes
/// read back one at a time.
fn top(kpm: u32, npm: u32, lm: u32) -> String {
    format!(
        "module qw_pmac_test (\n  input logic clk,\n  input logic [39:0] cfg,\n  input logic [1:0] cmd,\n  \
         input logic [5:0] idx,\n  input logic signed [8:0] val,\n  input logic [5:0] lane_idx,\n  \
         output logic signed [47:0] lane_out\n);\n  logic [{}:0] w_r;\n  logic [{}:0] a_r;\n  \
         logic signed [47:0] acc_r, pcout;\n  logic [{}:0] lanes;\n  \
         qw_dsp_pe pe (.cfg, .w(w_r), .a(a_r), .pcin(acc_r), .pcout, .lanes);\n  \
         always_ff @(posedge clk) begin\n    case (cmd)\n      2'd0: w_r[{{4'd0, idx}}*9 +: 9] <= val;\n      \
         2'd1: a_r[{{4'd0, idx}}*9 +: 9] <= val;\n      2'd2: acc_r <= pcout;\n      2'd3: acc_r <= '0;\n    \
         endcase\n  end\n  assign lane_out = lanes[{{6'd0, lane_idx}}*48 +: 48];\nendmodule\n",
        kpm * 9 - 1,
        npm * 9 - 1,
        lm * 48 - 1
    )
}

const TESTBENCH: &str = r#"
#include <cstdio>
#include <cstring>
#include <memory>
#include "Vqw_pmac_test.h"
#include "verilated.h"
// Commands on standard input, one per line: `cfg KEY` (the packing fields), `w IDX VAL`,
// `a IDX VAL`, `step`, `clear`, `read LANES` (prints the lanes, space-separated).
int main(int argc, char** argv) {
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<Vqw_pmac_test>(ctx.get());
    auto tick = [&]() { top->clk = 0; top->eval(); top->clk = 1; top->eval(); top->clk = 0; top->eval(); };
    char op[16];
    long long x, y;
    while (std::scanf("%15s", op) == 1) {
        if (!std::strcmp(op, "w") || !std::strcmp(op, "a")) {
            std::scanf("%lld %lld", &x, &y);
            top->cmd = op[0] == 'w' ? 0 : 1; top->idx = x; top->val = y & 0x1ff; tick();
        } else if (!std::strcmp(op, "cfg")) {
            std::scanf("%lld", &x);
            top->cfg = x; top->eval();
        } else if (!std::strcmp(op, "step")) {
            top->cmd = 2; tick();
        } else if (!std::strcmp(op, "clear")) {
            top->cmd = 3; tick();
        } else if (!std::strcmp(op, "read")) {
            std::scanf("%lld", &y);
            for (long long k = 0; k < y; k++) {
                top->lane_idx = k; top->eval();
                long long v = (long long)(top->lane_out << 16) >> 16;
                std::printf(k ? " %lld" : "%lld", v);
            }
            std::printf("\n");
        }
    }
    top->final();
    return 0;
}
"#;

#[test]
fn packed_macs_in_verilator_equal_the_packing_model() {
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    let ps = packings();
    assert!(ps.len() >= 12, "{} packings", ps.len());
    let pes: Vec<pe::PeMode> = ps.iter().map(pe::PeMode::of_packing).collect();
    let pe_sv = packed_mac::pe(&pes).unwrap_or_else(|e| panic!("{e}"));
    let mul_sv = packed_mac::multiplier(&pes).unwrap_or_else(|e| panic!("{e}"));
    let row_sv = packed_mac::row_packer(&pes).unwrap_or_else(|e| panic!("{e}"));
    let scratch = common::root().join(".cache/rtl/lint");
    verilator
        .lint(
            &scratch,
            "qw_dsp_pe",
            &[
                ("qw_dsp_pe.sv", pe_sv.clone()),
                ("qw_dsp_mul.sv", mul_sv.clone()),
                ("qw_dsp_row.sv", row_sv.clone()),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let (kpm, npm, lm) = packed_mac::sizes(&pes);
    let sources = [
        ("qw_dsp_pe.sv", pe_sv),
        ("qw_dsp_mul.sv", mul_sv),
        ("qw_dsp_row.sv", row_sv),
        ("qw_pmac_test.sv", top(kpm, npm, lm)),
    ];
    let model = verilator
        .build(
            &common::root().join(".cache/rtl"),
            "qw_pmac_test",
            &sources,
            TESTBENCH,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // random operands, accumulated up to each packing's depth (at most 16 products)
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let mut input = String::new();
    let mut want: Vec<Vec<i64>> = Vec::new();
    for (p, &pe) in ps.iter().zip(&pes) {
        let _ = writeln!(input, "cfg {}", packed_mac::key(pe));
        for round in 0..40 {
            let depth = p.depth().min(16);
            let n = if round == 0 {
                depth
            } else {
                1 + rng.next() % depth
            };
            let mut sums = vec![0i64; p.lanes()];
            input.push_str("clear\n");
            for _ in 0..n {
                let w: Vec<i64> = (0..p.weights).map(|_| rng.pick(p.w)).collect();
                let a: Vec<i64> = (0..p.activations).map(|_| rng.pick(p.a)).collect();
                for (j, v) in w.iter().enumerate() {
                    let _ = writeln!(input, "w {j} {v}");
                }
                for (j, v) in a.iter().enumerate() {
                    let _ = writeln!(input, "a {j} {v}");
                }
                input.push_str("step\n");
                for (s, l) in sums.iter_mut().zip(p.reference(&w, &a)) {
                    *s += l;
                }
            }
            // the lanes are decoded from the sum with the current product: zero weights make
            // it the accumulator
            for j in 0..p.weights {
                let _ = writeln!(input, "w {j} 0");
            }
            let _ = writeln!(input, "read {}", p.lanes());
            want.push(sums);
        }
    }
    let out = model.run(&input).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<Vec<i64>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        let p = &ps[k / 40];
        assert_eq!(g, w, "{p}: round {}", k % 40);
    }
}
