//! The serial datapath (`HwConfig::serial`, `docs/hw.md`): what its instructions cost, and the
//! limits a program must keep to run on it (immediates of 32 bits, which is all its
//! post-processing unit carries).

use crate::config::HwConfig;
use crate::cycles::Cost;
use crate::estimate::{Breakdown, Resources};
use crate::isa::Op;

/// The serial datapath's parts as yosys 0.23 synthesizes them for the iCE40 (`synth_ice40
/// -dsp -noflatten` of the `ice40up5k` preset, each unit alone; `scripts/ice40-size.sh`), in
/// logic cells (a LUT4 and a flip-flop each; `REGISTER_CELLS` counts the flip-flops that take
/// a cell of their own).
/// LUTs of the array besides its rows: the setup multiplier (in LUTs: its product is kept to
/// the buffers' address bits), the three walks (reduction, pixels, outputs), the weight
/// pointer and the write-back.
const ARRAY_LUTS: u64 = 833;
/// Logic cells per multiplier row: its input address, sum and shadow register (the packed
/// board with 4, 2 and 1 rows and the same input buffer per row: 5635, 5338 and 5140
/// cells).
const ROW_LUTS: u64 = 165;
/// LUTs of the transfer engine: its fields, the stride setup, its walk, the beat and value
/// FIFOs' pointers, value extraction and the store's masked writes (20-bit DRAM bit
/// addresses: [`DRAM_BYTES`]).
const TRANSFER_LUTS: u64 = 1808;
/// LUTs of the post-processing unit, a 16-bit micro-machine (`crate::ucode`): its ALU, operand
/// selection, sequencer and the table of each opcode's routine (`qw_ucode`, `qw_ucode_rom`).
const POST_LUTS: u64 = 487;
/// Block RAMs of the post-processing unit besides the parameters and the table: the 512 x 48
/// microcode ROM (6, in 512 x 8 mode), the register file's two read ports (2) and its copy of
/// the instruction (2).
const POST_BLOCKS: u64 = 10;
/// LUTs of the controller, the memories' port muxes and the fetch (which holds a store's
/// fields where a load's are: LUTs in front of its flip-flops, sharing their cells).
const CONTROL_LUTS: u64 = 442;
/// Logic cells beyond the units' LUTs: nextpnr-ice40 (`--pack-only`, the flattened design)
/// packs the preset's `main` into 4607 cells, the flip-flops it cannot pair with a LUT among
/// them (the held instruction's bits that the array and the transfer engine read, most of
/// all), less what flattening saves.
const REGISTER_CELLS: u64 = 872;
/// Logic cells of the board shell around `main` (`qw_board`: the UART, the command
/// sequencer, the SPRAM's port and the merge of partial writes): the board's 5180 packed
/// cells less `main`'s 4607.
const BOARD_CELLS: u64 = 573;

/// The serial datapath's resources on blocks of `block` bits: multipliers are SB_MAC16 (one
/// per row and the micro-machine's) on the iCE40. On a Xilinx part two rows share a DSP48E2
/// (`qw_dsp_pair`), the setup product takes one more, the board shell's logic is not counted
/// (the ZU3EG has none; the ZCU102's is small beside the LUT figures, which stay the iCE40's
/// LUT4 counts, more than the LUT6s yosys maps them to: `qweave compile --datapath serial`
/// reports those), and the ZCU102 shell's 128 KiB memory is eight 32K x 4 block RAMs.
pub fn breakdown(c: &HwConfig, block: u64) -> Breakdown {
    let rows = u64::from(c.rows);
    let target = crate::Target::parse(&c.target).ok();
    let xilinx = target.is_some_and(crate::Target::xilinx);
    // a block is at most 16 bits wide on the iCE40 (256 x 16 EBR), 72 on larger parts
    let widest = if block <= 4096 { 16 } else { 72 };
    let blocks =
        |entries: u64, bits: u64| (entries * bits).div_ceil(block).max(bits.div_ceil(widest));
    let lut = |lut| Resources {
        lut,
        ..Resources::default()
    };
    let inp = 2 * rows * u64::from(c.input_bank_bytes);
    Breakdown {
        array: Resources {
            lut: ARRAY_LUTS + ROW_LUTS * rows,
            dsp: if xilinx { rows.div_ceil(2) + 1 } else { rows },
            bram: 0,
        },
        // one copy of the input buffer per row
        operand_buffers: Resources {
            bram: rows * blocks(inp, 8) + blocks(u64::from(c.weight_bank_bytes), 8),
            ..Resources::default()
        },
        accumulators: Resources {
            bram: blocks(u64::from(c.acc_entries), u64::from(c.acc_bits)),
            ..Resources::default()
        },
        post: Resources {
            lut: POST_LUTS,
            dsp: 1,
            bram: blocks(u64::from(c.post.param_entries), 32)
                + blocks(u64::from(c.post.lut_entries), 32)
                + POST_BLOCKS,
        },
        // the transfer engine's FIFOs: 64 beats and 256 value descriptors (DRAM and the
        // program are the board's SPRAM, not block RAM)
        control: lut(TRANSFER_LUTS
            + CONTROL_LUTS
            + REGISTER_CELLS
            + if xilinx { 0 } else { BOARD_CELLS })
            + Resources {
                bram: blocks(64, 32)
                    + blocks(256, 8)
                    + if target == Some(crate::Target::Xczu9eg) {
                        8 * blocks(32768, 4)
                    } else {
                        0
                    },
                ..Resources::default()
            },
    }
}

