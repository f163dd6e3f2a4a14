//! The cycle model: what one instruction costs on a configuration, in cycles of its clock,
//! DRAM bytes and multiply-accumulates. The ISA simulator adds queue overlap, tokens and the
//! shared DRAM port on top; `docs/isa.md` lists the same formulas.

use crate::config::HwConfig;
use crate::isa::{Op, Pack, Threshold};

/// Cycles from a DRAM request to its first beat.
pub const DRAM_LATENCY: u64 = 32;
/// Cycles to open each burst (one contiguous run of values).
pub const BURST_SETUP: u64 = 2;
/// Cycles of a post-processing instruction besides its chunks: taking the instruction,
/// setting up, and writing the last chunk back.
pub const POST_DEPTH: u64 = 3;
/// Cycles of a `gemm` besides its steps: taking the instruction, setting up the lanes, the
/// 2-stage input buffer, the PEs, the column adder trees and the partial-sum sorter's
/// write-back.
pub const GEMM_PIPELINE: u64 = 7;
/// Cycles of `config` on the compute queue: it latches the mode (the array is already empty,
/// as every `gemm` drains it before it finishes).
pub const CONFIG_CYCLES: u64 = 1;
/// Cycles a queue's controller takes between finishing one instruction and starting the
/// next (the Calyx controller's loop: a done register, then the next iteration's go).
pub const QUEUE_GAP: u64 = 2;
/// Cycles from a token's push to the first cycle an instruction of the other queue may pop it
/// (the token counter is a register).
pub const TOKEN_LATENCY: u64 = 1;
/// Thresholds each lane compares per cycle.
pub const THRESHOLDS_PER_CYCLE: u64 = 8;

/// Cycles `config` takes on the load queue (it only latches the widths there).
pub const CONFIG_ON_LOAD_QUEUE: u64 = 1;

/// What one instruction costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Cycles its unit is busy.
    pub cycles: u64,
    /// Bytes it moves over the DRAM port.
    pub dram_bytes: u64,
    /// Multiply-accumulates it performs on the array.
    pub macs: u64,
}

/// How the PEs compute under the last `config`: what `gemm` costs depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// The packing kind.
    pub pack: Pack,
    /// Products per PE and cycle.
    pub products: u32,
    /// Weights per packed multiply (`kernel`: filters; `filter`: taps of a kernel row).
    pub kp: u32,
    /// Activations per packed multiply (neighbouring output columns).
    pub np: u32,
}

impl Rate {
    /// `products` per PE and cycle from fused bricks (or XNOR-popcount).
    pub fn bricks(products: u32) -> Rate {
        Rate {
            pack: Pack::Bricks,
            products,
            kp: 1,
            np: 1,
        }
    }
}

/// The cost of `op` on `c` (for `config`, on the compute queue); `rate` is how the PEs
/// compute under the last `config` (only `gemm` uses it).
pub fn cost(c: &HwConfig, rate: Rate, op: &Op) -> Cost {
    if c.serial {
        return crate::serial::cost(c, op);
    }
    let lanes = u64::from(c.post.lanes);
    let (rows, cols) = (u64::from(c.rows), u64::from(c.cols));
    let post = |n: u64, per: u64| Cost {
        cycles: POST_DEPTH + n.div_ceil(lanes) * per,
        ..Cost::default()
    };
    let n3 = |z: u16, y: u16, x: u16| u64::from(z) * u64::from(y) * u64::from(x);
    match op {
        Op::Config(_) => Cost {
            cycles: CONFIG_CYCLES,
            ..Cost::default()
        },
        Op::Load(l) => transfer(
            c,
            l.bits,
            [l.z, l.y, l.x],
            [l.zs, l.ys, l.xs],
            u64::from(l.z)
                * (u64::from(l.pad_top) + u64::from(l.y) + u64::from(l.pad_bottom))
                * (u64::from(l.pad_left) + u64::from(l.x) + u64::from(l.pad_right)),
        ),
        Op::Store(s) => transfer(
            c,
            s.bits,
            [s.z, s.y, s.x],
            [s.zs, s.ys, s.xs],
            n3(s.z, s.y, s.x),
        ),
        Op::Gemm(g) => {
            let (oh, ow) = (u64::from(g.oh), u64::from(g.ow));
            let (cin, kh, kw) = (u64::from(g.cin), u64::from(g.kh), u64::from(g.kw));
            let k = cin * kh * kw;
            let m = u64::from(g.m);
            let (kp, np) = (u64::from(rate.kp.max(1)), u64::from(rate.np.max(1)));
            let steps = match rate.pack {
                // one product per lane: `kp` filters on a column, `np` columns of a row
                Pack::Kernel => oh * ow.div_ceil(np) * k.div_ceil(rows) * m.div_ceil(cols * kp),
                // `kp` taps of a kernel row over windows of `np` neighbouring inputs: the
                // `kp + np - 1` lanes of a window add into as many outputs, so a row of `ow`
                // outputs, which reads `ow + kp - 1` inputs, takes that many over `np` windows
                Pack::Filter => {
                    oh * (ow + kp - 1).div_ceil(np)
                        * (cin * kh * kw.div_ceil(kp)).div_ceil(rows)
                        * m.div_ceil(cols)
                }
                Pack::Bricks | Pack::Xnor => {
                    let per_row = rows * u64::from(rate.products.max(1));
                    oh * ow * k.div_ceil(per_row) * m.div_ceil(cols)
                }
            };
            Cost {
                cycles: GEMM_PIPELINE + u64::from(g.groups) * steps,
                dram_bytes: 0,
                macs: u64::from(g.groups) * m * oh * ow * k,
            }
        }
        Op::Requant(r) => post(n3(r.z, r.y, r.x), 1),
        Op::Clamp(o) => post(n3(o.z, o.y, o.x), 1),
        Op::Alu(o) => post(n3(o.z, o.y, o.x), 1),
        Op::Lut(o) => post(n3(o.z, o.y, o.x), 1),
        Op::Threshold(Threshold { z, y, x, count, .. }) => post(
            n3(*z, *y, *x),
            u64::from(*count).div_ceil(THRESHOLDS_PER_CYCLE).max(1),
        ),
        Op::Pool(p) => post(n3(p.c, p.oh, p.ow), u64::from(p.kh) * u64::from(p.kw)),
        Op::End | Op::Sync(_) => Cost {
            cycles: 1,
            ..Cost::default()
        },
    }
}

