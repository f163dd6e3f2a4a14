//! The iCE40 UltraPlus flow: yosys synthesis (`synth_ice40 -dsp`, multiplies on SB_MAC16),
//! the cell counts checked against the UP5K, then nextpnr-ice40's packing (`--pack-only`:
//! logic cells, each a LUT4 and a flip-flop, I/O, DSP and RAM blocks) checked against it
//! before anything is placed, nextpnr-ice40 place and route for the SG48 package with the
//! target clock (a design slower than the target still gets its bitstream, and its achieved
//! clock is reported for the caller to judge), and icepack into the bitstream. Every file
//! lands in the output directory: `synth.json`, `synth_stat.json`, `pack_report.json`,
//! `accel.asc`, `pnr_report.json`, `accel.bin` and one log per step.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::report::{Clock, Used, read_cell_counts, read_pnr_report};
use crate::tool::{Step, StepRun, Tools};
use crate::{Error, Overuse, UP5K};

/// One run of the iCE40 UltraPlus flow.
#[derive(Clone, Debug)]
pub struct Ice40Flow {
    /// Verilog/SystemVerilog files, read with `read_verilog -sv` in order.
    pub sources: Vec<PathBuf>,
    /// The top module.
    pub top: String,
    /// PCF constraints (`set_io` lines); without them nextpnr places the I/O freely.
    pub pcf: Option<String>,
    /// The clock place and route aims for, in MHz.
    pub clock_mhz: f64,
    /// Where every output and log goes (created when missing).
    pub out_dir: PathBuf,
    /// No progress output on standard error.
    pub quiet: bool,
}

/// The synthesized design's cells, as yosys counts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ice40Cells {
    /// SB_LUT4: the logic cells used.
    pub lut4: u64,
    /// SB_CARRY.
    pub carry: u64,
    /// Every SB_DFF flavour (SB_DFF, SB_DFFE, SB_DFFSR, ...) summed.
    pub dff: u64,
    /// SB_RAM40_4K block RAMs.
    pub ram40_4k: u64,
    /// SB_MAC16 DSP blocks.
    pub mac16: u64,
    /// SB_SPRAM256KA single-port RAMs.
    pub spram256ka: u64,
    /// SB_IO instantiated in the design (nextpnr adds the rest for top-level ports).
    pub io: u64,
    /// Every cell type with its count.
    pub by_type: BTreeMap<String, u64>,
}

impl Ice40Cells {
    /// The counts from yosys' cells per type.
    pub fn from_counts(by_type: BTreeMap<String, u64>) -> Ice40Cells {
        let get = |t: &str| by_type.get(t).copied().unwrap_or(0);
        Ice40Cells {
            lut4: get("SB_LUT4"),
            carry: get("SB_CARRY"),
            dff: by_type
                .iter()
                .filter(|(t, _)| t.starts_with("SB_DFF"))
                .map(|(_, n)| n)
                .sum(),
            ram40_4k: get("SB_RAM40_4K"),
            mac16: get("SB_MAC16"),
            spram256ka: get("SB_SPRAM256KA"),
            io: get("SB_IO"),
            by_type,
        }
    }

    /// The count of one cell type (0 when the design has none).
    pub fn get(&self, cell_type: &str) -> u64 {
        self.by_type.get(cell_type).copied().unwrap_or(0)
    }
}

/// Each step's log and duration.
#[derive(Clone, Debug, PartialEq)]
pub struct Ice40Steps {
    /// yosys (`synth.log`).
    pub synthesis: StepRun,
    /// nextpnr-ice40 (`pnr.log`).
    pub place_and_route: StepRun,
    /// icepack (`pack.log`).
    pub bitstream: StepRun,
}

/// What the flow built.
#[derive(Clone, Debug, PartialEq)]
pub struct Ice40Build {
    /// After synthesis.
    pub cells: Ice40Cells,
    /// After placement, per nextpnr bel type (`ICESTORM_LC`, `ICESTORM_RAM`,
    /// `ICESTORM_DSP`, `ICESTORM_SPRAM`, `SB_IO`, ...).
    pub utilization: BTreeMap<String, Used>,
    /// Achieved and asked-for frequency per clock net.
    pub clocks: BTreeMap<String, Clock>,
    /// The lowest achieved frequency over the clocks, in MHz (`None` without a clock).
    pub fmax_mhz: Option<f64>,
    /// The frequency asked for, in MHz.
    pub target_mhz: f64,
    /// The bitstream (`accel.bin`).
    pub bitstream: PathBuf,
    /// The placed and routed design as text (`accel.asc`).
    pub asc: PathBuf,
    /// The synthesized netlist (`synth.json`).
    pub netlist: PathBuf,
    /// nextpnr's report (`pnr_report.json`).
    pub pnr_report: PathBuf,
    /// Each step's log and duration.
    pub steps: Ice40Steps,
}

