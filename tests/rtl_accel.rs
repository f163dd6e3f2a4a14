//! The generated accelerator (Calyx controller + SystemVerilog datapath) in Verilator runs
//! compiled programs bit-exactly: for every real-model fixture, DRAM after the RTL run equals
//! DRAM after the ISA simulator's, every layer equals the interpreter's, and the RTL's cycles
//! are within 5 % of the cycle model's, on the bricks array (`sim`), the ZU3EG's DSP48E2 PEs
//! (in an 8x4 array) and the serial datapath (`ice40up5k`). `accel.sv` is clean under
//! `verilator -Wall` for each of them. Verilator comes from `scripts/hw-tools.sh`.

mod common;

use qweave_backends::rtl::engine::Engine;
use qweave_backends::{execute, program};
use qweave_frontend::files;
use qweave_ir::Tensor;
use std::io::Write;

/// The ZU3EG's DSP48E2 PE, with every packing its preset builds, in an 8x4 array: the
/// preset's 16x16 array is the same PE and column repeated, and its Verilator model takes
/// about 80 s to build on 2 cores.
fn dsp_array() -> qweave_hw::HwConfig {
    qweave_hw::Target::Xczu3eg.preset().resized(8, 4)
}

/// Every fixture on the accelerator `hw` (but ResNet-8 on the serial datapath, where it takes
/// 6.9 million cycles): bit-exact, and within 5 % of the model.
fn fixtures_on(hw: &qweave_hw::HwConfig) {
    let engine = Engine::build(hw, &common::root().join(".cache/rtl"), false)
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
        if hw.serial && model.starts_with("bench_resnet") {
            continue;
        }
        let g = common::lowered(model);
        let c = program::compile(&g, hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        let inputs = [x];
        let isa = execute::simulate(&c, &g, hw, &inputs).unwrap();
        let rtl = execute::simulate_rtl(&c, &g, hw, &engine, &inputs, None)
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
            "{} {}x{} {model}: RTL {} cycles, cycle model {} ({err:+.2} %)",
            hw.target,
            hw.rows,
            hw.cols,
            rtl.run.cycles,
            isa.run.cycles
        );
        assert!(
            err.abs() < 5.0,
            "{model}: RTL cycles {err:+.2} % off the cycle model"
        );
        // the serial datapath's model counts every write and fetch: a few cycles apart
        assert!(
            !hw.serial || rtl.run.cycles.abs_diff(isa.run.cycles) < 32,
            "{model}: RTL cycles {} against the serial cycle model's {}",
            rtl.run.cycles,
            isa.run.cycles
        );
    }
}

#[test]
fn fixtures_run_on_bricks_pes_in_rtl_bit_exactly_within_5_percent_of_the_cycle_model() {
    fixtures_on(&qweave_hw::Target::Sim.preset());
}

#[test]
fn fixtures_run_on_dsp_pes_in_rtl_bit_exactly_within_5_percent_of_the_cycle_model() {
    fixtures_on(&dsp_array());
}

#[test]
fn fixtures_run_on_the_serial_datapath_in_rtl_bit_exactly_within_5_percent_of_the_cycle_model() {
    fixtures_on(&qweave_hw::Target::Ice40up5k.preset());
}

/// The serial datapath with a column of 2 plain multipliers (the UP5K's preset has one; the
/// Zynq's 32 are paired, `rtl_zynq_serial.rs`),
/// each row's input buffer a share of the preset's: the shadow bank and the write-back of
/// several rows, bit-exact and on the model's cycles.
#[test]
fn a_wider_serial_column_runs_bit_exactly() {
    let x = common::digits(1).0[0].clone();
    let mut hw = qweave_hw::Target::Ice40up5k.preset().resized(2, 1);
    hw.input_bank_bytes /= 2;
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let g = common::lowered("digits_w4a4.onnx");
    let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{e}"));
    let inputs = [x];
    let isa = execute::simulate(&c, &g, &hw, &inputs).unwrap();
    let rtl = execute::simulate_rtl(&c, &g, &hw, &engine, &inputs, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rtl.run.dram == isa.run.dram, "DRAM differs");
    assert!(
        rtl.run.cycles.abs_diff(isa.run.cycles) < 32,
        "RTL {} cycles, model {}",
        rtl.run.cycles,
        isa.run.cycles
    );
    let _ = writeln!(
        std::io::stderr(),
        "ice40up5k 2x1 digits_w4a4.onnx: RTL {} cycles, cycle model {}",
        rtl.run.cycles,
        isa.run.cycles
    );
}

