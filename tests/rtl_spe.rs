//! The bricks PE (`backends/src/rtl/sv/qw_spe.sv`, with its routing `qw_brick_routes.sv`) in
//! Verilator against the Rust model of Bit Fusion bricks and XNOR-popcount: in every mode of
//! the LUT presets, for signed, unsigned and bipolar weights and activations, random operands
//! and random live masks give exactly the sum of the live products. Verilator comes from
//! `scripts/hw-tools.sh`.

mod common;

use qweave_backends::rtl::accel::BRICKS_ARRAY;
use qweave_hw::multiply::{BRICKS_PER_PE, Values, fused_product, products_per_pe};
use std::fmt::Write;

/// The PE with the routing it is built with, as the array has them.
const TOP: &str = r#"
module qw_spe_test (
    input  logic               clk,
    input  logic [2:0]         dw,
    input  logic [2:0]         da,
    input  logic               w_signed,
    input  logic               a_signed,
    input  logic               xnor_mode,
    input  logic [15:0]        live,
    input  logic signed [8:0]  w [16],
    input  logic signed [8:0]  a [16],
    output logic signed [31:0] sum
);
  logic [3:0] route_q [16];
  logic [1:0] route_i [16], route_j [16];
  logic [15:0] route_on;
  qw_brick_routes routes (.dw, .da, .route_q, .route_i, .route_j, .route_on);
  qw_spe #(.P(16), .OUT(32)) pe (.clk, .en(1'b1), .dw, .da, .route_q, .route_i, .route_j,
      .route_on, .w_signed, .a_signed, .xnor_mode, .live, .w, .a, .sum);
endmodule
"#;

const TESTBENCH: &str = r#"
#include "Vqw_spe_test.h"
#include "verilated.h"
#include <cstdio>
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Vqw_spe_test* top = new Vqw_spe_test;
    int dw, da, ws, as, xn;
    unsigned live;
    while (std::scanf("%d %d %d %d %d %u", &dw, &da, &ws, &as, &xn, &live) == 6) {
        top->dw = dw; top->da = da; top->w_signed = ws; top->a_signed = as;
        top->xnor_mode = xn; top->live = live;
        for (int q = 0; q < 16; q++) { int v; std::scanf("%d", &v); top->w[q] = v & 0x1ff; }
        for (int q = 0; q < 16; q++) { int v; std::scanf("%d", &v); top->a[q] = v & 0x1ff; }
        top->clk = 0; top->eval(); top->clk = 1; top->eval();
        std::printf("%d\n", (int)top->sum);
    }
    top->final();
    return 0;
}
"#;

#[test]
fn the_bricks_pe_equals_the_fused_product_model() {
    assert_eq!(BRICKS_PER_PE, 16, "the testbench drives 16 operand pairs");
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    let part = |name: &str| {
        BRICKS_ARRAY
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .unwrap()
    };
    let sources = [
        part("qw_brick_routes.sv"),
        part("qw_spe.sv"),
        ("qw_spe_test.sv".to_string(), TOP.to_string()),
    ];
    let refs: Vec<(&str, String)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    let scratch = common::root().join(".cache/rtl/lint");
    verilator
        .lint(&scratch, "qw_spe_test", &refs)
        .unwrap_or_else(|e| panic!("{e}"));
    let model = verilator
        .build(
            &common::root().join(".cache/rtl"),
            "qw_spe_test",
            &refs,
            TESTBENCH,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rng = common::Rng(0x2545_f491_4f6c_dd1d);
    let mut input = String::new();
    let mut expected = Vec::new();
    let mut cases = 0;
    for (w, a) in [(8u8, 8u8), (8, 4), (4, 8), (4, 4), (2, 2)] {
        let kinds = |b: u8| [Values::Signed(b), Values::Unsigned(b), Values::Bipolar];
        for wv in kinds(w) {
            for av in kinds(a) {
                let xnor = wv == Values::Bipolar && av == Values::Bipolar;
                for round in 0..60 {
                    // in the mode's own width: the PE reads operands by the mode, not the values
                    let p = products_per_pe(Values::Signed(w), Values::Signed(a)) as usize;
                    let live: u32 = if round == 0 {
                        (1 << p) - 1
                    } else {
                        (rng.next() as u32) & ((1u32 << p) - 1)
                    };
                    let ws: Vec<i64> = (0..16).map(|_| rng.pick(wv)).collect();
                    let as_: Vec<i64> = (0..16).map(|_| rng.pick(av)).collect();
                    let want: i64 = (0..p)
                        .filter(|q| live >> q & 1 == 1)
                        .map(|q| fused_product(ws[q], wv, as_[q], av))
                        .sum();
                    let signed = |v: Values| u8::from(!matches!(v, Values::Unsigned(_)));
                    let _ = write!(
                        input,
                        "{} {} {} {} {} {live}",
                        w.div_ceil(2),
                        a.div_ceil(2),
                        signed(wv),
                        signed(av),
                        u8::from(xnor)
                    );
                    for v in ws.iter().chain(&as_) {
                        let _ = write!(input, " {v}");
                    }
                    input.push('\n');
                    expected.push((format!("w{w}a{a} {wv:?} x {av:?}"), want));
                    cases += 1;
                }
            }
        }
    }
    let out = model.run(&input).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<i64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(got.len(), cases);
    for ((what, want), got) in expected.iter().zip(&got) {
        assert_eq!(got, want, "{what}");
    }
}
