//! Every bundled fixture that lowers to the q level compiles for the accelerator and
//! simulates bit-exactly against the interpreter, layer by layer; one that keeps float ops
//! is refused naming its first float layer. `qweave compile`'s directory handling and the
//! errors of its FPGA step are tested through the CLI.

mod common;

use qweave_backends::{execute, program};
use qweave_frontend::files;
use qweave_ir::Tensor;
use std::path::Path;

fn images(n: usize) -> Vec<Tensor> {
    common::digits(n).0
}

#[test]
fn digits_fixtures_simulate_bit_exactly_layer_by_layer() {
    let hw = qweave_hw::Target::Sim.preset();
    for model in [
        "digits_qdq.onnx",
        "digits_qop.onnx",
        "digits_w4a4.onnx",
        "digits_w2a2.onnx",
        "digits_w1a1.onnx",
    ] {
        let g = common::lowered(model);
        let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(c.layers.len() >= 10, "{model}: {} layers", c.layers.len());
        for x in images(4) {
            let inputs = [x];
            let s =
                execute::simulate(&c, &g, &hw, &inputs).unwrap_or_else(|e| panic!("{model}: {e}"));
            execute::check(&c, &g, &inputs, &s.run.dram).unwrap_or_else(|e| panic!("{model}: {e}"));
            let want = qweave_interp::run(&g, &inputs).unwrap();
            assert_eq!(s.outputs, want, "{model}: the dequantized logits");
            assert!(s.run.macs > 0 && s.run.cycles > 0);
        }
    }
}

#[test]
fn the_int8_resnet8_fixture_simulates_bit_exactly() {
    let g = common::lowered("bench_resnet_qop.onnx");
    let hw = qweave_hw::Target::Sim.preset();
    let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{e}"));
    let inputs = [common::resnet_input()];
    let s = execute::simulate(&c, &g, &hw, &inputs).unwrap_or_else(|e| panic!("{e}"));
    execute::check(&c, &g, &inputs, &s.run.dram).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.outputs, qweave_interp::run(&g, &inputs).unwrap());
    // 12.5 M MACs per image, as the interpreter benchmark counts them
    assert_eq!(s.run.macs, 12_501_632);
}

/// The e-graph mapping of every fixture on the simulation and ZU3EG targets: bit-exact layer by layer, within
/// the target's resources, and never slower than the default mapping.
#[test]
fn every_fixture_maps_with_the_egraph_bit_exactly_and_no_slower() {
    use qweave_hw::Target;
    let models = [
        "digits_qdq.onnx",
        "digits_qop.onnx",
        "digits_w4a4.onnx",
        "digits_w2a2.onnx",
        "digits_w1a1.onnx",
        "bench_resnet_qop.onnx",
    ];
    let mut faster = 0;
    for model in models {
        let g = common::lowered(model);
        let x = if model.starts_with("bench") {
            common::resnet_input()
        } else {
            images(1).remove(0)
        };
        // (their wide sums fit none of the iCE40's 24-bit accumulators; random networks map
        // there in `backends/tests/random_nets.rs`)
        for t in [Target::Sim, Target::Xczu3eg] {
            let hw = t.preset();
            let d = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
            let m = qweave_backends::mapping::map(&g, &hw, t, &Default::default())
                .unwrap_or_else(|e| panic!("{model} on {}: {e}", t.name()));
            qweave_hw::estimate(&m.hw, t).unwrap_or_else(|e| panic!("{model}: {e}"));
            let c = program::compile_with(&g, &m.hw, &m.bindings)
                .unwrap_or_else(|e| panic!("{model} on {}: {e}", t.name()));
            let inputs = [x.clone()];
            let s = execute::simulate(&c, &g, &m.hw, &inputs)
                .unwrap_or_else(|e| panic!("{model} on {}: {e}", t.name()));
            execute::check(&c, &g, &inputs, &s.run.dram)
                .unwrap_or_else(|e| panic!("{model} on {}: {e}", t.name()));
            let base = qweave_sim::time(&hw, &d.program).unwrap().cycles;
            assert!(
                s.run.cycles <= base,
                "{model} on {}: {} cycles mapped, {base} by default",
                t.name(),
                s.run.cycles
            );
            faster += usize::from(s.run.cycles < base);
        }
    }
    assert!(faster >= 6, "only {faster} fixtures and targets gained");
}

