//! The generated accelerator (Calyx controller + SystemVerilog datapath) in Verilator runs
//! compiled programs bit-exactly: for every real-model fixture, DRAM after the RTL run equals
//! DRAM after the ISA simulator's, every layer equals the interpreter's, and the RTL's cycles
//! are within 5 % of the cycle model's. `accel.sv` is clean under `verilator --lint-only
//! -Wall` for every target the RTL builds. Verilator comes from `scripts/hw-tools.sh`.

mod common;

use qweave_backends::rtl::engine::Engine;
use qweave_backends::{execute, program};
use qweave_frontend::files;
use qweave_ir::Tensor;
use std::io::Write;

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
        ("bench_resnet_qop.onnx", common::resnet_input()),
    ];
    for (model, x) in cases {
        let g = common::lowered(model);
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
    common::qweave_env(args, &[("QWEAVE_CACHE", &common::root().join(".cache"))])
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

/// Random transfers — every format and width from 1 to 32 bits, values starting at any bit
/// of a byte, any strides (0 broadcasts, overlapping and gapped rows), padding — each loaded
/// into the accumulators and stored back elsewhere: DRAM after the RTL run equals DRAM after
/// the ISA simulator's.
#[test]
fn random_transfers_in_rtl_equal_the_isa_simulator() {
    let hw = qweave_hw::Target::Sim.preset();
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let size = 120_000usize;
    let mut pairs = 0;
    for program in 0..8 {
        let mut text = String::from(
            "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 \
             lane=0 wport=a\n",
        );
        for k in 0..40 {
            let fmt = ["signed", "unsigned", "bipolar"][rng.int(0, 2) as usize];
            let bits = if fmt == "bipolar" { 1 } else { rng.int(1, 24) };
            let (z, y, x) = (rng.int(1, 5), rng.int(1, 6), rng.int(1, 12));
            let mut stride = |n: i64, run: i64| match rng.int(0, 4) {
                0 => 0,
                1 | 2 => run,
                _ => rng.int(1, 3 * run.max(1)),
            } * i64::from(n > 1);
            let xs = stride(x, 1);
            let ys = stride(y, x * xs.max(1));
            let zs = stride(z, y * ys.max(x * xs.max(1)));
            let pads: Vec<i64> = (0..4).map(|_| rng.int(0, 2)).collect();
            let (bit, dram) = (rng.int(0, 7), rng.int(0, 2000));
            let span = (z - 1) * zs + (y - 1) * ys + (x - 1) * xs + 1;
            assert!(dram * 8 + bit + span * bits < 8 * 8000);
            let (lo, hi) = match fmt {
                "signed" => (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1),
                "unsigned" => (0, (1i64 << bits) - 1),
                _ => (-1, 1),
            };
            let fill = if fmt == "bipolar" {
                [-1, 1][rng.int(0, 1) as usize]
            } else {
                rng.int(lo, hi)
            };
            let (yy, xx) = (pads[0] + y + pads[1], pads[2] + x + pads[3]);
            let pop = if k == 0 { "" } else { " pop=next" };
            text += &format!(
                "load @0 buf=acc fmt={fmt} bits={bits} pad_top={} pad_bottom={} pad_left={} \
                 pad_right={} sram=0 dram={dram} z={z} y={y} x={x} zs={zs} ys={ys} xs={xs} \
                 offset=0 fill={fill} bit={bit}{pop} push=next\n",
                pads[0], pads[1], pads[2], pads[3]
            );
            // stored densely (or row by row with a gap) at its own place in the upper half
            let gap = rng.int(0, 3);
            let (sxs, sys) = (1, xx + gap);
            let szs = yy * sys + rng.int(0, 5);
            let sbit = rng.int(0, 7);
            let sdram = 8000 + k * 2600 + program;
            let need = (z * szs) * bits / 8 + 2;
            assert!(need < 2590 && (sdram as usize) + 2600 < size);
            text += &format!(
                "store @0 sram=0 dram={sdram} fmt={fmt} bits={bits} z={z} y={yy} x={xx} \
                 zs={szs} ys={sys} xs={sxs} bit={sbit} pop=prev push=prev\n"
            );
            pairs += 1;
        }
        text += "sync @0 queue=compute pop=next\nend @0\n";
        let p = qweave_hw::isa::text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let dram: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        let isa = qweave_sim::simulate(&hw, &p, dram.clone())
            .unwrap_or_else(|e| panic!("program {program}: {e}"));
        let rtl = engine
            .run(&p, &dram, 10 * isa.cycles + 10_000, None)
            .unwrap_or_else(|e| panic!("program {program}: {e}"));
        if let Some(b) = (0..size).find(|&b| isa.dram[b] != rtl.dram[b]) {
            let k = (b.saturating_sub(8000)) / 2600;
            panic!(
                "program {program}: DRAM byte {b} is {} in RTL, {} in the ISA simulator (the \
                 store of pair {k})\n{text}",
                rtl.dram[b], isa.dram[b]
            );
        }
    }
    assert_eq!(pairs, 320);
}
