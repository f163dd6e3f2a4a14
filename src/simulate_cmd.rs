//! `qweave simulate`: runs a compiled program from host tensors on the ISA simulator, on
//! the generated accelerator in Verilator (the RTL engine), or, for the iCE40, on the
//! bitstream's whole design, the board shell with a host on its UART (the board engine).

use crate::{CmdResult, data_set, qir_file, run_cmd};
use clap::Args;
use qweave_backends::{execute, program};
use qweave_frontend::files::{self as tensor_io, Named};
use qweave_hw::HwConfig;
use qweave_ir::Tensor;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const LONG_ABOUT: &str = "Run a program `qweave compile` wrote on a simulator of the \
accelerator. Float inputs are quantized on the host as manifest.json says (with exactly the \
semantics of the model's QuantizeLinear), packed into DRAM with weights.bin, and the program runs \
instruction by instruction with the timing of the cycle model; the outputs are read back and \
dequantized. Inputs come from .npy, .npz or .pb files as for `qweave run`; an input with a \
multiple of the model's batch runs item by item. Prints the modeled cycles, MACs per cycle and \
latency. With --check, every layer's result in DRAM is compared with the reference interpreter \
running model.qir, and the first layer and element that differ are an error; for a model \
whose first output is a row of scores, each item's predicted class (its largest score) is \
printed beside the interpreter's.";

/// A simulation engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The ISA simulator: exact values, cycle-model timing.
    Isa,
    /// The generated accelerator in Verilator: exact values, the hardware's cycles.
    Rtl,
    /// ice40up5k, and xczu9eg's serial datapath: the bitstream's design (the accelerator in
    /// its board shell) in Verilator, the program and data loaded, run and read back over its
    /// UART at the board's bit rate.
    Board,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The directory `qweave compile` wrote.
    pub dir: PathBuf,

    /// The simulator.
    #[arg(long, value_enum, default_value = "isa")]
    pub engine: Engine,

    #[command(flatten)]
    pub items: ItemArgs,

    /// With --engine rtl: write the waveform of the (last) item's run to FILE (VCD).
    #[arg(long, value_name = "FILE")]
    pub vcd: Option<PathBuf>,
}

/// The inputs a run takes, where its outputs go, and whether it is checked.
#[derive(Args)]
pub struct ItemArgs {
    /// Input tensor files (.npy, .npz or .pb); repeat or list several.
    #[arg(short = 'i', long = "input", value_name = "FILE", num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,

    /// Where to write the outputs: .npy or .pb for one output, .npz for any number.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,

    /// Compare every layer's result with the reference interpreter.
    #[arg(long)]
    pub check: bool,
}

/// The design this qweave generates for the bundle's hardware, which the bundle's
/// `accel.sv` must be (`engine` names the engine in errors).
fn bundle_design(
    dir: &Path,
    hw: &HwConfig,
    engine: &str,
) -> Result<qweave_backends::rtl::accel::Accel, Vec<String>> {
    let accel = qweave_backends::rtl::accel::generate(hw)
        .map_err(|e| vec![format!("{}: the {engine}: {e}", dir.display())])?;
    if read(dir, "accel.sv")? != accel.sv.as_bytes() {
        return Err(vec![format!(
            "{}: accel.sv is not what this qweave generates for the bundle's hardware; compile \
             the model again",
            dir.display()
        )]);
    }
    Ok(accel)
}

/// Builds (or finds built) a Verilator model with `build`, a spinner on a terminal meanwhile,
/// after saying what is built (`what`).
fn build_model<T>(
    dir: &Path,
    engine: &str,
    what: &str,
    build: impl FnOnce() -> Result<T, String>,
) -> Result<T, Vec<String>> {
    let _ = writeln!(
        std::io::stderr(),
        "{what} (built once per hardware, cached in {})",
        rtl_cache().display()
    );
    let spinner = progress(None, "{spinner} building the Verilator model [{elapsed}]");
    let model = build().map_err(|e| vec![format!("{}: the {engine}: {e}", dir.display())]);
    spinner.finish_and_clear();
    model
}

/// The RTL engine for the bundle in `dir`: its `accel.sv`, which must be what this qweave
/// generates for the bundle's hardware, built into a Verilator model (or found built).
fn rtl_engine(
    dir: &Path,
    hw: &HwConfig,
    trace: bool,
) -> Result<qweave_backends::rtl::engine::Engine, Vec<String>> {
    let accel = bundle_design(dir, hw, "RTL engine")?;
    build_model(
        dir,
        "RTL engine",
        "the accelerator's Verilator model from accel.sv",
        || qweave_backends::rtl::engine::Engine::from_design(hw, accel, &rtl_cache(), trace),
    )
}

