//! The accelerator's instruction set: what each instruction holds, which queue runs it, and
//! the dependency tokens between the queues. `docs/isa.md` specifies every field and effect;
//! [`binary`] and [`text`] are its two round-tripping forms.

pub mod binary;
pub(crate) mod fields;
pub mod packing;
pub mod text;

pub use fields::{Field, Kind, Visitor};
use fields::{field_enum, operands};
use qweave_ir::RoundingMode;

/// A malformed instruction or program.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IsaError {
    /// A field value outside its field's range.
    #[error("field '{field}' cannot hold {value}")]
    Range {
        /// The field.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A binary instruction that does not decode.
    #[error("instruction {index}: {message}")]
    Binary {
        /// The instruction's index in the program.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A program file that is not one.
    #[error("not a qweave program: {0}")]
    Container(String),
    /// A text line that does not assemble.
    #[error("line {line}: {message}")]
    Text {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A `config` with tokens (it runs on two queues, so its tokens would be ambiguous).
    #[error("config runs on both the load and the compute queue and carries no tokens")]
    ConfigTokens,
    /// Dependency flags that name a queue the instruction's queue does not border.
    #[error("{op} runs on the {queue} queue, which has no {side} neighbour to {verb}")]
    Deps {
        /// The mnemonic.
        op: &'static str,
        /// Its queue.
        queue: &'static str,
        /// `prev` or `next`.
        side: &'static str,
        /// `pop` or `push`.
        verb: &'static str,
    },
}

field_enum! {
    /// An on-chip memory.
    Buf {
        /// The input ping-pong buffer (activations for the array).
        Inp = "inp",
        /// The weight buffer.
        Wgt = "wgt",
        /// The accumulator memory.
        Acc = "acc",
        /// The parameter memory of the post-processing unit.
        Par = "par",
        /// The activation table of the post-processing unit.
        Lut = "lut",
    }
}

field_enum! {
    /// How integers are stored in DRAM or read by the array.
    Format {
        /// Two's complement.
        Signed = "signed",
        /// Unsigned.
        Unsigned = "unsigned",
        /// One bit per value: 1 is +1, 0 is -1.
        Bipolar = "bipolar",
    }
}

field_enum! {
    /// How a PE computes its products (`docs/hw.md`, "How products are computed").
    Pack {
        /// Bit Fusion bricks in LUTs.
        Bricks = "bricks",
        /// XNOR-popcount of ±1 operands, in LUTs.
        Xnor = "xnor",
        /// Products packed into a DSP block, one per lane.
        Kernel = "kernel",
        /// Taps times neighbouring pixels packed into a DSP block as a polynomial product.
        Filter = "filter",
    }
}

field_enum! {
    /// A port of a DSP block's multiplier.
    MulPort {
        /// The wide port (27 bits on the DSP48E2).
        A = "a",
        /// The narrow port.
        B = "b",
    }
}

field_enum! {
    /// A binary operation of the post-processing unit.
    AluOp {
        /// Sum.
        Add = "add",
        /// Product.
        Mul = "mul",
        /// Larger.
        Max = "max",
        /// Smaller.
        Min = "min",
    }
}

field_enum! {
    /// A pooling window's reduction.
    PoolKind {
        /// The largest value.
        Max = "max",
        /// The sum (wrapping at the configured accumulator width).
        Sum = "sum",
    }
}

operands! {
    /// `config`: the array's precision mode for the instructions after it.
    Config {
        /// Weight bits of the mode.
        w: u8,
        /// Activation bits of the mode.
        a: u8,
        /// How the array reads weights.
        wfmt: Format,
        /// How the array reads activations.
        afmt: Format,
        /// Width at which `gemm` and sum pooling wrap their sums.
        acc_bits: u8,
        /// How each PE computes its products in this mode.
        pack: Pack,
        /// Weights in one packed multiply (`kernel` and `filter`; else 0).
        kp: u8,
        /// Activations in one packed multiply (`kernel` and `filter`; else 0).
        np: u8,
        /// Bits of each packed lane below the top one (`kernel` and `filter`; else 0).
        lane: u8,
        /// The multiplier port the packed weights take; the activations take the other.
        wport: MulPort,
    }
}

operands! {
    /// `load`: a strided block of DRAM values into a buffer, with padding.
    Load {
        /// The buffer written.
        buf: Buf,
        /// The format of the DRAM values.
        fmt: Format,
        /// Bits per DRAM value.
        bits: u8,
        /// Rows of `fill` above each plane.
        pad_top: u8,
        /// Rows of `fill` below each plane.
        pad_bottom: u8,
        /// Columns of `fill` left of each row.
        pad_left: u8,
        /// Columns of `fill` right of each row.
        pad_right: u8,
        /// First buffer entry written.
        sram: u32,
        /// Byte address of the first DRAM value.
        dram: u32,
        /// Planes.
        z: u16,
        /// Rows per plane.
        y: u16,
        /// Values per row.
        x: u16,
        /// DRAM values between planes.
        zs: u32,
        /// DRAM values between rows.
        ys: u32,
        /// DRAM values between values of a row.
        xs: u32,
        /// Subtracted from every DRAM value (a zero point).
        offset: i64,
        /// Written at padded positions.
        fill: i64,
        /// Bit of the `dram` byte where the first value starts (0 to 7).
        bit: u8,
    }
}

operands! {
    /// `gemm`: convolution of an input tile with weights into accumulators.
    Gemm {
        /// First input entry: `groups * cin` planes of `ih x iw`.
        inp: u32,
        /// First weight entry: `groups * m` filters of `cin x kh x kw`.
        wgt: u32,
        /// First accumulator: `groups * m` planes of `oh x ow`.
        acc: u32,
        /// Groups (each its own input planes, filters and outputs).
        groups: u16,
        /// Input planes per group.
        cin: u16,
        /// Input tile rows.
        ih: u16,
        /// Input tile columns.
        iw: u16,
        /// Filters per group.
        m: u16,
        /// Output rows.
        oh: u16,
        /// Output columns.
        ow: u16,
        /// Kernel rows.
        kh: u8,
        /// Kernel columns.
        kw: u8,
        /// Vertical stride.
        sh: u8,
        /// Horizontal stride.
        sw: u8,
        /// Vertical dilation.
        dh: u8,
        /// Horizontal dilation.
        dw: u8,
        /// Start the sums from 0 instead of the accumulators' values.
        reset: bool,
    }
}

operands! {
    /// `requant`: per-channel multiply, rounding shift and saturation of accumulators.
    Requant {
        /// First accumulator: `z` channels of `y x x`.
        acc: u32,
        /// Channels.
        z: u16,
        /// Rows per channel.
        y: u16,
        /// Values per row.
        x: u16,
        /// First parameter record (multiplier, shift, input zero point, output zero point).
        par: u32,
        /// Parameter words between channels' records (0: one record for all).
        pstride: u16,
        /// Rounding of the shift.
        rounding: RoundingMode,
        /// Format saturated to.
        ofmt: Format,
        /// Bits saturated to.
        obits: u8,
    }
}

operands! {
    /// `clamp`: accumulators clamped to `[lo, hi]`.
    Clamp {
        /// First accumulator.
        acc: u32,
        /// Channels.
        z: u16,
        /// Rows per channel.
        y: u16,
        /// Values per row.
        x: u16,
        /// Lower bound.
        lo: i64,
        /// Upper bound.
        hi: i64,
    }
}

operands! {
    /// `alu`: an element-wise binary operation of two accumulator blocks, saturated.
    Alu {
        /// The operation.
        op: AluOp,
        /// First accumulator of the destination and left operand (dense `z x y x x`).
        dst: u32,
        /// First accumulator of the right operand.
        src: u32,
        /// Channels.
        z: u16,
        /// Rows per channel.
        y: u16,
        /// Values per row.
        x: u16,
        /// Right operand entries between channels (0 broadcasts).
        szs: u32,
        /// Right operand entries between rows.
        sys: u32,
        /// Right operand entries between values.
        sxs: u32,
        /// Subtracted from the left operand.
        dzp: i64,
        /// Subtracted from the right operand.
        szp: i64,
        /// Added to the result before saturation.
        ozp: i64,
        /// Format saturated to.
        ofmt: Format,
        /// Bits saturated to.
        obits: u8,
    }
}

operands! {
    /// `lut`: accumulators replaced by activation-table entries.
    Lut {
        /// First accumulator.
        acc: u32,
        /// Channels.
        z: u16,
        /// Rows per channel.
        y: u16,
        /// Values per row.
        x: u16,
        /// First table entry.
        lut: u32,
        /// Table entries.
        entries: u32,
        /// The value that reads the first entry.
        min: i64,
    }
}

operands! {
    /// `thresh`: each accumulator becomes a bias plus the count of its channel's thresholds
    /// it reaches, saturated.
    Threshold {
        /// First accumulator.
        acc: u32,
        /// Channels.
        z: u16,
        /// Rows per channel.
        y: u16,
        /// Values per row.
        x: u16,
        /// First threshold of channel 0 in the parameter memory.
        par: u32,
        /// Thresholds per channel.
        count: u16,
        /// Parameter words between channels' thresholds (0: shared).
        pstride: u32,
        /// Added to the count.
        bias: i64,
        /// Format saturated to.
        ofmt: Format,
        /// Bits saturated to.
        obits: u8,
    }
}

operands! {
    /// `pool`: max or sum over windows of accumulator planes into other accumulators.
    Pool {
        /// The reduction.
        kind: PoolKind,
        /// First source accumulator: `c` planes of `ih x iw` (padding already in place).
        src: u32,
        /// First destination accumulator: `c` planes of `oh x ow`.
        dst: u32,
        /// Planes.
        c: u16,
        /// Source rows.
        ih: u16,
        /// Source columns.
        iw: u16,
        /// Output rows.
        oh: u16,
        /// Output columns.
        ow: u16,
        /// Window rows.
        kh: u8,
        /// Window columns.
        kw: u8,
        /// Vertical stride.
        sh: u8,
        /// Horizontal stride.
        sw: u8,
        /// Vertical dilation.
        dh: u8,
        /// Horizontal dilation.
        dw: u8,
    }
}

field_enum! {
    /// The queue a `sync` runs on.
    SyncQueue {
        /// The load queue.
        Load = "load",
        /// The compute queue.
        Compute = "compute",
        /// The store queue.
        Store = "store",
    }
}

operands! {
    /// `sync`: tokens only; it waits for the tokens it pops and pushes its own.
    Sync {
        /// The queue it runs on.
        queue: SyncQueue,
    }
}

operands! {
    /// `store`: a dense block of accumulators to strided DRAM values.
    Store {
        /// First accumulator: `z x y x x`, dense.
        sram: u32,
        /// Byte address of the first DRAM value.
        dram: u32,
        /// The format of the DRAM values.
        fmt: Format,
        /// Bits per DRAM value.
        bits: u8,
        /// Planes.
        z: u16,
        /// Rows per plane.
        y: u16,
        /// Values per row.
        x: u16,
        /// DRAM values between planes.
        zs: u32,
        /// DRAM values between rows.
        ys: u32,
        /// DRAM values between values of a row.
        xs: u32,
        /// Bit of the `dram` byte where the first value starts (0 to 7).
        bit: u8,
    }
}

/// What an instruction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Sets the array's mode.
    Config(Config),
    /// DRAM to a buffer.
    Load(Load),
    /// Convolution on the array.
    Gemm(Gemm),
    /// Requantization.
    Requant(Requant),
    /// Clamp.
    Clamp(Clamp),
    /// Binary element-wise operation.
    Alu(Alu),
    /// Activation table.
    Lut(Lut),
    /// Multi-threshold activation.
    Threshold(Threshold),
    /// Pooling.
    Pool(Pool),
    /// Accumulators to DRAM.
    Store(Store),
    /// The program's end.
    End,
    /// Tokens only.
    Sync(Sync),
}

/// The opcodes in encoding order (opcode `i + 1`) with their mnemonics.
pub const MNEMONICS: [&str; 12] = [
    "config", "load", "gemm", "requant", "clamp", "alu", "lut", "thresh", "pool", "store", "end",
    "sync",
];

impl Op {
    /// The opcode (1 to 12).
    pub fn opcode(&self) -> u8 {
        match self {
            Op::Config(_) => 1,
            Op::Load(_) => 2,
            Op::Gemm(_) => 3,
            Op::Requant(_) => 4,
            Op::Clamp(_) => 5,
            Op::Alu(_) => 6,
            Op::Lut(_) => 7,
            Op::Threshold(_) => 8,
            Op::Pool(_) => 9,
            Op::Store(_) => 10,
            Op::End => 11,
            Op::Sync(_) => 12,
        }
    }

    /// The mnemonic of the text form.
    pub fn mnemonic(&self) -> &'static str {
        MNEMONICS[usize::from(self.opcode() - 1)]
    }

    /// The op of `opcode` with every field 0 (the first name of enums).
    pub fn zeroed(opcode: u8) -> Option<Op> {
        Some(match opcode {
            1 => Op::Config(Config::zeroed()),
            2 => Op::Load(Load::zeroed()),
            3 => Op::Gemm(Gemm::zeroed()),
            4 => Op::Requant(Requant::zeroed()),
            5 => Op::Clamp(Clamp::zeroed()),
            6 => Op::Alu(Alu::zeroed()),
            7 => Op::Lut(Lut::zeroed()),
            8 => Op::Threshold(Threshold::zeroed()),
            9 => Op::Pool(Pool::zeroed()),
            10 => Op::Store(Store::zeroed()),
            11 => Op::End,
            12 => Op::Sync(Sync::zeroed()),
            _ => return None,
        })
    }

    /// Walks the op's fields in layout order.
    pub fn visit(&mut self, v: &mut dyn Visitor) -> Result<(), IsaError> {
        match self {
            Op::Config(o) => o.visit(v),
            Op::Load(o) => o.visit(v),
            Op::Gemm(o) => o.visit(v),
            Op::Requant(o) => o.visit(v),
            Op::Clamp(o) => o.visit(v),
            Op::Alu(o) => o.visit(v),
            Op::Lut(o) => o.visit(v),
            Op::Threshold(o) => o.visit(v),
            Op::Pool(o) => o.visit(v),
            Op::Store(o) => o.visit(v),
            Op::Sync(o) => o.visit(v),
            Op::End => Ok(()),
        }
    }

    /// Each field's name and documentation, in layout order.
    pub fn field_docs(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Op::Config(_) => Config::FIELD_DOCS,
            Op::Load(_) => Load::FIELD_DOCS,
            Op::Gemm(_) => Gemm::FIELD_DOCS,
            Op::Requant(_) => Requant::FIELD_DOCS,
            Op::Clamp(_) => Clamp::FIELD_DOCS,
            Op::Alu(_) => Alu::FIELD_DOCS,
            Op::Lut(_) => Lut::FIELD_DOCS,
            Op::Threshold(_) => Threshold::FIELD_DOCS,
            Op::Pool(_) => Pool::FIELD_DOCS,
            Op::Store(_) => Store::FIELD_DOCS,
            Op::Sync(_) => Sync::FIELD_DOCS,
            Op::End => &[],
        }
    }

    /// The queue that runs it: loads into the input and weight buffers on the load queue,
    /// stores on the store queue, everything else (loads into the accumulators, parameter
    /// memory and table included) on the compute queue. `config` runs on the compute queue
    /// and also, in its own order, on the load queue (which needs the mode's widths).
    pub fn queue(&self) -> Queue {
        match self {
            Op::Load(l) if matches!(l.buf, Buf::Inp | Buf::Wgt) => Queue::Load,
            Op::Store(_) => Queue::Store,
            Op::Sync(s) => match s.queue {
                SyncQueue::Load => Queue::Load,
                SyncQueue::Compute => Queue::Compute,
                SyncQueue::Store => Queue::Store,
            },
            _ => Queue::Compute,
        }
    }
}

