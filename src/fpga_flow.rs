//! `qweave compile`'s FPGA step: the open tool flow on the generated accelerator (the iCE40
//! bitstream), or for Zynq the Vivado scripts and yosys' count (of the DSP48E2 array's column
//! and row packer, or of the whole serial datapath, in the ZCU102's board shell on the ZU9EG).

use qweave_backends::rtl::board::Board;
use qweave_backends::rtl::{accel::Accel, packed_mac, zcu102};
use qweave_fpga::{Ice40Build, Ice40Flow, Implement, Part, XilinxCells};
use qweave_hw::{HwConfig, Target};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the FPGA step adds to a compilation.
pub struct Flow {
    /// The manifest's `fpga` object.
    pub manifest: Value,
    /// The achieved clock, when the design was placed and routed.
    pub fmax_mhz: Option<f64>,
    /// report.md's section.
    pub report: String,
    /// What to tell the user, one line each.
    pub lines: Vec<String>,
}

/// Runs the flow for `target` on the design in `dir` (accel.sv, written there), writing into
/// `dir`; None for a target without one (`sim`).
pub fn run(
    target: Target,
    hw: &HwConfig,
    accel: &Accel,
    dir: &Path,
    cycles: u64,
) -> Result<Option<Flow>, String> {
    match target {
        Target::Sim => Ok(None),
        Target::Ice40up5k => {
            // the serial accelerator in its board shell, on the iCEBreaker's pins
            let (top, pcf) = if accel.params.serial {
                ("board", Some(qweave_backends::rtl::board::PCF.to_string()))
            } else {
                ("main", None)
            };
            let flow = Ice40Flow {
                sources: vec![dir.join("accel.sv")],
                top: top.into(),
                pcf,
                clock_mhz: f64::from(hw.clock_mhz),
                out_dir: dir.join("ice40"),
                quiet: false,
            };
            let build = flow.run().map_err(|e| {
                let board = if accel.params.serial {
                    "; `qweave simulate DIR --engine board` then runs it on the bitstream's \
                     design in Verilator"
                } else {
                    ""
                };
                format!(
                    "{e}\n(--no-fpga-tools writes the program and the design without running \
                     the FPGA tools{board})"
                )
            })?;
            // the bitstream read back (iceunpack), its device checked; the read-back's
            // text is the placed design's again, so it is not kept
            let back = dir.join("ice40/readback/accel.asc");
            let device = qweave_fpga::unpack_ice40(
                &qweave_fpga::Tools::on_path(),
                &build.bitstream,
                &back,
                false,
            )
            .map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&back);
            if device != "5k" {
                return Err(format!(
                    "iceunpack reads {} back as a {device} device, not the UP5K's 5k",
                    build.bitstream.display()
                ));
            }
            let mut flow = ice40(&build, dir, cycles);
            flow.manifest["device"] = json!(device);
            flow.lines.push(format!(
                "iceunpack reads ice40/accel.bin back as a UP5K (\"{device}\") bitstream"
            ));
            Ok(Some(flow))
        }
        Target::Xczu3eg | Target::Xczu9eg => {
            let chip = match target {
                Target::Xczu3eg => &qweave_fpga::ZU3EG,
                _ => &qweave_fpga::ZU9EG,
            };
            let vivado = dir.join("vivado");
            let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
            std::fs::create_dir_all(&vivado).map_err(|e| io(&vivado, e))?;
            // a board shell (the ZCU102's) is the whole chip, on the board's pins; otherwise
            // `main` is a block, out of context
            let board = Board::of(hw);
            let (top, clock, mhz, pins, implement) = match board {
                Some(Board::Zcu102) => {
                    let xdc = vivado.join("pins.xdc");
                    std::fs::write(&xdc, zcu102::XDC).map_err(|e| io(&xdc, e))?;
                    let program = vivado.join("program.tcl");
                    let tcl = qweave_fpga::vivado_program_tcl("xczu9", "out/accel.bit")
                        .map_err(|e| e.to_string())?;
                    std::fs::write(&program, tcl).map_err(|e| io(&program, e))?;
                    (
                        "board",
                        "clk_125mhz_p",
                        f64::from(zcu102::OSCILLATOR_MHZ),
                        vec![PathBuf::from("pins.xdc")],
                        Implement::Bitstream,
                    )
                }
                _ => (
                    "main",
                    "clk",
                    f64::from(hw.clock_mhz),
                    Vec::new(),
                    Implement::OutOfContext,
                ),
            };
            let tcl = qweave_fpga::vivado_tcl(
                chip.device,
                &[PathBuf::from("../accel.sv")],
                &pins,
                top,
                clock,
                mhz,
                "out",
                implement,
            )
            .map_err(|e| e.to_string())?;
            let script = vivado.join("build.tcl");
            std::fs::write(&script, tcl).map_err(|e| io(&script, e))?;
            let yosys = dir.join("yosys");
            if accel.params.serial {
                // the serial datapath's memories are block RAMs, so yosys reads all of it
                let cells =
                    qweave_fpga::yosys_utilization(&[dir.join("accel.sv")], top, &yosys, false)
                        .map_err(|e| e.to_string())?;
                return zynq_serial(hw, board, &cells, chip, cycles).map(Some);
            }
            // yosys reads one column of the array (its PEs, cascade, lane decoders and lane
            // sums: every DSP48E2 of the design), not the whole: the array and memories pass
            // whole memories as ports, which it cannot
            std::fs::create_dir_all(&yosys).map_err(|e| io(&yosys, e))?;
            let column_sv = yosys.join("qw_dsp_column.sv");
            let source = packed_mac::column(&accel.params.depths, hw.rows)?;
            std::fs::write(&column_sv, source).map_err(|e| io(&column_sv, e))?;
            let cells =
                qweave_fpga::yosys_utilization(&[column_sv], "qw_dsp_column", &yosys, false)
                    .map_err(|e| e.to_string())?;
            // and a row's activation packer, which the row's PEs share
            let row_dir = yosys.join("row");
            std::fs::create_dir_all(&row_dir).map_err(|e| io(&row_dir, e))?;
            let row_sv = row_dir.join("qw_dsp_row.sv");
            let source = packed_mac::row_packer(&accel.params.packings)?;
            std::fs::write(&row_sv, source).map_err(|e| io(&row_sv, e))?;
            let row = qweave_fpga::yosys_utilization(&[row_sv], "qw_dsp_row", &row_dir, false)
                .map_err(|e| e.to_string())?;
            zynq(hw, accel, &cells, &row, chip, cycles).map(Some)
        }
    }
}