impl Ice40Build {
    /// Whether every clock reaches the target.
    pub fn meets_target(&self) -> bool {
        self.fmax_mhz.is_none_or(|f| f >= self.target_mhz)
    }
}

/// Outputs of the steps after synthesis, removed when a run starts so that a failed run
/// never leaves an older bitstream looking current.
const LATER_OUTPUTS: [&str; 8] = [
    "pack_check.log",
    "pack_report.json",
    "accel.asc",
    "accel.bin",
    "pnr_report.json",
    "pnr.log",
    "pack.log",
    "accel.pcf",
];

impl Ice40Flow {
    /// Runs the flow with the tools on the `PATH`.
    pub fn run(&self) -> Result<Ice40Build, Error> {
        self.run_with(&Tools::on_path())
    }

    /// Runs the flow with the tools found by `tools`.
    pub fn run_with(&self, tools: &Tools) -> Result<Ice40Build, Error> {
        if !(self.clock_mhz.is_finite() && self.clock_mhz > 0.0) {
            return Err(Error::Input(format!(
                "the target clock must be a positive number of MHz, not {}",
                self.clock_mhz
            )));
        }
        let dir = prepare_out_dir(&self.out_dir)?;
        for name in LATER_OUTPUTS {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let synthesis = synthesize(
            tools,
            &self.sources,
            &self.top,
            &dir,
            &format!("synth_ice40 -dsp -top {} -json synth.json", self.top),
            self.quiet,
        )?;
        let cells =
            Ice40Cells::from_counts(read_cell_counts(&dir.join("synth_stat.json"), &self.top)?);
        // the pins, for packing (a PLL's input must be on its pin) and place and route
        let pins: Vec<OsString> = if let Some(pcf) = &self.pcf {
            let path = dir.join("accel.pcf");
            std::fs::write(&path, pcf).map_err(|source| Error::Io { path, source })?;
            ["--pcf", "accel.pcf"].map(OsString::from).into()
        } else {
            vec!["--pcf-allow-unconstrained".into()]
        };
        // the fit, as nextpnr packs the design: flip-flops that share no LUT take logic cells
        // of their own, and every port takes a pin (yosys' counts, when packing does not say)
        let packing = Step {
            name: "packing",
            program: "nextpnr-ice40",
            args: [
                "--up5k",
                "--package",
                "sg48",
                "--json",
                "synth.json",
                "--pack-only",
                "--report",
                "pack_report.json",
            ]
            .map(OsString::from)
            .into_iter()
            .chain(pins.iter().cloned())
            .collect(),
            dir: &dir,
            log: dir.join("pack_check.log"),
            quiet: self.quiet,
        }
        .run(tools)?;
        let packed = read_pnr_report(&dir.join("pack_report.json"))?;
        let mut over = packed_over(&packed.utilization);
        if over.is_empty() {
            over = UP5K.over(|r| cells.get(r));
        }
        if !over.is_empty() {
            return Err(Error::DoesNotFit {
                part: UP5K.name,
                over,
                log: packing.log,
            });
        }

        let mut args: Vec<OsString> = [
            "--up5k",
            "--package",
            "sg48",
            "--json",
            "synth.json",
            "--asc",
            "accel.asc",
            "--report",
            "pnr_report.json",
            "--timing-allow-fail",
            "--freq",
        ]
        .map(OsString::from)
        .into();
        args.push(self.clock_mhz.to_string().into());
        args.extend(pins);
        let place_and_route = Step {
            name: "place and route",
            program: "nextpnr-ice40",
            args,
            dir: &dir,
            log: dir.join("pnr.log"),
            quiet: self.quiet,
        }
        .run(tools)?;
        let pnr_report = dir.join("pnr_report.json");
        let report = read_pnr_report(&pnr_report)?;

        let bitstream = Step {
            name: "bitstream",
            program: "icepack",
            args: vec!["accel.asc".into(), "accel.bin".into()],
            dir: &dir,
            log: dir.join("pack.log"),
            quiet: self.quiet,
        }
        .run(tools)?;

        let fmax_mhz = report
            .fmax
            .values()
            .map(|c| c.achieved_mhz)
            .min_by(f64::total_cmp);
        Ok(Ice40Build {
            cells,
            utilization: report.utilization,
            clocks: report.fmax,
            fmax_mhz,
            target_mhz: self.clock_mhz,
            bitstream: dir.join("accel.bin"),
            asc: dir.join("accel.asc"),
            netlist: dir.join("synth.json"),
            pnr_report,
            steps: Ice40Steps {
                synthesis,
                place_and_route,
                bitstream,
            },
        })
    }
}

/// The resources nextpnr's packing uses more of than the UP5K has, each named as nextpnr
/// names it with what it is.
fn packed_over(utilization: &BTreeMap<String, Used>) -> Vec<Overuse> {
    utilization
        .iter()
        .filter(|(_, u)| u.used > u.available)
        .map(|(name, u)| Overuse {
            part: UP5K.name,
            resource: match name.as_str() {
                "ICESTORM_LC" => "logic cells (ICESTORM_LC: a LUT4 and a flip-flop)".into(),
                "SB_IO" => "I/O pins (SB_IO)".into(),
                "ICESTORM_DSP" => "DSP blocks (ICESTORM_DSP)".into(),
                "ICESTORM_RAM" => "block RAMs (ICESTORM_RAM)".into(),
                "ICESTORM_SPRAM" => "SPRAMs (ICESTORM_SPRAM)".into(),
                other => other.to_string(),
            },
            needed: u.used,
            available: u.available,
        })
        .collect()
}

/// `dir`, created when missing, as an absolute path.
pub(crate) fn prepare_out_dir(dir: &Path) -> Result<PathBuf, Error> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::path::absolute(dir).map_err(io)
}

