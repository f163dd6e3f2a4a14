//! The generated accelerator in Verilator runs compiled programs bit-exactly: DRAM after an
//! RTL run equals DRAM after the ISA simulator's, every layer equals the interpreter's, and
//! the RTL's cycles are within 5 % of the cycle model's.

mod common;

use qweave_backends::rtl::engine::Engine;
use qweave_backends::{execute, program};
use qweave_ir::Graph;
use std::io::Write;

fn lowered(model: &str) -> Graph {
    let mut g = qweave_frontend::import_file(&common::root().join("tests/models").join(model))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let options = qweave_passes::PipelineOptions { verify_each: false };
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| p.run(&mut g, options, |_, _| {}))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    g
}

#[test]
fn digits_fixtures_run_in_rtl_bit_exactly() {
    let hw = qweave_hw::Target::Sim.preset();
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    for model in [
        "digits_qdq.onnx",
        "digits_qop.onnx",
        "digits_w4a4.onnx",
        "digits_w2a2.onnx",
        "digits_w1a1.onnx",
    ] {
        let g = lowered(model);
        let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        let inputs = [common::digits(1).0.remove(0)];
        let dram = execute::prepare(&c, &g, &inputs).unwrap();
        let isa = qweave_sim::simulate(&hw, &c.program, dram.clone()).unwrap();
        let rtl = engine
            .run(&c.program, &dram, 10 * isa.cycles + 10_000, None)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let _ = writeln!(
            std::io::stderr(),
            "{model}: isa {} cycles, rtl {} cycles",
            isa.cycles,
            rtl.cycles
        );
        execute::check(&c, &g, &inputs, &rtl.dram).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(rtl.dram == isa.dram, "{model}: DRAM differs");
    }
}

#[test]
fn accel_sv_is_lint_clean() {
    let hw = qweave_hw::Target::Sim.preset();
    let accel = qweave_backends::rtl::accel::generate(&hw).unwrap_or_else(|e| panic!("{e}"));
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    let scratch = std::env::temp_dir().join(format!("qweave-lint-accel-{}", std::process::id()));
    let r = verilator.lint(&scratch, "main", &[("accel.sv", accel.sv.clone())]);
    let _ = std::fs::remove_dir_all(&scratch);
    r.unwrap_or_else(|e| panic!("{e}"));
}
