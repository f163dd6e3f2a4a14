//! The three instruction streams of a program and the dependency tokens that order them.
//!
//! The emitter thinks in tiles; this builder turns them into a program whose tokens are
//! right by construction:
//! - **Load slots.** Each group of loads into `inp` and `wgt` fills one of two slots (the
//!   halves of the ping-pong buffers). Its last load tells compute the slot is full; the
//!   compute instructions that read it take that token first, and the last of them hands the
//!   slot back. A load into a slot that was filled before waits for it to be handed back.
//! - **Accumulator halves.** Each output tile is computed in one of two halves of the
//!   accumulators. Its stores wait for compute to finish the tile and hand the half back when
//!   done; compute waits for that before it writes the half again.
//! - **Layer barriers.** A new layer may read what the previous one stored, so compute first
//!   collects every outstanding token of the stores (the last is the last store's) and then
//!   tells the load queue, which collects every token compute sent it.

use qweave_hw::isa::{Config, Deps, Instr, Load, Op, Store, Sync, SyncQueue};

/// A program under construction.
#[derive(Debug, Default)]
pub struct Streams {
    program: Vec<Instr>,
    layer: u16,
    /// Load groups since the last barrier (slot `n % 2`).
    slots_filled: u64,
    /// Slot hand-backs (compute to load) not yet taken by the load queue.
    slot_tokens: u64,
    /// Output tiles since the last barrier (half `n % 2`).
    acc_tiles: u64,
    /// Half hand-backs (store to compute) not yet taken by compute.
    acc_tokens: u64,
    /// The next compute instruction must first take a half hand-back.
    await_half: bool,
    /// The last compute instruction emitted, for the token that ends a tile.
    last_compute: Option<usize>,
    /// Whether anything was stored since the last barrier.
    stored: bool,
}

impl Streams {
    /// An empty program.
    pub fn new() -> Streams {
        Streams::default()
    }

    fn push(&mut self, op: Op, deps: Deps) -> usize {
        self.program.push(Instr {
            deps,
            layer: self.layer,
            op,
        });
        self.program.len() - 1
    }

    /// Starts layer `layer`: after a layer that stored anything, a barrier orders everything
    /// after it behind those stores.
    pub fn layer(&mut self, layer: u16) {
        if self.stored {
            // compute takes every outstanding half hand-back; the last is the last store's
            for k in 0..self.acc_tokens {
                let last = k + 1 == self.acc_tokens;
                self.push(
                    Op::Sync(Sync {
                        queue: SyncQueue::Compute,
                    }),
                    Deps {
                        pop_next: true,
                        push_prev: last,
                        ..Deps::default()
                    },
                );
            }
            // the load queue takes every slot hand-back and then the barrier's token
            for _ in 0..=self.slot_tokens {
                self.push(
                    Op::Sync(Sync {
                        queue: SyncQueue::Load,
                    }),
                    Deps {
                        pop_next: true,
                        ..Deps::default()
                    },
                );
            }
            *self = Streams {
                program: std::mem::take(&mut self.program),
                ..Streams::default()
            };
        }
        self.layer = layer;
    }

    /// Sets the mode for what follows (on the load and compute queues).
    pub fn config(&mut self, c: Config) {
        self.push(Op::Config(c), Deps::default());
    }

    /// The slot the next [`Streams::fill_slot`] fills, 0 or 1.
    pub fn next_slot(&self) -> usize {
        (self.slots_filled % 2) as usize
    }

    /// Fills the next slot with `loads` (into `inp` and `wgt`); returns the slot, 0 or 1.
    pub fn fill_slot(&mut self, loads: &[Load]) -> usize {
        let slot = (self.slots_filled % 2) as usize;
        let wait = self.slots_filled >= 2;
        let n = loads.len();
        for (k, l) in loads.iter().enumerate() {
            let deps = Deps {
                pop_next: wait && k == 0,
                push_next: k + 1 == n,
                ..Deps::default()
            };
            self.push(Op::Load(*l), deps);
        }
        if wait {
            self.slot_tokens -= 1;
        }
        self.slots_filled += 1;
        slot
    }