/// Buffer entries the transfer engine writes (a load) or reads (a store) per cycle.
pub fn transfer_lanes(c: &HwConfig) -> u64 {
    u64::from(c.dram_bus_bits / 4).clamp(4, 64)
}

/// A strided transfer of `z x y x x` values of `bits` that writes or reads `entries` buffer
/// entries: the latency, then per burst its setup and its beats, or the entries at
/// [`transfer_lanes`] a cycle where those are more (padding, broadcasts, narrow values). A
/// dimension of stride 0 repeats values already read (a broadcast) and costs no DRAM
/// traffic; consecutive rows (and planes) that touch in DRAM merge into one burst.
fn transfer(c: &HwConfig, bits: u8, size: [u16; 3], stride: [u32; 3], entries: u64) -> Cost {
    // the dimensions that read new values, outermost first
    let dims: Vec<(u64, u64)> = size
        .iter()
        .zip(stride)
        .map(|(&n, s)| (u64::from(n), u64::from(s)))
        .filter(|&(n, s)| n != 1 && s != 0)
        .collect();
    let values: u64 = if size.contains(&0) {
        0
    } else {
        dims.iter().map(|d| d.0).product()
    };
    // merge from the innermost dimension out while each continues the previous run
    let mut run = 1;
    let mut merged = 0;
    for &(n, s) in dims.iter().rev() {
        if s != run {
            break;
        }
        run *= n;
        merged += 1;
    }
    let runs: u64 = if values == 0 {
        0
    } else {
        dims[..dims.len() - merged].iter().map(|d| d.0).product()
    };
    let bus = u64::from(c.dram_bus_bits);
    let beats = (run * u64::from(bits)).div_ceil(bus).max(1);
    Cost {
        cycles: DRAM_LATENCY
            + (runs * (BURST_SETUP + beats)).max(entries.div_ceil(transfer_lanes(c))),
        dram_bytes: (values * u64::from(bits)).div_ceil(8),
        macs: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;
    use crate::isa::{Gemm, Load, Pool, Requant, Threshold};

    #[test]
    fn transfers_pay_latency_setup_and_beats() {
        let c = Target::Sim.preset(); // 128-bit bus
        let load = |z, y, x, zs, ys, xs, bits| {
            cost(
                &c,
                Rate::bricks(1),
                &Op::Load(Load {
                    z,
                    y,
                    x,
                    zs,
                    ys,
                    xs,
                    bits,
                    ..Load::zeroed()
                }),
            )
        };
        // one contiguous 16x8x8 block of bytes: one burst of 64 beats
        assert_eq!(load(16, 8, 8, 64, 8, 1, 8).cycles, 32 + 2 + 64);
        assert_eq!(load(16, 8, 8, 64, 8, 1, 8).dram_bytes, 1024);
        // a 4x4 window of a wider plane: one burst per row
        assert_eq!(load(2, 4, 4, 64, 8, 1, 8).cycles, 32 + 8 * 3);
        // a transposed read: one burst per value
        assert_eq!(load(1, 1, 10, 0, 0, 16, 4).cycles, 32 + 10 * 3);
        assert_eq!(load(1, 1, 10, 0, 0, 16, 4).dram_bytes, 5);
        // a bias broadcast over 4x4 positions reads its 3 values once
        assert_eq!(load(3, 4, 4, 1, 0, 0, 32).cycles, 32 + 2 + 1);
        assert_eq!(load(3, 4, 4, 1, 0, 0, 32).dram_bytes, 12);
        // a zero-size transfer still pays its latency
        assert_eq!(load(0, 1, 1, 1, 1, 1, 8).dram_bytes, 0);
        assert_eq!(load(2, 0, 1, 0, 1, 1, 8).cycles, 32);
    }

    #[test]
    fn gemm_folds_the_reduction_onto_rows_and_outputs_onto_columns() {
        let c = Target::Sim.preset(); // 8x8
        let g = Gemm {
            groups: 1,
            cin: 16,
            m: 16,
            oh: 8,
            ow: 8,
            kh: 3,
            kw: 3,
            ..Gemm::zeroed()
        };
        // 144 products per output fold into 18 steps at 1 MAC per PE, 9 at 2; 2 column passes
        let at = |p| cost(&c, Rate::bricks(p), &Op::Gemm(g));
        assert_eq!(at(1).cycles, GEMM_PIPELINE + 64 * 18 * 2);
        assert_eq!(at(2).cycles, GEMM_PIPELINE + 64 * 9 * 2);
        assert_eq!(at(1).macs, 16 * 64 * 144);
        // depthwise: 16 groups of one plane each, one after another, 9 products in 2 steps
        let dw = Gemm {
            groups: 16,
            cin: 1,
            m: 1,
            ..g
        };
        assert_eq!(
            cost(&c, Rate::bricks(1), &Op::Gemm(dw)).cycles,
            GEMM_PIPELINE + 16 * 64 * 2
        );
    }

    #[test]
    fn packed_gemms_fold_filters_taps_and_columns_by_their_shape() {
        let c = Target::Xczu3eg.preset(); // 16x16
        let g = Gemm {
            groups: 1,
            cin: 16,
            m: 16,
            oh: 8,
            ow: 8,
            kh: 3,
            kw: 3,
            ..Gemm::zeroed()
        };
        let at = |pack, kp, np| {
            let r = Rate {
                pack,
                products: kp * np,
                kp,
                np,
            };
            cost(&c, r, &Op::Gemm(g)).cycles - GEMM_PIPELINE
        };
        // two filters per DSP help only with more than 16 filters; two columns always do
        assert_eq!(at(Pack::Kernel, 2, 1), 64 * 9);
        assert_eq!(at(Pack::Kernel, 1, 2), 32 * 9);
        // 3 taps over windows of 2 inputs: a row of 8 outputs reads 10 inputs in 5 windows,
        // and the 16 x 3 tap groups fold onto the 16 rows 3 times
        assert_eq!(at(Pack::Filter, 3, 2), 8 * 5 * 3);
        // 2 taps cover a 3-tap row in 2 groups; 9 inputs in 3 windows of 3
        assert_eq!(at(Pack::Filter, 2, 3), 8 * 3 * 6);
        let wide = Gemm { m: 32, ..g };
        let r = Rate {
            pack: Pack::Kernel,
            products: 2,
            kp: 2,
            np: 1,
        };
        assert_eq!(cost(&c, r, &Op::Gemm(wide)).cycles - GEMM_PIPELINE, 64 * 9);
    }

    #[test]
    fn post_processing_runs_lanes_wide() {
        let c = Target::Sim.preset(); // 8 lanes
        let r = Requant {
            z: 16,
            y: 8,
            x: 8,
            ..Requant::zeroed()
        };
        assert_eq!(
            cost(&c, Rate::bricks(1), &Op::Requant(r)).cycles,
            POST_DEPTH + 128
        );
        let t = Threshold {
            z: 1,
            y: 1,
            x: 16,
            count: 15,
            ..Threshold::zeroed()
        };
        assert_eq!(
            cost(&c, Rate::bricks(1), &Op::Threshold(t)).cycles,
            POST_DEPTH + 2 * 2
        );
        let p = Pool {
            c: 16,
            oh: 4,
            ow: 4,
            kh: 2,
            kw: 2,
            ..Pool::zeroed()
        };
        assert_eq!(
            cost(&c, Rate::bricks(1), &Op::Pool(p)).cycles,
            POST_DEPTH + 32 * 4
        );
        assert_eq!(cost(&c, Rate::bricks(1), &Op::End).cycles, 1);
    }
}
