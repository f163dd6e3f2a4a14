//! The micro-assembler: micro-ops with named labels, a `nop` wherever an op would read what
//! the op before it writes (the register file's read is a stage ahead of its write), and
//! multi-digit helpers that the microcode is written in.

use super::{Act, Alu, Cin, Flag, Src, Uop};
use std::collections::HashMap;

/// A register's address.
pub type Reg = u8;

/// A 16-bit digit an op writes or reads: a register, or a source of the `B` port.
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    /// Register.
    R(Reg),
    /// A source other than the register file (its `b` is the instruction digit for `Insn`).
    S(Src, u8),
}

/// The microcode being assembled.
#[derive(Default)]
pub struct Asm {
    code: Vec<Uop>,
    labels: HashMap<&'static str, u16>,
    fixups: Vec<(usize, &'static str)>,
}

/// One op under construction: `asm.op(...)` returns it, chained setters adjust it, and it is
/// emitted when dropped.
pub struct Op<'a> {
    asm: &'a mut Asm,
    uop: Uop,
    label: Option<&'static str>,
}

impl Op<'_> {
    /// Carry in.
    pub fn cin(mut self, cin: Cin) -> Self {
        self.uop.cin = cin;
        self
    }
    /// Flag update.
    pub fn flag(mut self, flag: Flag) -> Self {
        self.uop.flag = flag;
        self
    }
    /// `X` added to the A register.
    pub fn ax(mut self) -> Self {
        self.uop.ax = true;
        self
    }
    /// The action (not a transfer).
    pub fn act(mut self, act: Act) -> Self {
        assert!(!act.transfers(), "transfers take a label: use `to`");
        self.uop.act = act;
        self
    }
    /// A transfer to `label`.
    pub fn to(mut self, act: Act, label: &'static str) -> Self {
        assert!(act.transfers());
        assert!(
            self.uop.src == Src::Reg && self.uop.b == 0,
            "a transfer's target takes the place of b (its B reads as 0)"
        );
        self.uop.act = act;
        self.label = Some(label);
        self
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        let uop = self.uop;
        self.asm.push(uop, self.label);
    }
}

impl Asm {
    /// An ALU op `d = A op B` (`d` None: the result is not written).
    pub fn op(&mut self, alu: Alu, d: Option<Reg>, a: Reg, b: Operand) -> Op<'_> {
        let (src, b) = match b {
            Operand::R(r) => (Src::Reg, r),
            Operand::S(s, k) => (s, k),
        };
        let cin = if alu == Alu::Sub { Cin::One } else { Cin::Zero };
        Op {
            asm: self,
            uop: Uop {
                alu,
                cin,
                flag: Flag::Keep,
                we: d.is_some(),
                ax: false,
                a,
                b,
                src,
                d: d.unwrap_or(0),
                act: Act::None,
                target: 0,
            },
            label: None,
        }
    }

    /// A bare action or transfer (an op that computes nothing).
    pub fn bare(&mut self, act: Act) -> Op<'_> {
        let mut uop = Uop::NOP;
        uop.act = act;
        Op {
            asm: self,
            uop,
            label: None,
        }
    }

    /// `label` names the next op.
    pub fn label(&mut self, name: &'static str) {
        let at = self.code.len() as u16;
        assert!(self.labels.insert(name, at).is_none(), "label {name} twice");
    }

    fn push(&mut self, uop: Uop, label: Option<&'static str>) {
        if let Some(prev) = self.code.last() {
            let hazard = !matches!(prev.act, Act::Jmp | Act::Call | Act::Ret | Act::Done)
                && ((prev.we && uop.reads_reg(prev.d)) || (prev.act == Act::SetX && uop.ax));
            if hazard {
                self.code.push(Uop::NOP);
            }
        }
        if let Some(l) = label {
            self.fixups.push((self.code.len(), l));
        }
        self.code.push(uop);
    }

    /// The ops, with every label resolved.
    pub fn finish(mut self) -> Vec<Uop> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            self.code[at].target = *self.labels.get(l).unwrap_or_else(|| panic!("no label {l}"));
        }
        assert!(
            self.code.len() <= super::ROM_WORDS,
            "{} ops",
            self.code.len()
        );
        self.code
    }

    /// Where `label` is.
    pub fn at(&self, label: &str) -> u16 {
        self.labels[label]
    }
}
