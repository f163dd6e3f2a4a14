//! `qweave compile --datapath serial` for a Zynq part: the serial datapath (block-RAM
//! memories, a column of multipliers two to a DSP48E2) that yosys synthesizes whole and
//! checks against the part, the Vivado script for it, and the bundle simulated in RTL
//! bit-exactly with the prediction beside the interpreter's; and the datapaths a target
//! does not have, refused. yosys and Verilator come from `scripts/hw-tools.sh`.

mod common;

fn qweave_cached(args: &[&str]) -> common::Run {
    common::qweave_env(args, &[("QWEAVE_CACHE", &common::root().join(".cache"))])
}

#[test]
fn the_zynq_serial_datapath_is_counted_whole_and_runs_in_rtl() {
    let tmp = std::env::temp_dir().join(format!("qweave-zynq-serial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("zu3");
    let out_s = out.to_str().unwrap();
    let r = qweave_cached(&[
        "compile",
        "tests/models/digits_qdq.onnx",
        "--target",
        "xczu3eg",
        "--datapath",
        "serial",
        "-o",
        out_s,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let fpga = &m["fpga"];
    assert_eq!(fpga["datapath"], "serial", "{fpga}");
    // the column: 32 multipliers in 16 DSP48E2, two products each; the whole design's
    // DSP48E2 are those and the setup product's and the micro-machine's
    assert_eq!(fpga["column"]["rows"], 32, "{fpga}");
    assert_eq!(fpga["column"]["dsp48e2"], 16, "{fpga}");
    assert_eq!(fpga["column"]["products_per_dsp"], 2, "{fpga}");
    let used = |r: &str| fpga["utilization"][r]["used"].as_u64().unwrap();
    let available = |r: &str| fpga["utilization"][r]["available"].as_u64().unwrap();
    assert_eq!(used("DSP48E2"), 18, "{fpga}");
    // every memory is block RAM: one input copy a row at least, and no memory in LUTs
    // beyond the FIFOs' few
    assert!(used("RAMB36") >= 32, "{fpga}");
    for r in ["LUT", "FF", "DSP48E2", "RAMB36", "CARRY8"] {
        assert!(used(r) > 0 && used(r) <= available(r), "{r}: {fpga}");
    }
    assert!(used("LUT") < 20_000, "{fpga}");
    assert!(
        r.stderr.contains("yosys: the serial datapath takes")
            && r.stderr
                .contains("/360 DSP48E2 (16 for the column's 32 multipliers"),
        "{}",
        r.stderr
    );
    let log = std::fs::read_to_string(out.join("yosys/synth.log")).unwrap();
    assert!(log.contains("synth_xilinx -family xcup -flatten -top main"));
    let tcl = std::fs::read_to_string(out.join("vivado/build.tcl")).unwrap();
    assert!(tcl.contains("synth_design -top main -part xczu3eg-sbva484-1-e -mode out_of_context"));
    assert!(tcl.contains("create_clock -period 20.000 -name clk [get_ports clk]"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## FPGA build (ZU3EG, xczu3eg-sbva484-1-e, serial datapath)"));
    assert!(r.stderr.contains("vivado -mode batch -source build.tcl"));
    let sv = std::fs::read_to_string(out.join("accel.sv")).unwrap();
    assert!(sv.contains("module qw_dsp_pair") && !sv.contains("module board"));

    // the bundle in RTL: every layer the interpreter's, and the same class
    let y = tmp.join("y.npz");
    let r = qweave_cached(&[
        "simulate",
        out_s,
        "--engine",
        "rtl",
        "-i",
        "examples/digits_image.npz",
        "-o",
        y.to_str().unwrap(),
        "--check",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("every layer equal"), "{}", r.stderr);
    assert!(r.stdout.contains("(1 of 1 equal)"), "{}", r.stdout);
    // no board shell in a Zynq bundle
    let r = qweave_cached(&[
        "simulate",
        out_s,
        "--engine",
        "board",
        "-i",
        "examples/digits_image.npz",
        "-o",
        y.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("use --engine rtl"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_datapath_the_target_does_not_have_is_refused() {
    let tmp = std::env::temp_dir().join(format!("qweave-datapath-{}", std::process::id()));
    let out = tmp.join("out");
    for (target, datapath, says) in [
        ("sim", "serial", "target sim has no serial datapath"),
        (
            "ice40up5k",
            "parallel",
            "target ice40up5k has only the serial datapath",
        ),
    ] {
        let r = common::qweave(&[
            "compile",
            "tests/models/digits_qdq.onnx",
            "--target",
            target,
            "--datapath",
            datapath,
            "--no-fpga-tools",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
        assert!(!out.exists());
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
