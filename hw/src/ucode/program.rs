//! The microcode of the six post-processing instructions (`docs/isa.md`), in 16-bit digits.
//!
//! Values are kept as three digits (48-bit two's complement), which holds every intermediate
//! exactly: 32-bit accumulators and immediates, their differences, and a requantization's
//! quotient, which is first limited to 2^40 (any larger magnitude saturates the same way).
//! Every instruction ends its elements in [`tail`]: the output zero point added, the clamp to
//! the format's bounds (for the bipolar format to [-1, 0], then `2v + 1`), the write.
//! Branches depend only on the instruction's fields, never on data, so an instruction's
//! cycles follow from its fields.

use super::asm::{Asm, Operand, Reg};
use super::{Act, Alu, Cin, Flag, Src, Uop};
use qweave_ir::RoundingMode;

use Operand::{R, S};

/// The assembled microcode: the ROM, each opcode's routine, the register file's first image.
pub struct Program {
    /// The ROM.
    pub rom: Vec<Uop>,
    /// The routines of opcodes 4 (`requant`) to 9 (`pool`).
    pub entries: [u16; 6],
    /// The register file's initial contents (the constants).
    pub init: [u16; 256],
}

impl Program {
    /// The routine for `opcode`.
    pub fn entry(&self, opcode: u8) -> u16 {
        self.entries[usize::from(opcode.clamp(4, 9) - 4)]
    }
}

// ---- constants (never written) ----
const Z: Reg = 0;
const K1: Reg = 1;
const K2: Reg = 2;
const K3: Reg = 3;
const K4: Reg = 4;
const K8: Reg = 5;
const K15: Reg = 6;
const KFF: Reg = 7;
const K100: Reg = 8;
const K7FFF: Reg = 9;
const KFFFF: Reg = 10;
const K1000: Reg = 11;
const K8000: Reg = 12;
const KFF00: Reg = 13;
/// `2^k` for `k < 16`.
const POW: Reg = 16;
/// Each rounding mode's 16 decisions: bit `neg*8 + half*4 + rest*2 + q0` rounds the magnitude
/// up.
const RMASK: Reg = 32;

// ---- the product and its window ----
/// `W[-1]`, zero: the half digit of the window an `alu` product uses (`X` = 255).
const WM1: Reg = 48;
/// The product's digits `W[0..6]`; `W[6..9]` stay zero.
const W: Reg = 49;
const _: () = assert!(WM1 + 1 == W && ST - 1 > W + 8);
/// `S[k]`: the OR of `W[0..k]` (`S[-1]` and `S[0]` stay zero).
const ST: Reg = 61;

// ---- working registers: three-digit values ----
const V: Reg = 70;
const D: Reg = 73;
const SV: Reg = 76;
const AD: Reg = 79;
const MB: Reg = 82;
const N: Reg = 85;
const Q: Reg = 88;
const OZ: Reg = 91;
const LO: Reg = 94;
const HI: Reg = 97;
const ZIN: Reg = 100;
const DZP: Reg = 103;
const SZP: Reg = 106;
const T: Reg = 109;
// ---- single digits ----
const M: Reg = 112; // two
const NEG: Reg = 114;
const NEGM: Reg = 115;
const BIP: Reg = 116;
const RMODE: Reg = 117;
const E: Reg = 118;
const NZ: Reg = 119;
const NY: Reg = 120;
const NX: Reg = 121;
const NEL: Reg = 122;
const CNT: Reg = 123;
const PA: Reg = 124;
const PSTR: Reg = 125;
const SC: Reg = 126;
const SR: Reg = 127;
const SA: Reg = 128;
const SZS: Reg = 129;
const SYS: Reg = 130;
const SXS: Reg = 131;
const CY: Reg = 132;
const CX: Reg = 133;
const OPK: Reg = 134;
const SHF: Reg = 135;
const PW: Reg = 136;
const TMP: Reg = 137;
const TMP2: Reg = 138;
const I0: Reg = 139;
const I1: Reg = 140;
const I2: Reg = 141;
const I3: Reg = 142;
const FMT: Reg = 143;
const BITS: Reg = 144;
const KK: Reg = 145;
const PT: Reg = 146;
const LB: Reg = 147;
const MIN: Reg = 148;
const IW: Reg = 149;
const OH: Reg = 150;
const OW: Reg = 151;
const KH: Reg = 152;
const KW: Reg = 153;
const SW: Reg = 154;
const DW: Reg = 155;
const PL: Reg = 156;
const SHIW: Reg = 157;
const DHIW: Reg = 158;
const PB: Reg = 159;
const RB: Reg = 160;
const WB: Reg = 161;
const WA: Reg = 162;
const VA: Reg = 163;
const CKY: Reg = 164;
const CKX: Reg = 165;
const KIND: Reg = 166;
const TW: Reg = 167; // two
const MSK: Reg = 169; // two
const IH: Reg = 171;
const SHV: Reg = 172;
const DHV: Reg = 173;
const OK1: Reg = 174;
const OK2: Reg = 175;
const OK3: Reg = 192;
const NNEGM: Reg = 193;
/// Scratch for odd-placed instruction fields.
const FT: Reg = 176;

