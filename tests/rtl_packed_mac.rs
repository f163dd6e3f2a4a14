//! The DSP48E2 packed multiply-accumulate primitive (`backends/src/rtl/packed_mac.rs`) in
//! Verilator against the Rust packing model: for every packing the ZU3EG preset builds and the
//! mapper may build (each mode's four best, 3x3 and 1x1 kernels, unsigned and signed
//! activations), random operands accumulated up to the packing's depth decode to exactly the
//! plain sums; every module is clean under `verilator --lint-only -Wall`. Verilator comes from
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

/// The test top: operand registers loaded one value at a time, every packing's module, and
/// the selected one's lanes and sum read back one lane at a time.
fn top(n: usize, max_w: u32, max_a: u32, max_lanes: u32, ps: &[Packing]) -> String {
    let mut v = String::new();
    let _ = writeln!(
        v,
        "module qw_pmac_test (\n  input logic clk,\n  input logic [7:0] sel,\n  input logic [1:0] cmd,\n  \
         input logic [5:0] idx,\n  input logic signed [8:0] val,\n  input logic [5:0] lane_idx,\n  \
         output logic signed [47:0] lane_out,\n  output logic signed [47:0] acc_out\n);\n  \
         logic [{}:0] w_r;\n  logic [{}:0] a_r;\n  logic signed [47:0] acc_r;\n  \
         logic signed [47:0] p_all [{n}];\n  logic [{}:0] lanes_all [{n}];",
        max_w * 9 - 1,
        max_a * 9 - 1,
        max_lanes * 48 - 1
    );
    for (i, p) in ps.iter().enumerate() {
        let (kp, np, l) = (
            u32::from(p.weights),
            u32::from(p.activations),
            p.lanes() as u32,
        );
        let _ = writeln!(
            v,
            "  logic [{}:0] lanes_{i};\n  qw_pmac_{i} u{i} (.w(w_r[{}:0]), .a(a_r[{}:0]), .acc(acc_r), .p(p_all[{i}]), .lanes(lanes_{i}));\n  assign lanes_all[{i}] = {}'(lanes_{i});",
            l * 48 - 1,
            kp * 9 - 1,
            np * 9 - 1,
            max_lanes * 48
        );
    }
    let _ = writeln!(
        v,
        "  logic [{ib}:0] s;\n  assign s = sel[{ib}:0];\n  \
         always_ff @(posedge clk) begin\n    case (cmd)\n      2'd0: w_r[{{4'd0, idx}}*9 +: 9] <= val;\n      \
         2'd1: a_r[{{4'd0, idx}}*9 +: 9] <= val;\n      2'd2: acc_r <= p_all[s];\n      2'd3: acc_r <= '0;\n    \
         endcase\n  end\n  assign lane_out = lanes_all[s][{{6'd0, lane_idx}}*48 +: 48];\n  assign acc_out = acc_r;\n\
         endmodule",
        ib = usize::BITS - (n - 1).max(1).leading_zeros() - 1
    );
    v
}

const TESTBENCH: &str = r#"
#include <cstdio>
#include <cstring>
#include <memory>
#include "Vqw_pmac_test.h"
#include "verilated.h"
// Commands on standard input, one per line: `w IDX VAL`, `a IDX VAL`, `step SEL`, `clear`,
// `read SEL LANES` (prints the lanes, space-separated).
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
        } else if (!std::strcmp(op, "step")) {
            std::scanf("%lld", &x);
            top->cmd = 2; top->sel = x; tick();
        } else if (!std::strcmp(op, "clear")) {
            top->cmd = 3; tick();
        } else if (!std::strcmp(op, "read")) {
            std::scanf("%lld %lld", &x, &y);
            top->sel = x;
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
    let scratch = common::root().join(".cache/rtl/lint");
    let mut sources: Vec<(String, String)> = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        let name = format!("qw_pmac_{i}");
        let text = packed_mac::module(&name, p);
        let file = format!("{name}.sv");
        verilator
            .lint(&scratch, &name, &[(file.as_str(), text.clone())])
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        sources.push((file, text));
    }
    let max_w = ps.iter().map(|p| u32::from(p.weights)).max().unwrap();
    let max_a = ps.iter().map(|p| u32::from(p.activations)).max().unwrap();
    let max_lanes = ps.iter().map(|p| p.lanes() as u32).max().unwrap();
    sources.push((
        "qw_pmac_test.sv".into(),
        top(ps.len(), max_w, max_a, max_lanes, &ps),
    ));
    let refs: Vec<(&str, String)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    let model = verilator
        .build(
            &common::root().join(".cache/rtl"),
            "qw_pmac_test",
            &refs,
            TESTBENCH,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // random operands, accumulated up to each packing's depth (at most 16 products)
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let mut input = String::new();
    let mut want: Vec<Vec<i64>> = Vec::new();
    for (i, p) in ps.iter().enumerate() {
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
                let _ = writeln!(input, "step {i}");
                for (s, l) in sums.iter_mut().zip(p.reference(&w, &a)) {
                    *s += l;
                }
            }
            // the lanes are decoded from the sum with the current product: zero weights make
            // it the accumulator
            for j in 0..p.weights {
                let _ = writeln!(input, "w {j} 0");
            }
            let _ = writeln!(input, "read {i} {}", p.lanes());
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
