//! The serial datapath's post-processing as microcode: a 16-bit micro-machine (this file), its
//! assembler ([`asm`]), the microcode of the six post-processing instructions ([`program`])
//! and an interpreter that runs it exactly, cycle for cycle ([`run`]).
//!
//! On the iCE40 every bit of every operation costs a logic cell, so a post-processing unit that
//! computes a requantization's 80-bit product, its rounding and its saturation in parallel
//! does not fit beside the array. The micro-machine trades width for time: its registers are a
//! 256 x 16 block RAM, its ALU is 16 bits wide, one SB_MAC16 multiplies 16 x 16, and the
//! instructions' semantics (`docs/isa.md`) are sequences of micro-ops held in a block-RAM ROM.
//!
//! The machine. Micro-ops run one a cycle through three stages: the ROM read, the register
//! file read, and execution (the ALU, the flags, the register write, the action). So:
//! - an op must not read a register the op just before it writes, nor use `X` right after
//!   setting it (the assembler puts a `nop` between);
//! - a transfer of control that is taken (a jump, a taken branch, a call, a return, the
//!   dispatch) discards the two ops behind it: it costs 3 cycles;
//! - a memory read asked for by one op (`RdAcc`, `RdPar`, `RdLut`, the address being the
//!   op's result) is there for the next op to take, and stays until the next read; a product
//!   (`Mul`) likewise.
//!
//! Registers: `R[0..256]` (16 bits, some holding constants: [`program::Layout`]), the carry
//! `C`, the flag `F`, the index `X` (8 bits, added to the A address of an op marked `ax`), the
//! high half `H` of an accumulator write, the product `P` (32 bits) and one return address.

pub mod asm;
pub mod program;
pub mod run;

use crate::isa::{Instr, Op, binary};
use std::sync::OnceLock;

/// The assembled microcode (assembled once).
pub fn microcode() -> &'static program::Program {
    static PROGRAM: OnceLock<program::Program> = OnceLock::new();
    PROGRAM.get_or_init(program::assemble)
}

/// The micro-machine's cycles for the post-processing instruction `op`, from its start to its
/// `Done` (no value changes them: the microcode branches on fields only).
pub fn cycles(op: &Op) -> u64 {
    let p = microcode();
    let Ok(insn) = binary::encode_one(&Instr {
        deps: Default::default(),
        layer: 0,
        op: *op,
    }) else {
        return 0;
    };
    let mut m = run::Machine::new(&p.init);
    let (mut acc, par, lut) = ([0u32; 1], [0u32; 1], [0u32; 1]);
    m.run(
        &p.rom,
        |o| p.entry(o),
        &insn,
        32,
        &mut run::Memories {
            acc: &mut acc,
            par: &par,
            lut: &lut,
        },
    )
}

/// What the ALU computes from its operands `A` (a register) and `B` (a register or a source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `A + B + cin`, `C` the carry out.
    Add,
    /// `A + !B + cin` (`A - B` when `cin` is 1), `C` the carry out (1: no borrow).
    Sub,
    /// `A & B`.
    And,
    /// `A | B`.
    Or,
    /// `A ^ B`.
    Xor,
    /// `F ? A : B`, with `F` as it was before the op.
    Sel,
    /// `(A >> 8) | (B << 8)`: a 16-bit field that starts at an odd byte.
    Byte,
    /// `B`'s sign bit in all 16 bits.
    Sgn,
    /// Bit `B & 15` of `A`.
    Bit,
}

/// The carry into an `Add` or a `Sub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cin {
    /// 0.
    Zero,
    /// 1.
    One,
    /// The carry of the last `Add` or `Sub`.
    C,
    /// The flag.
    F,
}

/// How an op updates the flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// It keeps its value.
    Keep,
    /// The op's carry out.
    C,
    /// Whether the result is not zero.
    Nz,
    /// Whether it was set or the result is not zero.
    OrNz,
    /// The result's bit 15.
    Sign,
    /// The result's bit 0.
    Low,
}

