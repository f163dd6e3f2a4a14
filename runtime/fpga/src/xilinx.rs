//! Zynq UltraScale+ (Ultra96-V2's ZU3EG, ZCU102's ZU9EG): the Vivado non-project Tcl script
//! that builds a bitstream (Vivado is not run here: it is not open and not on this
//! machine), and yosys' `synth_xilinx` resource counts, the open estimate of what Vivado
//! will use.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::ice40::{check_identifier, prepare_out_dir, synthesize};
use crate::report::read_cell_counts;
use crate::tool::Tools;

/// The Ultra96-V2's part.
pub const ULTRA96_V2_PART: &str = "xczu3eg-sbva484-1-e";
/// The ZCU102's part.
pub const ZCU102_PART: &str = "xczu9eg-ffvb1156-2-e";

/// What a Vivado script makes of its top module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implement {
    /// The whole chip: the top's ports are the package's pins; ends in `accel.bit`.
    Bitstream,
    /// A block for a larger design (`synth_design -mode out_of_context`): its ports need no
    /// pins, and it is placed and routed with its utilization and timing reported, but
    /// Vivado writes no bitstream of it.
    OutOfContext,
}

/// A Vivado non-project Tcl script that builds `top` from `sources` for `part` with a
/// `clock_mhz` clock on `clock_port` and the `constraints` files (XDC: a board's pins):
/// synthesis, optimization, placement, routing, the checkpoint, the utilization and timing
/// reports and, for [`Implement::Bitstream`], `accel.bit`, all written to `out_dir_name`
/// (relative to the directory Vivado runs in, unless absolute). Run with `vivado -mode batch
/// -source build.tcl`.
#[allow(clippy::too_many_arguments)]
pub fn vivado_tcl(
    part: &str,
    sources: &[PathBuf],
    constraints: &[PathBuf],
    top: &str,
    clock_port: &str,
    clock_mhz: f64,
    out_dir_name: &str,
    implement: Implement,
) -> Result<String, Error> {
    check_identifier(top)?;
    check_identifier(clock_port)?;
    if !(clock_mhz.is_finite() && clock_mhz > 0.0) {
        return Err(Error::Input(format!(
            "the clock must be a positive number of MHz, not {clock_mhz}"
        )));
    }
    if sources.is_empty() {
        return Err(Error::Input("no source files to build".into()));
    }
    let period = format!("{:.3}", 1000.0 / clock_mhz);
    let mut t = String::new();
    let mut line = |text: &str| {
        t.push_str(text);
        t.push('\n');
    };
    line(&format!(
        "# Vivado non-project build of {top} for {part} at {clock_mhz} MHz, written by qweave."
    ));
    line("# Run it with: vivado -mode batch -source build.tcl");
    line(&format!(
        "# Everything it writes goes to {out_dir_name} (relative to where Vivado runs)."
    ));
    line(&format!(
        "set out [file normalize {}]",
        tcl_word(out_dir_name)
    ));
    line("file mkdir $out");
    for source in sources {
        line(&format!(
            "read_verilog -sv {}",
            tcl_word(&source.to_string_lossy())
        ));
    }
    line("# the clock constraint, as an XDC file so synthesis is timed against it too");
    line("set xdc [file join $out clocks.xdc]");
    line("set f [open $xdc w]");
    line(&format!(
        "puts $f {{create_clock -period {period} -name {clock_port} [get_ports {clock_port}]}}"
    ));
    line("close $f");
    line("read_xdc $xdc");
    for xdc in constraints {
        line(&format!("read_xdc {}", tcl_word(&xdc.to_string_lossy())));
    }
    if implement == Implement::OutOfContext {
        line(&format!(
            "# out of context: {top}'s ports are a block's, not pins, so Vivado writes no bitstream"
        ));
    }
    line("# SYNTHESIS selects the sources' synthesis branches (as yosys defines it)");
    line(&format!(
        "synth_design -top {top} -part {} -verilog_define SYNTHESIS{}",
        tcl_word(part),
        match implement {
            Implement::Bitstream => "",
            Implement::OutOfContext => " -mode out_of_context",
        }
    ));
    for step in ["opt_design", "place_design", "route_design"] {
        line(step);
    }
    line("write_checkpoint -force [file join $out routed.dcp]");
    line("report_utilization -file [file join $out utilization.rpt]");
    line("report_timing_summary -file [file join $out timing_summary.rpt]");
    if implement == Implement::Bitstream {
        line("write_bitstream -force [file join $out accel.bit]");
    }
    Ok(t)
}

/// A Vivado Tcl script that programs `bitstream` (relative to where Vivado runs, unless
/// absolute) into the first device of the JTAG chain whose name starts with `device` (the
/// part's name without its package, such as `xczu9`): the hardware manager on the local
/// hardware server. Run with `vivado -mode batch -source program.tcl`.
pub fn vivado_program_tcl(device: &str, bitstream: &str) -> Result<String, Error> {
    check_identifier(device)?;
    Ok(format!(
        "# Programs {bitstream} into the board's {device} over JTAG, written by qweave.\n\
         # Run it with: vivado -mode batch -source program.tcl\n\
         open_hw_manager\n\
         connect_hw_server\n\
         open_hw_target\n\
         set device [lindex [get_hw_devices {device}*] 0]\n\
         current_hw_device $device\n\
         set_property PROGRAM.FILE [file normalize {}] $device\n\
         program_hw_devices $device\n\
         close_hw_manager\n",
        tcl_word(bitstream)
    ))
}