    /// Compute instructions that read the slot filled last; the last one hands it back.
    pub fn read_slot(&mut self, ops: &[Op]) {
        let n = ops.len();
        for (k, op) in ops.iter().enumerate() {
            self.compute_with(
                *op,
                Deps {
                    pop_prev: k == 0,
                    push_prev: k + 1 == n,
                    ..Deps::default()
                },
            );
        }
        self.slot_tokens += 1;
    }

    /// Starts an output tile; returns its accumulator half, 0 or 1.
    pub fn begin_tile(&mut self) -> usize {
        let half = (self.acc_tiles % 2) as usize;
        if self.acc_tiles >= 2 {
            self.await_half = true;
            self.acc_tokens -= 1;
        }
        self.acc_tiles += 1;
        half
    }

    /// Compute instructions that read or write only the accumulators, parameters and table
    /// (post-processing, loads into `acc`, `par` and `lut`).
    pub fn compute(&mut self, ops: &[Op]) {
        for op in ops {
            self.compute_with(*op, Deps::default());
        }
    }

    fn compute_with(&mut self, op: Op, mut deps: Deps) {
        deps.pop_next |= std::mem::take(&mut self.await_half);
        self.last_compute = Some(self.push(op, deps));
    }

    /// Ends the output tile with `stores` of its accumulators; the last hands the half back.
    pub fn end_tile(&mut self, stores: &[Store]) {
        match self.last_compute {
            Some(k) => self.program[k].deps.push_next = true,
            None => {
                self.push(
                    Op::Sync(Sync {
                        queue: SyncQueue::Compute,
                    }),
                    Deps {
                        push_next: true,
                        ..Deps::default()
                    },
                );
            }
        }
        self.last_compute = None;
        let n = stores.len();
        for (k, s) in stores.iter().enumerate() {
            self.push(
                Op::Store(*s),
                Deps {
                    pop_prev: k == 0,
                    push_prev: k + 1 == n,
                    ..Deps::default()
                },
            );
        }
        if n == 0 {
            // no stores: the half is free again at once
            self.push(
                Op::Sync(Sync {
                    queue: SyncQueue::Store,
                }),
                Deps {
                    pop_prev: true,
                    push_prev: true,
                    ..Deps::default()
                },
            );
        }
        self.acc_tokens += 1;
        self.stored |= n > 0;
    }

