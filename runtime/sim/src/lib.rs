//! qweave's ISA simulator: runs a program on a DRAM image as the accelerator would, with every
//! effect exact (`docs/isa.md`) and cycles counted by the cycle model, including load, compute
//! and store overlap through the dependency tokens and the shared DRAM port. Instructions of
//! different queues that touch the same data without tokens ordering them are reported as a
//! race, so an emitter's missing token cannot go unnoticed because the timing was lucky.
//!
//! It knows nothing of graphs: it sees a [`HwConfig`], the instructions and DRAM. Bundles
//! (manifest, weights, inputs) are read by the CLI, which places the inputs and reads the
//! outputs at the addresses the manifest gives.

mod footprint;
mod machine;
mod schedule;

use qweave_hw::HwConfig;
use qweave_hw::isa::Instr;
use std::collections::BTreeMap;

/// What a layer's instructions did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// The cycle its first instruction started.
    pub start: u64,
    /// The cycle its last instruction finished.
    pub end: u64,
    /// Busy cycles of the load, compute and store queues.
    pub busy: [u64; 3],
    /// Multiply-accumulates on the array.
    pub macs: u64,
    /// Bytes moved over the DRAM port.
    pub dram_bytes: u64,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Run {
    /// DRAM afterwards.
    pub dram: Vec<u8>,
    /// Cycles until every queue drained.
    pub cycles: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes moved over the DRAM port.
    pub dram_bytes: u64,
    /// Instructions executed.
    pub instructions: usize,
    /// Per layer (the instructions' `layer` field).
    pub layers: BTreeMap<u16, LayerStats>,
    /// Per instruction, the cycles it started and finished (a `config`: on the compute
    /// queue).
    pub times: Vec<(u64, u64)>,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    /// An instruction whose effect is not defined (it addresses outside a memory, or writes a
    /// value its destination cannot hold).
    #[error("instruction {index} ({op}, layer {layer}): {message}")]
    At {
        /// Its index.
        index: usize,
        /// Its mnemonic.
        op: &'static str,
        /// Its layer.
        layer: u16,
        /// What is wrong.
        message: String,
    },
    /// DRAM larger than the hardware addresses.
    #[error("DRAM holds {bytes} bytes, but the serial datapath addresses {limit}")]
    Dram {
        /// The DRAM given.
        bytes: u64,
        /// What the hardware addresses.
        limit: u64,
    },
    /// The program lacks its `end`.
    #[error("the program has no end instruction")]
    NoEnd,
    /// A queue waits for a token no instruction will push.
    #[error(
        "deadlock: instruction {index} ({op}) on the {queue} queue waits for a token no instruction will push"
    )]
    Deadlock {
        /// The waiting instruction.
        index: usize,
        /// Its mnemonic.
        op: &'static str,
        /// Its queue.
        queue: &'static str,
    },
    /// Two instructions of different queues touch the same data, one writing, and no chain
    /// of dependency tokens orders them.
    #[error(
        "race: instructions {first} ({first_op}) and {second} ({second_op}) touch the same {mem} entries, and no dependency tokens order them"
    )]
    Race {
        /// The earlier instruction.
        first: usize,
        /// Its mnemonic.
        first_op: &'static str,
        /// The later one.
        second: usize,
        /// Its mnemonic.
        second_op: &'static str,
        /// The memory.
        mem: &'static str,
    },
}

/// Runs `program` on `hw` starting from `dram`.
pub fn simulate(hw: &HwConfig, program: &[Instr], dram: Vec<u8>) -> Result<Run, SimError> {
    let limit = qweave_hw::serial::DRAM_BYTES;
    if hw.serial && dram.len() as u64 > limit {
        return Err(SimError::Dram {
            bytes: dram.len() as u64,
            limit,
        });
    }
    schedule::run(hw, program, machine::Machine::new(hw, dram))
}

/// The timing of `program` on `hw` without computing any value: the cycle model depends on
/// the instructions alone, so cycles, MACs, bytes and per-layer statistics are those of
/// [`simulate`] (whose `dram` is empty here). Tokens and races are checked as there; value
/// errors are not.
pub fn time(hw: &HwConfig, program: &[Instr]) -> Result<Run, SimError> {
    schedule::run(hw, program, machine::Machine::timing_only(hw))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod ucode_tests;
