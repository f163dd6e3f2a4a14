//! `qweave compile --datapath serial` for a Zynq part: the serial datapath (block-RAM
//! memories, a column of multipliers two to a DSP48E2) that yosys synthesizes whole and
//! checks against the part, the Vivado script for it (out of context on the ZU3EG, a
//! bitstream with the ZCU102's board shell and pins on the ZU9EG), and the bundle simulated
//! in RTL bit-exactly; and the datapaths a target does not have, refused. yosys and Verilator come from `scripts/hw-tools.sh`.

mod common;

/// The ZU3EG's: `main` alone (no board shell: the Ultra96-V2's logic has no oscillator or
/// UART of its own), its rows paired; the bundle bit-exact in RTL with the interpreter's
/// prediction, within 32 cycles of the cycle model (`rtl_accel.rs` runs every fixture on
/// the UP5K's column, the same RTL but for the pairing).
#[test]
fn the_zu3eg_serial_bundle_runs_in_rtl_bit_exactly() {
    let tmp = std::env::temp_dir().join(format!("qweave-zu3-serial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("zu3");
    let out_s = out.to_str().unwrap();
    let r = common::qweave_cached(&[
        "compile",
        "tests/models/digits_qdq.onnx",
        "--target",
        "xczu3eg",
        "--datapath",
        "serial",
        "--no-fpga-tools",
        "-o",
        out_s,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        (&m["hw"]["serial"], &m["hw"]["rows"]),
        (&serde_json::json!(true), &serde_json::json!(32))
    );
    let sv = std::fs::read_to_string(out.join("accel.sv")).unwrap();
    assert!(sv.contains("module qw_dsp_pair") && !sv.contains("module board"));
    assert!(!sv.contains("`define QW_ICE40_BLOCKS"));

    // the bundle in RTL: every layer the interpreter's, and the same class
    let y = tmp.join("y.npz");
    let r = common::qweave_cached(&[
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
    // the serial datapath's cycles within 32 of its model's
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("cycles per item in RTL (cycle model "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let leading = |text: &str| -> u64 {
        text[..text.find(|c: char| !c.is_ascii_digit()).unwrap()]
            .parse()
            .unwrap()
    };
    let (rtl, model) = (
        leading(line),
        leading(line.split("(cycle model ").nth(1).unwrap()),
    );
    assert!(rtl.abs_diff(model) < 32, "{line}");
    // no board shell
    let r = common::qweave_cached(&[
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

/// A stand-in `yosys` that writes the given cell counts of `board` where the flow reads
/// them, in a `bin` folder of `tmp`; the `PATH` that puts it first.
fn fake_yosys(tmp: &std::path::Path, counts: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let yosys = bin.join("yosys");
    let stat = format!(r#"{{"modules": {{"\\board": {{"num_cells_by_type": {{{counts}}}}}}}}}"#);
    std::fs::write(
        &yosys,
        format!("#!/bin/sh\necho 'synth_xilinx -family xcup -flatten -top board'\ncat > synth_stat.json <<'EOF'\n{stat}\nEOF\n"),
    )
    .unwrap();
    std::fs::set_permissions(&yosys, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The ZU9EG's, in the ZCU102's board shell: the whole chip, a bitstream script with the
/// board's pins and the one that programs it, yosys' count of `board` checked against the
/// part (a design over it is an error). yosys is a stand-in here that reports the counts the
/// real one gives for this design (`docs/hw.md`): its synthesis takes 40 s, and the suite
/// has the real one synthesize the shell around a stand-in accelerator (`rtl_board.rs`), a
/// pair (`rtl_dsp_pair.rs`) and the DSP array's column (`rtl_accel.rs`).
#[test]
fn the_zcu102_bundle_is_a_bitstream_script_for_its_board_shell() {
    let tmp = std::env::temp_dir().join(format!("qweave-zcu102-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("zcu102");
    let out_s = out.to_str().unwrap();
    let compile = |path: &str| {
        common::qweave_env(
            &[
                "compile",
                "tests/models/digits_w1a1.onnx",
                "--target",
                "xczu9eg",
                "--datapath",
                "serial",
                "-o",
                out_s,
            ],
            &[("PATH", std::path::Path::new(path))],
        )
    };
    // too many DSP48E2 for the part: an error naming it, and DIR not written
    let r = compile(&fake_yosys(&tmp, r#""LUT6": 10, "DSP48E2": 3000"#));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not fit the ZU9EG")
            && r.stderr.contains("DSP48E2: needs 3000, the ZU9EG has 2520"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    let counts = r#""LUT6": 6948, "FDRE": 3777, "CARRY4": 810, "DSP48E2": 18, "RAMB36E2": 101,
        "RAMB18E2": 6, "IBUFDS": 1, "MMCME4_BASE": 1, "BUFG": 1, "IBUF": 1, "OBUF": 2"#;
    let r = compile(&fake_yosys(&tmp, counts));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let fpga = &m["fpga"];
    assert_eq!(fpga["implement"], "bitstream", "{fpga}");
    assert_eq!(fpga["bitstream"], "vivado/out/accel.bit", "{fpga}");
    assert_eq!(fpga["board"], "ZCU102", "{fpga}");
    assert_eq!(fpga["datapath"], "serial", "{fpga}");
    // the column: 32 multipliers in 16 DSP48E2, two products each; the whole design's
    // DSP48E2 are those and the setup product's and the micro-machine's
    assert_eq!(fpga["column"]["rows"], 32, "{fpga}");
    assert_eq!(fpga["column"]["dsp48e2"], 16, "{fpga}");
    assert_eq!(fpga["column"]["products_per_dsp"], 2, "{fpga}");
    let used = |r: &str| fpga["utilization"][r]["used"].as_u64().unwrap();
    let available = |r: &str| fpga["utilization"][r]["available"].as_u64().unwrap();
    // yosys' counts as the part's resources: RAMB18E2 two to a RAMB36, CARRY4 to a CARRY8
    for (r, n, of) in [
        ("LUT", 6948, 274_080),
        ("FF", 3777, 548_160),
        ("DSP48E2", 18, 2520),
        ("RAMB36", 104, 912),
        ("CARRY8", 405, 34_260),
    ] {
        assert_eq!((used(r), available(r)), (n, of), "{r}: {fpga}");
    }
    assert!(
        r.stderr.contains("yosys: the serial datapath takes")
            && r.stderr
                .contains("/2520 DSP48E2 (16 for the column's 32 multipliers"),
        "{}",
        r.stderr
    );
    let tcl = std::fs::read_to_string(out.join("vivado/build.tcl")).unwrap();
    assert!(tcl.contains(
        "synth_design -top board -part xczu9eg-ffvb1156-2-e -verilog_define SYNTHESIS\n"
    ));
    assert!(tcl.contains("create_clock -period 8.000 -name clk_125mhz_p [get_ports clk_125mhz_p]"));
    assert!(tcl.contains("read_xdc pins.xdc\n"));
    assert!(
        tcl.trim_end()
            .ends_with("write_bitstream -force [file join $out accel.bit]")
    );
    let program = std::fs::read_to_string(out.join("vivado/program.tcl")).unwrap();
    assert!(program.contains("get_hw_devices xczu9*") && program.contains("out/accel.bit"));
    assert_eq!(fpga["program_script"], "vivado/program.tcl", "{fpga}");
    let pins = std::fs::read_to_string(out.join("vivado/pins.xdc")).unwrap();
    assert_eq!(pins, qweave_backends::rtl::zcu102::XDC);
    let log = std::fs::read_to_string(out.join("yosys/synth.log")).unwrap();
    assert!(log.contains("synth_xilinx -family xcup -flatten -top board"));
    assert!(
        r.stderr.contains("to run it on a ZCU102: cd ")
            && r.stderr.contains("vivado -mode batch -source program.tcl")
            && r.stderr.contains("qweave board run"),
        "{}",
        r.stderr
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## FPGA build (ZU9EG, xczu9eg-ffvb1156-2-e, serial datapath)"));
    assert!(report.contains("`vivado/out/accel.bit`"), "{report}");
    let sv = std::fs::read_to_string(out.join("accel.sv")).unwrap();
    assert!(sv.contains("module qw_dsp_pair") && sv.contains("MMCME4_BASE"));
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
