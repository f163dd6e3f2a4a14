//! `qweave compile`: a model to the accelerator's program, packed weights, manifest and report.

use crate::{CmdResult, model_file, qir_file};
use clap::Args;
use qweave_backends::{artifacts, mapping, program};
use qweave_hw::{HwConfig, Target};
use qweave_ir::Graph;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const LONG_ABOUT: &str = "Compile a quantized model for the accelerator template. The model \
is lowered to exact integer ops (the `lower` pipeline) and mapped layer by layer onto the target's \
array and post-processing unit. DIR receives program.bin and program.s (the instruction stream in \
binary and text form, docs/isa.md), weights.bin (the constants packed at their true widths), \
manifest.json (inputs, outputs, DRAM layout, hardware configuration and the modeled cycles and \
resources per layer, docs/manifest.md), report.md, model.qir (the lowered model, the \
reference `qweave simulate --check` compares against), and the accelerator: accel.futil (its \
controller in Calyx) and accel.sv (the whole design in SystemVerilog, top module `main`). A \
layer that cannot map is an error that names it and the limit it exceeds; DIR is then left as \
it was. For an FPGA target the tools run last (unless --no-fpga-tools): for ice40up5k yosys, \
nextpnr-ice40 and icepack into ice40/accel.bin, with fmax and utilization in manifest.json and \
report.md (a design that does not fit names each resource over the UP5K and by how much); for \
xczu3eg and xczu9eg the Vivado script vivado/build.tcl (whose command is printed: Vivado is \
not run here) and yosys' synth_xilinx count of a column of the DSP48E2 array, or with \
--datapath serial of the whole design, checked against the part. A failing tool leaves DIR as \
it was and its files in DIR.failed. The closing table gives per layer and in total the cycles, \
latency, resources and products per PE.";

#[derive(Args)]
pub struct CompileArgs {
    /// The model: ONNX (.onnx) or a qweave program (.qir), quantized.
    pub model: PathBuf,

    /// The target: sim, ice40up5k, xczu3eg or xczu9eg.
    #[arg(long, default_value = "sim")]
    pub target: String,

    /// The accelerator's datapath: `parallel`, the array of the target's preset (the
    /// default but on ice40up5k), or `serial`, one instruction at a time on a column of
    /// multipliers with block-RAM memories (ice40up5k's only one; on xczu3eg and xczu9eg a
    /// column of 32 multipliers, two to a DSP48E2, which yosys counts whole; on xczu9eg in
    /// the ZCU102's board shell, so that Vivado writes a bitstream).
    #[arg(long, value_enum)]
    pub datapath: Option<Datapath>,

    /// The directory to write (created, or replaced when it holds an earlier compilation).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,

    /// How layers map onto the array: `egraph` searches modes, packings and tiles (and the
    /// packings the PEs are built with) for the fewest modeled cycles within the target;
    /// `default` keeps the emitter's own choice, for comparison.
    #[arg(long, value_enum, default_value = "egraph")]
    pub mapping: MappingKind,

    /// Search per-layer widths (8, 4, 2, 1 bits) for a float model (or a QDQ or QONNX one,
    /// quantized again from its float reference): quantize each candidate
    /// on `--data`, score it with the interpreter, map it, and compile the fastest within
    /// `--max-accuracy-drop`; DIR also gets explore.json (every point, the Pareto front of
    /// accuracy, cycles and DSP blocks) and explore.svg (its plot).
    #[arg(long, requires = "data")]
    pub explore: bool,

    /// The data set the search calibrates and scores on (.npz, .npy or .pb; the leading
    /// dimension holds the items).
    #[arg(long = "data", value_name = "FILE", num_args = 1.., requires = "explore")]
    pub data: Vec<PathBuf>,

    /// Class labels of the data set (.npy, or .npz with a `labels` array); without them the
    /// search scores agreement with the float model's classes.
    #[arg(long, value_name = "FILE", requires = "explore")]
    pub labels: Option<PathBuf>,

    /// The largest top-1 accuracy drop from the float model the search may choose (0.01 is
    /// one point).
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.01,
        requires = "explore"
    )]
    pub max_accuracy_drop: f64,

    /// Write the program and the design without running the FPGA tools (for `ice40up5k`,
    /// yosys, nextpnr-ice40 and icepack into a bitstream; for `xczu3eg` and `xczu9eg`,
    /// yosys' count of the DSP48E2 array's column, or of the whole serial datapath, beside
    /// the Vivado script).
    #[arg(long)]
    pub no_fpga_tools: bool,
}