/// DRAM bytes the serial datapath addresses: the UP5K's four SPRAMs (128 KiB), so its
/// transfer engine keeps 20-bit bit addresses. A larger program does not compile for it, and
/// the ISA simulator refuses a larger DRAM. (The board keeps the program in the same SPRAM:
/// `qweave_backends::rtl::board`.)
pub const DRAM_BYTES: u64 = 1 << 17;

/// Cycles from taking a transfer to its walks starting (the strides times the value width,
/// by shift and add).
pub const TRANSFER_SETUP: u64 = 8;
/// Cycles from a DRAM request to its word, and from a write to its acknowledgement: the
/// board's SPRAM answers in the next cycle (`qw_board`, `qw_spram`).
pub const DRAM_LATENCY: u64 = 1;
/// Cycles from a load's first request to its first value reaching the destination walk:
/// DRAM's latency and the beat FIFO's two.
pub const FIRST_BEAT: u64 = DRAM_LATENCY + 2;
/// Cycles of a `gemm` besides its steps and the last group's write-back (a cycle per row):
/// taking it, setting up (seven products), the operands' read, the multiply-add, and
/// finishing.
pub const GEMM_SETUP: u64 = 11;
/// Cycles of a `gemm` with nothing to compute.
pub const GEMM_EMPTY: u64 = 9;
/// Cycles to fetch an instruction before it starts: its sixteen 32-bit beats over the program
/// port, which the fetch asks for once the instruction before has finished (`qw_fetch_one`).
pub const FETCH: u64 = 16;

/// Cycles between the instruction before `op` finishing and `op` starting, besides the
/// controller's [`crate::cycles::QUEUE_GAP`]: its fetch, and for a `store` a cycle to move
/// its fields where a `load` has them.
pub fn fetch(op: &Op) -> u64 {
    FETCH + u64::from(matches!(op, Op::Store(_)))
}

