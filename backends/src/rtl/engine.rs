//! The RTL engine: a compiled program run on the generated accelerator in Verilator. The
//! model is built once per hardware (cached by a hash of the design and the testbench); its
//! testbench models DRAM (reads answered [`DRAM_READ_LATENCY`] cycles after the request, one
//! beat a cycle, in order) and the program port, loads the program and DRAM image, runs to
//! `end` and hands back DRAM and the cycle count.

use super::accel::{self, Accel};
use qweave_hw::HwConfig;
use qweave_hw::isa::Instr;
use std::path::{Path, PathBuf};

/// Cycles from a DRAM read request to its beat: with the transfer engine's own cycles, the
/// cycle model's `DRAM_LATENCY`.
pub const DRAM_READ_LATENCY: u32 = 28;

const TESTBENCH: &str = include_str!("testbench.cpp");

/// A built accelerator model.
pub struct Engine {
    /// The design it was built from.
    pub accel: Accel,
    model: qweave_rtl::Model,
    traced: bool,
}

/// What a run left.
#[derive(Clone, Debug)]
pub struct RtlRun {
    /// DRAM afterwards.
    pub dram: Vec<u8>,
    /// Cycles from start to `done`.
    pub cycles: u64,
}

impl Engine {
    /// Generates the accelerator for `hw` and builds (or finds in `cache`) its Verilator
    /// model; `trace` builds one that can write waveforms.
    pub fn build(hw: &HwConfig, cache: &Path, trace: bool) -> Result<Engine, String> {
        let accel = accel::generate(hw)?;
        let verilator = qweave_rtl::Verilator::find()?;
        let mut flags = vec![
            "-CFLAGS".to_string(),
            format!(
                "-DQW_BUS={} -DQW_LATENCY={DRAM_READ_LATENCY}{}",
                hw.dram_bus_bits,
                if trace { " -DQW_TRACE" } else { "" }
            ),
        ];
        if trace {
            flags.push("--trace".into());
        }
        let sources = [("accel.sv", accel.sv.clone())];
        let model = verilator.build(cache, "main", &sources, TESTBENCH, &flags)?;
        Ok(Engine {
            accel,
            model,
            traced: trace,
        })
    }

    /// Runs `program` from `dram` for at most `max_cycles`; `vcd` writes a waveform (a traced
    /// model only).
    pub fn run(
        &self,
        program: &[Instr],
        dram: &[u8],
        max_cycles: u64,
        vcd: Option<&Path>,
    ) -> Result<RtlRun, String> {
        if vcd.is_some() && !self.traced {
            return Err("this model was built without tracing; build it with trace".into());
        }
        let bin = qweave_hw::isa::binary::encode(program).map_err(|e| e.to_string())?;
        let scratch = std::env::temp_dir().join(format!(
            "qweave-rtl-run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let files = Files(scratch.clone());
        let prog = files.0.join("program.words");
        let image = files.0.join("dram.bin");
        let out = files.0.join("out.bin");
        let put = |p: &PathBuf, b: &[u8]| {
            std::fs::write(p, b).map_err(|e| format!("{}: {e}", p.display()))
        };
        put(&prog, &bin[16..])?;
        put(&image, dram)?;
        let mut orders = format!(
            "program {}\ndram {}\nout {}\nmax_cycles {max_cycles}\n",
            prog.display(),
            image.display(),
            out.display()
        );
        if let Some(v) = vcd {
            orders += &format!("vcd {}\n", v.display());
        }
        orders += "run\n";
        let text = self.model.run(&orders)?;
        let cycles = text
            .lines()
            .find_map(|l| l.strip_prefix("cycles "))
            .and_then(|c| c.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "the RTL model did not reach `end` within {max_cycles} cycles ({})",
                    text.trim()
                )
            })?;
        let dram = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        Ok(RtlRun { dram, cycles })
    }
}

static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A run's files, removed when dropped.
struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
