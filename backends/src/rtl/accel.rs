//! The accelerator for one [`HwConfig`] as hardware: `accel.futil`, the Calyx controller
//! (fetch, decode, the three queues and their dependency tokens) with the datapath linked in
//! as SystemVerilog primitives (`sv/`: the memories, the PE array — bricks PEs, or DSP48E2
//! PEs with the packings the configuration lists (`packed_mac.rs` generates that PE) — with
//! its 2-stage input buffer and partial-sum sorter, the post-processing unit, the DRAM
//! transfer engine), and `accel.sv`, everything compiled to one SystemVerilog file by the
//! Calyx compiler, in process, with calyx-stdlib's primitives written out for it at run time.

use super::packed_mac;
use qweave_hw::{HwConfig, PeKind, Target};
use std::path::{Path, PathBuf};

/// The controller's Calyx, with `$` parameters.
const CONTROLLER: &str = include_str!("accel.futil");

/// The serial datapath's controller (`HwConfig::serial`).
const SERIAL_CONTROLLER: &str = include_str!("accel_serial.futil");

/// The serial datapath's primitives, in the order `accel.sv` holds them.
pub const SERIAL_PRIMITIVES: [(&str, &str); 9] = [
    ("qw_ram.sv", include_str!("sv/qw_ram.sv")),
    ("qw_beats.sv", include_str!("sv/qw_beats.sv")),
    ("qw_walk.sv", include_str!("sv/qw_walk.sv")),
    ("qw_serial_xfer.sv", include_str!("sv/qw_serial_xfer.sv")),
    ("qw_dsp_pair.sv", include_str!("sv/qw_dsp_pair.sv")),
    ("qw_serial_gemm.sv", include_str!("sv/qw_serial_gemm.sv")),
    ("qw_ucode.sv", include_str!("sv/qw_ucode.sv")),
    ("qw_serial_core.sv", include_str!("sv/qw_serial_core.sv")),
    ("qw_fetch_one.sv", include_str!("sv/qw_fetch_one.sv")),
];

/// The array's primitives for bricks PEs.
pub const BRICKS_ARRAY: [(&str, &str); 3] = [
    ("qw_brick_routes.sv", include_str!("sv/qw_brick_routes.sv")),
    ("qw_spe.sv", include_str!("sv/qw_spe.sv")),
    ("qw_gemm.sv", include_str!("sv/qw_gemm.sv")),
];

/// The array for DSP48E2 PEs (its columns are generated: `packed_mac::column`).
const DSP_ARRAY: (&str, &str) = ("qw_gemm_dsp.sv", include_str!("sv/qw_gemm_dsp.sv"));

/// The datapath primitives besides the array, in the order `accel.sv` holds them.
pub const PRIMITIVES: [(&str, &str); 8] = [
    ("qw_gemm_insn.sv", include_str!("sv/qw_gemm_insn.sv")),
    ("qw_gemm_ctl.sv", include_str!("sv/qw_gemm_ctl.sv")),
    ("qw_xfer.sv", include_str!("sv/qw_xfer.sv")),
    ("qw_post.sv", include_str!("sv/qw_post.sv")),
    ("qw_core.sv", include_str!("sv/qw_core.sv")),
    ("qw_fifo.sv", include_str!("sv/qw_fifo.sv")),
    ("qw_tokens.sv", include_str!("sv/qw_tokens.sv")),
    ("qw_fetch.sv", include_str!("sv/qw_fetch.sv")),
];

/// Instructions each queue buffers.
const QUEUE_DEPTH: u32 = 16;

/// The generated accelerator.
#[derive(Clone, Debug)]
pub struct Accel {
    /// The Calyx program.
    pub futil: String,
    /// The whole design as SystemVerilog, top module `main` (on the serial datapath, also the
    /// board shell's top module `board` around it: `board.rs`).
    pub sv: String,
    /// The datapath's sizes, as `qw_core` takes them.
    pub params: Params,
}

/// The sizes the datapath is built with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub rows: u32,
    pub cols: u32,
    /// Products per PE in the narrowest mode (bricks PEs).
    pub products: u32,
    /// The DSP packings the PEs are built with (none for bricks PEs).
    pub packings: Vec<qweave_hw::pe::PeMode>,
    /// Each packing with its accumulation depth under each mode that lists it: how far down
    /// a column its products may be summed before a decode.
    pub depths: Vec<(qweave_hw::pe::PeMode, u64)>,
    pub acc_bits: u32,
    /// Operand slots of the input buffer (both halves) and of the weight buffer: as many as
    /// the narrowest mode holds.
    pub inp_entries: u32,
    pub wgt_entries: u32,
    pub acc_entries: u32,
    pub par_entries: u32,
    pub lut_entries: u32,
    pub lanes: u32,
    pub bus: u32,
    /// Values the transfer engine moves per cycle.
    pub transfer_lanes: u32,
    /// The serial datapath (`HwConfig::serial`).
    pub serial: bool,
    /// The serial column's rows two to a DSP48E2 (`qw_dsp_pair`): on Xilinx parts.
    pub paired: bool,
}