/// The cost of `op` on the serial datapath `c`.
pub fn cost(c: &HwConfig, op: &Op) -> Cost {
    let rows = u64::from(c.rows);
    let n3 = |z: u16, y: u16, x: u16| u64::from(z) * u64::from(y) * u64::from(x);
    let cycles = |cycles| Cost {
        cycles,
        ..Cost::default()
    };
    match op {
        Op::Config(_) | Op::End | Op::Sync(_) => cycles(1),
        Op::Load(l) => {
            let (y, x) = (
                u64::from(l.pad_top) + u64::from(l.y) + u64::from(l.pad_bottom),
                u64::from(l.pad_left) + u64::from(l.x) + u64::from(l.pad_right),
            );
            let entries = u64::from(l.z) * y * x;
            let values = n3(l.z, l.y, l.x);
            let lead = u64::from(l.pad_top) * x + u64::from(l.pad_left);
            let walk = if values == 0 {
                entries
            } else {
                entries.max(FIRST_BEAT + entries - lead.min(entries))
            };
            Cost {
                cycles: TRANSFER_SETUP + 1 + walk,
                dram_bytes: (values * u64::from(l.bits)).div_ceil(8),
                macs: 0,
            }
        }
        Op::Store(s) => {
            let values = n3(s.z, s.y, s.x);
            let (writes, partial) = store_writes(s);
            Cost {
                // a write a cycle, a partial one held a cycle more (the board merges it); the
                // last write's acknowledgement comes DRAM_LATENCY cycles later, and the engine
                // sees it the cycle after
                cycles: TRANSFER_SETUP
                    + 1
                    + writes
                    + partial
                    + if values > 0 { DRAM_LATENCY + 1 } else { 0 },
                dram_bytes: (values * u64::from(s.bits)).div_ceil(8),
                macs: 0,
            }
        }
        Op::Gemm(g) => {
            let k = u64::from(g.cin) * u64::from(g.kh) * u64::from(g.kw);
            let outputs = u64::from(g.groups) * u64::from(g.m) * u64::from(g.oh);
            let pixel_groups = outputs * u64::from(g.ow).div_ceil(rows);
            // each group of pixels takes the reduction's k steps, but no fewer cycles than
            // the write-back of the one before takes to read its sums (the first waits for
            // none)
            let per_group = k.max(rows);
            Cost {
                cycles: if pixel_groups == 0 || k == 0 {
                    GEMM_EMPTY
                } else {
                    GEMM_SETUP + pixel_groups * per_group - (per_group - k) + rows
                },
                dram_bytes: 0,
                macs: outputs * u64::from(g.ow) * k,
            }
        }
        Op::Requant(_)
        | Op::Clamp(_)
        | Op::Alu(_)
        | Op::Lut(_)
        | Op::Threshold(_)
        // the micro-machine's cycles from taking the instruction to its `Done` op, whose
        // cycle raises done
        | Op::Pool(_) => cycles(crate::ucode::cycles(op)),
    }
}

/// The 32-bit writes a store makes (a value across two beats takes two) and, of them, those
/// whose mask covers part of a nibble, which the board holds a cycle to read the word and
/// merge (its SPRAM writes whole nibbles).
fn store_writes(s: &crate::isa::Store) -> (u64, u64) {
    let bits = u64::from(s.bits);
    let base = 8 * u64::from(s.dram) + u64::from(s.bit);
    let (mut writes, mut partial) = (0, 0);
    for z in 0..u64::from(s.z) {
        for y in 0..u64::from(s.y) {
            for x in 0..u64::from(s.x) {
                let at =
                    base + (z * u64::from(s.zs) + y * u64::from(s.ys) + x * u64::from(s.xs)) * bits;
                let end = at + bits;
                let mut lo = at;
                while lo < end {
                    let hi = end.min((lo / 32 + 1) * 32);
                    writes += 1;
                    partial += u64::from(lo % 4 != 0 || hi % 4 != 0);
                    lo = hi;
                }
            }
        }
    }
    (writes, partial)
}

/// Whether `op` keeps to the serial datapath's limits: its post-processing carries zero
/// points, bounds, table origins and biases of 32 bits and saturates to at most 32 bits (a
/// requantization record's words are parameter words, which the simulator holds to 32 bits
/// where a load writes them).
pub fn check(op: &Op) -> Result<(), String> {
    let fits = |what: &str, v: i64| {
        if i32::try_from(v).is_ok() {
            Ok(())
        } else {
            Err(format!(
                "{what} {v} does not fit 32 bits, which the serial datapath's post-processing \
                 carries"
            ))
        }
    };
    let narrow = |bits: u8| {
        if bits <= 32 {
            Ok(())
        } else {
            Err(format!(
                "it saturates to {bits} bits, but the serial datapath's post-processing \
                 saturates to at most 32"
            ))
        }
    };
    match op {
        Op::Requant(r) => narrow(r.obits),
        Op::Clamp(c) => {
            fits("the lower bound", c.lo)?;
            fits("the upper bound", c.hi)
        }
        Op::Alu(a) => {
            narrow(a.obits)?;
            fits("the left zero point", a.dzp)?;
            fits("the right zero point", a.szp)?;
            fits("the output zero point", a.ozp)
        }
        Op::Lut(l) => fits("the table's first value", l.min),
        Op::Threshold(t) => {
            narrow(t.obits)?;
            fits("the bias", t.bias)
        }
        _ => Ok(()),
    }
}
