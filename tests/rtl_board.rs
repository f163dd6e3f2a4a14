//! The iCE40 board shell (`board`, the top module the open flow builds for `ice40up5k`: the
//! serial accelerator behind a UART, with DRAM and the program in SPRAM) in Verilator with a
//! host on its UART line, running real models bit-exactly, and through the whole open flow
//! around a stand-in accelerator; the ZCU102's shell around the stand-in, in Verilator and
//! in yosys. Verilator, yosys, nextpnr-ice40 and icestorm come from
//! `scripts/hw-tools.sh`.

mod common;

use qweave_backends::{execute, program};
use std::io::Write;

/// The board shell (`board`: the accelerator, its UART and the SPRAM holding DRAM and the
/// program) in Verilator, its UART at the bitstream's rate: a host loads DRAM and the
/// program, runs it and reads DRAM back over the line, and what it reads equals the ISA
/// simulator's DRAM. The 1-bit model's stores write bits, so the shell merges them into
/// SPRAM words.
#[test]
fn the_board_shell_loads_runs_and_reads_back_over_its_uart() {
    use qweave_backends::rtl::board::BoardEngine;
    let hw = qweave_hw::Target::Ice40up5k.preset();
    let accel = qweave_backends::rtl::accel::generate(&hw).unwrap_or_else(|e| panic!("{e}"));
    let engine = BoardEngine::build(&hw, &accel.sv, &common::root().join(".cache/rtl"))
        .unwrap_or_else(|e| panic!("{e}"));
    let digits = common::digits(1).0;
    for model in ["digits_qdq.onnx", "digits_w1a1.onnx"] {
        let g = common::lowered(model);
        let c = program::compile(&g, &hw).unwrap_or_else(|e| panic!("{model}: {e}"));
        let inputs = [digits[0].clone()];
        let isa = execute::simulate(&c, &g, &hw, &inputs).unwrap();
        let image = execute::prepare(&c, &g, &inputs).unwrap();
        let run = engine
            .run(&c.program, &image, 100_000_000)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        execute::check(&c, &g, &inputs, &run.dram).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(
            run.dram == isa.run.dram,
            "{model}: DRAM read back over the UART differs"
        );
        let _ = writeln!(
            std::io::stderr(),
            "board {model}: the accelerator ran {} cycles (cycle model {}); {} cycles in all \
             with the UART's load and read-back",
            run.cycles,
            isa.run.cycles,
            run.total_cycles
        );
        assert!(run.cycles < run.total_cycles);
        // the cycle model counts the board's SPRAM latency and its merged writes
        assert!(
            run.cycles.abs_diff(isa.run.cycles) < 32,
            "{model}: the board ran {} cycles, the model says {}",
            run.cycles,
            isa.run.cycles
        );
    }
}

/// A stand-in for the accelerator with `main`'s ports: on `go` it reads DRAM word 0 and
/// writes it plus one to word 1, then raises `done`.
const STAND_IN: &str = "
module main (
    input  logic clk, input logic reset, input logic go, output logic done,
    output logic i_req, output logic [31:0] i_addr, input logic i_valid,
    input  logic [31:0] i_data,
    output logic m_rreq, output logic [31:0] m_raddr, input logic m_rvalid,
    input  logic [31:0] m_rdata,
    output logic m_wreq, output logic [31:0] m_waddr, output logic [31:0] m_wdata,
    output logic [31:0] m_wmask, input logic m_wready, input logic m_wack,
    output logic [2:0] t_go, output logic [2:0] t_done
);
  logic [1:0] state;  // 0 asks, 1 waits for the word, 2 writes, 3 waits for the ack
  logic [31:0] word;
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = i_valid ^ (^i_data);
  /* verilator lint_on UNUSEDSIGNAL */
  assign {i_req, i_addr, t_go, t_done} = '0;
  assign m_rreq = go && state == 0;
  assign m_raddr = 0;
  assign m_wreq = state == 2;
  assign m_waddr = 1;
  assign m_wdata = word + 1;
  assign m_wmask = '1;
  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) state <= 0;
    else case (state)
      0: if (go && !done) state <= 1;
      1: if (m_rvalid) begin word <= m_rdata; state <= 2; end
      2: if (m_wready) state <= 3;
      default: if (m_wack) begin state <= 0; done <= 1; end
    endcase
  end
endmodule
";

