//! The board shell for the serial accelerator on an iCE40 UP5K board (the iCEBreaker's pins)
//! or, for `xczu9eg`, the ZCU102 (`zcu102.rs`): the `board` top module (the PLL to the
//! configuration's clock, `qw_board` with its UART and the 128 KiB memory holding DRAM and
//! program), its pin constraints, the host's side of the UART protocol (`qw_board.sv` and
//! `docs/hw.md`, "The board shell"), and the board engine: the whole shell in Verilator with
//! a host on its UART line.

use super::engine::Files;
use qweave_hw::HwConfig;
use qweave_hw::isa::Instr;
use std::path::{Path, PathBuf};

/// The UART's bit rate (the iCEBreaker's FTDI FT2232H reaches it).
pub const BAUD: u32 = 1_000_000;

/// The board's oscillator, in MHz (the iCEBreaker's 12 MHz, pin 35).
pub const BOARD_MHZ: u32 = 12;

/// The board's memory, in bytes: DRAM from byte 0, the program above it (the four SPRAMs the
/// serial datapath's DRAM addresses).
pub const MEMORY_BYTES: usize = qweave_hw::serial::DRAM_BYTES as usize;

/// The boards a serial bundle's shell is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// The iCEBreaker (`ice40up5k`).
    Icebreaker,
    /// The ZCU102 (`xczu9eg` with `--datapath serial`): the programmable logic alone.
    Zcu102,
}

impl Board {
    /// The board `hw`'s bundle is built for, if it has a board shell: the serial datapath on
    /// `ice40up5k` or `xczu9eg` (the Ultra96-V2's ZU3EG has no oscillator or UART pins of its
    /// own in the logic, only the processing system's).
    pub fn of(hw: &HwConfig) -> Option<Board> {
        if !hw.serial {
            return None;
        }
        match qweave_hw::Target::parse(&hw.target) {
            Ok(qweave_hw::Target::Ice40up5k) => Some(Board::Icebreaker),
            Ok(qweave_hw::Target::Xczu9eg) => Some(Board::Zcu102),
            _ => None,
        }
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Board::Icebreaker => "iCEBreaker",
            Board::Zcu102 => "ZCU102",
        }
    }

    /// The board engine's testbench settings: the top module's clock port, and whether its
    /// LED is lit high.
    fn testbench_flags(self) -> [String; 2] {
        match self {
            Board::Icebreaker => ["-DQW_CLOCK=clk_12mhz".into(), "-DQW_LED_N".into()],
            Board::Zcu102 => ["-DQW_CLOCK=clk_125mhz_p".into(), "-DQW_LED".into()],
        }
    }
}

/// The shell's primitives, in the order `accel.sv` holds them.
pub const PRIMITIVES: [(&str, &str); 4] = [
    ("qw_uart_rx.sv", include_str!("sv/qw_uart_rx.sv")),
    ("qw_uart_tx.sv", include_str!("sv/qw_uart_tx.sv")),
    ("qw_spram.sv", include_str!("sv/qw_spram.sv")),
    ("qw_board.sv", include_str!("sv/qw_board.sv")),
];

/// The pins of the iCEBreaker (v1.0) the shell uses, for nextpnr-ice40 (`--pcf`).
pub const PCF: &str = "\
# qweave's board shell on the iCEBreaker (iCE40UP5K-SG48): the 12 MHz oscillator, the
# FT2232H's UART (the host's TX to the FPGA's RX) and the green LED, lit while it runs
set_io -nowarn clk_12mhz 35
set_io -nowarn rx 6
set_io -nowarn tx 9
set_io -nowarn led_n 37
";