/// The `--datapath` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Datapath {
    Parallel,
    Serial,
}

/// The accelerator `target` starts from on `datapath` (its preset's when not given).
fn preset(target: Target, datapath: Option<Datapath>) -> Result<HwConfig, Vec<String>> {
    match datapath {
        None => Ok(target.preset()),
        Some(Datapath::Serial) => target.serial_preset().ok_or_else(|| {
            vec![format!(
                "--datapath serial: target {} has no serial datapath (ice40up5k, xczu3eg and \
                 xczu9eg do)",
                target.name()
            )]
        }),
        Some(Datapath::Parallel) if target.preset().serial => Err(vec![format!(
            "--datapath parallel: target {} has only the serial datapath (the parallel \
             array does not fit it)",
            target.name()
        )]),
        Some(Datapath::Parallel) => Ok(target.preset()),
    }
}

/// The `--mapping` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MappingKind {
    Egraph,
    Default,
}

/// Lowers `graph` to the q level.
pub fn lower(graph: &mut Graph) -> Result<(), Vec<String>> {
    let options = qweave_passes::PipelineOptions { verify_each: false };
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| p.run(graph, options, |_, _| {}))
        .map(|_| ())
        .map_err(|e| e.to_string().lines().map(String::from).collect())
}

pub fn run(args: &CompileArgs) -> CmdResult {
    let start = Instant::now();
    let target = Target::parse(&args.target).map_err(|e| vec![e.to_string()])?;
    let preset = preset(target, args.datapath)?;
    let mut graph = model_file::load(&args.model)?;
    let mut extra: Files = Vec::new();
    if args.explore {
        let (chosen, files) = explore(args, &graph, target, &preset)?;
        graph = chosen;
        extra = files;
    }
    lower(&mut graph)?;
    let err = |e: program::CompileError| vec![format!("{}: {e}", args.model.display())];
    let default = program::compile(&graph, &preset).map_err(err)?;
    let (c, hw, search, default) = match args.mapping {
        MappingKind::Default => (default, preset, None, None),
        MappingKind::Egraph => {
            let limits = mapping::Limits::default();
            let m =
                mapping::map_compiled(&graph, &default, &preset, target, &limits, Instant::now())
                    .map_err(err)?;
            // the hw level: every array op carries its binding, which model.qir keeps
            mapping::annotate(&mut graph, &m.bindings).map_err(|e| vec![e])?;
            let c = program::compile(&graph, &m.hw).map_err(err)?;
            let d = artifacts::Modeled::of(&default, &preset).map_err(|e| vec![e])?;
            (c, m.hw, Some(m.search), Some(d))
        }
    };
    let summary = artifacts::MappingSummary {
        kind: match args.mapping {
            MappingKind::Egraph => "egraph",
            MappingKind::Default => "default",
        },
        search: search.as_ref(),
        default: default.as_ref(),
    };
    let compiled = start.elapsed();
    let dir = &args.output;
    if dir.exists() && !dir.join("manifest.json").exists() && !is_empty_dir(dir) {
        return Err(vec![format!(
            "{}: exists and does not hold a compilation; name a new or empty directory",
            dir.display()
        )]);
    }
    let staging = dir.with_file_name(format!(
        ".{}.partial",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    let _ = std::fs::remove_dir_all(&staging);
    let flow = (!args.no_fpga_tools).then_some(target);
    let written = write_all(&staging, &c, &graph, &hw, &summary, flow).and_then(|s| {
        for (name, bytes) in &extra {
            std::fs::write(staging.join(name), bytes)
                .map_err(|e| vec![format!("{}: {e}", staging.join(name).display())])?;
        }
        Ok(s)
    });
    let finish = written.and_then(|summary| {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
        }
        std::fs::rename(&staging, dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
        Ok(summary)
    });
    let (summary, lines, table) = match finish {
        Ok(s) => s,
        Err(mut e) => {
            // what the tools wrote stays for reading, beside DIR (which is as it was)
            let failed = dir.with_file_name(format!(
                "{}.failed",
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("out")
            ));
            let _ = std::fs::remove_dir_all(&failed);
            let kept = staging.join("manifest.json").exists()
                || ["ice40", "yosys"].iter().any(|d| staging.join(d).exists());
            if kept && std::fs::rename(&staging, &failed).is_ok() {
                let (from, to) = (staging.display().to_string(), failed.display().to_string());
                e = e.iter().map(|l| l.replace(&from, &to)).collect();
                e.push(format!(
                    "{} is as it was; the failed build's files are in {to}",
                    dir.display()
                ));
            }
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let mut err = std::io::stderr();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
    if flow.is_some() && matches!(target, Target::Xczu3eg | Target::Xczu9eg) {
        let _ = writeln!(
            err,
            "Vivado is not run here; to place and route the design: {}",
            crate::fpga_flow::vivado_command(dir)
        );
        if qweave_backends::rtl::board::Board::of(&hw).is_some() {
            let _ = writeln!(
                err,
                "to run it on a ZCU102: cd {} && vivado -mode batch -source program.tcl, then \
                 qweave board run {} --port /dev/ttyUSB2 -i INPUTS -o OUTPUT (or on the virtual \
                 board: qweave board serve {})",
                dir.join("vivado").display(),
                dir.display(),
                dir.display()
            );
        }
    }
    if flow.is_some() && target == Target::Ice40up5k {
        let _ = writeln!(
            err,
            "to run it on an iCEBreaker: iceprog {}, then qweave board run {} --port \
             /dev/ttyUSB1 -i INPUTS -o OUTPUT (or on the virtual board: qweave board serve {})",
            dir.join("ice40/accel.bin").display(),
            dir.display(),
            dir.display()
        );
    }
    let _ = write!(err, "{table}");
    let _ = writeln!(
        err,
        "compiled {} layers into {} instructions in {:.3} s; {summary}; wrote {}",
        c.layers.len(),
        c.program.len(),
        compiled.as_secs_f64(),
        dir.display()
    );
    Ok(())
}

/// Extra files for the output directory, by name.
type Files = Vec<(&'static str, Vec<u8>)>;

/// The precision search: the chosen point's quantized graph (QDQ, onnx level) and the files
/// `explore.json` and `explore.svg`.
fn explore(
    args: &CompileArgs,
    float: &Graph,
    target: Target,
    hw: &HwConfig,
) -> Result<(Graph, Files), Vec<String>> {
    use qweave_analyze::explore::{Options, explore};
    if !(0.0..=1.0).contains(&args.max_accuracy_drop) {
        return Err(vec![format!(
            "--max-accuracy-drop {} is outside 0 to 1",
            args.max_accuracy_drop
        )]);
    }
    // a quantized model in QDQ or QONNX form is re-quantizable: its float reference is the
    // model with its activation quantizers removed (the weights dequantized); the QOperator
    // form has no float counterpart
    let stripped;
    let float = match qweave_analyze::strip(float) {
        Some(s) if s.removed > 0 => {
            // its weights and biases dequantized to float constants
            let mut g = s.graph;
            qweave_passes::fold_constants::dequantize_constants(&mut g)
                .map_err(|e| vec![format!("{}: {e}", args.model.display())])?;
            stripped = g;
            &stripped
        }
        Some(_) => float,
        None => {
            return Err(vec![format!(
                "{}: its integer ops (the QOperator form) have no float counterpart to \
                 quantize again; --explore takes a float model, or a QDQ or QONNX one",
                args.model.display()
            )]);
        }
    };
    let data = crate::data_set::load(float, &args.data)?;
    let items: Vec<_> = (0..data.items).map(|i| data.item(i)).collect();
    let labels = match &args.labels {
        Some(p) => Some(crate::analyze_cmd::read_labels(p).map_err(|e| vec![e])?),
        None => None,
    };
    let opts = Options {
        target,
        hw,
        items: &items,
        labels: labels.as_deref(),
        max_drop: args.max_accuracy_drop,
    };
    let mut err = std::io::stderr();
    let e = explore(float, &opts, |p| {
        let _ = writeln!(
            err,
            "explore: {:>6.2}% {:>10} cycles {:>4} DSP  {}",
            100.0 * p.accuracy,
            p.cycles,
            p.dsp,
            p.rules
        );
    })
    .map_err(|e| vec![format!("{}: {e}", args.model.display())])?;
    let p = &e.points[e.chosen];
    let _ = writeln!(
        std::io::stderr(),
        "explore: chose {} ({:.2}% against {:.2}% in float, {} cycles), {} of {} points on the Pareto front",
        p.rules,
        100.0 * p.accuracy,
        100.0 * e.float_accuracy,
        p.cycles,
        e.points.iter().filter(|p| p.pareto).count(),
        e.points.len()
    );
    let opts = qweave_passes::ptq::PtqOptions {
        bits: qweave_passes::ptq::BitRules::parse(&p.rules).map_err(|e| vec![e])?,
        calibration: qweave_passes::ptq::Calibration::MinMax,
        per_channel: true,
        bias_correction: true,
    };
    let q = qweave_passes::ptq::quantize(float, &items, &opts).map_err(|e| vec![e])?;
    let json = serde_json::to_string_pretty(&e).map_err(|e| vec![e.to_string()])?;
    let title = format!(
        "{}: precision search on {}",
        args.model
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model"),
        target.name()
    );
    let svg = qweave_analyze::pareto_svg::svg(&e, &title);
    Ok((
        q.graph,
        vec![
            ("explore.json", json.into_bytes()),
            ("explore.svg", svg.into_bytes()),
        ],
    ))
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// Writes every file into `dir`, running the FPGA tools for `flow`'s target; returns the
/// modeled summary and the FPGA step's lines to print.
fn write_all(
    dir: &Path,
    c: &program::Compiled,
    g: &Graph,
    hw: &HwConfig,
    mapping: &artifacts::MappingSummary<'_>,
    flow: Option<Target>,
) -> Result<(String, Vec<String>, String), Vec<String>> {
    let io = |p: &Path, e: std::io::Error| vec![format!("{}: {e}", p.display())];
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let put = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))
    };
    let bin = qweave_hw::isa::binary::encode(&c.program).map_err(|e| vec![e.to_string()])?;
    put("program.bin", &bin)?;
    let names: Vec<String> = c.layers.iter().map(|l| l.name.clone()).collect();
    put(
        "program.s",
        qweave_hw::isa::text::print(&c.program, &names).as_bytes(),
    )?;
    put("weights.bin", &c.dram.image)?;
    qir_file::write(g, &dir.join("model.qir"))?;
    // the accelerator itself, where the RTL builds the target's PEs
    let accel = qweave_backends::rtl::accel::generate(hw);
    let rtl = match &accel {
        Ok(a) => {
            put("accel.futil", a.futil.as_bytes())?;
            put("accel.sv", a.sv.as_bytes())?;
            serde_json::json!({ "futil": "accel.futil", "sv": "accel.sv", "top": "main" })
        }
        Err(reason) => serde_json::json!({ "futil": null, "sv": null, "reason": reason }),
    };
    let modeled = artifacts::Modeled::of(c, hw).map_err(|e| vec![e])?;
    let run = &modeled.run;
    let mut manifest = artifacts::manifest(c, g, hw, &modeled, mapping);
    manifest["rtl"] = rtl;
    let mut report = artifacts::report(c, g, hw, &modeled, mapping);
    let mut lines = Vec::new();
    let mut fmax = None;
    if let Some(target) = flow {
        let accel = accel.as_ref().map_err(|e| {
            vec![format!(
                "the FPGA tools need the accelerator's RTL, which cannot be built: {e}"
            )]
        })?;
        if let Some(f) = crate::fpga_flow::run(target, hw, accel, dir, run.cycles)
            .map_err(|e| e.lines().map(String::from).collect::<Vec<_>>())?
        {
            manifest["fpga"] = f.manifest;
            manifest["fmax_mhz"] = serde_json::json!(f.fmax_mhz);
            report.push('\n');
            report.push_str(&f.report);
            lines = f.lines;
            fmax = f.fmax_mhz;
        }
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| vec![e.to_string()])?;
    put("manifest.json", text.as_bytes())?;
    put("report.md", report.as_bytes())?;
    let summary = format!(
        "modeled {} cycles ({:.1} us at {} MHz), {:.2} MACs per cycle",
        run.cycles,
        run.cycles as f64 / f64::from(hw.clock_mhz),
        hw.clock_mhz,
        run.macs as f64 / run.cycles.max(1) as f64
    );
    let table = match fmax {
        Some(f) => artifacts::summary_table(c, &modeled, f, "fmax"),
        None => artifacts::summary_table(c, &modeled, f64::from(hw.clock_mhz), "target clock"),
    };
    Ok((summary, lines, table))
}