/// The decisions of `mode` (see [`RMASK`]).
fn rounding_mask(mode: RoundingMode) -> u16 {
    let mut mask = 0;
    for i in 0..16u16 {
        let (neg, half, rest, q0) = (i & 8 != 0, i & 4 != 0, i & 2 != 0, i & 1 != 0);
        let up = match mode {
            RoundingMode::HalfEven => half && (rest || q0),
            RoundingMode::HalfAway => half,
            RoundingMode::HalfTowardZero => half && rest,
            RoundingMode::HalfUp => half && (rest || !neg),
            RoundingMode::HalfDown => half && (rest || neg),
            RoundingMode::Floor => neg && (half || rest),
            RoundingMode::Ceil => !neg && (half || rest),
            RoundingMode::Away => half || rest,
            RoundingMode::TowardZero => false,
        };
        mask |= u16::from(up) << i;
    }
    mask
}

fn init() -> [u16; 256] {
    let mut r = [0u16; 256];
    for (reg, v) in [
        (K1, 1),
        (K2, 2),
        (K3, 3),
        (K4, 4),
        (K8, 8),
        (K15, 15),
        (KFF, 0xff),
        (K100, 0x100),
        (K7FFF, 0x7fff),
        (KFFFF, 0xffff),
        (K1000, 0x1000),
        (K8000, 0x8000),
        (KFF00, 0xff00),
    ] {
        r[usize::from(reg)] = v;
    }
    for k in 0..16 {
        r[usize::from(POW) + k] = 1 << k;
    }
    for (i, m) in RoundingMode::ALL.into_iter().enumerate() {
        r[usize::from(RMASK) + i] = rounding_mask(m);
    }
    r
}

/// An instruction field's kind: 16 bits, a byte, a 32-bit immediate sign-extended to three
/// digits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fld {
    F16,
    F8,
    I32,
}
use Fld::{F8, F16, I32};

/// The assembler with the helpers the routines are written in.
struct Code(Asm);