/// `text` as one Tcl word: every character Tcl would treat specially behind a backslash.
fn tcl_word(text: &str) -> String {
    let mut word = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() || "\\\"$[]{};#".contains(c) {
            word.push('\\');
        }
        let _ = write!(word, "{c}");
    }
    if word.is_empty() {
        "{}".to_string()
    } else {
        word
    }
}

/// What yosys' `synth_xilinx -family xcup` maps a design to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XilinxCells {
    /// LUT1 to LUT6 summed.
    pub luts: u64,
    /// FDRE, FDSE, FDCE and FDPE summed.
    pub ffs: u64,
    /// DSP48E2 slices.
    pub dsp48e2: u64,
    /// RAMB36E2 block RAMs.
    pub ramb36e2: u64,
    /// RAMB18E2 half block RAMs.
    pub ramb18e2: u64,
    /// URAM288 UltraRAMs.
    pub uram288: u64,
    /// CARRY8 carry chains.
    pub carry8: u64,
    /// Every cell type with its count.
    pub by_type: BTreeMap<String, u64>,
}

impl XilinxCells {
    /// The counts from yosys' cells per type.
    pub fn from_counts(by_type: BTreeMap<String, u64>) -> XilinxCells {
        let sum = |types: &[&str]| types.iter().filter_map(|t| by_type.get(*t)).sum();
        XilinxCells {
            luts: sum(&["LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"]),
            ffs: sum(&["FDRE", "FDSE", "FDCE", "FDPE"]),
            dsp48e2: sum(&["DSP48E2"]),
            ramb36e2: sum(&["RAMB36E2"]),
            ramb18e2: sum(&["RAMB18E2"]),
            uram288: sum(&["URAM288"]),
            carry8: sum(&["CARRY8"]),
            by_type,
        }
    }

    /// The count of a resource of the Zynq parts' limits (`LUT`, `FF`, `CARRY8`,
    /// `DSP48E2`, `RAMB36` — RAMB36E2 plus the RAMB18E2 in pairs —, `URAM288`), else of
    /// a cell type; so `ZU3EG.over(|r| cells.get(r))` is the fit check.
    pub fn get(&self, resource: &str) -> u64 {
        match resource {
            "LUT" => self.luts,
            "FF" => self.ffs,
            "RAMB36" => self.ramb36e2 + self.ramb18e2.div_ceil(2),
            other => self.by_type.get(other).copied().unwrap_or(0),
        }
    }
}

/// yosys' `synth_xilinx -family xcup` on `sources` with the tools on the `PATH`: the cells
/// the design maps to. The log (`synth.log`) and counts (`synth_stat.json`) go to
/// `out_dir`.
pub fn yosys_utilization(
    sources: &[PathBuf],
    top: &str,
    out_dir: &Path,
    quiet: bool,
) -> Result<XilinxCells, Error> {
    yosys_utilization_with(&Tools::on_path(), sources, top, out_dir, quiet)
}

