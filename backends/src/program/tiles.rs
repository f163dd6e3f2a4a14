//! The instructions of a convolution's tiles for one binding: what the emitter writes into
//! the program, and what the mapper times to cost a binding (with the same code, so the
//! cost is the cycle model's timing of the very instructions the program will hold).

use super::Binding;
use super::conv::{scaled, store, u8_of};
use super::layout::{Region, View};
use super::post::{self, Post};
use super::slices::Slice;
use super::streams::Streams;
use super::tiling::{Capacity, ConvShape};
use qweave_hw::isa::{Alu, AluOp, Buf, Config, Gemm, Load, Op};
use qweave_hw::{HwConfig, ModeRate, pe};

/// A convolution layer with its operands placed: everything its tiles' instructions need.
#[derive(Clone, Debug)]
pub struct ConvJob {
    /// The layer's shape as the array sees it.
    pub shape: ConvShape,
    /// The input and output views.
    pub x: View,
    pub out: View,
    /// The activation slices (one unless the activations are wider than every mode).
    pub slices: Vec<Slice>,
    /// The weights, bias (with the input zero point folded in), slice scale and output.
    pub wreg: Region,
    pub breg: Option<Region>,
    pub scale: Option<Region>,
    pub oreg: Region,
    /// The post-processing chain.
    pub posts: Vec<Post>,
    /// The layer's accumulator width.
    pub acc_bits: u8,
}

impl ConvJob {
    /// The `config` the layer runs under `b`.
    pub fn config(&self, b: Binding) -> Config {
        b.pe.apply(Config {
            w: b.mode.w,
            a: b.mode.a,
            wfmt: self.shape.wfmt,
            afmt: self.shape.afmt,
            acc_bits: self.acc_bits,
            ..Config::zeroed()
        })
    }
}

/// Writes the layer's `config` and tiles under binding `binding` (already checked against
/// the shape); returns the tiles, the mode and the products per PE.
pub fn emit(
    s: &mut Streams,
    hw: &HwConfig,
    job: &ConvJob,
    binding: Binding,
) -> Result<(u64, ModeRate, u32), String> {
    let shape = &job.shape;
    let Binding { mode, tile: t, .. } = binding;
    let rate = shape.rate(mode).expect("a checked binding's mode");
    let config = job.config(binding);
    let products = pe::rate(hw, &config)?.products;
    s.config(config);
    // capacities of one half (slot) of each buffer, in entries of the mode
    let Capacity {
        input: inp_half,
        weight: wgt_half,
        acc: acc_half,
    } = ConvShape::capacity(hw, mode);
    let regions = shape.regions;
    let n_slices = shape.slices;
    let sliced = n_slices > 1;
    let (win, groups, mpg, cpg, khw) = (shape.win, shape.groups, shape.mpg, shape.cpg, shape.khw());
    let (pad_left, pad_right) = win.cols();
    let iw = win.iw();
    let ConvJob {
        x,
        out,
        slices,
        wreg,
        breg,
        scale,
        oreg,
        posts,
        ..
    } = job;
    let mut tiles = 0;
    for g0 in (0..groups).step_by(t.g as usize) {
        let gt = t.g.min(groups - g0);
        for m0 in (0..mpg).step_by(t.m as usize) {
            let mt = t.m.min(mpg - m0);
            let f0 = g0 * mpg + m0;
            let planes = gt * mt;
            for r0 in (0..win.oh).step_by(t.r as usize) {
                let rt = t.r.min(win.oh - r0);
                let rows = win.rows(r0, rt);
                tiles += 1;
                let half = s.begin_tile() as u64;
                let acc_base = half * acc_half;
                let n = planes * rt * win.ow;
                let bias_load = |b: &Region, at: u64| {
                    let (dram, bit) = b.at(f0);
                    Op::Load(Load {
                        buf: Buf::Acc,
                        fmt: b.fmt,
                        bits: b.bits,
                        sram: at as u32,
                        dram,
                        bit,
                        z: planes as u16,
                        y: rt as u16,
                        x: win.ow as u16,
                        zs: 1,
                        ..Load::zeroed()
                    })
                };
                let scale_at = acc_base + regions * n;
                match (breg, scale) {
                    (Some(b), None) => s.compute(&[bias_load(b, acc_base)]),
                    (_, Some(sc)) => {
                        let (dram, bit) = sc.at(0);
                        s.compute(&[Op::Load(Load {
                            buf: Buf::Acc,
                            fmt: sc.fmt,
                            bits: sc.bits,
                            sram: scale_at as u32,
                            dram,
                            bit,
                            z: 1,
                            y: 1,
                            x: 1,
                            ..Load::zeroed()
                        })]);
                    }
                    (None, None) => {}
                }
                for (k, slice) in slices.iter().enumerate() {
                    for c0 in (0..cpg).step_by(t.c as usize) {
                        let ct = t.c.min(cpg - c0);
                        let slot = s.next_slot() as u64;
                        let plane0 = g0 * cpg + c0;
                        let (dram, bit) = slice.region.at(x.at(plane0, rows.first, 0) * n_slices);
                        let inp = Load {
                            buf: Buf::Inp,
                            fmt: slice.region.fmt,
                            bits: slice.region.bits,
                            pad_top: rows.pad_top as u8,
                            pad_bottom: u8_of(rows.pad_bottom, "bottom padding")?,
                            pad_left: pad_left as u8,
                            pad_right: pad_right as u8,
                            sram: (slot * inp_half) as u32,
                            dram,
                            bit,
                            z: (gt * ct) as u16,
                            y: rows.y as u16,
                            x: win.w as u16,
                            zs: (x.strides[0] * n_slices) as u32,
                            ys: (x.strides[1] * n_slices) as u32,
                            xs: (x.strides[2] * n_slices) as u32,
                            offset: 0,
                            fill: slice.fill,
                        };
                        let (dram, bit) = wreg.at(f0 * cpg * khw + c0 * khw);
                        let wgt = Load {
                            buf: Buf::Wgt,
                            fmt: wreg.fmt,
                            bits: wreg.bits,
                            sram: (slot * wgt_half) as u32,
                            dram,
                            bit,
                            z: planes as u16,
                            y: 1,
                            x: (ct * khw) as u16,
                            zs: (cpg * khw) as u32,
                            xs: 1,
                            ..Load::zeroed()
                        };
                        s.fill_slot(&[inp, wgt]);
                        s.read_slot(&[Op::Gemm(Gemm {
                            inp: inp.sram,
                            wgt: wgt.sram,
                            acc: acc_base as u32,
                            groups: gt as u16,
                            cin: ct as u16,
                            ih: rows.ih() as u16,
                            iw: iw as u16,
                            m: mt as u16,
                            oh: rt as u16,
                            ow: win.ow as u16,
                            kh: win.k[0] as u8,
                            kw: win.k[1] as u8,
                            sh: win.s[0] as u8,
                            sw: win.s[1] as u8,
                            dh: win.d[0] as u8,
                            dw: win.d[1] as u8,
                            reset: k == 0 && c0 == 0 && (sliced || breg.is_none()),
                        })]);
                    }
                    if k + 1 < slices.len() {
                        s.compute(&[Op::Alu(scaled(
                            acc_base,
                            scale_at,
                            [planes, rt, win.ow],
                            AluOp::Mul,
                            hw.acc_bits,
                        ))]);
                    }
                }
                if let (true, Some(b)) = (sliced, breg) {
                    s.compute(&[
                        bias_load(b, acc_base + n),
                        Op::Alu(Alu {
                            szs: (rt * win.ow) as u32,
                            sys: win.ow as u32,
                            sxs: 1,
                            ..scaled(
                                acc_base,
                                acc_base + n,
                                [planes, rt, win.ow],
                                AluOp::Add,
                                hw.acc_bits,
                            )
                        }),
                    ]);
                }
                s.compute(&post::emit(
                    posts,
                    acc_base,
                    scale_at + u64::from(sliced),
                    f0,
                    [planes, rt, win.ow],
                ));
                s.end_tile(&[store(
                    oreg,
                    out,
                    acc_base,
                    [f0, r0, 0],
                    [planes, rt, win.ow],
                )]);
            }
        }
    }
    Ok((tiles, rate, products))
}