/// One of the controller's three in-order queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    /// DRAM to the input and weight buffers.
    Load,
    /// The array and the post-processing unit.
    Compute,
    /// Accumulators to DRAM.
    Store,
}

impl Queue {
    /// The three queues, in pipeline order.
    pub const ALL: [Queue; 3] = [Queue::Load, Queue::Compute, Queue::Store];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Load => "load",
            Queue::Compute => "compute",
            Queue::Store => "store",
        }
    }

    /// The queue before it in the pipeline.
    pub fn prev(self) -> Option<Queue> {
        match self {
            Queue::Load => None,
            Queue::Compute => Some(Queue::Load),
            Queue::Store => Some(Queue::Compute),
        }
    }

    /// The queue after it in the pipeline.
    pub fn next(self) -> Option<Queue> {
        match self {
            Queue::Load => Some(Queue::Compute),
            Queue::Compute => Some(Queue::Store),
            Queue::Store => None,
        }
    }
}

/// Dependency tokens: an instruction waits for a token from each neighbour it pops before it
/// starts, and sends one to each neighbour it pushes when it completes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deps {
    /// Wait for a token from the previous queue.
    pub pop_prev: bool,
    /// Wait for a token from the next queue.
    pub pop_next: bool,
    /// Send a token to the previous queue.
    pub push_prev: bool,
    /// Send a token to the next queue.
    pub push_next: bool,
}