impl Params {
    /// The datapath for `hw`, or why the RTL cannot build it.
    pub fn of(hw: &HwConfig) -> Result<Params, String> {
        hw.validate().map_err(|e| e.to_string())?;
        let mut packings = Vec::new();
        let mut depths = Vec::new();
        for p in hw.packings.iter().filter(|_| hw.pe == PeKind::Dsp48e2) {
            if !packings.contains(&p.pe) {
                packings.push(p.pe);
            }
            depths.push((p.pe, p.pe.depth(p.mode)));
        }
        if hw.pe == PeKind::Dsp48e2 {
            packed_mac::column(&depths, hw.rows)?;
        }
        for m in hw.modes.iter().filter(|_| hw.pe == PeKind::Lut) {
            let bricks = u32::from(m.mode.w.div_ceil(2)) * u32::from(m.mode.a.div_ceil(2));
            let fused = qweave_hw::multiply::BRICKS_PER_PE / bricks;
            if m.macs_per_cycle != fused {
                return Err(format!(
                    "mode {} claims {} MACs per cycle, but a PE of {} bricks computes {fused}",
                    m.mode,
                    m.macs_per_cycle,
                    qweave_hw::multiply::BRICKS_PER_PE
                ));
            }
        }
        let min_a = hw
            .modes
            .iter()
            .map(|m| u32::from(m.mode.a))
            .min()
            .unwrap_or(8);
        let min_w = hw
            .modes
            .iter()
            .map(|m| u32::from(m.mode.w))
            .min()
            .unwrap_or(8);
        let products = match hw.pe {
            PeKind::Lut => hw.modes.iter().map(|m| m.macs_per_cycle).max().unwrap_or(1),
            PeKind::Dsp48e2 => 1,
        };
        Ok(Params {
            rows: hw.rows,
            cols: hw.cols,
            products,
            packings,
            depths,
            acc_bits: u32::from(hw.acc_bits),
            inp_entries: 2 * hw.rows * hw.input_bank_bytes * 8 / min_a,
            wgt_entries: hw.cols * hw.weight_bank_bytes * 8 / min_w,
            acc_entries: hw.cols * hw.acc_entries,
            par_entries: hw.post.param_entries.max(1),
            lut_entries: hw.post.lut_entries.max(1),
            lanes: hw.post.lanes,
            bus: hw.dram_bus_bits,
            transfer_lanes: qweave_hw::cycles::transfer_lanes(hw) as u32,
            serial: hw.serial,
            paired: hw.serial
                && hw.rows >= 2
                && Target::parse(&hw.target).is_ok_and(Target::xilinx),
        })
    }

    /// The DSP PE's most weights, activations and lanes (zeros for bricks PEs).
    pub fn dsp_sizes(&self) -> (u32, u32, u32) {
        packed_mac::sizes(&self.packings)
    }

    /// `qw_serial_core`'s parameters, in its order: the column's multipliers, whether they
    /// are paired, the width of the accumulators and the memories' address bits (their
    /// entries are powers of two).
    fn serial_core(&self) -> String {
        let log = |n: u32| n.max(1).trailing_zeros();
        [
            self.rows,
            log(self.rows),
            u32::from(self.paired),
            self.acc_bits,
            log(self.inp_entries),
            log(self.wgt_entries),
            log(self.acc_entries),
            log(self.par_entries),
            log(self.lut_entries),
        ]
        .map(|v| v.to_string())
        .join(", ")
    }

    /// `qw_core`'s parameters, in its order.
    fn core(&self) -> String {
        let (kpm, npm, lanes) = self.dsp_sizes();
        [
            self.rows,
            self.cols,
            self.products,
            kpm,
            npm,
            lanes.max(1),
            self.acc_bits,
            self.inp_entries,
            self.wgt_entries,
            self.acc_entries,
            self.par_entries,
            self.lut_entries,
            self.lanes,
            self.bus,
            self.bus.trailing_zeros(),
            self.transfer_lanes,
        ]
        .map(|v| v.to_string())
        .join(", ")
    }
}

/// The Calyx controller for `p`.
pub fn futil(p: &Params) -> String {
    if p.serial {
        return SERIAL_CONTROLLER.replace("$CORE_PARAMS", &p.serial_core());
    }
    CONTROLLER
        .replace("$CORE_PARAMS", &p.core())
        .replace("$BUS", &p.bus.to_string())
        .replace("$QDEPTH", &QUEUE_DEPTH.to_string())
        .replace("$QLOG", &QUEUE_DEPTH.trailing_zeros().to_string())
}