impl Code {
    fn alu(&mut self, alu: Alu, d: Option<Reg>, a: Reg, b: Operand) -> super::asm::Op<'_> {
        self.0.op(alu, d, a, b)
    }
    fn mov(&mut self, d: Reg, b: Operand) -> super::asm::Op<'_> {
        self.0.op(Alu::Or, Some(d), Z, b)
    }
    /// The flag from `r`: set when it is not zero.
    fn test(&mut self, r: Reg) -> super::asm::Op<'_> {
        self.0.op(Alu::Or, None, r, R(Z)).flag(Flag::Nz)
    }
    /// To `l` if `r` is not zero (`Brf`) or is zero (`Brnf`): one op.
    fn branch(&mut self, act: Act, r: Reg, l: &'static str) {
        self.test(r).to(act, l);
    }
    fn label(&mut self, l: &'static str) {
        self.0.label(l);
    }
    fn jump(&mut self, act: Act, l: &'static str) {
        self.0.bare(act).to(act, l);
    }
    fn bare(&mut self, act: Act) {
        self.0.bare(act);
    }
    /// Loads instruction fields: the odd-placed digits into scratch registers first, so no
    /// op waits on the one before it.
    fn fields(&mut self, fields: &[(Fld, Reg, usize)]) {
        // each 16-bit piece: (register, byte offset)
        let mut pieces = Vec::new();
        for &(kind, d, off) in fields {
            pieces.push((d, off));
            if kind == I32 {
                pieces.push((d + 1, off + 2));
            }
        }
        let odd: Vec<(Reg, usize)> = pieces.iter().copied().filter(|p| p.1 % 2 == 1).collect();
        assert!(odd.len() <= 16, "too many odd fields at once");
        for (i, &(_, off)) in odd.iter().enumerate() {
            self.mov(FT + i as u8, S(Src::Insn, (off / 2) as u8));
        }
        for &(d, off) in pieces.iter().filter(|p| p.1 % 2 == 0) {
            self.mov(d, S(Src::Insn, (off / 2) as u8));
        }
        for (i, &(d, off)) in odd.iter().enumerate() {
            let byte = fields.iter().any(|f| f.0 == F8 && f.1 == d);
            let next = if byte {
                R(Z)
            } else {
                S(Src::Insn, (off / 2 + 1) as u8)
            };
            self.alu(Alu::Byte, Some(d), FT + i as u8, next);
        }
        for &(kind, d, off) in fields {
            match kind {
                F8 if off % 2 == 0 => {
                    self.alu(Alu::And, Some(d), d, R(KFF));
                }
                I32 => {
                    self.alu(Alu::Sgn, Some(d + 2), Z, R(d + 1));
                }
                _ => {}
            }
        }
    }
    /// [`Code::fields`] after the first accumulator and the `z`, `y` and `x` that `requant`,
    /// `clamp`, `lut` and `thresh` all keep at bytes 4 to 13 (into `E`, `NZ`, `NY`, `NX`).
    fn block_fields(&mut self, rest: &[(Fld, Reg, usize)]) {
        let mut all = vec![(F16, E, 4), (F16, NZ, 8), (F16, NY, 10), (F16, NX, 12)];
        all.extend_from_slice(rest);
        self.fields(&all);
    }
    /// `d = acc[addr]`, sign-extended to three digits.
    fn ld3(&mut self, d: Reg, addr: Reg) {
        self.alu(Alu::Or, None, addr, R(Z)).act(Act::RdAcc);
        self.mov(d, S(Src::AccLo, 0));
        self.mov(d + 1, S(Src::AccHi, 0));
        self.alu(Alu::Sgn, Some(d + 2), Z, S(Src::AccHi, 0));
    }
    /// `d = a op b` over three digits, the carry chained (`b` None: zero).
    fn chain(&mut self, alu: Alu, d: Option<Reg>, a: Reg, b: Option<Reg>, first: Cin) {
        for i in 0..3 {
            // (Z is one register: zero in every digit)
            let a = if a == Z { Z } else { a + i };
            let op = self.alu(alu, d.map(|d| d + i), a, R(b.map_or(Z, |b| b + i)));
            let op = op.cin(if i == 0 { first } else { Cin::C });
            if i == 2 && d.is_none() {
                op.flag(Flag::Sign);
            }
        }
    }
    fn add3(&mut self, d: Reg, a: Reg, b: Reg) {
        self.chain(Alu::Add, Some(d), a, Some(b), Cin::Zero);
    }
    fn sub3(&mut self, d: Reg, a: Reg, b: Reg) {
        self.chain(Alu::Sub, Some(d), a, Some(b), Cin::One);
    }
    /// The flag: `a < b` (three digits, no overflow).
    fn lt3(&mut self, a: Reg, b: Reg) {
        self.chain(Alu::Sub, None, a, Some(b), Cin::One);
    }
    /// `d = F ? a : b` over three digits.
    fn sel3(&mut self, d: Reg, a: Reg, b: Reg) {
        for i in 0..3 {
            self.alu(Alu::Sel, Some(d + i), a + i, R(b + i));
        }
    }
    /// `d = |a|` and the flag `a < 0` (three digits; `N` is scratch).
    fn abs3(&mut self, d: Reg, a: Reg) {
        self.alu(Alu::Or, None, a + 2, R(Z)).flag(Flag::Sign);
        for i in 0..3 {
            self.alu(Alu::Sub, Some(N + i), Z, R(a + i)).cin(if i == 0 {
                Cin::One
            } else {
                Cin::C
            });
        }
        self.sel3(d, N, a);
    }
    /// `d = 2^k` over three digits, by doubling `k` (a register, counted down) times.
    fn pow2(&mut self, d: Reg, k: Reg, skip: &'static str, lp: &'static str) {
        self.mov(d, R(K1));
        self.mov(d + 1, R(Z));
        self.mov(d + 2, R(Z));
        self.branch(Act::Brnf, k, skip);
        self.label(lp);
        self.add3(d, d, d);
        self.alu(Alu::Sub, Some(k), k, R(Z))
            .cin(Cin::Zero)
            .flag(Flag::Nz)
            .to(Act::Brf, lp);
        self.label(skip);
    }
    /// The subroutine: `LO`, `HI` and `BIP` for the format `FMT` and width `BITS`.
    fn bounds_routine(&mut self) {
        self.label("bounds");
        // 2^(bits - 1) for signed values, 2^bits otherwise
        self.test(FMT);
        self.alu(Alu::Add, Some(KK), BITS, R(KFFFF)).cin(Cin::F);
        self.pow2(T, KK, "bounds_pow_end", "bounds_pow");
        self.chain(Alu::Sub, Some(HI), T, None, Cin::Zero);
        self.chain(Alu::Sub, Some(N), Z, Some(T), Cin::One);
        self.test(FMT);
        for i in 0..3 {
            self.alu(Alu::Sel, Some(LO + i), Z, R(N + i));
        }
        // bipolar: v clamped to [-1, 0], then 2v + 1 (in the tail)
        self.alu(Alu::Sub, None, FMT, R(K2)).flag(Flag::Nz);
        self.alu(Alu::Sel, Some(BIP), Z, R(KFFFF));
        for i in 0..3 {
            self.alu(Alu::Sel, Some(LO + i), LO + i, R(KFFFF));
            self.alu(Alu::Sel, Some(HI + i), HI + i, R(Z));
        }
        self.bare(Act::Ret);
    }
    /// No output offset and no bipolar step.
    fn no_offset(&mut self) {
        self.mov(BIP, R(Z));
        for i in 0..3 {
            self.mov(OZ + i, R(Z));
        }
    }
    /// `NEL = NY x NX`; to `fin` when `NZ` or `NEL` is zero.
    fn extent(&mut self, fin: &'static str) {
        self.alu(Alu::Or, None, NY, R(NX)).act(Act::Mul);
        self.mov(NEL, S(Src::ProdLo, 0));
        self.branch(Act::Brnf, NZ, fin);
        self.branch(Act::Brnf, NEL, fin);
    }
    /// A call of the tail with the flag cleared (the call's ALU result is 0).
    fn call_tail(&mut self) {
        self.0
            .op(Alu::Or, None, Z, R(Z))
            .flag(Flag::Nz)
            .to(Act::Call, "tail");
    }
    /// `CNT -= 1`, back to `l` while it is not zero.
    fn count(&mut self, cnt: Reg, l: &'static str) {
        self.alu(Alu::Sub, Some(cnt), cnt, R(Z))
            .cin(Cin::Zero)
            .flag(Flag::Nz)
            .to(Act::Brf, l);
    }
}