/// The cycles the layer takes alone under `binding`, by the cycle model's timing of the
/// instructions `emit` writes.
pub fn cycles(hw: &HwConfig, job: &ConvJob, binding: Binding) -> Result<u64, String> {
    let mut s = Streams::new();
    s.layer(0);
    emit(&mut s, hw, job, binding)?;
    let run = qweave_sim::time(hw, &s.finish()).map_err(|e| e.to_string())?;
    Ok(run.cycles)
}

/// A lower bound on the layer's cycles under `binding`: the sum of its `gemm`s' cycles, which
/// the compute queue runs one after another. Cheap: no instruction is built.
pub fn gemm_cycles(hw: &HwConfig, job: &ConvJob, binding: Binding) -> Result<u64, String> {
    let shape = &job.shape;
    let t = binding.tile;
    let rate = pe::rate(hw, &job.config(binding))?;
    let win = shape.win;
    let mut total = 0;
    let split = |n: u64, step: u64| {
        // full blocks and the short last one
        let (full, rest) = (n / step, n % step);
        [(step, full), (rest, u64::from(rest > 0))]
    };
    for (gt, gn) in split(shape.groups, t.g) {
        for (mt, mn) in split(shape.mpg, t.m) {
            for (rt, rn) in split(win.oh, t.r) {
                for (ct, cn) in split(shape.cpg, t.c) {
                    let count = gn * mn * rn * cn * shape.slices;
                    if count == 0 {
                        continue;
                    }
                    let gemm = Gemm {
                        groups: gt as u16,
                        cin: ct as u16,
                        m: mt as u16,
                        oh: rt as u16,
                        ow: win.ow as u16,
                        kh: win.k[0] as u8,
                        kw: win.k[1] as u8,
                        ..Gemm::zeroed()
                    };
                    total += count * qweave_hw::cost(hw, rate, &Op::Gemm(gemm)).cycles;
                }
            }
        }
    }
    Ok(total)
}
