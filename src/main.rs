//! The `qweave` command line: parses arguments, runs a subcommand, reports errors.
//!
//! Every failure ends as `error: ...` lines on stderr and exit code 1 (2 for usage errors);
//! never a panic message or a backtrace.

mod analyze_cmd;
mod board_cmd;
mod compile_cmd;
mod data_set;
mod fpga_flow;
mod ir_cmd;
mod model_file;
mod qir_file;
mod quantize_cmd;
mod run_cmd;
mod simulate_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: with the system allocator every large tensor is a
/// fresh `mmap`, and the page faults of filling it cost more than the kernels themselves.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// qweave compiles convolutional networks (float, or quantized to 1-8 bits) into FPGA
/// accelerators, the programs their controllers run, and packed weights.
#[derive(Parser)]
#[command(name = "qweave", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Run 'qweave <COMMAND> --help' for the options of a command.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read a model (.onnx or .qir), run passes over it, and print or write the IR.
    #[command(long_about = ir_cmd::LONG_ABOUT, after_long_help = ir_cmd::pass_list())]
    Ir(ir_cmd::IrArgs),
    /// Run a model with the bit-accurate reference interpreter on tensors from files.
    #[command(long_about = run_cmd::LONG_ABOUT)]
    Run(run_cmd::RunArgs),
    /// Quantize a float model after training, calibrating on input data.
    #[command(long_about = quantize_cmd::LONG_ABOUT)]
    Quantize(quantize_cmd::QuantizeArgs),
    /// Compare float, source-quantized and hardware-integer semantics over a data set.
    #[command(long_about = analyze_cmd::LONG_ABOUT)]
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Compile a quantized model into the accelerator's program, weights and manifest.
    #[command(long_about = compile_cmd::LONG_ABOUT)]
    Compile(compile_cmd::CompileArgs),
    /// Run a compiled program on the accelerator's simulator.
    #[command(long_about = simulate_cmd::LONG_ABOUT)]
    Simulate(simulate_cmd::SimulateArgs),
    /// Run a compiled iCE40 program on the board over its serial port, or serve a virtual
    /// board to run it on.
    #[command(long_about = board_cmd::LONG_ABOUT)]
    Board(board_cmd::BoardArgs),
}

/// The outcome of a command: `Err` holds the lines to print after `error: `.
pub type CmdResult = Result<(), Vec<String>>;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: internal error{location}: {message}");
            eprintln!(
                "error: this is a bug in qweave; please report it with the input that caused it"
            );
        }
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ir(args) => ir_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Quantize(args) => quantize_cmd::run(&args),
        Command::Analyze(args) => analyze_cmd::run(&args),
        Command::Compile(args) => compile_cmd::run(&args),
        Command::Simulate(args) => simulate_cmd::run(&args),
        Command::Board(args) => board_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(lines) => {
            #[allow(clippy::print_stderr)]
            for line in lines {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