/// The SB_PLL40 settings (DIVR, DIVF, DIVQ, FILTER_RANGE) that make `mhz` from the board's
/// oscillator exactly, with the phase detector and the VCO within the iCE40's ranges
/// (10-133 MHz and 533-1066 MHz), or `None`.
pub fn pll(mhz: u32) -> Option<(u32, u32, u32, u32)> {
    let fin = u64::from(BOARD_MHZ);
    for divr in 0..16u64 {
        // (in kHz, so that the ranges compare exactly)
        let pfd_khz = fin * 1000 / (divr + 1);
        if fin * 1000 % (divr + 1) != 0 || !(10_000..=133_000).contains(&pfd_khz) {
            continue;
        }
        for divq in 1..7u64 {
            for divf in 0..128u64 {
                let vco_khz = pfd_khz * (divf + 1);
                if (533_000..=1_066_000).contains(&vco_khz)
                    && vco_khz == (u64::from(mhz) * 1000) << divq
                {
                    // (the loop filter by the phase detector's frequency, as icepll picks it)
                    let filter = [17_000, 26_000, 44_000, 66_000, 101_000]
                        .iter()
                        .take_while(|&&top| pfd_khz >= top)
                        .count() as u32
                        + 1;
                    return Some((divr as u32, divf as u32, divq as u32, filter));
                }
            }
        }
    }
    None
}

/// Clock cycles per UART bit at the configuration's clock.
pub fn divisor(hw: &HwConfig) -> Result<u32, String> {
    let hz = u64::from(hw.clock_mhz) * 1_000_000;
    if hz % u64::from(BAUD) != 0 || hz / u64::from(BAUD) < 4 || hz / u64::from(BAUD) > 63 {
        return Err(format!(
            "the board shell's UART runs at {BAUD} baud, which a {} MHz clock does not divide \
             into 4 to 63 cycles a bit; choose a clock that is a multiple of 4 MHz up to 63 MHz",
            hw.clock_mhz
        ));
    }
    Ok((hz / u64::from(BAUD)) as u32)
}

/// The `board` top module for `hw`: the clock (the oscillator itself at 12 MHz, the
/// oscillator divided by an even number below it, else a PLL under SYNTHESIS; simulation
/// clocks the design from the oscillator's pin) and the shell.
pub fn top(hw: &HwConfig) -> Result<String, String> {
    let div = divisor(hw)?;
    let slower = BOARD_MHZ / hw.clock_mhz.max(1);
    let clock = if hw.clock_mhz == BOARD_MHZ {
        "  assign clk = clk_12mhz;\n  assign locked = 1;\n".to_string()
    } else if hw.clock_mhz < BOARD_MHZ
        && slower * hw.clock_mhz == BOARD_MHZ
        && slower.is_multiple_of(2)
    {
        // below the PLL's 16 MHz: the oscillator divided, onto a global buffer
        let half = slower / 2;
        format!(
            "`ifdef SYNTHESIS\n\
             \x20 logic [3:0] count;\n\
             \x20 logic slow;\n\
             \x20 always_ff @(posedge clk_12mhz) begin\n\
             \x20   count <= count == 4'd{} ? 4'd0 : count + 4'd1;\n\
             \x20   if (count == 4'd{}) slow <= !slow;\n\
             \x20 end\n\
             \x20 SB_GB global (.USER_SIGNAL_TO_GLOBAL_BUFFER(slow), .GLOBAL_BUFFER_OUTPUT(clk));\n\
             `else\n\
             \x20 // (simulation: the oscillator's edges are the divided clock's)\n\
             \x20 assign clk = clk_12mhz;\n\
             `endif\n\
             \x20 assign locked = 1;\n",
            half - 1,
            half - 1
        )
    } else {
        let (r, f, q, filter) = pll(hw.clock_mhz).ok_or_else(|| {
            format!(
                "the iCE40's PLL cannot make {} MHz from the board's {BOARD_MHZ} MHz exactly",
                hw.clock_mhz
            )
        })?;
        format!(
            "`ifdef SYNTHESIS\n\
             \x20 SB_PLL40_PAD #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{r}), .DIVF(7'd{f}), \
             .DIVQ(3'd{q}), .FILTER_RANGE(3'd{filter})) pll (\n\
             \x20     .PACKAGEPIN(clk_12mhz), .PLLOUTCORE(clk), .LOCK(locked), .RESETB(1'b1), \
             .BYPASS(1'b0));\n\
             `else\n\
             \x20 // (simulation: the oscillator's edges are the PLL's)\n\
             \x20 assign clk = clk_12mhz;\n\
             \x20 assign locked = 1;\n\
             `endif\n"
        )
    };
    Ok(format!(
        "// board: the top module for an iCE40 UP5K board (pins: accel.pcf): the accelerator at \
         {} MHz behind the board shell, its UART at {BAUD} baud.\n\
         module board (\n\
         \x20   input  logic clk_12mhz,\n\
         \x20   input  logic rx,\n\
         \x20   output logic tx,\n\
         \x20   output logic led_n\n\
         );\n\
         \x20 logic clk, locked;\n{clock}\
         \x20 qw_board #(.DIV({div}), .CW(6)) shell (.clk, .hold(!locked), .rx, .tx, .led_n);\n\
         endmodule\n",
        hw.clock_mhz
    ))
}