    /// The finished program, ending in `end`.
    pub fn finish(mut self) -> Vec<Instr> {
        self.push(Op::End, Deps::default());
        self.program
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_hw::isa::packing::{read, write};
    use qweave_hw::isa::{Buf, Format, Gemm, Requant};
    use qweave_hw::{Target, cost};
    use qweave_ir::RoundingMode;

    /// Two layers of 1x1 convolutions over a 16-channel, 24x24 map, tiled by rows: each tile
    /// computes `2 x` its input (plus 1 in layer 1) through the array and the requantizer.
    fn two_layers(rows_per_tile: u16) -> (Vec<Instr>, Vec<u8>) {
        let hw = Target::Sim.preset();
        let (c, h, w) = (16u16, 24u16, 24u16);
        let plane = u32::from(h) * u32::from(w);
        let half_inp = hw.rows * hw.input_bank_bytes; // 8-bit entries per slot
        let half_acc = hw.cols * hw.acc_entries / 2;
        let (a, b, out, wgt, par) = (0u32, 9216, 18432, 27648, 28160);
        let mut s = Streams::new();
        for layer in 0..2u16 {
            s.layer(layer);
            s.config(Config {
                w: 8,
                a: 8,
                wfmt: Format::Signed,
                afmt: Format::Signed,
                acc_bits: 24,
                ..Config::zeroed()
            });
            let (src, dst) = if layer == 0 { (a, b) } else { (b, out) };
            for r0 in (0..h).step_by(usize::from(rows_per_tile)) {
                let rows = rows_per_tile.min(h - r0);
                let at = src + u32::from(r0) * u32::from(w);
                let slot = s.fill_slot(&[
                    Load {
                        buf: Buf::Inp,
                        fmt: Format::Signed,
                        bits: 8,
                        sram: slot_base(s.slots_filled, half_inp),
                        dram: at,
                        z: c,
                        y: rows,
                        x: w,
                        zs: plane,
                        ys: u32::from(w),
                        xs: 1,
                        ..Load::zeroed()
                    },
                    Load {
                        buf: Buf::Wgt,
                        fmt: Format::Signed,
                        bits: 8,
                        sram: slot_base(s.slots_filled, half_inp),
                        dram: wgt + u32::from(layer) * 256,
                        z: 1,
                        y: 1,
                        x: 256,
                        xs: 1,
                        ..Load::zeroed()
                    },
                ]);
                let inp = slot as u32 * half_inp;
                let half = s.begin_tile() as u32 * half_acc;
                s.read_slot(&[Op::Gemm(Gemm {
                    inp,
                    wgt: inp,
                    acc: half,
                    groups: 1,
                    cin: c,
                    ih: rows,
                    iw: w,
                    m: c,
                    oh: rows,
                    ow: w,
                    kh: 1,
                    kw: 1,
                    sh: 1,
                    sw: 1,
                    dh: 1,
                    dw: 1,
                    reset: true,
                })]);
                s.compute(&[
                    Op::Load(Load {
                        buf: Buf::Par,
                        fmt: Format::Signed,
                        bits: 32,
                        sram: 0,
                        dram: par + u32::from(layer) * 16,
                        z: 1,
                        y: 1,
                        x: 4,
                        xs: 1,
                        ..Load::zeroed()
                    }),
                    Op::Requant(Requant {
                        acc: half,
                        z: c,
                        y: rows,
                        x: w,
                        par: 0,
                        pstride: 0,
                        rounding: RoundingMode::HalfEven,
                        ofmt: Format::Signed,
                        obits: 8,
                    }),
                ]);
                s.end_tile(&[Store {
                    sram: half,
                    dram: dst + u32::from(r0) * u32::from(w),
                    fmt: Format::Signed,
                    bits: 8,
                    z: c,
                    y: rows,
                    x: w,
                    zs: plane,
                    ys: u32::from(w),
                    xs: 1,
                    bit: 0,
                }]);
            }
        }
        let mut dram = vec![0u8; 28192];
        for e in 0..u64::from(plane) * 16 {
            write(
                &mut dram,
                8 * u64::from(a),
                e,
                8,
                Format::Signed,
                (e % 50) as i64 - 25,
            )
            .unwrap();
        }
        // identity filters times 2; layer 0 requantizes by 1, layer 1 by 1 with zero point 1
        for layer in 0..2u32 {
            for k in 0..16u64 {
                write(
                    &mut dram,
                    8 * u64::from(wgt + layer * 256),
                    k * 17,
                    8,
                    Format::Signed,
                    2,
                )
                .unwrap();
            }
            let rec = [1, 0, 0, i64::from(layer)];
            for (k, v) in rec.into_iter().enumerate() {
                write(
                    &mut dram,
                    8 * u64::from(par + layer * 16),
                    k as u64,
                    32,
                    Format::Signed,
                    v,
                )
                .unwrap();
            }
        }
        (s.finish(), dram)
    }

    /// The slot base of the load group about to be filled (before `fill_slot` counts it).
    fn slot_base(filled: u64, half: u32) -> u32 {
        (filled % 2) as u32 * half
    }

    #[test]
    fn tiles_overlap_and_layers_wait_for_each_other() {
        let hw = Target::Sim.preset();
        for rows in [1, 2] {
            let (p, dram) = two_layers(rows);
            let run = qweave_sim::simulate(&hw, &p, dram).unwrap_or_else(|e| panic!("{e}"));
            for e in 0..16 * 576u64 {
                let x = (e % 50) as i64 - 25;
                let want = (4 * x + 1).clamp(-128, 127);
                assert_eq!(
                    read(&run.dram, 8 * 18432, e, 8, Format::Signed),
                    Some(want),
                    "rows {rows}, value {e}"
                );
            }
            let serial: u64 = p
                .iter()
                .map(|i| cost(&hw, qweave_hw::Rate::bricks(1), &i.op).cycles)
                .sum();
            assert!(run.cycles < serial, "{} vs {serial}", run.cycles);
            // the simulator's race check proves every read ordered after the write it needs;
            // without the barrier, layer 1's loads race with layer 0's stores
            let unbarred: Vec<Instr> = p
                .iter()
                .filter(|i| !matches!(i.op, Op::Sync(_)))
                .copied()
                .collect();
            let (_, dram) = two_layers(rows);
            let e = qweave_sim::simulate(&hw, &unbarred, dram).unwrap_err();
            assert!(e.to_string().contains("race"), "{e}");
        }
    }
}