/// The command that finishes a Zynq build in `dir`.
pub fn vivado_command(dir: &Path) -> String {
    format!(
        "cd {} && vivado -mode batch -source build.tcl",
        dir.join("vivado").display()
    )
}

fn ice40(b: &Ice40Build, dir: &Path, cycles: u64) -> Flow {
    // paths within the bundle, as they will be once it is renamed into place (the flow's
    // paths are absolute, `dir` may be relative)
    let dir_abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rel = |p: &Path| {
        let p_abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        p_abs
            .strip_prefix(&dir_abs)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let used: serde_json::Map<String, Value> = b
        .utilization
        .iter()
        .map(|(k, u)| {
            (
                k.clone(),
                json!({ "used": u.used, "available": u.available }),
            )
        })
        .collect();
    let latency = b.fmax_mhz.map(|f| cycles as f64 / f);
    let manifest = json!({
        "flow": "yosys synth_ice40, nextpnr-ice40 --up5k --package sg48, icepack",
        "bitstream": rel(&b.bitstream),
        "fmax_mhz": b.fmax_mhz,
        "target_mhz": b.target_mhz,
        "latency_us": latency,
        "timing_met": b.meets_target(),
        "utilization": used,
    });
    let mut report = String::from("## FPGA build (iCE40 UP5K)\n\n");
    let fmax = b
        .fmax_mhz
        .map_or("not reported".to_string(), |f| format!("{f:.2} MHz"));
    let _ = writeln!(
        report,
        "Bitstream `{}`; fmax {fmax} (target {} MHz){}.\n",
        rel(&b.bitstream),
        b.target_mhz,
        latency.map_or(String::new(), |l| format!(
            "; {cycles} cycles are {l:.1} us per image at fmax"
        ))
    );
    let _ = writeln!(report, "| resource | used | available |\n|---|---|---|");
    for (k, u) in &b.utilization {
        let _ = writeln!(report, "| {k} | {} | {} |", u.used, u.available);
    }
    let mut lines = vec![format!(
        "iCE40 bitstream {}: fmax {fmax}, {}",
        rel(&b.bitstream),
        b.utilization
            .iter()
            .map(|(k, u)| format!("{k} {}/{}", u.used, u.available))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    if !b.meets_target() {
        lines.push(format!(
            "warning: fmax {fmax} is below the {} MHz clock the board runs the design at, so \
             the bitstream is not safe to load (nextpnr's timing report: {})",
            b.target_mhz,
            rel(&dir.join("ice40/pnr.log"))
        ));
    }
    Flow {
        manifest,
        fmax_mhz: b.fmax_mhz,
        report,
        lines,
    }
}

/// The serial datapath on a Zynq part: yosys' count of the whole design (`main`, or with
/// the ZCU102's shell `board`), checked against the part, and the Vivado script's report.
fn zynq_serial(
    hw: &HwConfig,
    board: Option<Board>,
    cells: &XilinxCells,
    chip: &Part,
    cycles: u64,
) -> Result<Flow, String> {
    let part = chip.device;
    // CARRY4s (what yosys 0.23 maps adders to) two to a CARRY8
    let carry = cells.carry8 + cells.get("CARRY4").div_ceil(2);
    let need = |r: &str| if r == "CARRY8" { carry } else { cells.get(r) };
    let over = chip.over(need);
    if !over.is_empty() {
        return Err(format!(
            "the serial datapath does not fit the {} by yosys' count (yosys/synth.log): {}",
            chip.name,
            over.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // the column's multipliers, two rows to a DSP48E2; the rest are the setup product's and
    // the micro-machine's
    let pairs = u64::from(hw.rows).div_ceil(2);
    let used: serde_json::Map<String, Value> = chip
        .limits
        .iter()
        .map(|l| {
            (
                l.resource.to_string(),
                json!({ "used": need(l.resource), "available": l.available }),
            )
        })
        .collect();
    let command = "vivado -mode batch -source build.tcl";
    let mut manifest = json!({
        "flow": "Vivado (not run here), yosys synth_xilinx -family xcup of the whole design",
        "part": part,
        "vivado_script": "vivado/build.tcl",
        "vivado_command": format!("cd vivado && {command}"),
        "implement": if board.is_some() { "bitstream" } else { "out_of_context" },
        "target_mhz": hw.clock_mhz,
        "latency_us_at_target": cycles as f64 / f64::from(hw.clock_mhz),
        "datapath": "serial",
        "column": {
            "rows": hw.rows,
            "dsp48e2": pairs,
            "products_per_dsp": if hw.rows >= 2 { 2 } else { 1 },
        },
        "utilization": used,
    });
    let mut report = format!("## FPGA build ({}, {part}, serial datapath)\n\n", chip.name);
    if let Some(board) = board {
        manifest["bitstream"] = json!("vivado/out/accel.bit");
        manifest["program_script"] = json!("vivado/program.tcl");
        manifest["board"] = json!(board.name());
        let _ = writeln!(
            report,
            "Vivado is not run here: `vivado/build.tcl` synthesizes, places and routes the \
             board shell (`board`: the accelerator, the UART and 128 KiB of block RAM for DRAM \
             and the program, its {} MHz clock from the {} MHz oscillator through an MMCM) on \
             the ZCU102's pins (`vivado/pins.xdc`) and writes `vivado/out/accel.bit` (run `cd \
             vivado && {command}`); its timing report is the check of that clock. Programmed \
             into the logic over JTAG (`cd vivado && vivado -mode batch -source program.tcl`), \
             the board runs what `qweave board run DIR --port PORT` (the CP2108's channel 2) \
             sends.\n",
            hw.clock_mhz,
            zcu102::OSCILLATOR_MHZ
        );
    } else {
        let _ = writeln!(
            report,
            "Vivado is not run here: `vivado/build.tcl` synthesizes, places and routes `main` \
             out of context at {} MHz and reports its utilization and timing (run `cd vivado \
             && {command}`); the timing report is the check of that clock. Out of context \
             because `main`'s ports are the program and DRAM buses; a bitstream needs a board \
             design that ties them to memory, and the Ultra96-V2 has neither an oscillator nor \
             a UART of the logic's own (both are the processing system's, which only Vivado's \
             IP configures).\n",
            hw.clock_mhz
        );
    }
    let _ = writeln!(
        report,
        "yosys `synth_xilinx -family xcup` maps the whole design (`{}`) to the counts below; \
         the column of {} multipliers takes {pairs} DSP48E2, two products each (`qw_dsp_pair`), \
         and the memories are block RAMs.\n",
        if board.is_some() { "board" } else { "main" },
        hw.rows
    );
    let _ = writeln!(report, "| resource | used | available |\n|---|---|---|");
    for l in chip.limits {
        let _ = writeln!(
            report,
            "| {} | {} | {} |",
            l.resource,
            need(l.resource),
            l.available
        );
    }
    let lines = vec![format!(
        "yosys: the serial datapath takes {}/{} LUTs, {}/{} DSP48E2 ({pairs} for the column's \
         {} multipliers, two products each) and {}/{} RAMB36 of the {}",
        cells.luts,
        available(chip, "LUT"),
        cells.dsp48e2,
        available(chip, "DSP48E2"),
        hw.rows,
        cells.get("RAMB36"),
        available(chip, "RAMB36"),
        chip.name,
    )];
    Ok(Flow {
        manifest,
        fmax_mhz: None,
        report,
        lines,
    })
}

/// How many of `resource` `chip` has.
fn available(chip: &Part, resource: &str) -> u64 {
    chip.limits
        .iter()
        .find(|l| l.resource == resource)
        .map_or(0, |l| l.available)
}

fn zynq(
    hw: &HwConfig,
    accel: &Accel,
    column: &XilinxCells,
    row: &XilinxCells,
    chip: &Part,
    cycles: u64,
) -> Result<Flow, String> {
    let part = chip.device;
    let rows = u64::from(hw.rows);
    // the cost model counts one DSP48E2 a PE: yosys must agree
    if column.dsp48e2 != rows {
        return Err(format!(
            "yosys maps a column of {rows} PEs (qw_dsp_column) to {} DSP48E2, not the {rows} \
             the resource model counts; the log is yosys/synth.log",
            column.dsp48e2
        ));
    }
    let cols = u64::from(hw.cols);
    let pes = rows * cols;
    let luts = cols * column.luts + rows * row.luts;
    let built = &accel.params.packings;
    let products = |m: &qweave_hw::pe::PeMode| u32::from(m.kp) * u32::from(m.np);
    let most = built.iter().map(products).max().unwrap_or(1);
    // the array's columns and row packers alone against the part (memories and control
    // come on top)
    let over = chip.over(|r| match r {
        "LUT" => luts,
        "DSP48E2" => cols * column.dsp48e2,
        _ => 0,
    });
    let command = "vivado -mode batch -source build.tcl";
    let manifest = json!({
        "flow": "Vivado (not run here), yosys synth_xilinx -family xcup of a column of the array",
        "part": part,
        "vivado_script": "vivado/build.tcl",
        "vivado_command": format!("cd vivado && {command}"),
        "implement": "out_of_context",
        "target_mhz": hw.clock_mhz,
        "latency_us_at_target": cycles as f64 / f64::from(hw.clock_mhz),
        "column": {
            "module": "qw_dsp_column",
            "rows": rows,
            "dsp48e2": column.dsp48e2,
            "luts": column.luts,
            "ffs": column.ffs,
            "carry": column.get("CARRY4") + column.carry8,
        },
        "row": {
            "module": "qw_dsp_row",
            "luts": row.luts,
        },
        "pe": {
            "dsp48e2": column.dsp48e2 / rows,
            "luts": luts.div_ceil(pes),
        },
        "array": {
            "pes": pes,
            "dsp48e2": cols * column.dsp48e2,
            "luts": luts,
            "over": over.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "packings": built.iter().map(|m| json!({
            "packing": m.describe(),
            "products_per_dsp": products(m),
        })).collect::<Vec<_>>(),
    });
    let mut report = format!("## FPGA build ({}, {part})\n\n", chip.name);
    let _ = writeln!(
        report,
        "Vivado is not run here: `vivado/build.tcl` synthesizes, places and routes `main` out \
         of context at {} MHz and reports its utilization and timing (run `cd vivado && \
         {command}`). Out of context because `main`'s ports are the program and DRAM \
         buses, more signals than the package has pins; a bitstream needs a board design \
         that ties them to memory.\n",
        hw.clock_mhz
    );
    let _ = writeln!(
        report,
        "yosys `synth_xilinx -family xcup` maps a column of the array ({rows} PEs down the \
         DSP cascade, the lane decoders and the lane sums) to {} DSP48E2, {} LUTs and {} \
         flip-flops, and a row's activation packer to {} LUTs, so the {}x{} array takes {} \
         DSP48E2 and {luts} LUTs (memories and control come on top). Products per DSP48E2 in \
         each packing the PEs are built with:\n",
        column.dsp48e2,
        column.luts,
        column.ffs,
        row.luts,
        hw.rows,
        hw.cols,
        cols * column.dsp48e2,
    );
    for o in &over {
        let _ = writeln!(
            report,
            "**The array alone does not fit:** {o}. Each PE packs its weights for every \
             packing it is built with and multiplexes them onto the DSP48E2's ports in LUTs, \
             and a packing of depth 1 needs a decoder and lane sums behind every PE; the \
             resource model counts far less of both, so placement will run out of LUTs.\n"
        );
    }
    let _ = writeln!(report, "| packing | products per DSP48E2 |\n|---|---|");
    for m in built {
        let _ = writeln!(report, "| {} | {} |", m.describe(), products(m));
    }
    let mut lines = vec![format!(
        "yosys: a column of {rows} PEs is {} DSP48E2 and {} LUTs, a row's activation packer \
         {} LUTs ({} DSP48E2 and {luts} LUTs in the {}x{} array, up to {most} products a \
         DSP48E2)",
        column.dsp48e2,
        column.luts,
        row.luts,
        cols * column.dsp48e2,
        hw.rows,
        hw.cols
    )];
    lines.extend(over.iter().map(|o| {
        format!("warning: by yosys' count of a column, the array alone does not fit: {o}")
    }));
    Ok(Flow {
        manifest,
        fmax_mhz: None,
        report,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_fpga::{Ice40Cells, Ice40Steps, StepRun, Used};
    use std::time::Duration;

    #[test]
    fn an_ice40_build_gives_fmax_latency_and_utilization() {
        let dir = Path::new("/out/x");
        let step = |name: &str| StepRun {
            log: dir.join("ice40").join(name),
            duration: Duration::from_secs(1),
        };
        let used = |used, available| Used { used, available };
        let build = Ice40Build {
            cells: Ice40Cells::default(),
            utilization: [
                ("ICESTORM_LC", used(4000, 5280)),
                ("ICESTORM_DSP", used(7, 8)),
            ]
            .map(|(k, u)| (k.to_string(), u))
            .into(),
            clocks: Default::default(),
            fmax_mhz: Some(25.0),
            target_mhz: 24.0,
            bitstream: dir.join("ice40/accel.bin"),
            asc: dir.join("ice40/accel.asc"),
            netlist: dir.join("ice40/synth.json"),
            pnr_report: dir.join("ice40/pnr_report.json"),
            steps: Ice40Steps {
                synthesis: step("synth.log"),
                place_and_route: step("pnr.log"),
                bitstream: step("pack.log"),
            },
        };
        let f = ice40(&build, dir, 1000);
        assert_eq!(f.fmax_mhz, Some(25.0));
        let m = &f.manifest;
        assert_eq!(m["bitstream"], "ice40/accel.bin");
        assert_eq!(m["fmax_mhz"], 25.0);
        assert_eq!(m["latency_us"], 40.0);
        assert_eq!(m["utilization"]["ICESTORM_LC"]["used"], 4000);
        assert!(
            f.report.contains("fmax 25.00 MHz (target 24 MHz)"),
            "{}",
            f.report
        );
        assert!(
            f.report
                .contains("1000 cycles are 40.0 us per image at fmax")
        );
        assert!(f.report.contains("| ICESTORM_DSP | 7 | 8 |"));
        assert_eq!(
            f.lines,
            [
                "iCE40 bitstream ice40/accel.bin: fmax 25.00 MHz, ICESTORM_DSP 7/8, ICESTORM_LC 4000/5280"
            ]
        );
        assert_eq!(m["timing_met"], true);
        // below the clock: a warning, and the manifest says so
        let slow = Ice40Build {
            fmax_mhz: Some(20.0),
            ..build
        };
        let f = ice40(&slow, dir, 1000);
        assert_eq!(f.manifest["timing_met"], false);
        // a bundle written to a relative directory: its files still named within it
        let cwd = std::env::current_dir().unwrap();
        let moved = Ice40Build {
            bitstream: cwd.join("out/x/ice40/accel.bin"),
            ..slow.clone()
        };
        let f2 = ice40(&moved, Path::new("out/x"), 1000);
        assert_eq!(f2.manifest["bitstream"], "ice40/accel.bin");
        assert_eq!(f.lines.len(), 2);
        assert!(
            f.lines[1].starts_with("warning: fmax 20.00 MHz is below the 24 MHz clock")
                && f.lines[1].contains("ice40/pnr.log"),
            "{}",
            f.lines[1]
        );
    }
}
