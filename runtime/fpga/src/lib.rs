//! Driving the FPGA tools that turn qweave's generated SystemVerilog into hardware: the open
//! iCE40 UltraPlus flow (yosys, nextpnr-ice40, icepack) run end to end into a bitstream with
//! its cell counts, utilization and achieved clock, and for Zynq UltraScale+ a Vivado
//! non-project script plus yosys' resource counts (Vivado itself is not run here).
//!
//! Every tool is an external program found on the `PATH` (or in directories the caller
//! names, see [`Tools`]); a missing one is an error that says which Debian package brings it
//! and that `scripts/hw-tools.sh` installs it. A failing step is an error with its command
//! line, exit status, log file and the log's last lines. A design too large for its part is
//! refused with every resource over the limit before place and route is attempted.

mod ice40;
mod report;
mod tool;
mod xilinx;

use std::fmt;
use std::path::PathBuf;

pub use ice40::{Ice40Build, Ice40Cells, Ice40Flow, Ice40Steps, unpack_ice40};
pub use report::{Clock, Used};
pub use tool::{StepRun, Tools, debian_package};
pub use xilinx::{
    Implement, ULTRA96_V2_PART, XilinxCells, ZCU102_PART, vivado_program_tcl, vivado_tcl,
    yosys_utilization, yosys_utilization_with,
};

/// What can go wrong driving the tools.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the flow needs is not installed.
    #[error(
        "{program} is not installed (not found in {searched}); {}",
        match package {
            Some(p) => format!(
                "it comes with the Debian package `{p}`: run scripts/hw-tools.sh to install it"
            ),
            None => "install it and put it on the PATH".to_string(),
        }
    )]
    MissingTool {
        /// The program's name.
        program: String,
        /// The Debian package that provides it, when there is one.
        package: Option<&'static str>,
        /// The directories searched, `:`-separated.
        searched: String,
    },
    /// A tool ran and exited unsuccessfully.
    #[error("{step} failed ({status}): {command}\nlog: {}\n{tail}", log.display())]
    StepFailed {
        /// The step ("synthesis", "place and route", "bitstream").
        step: String,
        /// The command line, shell-quoted, with the directory it ran in.
        command: String,
        /// How it exited ("exit status: 1", "signal: 9 (SIGKILL)").
        status: String,
        /// Everything it printed.
        log: PathBuf,
        /// The last 30 lines of the log.
        tail: String,
    },
    /// A tool could not be started or waited for.
    #[error("{step}: cannot run {command}: {source}")]
    Spawn {
        /// The step.
        step: String,
        /// The command line, shell-quoted.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The synthesized design needs more of some resource than the part has.
    #[error(
        "the design does not fit the {part} (log: {}):\n{}",
        log.display(),
        over.iter().map(|o| format!("  {o}")).collect::<Vec<_>>().join("\n")
    )]
    DoesNotFit {
        /// The part's short name ("UP5K").
        part: &'static str,
        /// Every resource over its limit.
        over: Vec<Overuse>,
        /// The synthesis log, where the counts come from.
        log: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A tool's report is not what this crate reads.
    #[error("{}: {message}", path.display())]
    Report {
        /// The report file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The caller's input cannot be built (no sources, a bad clock, a path a tool cannot
    /// be given).
    #[error("{0}")]
    Input(String),
}

/// How many of one resource a part has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The resource, as the counts name it (`SB_MAC16`, `LUT`).
    pub resource: &'static str,
    /// How many the part has.
    pub available: u64,
}

/// An FPGA part and the resources a design is checked against before it is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Short name, used in messages ("UP5K", "ZU3EG").
    pub name: &'static str,
    /// The full part the tools are given (`iCE40UP5K-SG48`, `xczu3eg-sbva484-1-e`).
    pub device: &'static str,
    /// The resources checked.
    pub limits: &'static [Limit],
}

const fn limit(resource: &'static str, available: u64) -> Limit {
    Limit {
        resource,
        available,
    }
}

/// The Lattice iCE40 UltraPlus 5K in the SG48 package (iCEBreaker, UPduino): 5280 logic
/// cells (counted as SB_LUT4: a cell used only for its carry is not counted apart), 8
/// SB_MAC16, 30 SB_RAM40_4K and 4 SB_SPRAM256KA.
pub const UP5K: Part = Part {
    name: "UP5K",
    device: "iCE40UP5K-SG48",
    limits: &[
        limit("SB_LUT4", 5280),
        limit("SB_MAC16", 8),
        limit("SB_RAM40_4K", 30),
        limit("SB_SPRAM256KA", 4),
    ],
};

/// The Zynq UltraScale+ ZU3EG of the Ultra96-V2. `RAMB36` counts RAMB36E2 plus half of each
/// RAMB18E2 (rounded up), as [`XilinxCells::get`] does.
pub const ZU3EG: Part = Part {
    name: "ZU3EG",
    device: ULTRA96_V2_PART,
    limits: &[
        limit("LUT", 70_560),
        limit("FF", 141_120),
        limit("CARRY8", 8_820),
        limit("DSP48E2", 360),
        limit("RAMB36", 216),
        limit("URAM288", 0),
    ],
};

/// The Zynq UltraScale+ ZU9EG of the ZCU102; resources counted as for [`ZU3EG`].
pub const ZU9EG: Part = Part {
    name: "ZU9EG",
    device: ZCU102_PART,
    limits: &[
        limit("LUT", 274_080),
        limit("FF", 548_160),
        limit("CARRY8", 34_260),
        limit("DSP48E2", 2_520),
        limit("RAMB36", 912),
        limit("URAM288", 0),
    ],
};

/// One resource a design needs more of than its part has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overuse {
    /// The part's short name.
    pub part: &'static str,
    /// The resource.
    pub resource: String,
    /// How many the design needs.
    pub needed: u64,
    /// How many the part has.
    pub available: u64,
}

impl fmt::Display for Overuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: needs {}, the {} has {} ({} over)",
            self.resource,
            self.needed,
            self.part,
            self.available,
            self.needed - self.available
        )
    }
}

impl Part {
    /// Every resource of the part that `needed` (a count per resource name) exceeds.
    pub fn over(&self, needed: impl Fn(&str) -> u64) -> Vec<Overuse> {
        self.limits
            .iter()
            .filter_map(|l| {
                let n = needed(l.resource);
                (n > l.available).then_some(Overuse {
                    part: self.name,
                    resource: l.resource.to_string(),
                    needed: n,
                    available: l.available,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_names_each_exceeded_resource_with_its_excess() {
        let counts = |r: &str| match r {
            "SB_MAC16" => 9,
            "SB_LUT4" => 5280,
            "SB_RAM40_4K" => 31,
            _ => 0,
        };
        let over = UP5K.over(counts);
        let text: Vec<String> = over.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "SB_MAC16: needs 9, the UP5K has 8 (1 over)",
                "SB_RAM40_4K: needs 31, the UP5K has 30 (1 over)",
            ]
        );
        assert!(ZU3EG.over(|_| 0).is_empty());
        assert_eq!(ZU9EG.over(|r| u64::from(r == "URAM288")).len(), 1);
    }

    #[test]
    fn missing_tool_message_names_package_and_script() {
        let e = Error::MissingTool {
            program: "icepack".into(),
            package: Some("fpga-icestorm"),
            searched: "/nowhere".into(),
        };
        let text = e.to_string();
        assert!(text.contains("icepack is not installed"), "{text}");
        assert!(text.contains("`fpga-icestorm`"), "{text}");
        assert!(text.contains("scripts/hw-tools.sh"), "{text}");
    }
}
