//! The micro-machine, run exactly: each op's effect and the cycles the pipeline takes, from the
//! instruction's start to its `Done`. The hardware (`qw_ucode.sv`) runs the same ROM.

use super::{Act, Alu, Cin, Flag, Src, Uop};

/// The micro-machine's state that outlives an instruction (the register file; the other
/// registers are set before they are read by every routine).
#[derive(Clone)]
pub struct Machine {
    /// The register file.
    pub r: [u16; 256],
    /// When set, each op as it runs: its address, ALU operation, operands, result, written
    /// register and flags (for finding where microcode goes wrong).
    pub trace: Option<Vec<String>>,
}

/// The memories post-processing reads and writes, as 32-bit words (addresses wrap at their
/// sizes, as the hardware's do).
pub struct Memories<'m> {
    /// The accumulators.
    pub acc: &'m mut [u32],
    /// The parameter words.
    pub par: &'m [u32],
    /// The activation table.
    pub lut: &'m [u32],
}

/// Cycles from `go` to the first op's execution (the ROM and register file reads).
pub const FILL: u64 = 2;
/// Cycles a taken transfer adds (the two ops behind it are discarded).
pub const TAKEN: u64 = 2;
/// Ops an instruction may run before the interpreter calls it a runaway.
const LIMIT: u64 = 1 << 32;

impl Machine {
    /// A machine with the register file as the ROM's image sets it.
    pub fn new(init: &[u16; 256]) -> Machine {
        Machine {
            r: *init,
            trace: None,
        }
    }

    /// Runs the microcode `rom` (whose `dispatch` gives each opcode's routine) on the 64-byte
    /// instruction `insn`; returns the cycles it takes.
    pub fn run(
        &mut self,
        rom: &[Uop],
        dispatch: impl Fn(u8) -> u16,
        insn: &[u8; 64],
        acc_bits: u8,
        mem: &mut Memories<'_>,
    ) -> u64 {
        let (mut c, mut f) = (false, false);
        let (mut x, mut h, mut p, mut ret) = (0u8, 0u16, 0u32, 0u16);
        let (mut acc_ra, mut par_ra, mut lut_ra) = (0usize, 0usize, 0usize);
        let mut pc = 0u16;
        let mut cycles = FILL;
        loop {
            assert!(cycles < LIMIT, "microcode runs away at {pc}");
            let u = rom[usize::from(pc)];
            cycles += 1;
            pc += 1;
            let a = self.r[usize::from(u.a.wrapping_add(if u.ax { x } else { 0 }))];
            let word = |m: &[u32], at: usize| m[at % m.len()];
            let b = match u.src {
                Src::Reg if u.act.transfers() => 0,
                Src::Reg => self.r[usize::from(u.b)],
                Src::AccLo => word(mem.acc, acc_ra) as u16,
                Src::AccHi => (word(mem.acc, acc_ra) >> 16) as u16,
                Src::ParLo => word(mem.par, par_ra) as u16,
                Src::ParHi => (word(mem.par, par_ra) >> 16) as u16,
                Src::LutLo => word(mem.lut, lut_ra) as u16,
                Src::LutHi => (word(mem.lut, lut_ra) >> 16) as u16,
                Src::ProdLo => p as u16,
                Src::ProdHi => (p >> 16) as u16,
                Src::Insn => {
                    let k = 2 * usize::from(u.b & 31);
                    u16::from_le_bytes([insn[k], insn[k + 1]])
                }
                Src::AccBits => u16::from(acc_bits),
            };
            let carry_in = u32::from(match u.cin {
                Cin::Zero => false,
                Cin::One => true,
                Cin::C => c,
                Cin::F => f,
            });
            let mut carry = c;
            let r = match u.alu {
                Alu::Add | Alu::Sub => {
                    let b = if u.alu == Alu::Sub { !b } else { b };
                    let s = u32::from(a) + u32::from(b) + carry_in;
                    carry = s > 0xffff;
                    s as u16
                }
                Alu::And => a & b,
                Alu::Or => a | b,
                Alu::Xor => a ^ b,
                Alu::Sel => {
                    if f {
                        a
                    } else {
                        b
                    }
                }
                Alu::Byte => (a >> 8) | (b << 8),
                Alu::Sgn => {
                    if b & 0x8000 != 0 {
                        0xffff
                    } else {
                        0
                    }
                }
                Alu::Bit => (a >> (b & 15)) & 1,
            };
            f = match u.flag {
                Flag::Keep => f,
                Flag::C => carry,
                Flag::Nz => r != 0,
                Flag::OrNz => f || r != 0,
                Flag::Sign => r & 0x8000 != 0,
                Flag::Low => r & 1 != 0,
            };
            c = carry;
            if u.we {
                self.r[usize::from(u.d)] = r;
            }
            if let Some(t) = &mut self.trace {
                t.push(format!(
                    "{:3} {:?} a={a:#x} b={b:#x} r={r:#x} d={} f={f} c={c}",
                    pc - 1,
                    u.alu,
                    u.d
                ));
            }
            let go = |to: u16, pc: &mut u16, cycles: &mut u64| {
                *pc = to;
                *cycles += TAKEN;
            };
            match u.act {
                Act::None => {}
                Act::RdAcc => acc_ra = usize::from(r),
                Act::RdPar => par_ra = usize::from(r),
                Act::RdLut => lut_ra = usize::from(r),
                Act::WrAcc => {
                    let n = mem.acc.len();
                    mem.acc[usize::from(a) % n] = u32::from(h) << 16 | u32::from(b);
                }
                Act::SetX => x = r as u8,
                Act::SetH => h = r,
                Act::Mul => p = u32::from(a) * u32::from(b),
                Act::Jmp => go(u.target, &mut pc, &mut cycles),
                Act::Brf if f => go(u.target, &mut pc, &mut cycles),
                Act::Brnf if !f => go(u.target, &mut pc, &mut cycles),
                Act::Brf | Act::Brnf => {}
                Act::Call => {
                    ret = pc;
                    go(u.target, &mut pc, &mut cycles);
                }
                Act::Ret => go(ret, &mut pc, &mut cycles),
                Act::Done => return cycles,
                Act::Dispatch => go(dispatch(insn[0]), &mut pc, &mut cycles),
            }
        }
    }
}