/// Where the `B` operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// Register `b`.
    Reg,
    /// The accumulator read last asked for, its low or high 16 bits.
    AccLo,
    /// See [`Src::AccLo`].
    AccHi,
    /// The parameter word read last asked for.
    ParLo,
    /// See [`Src::ParLo`].
    ParHi,
    /// The table entry read last asked for.
    LutLo,
    /// See [`Src::LutLo`].
    LutHi,
    /// The last product.
    ProdLo,
    /// See [`Src::ProdLo`].
    ProdHi,
    /// Bytes `2 (b & 31)` and `2 (b & 31) + 1` of the instruction, little-endian.
    Insn,
    /// The accumulator width of the running mode (`config`'s `acc_bits`).
    AccBits,
}

/// What an op does besides its ALU result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Nothing.
    None,
    /// Ask for the accumulator at the result.
    RdAcc,
    /// Ask for the parameter word at the result.
    RdPar,
    /// Ask for the table entry at the result.
    RdLut,
    /// Write `H << 16 | B` to the accumulator at `A`.
    WrAcc,
    /// `X` takes the result's low 8 bits.
    SetX,
    /// `H` takes the result.
    SetH,
    /// `P` takes `A x B` (unsigned).
    Mul,
    /// Go to the target.
    Jmp,
    /// Go to the target if the flag (as this op leaves it) is set.
    Brf,
    /// Go to the target if the flag (as this op leaves it) is clear.
    Brnf,
    /// Go to the target, returning to the next op.
    Call,
    /// Return.
    Ret,
    /// The instruction is done.
    Done,
    /// Go to the routine of the instruction's opcode.
    Dispatch,
}

impl Act {
    /// Whether the op may transfer control (its target then takes the place of `b`, and its
    /// `B` operand is 0).
    pub fn transfers(self) -> bool {
        matches!(self, Act::Jmp | Act::Brf | Act::Brnf | Act::Call)
    }
}

/// One micro-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uop {
    /// The ALU operation.
    pub alu: Alu,
    /// The carry in.
    pub cin: Cin,
    /// The flag update.
    pub flag: Flag,
    /// Whether the result is written to `R[d]`.
    pub we: bool,
    /// Whether `X` is added to `a`.
    pub ax: bool,
    /// The A register.
    pub a: u8,
    /// The B register, or the instruction's 16-bit digit for [`Src::Insn`].
    pub b: u8,
    /// The B source.
    pub src: Src,
    /// The written register.
    pub d: u8,
    /// The action.
    pub act: Act,
    /// A transfer's target (9 bits, in place of `b`).
    pub target: u16,
}

/// Micro-ops the ROM holds (two 256-word block RAMs deep).
pub const ROM_WORDS: usize = 512;

impl Uop {
    /// An op that does nothing.
    pub const NOP: Uop = Uop {
        alu: Alu::Or,
        cin: Cin::Zero,
        flag: Flag::Keep,
        we: false,
        ax: false,
        a: 0,
        b: 0,
        src: Src::Reg,
        d: 0,
        act: Act::None,
        target: 0,
    };

    /// Whether the op reads register `r` (through either port).
    pub fn reads_reg(&self, r: u8) -> bool {
        (!self.ax && self.a == r) || (self.src == Src::Reg && !self.act.transfers() && self.b == r)
    }

    /// The op as the ROM holds it: 44 bits, laid out as `qw_ucode.sv` decodes them.
    pub fn encode(&self) -> u64 {
        let alu = self.alu as u64;
        let cin = self.cin as u64;
        let flag = self.flag as u64;
        let src = self.src as u64;
        let act = self.act as u64;
        let b = if self.act.transfers() {
            u64::from(self.target & 0xff)
        } else {
            u64::from(self.b)
        };
        let t8 = u64::from(self.act.transfers() && self.target & 0x100 != 0);
        alu | cin << 4
            | flag << 6
            | u64::from(self.we) << 9
            | u64::from(self.ax) << 10
            | u64::from(self.a) << 11
            | b << 19
            | u64::from(self.d) << 27
            | src << 35
            | act << 39
            | t8 << 43
    }
}