/// Runs yosys in `dir` on `sources` with the synthesis command `synth` (which writes its
/// outputs relative to `dir`), then writes the cell counts to `synth_stat.json`; the log is
/// `synth.log`.
pub(crate) fn synthesize(
    tools: &Tools,
    sources: &[PathBuf],
    top: &str,
    dir: &Path,
    synth: &str,
    quiet: bool,
) -> Result<StepRun, Error> {
    if sources.is_empty() {
        return Err(Error::Input("no source files to synthesize".into()));
    }
    check_identifier(top)?;
    let mut script = String::new();
    for source in sources {
        let path = std::path::absolute(source).map_err(|e| Error::Io {
            path: source.clone(),
            source: e,
        })?;
        std::fs::metadata(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        script += &format!("read_verilog -sv {}; ", yosys_word(&path)?);
    }
    script += &format!("{synth}; tee -q -o synth_stat.json stat -json");
    Step {
        name: "synthesis",
        program: "yosys",
        args: vec!["-p".into(), script.into()],
        dir,
        log: dir.join("synth.log"),
        quiet,
    }
    .run(tools)
}

/// A Verilog simple identifier without `$` (which Tcl would substitute): the only kind of
/// module or port name given to the tools.
pub(crate) fn check_identifier(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "`{name}` is not a plain Verilog identifier (letters, digits and _, not starting \
             with a digit)"
        )))
    }
}

/// `path` as one word of a yosys script: in double quotes when it holds spaces, `;` or `#`;
/// a path yosys cannot be given (with `"` or control characters) is an error.
fn yosys_word(path: &Path) -> Result<String, Error> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::Input(format!("{}: yosys needs a UTF-8 path", path.display())))?;
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(Error::Input(format!(
            "{text}: yosys cannot read a path with a double quote or a control character"
        )));
    }
    if text.contains(|c: char| c.is_whitespace() || c == ';' || c == '#') {
        Ok(format!("\"{text}\""))
    } else {
        Ok(text.to_string())
    }
}

/// Reads the bitstream `bin` back with `iceunpack` into `asc` (its log beside it, named
/// after it with `.log`) and returns the device the bitstream is for (`5k` for the UP5K).
pub fn unpack_ice40(tools: &Tools, bin: &Path, asc: &Path, quiet: bool) -> Result<String, Error> {
    let dir = prepare_out_dir(asc.parent().unwrap_or(Path::new(".")))?;
    let abs = |p: &Path| {
        std::path::absolute(p).map_err(|source| Error::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    Step {
        name: "bitstream read-back",
        program: "iceunpack",
        args: vec![abs(bin)?.into(), abs(asc)?.into()],
        dir: &dir,
        log: asc.with_extension("log"),
        quiet,
    }
    .run(tools)?;
    let text = std::fs::read(asc).map_err(|source| Error::Io {
        path: asc.to_path_buf(),
        source,
    })?;
    String::from_utf8_lossy(&text)
        .lines()
        .take(64)
        .find_map(|l| l.strip_prefix(".device "))
        .map(|d| d.trim().to_string())
        .ok_or_else(|| Error::Report {
            path: asc.to_path_buf(),
            message: "no .device line: not an iCE40 bitstream".into(),
        })
}

#[cfg(test)]
mod tests;
