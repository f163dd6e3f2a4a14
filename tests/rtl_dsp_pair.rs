//! The serial column's DSP48E2 pair (`qw_dsp_pair`, two products sharing a weight in one
//! 27 x 18 multiply) in Verilator, exhaustively: every weight and both activations over
//! every value an 8-bit operand takes, signed or unsigned ([-128, 255]), give the plain
//! products; the module is clean under `verilator --lint-only -Wall`; and yosys maps it to
//! one DSP48E2. Verilator and yosys come from `scripts/hw-tools.sh`.

mod common;

/// The pair's source, as `accel.sv` holds it.
fn pair_sv() -> &'static str {
    qweave_backends::rtl::accel::SERIAL_PRIMITIVES
        .iter()
        .find(|(name, _)| *name == "qw_dsp_pair.sv")
        .map(|(_, text)| *text)
        .expect("qw_dsp_pair.sv is a serial primitive")
}

/// Every (a_lo, a_hi, w) in [-128, 255]^3 through the model; prints how many products
/// differ from the plain ones, and the first that does.
const TESTBENCH: &str = r#"
#include "Vqw_dsp_pair.h"
#include <cstdio>
#include <cstdint>
static int32_t s18(uint32_t v) { return (int32_t)(v << 14) >> 14; }
int main() {
  Vqw_dsp_pair m;
  long checked = 0, wrong = 0;
  for (int w = -128; w <= 255; w++) {
    m.w = (uint32_t)w & 0x1ff;
    for (int hi = -128; hi <= 255; hi++) {
      m.a_hi = (uint32_t)hi & 0x1ff;
      for (int lo = -128; lo <= 255; lo++) {
        m.a_lo = (uint32_t)lo & 0x1ff;
        m.eval();
        checked++;
        if (s18(m.p_lo) != lo * w || s18(m.p_hi) != hi * w) {
          if (wrong++ == 0)
            printf("first a_lo %d a_hi %d w %d: p_lo %d p_hi %d\n", lo, hi, w, s18(m.p_lo),
                   s18(m.p_hi));
        }
      }
    }
  }
  printf("checked %ld wrong %ld\n", checked, wrong);
  return 0;
}
"#;

#[test]
fn a_dsp48e2_pair_gives_both_products_for_every_operand() {
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    let sources = [("qw_dsp_pair.sv", pair_sv().to_string())];
    let scratch = std::env::temp_dir().join(format!("qweave-lint-pair-{}", std::process::id()));
    let lint = verilator.lint(&scratch, "qw_dsp_pair", &sources);
    let _ = std::fs::remove_dir_all(&scratch);
    lint.unwrap_or_else(|e| panic!("{e}"));
    let model = verilator
        .build(
            &common::root().join(".cache/rtl"),
            "qw_dsp_pair",
            &sources,
            TESTBENCH,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let out = model.run("").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.trim_end().lines().last(),
        Some("checked 56623104 wrong 0"),
        "{out}"
    );
}

#[test]
fn yosys_maps_a_pair_to_one_dsp48e2() {
    let dir = std::env::temp_dir().join(format!("qweave-yosys-pair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sv = dir.join("qw_dsp_pair.sv");
    std::fs::write(&sv, pair_sv()).unwrap();
    let cells = qweave_fpga::yosys_utilization(&[sv], "qw_dsp_pair", &dir.join("y"), true);
    let _ = std::fs::remove_dir_all(&dir);
    let cells = cells.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cells.dsp48e2, 1, "{cells:?}");
    // the packing is a 9-bit decrement and the decode an 18-bit add
    assert!(cells.luts < 60, "{cells:?}");
}
