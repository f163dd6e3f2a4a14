//! What each instruction reads and writes, as address ranges per memory, for the race check
//! between instructions of different queues that run at the same time.

use qweave_hw::isa::packing::{bit_address, end_byte};
use qweave_hw::isa::{Buf, Op};

/// A memory an instruction touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mem {
    Dram,
    Buf(Buf),
}

impl Mem {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mem::Dram => "DRAM",
            Mem::Buf(b) => b.name(),
        }
    }
}

/// `[lo, hi)` of a memory, read or written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access {
    pub(crate) mem: Mem,
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) write: bool,
}

impl Access {
    /// Whether the two conflict: the same memory, overlapping ranges, one of them a write.
    pub(crate) fn conflicts(&self, o: &Access) -> bool {
        self.mem == o.mem && (self.write || o.write) && self.lo < o.hi && o.lo < self.hi
    }
}

fn block(mem: Mem, at: u32, n: u64, write: bool) -> Access {
    Access {
        mem,
        lo: u64::from(at),
        hi: u64::from(at) + n,
        write,
    }
}

/// The DRAM bytes a strided transfer touches (their bounding range).
fn dram(at: u64, bits: u8, size: [u16; 3], stride: [u32; 3], write: bool) -> Access {
    let far: u64 = size
        .iter()
        .zip(stride)
        .map(|(&n, s)| u64::from(n.max(1) - 1) * u64::from(s))
        .sum();
    Access {
        mem: Mem::Dram,
        lo: at / 8,
        hi: end_byte(at, far, bits),
        write,
    }
}

fn n3(z: u16, y: u16, x: u16) -> u64 {
    u64::from(z) * u64::from(y) * u64::from(x)
}

/// Everything `op` touches.
pub(crate) fn of(op: &Op) -> Vec<Access> {
    let acc = |at, n, write| block(Mem::Buf(Buf::Acc), at, n, write);
    match op {
        Op::Config(_) | Op::End | Op::Sync(_) => Vec::new(),
        Op::Load(l) => {
            let rows = u64::from(l.y) + u64::from(l.pad_top) + u64::from(l.pad_bottom);
            let cols = u64::from(l.x) + u64::from(l.pad_left) + u64::from(l.pad_right);
            vec![
                dram(
                    bit_address(l.dram, l.bit),
                    l.bits,
                    [l.z, l.y, l.x],
                    [l.zs, l.ys, l.xs],
                    false,
                ),
                block(Mem::Buf(l.buf), l.sram, u64::from(l.z) * rows * cols, true),
            ]
        }
        Op::Store(s) => vec![
            acc(s.sram, n3(s.z, s.y, s.x), false),
            dram(
                bit_address(s.dram, s.bit),
                s.bits,
                [s.z, s.y, s.x],
                [s.zs, s.ys, s.xs],
                true,
            ),
        ],
        Op::Gemm(g) => {
            let (groups, cin, m) = (u64::from(g.groups), u64::from(g.cin), u64::from(g.m));
            let k = u64::from(g.kh) * u64::from(g.kw);
            vec![
                block(
                    Mem::Buf(Buf::Inp),
                    g.inp,
                    groups * cin * n3(1, g.ih, g.iw),
                    false,
                ),
                block(Mem::Buf(Buf::Wgt), g.wgt, groups * m * cin * k, false),
                acc(g.acc, groups * m * n3(1, g.oh, g.ow), true),
            ]
        }
        Op::Requant(r) => vec![
            acc(r.acc, n3(r.z, r.y, r.x), true),
            block(
                Mem::Buf(Buf::Par),
                r.par,
                u64::from(r.z.max(1) - 1) * u64::from(r.pstride) + 4,
                false,
            ),
        ],
        Op::Clamp(c) => vec![acc(c.acc, n3(c.z, c.y, c.x), true)],
        Op::Alu(a) => {
            let far = u64::from(a.z.max(1) - 1) * u64::from(a.szs)
                + u64::from(a.y.max(1) - 1) * u64::from(a.sys)
                + u64::from(a.x.max(1) - 1) * u64::from(a.sxs);
            vec![
                acc(a.dst, n3(a.z, a.y, a.x), true),
                acc(a.src, far + 1, false),
            ]
        }
        Op::Lut(l) => vec![
            acc(l.acc, n3(l.z, l.y, l.x), true),
            block(Mem::Buf(Buf::Lut), l.lut, u64::from(l.entries), false),
        ],
        Op::Threshold(t) => vec![
            acc(t.acc, n3(t.z, t.y, t.x), true),
            block(
                Mem::Buf(Buf::Par),
                t.par,
                u64::from(t.z.max(1) - 1) * u64::from(t.pstride) + u64::from(t.count),
                false,
            ),
        ],
        Op::Pool(p) => vec![
            acc(p.src, n3(p.c, p.ih, p.iw), false),
            acc(p.dst, n3(p.c, p.oh, p.ow), true),
        ],
    }
}