/// Q = sat(Q + OZ + F) written to `acc[E]`, `E` advanced; returns. Callers enter with the
/// flag clear (their call clears it: `Code::call_tail`); `mulq` falls in with a negative
/// quotient's digits inverted and the flag set, so the carry completes its negation.
fn tail(c: &mut Code) {
    c.label("tail");
    c.chain(Alu::Add, Some(Q), Q, Some(OZ), Cin::F);
    c.lt3(Q, LO);
    c.sel3(Q, LO, Q);
    c.lt3(HI, Q);
    // (the top digit is not written)
    c.alu(Alu::Sel, Some(Q), HI, R(Q));
    c.alu(Alu::Sel, Some(Q + 1), HI + 1, R(Q + 1));
    // bipolar: clamped to [-1, 0] above, then 2q + 1
    c.alu(Alu::And, Some(N), Q, R(BIP));
    c.alu(Alu::And, Some(N + 1), Q + 1, R(BIP));
    c.test(BIP);
    c.alu(Alu::Add, Some(Q), Q, R(N)).cin(Cin::F);
    c.alu(Alu::Add, Some(Q + 1), Q + 1, R(N + 1))
        .cin(Cin::C)
        .act(Act::SetH);
    c.alu(Alu::Or, None, E, R(Q)).act(Act::WrAcc);
    c.alu(Alu::Add, Some(E), E, R(K1));
    c.bare(Act::Ret);
}