/// The shell's primitives and the top module for `hw`'s board, as `accel.sv` appends them.
pub fn shell(hw: &HwConfig) -> Result<String, String> {
    let mut parts: Vec<String> = PRIMITIVES.iter().map(|(_, t)| t.to_string()).collect();
    parts.push(match Board::of(hw) {
        Some(Board::Icebreaker) => top(hw)?,
        Some(Board::Zcu102) => super::zcu102::top(hw)?,
        None => {
            return Err(format!(
                "a {} {} accelerator has no board shell",
                hw.target,
                if hw.serial { "serial" } else { "parallel" }
            ));
        }
    });
    Ok(parts.join("\n"))
}

/// The word where the program goes above a DRAM of `dram_bytes`: the next whole instruction.
pub fn program_base(dram_bytes: usize) -> usize {
    dram_bytes.div_ceil(64) * 16
}

/// Whether a DRAM of `dram_bytes` and a program of `instructions` fit the board's memory.
pub fn check_memory(dram_bytes: usize, instructions: usize) -> Result<(), String> {
    let need = program_base(dram_bytes) * 4 + instructions * 64;
    if need > MEMORY_BYTES {
        return Err(format!(
            "DRAM ({dram_bytes} bytes) and the program ({instructions} instructions of 64 bytes) \
             need {need} bytes of the board's {MEMORY_BYTES}-byte SPRAM"
        ));
    }
    Ok(())
}

/// A command: its byte, then each field as 3 bytes, little-endian.
fn command(op: u8, fields: &[usize]) -> Vec<u8> {
    let mut out = vec![op];
    for &f in fields {
        out.extend_from_slice(&(f as u32).to_le_bytes()[..3]);
    }
    out
}

/// The host's command that writes `bytes` (padded with zeros to whole words) from word `addr`.
pub fn write_command(addr: usize, bytes: &[u8]) -> Vec<u8> {
    let words = bytes.len().div_ceil(4);
    let mut out = command(b'W', &[addr, words]);
    out.extend_from_slice(bytes);
    out.resize(7 + 4 * words, 0);
    out
}

/// The host's command that reads `words` words from word `addr`.
pub fn read_command(addr: usize, words: usize) -> Vec<u8> {
    command(b'R', &[addr, words])
}

/// The host's command that runs the program at word `base`.
pub fn run_command(base: usize) -> Vec<u8> {
    command(b'G', &[base])
}