/// The engine builds its models with `-Wall`, so the fixtures tests hold their designs to it
/// (the ZU3EG's and ZU9EG's presets are the same PE in larger arrays: clean too, but
/// Verilator takes minutes and, for the ZU9EG's, 13 GB on them, too much beside the rest of
/// the suite); here the lint alone, the way a user runs it, on the serial datapath.
#[test]
fn accel_sv_is_lint_clean() {
    let verilator = qweave_rtl::Verilator::find().unwrap_or_else(|e| panic!("{e}"));
    let accel = qweave_backends::rtl::accel::generate(&qweave_hw::Target::Ice40up5k.preset())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(accel.futil.contains("component main"));
    let scratch = std::env::temp_dir().join(format!("qweave-lint-accel-{}", std::process::id()));
    let r = verilator.lint(&scratch, "main", &[("accel.sv", accel.sv.clone())]);
    let _ = std::fs::remove_dir_all(&scratch);
    r.unwrap_or_else(|e| panic!("{e}"));
}

/// What yosys synthesizes of the serial datapath — its `SYNTHESIS` branch, block RAMs
/// instantiated — elaborates against the iCE40 cell library, every memory's blocks included.
#[test]
fn the_serial_datapath_elaborates_in_yosys_with_its_block_rams() {
    let accel = qweave_backends::rtl::accel::generate(&qweave_hw::Target::Ice40up5k.preset())
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("qweave-yosys-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("accel.sv"), &accel.sv).unwrap();
    let out = std::process::Command::new("yosys")
        .current_dir(&dir)
        .args([
            "-q",
            "-p",
            "read_verilog -lib +/ice40/cells_sim.v; read_verilog -sv accel.sv; \
             hierarchy -check -top main; stat",
        ])
        .output()
        .unwrap_or_else(|e| panic!("yosys: {e} (scripts/hw-tools.sh installs it)"));
    let _ = std::fs::remove_dir_all(&dir);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
}

#[test]
fn a_dsp_pe_without_packings_is_refused() {
    let hw = qweave_hw::HwConfig {
        packings: Vec::new(),
        ..qweave_hw::Target::Xczu3eg.preset()
    };
    let e = qweave_backends::rtl::accel::generate(&hw).unwrap_err();
    assert!(e.contains("built with no packing"), "{e}");
}

#[test]
fn simulate_with_the_rtl_engine_from_the_command_line() {
    let tmp = std::env::temp_dir().join(format!("qweave-rtl-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("w1a1");
    let out_s = out.to_str().unwrap();
    // (the serial datapath: its waveform-writing model builds quickest)
    let r = common::qweave_cached(&[
        "compile",
        "tests/models/digits_w1a1.onnx",
        "--target",
        "ice40up5k",
        "--no-fpga-tools",
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
    let r = common::qweave_cached(&["simulate", out_s, "-i", x, "-o", y_isa.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // --vcd belongs to the RTL engine
    let r = common::qweave_cached(&[
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
    let r = common::qweave_cached(&[
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
    // the board engine: the bitstream's design, loaded, run and read back over its UART
    let y_board = tmp.join("board.npz");
    let r = common::qweave_cached(&[
        "simulate",
        out_s,
        "--engine",
        "board",
        "--check",
        "-i",
        x,
        "-o",
        y_board.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("on the board, as it counts them (cycle model"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("over the UART at 1000000 baud"),
        "{}",
        r.stderr
    );
    assert_eq!(read(&y_board), read(&y_isa));
    // the bundle's accel.sv is what runs, and it must be what this qweave generates
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["rtl"]["sv"], "accel.sv");
    let futil = std::fs::read_to_string(out.join("accel.futil")).unwrap();
    assert!(futil.contains("component main") && futil.contains("qw_serial_core("));
    let sv = out.join("accel.sv");
    let mut text = std::fs::read_to_string(&sv).unwrap();
    text.push_str("// edited\n");
    std::fs::write(&sv, text).unwrap();
    let r = common::qweave_cached(&[
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
    // a DSP target's bundle holds its own DSP48E2 array (running it would build the preset's
    // 16x16 array in Verilator, minutes; the fixtures test runs the same PE in a smaller one)
    let dsp = tmp.join("dsp");
    let r = common::qweave_cached(&[
        "compile",
        "tests/models/digits_w4a4.onnx",
        "--target",
        "xczu3eg",
        "--mapping",
        "default",
        "-o",
        dsp.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // (no board shell there)
    let rb = common::qweave_cached(&[
        "simulate",
        dsp.to_str().unwrap(),
        "--engine",
        "board",
        "-i",
        x,
        "-o",
        y_board.to_str().unwrap(),
    ]);
    assert_eq!(rb.code, 1);
    assert!(rb.stderr.contains("use --engine rtl"), "{}", rb.stderr);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dsp.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["rtl"]["sv"], "accel.sv", "{m}");
    let sv = std::fs::read_to_string(dsp.join("accel.sv")).unwrap();
    assert!(
        sv.contains("module qw_dsp_mul")
            && sv.contains("module qw_dsp_column")
            && sv.contains("filter 3x2")
    );
    // the FPGA step: yosys maps a column of 16 PEs to 16 DSP48E2, and the Vivado script
    // implements the design out of context; the command to run it is printed
    let fpga = &m["fpga"];
    assert_eq!(fpga["column"]["dsp48e2"], 16, "{fpga}");
    assert_eq!(fpga["pe"]["dsp48e2"], 1, "{fpga}");
    assert_eq!(fpga["array"]["dsp48e2"], 256, "{fpga}");
    assert!(fpga["pe"]["luts"].as_u64().unwrap() > 0, "{fpga}");
    let products: Vec<u64> = fpga["packings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["products_per_dsp"].as_u64().unwrap())
        .collect();
    assert!(products.contains(&2) && products.contains(&6), "{fpga}");
    let tcl = std::fs::read_to_string(dsp.join("vivado/build.tcl")).unwrap();
    assert!(tcl.contains("read_verilog -sv ../accel.sv"), "{tcl}");
    assert!(tcl.contains(
        "synth_design -top main -part xczu3eg-sbva484-1-e -verilog_define SYNTHESIS -mode \
         out_of_context"
    ));
    assert!(tcl.contains("create_clock -period 5.000 -name clk [get_ports clk]"));
    let vivado = format!(
        "cd {} && vivado -mode batch -source build.tcl",
        dsp.join("vivado").display()
    );
    assert!(r.stderr.contains(&vivado), "{}", r.stderr);
    assert!(
        r.stderr.contains("products/PE") && r.stderr.contains("total"),
        "{}",
        r.stderr
    );
    let report = std::fs::read_to_string(dsp.join("report.md")).unwrap();
    assert!(report.contains("## FPGA build (ZU3EG"), "{report}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn compiling_for_the_ice40_builds_a_bitstream_iceunpack_reads() {
    let tmp = std::env::temp_dir().join(format!("qweave-ice40-flow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("w1a1");
    let r = common::qweave(&[
        "compile",
        "tests/models/digits_w1a1.onnx",
        "--target",
        "ice40up5k",
        "-o",
        out.to_str().unwrap(),
    ]);
    // synthesis, the pack check, place and route on the iCEBreaker's pins, icepack
    assert_eq!(r.code, 0, "{}", r.stderr);
    for step in [
        "synthesis: done",
        "place and route: done",
        "bitstream: done",
    ] {
        assert!(r.stderr.contains(step), "{step}: {}", r.stderr);
    }
    let bin = out.join("ice40/accel.bin");
    assert!(bin.is_file());
    // the bitstream reads back as a UP5K's
    let asc = tmp.join("unpacked.asc");
    qweave_fpga::unpack_ice40(&qweave_fpga::Tools::on_path(), &bin, &asc, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&asc).unwrap();
    assert!(
        text.contains(".device 5k"),
        "{}",
        &text[..200.min(text.len())]
    );
    // fmax and utilization in the manifest; the clock met
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let fmax = manifest["fmax_mhz"].as_f64().unwrap();
    // the flow read the bitstream back itself
    assert_eq!(manifest["fpga"]["device"], "5k");
    assert!(
        r.stderr.contains("iceunpack reads ice40/accel.bin back"),
        "{}",
        r.stderr
    );
    let clock = f64::from(qweave_hw::Target::Ice40up5k.preset().clock_mhz);
    assert!(fmax >= clock, "fmax {fmax} MHz below the {clock} MHz clock");
    assert!(
        r.stderr.contains("ICESTORM_LC") && r.stderr.contains("/5280"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(fmax)"), "{}", r.stderr);
    // how to load it and run on it
    assert!(
        r.stderr.contains("iceprog ") && r.stderr.contains("qweave board run "),
        "{}",
        r.stderr
    );
    let _ = writeln!(
        std::io::stderr(),
        "ice40 flow on digits_w1a1: fmax {fmax:.2} MHz\n{}",
        r.stderr
            .lines()
            .find(|l| l.contains("ICESTORM_LC"))
            .unwrap_or("")
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `size` random bytes.
fn random_bytes(rng: &mut common::Rng, size: usize) -> Vec<u8> {
    (0..size).map(|_| rng.next() as u8).collect()
}

/// Runs the program `text` from `dram` on the ISA simulator and in RTL: the first byte where
/// DRAM differs afterwards, with its value in RTL and in the simulator.
fn first_difference(
    hw: &qweave_hw::HwConfig,
    engine: &Engine,
    text: &str,
    dram: &[u8],
) -> Option<(usize, u8, u8)> {
    let p = qweave_hw::isa::text::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let size = dram.len();
    let isa = qweave_sim::simulate(hw, &p, dram.to_vec()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let rtl = engine
        .run(&p, dram, 10 * isa.cycles + 10_000, None)
        .unwrap_or_else(|e| panic!("{e}"));
    (0..size)
        .find(|&b| isa.dram[b] != rtl.dram[b])
        .map(|b| (b, rtl.dram[b], isa.dram[b]))
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
        if let Some((b, rtl, isa)) =
            first_difference(&hw, &engine, &text, &random_bytes(&mut rng, size))
        {
            let k = (b.saturating_sub(8000)) / 2600;
            panic!(
                "program {program}: DRAM byte {b} is {rtl} in RTL, {isa} in the ISA simulator \
                 (the store of pair {k})\n{text}"
            );
        }
    }
    assert_eq!(pairs, 320);
}

/// Random `gemm`s on the ZU3EG's DSP48E2 PEs (`dsp_array`) — every packing the preset builds, signed and
/// unsigned activations, groups, several filter passes and reduction folds, kernels up to
/// 3x5, strides and dilations (equal along the row under filter packing, as the ISA
/// requires), accumulating onto loaded sums or resetting, narrow accumulators that wrap —
/// each stored back: DRAM after the RTL run equals DRAM after the ISA simulator's.
#[test]
fn random_gemms_on_dsp_pes_equal_the_isa_simulator() {
    use qweave_hw::isa::{Config, Format, Pack};
    let hw = dsp_array();
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rng = common::Rng(0x2545_f491_4f6c_dd1d);
    let (size, out_base) = (400_000usize, 200_000i64);
    let mut ran = [0usize; 2];
    for program in 0..6 {
        let mut text = String::new();
        let cases = 8;
        let mut outs = vec![out_base];
        for k in 0..cases {
            // a packing the PE is built with, and formats it is legal for
            let (built, cfg) = loop {
                let b = hw.packings[rng.int(0, hw.packings.len() as i64 - 1) as usize];
                let afmt = [Format::Unsigned, Format::Signed][rng.int(0, 1) as usize];
                let cfg = b.pe.apply(Config {
                    w: b.mode.w,
                    a: b.mode.a,
                    wfmt: Format::Signed,
                    afmt,
                    acc_bits: [32, 20, 14][rng.int(0, 2) as usize],
                    ..Config::zeroed()
                });
                if qweave_hw::pe::rate(&hw, &cfg).is_ok() {
                    break (b, cfg);
                }
            };
            let filter = built.pe.pack == Pack::Filter;
            ran[usize::from(filter)] += 1;
            let (groups, cin, m) = (rng.int(1, 2), rng.int(1, 40), rng.int(1, 40));
            let (kh, kw) = (rng.int(1, 3), rng.int(1, 5));
            let (sh, dh, sw) = (rng.int(1, 2), rng.int(1, 2), rng.int(1, 2));
            let dw = if filter { sw } else { rng.int(1, 2) };
            let (oh, ow) = (rng.int(1, 4), rng.int(1, 12));
            let ih = (oh - 1) * sh + (kh - 1) * dh + 1 + rng.int(0, 1);
            let iw = (ow - 1) * sw + (kw - 1) * dw + 1 + rng.int(0, 2);
            let reset = rng.int(0, 1);
            let n_inp = groups * cin * ih * iw;
            let n_wgt = groups * m * cin * kh * kw;
            let n_acc = groups * m * oh * ow;
            let (a, w) = (i64::from(cfg.a), i64::from(cfg.w));
            let afmt = cfg.afmt.name();
            let load = |buf: &str, fmt: &str, bits: i64, dram: i64, n: i64, flags: &str| {
                format!(
                    "load @0 buf={buf} fmt={fmt} bits={bits} pad_top=0 pad_bottom=0 pad_left=0 \
                     pad_right=0 sram=0 dram={dram} z=1 y=1 x={n} zs=0 ys=0 xs=1 offset=0 \
                     fill=0 bit=0{flags}\n"
                )
            };
            text += &qweave_hw::isa::text::print_one(&qweave_hw::isa::Instr {
                deps: Default::default(),
                layer: 0,
                op: qweave_hw::isa::Op::Config(cfg),
            });
            text.push('\n');
            let wait = if k == 0 { "" } else { " pop=next" };
            text += &load("inp", afmt, a, rng.int(0, 100_000), n_inp, wait);
            text += &load("wgt", "signed", w, rng.int(0, 100_000), n_wgt, " push=next");
            // (a load into acc runs on the compute queue, after the previous store)
            text += &load("acc", "signed", 16, rng.int(0, 100_000), n_acc, wait);
            let more = if k + 1 < cases { "prev," } else { "" };
            text += &format!(
                "gemm @0 inp=0 wgt=0 acc=0 groups={groups} cin={cin} ih={ih} iw={iw} m={m} \
                 oh={oh} ow={ow} kh={kh} kw={kw} sh={sh} sw={sw} dh={dh} dw={dw} reset={reset} \
                 pop=prev push={more}next\n"
            );
            let at = outs[k];
            text += &format!(
                "store @0 sram=0 dram={at} fmt=signed bits=32 z=1 y=1 x={n_acc} zs=0 ys=0 xs=1 \
                 bit=0 pop=prev push=prev\n"
            );
            outs.push(at + 4 * n_acc);
            assert!(*outs.last().unwrap() < size as i64 && n_inp < 100_000 && n_wgt < 100_000);
        }
        text += "sync @0 queue=compute pop=next\nend @0\n";
        if let Some((b, rtl, isa)) =
            first_difference(&hw, &engine, &text, &random_bytes(&mut rng, size))
        {
            let k = outs
                .iter()
                .filter(|&&o| o <= b as i64)
                .count()
                .saturating_sub(1);
            panic!(
                "program {program}: DRAM byte {b} is {rtl} in RTL, {isa} in the ISA simulator \
                 (the sums of gemm {k})\n{text}"
            );
        }
    }
    assert!(ran[0] >= 8 && ran[1] >= 8, "kernel, filter gemms: {ran:?}");
}

/// Random post-processing on the serial datapath — `requant` with multipliers of any sign up
/// to `i32::MIN`, every shift from 0 to 63 (each of the four windows the hardware picks from),
/// every rounding mode (ties made common by small shifts), every output format, shared and
/// per-channel records; `alu` with every operation and 32-bit zero points — on accumulators of
/// every magnitude: DRAM after the RTL run equals DRAM after the ISA simulator's.
#[test]
fn random_post_processing_on_the_serial_datapath_equals_the_isa_simulator() {
    let hw = qweave_hw::Target::Ice40up5k.preset();
    let engine = Engine::build(&hw, &common::root().join(".cache/rtl"), false)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rng = common::Rng(0x6a09_e667_f3bc_c909);
    let (n, out) = (96i64, 4096i64);
    for program in 0..24 {
        let mut dram = random_bytes(&mut rng, 64 * 1024);
        let mut put = |at: i64, v: i64| {
            let at = at as usize;
            dram[at..at + 4].copy_from_slice(&(v as i32).to_le_bytes());
        };
        // accumulators of every magnitude at 0 and n x 4, records at 2n x 4
        let mut text = String::from(
            "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 \
             lane=0 wport=a\n",
        );
        let load = |buf: &str, dram: i64, n: i64, flags: &str| {
            format!(
                "load @0 buf={buf} fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 \
                 pad_right=0 sram=0 dram={dram} z=1 y=1 x={n} zs=0 ys=0 xs=1 offset=0 \
                 fill=0 bit=0{flags}\n"
            )
        };
        for k in 0..12 {
            let (fmt, bits) = match rng.int(0, 2) {
                0 => ("signed", rng.int(2, 32)),
                1 => ("unsigned", rng.int(1, 31)),
                _ => ("bipolar", 1),
            };
            // small values, multipliers and shifts (ties are common), values and multipliers
            // of any magnitude and any shift (most saturate), shifts that bring the products
            // into the output's range, or powers of two (ties and quotients of 2^33 and more
            // at every shift)
            let kind = rng.int(0, 3);
            let vm = if kind == 0 { 8 } else { rng.int(0, 31) };
            let (z, pstride) = (rng.int(1, 4), [0, 4][rng.int(0, 1) as usize]);
            let (y, x) = (rng.int(1, 3), rng.int(1, 8));
            let mut records = Vec::new();
            for c in 0..z {
                let mm = if kind == 0 { 6 } else { rng.int(0, 31) };
                let mult = match rng.int(0, 5) {
                    0 if kind != 0 => i64::from(i32::MIN),
                    _ if kind == 3 => [-1, 1][rng.int(0, 1) as usize] << rng.int(0, 30),
                    _ => rng.int(-(1 << mm), (1 << mm) - 1),
                };
                let shift = match kind {
                    0 => rng.int(0, 4),
                    2 => (vm + mm + 1 - bits + rng.int(-2, 2)).clamp(0, 63),
                    3 => {
                        let from = [0, 44][rng.int(0, 1) as usize];
                        rng.int(from, 63)
                    }
                    _ => rng.int(0, 63),
                };
                records.push((mult, shift));
                let r = 8 * n + 16 * c;
                put(r, mult);
                put(r + 4, shift);
                let zp_in = rng.int(i64::from(i32::MIN), i64::from(i32::MAX)) >> rng.int(0, 31);
                put(
                    r + 8,
                    if kind == 1 { zp_in } else { zp_in >> 24 } * i64::from(kind != 3),
                );
                put(r + 12, rng.int(-200, 200));
            }
            for i in 0..2 * n {
                let m = rng.int(0, vm);
                let v = if kind == 3 {
                    // a power of two whose product is a tie, 2^(shift - 1), or near one, or
                    // below it by up to 2^40
                    let c = if pstride == 0 {
                        0
                    } else {
                        (i / (y * x)).min(z - 1)
                    };
                    let (mult, shift) = records[c as usize];
                    let b = 63 - i64::from(mult.unsigned_abs().leading_zeros());
                    let below = if rng.int(0, 1) == 0 { 1 } else { 40 };
                    let e = (shift - 1 - b + rng.int(-below, 1)).clamp(0, 30);
                    [-1, 1][rng.int(0, 1) as usize] << e
                } else {
                    rng.int(-(1 << m), (1 << m) - 1)
                };
                put(4 * i, v);
            }
            let modes = qweave_ir::RoundingMode::ALL;
            let rounding = modes[rng.int(0, modes.len() as i64 - 1) as usize].as_str();
            // (the store before reads the accumulators)
            text += &load("acc", 0, 2 * n, if k == 0 { "" } else { " pop=next" });
            text += &load("par", 8 * n, 4 * z, "");
            let zs = z * y * x;
            assert!(zs <= n);
            text += &format!(
                "requant @0 acc=0 z={z} y={y} x={x} par=0 pstride={pstride} rounding={rounding} \
                 ofmt={fmt} obits={bits}\n"
            );
            let op = ["add", "mul", "max", "min"][rng.int(0, 3) as usize];
            let zp = |rng: &mut common::Rng| rng.int(-(1 << 31), (1 << 31) - 1) >> rng.int(0, 31);
            let (dzp, szp, ozp) = (zp(&mut rng), zp(&mut rng), zp(&mut rng));
            let (afmt, abits) = match rng.int(0, 1) {
                0 => ("signed", rng.int(2, 32)),
                _ => ("unsigned", rng.int(1, 31)),
            };
            text += &format!(
                "alu @0 op={op} dst={n} src=0 z={z} y={y} x={x} szs={} sys={x} sxs=1 dzp={dzp} \
                 szp={szp} ozp={ozp} ofmt={afmt} obits={abits} push=next\n",
                y * x
            );
            text += &format!(
                "store @0 sram=0 dram={} fmt=signed bits=32 z=1 y=1 x={} zs=0 ys=0 xs=1 bit=0 \
                 pop=prev push=prev\n",
                out + k * 8 * n,
                n + zs
            );
        }
        text += "sync @0 queue=compute pop=next\nend @0\n";
        if let Some((b, rtl, isa)) = first_difference(&hw, &engine, &text, &dram) {
            panic!(
                "program {program}: DRAM byte {b} is {rtl} in RTL, {isa} in the ISA simulator \
                 (case {})\n{text}",
                (b as i64 - out) / (8 * n)
            );
        }
    }
    // products whose half bit is set and whose only other set bit below the quotient is the
    // one at the top of the window below (2^(16 (mq + 1) - 1) + 2^(16 mq - 1) once the
    // multiplier is shifted by 16 - shift % 16): a tie to a rounding that misses that bit,
    // in each window, every rounding mode and both signs
    let cases: [(i64, i64, i64); 3] = [
        (1, (1 << 16) + 1, 17),
        (1 << 16, (1 << 16) + 1, 33),
        (-(1 << 31), (1 << 17) + 2, 49),
    ];
    let mut dram = vec![0u8; 4096];
    let mut text = String::from(
        "config @0 w=8 a=8 wfmt=signed afmt=signed acc_bits=32 pack=bricks kp=0 np=0 lane=0 \
         wport=a\n",
    );
    let mut at = 0;
    for &(v, mult, shift) in &cases {
        for rounding in qweave_ir::RoundingMode::ALL {
            for sign in [1, -1] {
                let (v, base) = (if v < 0 { v } else { sign * v }, 16 * at);
                let record = 1024 + 16 * at;
                for (k, w) in [v, 0, 0, 0].into_iter().enumerate() {
                    dram[base + 4 * k..base + 4 * k + 4].copy_from_slice(&(w as i32).to_le_bytes());
                }
                for (k, w) in [sign * mult, shift, 0, 0].into_iter().enumerate() {
                    dram[record + 4 * k..record + 4 * k + 4]
                        .copy_from_slice(&(w as i32).to_le_bytes());
                }
                let flags = if at == 0 { "" } else { " pop=next" };
                text += &format!(
                    "load @0 buf=acc fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 \
                     pad_right=0 sram=0 dram={base} z=1 y=1 x=1 zs=0 ys=0 xs=1 offset=0 fill=0 \
                     bit=0{flags}\n\
                     load @0 buf=par fmt=signed bits=32 pad_top=0 pad_bottom=0 pad_left=0 \
                     pad_right=0 sram=0 dram={record} z=1 y=1 x=4 zs=0 ys=0 xs=1 offset=0 fill=0 \
                     bit=0\n\
                     requant @0 acc=0 z=1 y=1 x=1 par=0 pstride=0 rounding={} ofmt=signed \
                     obits=32 push=next\n\
                     store @0 sram=0 dram={} fmt=signed bits=32 z=1 y=1 x=1 zs=0 ys=0 xs=1 \
                     bit=0 pop=prev push=prev\n",
                    rounding.as_str(),
                    2048 + 4 * at
                );
                at += 1;
            }
        }
    }
    text += "sync @0 queue=compute pop=next\nend @0\n";
    if let Some((b, rtl, isa)) = first_difference(&hw, &engine, &text, &dram) {
        panic!(
            "sticky-bit case {}: DRAM byte {b} is {rtl} in RTL, {isa} in the ISA simulator\n{text}",
            (b - 2048) / 4
        );
    }
}