/// Q = ±round(AD x MB / 2^(16 (X + 1))) by the mode in RMODE, the sign NEG, the magnitude
/// limited to 2^40; then the tail.
fn mulq(c: &mut Code) {
    c.label("mulq");
    // the product, column by column: each partial added into W[k..k+3]
    let mut written = [false; 6];
    for k in 0..5u8 {
        for i in 0..3u8 {
            if k < i || k - i > 2 {
                continue;
            }
            let j = k - i;
            c.alu(Alu::Or, None, AD + i, R(MB + j)).act(Act::Mul);
            for (o, src, cin) in [
                (0, Src::ProdLo, Cin::Zero),
                (1, Src::ProdHi, Cin::C),
                (2, Src::Reg, Cin::C),
            ] {
                let at = usize::from(k) + o;
                if at > 5 {
                    continue;
                }
                let w = W + at as u8;
                let b = if src == Src::Reg { R(Z) } else { S(src, 0) };
                let a = if written[at] { w } else { Z };
                c.alu(Alu::Add, Some(w), a, b).cin(cin);
                written[at] = true;
            }
        }
    }
    // sticky digits
    c.alu(Alu::Or, Some(TMP), W + 1, R(W + 2));
    c.mov(ST + 1, R(W));
    c.alu(Alu::Or, Some(ST + 2), W, R(W + 1));
    c.alu(Alu::Or, Some(ST + 3), W, R(TMP));
    // the rounding decision's index: neg*8 + half*4 + rest*2 + q0
    c.alu(Alu::And, Some(TMP2), W, R(K7FFF)).ax();
    c.alu(Alu::And, Some(I0), NEG, R(K8));
    c.alu(Alu::Bit, None, W, R(K15)).ax().flag(Flag::Low);
    c.alu(Alu::Sel, Some(I1), K4, R(Z));
    c.alu(Alu::Or, None, ST, R(TMP2)).ax().flag(Flag::Nz);
    c.alu(Alu::Sel, Some(I2), K2, R(Z));
    // (the quotient's digits read between the index's steps, so that none waits)
    c.alu(Alu::Or, Some(Q), W + 1, R(Z)).ax();
    c.alu(Alu::Or, Some(I0), I0, R(I1));
    c.alu(Alu::Or, Some(Q + 1), W + 2, R(Z)).ax();
    c.alu(Alu::And, Some(I3), Q, R(K1));
    c.alu(Alu::Or, Some(I2), I2, R(I0));
    c.alu(Alu::Or, Some(Q + 2), W + 3, R(Z)).ax();
    c.alu(Alu::Or, Some(I0), I2, R(I3));
    c.alu(Alu::Bit, None, RMODE, R(I0)).flag(Flag::Low);
    c.chain(Alu::Add, Some(Q), Q, None, Cin::F);
    // beyond 2^40: a digit above the window, or the quotient's top digit past 0xff
    c.alu(Alu::Or, None, W + 4, R(Z)).ax().flag(Flag::Nz);
    c.alu(Alu::Or, None, W + 5, R(Z)).ax().flag(Flag::OrNz);
    c.alu(Alu::And, None, Q + 2, R(KFF00)).flag(Flag::OrNz);
    c.alu(Alu::Sel, Some(Q), Z, R(Q));
    c.alu(Alu::Sel, Some(Q + 1), Z, R(Q + 1));
    c.alu(Alu::Sel, Some(Q + 2), K100, R(Q + 2));
    // the sign: a negative quotient's digits inverted and the flag set, so that the tail's
    // first add completes the negation (the tail follows in the ROM)
    for i in 0..3 {
        c.alu(Alu::Xor, Some(Q + i), Q + i, R(NEG));
    }
    c.test(NEG);
}

/// The record at PA: MB = |mult| << (16 - shift % 16), NEGM its sign mask, X = shift / 16,
/// ZIN and OZ the zero points.
fn record(c: &mut Code) {
    c.label("record");
    // the shift first: X = 15 - shift % 16 picks 2^(15 - shift % 16) while the multiplier
    // arrives
    c.alu(Alu::Add, None, PA, R(K1)).act(Act::RdPar);
    c.mov(SHF, S(Src::ParLo, 0));
    c.alu(Alu::Or, None, PA, R(Z)).act(Act::RdPar);
    c.alu(Alu::And, Some(TMP), SHF, R(K15));
    c.mov(M, S(Src::ParLo, 0));
    c.mov(M + 1, S(Src::ParHi, 0)).flag(Flag::Sign);
    c.alu(Alu::Sub, None, K15, R(TMP)).act(Act::SetX);
    c.alu(Alu::Sel, Some(NEGM), KFFFF, R(Z));
    c.alu(Alu::Sel, Some(NNEGM), Z, R(KFFFF));
    c.alu(Alu::Or, Some(PW), POW, R(Z)).ax();
    c.alu(Alu::Sub, Some(N), Z, R(M));
    c.alu(Alu::Sub, Some(N + 1), Z, R(M + 1)).cin(Cin::C);
    c.alu(Alu::Sel, Some(M), N, R(M));
    c.alu(Alu::Sel, Some(M + 1), N + 1, R(M + 1));
    c.alu(Alu::Or, None, M, R(PW)).act(Act::Mul);
    c.mov(MB, S(Src::ProdLo, 0));
    c.mov(TMP, S(Src::ProdHi, 0));
    c.alu(Alu::Or, None, M + 1, R(PW)).act(Act::Mul);
    c.alu(Alu::Add, Some(MB + 1), TMP, S(Src::ProdLo, 0));
    c.alu(Alu::Add, Some(MB + 2), Z, S(Src::ProdHi, 0))
        .cin(Cin::C);
    c.add3(MB, MB, MB);
    c.alu(Alu::Or, None, SHF, R(K1000)).act(Act::Mul);
    c.mov(TMP, S(Src::ProdHi, 0)).act(Act::SetX);
    for (k, d) in [(K2, ZIN), (K3, OZ)] {
        c.alu(Alu::Add, None, PA, R(k)).act(Act::RdPar);
        c.mov(d, S(Src::ParLo, 0));
        c.mov(d + 1, S(Src::ParHi, 0));
        c.alu(Alu::Sgn, Some(d + 2), Z, S(Src::ParHi, 0));
    }
    c.bare(Act::Ret);
}