/// The board's reply to a run: the accelerator's cycles.
pub fn run_reply(reply: &[u8]) -> Result<u64, String> {
    match reply {
        [b'D', c @ ..] if c.len() == 4 => {
            Ok(u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        }
        _ => Err(format!(
            "the board answered a run with {reply:?}, not 'D' and 4 bytes"
        )),
    }
}

const TESTBENCH: &str = include_str!("board_tb.cpp");

/// The board shell in Verilator with a host on its UART.
pub struct BoardEngine {
    model: qweave_rtl::Model,
}

/// What a run over the UART left.
#[derive(Clone, Debug)]
pub struct BoardRun {
    /// DRAM afterwards, as the host read it back.
    pub dram: Vec<u8>,
    /// The accelerator's cycles, as the board counted them.
    pub cycles: u64,
    /// The cycles simulated in all: loading, running, reading back.
    pub total_cycles: u64,
}

impl BoardEngine {
    /// Builds (or finds in `cache`) the Verilator model of `accel_sv`, the design generated
    /// for `hw` (with its board shell).
    pub fn build(hw: &HwConfig, accel_sv: &str, cache: &Path) -> Result<BoardEngine, String> {
        let verilator = qweave_rtl::Verilator::find()?;
        let board = Board::of(hw).ok_or_else(|| format!("{} has no board shell", hw.target))?;
        let [clock, led] = board.testbench_flags();
        let flags = [
            "-Wall".to_string(),
            "-CFLAGS".to_string(),
            format!("-DQW_DIV={}", divisor(hw)?),
            "-CFLAGS".to_string(),
            clock,
            "-CFLAGS".to_string(),
            led,
        ];
        let sources = [("accel.sv", accel_sv.to_string())];
        let model = verilator.build(cache, "board", &sources, TESTBENCH, &flags)?;
        Ok(BoardEngine { model })
    }

    /// Loads `dram` and `program` over the UART, runs it, and reads DRAM back.
    pub fn run(&self, program: &[Instr], dram: &[u8], max_cycles: u64) -> Result<BoardRun, String> {
        let steps = steps(program, dram)?;
        let files = Files::new("qweave-board-run")?;
        let mut orders = String::new();
        for (k, step) in steps.iter().enumerate() {
            let path: PathBuf = files.0.join(format!("step{k}"));
            std::fs::write(&path, &step.send).map_err(|e| format!("{}: {e}", path.display()))?;
            orders += &format!("send {} {}\n", path.display(), step.reply);
        }
        let out = files.0.join("replies");
        orders += &format!("out {}\nmax_cycles {max_cycles}\nrun\n", out.display());
        let text = self.model.run(&orders)?;
        let total_cycles = text
            .lines()
            .find_map(|l| l.strip_prefix("cycles "))
            .and_then(|c| c.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "the board did not answer within {max_cycles} cycles ({})",
                    text.trim()
                )
            })?;
        let replies = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let mut at = 0;
        let mut answers = Vec::with_capacity(steps.len());
        for step in &steps {
            let end = (at + step.reply).min(replies.len());
            answers.push(&replies[at..end]);
            at = end;
        }
        if at != replies.len() {
            return Err(format!(
                "the board sent {} bytes more than its replies",
                replies.len() - at
            ));
        }
        let (dram, cycles) = results(&steps, &answers, dram.len())?;
        Ok(BoardRun {
            dram,
            cycles,
            total_cycles,
        })
    }

    /// The virtual board: the shell in Verilator behind a pseudo-terminal, which a host opens
    /// as it would a real board's serial port. It runs until the returned value is dropped.
    pub fn serve(&self) -> Result<VirtualBoard, String> {
        let mut running = self.model.spawn("pty\nrun\n")?;
        let line = running.line()?;
        let path = line
            .strip_prefix("pty ")
            .ok_or_else(|| format!("the virtual board said {line:?}, not its terminal"))?;
        Ok(VirtualBoard {
            path: PathBuf::from(path),
            running,
        })
    }
}

/// The board shell in Verilator behind a pseudo-terminal (see [`BoardEngine::serve`]).
#[derive(Debug)]
pub struct VirtualBoard {
    /// The terminal a host opens.
    pub path: PathBuf,
    running: qweave_rtl::Running,
}

impl VirtualBoard {
    /// Waits until the simulation ends (it does not by itself: this process's end stops it).
    pub fn wait(&mut self) -> Result<std::process::ExitStatus, String> {
        self.running.wait()
    }
}