/// The stand-in in `design` (its board shell around it, for `hw`) in Verilator: over the
/// UART, DRAM word 0 written, the run, word 1 read back as word 0 plus one.
fn stand_in_runs(hw: &qweave_hw::HwConfig, design: &str) {
    let engine = qweave_backends::rtl::board::BoardEngine::build(
        hw,
        design,
        &common::root().join(".cache/rtl"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let program = qweave_hw::isa::text::parse("end @0").unwrap();
    let run = engine
        .run(&program, &[41, 1, 0, 0, 0, 0, 0, 0], 10_000_000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.dram, [41, 1, 0, 0, 42, 1, 0, 0]);
    assert!(run.cycles > 0);
}

/// The board shell goes through the whole open flow on the UP5K at 24 MHz, around a stand-in
/// for the accelerator (`rtl_accel.rs` builds the real one at the preset's 6 MHz, the
/// oscillator halved): its PLL, pins and SPRAMs place and route, the bitstream reads back,
/// and in Verilator the stand-in's DRAM accesses work through the shell's UART commands.
#[test]
fn the_board_shell_places_routes_and_packs_on_the_up5k() {
    let hw = qweave_hw::HwConfig {
        clock_mhz: 24,
        ..qweave_hw::Target::Ice40up5k.preset()
    };
    let shell = qweave_backends::rtl::board::shell(&hw).unwrap();
    let design = format!(
        "/* verilator lint_off DECLFILENAME */\n{}{STAND_IN}\n{shell}",
        qweave_backends::rtl::accel::ICE40_BLOCKS
    );
    stand_in_runs(&hw, &design);
    // the open flow
    let tmp = std::env::temp_dir().join(format!("qweave-board-flow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let sv = tmp.join("board.sv");
    std::fs::write(&sv, &design).unwrap();
    let build = qweave_fpga::Ice40Flow {
        sources: vec![sv],
        top: "board".into(),
        pcf: Some(qweave_backends::rtl::board::PCF.into()),
        clock_mhz: f64::from(hw.clock_mhz),
        out_dir: tmp.join("ice40"),
        quiet: true,
    }
    .run()
    .unwrap_or_else(|e| panic!("{e}"));
    let used = |k: &str| build.utilization.get(k).map_or(0, |u| u.used);
    let _ = writeln!(
        std::io::stderr(),
        "board shell around a stand-in: {} logic cells, fmax {:?} MHz (target {})",
        used("ICESTORM_LC"),
        build.fmax_mhz,
        build.target_mhz
    );
    assert_eq!(used("ICESTORM_SPRAM"), 4);
    assert_eq!(used("ICESTORM_PLL"), 1);
    assert_eq!(used("SB_IO"), 4);
    assert!(build.meets_target(), "{:?}", build.clocks);
    let back = tmp.join("back/accel.asc");
    let device = qweave_fpga::unpack_ice40(
        &qweave_fpga::Tools::on_path(),
        &build.bitstream,
        &back,
        true,
    )
    .unwrap();
    assert_eq!(device, "5k");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The ZCU102's board shell (`xczu9eg` with `--datapath serial`) around the stand-in: in
/// Verilator its UART at 50 clock cycles a bit carries the stand-in's DRAM accesses, yosys
/// maps it onto the ZU9EG, and every port of its top module has a pin in `pins.xdc`.
#[test]
fn the_zcu102_shell_runs_over_its_uart_and_synthesizes_for_the_zu9eg() {
    let hw = qweave_hw::Target::Xczu9eg.serial_preset().unwrap();
    let shell = qweave_backends::rtl::board::shell(&hw).unwrap();
    assert!(shell.contains("MMCME4_BASE") && !shell.contains("SB_PLL40"));
    let design = format!("/* verilator lint_off DECLFILENAME */\n{STAND_IN}\n{shell}");
    stand_in_runs(&hw, &design);
    // yosys maps it onto the ZU9EG: the oscillator's differential buffer, the MMCM, the
    // clock buffer, and 32 RAMB36 for the 128 KiB memory
    let tmp = std::env::temp_dir().join(format!("qweave-zcu102-shell-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let sv = tmp.join("board.sv");
    std::fs::write(&sv, &design).unwrap();
    let cells = qweave_fpga::yosys_utilization(&[sv], "board", &tmp.join("yosys"), true);
    let _ = std::fs::remove_dir_all(&tmp);
    let cells = cells.unwrap_or_else(|e| panic!("{e}"));
    for (cell, n) in [
        ("IBUFDS", 1),
        ("MMCME4_BASE", 1),
        ("BUFG", 1),
        ("RAMB36", 32),
        ("IBUF", 1),
        ("OBUF", 2),
    ] {
        assert_eq!(cells.get(cell), n, "{cell}: {cells:?}");
    }
    assert!(qweave_fpga::ZU9EG.over(|r| cells.get(r)).is_empty());
    for port in ["clk_125mhz_p", "clk_125mhz_n", "rx", "tx", "led"] {
        assert!(
            qweave_backends::rtl::zcu102::XDC.contains(&format!("[get_ports {port}]")),
            "{port}"
        );
    }
}

/// `qweave board serve` stopped when the test ends, however it ends.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host of `qweave board run` drives a board over a serial line: here the virtual board
/// `qweave board serve` makes (the bitstream's design in Verilator behind a pseudo-terminal),
/// opened as a serial port. The outputs equal the ISA simulator's, every layer is checked,
/// and the board's cycle count is reported; a second run on the same board works too, and a
/// third after a host stopped in the middle of a command. A port that cannot be opened, a line with no board behind it and a bundle with no board
/// shell are errors that say so.
#[test]
fn a_host_runs_a_bundle_on_the_virtual_board_over_its_terminal() {
    use std::io::BufRead;
    let tmp = std::env::temp_dir().join(format!("qweave-board-host-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let cache = common::root().join(".cache");
    let run = |args: &[&str]| common::qweave_env(args, &[("QWEAVE_CACHE", &cache)]);
    let bundle = tmp.join("w1a1");
    let b = bundle.to_str().unwrap();
    let r = run(&[
        "compile",
        "tests/models/digits_w1a1.onnx",
        "--target",
        "ice40up5k",
        "--no-fpga-tools",
        "-o",
        b,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let x = "examples/digits_image.npz";
    let y_isa = tmp.join("isa.npz");
    let r = run(&["simulate", b, "-i", x, "-o", y_isa.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qweave"))
        .args(["board", "serve", b])
        .env("QWEAVE_CACHE", &cache)
        .current_dir(common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let served = Served(child);
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap();
    let port = first
        .trim()
        .rsplit_once(" is on ")
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| panic!("serve printed {first:?}"));
    for k in 0..3 {
        if k == 2 {
            // a host that stopped in the middle of a write (1000 words announced, 100 bytes
            // sent) leaves the shell waiting for the rest: the next host brings it back
            let mut t = std::fs::OpenOptions::new().write(true).open(&port).unwrap();
            t.write_all(b"W\x00\x00\x00\xe8\x03\x00").unwrap();
            t.write_all(&[7; 100]).unwrap();
        }
        let y = tmp.join(format!("board{k}.npz"));
        let r = run(&[
            "board",
            "run",
            b,
            "--port",
            &port,
            "--timeout",
            "120",
            "--check",
            "-i",
            x,
            "-o",
            y.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout
                .contains("on the board, as it counts them (cycle model"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("board 3; the interpreter's: 3"),
            "{}",
            r.stdout
        );
        assert!(
            r.stderr.contains("ran 1 item in") && r.stderr.contains("every layer equal"),
            "{}",
            r.stderr
        );
        let read = |p: &std::path::Path| qweave_frontend::files::read(p).unwrap()[0].tensor.clone();
        assert_eq!(read(&y), read(&y_isa));
    }
    drop(served);

    let y = tmp.join("y.npz");
    let y = y.to_str().unwrap();
    // no such port
    let r = run(&[
        "board",
        "run",
        b,
        "--port",
        "/dev/qweave-none",
        "-i",
        x,
        "-o",
        y,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("/dev/qweave-none: cannot open the board's serial port"),
        "{}",
        r.stderr
    );
    // a terminal with nothing answering behind it
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let silent = serialport::SerialPort::name(&slave).unwrap();
    let r = run(&[
        "board",
        "run",
        b,
        "--port",
        &silent,
        "--timeout",
        "0.5",
        "-i",
        x,
        "-o",
        y,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains(&format!("{silent}: bringing the board to its idle state: ")),
        "{}",
        r.stderr
    );
    assert!(!std::path::Path::new(y).exists());
    // a bundle without the board shell
    let sim = tmp.join("sim");
    let r = run(&[
        "compile",
        "tests/models/digits_w1a1.onnx",
        "-o",
        sim.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["board", "serve", sim.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("a sim bundle has no board shell"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