fn requant(c: &mut Code) {
    c.label("requant");
    c.block_fields(&[
        (F16, PA, 14),
        (F16, PSTR, 18),
        (F16, TMP, 20),
        (F8, FMT, 21),
        (F8, BITS, 22),
    ]);
    c.alu(Alu::And, None, TMP, R(KFF)).act(Act::SetX);
    c.jump(Act::Call, "bounds");
    c.extent("rq_fin");
    c.alu(Alu::Or, Some(RMODE), RMASK, R(Z)).ax();
    c.jump(Act::Call, "record");
    c.label("rq_chan");
    c.mov(CNT, R(NEL));
    c.label("rq_elem");
    c.ld3(V, E);
    c.sub3(D, V, ZIN);
    c.abs3(AD, D);
    c.alu(Alu::Sel, Some(NEG), NNEGM, R(NEGM));
    c.jump(Act::Call, "mulq");
    c.count(CNT, "rq_elem");
    c.alu(Alu::Add, Some(PA), PA, R(PSTR));
    c.alu(Alu::Sub, Some(NZ), NZ, R(K1)).flag(Flag::Nz);
    c.jump(Act::Brnf, "rq_fin");
    c.branch(Act::Brnf, PSTR, "rq_chan");
    c.jump(Act::Call, "record");
    c.jump(Act::Jmp, "rq_chan");
    c.label("rq_fin");
    c.bare(Act::Done);
}

fn clamp(c: &mut Code) {
    c.label("clamp");
    c.no_offset();
    c.block_fields(&[(I32, LO, 14), (I32, HI, 22)]);
    c.extent("cl_fin");
    c.label("cl_chan");
    c.mov(CNT, R(NEL));
    c.label("cl_elem");
    c.ld3(Q, E);
    c.call_tail();
    c.count(CNT, "cl_elem");
    c.count(NZ, "cl_chan");
    c.label("cl_fin");
    c.bare(Act::Done);
}

fn alu(c: &mut Code) {
    c.label("alu");
    c.fields(&[
        (F8, OPK, 4),
        (F16, E, 5),
        (F16, SC, 9),
        (F16, NZ, 13),
        (F16, NY, 15),
        (F16, NX, 17),
        (F16, SZS, 19),
        (F16, SYS, 23),
        (F16, SXS, 27),
        (F8, FMT, 55),
        (F8, BITS, 56),
    ]);
    c.fields(&[(I32, DZP, 31), (I32, SZP, 39), (I32, OZ, 47)]);
    c.jump(Act::Call, "bounds");
    for (k, r) in [(K1, OK1), (K2, OK2), (K3, OK3)] {
        c.alu(Alu::Xor, Some(r), OPK, R(k));
    }
    // (a product has no bits below its window, and every mode keeps such a quotient)
    c.alu(Alu::Or, None, KFF, R(Z)).act(Act::SetX);
    c.extent("al_fin");
    c.label("al_chan");
    c.mov(SR, R(SC));
    c.mov(CY, R(NY));
    c.label("al_row");
    c.mov(SA, R(SR));
    c.mov(CX, R(NX));
    c.label("al_elem");
    c.ld3(V, E);
    c.sub3(D, V, DZP);
    c.ld3(V, SA);
    c.sub3(SV, V, SZP);
    c.branch(Act::Brnf, OK1, "al_mul");
    c.branch(Act::Brnf, OK2, "al_max");
    c.branch(Act::Brnf, OK3, "al_min");
    c.add3(Q, D, SV);
    c.jump(Act::Jmp, "al_write");
    c.label("al_min");
    // min(d, s): s when s < d
    c.lt3(SV, D);
    c.jump(Act::Jmp, "al_pick");
    c.label("al_max");
    // max(d, s): s when d < s
    c.lt3(D, SV);
    c.label("al_pick");
    c.sel3(Q, SV, D);
    c.label("al_write");
    c.call_tail();
    c.jump(Act::Jmp, "al_next");
    c.label("al_mul");
    c.abs3(AD, D);
    c.alu(Alu::Sel, Some(NEG), KFFFF, R(Z));
    c.abs3(MB, SV);
    c.alu(Alu::Sel, Some(TMP), KFFFF, R(Z));
    c.alu(Alu::Xor, Some(NEG), NEG, R(TMP));
    c.jump(Act::Call, "mulq");
    c.label("al_next");
    c.alu(Alu::Add, Some(SA), SA, R(SXS));
    c.count(CX, "al_elem");
    c.alu(Alu::Add, Some(SR), SR, R(SYS));
    c.count(CY, "al_row");
    c.alu(Alu::Add, Some(SC), SC, R(SZS));
    c.count(NZ, "al_chan");
    c.label("al_fin");
    c.bare(Act::Done);
}