impl Deps {
    /// The flags as the header byte: bit 0 pop prev, 1 pop next, 2 push prev, 3 push next.
    pub fn bits(self) -> u8 {
        u8::from(self.pop_prev)
            | u8::from(self.pop_next) << 1
            | u8::from(self.push_prev) << 2
            | u8::from(self.push_next) << 3
    }

    /// The flags of a header byte, `None` when a reserved bit is set.
    pub fn from_bits(b: u8) -> Option<Deps> {
        (b < 16).then_some(Deps {
            pop_prev: b & 1 != 0,
            pop_next: b & 2 != 0,
            push_prev: b & 4 != 0,
            push_next: b & 8 != 0,
        })
    }
}

/// One instruction: what it does, its tokens, and the layer it belongs to (for the cycle
/// report and mismatch messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instr {
    /// Dependency tokens.
    pub deps: Deps,
    /// The layer's index in the manifest.
    pub layer: u16,
    /// The operation.
    pub op: Op,
}

impl Instr {
    /// Checks that the tokens name neighbours the instruction's queue has.
    pub fn check_deps(&self) -> Result<(), IsaError> {
        if matches!(self.op, Op::Config(_)) && self.deps != Deps::default() {
            return Err(IsaError::ConfigTokens);
        }
        let q = self.op.queue();
        let d = self.deps;
        for (set, side, verb, has) in [
            (d.pop_prev, "prev", "pop", q.prev()),
            (d.push_prev, "prev", "push", q.prev()),
            (d.pop_next, "next", "pop", q.next()),
            (d.push_next, "next", "push", q.next()),
        ] {
            if set && has.is_none() {
                return Err(IsaError::Deps {
                    op: self.op.mnemonic(),
                    queue: q.name(),
                    side,
                    verb,
                });
            }
        }
        Ok(())
    }
}

