//! Reading the tools' JSON reports: yosys' `stat -json` (cells per type of the synthesized
//! design) and nextpnr's `--report` (achieved clock per domain, used and available per
//! resource). Fields this crate does not use are ignored; missing sections read as empty.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::Error;

#[derive(Deserialize)]
struct YosysStat {
    #[serde(default)]
    modules: BTreeMap<String, ModuleStat>,
    /// The whole design below the top (present when yosys knows the top module).
    design: Option<ModuleStat>,
}

#[derive(Deserialize)]
struct ModuleStat {
    #[serde(default)]
    num_cells_by_type: BTreeMap<String, u64>,
}

/// The cells per type of `top` in yosys' `stat -json` output: the `design` section (the
/// whole hierarchy), else the top module's own (flattened designs), else the only module.
pub(crate) fn parse_cell_counts(text: &str, top: &str) -> Result<BTreeMap<String, u64>, String> {
    let stat: YosysStat =
        serde_json::from_str(text).map_err(|e| format!("not yosys stat JSON: {e}"))?;
    if let Some(design) = stat.design {
        return Ok(design.num_cells_by_type);
    }
    let mut modules = stat.modules;
    if let Some(m) = modules.remove(&format!("\\{top}")) {
        return Ok(m.num_cells_by_type);
    }
    if modules.len() == 1
        && let Some((_, m)) = modules.pop_first()
    {
        return Ok(m.num_cells_by_type);
    }
    Err(format!("no cell counts for the top module {top}"))
}

/// [`parse_cell_counts`] of the file at `path`.
pub(crate) fn read_cell_counts(path: &Path, top: &str) -> Result<BTreeMap<String, u64>, Error> {
    let text = read(path)?;
    parse_cell_counts(&text, top).map_err(|message| Error::Report {
        path: path.to_path_buf(),
        message,
    })
}

/// How much of one resource a placed design uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Used {
    /// Used by the design.
    pub used: u64,
    /// On the part.
    pub available: u64,
}

/// One clock domain's timing after routing.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Clock {
    /// The highest frequency the routed design runs at, in MHz.
    #[serde(rename = "achieved")]
    pub achieved_mhz: f64,
    /// The frequency asked for, in MHz.
    #[serde(rename = "constraint")]
    pub target_mhz: f64,
}

/// nextpnr's `--report` JSON, the parts this crate reads.
#[derive(Debug, Deserialize)]
pub(crate) struct PnrReport {
    /// Per clock net.
    #[serde(default)]
    pub(crate) fmax: BTreeMap<String, Clock>,
    /// Per bel type (`ICESTORM_LC`, `ICESTORM_DSP`, `SB_IO`, ...).
    #[serde(default)]
    pub(crate) utilization: BTreeMap<String, Used>,
}

/// nextpnr's report at `path`.
pub(crate) fn read_pnr_report(path: &Path) -> Result<PnrReport, Error> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|e| Error::Report {
        path: path.to_path_buf(),
        message: format!("not a nextpnr report: {e}"),
    })
}

fn read(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As yosys 0.23 writes it (the `design` section's odd indentation included).
    const STAT: &str = r#"{
   "creator": "Yosys 0.23 (git sha1 7ce5011c24b)",
   "invocation": "stat -json ",
   "modules": {
      "\\blink": {
         "num_cells":         3,
         "num_cells_by_type": { "SB_LUT4": 2, "SB_MAC16": 1 }
      }
   },
      "design": {
         "num_cells":         4,
         "num_cells_by_type": { "SB_LUT4": 3, "SB_MAC16": 1 }
      }
}"#;

    #[test]
    fn cell_counts_prefer_the_design_then_the_top_then_the_only_module() {
        let c = parse_cell_counts(STAT, "blink").unwrap();
        assert_eq!(c["SB_LUT4"], 3);
        let no_design = r#"{"modules": {"\\a": {"num_cells_by_type": {"X": 1}},
                                           "\\b": {"num_cells_by_type": {"X": 2}}}}"#;
        assert_eq!(parse_cell_counts(no_design, "b").unwrap()["X"], 2);
        let err = parse_cell_counts(no_design, "c").unwrap_err();
        assert!(err.contains("top module c"), "{err}");
        let one = r#"{"modules": {"\\a": {"num_cells_by_type": {"X": 5}}}}"#;
        assert_eq!(parse_cell_counts(one, "z").unwrap()["X"], 5);
        let empty = r#"{"modules": {"\\a": {"num_cells": 0}}}"#;
        assert!(parse_cell_counts(empty, "a").unwrap().is_empty());
        assert!(parse_cell_counts("stat: not json", "a").is_err());
    }

    #[test]
    fn pnr_report_reads_clocks_and_utilization() {
        let text = r#"{"critical_paths": [],
            "fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 79.75, "constraint": 24}},
            "utilization": {"ICESTORM_DSP": {"available": 8, "used": 1},
                            "SB_IO": {"available": 96, "used": 5}}}"#;
        let r: PnrReport = serde_json::from_str(text).unwrap();
        let clk = r.fmax["clk$SB_IO_IN_$glb_clk"];
        assert_eq!((clk.achieved_mhz, clk.target_mhz), (79.75, 24.0));
        assert_eq!(
            r.utilization["SB_IO"],
            Used {
                used: 5,
                available: 96
            }
        );
        // a combinational design has no clock section
        let r: PnrReport = serde_json::from_str(r#"{"utilization": {}}"#).unwrap();
        assert!(r.fmax.is_empty());
    }

    #[test]
    fn unreadable_reports_are_errors_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("pnr_report.json");
        assert!(matches!(read_pnr_report(&p), Err(Error::Io { .. })));
        std::fs::write(&p, b"{\"fmax\": {\"c\": {\"achieved\": \"fast\"}}}").unwrap();
        let err = read_pnr_report(&p).unwrap_err().to_string();
        assert!(err.starts_with(&p.display().to_string()), "{err}");
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(
            read_cell_counts(&p, "t"),
            Err(Error::Report { .. })
        ));
    }
}
