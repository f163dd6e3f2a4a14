//! The generated accelerator (Calyx controller + SystemVerilog datapath) in Verilator runs
//! compiled programs bit-exactly: for every real-model fixture, DRAM after the RTL run equals
//! DRAM after the ISA simulator's, every layer equals the interpreter's, and the RTL's cycles
//! are within 5 % of the cycle model's. `accel.sv` is clean under `verilator --lint-only
//! -Wall` for every target the RTL builds. Verilator comes from `scripts/hw-tools.sh`.

mod common;

use qweave_backends::rtl::engine::Engine;
use qweave_backends::{execute, program};
use qweave_frontend::files;
use qweave_ir::{Graph, Tensor};
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

fn resnet_input() -> Tensor {
    let file = files::read(&common::root().join("tests/models/bench_input.npz")).unwrap();
    let x = file
        .iter()
        .find(|t| t.name.as_deref() == Some("x"))
        .unwrap();
    x.tensor.to_ir().unwrap()
}

#[test]
fn fixtures_run_in_rtl_bit_exactly_within_5_percent_of_the_cycle_model() {
    let hw = qweave_hw::Target::Sim.preset();
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let digits = common::digits(2).0;
    let cases: Vec<(&str, Tensor)> = vec![
        ("digits_qdq.onnx", digits[0].clone()),
        ("digits_qop.onnx", digits[1].clone()),
        ("digits_w4a4.onnx", digits[0].clone()),
        ("digits_w2a2.onnx", digits[1].clone()),
        ("digits_w1a1.onnx", digits[0].clone()),
        ("bench_resnet_qop.onnx", resnet_input()),
    ];
    for (model, x) in cases {
        let g = lowered(model);
        let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        let inputs = [x];
        let isa = execute::simulate(&c, &g, &hw, &inputs).unwrap();
        let rtl = execute::simulate_rtl(&c, &g, &hw, &engine, &inputs, None)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        execute::check(&c, &g, &inputs, &rtl.run.dram).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(
            rtl.run.dram == isa.run.dram,
            "{model}: DRAM after the RTL run differs from the ISA simulator's"
        );
        assert_eq!(rtl.outputs, isa.outputs, "{model}");
        let err = (rtl.run.cycles as f64 / isa.run.cycles as f64 - 1.0) * 100.0;
        let _ = writeln!(
            std::io::stderr(),
            "{model}: RTL {} cycles, cycle model {} ({err:+.2} %)",
            rtl.run.cycles,
            isa.run.cycles
        );
        assert!(
            err.abs() < 5.0,
            "{model}: RTL cycles {err:+.2} % off the cycle model"
        );
    }
}

#[test]
fn accel_sv_is_lint_clean() {
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    for t in [qweave_hw::Target::Sim, qweave_hw::Target::Ice40up5k] {
        let accel =
            qweave_backends::rtl::accel::generate(&t.preset()).unwrap_or_else(|e| panic!("{e}"));
        assert!(accel.futil.contains("component main"));
        let scratch = std::env::temp_dir().join(format!(
            "qweave-lint-accel-{}-{}",
            t.name(),
            std::process::id()
        ));
        let r = verilator.lint(&scratch, "main", &[("accel.sv", accel.sv.clone())]);
        let _ = std::fs::remove_dir_all(&scratch);
        r.unwrap_or_else(|e| panic!("{}: {e}", t.name()));
    }
}

#[test]
fn dsp_targets_are_refused_with_the_way_out() {
    let e =
        qweave_backends::rtl::accel::generate(&qweave_hw::Target::Xczu3eg.preset()).unwrap_err();
    assert!(e.contains("--engine isa"), "{e}");
}

/// Runs `qweave` with the test cache for Verilator models.
fn qweave_cached(args: &[&str]) -> common::Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qweave"))
        .args(args)
        .current_dir(common::root())
        .env("QWEAVE_CACHE", common::root().join(".cache"))
        .output()
        .expect("the qweave binary runs");
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn simulate_with_the_rtl_engine_from_the_command_line() {
    let tmp = std::env::temp_dir().join(format!("qweave-rtl-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("w1a1");
    let out_s = out.to_str().unwrap();
    let r = qweave_cached(&[
        "compile",
        "tests/models/digits_w1a1.onnx",
        "--target",
        "sim",
        "-o",
        out_s,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // one image
    let xa = tmp.join("x.npy");
    let named = files::Named {
        name: Some("x".into()),
        tensor: qweave_frontend::host::HostTensor::from_ir(&common::digits(1).0[0]).unwrap(),
    };
    files::write(&xa, &[named]).unwrap();
    let x = xa.to_str().unwrap();
    let (y_isa, y_rtl, vcd) = (
        tmp.join("isa.npz"),
        tmp.join("rtl.npz"),
        tmp.join("run.vcd"),
    );
    let r = qweave_cached(&["simulate", out_s, "-i", x, "-o", y_isa.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // --vcd belongs to the RTL engine
    let r = qweave_cached(&[
        "simulate",
        out_s,
        "-i",
        x,
        "-o",
        y_rtl.to_str().unwrap(),
        "--vcd",
        vcd.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--engine rtl"), "{}", r.stderr);
    let r = qweave_cached(&[
        "simulate",
        out_s,
        "--engine",
        "rtl",
        "--check",
        "-i",
        x,
        "-o",
        y_rtl.to_str().unwrap(),
        "--vcd",
        vcd.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("in RTL (cycle model"), "{}", r.stdout);
    assert!(
        r.stderr.contains("every layer equal to the interpreter's"),
        "{}",
        r.stderr
    );
    let read = |p: &std::path::Path| files::read(p).unwrap()[0].tensor.clone();
    assert_eq!(read(&y_rtl), read(&y_isa));
    let wave = std::fs::read_to_string(&vcd).unwrap();
    assert!(wave.contains("$enddefinitions") && wave.contains("m_rreq"));
    // the bundle's accel.sv is what runs, and it must be what this qweave generates
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["rtl"]["sv"], "accel.sv");
    let futil = std::fs::read_to_string(out.join("accel.futil")).unwrap();
    assert!(futil.contains("component main") && futil.contains("qw_core("));
    let sv = out.join("accel.sv");
    let mut text = std::fs::read_to_string(&sv).unwrap();
    text.push_str("// edited\n");
    std::fs::write(&sv, text).unwrap();
    let r = qweave_cached(&[
        "simulate",
        out_s,
        "--engine",
        "rtl",
        "-i",
        x,
        "-o",
        y_rtl.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("compile the model again"), "{}", r.stderr);
    // a DSP target's bundle says why it has no RTL yet
    let dsp = tmp.join("dsp");
    let r = qweave_cached(&[
        "compile",
        "tests/models/digits_w4a4.onnx",
        "--target",
        "xczu3eg",
        "-o",
        dsp.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!dsp.join("accel.sv").exists());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dsp.join("manifest.json")).unwrap()).unwrap();
    assert!(
        m["rtl"]["reason"].as_str().unwrap().contains("DSP48E2"),
        "{m}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