fn lut(c: &mut Code) {
    c.label("lut");
    c.block_fields(&[(F16, LB, 14), (F16, MIN, 22)]);
    c.extent("lu_fin");
    c.alu(Alu::Sub, Some(LB), LB, R(MIN));
    c.label("lu_chan");
    c.mov(CNT, R(NEL));
    c.label("lu_elem");
    c.alu(Alu::Or, None, E, R(Z)).act(Act::RdAcc);
    c.alu(Alu::Add, None, LB, S(Src::AccLo, 0)).act(Act::RdLut);
    c.mov(TMP, S(Src::LutHi, 0)).act(Act::SetH);
    c.alu(Alu::Or, None, E, S(Src::LutLo, 0)).act(Act::WrAcc);
    c.alu(Alu::Add, Some(E), E, R(K1));
    c.count(CNT, "lu_elem");
    c.count(NZ, "lu_chan");
    c.label("lu_fin");
    c.bare(Act::Done);
}

fn thresh(c: &mut Code) {
    c.label("thresh");
    c.block_fields(&[
        (F16, PA, 14),
        (F16, I3, 18),
        (F16, PSTR, 20),
        (I32, OZ, 24),
        (F8, FMT, 32),
        (F8, BITS, 33),
    ]);
    c.jump(Act::Call, "bounds");
    c.extent("th_fin");
    c.label("th_chan");
    c.mov(CNT, R(NEL));
    c.label("th_elem");
    c.ld3(V, E);
    c.mov(Q, R(Z));
    c.mov(Q + 1, R(Z));
    c.mov(Q + 2, R(Z));
    c.mov(PT, R(PA));
    c.mov(KK, R(I3));
    c.branch(Act::Brnf, I3, "th_done");
    c.label("th_one");
    c.alu(Alu::Or, None, PT, R(Z)).act(Act::RdPar);
    c.mov(T, S(Src::ParLo, 0));
    c.mov(T + 1, S(Src::ParHi, 0));
    c.alu(Alu::Sgn, Some(T + 2), Z, S(Src::ParHi, 0));
    // the flag: T - V - 1 < 0, that is T <= V
    c.chain(Alu::Sub, None, T, Some(V), Cin::Zero);
    c.alu(Alu::Add, Some(Q), Q, R(Z)).cin(Cin::F);
    c.alu(Alu::Add, Some(PT), PT, R(K1));
    c.count(KK, "th_one");
    c.label("th_done");
    c.call_tail();
    c.count(CNT, "th_elem");
    c.alu(Alu::Add, Some(PA), PA, R(PSTR));
    c.count(NZ, "th_chan");
    c.label("th_fin");
    c.bare(Act::Done);
}