/// The datapath primitives for `p` as the one file the Calyx program links: the array's
/// (bricks, or the generated DSP PE and its array), then the rest.
fn primitives(p: &Params) -> Result<String, String> {
    if p.serial {
        let mut parts: Vec<String> = SERIAL_PRIMITIVES
            .iter()
            .map(|(_, t)| t.to_string())
            .collect();
        parts.push(super::ucode::memories());
        return Ok(parts.join("\n"));
    }
    let mut parts: Vec<String> = if p.packings.is_empty() {
        BRICKS_ARRAY.iter().map(|(_, t)| t.to_string()).collect()
    } else {
        vec![
            packed_mac::column(&p.depths, p.rows)?,
            DSP_ARRAY.1.to_string(),
        ]
    };
    parts.extend(PRIMITIVES.iter().map(|(_, t)| t.to_string()));
    Ok(parts.join("\n"))
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "qweave-calyx-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Compiles the Calyx program `futil` (which links `qw.sv`, holding `externs`) to
/// SystemVerilog with the Calyx compiler's full pipeline.
pub fn compile_calyx(futil: &str, externs: &str) -> Result<String, String> {
    use calyx_backend::{Backend, VerilogBackend};
    use calyx_utils::OutputFile;
    // one compilation at a time in the process: the Calyx frontend records source positions
    // in a global table (calyx_utils::GlobalPositionTable) that it hands to every thread
    // mutably, so two at once race on it (a test run that generated designs on several
    // threads died of a double free)
    static CALYX: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = CALYX
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let scratch = Scratch::new()?;
    let lib = scratch.0.join("lib");
    for (_, files) in calyx_stdlib::KNOWN_LIBS {
        for (path, text) in files {
            write(&lib.join("primitives").join(path), text)?;
        }
    }
    let (path, text) = calyx_stdlib::COMPILE_LIB;
    write(&lib.join("primitives").join(path), text)?;
    let main = scratch.0.join("accel.futil");
    write(&main, futil)?;
    write(&scratch.0.join("qw.sv"), externs)?;
    let err = |e: calyx_utils::Error| format!("calyx: {e:?}");
    let ws = calyx_frontend::Workspace::construct(&Some(main), &lib).map_err(err)?;
    let mut ctx = calyx_ir::from_ast::ast_to_ir(ws).map_err(err)?;
    let passes = calyx_opt::pass_manager::PassManager::default_passes().map_err(err)?;
    passes
        .execute_plan(&mut ctx, &["all".to_string()], &[], false)
        .map_err(err)?;
    VerilogBackend::validate(&ctx).map_err(err)?;
    // each call opens (and truncates) its file, so the externs and the program go to two
    let externs_out = scratch.0.join("externs.sv");
    let program_out = scratch.0.join("program.sv");
    VerilogBackend::link_externs(&ctx, &mut OutputFile::File(externs_out.clone())).map_err(err)?;
    VerilogBackend::emit(&ctx, &mut OutputFile::File(program_out.clone())).map_err(err)?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    // the linked externs are calyx-stdlib's and ours; ours are lint-clean, theirs get a waiver
    let linked = read(&externs_out)?;
    let stdlib = linked.replacen(externs, "", 1);
    Ok(format!(
        "// ---- calyx-stdlib's primitives the controller uses ----\n\
         // Its slices read only some bits of their inputs, and unused modules keep unused ports.\n\
         /* verilator lint_off UNUSEDSIGNAL */\n{stdlib}/* verilator lint_on UNUSEDSIGNAL */\n\
         // ---- qweave's datapath primitives ----\n{externs}\n\
         // ---- the controller, compiled from accel.futil by Calyx ----\n\
         // Calyx's lowering leaves the done ports of registers and FSMs it never reads.\n\
         /* verilator lint_off UNUSEDSIGNAL */\n{}/* verilator lint_on UNUSEDSIGNAL */\n",
        read(&program_out)?
    ))
}

/// What `accel.sv` opens with for the iCE40: synthesized, the memories are its block RAMs
/// (`qw_ram`, `qw_ucode_regs`, `qw_spram`), not inferred.
pub const ICE40_BLOCKS: &str = "// Synthesized, the memories are the iCE40's block RAMs \
     (qw_ram, qw_ucode_regs, qw_spram).\n`ifdef SYNTHESIS\n`define QW_ICE40_BLOCKS\n`endif\n";

/// The accelerator for `hw`.
pub fn generate(hw: &HwConfig) -> Result<Accel, String> {
    let params = Params::of(hw)?;
    let futil = futil(&params);
    let mut body = compile_calyx(&futil, &primitives(&params)?)?;
    // the serial datapath on a board: the shell around it (and on the iCE40, its block RAMs
    // instantiated when synthesized)
    let board = super::board::Board::of(hw);
    if board.is_some() {
        body += "// ---- the board shell (top module `board`) ----\n";
        body += &super::board::shell(hw)?;
    }
    let sv = format!(
        "// accel.sv: the accelerator qweave generated for target {} ({}x{} array), compiled \
         from accel.futil.\n\
         // One file holds every module, so no file name can match every module name.\n\
         /* verilator lint_off DECLFILENAME */\n{}{body}",
        hw.target,
        hw.rows,
        hw.cols,
        if board == Some(super::board::Board::Icebreaker) {
            ICE40_BLOCKS
        } else {
            ""
        }
    );
    Ok(Accel { futil, sv, params })
}
