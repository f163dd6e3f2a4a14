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

/// The same on the serial datapath, whose DRAM is the board's SPRAM: a read's word comes the
/// next cycle (`qweave_hw::serial::DRAM_LATENCY`).
pub const SERIAL_DRAM_LATENCY: u32 = qweave_hw::serial::DRAM_LATENCY as u32;

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
    /// Per instruction, the cycles its queue started it (raised go) and finished it; a
    /// `config` has the compute queue's.
    pub times: Vec<(u64, u64)>,
}

impl Engine {
    /// Generates the accelerator for `hw` and builds (or finds in `cache`) its Verilator
    /// model; `trace` builds one that can write waveforms.
    pub fn build(hw: &HwConfig, cache: &Path, trace: bool) -> Result<Engine, String> {
        Engine::from_design(hw, accel::generate(hw)?, cache, trace)
    }

    /// Builds (or finds in `cache`) the Verilator model of `accel`, generated for `hw`.
    pub fn from_design(
        hw: &HwConfig,
        accel: Accel,
        cache: &Path,
        trace: bool,
    ) -> Result<Engine, String> {
        let verilator = qweave_rtl::Verilator::find()?;
        // (-Wall: a model is built only from lint-clean SystemVerilog)
        let mut flags = vec![
            "-Wall".to_string(),
            "-CFLAGS".to_string(),
            format!(
                "-DQW_BUS={} -DQW_LATENCY={} -DQW_PROGRAM_BEAT={}{}{}",
                hw.dram_bus_bits,
                if hw.serial {
                    SERIAL_DRAM_LATENCY
                } else {
                    DRAM_READ_LATENCY
                },
                if hw.serial { 4 } else { 64 },
                if hw.serial { " -DQW_WREADY" } else { "" },
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
        let files = Files::new("qweave-rtl-run")?;
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
        let times = times(program, &text)?;
        Ok(RtlRun {
            dram,
            cycles,
            times,
        })
    }
}

/// Each instruction's (start, end) from the testbench's `q QUEUE START END` lines, which
/// come in each queue's order.
fn times(program: &[Instr], text: &str) -> Result<Vec<(u64, u64)>, String> {
    use qweave_hw::isa::{Op, Queue};
    let mut lists: [Vec<usize>; 3] = Default::default();
    for (k, i) in program.iter().enumerate() {
        if matches!(i.op, Op::Config(_)) {
            lists[0].push(k);
        }
        let q = match i.op.queue() {
            Queue::Load => 0,
            Queue::Compute => 1,
            Queue::Store => 2,
        };
        lists[q].push(k);
    }
    let mut next = [0usize; 3];
    let mut out = vec![(0, 0); program.len()];
    for line in text.lines().filter_map(|l| l.strip_prefix("q ")) {
        let f: Vec<u64> = line.split(' ').filter_map(|v| v.parse().ok()).collect();
        let [q, start, end] = f[..] else {
            return Err(format!("the testbench printed `q {line}`"));
        };
        let q = q as usize;
        let k = *lists
            .get(q)
            .and_then(|l| l.get(next[q]))
            .ok_or_else(|| format!("queue {q} finished more instructions than it has"))?;
        next[q] += 1;
        if !(q == 0 && matches!(program[k].op, Op::Config(_))) {
            out[k] = (start, end);
        }
    }
    if next.iter().zip(&lists).any(|(n, l)| *n != l.len()) {
        return Err("the RTL model finished without running every instruction".into());
    }
    Ok(out)
}

static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A run's files, removed when dropped.
pub(crate) struct Files(pub(crate) PathBuf);

impl Files {
    /// A new directory for one run's files, named `prefix` and unique in the process.
    pub(crate) fn new(prefix: &str) -> Result<Files, String> {
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Files(dir))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