#[test]
fn a_fixture_with_float_ops_left_is_refused_naming_the_layer() {
    let g = common::lowered("digits_qonnx_misc.onnx");
    let e = program::compile(&g, &qweave_hw::Target::Sim.preset()).unwrap_err();
    assert_eq!(e.layer, "conv_a");
    assert!(e.message.contains("not an integer op"), "{e}");
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qweave-compile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn compile_then_simulate_from_the_command_line_matches_the_interpreter() {
    let tmp = scratch("cli");
    let out = tmp.join("w2a2");
    let model = common::root().join("tests/models/digits_w2a2.onnx");
    let (model, out_s) = (model.to_str().unwrap(), out.to_str().unwrap());
    let r = common::qweave(&["compile", model, "--target", "sim", "-o", out_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in [
        "program.bin",
        "program.s",
        "weights.bin",
        "manifest.json",
        "report.md",
        "model.qir",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["version"], 2);
    assert_eq!(m["mapping"]["kind"], "egraph");
    assert_eq!(m["inputs"][0]["shape"], serde_json::json!([1, 1, 8, 8]));
    assert_eq!(m["inputs"][0]["host"], "onnx.quantize_linear");
    assert!(m["inputs"][0]["quant"]["scale"].as_f64().unwrap() > 0.0);
    assert_eq!(m["outputs"][0]["host"], "onnx.dequantize_linear");
    let layers = m["layers"].as_array().unwrap();
    assert!(
        layers.iter().any(|l| l["mode"] == "w2a2"),
        "a 2-bit layer runs in w2a2"
    );
    let per_layer: u64 = layers
        .iter()
        .map(|l| l["modeled"]["macs"].as_u64().unwrap())
        .sum();
    assert_eq!(per_layer, m["modeled"]["macs"].as_u64().unwrap());
    assert!(m["modeled"]["cycles"].as_u64().unwrap() > 0);
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("| total |")
    );
    // three images through the simulator, checked layer by layer, equal to `qweave run`
    let x = common::root().join("tests/models/digits_test.npz");
    let x = x.to_str().unwrap();
    let y = tmp.join("y.npz");
    let r = common::qweave(&[
        "simulate",
        out_s,
        "--engine",
        "isa",
        "-i",
        x,
        "-o",
        y.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("MACs per cycle") && r.stdout.contains("latency"),
        "{}",
        r.stdout
    );
    let yr = tmp.join("yr.npz");
    let r = common::qweave(&[
        "run",
        model,
        "--level",
        "q",
        "-i",
        x,
        "-o",
        yr.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |p: &Path| files::read(p).unwrap()[0].tensor.clone();
    assert_eq!(read(&y), read(&yr));
    // a program that is not what the model compiles to is refused
    let mut bin = std::fs::read(out.join("program.bin")).unwrap();
    bin[20] ^= 1;
    std::fs::write(out.join("program.bin"), bin).unwrap();
    let r = common::qweave(&["simulate", out_s, "-i", x, "-o", y.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("compile the model again"), "{}", r.stderr);
    // model.qir is the hw level: the array ops carry their bindings
    let qir = std::fs::read_to_string(out.join("model.qir")).unwrap();
    assert!(qir.contains("map = [w2a2, bricks,"), "{qir}");
    // the default mapping: a q-level model.qir, simulated as exactly
    let out2 = tmp.join("default");
    let out2_s = out2.to_str().unwrap();
    let r = common::qweave(&["compile", model, "--mapping", "default", "-o", out2_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !std::fs::read_to_string(out2.join("model.qir"))
            .unwrap()
            .contains("map =")
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["mapping"]["kind"], "default");
    let r = common::qweave(&[
        "simulate",
        out2_s,
        "-i",
        x,
        "-o",
        y.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read(&y), read(&yr));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_model_that_cannot_map_leaves_nothing_written() {
    let tmp = scratch("bad");
    let out = tmp.join("out");
    let model = common::root().join("tests/models/digits_qonnx_misc.onnx");
    let r = common::qweave(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("layer 'conv_a'"), "{}", r.stderr);
    assert!(!out.exists());
    // a directory that holds something else is not replaced
    let keep = tmp.join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("notes.txt"), "mine").unwrap();
    let good = common::root().join("tests/models/digits_qdq.onnx");
    let r = common::qweave(&[
        "compile",
        good.to_str().unwrap(),
        "-o",
        keep.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not hold a compilation"),
        "{}",
        r.stderr
    );
    assert!(keep.join("notes.txt").exists());
    let r = common::qweave(&[
        "compile",
        good.to_str().unwrap(),
        "--target",
        "nope",
        "-o",
        "x",
    ]);
    assert_eq!(r.code, 1);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A failing FPGA tool stops `compile` with the step, its command line, its exit status and
/// the tail of its log; DIR is left as it was and the tool's files are kept beside it. (A
/// stand-in `yosys` that fails is put first on the PATH.)
#[test]
fn a_failing_fpga_tool_surfaces_its_command_and_log() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = std::env::temp_dir().join(format!("qweave-failing-tool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let yosys = bin.join("yosys");
    std::fs::write(
        &yosys,
        "#!/bin/sh\necho 'reading the design'\necho 'ERROR: no licence for this part' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&yosys, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tmp.join("zu");
    let compile = |more: &[&str]| {
        let out = out.to_str().unwrap();
        let mut args = vec![
            "compile",
            "tests/models/digits_w4a4.onnx",
            "--target",
            "xczu3eg",
            "--mapping",
            "default",
            "-o",
            out,
        ];
        args.extend_from_slice(more);
        common::qweave_env(&args, &[("PATH", Path::new(&path))])
    };
    let r = compile(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("synthesis failed (exit status: 3)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&yosys.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("synth_xilinx -family xcup -flatten -top qw_dsp_column"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("ERROR: no licence for this part"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    assert!(
        tmp.join("zu.failed/yosys/synth.log").is_file(),
        "{}",
        r.stderr
    );
    // without the tools, the program and the design are written
    let r = compile(&["--no-fpga-tools"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.join("accel.sv").is_file() && !out.join("yosys").exists());
    let _ = std::fs::remove_dir_all(&tmp);
}