fn pool(c: &mut Code) {
    c.label("pool");
    c.fields(&[
        (F8, KIND, 4),
        (F16, PB, 5),
        (F16, E, 9),
        (F16, NZ, 13),
        (F16, IH, 15),
        (F16, IW, 17),
        (F16, OH, 19),
        (F16, OW, 21),
        (F8, KH, 23),
        (F8, KW, 24),
        (F8, SHV, 25),
        (F8, SW, 26),
        (F8, DHV, 27),
        (F8, DW, 28),
    ]);
    c.alu(Alu::Or, None, IH, R(IW)).act(Act::Mul);
    c.mov(PL, S(Src::ProdLo, 0));
    c.alu(Alu::Or, None, SHV, R(IW)).act(Act::Mul);
    c.mov(SHIW, S(Src::ProdLo, 0));
    c.alu(Alu::Or, None, DHV, R(IW)).act(Act::Mul);
    c.mov(DHIW, S(Src::ProdLo, 0));
    // a sum wraps at the mode's accumulator width b (16 to 32): ((s + 2^(b-1)) & (2^b - 1))
    // - 2^(b-1), with 2^(b-1) = TW (POW[(b-1) % 16] in digit (b-1) / 16) and 2^b - 1 = MSK;
    // the bounds' moves fill the gaps between dependent ops
    c.alu(Alu::Add, Some(KK), KFFFF, S(Src::AccBits, 0));
    c.mov(LO, R(Z));
    c.alu(Alu::And, Some(TMP), KK, R(K15));
    c.mov(LO + 1, R(Z));
    c.alu(Alu::Or, None, TMP, R(Z)).act(Act::SetX);
    c.alu(Alu::Bit, None, KK, R(K4)).flag(Flag::Low);
    c.alu(Alu::Or, Some(PW), POW, R(Z)).ax();
    c.mov(LO + 2, R(KFFFF));
    c.alu(Alu::Sel, Some(TW), Z, R(PW));
    c.alu(Alu::Sel, Some(TW + 1), PW, R(Z));
    c.alu(Alu::Add, Some(N), TW, R(TW));
    c.alu(Alu::Add, Some(N + 1), TW + 1, R(TW + 1)).cin(Cin::C);
    c.alu(Alu::Sub, Some(MSK), N, R(K1));
    c.alu(Alu::Sub, Some(MSK + 1), N + 1, R(Z)).cin(Cin::C);
    c.mov(HI, R(KFFFF));
    c.mov(HI + 1, R(KFFFF));
    c.mov(HI + 2, R(Z));
    c.no_offset();
    c.branch(Act::Brnf, NZ, "po_fin");
    c.branch(Act::Brnf, OH, "po_fin");
    c.branch(Act::Brnf, OW, "po_fin");
    c.label("po_chan");
    c.mov(RB, R(PB));
    c.mov(CY, R(OH));
    c.label("po_row");
    c.mov(WB, R(RB));
    c.mov(CX, R(OW));
    c.label("po_out");
    // the running result: -2^32, below every value (max), or 0 (sum)
    c.test(KIND);
    c.alu(Alu::Sel, Some(Q + 2), Z, R(KFFFF));
    c.mov(Q, R(Z));
    c.mov(Q + 1, R(Z));
    c.mov(WA, R(WB));
    c.mov(CKY, R(KH));
    c.label("po_wrow");
    c.mov(VA, R(WA));
    c.mov(CKX, R(KW));
    c.label("po_val");
    c.ld3(V, VA);
    c.branch(Act::Brf, KIND, "po_sum");
    c.lt3(Q, V);
    c.sel3(Q, V, Q);
    c.jump(Act::Jmp, "po_step");
    c.label("po_sum");
    c.alu(Alu::Add, Some(Q), Q, R(V));
    c.alu(Alu::Add, Some(Q + 1), Q + 1, R(V + 1)).cin(Cin::C);
    c.label("po_step");
    c.alu(Alu::Add, Some(VA), VA, R(DW));
    c.count(CKX, "po_val");
    c.alu(Alu::Add, Some(WA), WA, R(DHIW));
    c.count(CKY, "po_wrow");
    c.branch(Act::Brnf, KIND, "po_write");
    c.alu(Alu::Add, Some(Q), Q, R(TW));
    c.alu(Alu::Add, Some(Q + 1), Q + 1, R(TW + 1)).cin(Cin::C);
    c.alu(Alu::And, Some(Q), Q, R(MSK));
    c.alu(Alu::And, Some(Q + 1), Q + 1, R(MSK + 1));
    c.mov(Q + 2, R(Z));
    c.alu(Alu::Sub, Some(Q), Q, R(TW));
    c.alu(Alu::Sub, Some(Q + 1), Q + 1, R(TW + 1)).cin(Cin::C);
    c.alu(Alu::Sub, Some(Q + 2), Q + 2, R(Z)).cin(Cin::C);
    c.label("po_write");
    c.call_tail();
    c.alu(Alu::Add, Some(WB), WB, R(SW));
    c.count(CX, "po_out");
    c.alu(Alu::Add, Some(RB), RB, R(SHIW));
    c.count(CY, "po_row");
    c.alu(Alu::Add, Some(PB), PB, R(PL));
    c.count(NZ, "po_chan");
    c.label("po_fin");
    c.bare(Act::Done);
}

/// Assembles the microcode.
pub fn assemble() -> Program {
    let mut c = Code(Asm::default());
    c.bare(Act::Dispatch);
    mulq(&mut c);
    tail(&mut c);
    c.bounds_routine();
    record(&mut c);
    requant(&mut c);
    clamp(&mut c);
    alu(&mut c);
    lut(&mut c);
    thresh(&mut c);
    pool(&mut c);
    let entries = ["requant", "clamp", "alu", "lut", "thresh", "pool"].map(|l| c.0.at(l));
    Program {
        rom: c.0.finish(),
        entries,
        init: init(),
    }
}