/// The field table `docs/isa.md` shows for an opcode: byte offset, name, kind, meaning.
pub fn layout_table(opcode: u8) -> String {
    let docs = Op::zeroed(opcode).map_or(&[][..], |o| o.field_docs());
    let mut t = String::from("| byte | field | kind | meaning |\n|---|---|---|---|\n");
    for (name, at, kind) in layout(opcode) {
        let doc = docs.iter().find(|d| d.0 == name).map_or("", |d| d.1.trim());
        t.push_str(&format!(
            "| {at} | `{name}` | {} | {doc} |\n",
            kind.describe()
        ));
    }
    t
}

/// The fields of an opcode with their byte offsets in the binary form, for the
/// documentation.
pub fn layout(opcode: u8) -> Vec<(&'static str, usize, Kind)> {
    struct Offsets(usize, Vec<(&'static str, usize, Kind)>);
    impl Visitor for Offsets {
        fn field(&mut self, name: &'static str, kind: Kind, _: &mut i64) -> Result<(), IsaError> {
            self.1.push((name, self.0, kind));
            self.0 += kind.bytes();
            Ok(())
        }
    }
    let mut o = Offsets(binary::HEADER_BYTES, Vec::new());
    if let Some(mut op) = Op::zeroed(opcode) {
        // Visiting only records offsets; it cannot fail.
        let _ = op.visit(&mut o);
    }
    o.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_fits_an_instruction_word() {
        for opcode in 1..=12u8 {
            let op = Op::zeroed(opcode).unwrap();
            assert_eq!(op.opcode(), opcode);
            let end = layout(opcode)
                .last()
                .map_or(binary::HEADER_BYTES, |(_, at, k)| at + k.bytes());
            assert!(
                end <= binary::INSTR_BYTES,
                "{} ends at {end}",
                op.mnemonic()
            );
        }
        assert_eq!(Op::zeroed(13), None);
    }

    /// `docs/isa.md` shows every opcode's field table as the code lays it out.
    #[test]
    fn the_documented_layouts_are_the_encoded_ones() {
        let doc = include_str!("../../../docs/isa.md");
        for opcode in (1..=10u8).chain([12]) {
            let t = layout_table(opcode);
            assert!(
                doc.contains(&t),
                "docs/isa.md lacks the table of {}:\n{t}",
                MNEMONICS[usize::from(opcode - 1)]
            );
        }
    }

    #[test]
    fn tokens_must_name_a_neighbour() {
        let mut i = Instr {
            deps: Deps {
                pop_prev: true,
                ..Deps::default()
            },
            layer: 0,
            op: Op::zeroed(2).unwrap(),
        };
        assert_eq!(i.op.queue(), Queue::Load);
        assert!(i.check_deps().unwrap_err().to_string().contains("no prev"));
        i.deps = Deps {
            pop_next: true,
            push_next: true,
            ..Deps::default()
        };
        assert!(i.check_deps().is_ok());
        let st = Instr {
            deps: Deps {
                push_next: true,
                ..Deps::default()
            },
            layer: 0,
            op: Op::zeroed(10).unwrap(),
        };
        assert!(st.check_deps().is_err());
        assert_eq!(Deps::from_bits(16), None);
        let cfg = Instr {
            deps: Deps {
                push_next: true,
                ..Deps::default()
            },
            layer: 0,
            op: Op::zeroed(1).unwrap(),
        };
        assert_eq!(cfg.check_deps(), Err(IsaError::ConfigTokens));
        assert_eq!(Deps::from_bits(i.deps.bits()), Some(i.deps));
    }
}

#[cfg(test)]
mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    /// An instruction of `opcode` whose fields take `seeds` folded into their ranges, with
    /// the tokens its queue allows out of `flags`.
    fn build(opcode: u8, flags: u8, layer: u16, seeds: &[i64]) -> Instr {
        struct Seeded<'a>(&'a [i64], usize);
        impl Visitor for Seeded<'_> {
            fn field(&mut self, _: &'static str, kind: Kind, v: &mut i64) -> Result<(), IsaError> {
                let s = self.0[self.1 % self.0.len()];
                self.1 += 1;
                let (lo, hi) = kind.range();
                *v = if (lo, hi) == (i64::MIN, i64::MAX) {
                    s
                } else {
                    lo + s.rem_euclid(hi - lo + 1)
                };
                Ok(())
            }
        }
        let mut op = Op::zeroed(opcode).unwrap();
        op.visit(&mut Seeded(seeds, 0)).unwrap();
        let q = op.queue();
        let d = Deps::from_bits(if opcode == 1 { 0 } else { flags & 15 }).unwrap();
        let deps = Deps {
            pop_prev: d.pop_prev && q.prev().is_some(),
            push_prev: d.push_prev && q.prev().is_some(),
            pop_next: d.pop_next && q.next().is_some(),
            push_next: d.push_next && q.next().is_some(),
        };
        Instr { deps, layer, op }
    }

    fn program() -> impl Strategy<Value = Vec<Instr>> {
        let instr = (
            1u8..=12,
            any::<u8>(),
            any::<u16>(),
            prop::collection::vec(any::<i64>(), 1..24),
        )
            .prop_map(|(o, f, l, s)| build(o, f, l, &s));
        prop::collection::vec(instr, 0..40)
    }

    proptest! {
        #[test]
        fn binary_and_text_forms_round_trip(p in program()) {
            let bin = binary::encode(&p).unwrap();
            prop_assert_eq!(bin.len(), binary::FILE_HEADER_BYTES + 64 * p.len());
            prop_assert_eq!(&binary::decode(&bin).unwrap(), &p);
            let s = text::print(&p, &[]);
            prop_assert_eq!(&text::parse(&s).unwrap(), &p);
        }
    }
}
