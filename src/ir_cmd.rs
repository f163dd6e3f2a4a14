//! `qweave ir`: read a `.qir` program, run a pass pipeline, print or write the result.

use crate::{CmdResult, qir_file};
use clap::Args;
use qweave_ir::print;
use qweave_passes::{ALIASES, PASSES, Pipeline, PipelineOptions};
use std::io::Write;
use std::path::PathBuf;

pub const LONG_ABOUT: &str = "Read a model — an ONNX file, imported into the IR's onnx level, or a \
.qir program with its .qwb sidecar when one lies beside it — verify it, run the passes named by -p \
in order, and print the result on stdout. Printed output shows large constants by their hash only; \
use -o to write a complete program (.qir plus .qwb).";

#[derive(Args)]
pub struct IrArgs {
    /// The model to read: ONNX (.onnx) or a qweave program (.qir).
    pub file: PathBuf,

    /// Passes to run, comma-separated, in order; pass names and aliases may be mixed
    /// (for example `-p fold-constants,dce` or `-p default`).
    #[arg(
        short = 'p',
        long = "passes",
        value_name = "PASSES",
        default_value = "",
        hide_default_value = true
    )]
    pub passes: String,

    /// Print the IR to stderr after each pass, under a header naming the pass.
    #[arg(long)]
    pub print_after: bool,

    /// Verify the IR after each pass and stop at the first pass that leaves it invalid.
    #[arg(long)]
    pub verify_each: bool,

    /// Print each pass's wall time and op counts to stderr.
    #[arg(long)]
    pub timings: bool,

    /// Write the result to this .qir file (and its constants to the .qwb beside it)
    /// instead of printing it.
    #[arg(short = 'o', long = "output", value_name = "OUT.qir")]
    pub output: Option<PathBuf>,
}

/// The pass and alias list shown at the end of `qweave ir --help`.
pub fn pass_list() -> String {
    let width = PASSES
        .iter()
        .map(|p| p.name.len())
        .chain(ALIASES.iter().map(|a| a.0.len()))
        .max()
        .unwrap_or(0);
    let mut s = String::from("Passes:\n");
    for p in PASSES {
        s.push_str(&format!("  {:width$}  {}\n", p.name, p.description));
    }
    s.push_str("\nAliases:\n");
    for (name, expansion, description) in ALIASES {
        s.push_str(&format!("  {name:width$}  {expansion}: {description}\n"));
    }
    s
}

pub fn run(args: &IrArgs) -> CmdResult {
    let pipeline = Pipeline::parse(&args.passes).map_err(|e| vec![e.to_string()])?;
    let mut graph = crate::model_file::load(&args.file)?;
    let stderr = std::io::stderr();
    let options = PipelineOptions {
        verify_each: args.verify_each,
    };
    let timings = pipeline
        .run(&mut graph, options, |pass, g| {
            if args.print_after {
                let _ = write!(
                    stderr.lock(),
                    "// ----- IR after {pass} -----\n{}",
                    print(g)
                );
            }
        })
        .map_err(|e| e.to_string().lines().map(String::from).collect::<Vec<_>>())?;
    if args.timings {
        let mut out = stderr.lock();
        let _ = writeln!(out, "{:<20} {:>12} {:>14}", "pass", "time (ms)", "ops");
        for t in &timings {
            let ops = format!("{} -> {}", t.ops_before, t.ops_after);
            let _ = writeln!(
                out,
                "{:<20} {:>12.3} {:>14}",
                t.pass,
                t.time.as_secs_f64() * 1e3,
                ops
            );
        }
        let total: f64 = timings.iter().map(|t| t.time.as_secs_f64() * 1e3).sum();
        let _ = writeln!(out, "{:<20} {:>12.3}", "total", total);
    }
    match &args.output {
        Some(path) => qir_file::write(&graph, path),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(print(&graph).as_bytes())
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(vec![format!("cannot write to stdout: {e}")])
                }
                _ => Ok(()),
            }
        }
    }
}
