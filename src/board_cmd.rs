//! `qweave board`: a compiled bundle with a board shell (iCEBreaker, ZCU102) on its board
//! over a serial port (`run`), and the
//! virtual board (`serve`): the bitstream's design in Verilator behind a pseudo-terminal, which
//! `run` (or any host speaking the protocol of docs/hw.md) opens as it would the board's port.

use crate::CmdResult;
use crate::simulate_cmd::{self, ItemArgs, Runner};
use clap::{Args, Subcommand};
use qweave_hw::HwConfig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LONG_ABOUT: &str = "Run a program `qweave compile --target ice40up5k` (or `--target \
xczu9eg --datapath serial`) wrote on the board its bitstream configures (`run`: first `iceprog \
DIR/ice40/accel.bin` on an iCEBreaker, or Vivado's hardware manager with DIR/vivado/out/accel.bit \
on a ZCU102), over the board's serial port at 1 Mbaud: DRAM and the program are loaded, the program runs, and DRAM is read back; \
inputs, outputs and --check are as for `qweave simulate`, and the cycles are the board's own \
count. `serve` makes the virtual board: the same design in Verilator behind a pseudo-terminal \
whose path it prints, for `run --port` or any host speaking the protocol (docs/hw.md, \"The board \
shell\"), until it is stopped.";

#[derive(Args)]
pub struct BoardArgs {
    #[command(subcommand)]
    pub command: BoardCommand,
}

#[derive(Subcommand)]
pub enum BoardCommand {
    /// Run the program on a board over its serial port.
    Run(RunArgs),
    /// Simulate the board behind a pseudo-terminal until stopped.
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The directory `qweave compile --target ice40up5k` (or `--target xczu9eg --datapath
    /// serial`) wrote.
    pub dir: PathBuf,

    /// The board's serial port (the iCEBreaker's is the FT2232H's second interface, often
    /// /dev/ttyUSB1; the ZCU102's the CP2108's channel 2, often /dev/ttyUSB2), or the virtual
    /// board's terminal.
    #[arg(long, value_name = "PATH")]
    pub port: String,

    #[command(flatten)]
    pub items: ItemArgs,

    /// How long the line may stay silent, in seconds, beyond the modeled run time, before
    /// the board counts as not answering.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Args)]
pub struct ServeArgs {
    /// The directory `qweave compile --target ice40up5k` (or `--target xczu9eg --datapath
    /// serial`) wrote.
    pub dir: PathBuf,
}

pub fn run(args: &BoardArgs) -> CmdResult {
    match &args.command {
        BoardCommand::Run(a) => run_on_board(a),
        BoardCommand::Serve(a) => serve(a),
    }
}

/// An error unless `hw` has the board shell.
fn has_shell(dir: &Path, hw: &HwConfig) -> CmdResult {
    if qweave_backends::rtl::board::Board::of(hw).is_some() {
        return Ok(());
    }
    Err(vec![format!(
        "{}: a {} bundle has no board shell; `qweave board` runs what `qweave compile --target \
         ice40up5k` or `--target xczu9eg --datapath serial` wrote",
        dir.display(),
        hw.target
    )])
}

fn run_on_board(args: &RunArgs) -> CmdResult {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(vec![format!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        )]);
    }
    let bundle = simulate_cmd::load_bundle(&args.dir)?;
    has_shell(&args.dir, &bundle.hw)?;
    // the run's reply comes after the program's cycles: the line is silent meanwhile
    let modeled = qweave_sim::time(&bundle.hw, &bundle.compiled.program)
        .map_err(|e| vec![e.to_string()])?
        .cycles as f64
        / (f64::from(bundle.hw.clock_mhz) * 1e6);
    let timeout = Duration::from_secs_f64(args.timeout + 2.0 * modeled);
    let port = open_port(&args.port, timeout).map_err(|e| {
        vec![format!(
            "{}: cannot open the board's serial port: {e} (is the board plugged in, and is the \
             port yours to open? the iCEBreaker's UART is the FT2232H's second interface, \
             often /dev/ttyUSB1)",
            args.port
        )]
    })?;
    let mut port = Port(port);
    qweave_backends::rtl::board_host::sync(&mut port, timeout)
        .map_err(|e| vec![format!("{}: {e}", args.port)])?;
    simulate_cmd::run_items(
        &args.dir,
        &bundle,
        Runner::Device(port, args.port.clone()),
        &args.items,
        None,
    )
}

/// A board's serial port, as the host's protocol uses it.
pub struct Port(Box<dyn serialport::SerialPort>);

impl std::io::Read for Port {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Port {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl qweave_backends::rtl::board_host::Line for Port {
    fn set_wait(&mut self, wait: Duration) -> std::io::Result<()> {
        self.0.set_timeout(wait).map_err(std::io::Error::from)
    }
}

/// The serial port at `path`, 8N1 at the board's rate, reads and writes waiting at most
/// `timeout` each.
#[cfg(unix)]
fn open_port(path: &str, timeout: Duration) -> Result<Box<dyn serialport::SerialPort>, String> {
    use std::os::fd::AsRawFd;
    let port = serialport::new(path, qweave_backends::rtl::board::BAUD)
        .timeout(timeout)
        .open_native()
        .map_err(|e| e.to_string())?;
    // a write waits for room (up to the timeout) instead of blocking: a line nobody drains
    // is then an error, not a hang
    nix::fcntl::fcntl(
        port.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| e.to_string())?;
    Ok(Box::new(port))
}

#[cfg(not(unix))]
fn open_port(path: &str, timeout: Duration) -> Result<Box<dyn serialport::SerialPort>, String> {
    serialport::new(path, qweave_backends::rtl::board::BAUD)
        .timeout(timeout)
        .open()
        .map_err(|e| e.to_string())
}

fn serve(args: &ServeArgs) -> CmdResult {
    let bundle = simulate_cmd::load_bundle(&args.dir)?;
    has_shell(&args.dir, &bundle.hw)?;
    let engine = simulate_cmd::board_engine(&args.dir, &bundle.hw)?;
    let mut board = engine
        .serve()
        .map_err(|e| vec![format!("{}: the virtual board: {e}", args.dir.display())])?;
    let _ = writeln!(
        std::io::stdout(),
        "the virtual board of {} is on {}",
        args.dir.display(),
        board.path.display()
    );
    let _ = writeln!(
        std::io::stderr(),
        "run on it with `qweave board run {} --port {} -i INPUTS -o OUTPUT`; Ctrl-C stops it",
        args.dir.display(),
        board.path.display()
    );
    let status = board
        .wait()
        .map_err(|e| vec![format!("{}: the virtual board: {e}", args.dir.display())])?;
    Err(vec![format!(
        "{}: the virtual board stopped ({status})",
        args.dir.display()
    )])
}