/// The board engine for the bundle in `dir` (an `ice40up5k` bundle's `accel.sv`, whose top
/// module `board` the bitstream is built from).
pub(crate) fn board_engine(
    dir: &Path,
    hw: &HwConfig,
) -> Result<qweave_backends::rtl::board::BoardEngine, Vec<String>> {
    if qweave_backends::rtl::board::Board::of(hw).is_none() {
        return Err(vec![format!(
            "{}: --engine board runs a board shell (ice40up5k's, or xczu9eg's with --datapath \
             serial), which a {} bundle does not have; use --engine rtl",
            dir.display(),
            hw.target
        )]);
    }
    let accel = bundle_design(dir, hw, "board engine")?;
    build_model(
        dir,
        "board engine",
        "the board's Verilator model from accel.sv, top module `board`",
        || qweave_backends::rtl::board::BoardEngine::build(hw, &accel.sv, &rtl_cache()),
    )
}

/// A progress display on standard error (drawn only on a terminal), ticking on its own:
/// a spinner, or a bar of `len` steps.
fn progress(len: Option<u64>, template: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// Where built Verilator models are kept: `$QWEAVE_CACHE/rtl`, else the user's cache folder.
fn rtl_cache() -> PathBuf {
    if let Some(d) = std::env::var_os("QWEAVE_CACHE") {
        return PathBuf::from(d).join("rtl");
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("qweave/rtl");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/qweave/rtl"),
        None => std::env::temp_dir().join("qweave-rtl"),
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, Vec<String>> {
    let p = dir.join(name);
    std::fs::read(&p).map_err(|e| {
        vec![format!(
            "{}: {e}; is {} a directory `qweave compile` wrote?",
            p.display(),
            dir.display()
        )]
    })
}

/// A directory `qweave compile` wrote, checked: its hardware, its model at the hw level, and
/// the program that model compiles to, which must be the bundle's own.
pub struct Bundle {
    pub hw: HwConfig,
    pub graph: qweave_ir::Graph,
    pub compiled: program::Compiled,
}

/// Reads and checks the bundle in `dir`.
pub fn load_bundle(dir: &Path) -> Result<Bundle, Vec<String>> {
    let manifest: serde_json::Value = serde_json::from_slice(&read(dir, "manifest.json")?)
        .map_err(|e| vec![format!("{}: {e}", dir.join("manifest.json").display())])?;
    let version = manifest["version"].as_u64();
    if version != Some(u64::from(qweave_backends::artifacts::MANIFEST_VERSION)) {
        return Err(vec![format!(
            "{}: manifest version {version:?}, this qweave reads {}; recompile the model",
            dir.display(),
            qweave_backends::artifacts::MANIFEST_VERSION
        )]);
    }
    let hw: HwConfig = serde_json::from_value(manifest["hw"].clone()).map_err(|e| {
        vec![format!(
            "{}: the hw entry: {e}",
            dir.join("manifest.json").display()
        )]
    })?;
    let graph = qir_file::load(&dir.join("model.qir"))?;
    // the program must be what the model compiles to, so that layers map to its values
    // (at the hw level, each array op's binding is in model.qir)
    let c = program::compile(&graph, &hw).map_err(|e| vec![e.to_string()])?;
    let bin = qweave_hw::isa::binary::encode(&c.program).map_err(|e| vec![e.to_string()])?;
    if bin != read(dir, "program.bin")? || c.dram.image != read(dir, "weights.bin")? {
        return Err(vec![format!(
            "{}: program.bin or weights.bin is not what model.qir compiles to with this qweave; \
             compile the model again",
            dir.display()
        )]);
    }
    Ok(Bundle {
        hw,
        graph,
        compiled: c,
    })
}

/// What runs a bundle's program.
pub enum Runner {
    Isa,
    Rtl(qweave_backends::rtl::engine::Engine),
    Board(qweave_backends::rtl::board::BoardEngine),
    /// A board on a serial line (a real one, or the virtual board's terminal), and its name.
    Device(crate::board_cmd::Port, String),
}

impl Runner {
    /// The progress bar's words and the predictions' name for what ran.
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            Runner::Isa => ("ISA simulation", "ISA simulator"),
            Runner::Rtl(_) => ("RTL simulation", "RTL"),
            Runner::Board(_) => ("board simulation", "board"),
            Runner::Device(..) => ("board run", "board"),
        }
    }
}

pub fn run(args: &SimulateArgs) -> CmdResult {
    let dir = &args.dir;
    let bundle = load_bundle(dir)?;
    if args.vcd.is_some() && args.engine != Engine::Rtl {
        return Err(vec![
            "--vcd needs --engine rtl (the ISA simulator has no waveforms)".into(),
        ]);
    }
    let runner = match args.engine {
        Engine::Isa => Runner::Isa,
        Engine::Rtl => Runner::Rtl(rtl_engine(dir, &bundle.hw, args.vcd.is_some())?),
        Engine::Board => Runner::Board(board_engine(dir, &bundle.hw)?),
    };
    run_items(dir, &bundle, runner, &args.items, args.vcd.as_deref())
}

/// Runs each item of `items`' inputs with `runner`, writes the outputs, and reports.
pub fn run_items(
    dir: &Path,
    bundle: &Bundle,
    mut runner: Runner,
    items: &ItemArgs,
    vcd: Option<&Path>,
) -> CmdResult {
    let (hw, graph, c) = (&bundle.hw, &bundle.graph, &bundle.compiled);
    let data = data_set::load(graph, &items.inputs)?;
    let (doing, done_by) = runner.names();
    let start = Instant::now();
    let bar = progress(
        Some(data.items),
        &format!("{{spinner}} {doing} {{bar:30}} {{pos}}/{{len}} items [{{elapsed}}, eta {{eta}}]"),
    );
    let mut stacked: Vec<Vec<Tensor>> = vec![Vec::new(); graph.outputs.len()];
    // with --check, each item's class (the first output's largest score) on the accelerator
    // and in the interpreter
    let mut classes: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    let mut last = None;
    // every cycle the board simulations took, the UART's included
    let mut board_cycles = 0u64;
    for i in 0..data.items {
        let at = if data.items > 1 {
            format!(" (item {i})")
        } else {
            String::new()
        };
        let inputs = data.item(i);
        let last_item = i + 1 == data.items;
        let s =
            match &mut runner {
                Runner::Rtl(engine) => {
                    execute::simulate_rtl(c, graph, hw, engine, &inputs, vcd.filter(|_| last_item))
                }
                Runner::Board(engine) => execute::simulate_board(c, graph, hw, engine, &inputs)
                    .map(|(s, all)| {
                        board_cycles += all;
                        s
                    }),
                Runner::Device(port, name) => execute::run_device(c, graph, hw, port, &inputs)
                    .map_err(|e| format!("{name}: {e}")),
                Runner::Isa => execute::simulate(c, graph, hw, &inputs),
            }
            .map_err(|e| vec![format!("{}{at}: {e}", dir.display())])?;
        if items.check {
            execute::check(c, graph, &inputs, &s.run.dram)
                .map_err(|e| vec![format!("{}{at}: {e}", dir.display())])?;
            // the prediction beside the reference interpreter's (on model.qir)
            let reference = qweave_interp::run(graph, &inputs)
                .map_err(|e| vec![format!("{}{at}: the interpreter: {e}", dir.display())])?;
            classes.push((
                qweave_analyze::class(&s.outputs),
                qweave_analyze::class(&reference),
            ));
        }
        for (k, o) in s.outputs.into_iter().enumerate() {
            stacked[k].push(o);
        }
        last = Some(s.run);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed();
    let model_cycles = match runner {
        Runner::Isa => None,
        _ => Some(
            qweave_sim::time(hw, &c.program)
                .map_err(|e| vec![e.to_string()])?
                .cycles,
        ),
    };
    let mut named = Vec::with_capacity(stacked.len());
    for (k, parts) in stacked.into_iter().enumerate() {
        named.push(Named {
            name: Some(c.outputs[k].name.clone()),
            tensor: run_cmd::stack(&parts).map_err(|e| vec![e])?,
        });
    }
    tensor_io::write(&items.output, &named).map_err(|e| vec![e])?;
    if let Some(run) = last {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{} cycles per item{}, {} MACs ({:.2} MACs per cycle), latency {:.1} us at {} MHz",
            run.cycles,
            match model_cycles {
                Some(m) => format!(
                    " {} (cycle model {m}, {:+.1} %)",
                    if matches!(runner, Runner::Board(_) | Runner::Device(..)) {
                        "on the board, as it counts them"
                    } else {
                        "in RTL"
                    },
                    (run.cycles as f64 / m.max(1) as f64 - 1.0) * 100.0
                ),
                None => String::new(),
            },
            run.macs,
            run.macs as f64 / run.cycles.max(1) as f64,
            run.cycles as f64 / f64::from(hw.clock_mhz),
            hw.clock_mhz
        );
    }
    if !classes.is_empty() && classes.iter().all(|c| c.0.is_some() && c.1.is_some()) {
        const SHOWN: usize = 20;
        // the accelerator's classes (`which` 0) or the interpreter's (1)
        let list = |which: usize| {
            let mut l: Vec<String> = classes
                .iter()
                .take(SHOWN)
                .map(|c| {
                    let k = if which == 0 { c.0 } else { c.1 };
                    k.map_or(String::new(), |k| k.to_string())
                })
                .collect();
            if classes.len() > SHOWN {
                l.push("...".into());
            }
            l.join(" ")
        };
        let agree = classes.iter().filter(|c| c.0 == c.1).count();
        let _ = writeln!(
            std::io::stdout(),
            "predicted class (largest score of {}): {} {}; the interpreter's: {} ({agree} of {} \
             equal)",
            c.outputs[0].name,
            done_by,
            list(0),
            list(1),
            classes.len()
        );
    }
    if matches!(runner, Runner::Board(_)) {
        let _ = writeln!(
            std::io::stderr(),
            "the board simulation took {board_cycles} cycles in all, loading and reading back \
             over the UART at {} baud included ({:.2} s of the board's time at {} MHz)",
            qweave_backends::rtl::board::BAUD,
            board_cycles as f64 / (f64::from(hw.clock_mhz) * 1e6),
            hw.clock_mhz
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "{} {} item{} in {:.3} s{}; wrote {}",
        if matches!(runner, Runner::Device(..)) {
            "ran"
        } else {
            "simulated"
        },
        data.items,
        if data.items == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        if items.check {
            ", every layer equal to the interpreter's"
        } else {
            ""
        },
        items.output.display()
    );
    Ok(())
}