/// [`yosys_utilization`] with the tools found by `tools`.
pub fn yosys_utilization_with(
    tools: &Tools,
    sources: &[PathBuf],
    top: &str,
    out_dir: &Path,
    quiet: bool,
) -> Result<XilinxCells, Error> {
    let dir = prepare_out_dir(out_dir)?;
    check_identifier(top)?;
    let synth = format!("synth_xilinx -family xcup -flatten -top {top}");
    synthesize(tools, sources, top, &dir, &synth, quiet)?;
    Ok(XilinxCells::from_counts(read_cell_counts(
        &dir.join("synth_stat.json"),
        top,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ZU3EG, ZU9EG};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    #[test]
    fn vivado_script_builds_the_part_at_the_clock() {
        let tcl = vivado_tcl(
            ULTRA96_V2_PART,
            &["rtl/accel.sv".into(), "/abs/my dir/qw_core.sv".into()],
            &["pins.xdc".into()],
            "accel",
            "clk",
            200.0,
            "vivado_out",
            Implement::Bitstream,
        )
        .unwrap();
        insta::assert_snapshot!(tcl);
        let lines: Vec<&str> = tcl.lines().collect();
        let at = |l: &str| {
            lines
                .iter()
                .position(|x| *x == l)
                .unwrap_or_else(|| panic!("{l}"))
        };
        let synth =
            at("synth_design -top accel -part xczu3eg-sbva484-1-e -verilog_define SYNTHESIS");
        assert!(tcl.contains("create_clock -period 5.000 -name clk [get_ports clk]"));
        assert!(at("read_xdc $xdc") < synth && at("read_verilog -sv rtl/accel.sv") < synth);
        assert!(at("read_xdc pins.xdc") < synth);
        assert!(at(r"read_verilog -sv /abs/my\ dir/qw_core.sv") < synth);
        assert!(synth < at("opt_design") && at("opt_design") < at("place_design"));
        assert!(at("place_design") < at("route_design"));
        let bit = at("write_bitstream -force [file join $out accel.bit]");
        assert!(at("route_design") < bit && bit == lines.len() - 1);
        assert!(tcl.contains("report_utilization -file "));
        assert!(tcl.contains("report_timing_summary -file "));
        assert!(tcl.contains("vivado -mode batch -source build.tcl"));

        let zcu_tcl = |implement| {
            vivado_tcl(
                ZCU102_PART,
                &["a.sv".into()],
                &[],
                "t",
                "ck",
                150.0,
                "o",
                implement,
            )
            .unwrap()
        };
        let zcu = zcu_tcl(Implement::Bitstream);
        assert!(zcu.contains(
            "synth_design -top t -part xczu9eg-ffvb1156-2-e -verilog_define SYNTHESIS\n"
        ));
        assert!(zcu.contains("create_clock -period 6.667 -name ck [get_ports ck]"));
        // a block: the same steps, out of context, without the bitstream
        let ooc = zcu_tcl(Implement::OutOfContext);
        assert!(ooc.contains(
            "synth_design -top t -part xczu9eg-ffvb1156-2-e -verilog_define SYNTHESIS \
                 -mode out_of_context\n"
        ));
        assert!(ooc.contains("route_design\nwrite_checkpoint") && !ooc.contains("write_bitstream"));
        assert!(ooc.contains("report_utilization") && ooc.contains("report_timing_summary"));
    }

    #[test]
    fn the_program_script_programs_the_bitstream_into_the_part() {
        let tcl = vivado_program_tcl("xczu9", "out/accel.bit").unwrap();
        let lines: Vec<&str> = tcl.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "open_hw_manager",
                "connect_hw_server",
                "open_hw_target",
                "set device [lindex [get_hw_devices xczu9*] 0]",
                "current_hw_device $device",
                "set_property PROGRAM.FILE [file normalize out/accel.bit] $device",
                "program_hw_devices $device",
                "close_hw_manager",
            ]
        );
        assert!(vivado_program_tcl("xczu9 [exit]", "a.bit").is_err());
    }

    #[test]
    fn vivado_script_refuses_what_it_cannot_write() {
        let src = [PathBuf::from("a.sv")];
        let bad = |top, port, mhz, srcs: &[PathBuf]| {
            vivado_tcl(
                ZCU102_PART,
                srcs,
                &[],
                top,
                port,
                mhz,
                "o",
                Implement::Bitstream,
            )
            .unwrap_err()
            .to_string()
        };
        assert!(bad("t", "clk [exit]", 100.0, &src).contains("identifier"));
        assert!(bad("t$x", "clk", 100.0, &src).contains("identifier"));
        assert!(bad("t", "clk", -1.0, &src).contains("MHz"));
        assert!(bad("t", "clk", f64::INFINITY, &src).contains("MHz"));
        assert!(bad("t", "clk", 100.0, &[]).contains("no source files"));
        assert_eq!(tcl_word("a b$[c]{d};\"#\\"), r#"a\ b\$\[c\]\{d\}\;\"\#\\"#);
        assert_eq!(tcl_word(""), "{}");
    }

    #[test]
    fn yosys_maps_a_27x18_product_to_one_dsp48e2() {
        let tmp = tempfile::tempdir().unwrap();
        let cells = yosys_utilization(&[fixture("mul27.sv")], "mul27", tmp.path(), true).unwrap();
        assert_eq!(cells.dsp48e2, 1, "{cells:?}");
        assert!(cells.luts > 0, "the XOR reduction is in LUTs: {cells:?}");
        assert!(cells.ffs >= 45, "{cells:?}");
        assert_eq!(cells.ramb36e2 + cells.ramb18e2 + cells.uram288, 0);
        let lut_types: u64 = cells
            .by_type
            .iter()
            .filter(|(t, _)| t.starts_with("LUT"))
            .map(|(_, n)| n)
            .sum();
        assert_eq!(cells.luts, lut_types);
        assert!(ZU3EG.over(|r| cells.get(r)).is_empty());
        assert!(tmp.path().join("synth.log").is_file());
    }

    #[test]
    fn xilinx_counts_pair_half_brams_and_check_the_part() {
        let counts = [
            ("RAMB36E2", 900),
            ("RAMB18E2", 25),
            ("URAM288", 1),
            ("LUT6", 3),
        ]
        .map(|(t, n)| (t.to_string(), n));
        let cells = XilinxCells::from_counts(counts.into_iter().collect());
        assert_eq!(
            (cells.get("RAMB36"), cells.get("LUT"), cells.get("CARRY8")),
            (913, 3, 0)
        );
        let over: Vec<String> = ZU9EG
            .over(|r| cells.get(r))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            over,
            [
                "RAMB36: needs 913, the ZU9EG has 912 (1 over)",
                "URAM288: needs 1, the ZU9EG has 0 (1 over)"
            ]
        );
    }
}