/// One exchange of a run: what the host sends, and how many bytes the board replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step does, for errors ("loading DRAM", ...).
    pub what: &'static str,
    pub send: Vec<u8>,
    pub reply: usize,
}

/// A run's exchanges: DRAM written from word 0, the program above it, the run, and DRAM
/// read back.
pub fn steps(program: &[Instr], dram: &[u8]) -> Result<Vec<Step>, String> {
    let bin = qweave_hw::isa::binary::encode(program).map_err(|e| e.to_string())?;
    check_memory(dram.len(), program.len())?;
    let base = program_base(dram.len());
    let words = dram.len().div_ceil(4);
    Ok(vec![
        Step {
            what: "loading DRAM",
            send: write_command(0, dram),
            reply: 1,
        },
        Step {
            what: "loading the program",
            send: write_command(base, &bin[16..]),
            reply: 1,
        },
        Step {
            what: "running the program",
            send: run_command(base),
            reply: 5,
        },
        Step {
            what: "reading DRAM back",
            send: read_command(0, words),
            reply: 4 * words,
        },
    ])
}

/// Whether `answer` is the protocol's reply to `step`; the error names the step.
pub fn check_answer(step: &Step, answer: &[u8]) -> Result<(), String> {
    if answer.first() == Some(&b'?') {
        return Err(format!(
            "{}: the board answered '?', an unknown command: bytes of it were lost on the \
             line",
            step.what
        ));
    }
    if answer.len() != step.reply {
        return Err(format!(
            "{}: the board answered {} byte(s){}, not {}",
            step.what,
            answer.len(),
            shown(answer),
            step.reply
        ));
    }
    match step.send[0] {
        b'W' if answer != b"K" => Err(format!(
            "{}: the board answered{}, not 'K'",
            step.what,
            shown(answer)
        )),
        b'G' => run_reply(answer)
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", step.what)),
        _ => Ok(()),
    }
}

/// DRAM (its first `dram_bytes`) and the run's cycles from the board's `answers` to `steps`.
pub fn results(
    steps: &[Step],
    answers: &[&[u8]],
    dram_bytes: usize,
) -> Result<(Vec<u8>, u64), String> {
    let mut cycles = None;
    let mut dram = None;
    for (step, answer) in steps.iter().zip(answers) {
        check_answer(step, answer)?;
        match step.send[0] {
            b'G' => cycles = run_reply(answer).ok(),
            b'R' => dram = Some(answer[..dram_bytes.min(answer.len())].to_vec()),
            _ => {}
        }
    }
    match (dram, cycles) {
        (Some(d), Some(c)) => Ok((d, c)),
        _ => Err("a run's steps must run the program and read DRAM back".into()),
    }
}

/// The first bytes of `answer`, for an error.
fn shown(answer: &[u8]) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", answer[..answer.len().min(8)].escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pll_makes_the_presets_clock_from_the_oscillator() {
        // icepll -i 12 -o 24: DIVR 0, DIVF 63, DIVQ 5, FILTER_RANGE 1
        assert_eq!(pll(24), Some((0, 63, 5, 1)));
        assert_eq!(pll(48), Some((0, 63, 4, 1)));
        assert_eq!(pll(7), None);
    }

    #[test]
    fn commands_are_little_endian_words() {
        assert_eq!(
            write_command(0x10203, &[1, 2, 3, 4, 5]),
            [b'W', 3, 2, 1, 2, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0]
        );
        assert_eq!(read_command(5, 258), [b'R', 5, 0, 0, 2, 1, 0]);
        assert_eq!(run_command(70), [b'G', 70, 0, 0]);
        assert_eq!(run_reply(b"D\x01\x02\x00\x00"), Ok(513));
        assert!(run_reply(b"?").is_err());
        assert_eq!(program_base(6832), 1712);
        assert!(check_memory(1 << 16, 1024).is_ok());
        assert!(check_memory(1 << 16, 1025).is_err());
    }
}
