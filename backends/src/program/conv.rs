//! Convolutions and matrix products on the array: the precision mode, the weights packed at
//! their width, the bias with the input zero point folded in, and the tiling over groups,
//! filters, output rows and input-channel chunks.
//!
//! The input is loaded as stored, padded with its zero point, so the array reads operands of
//! exactly the input's width: `sum (x - zx) (w - zw) = sum x (w - zw) - zx sum (w - zw)`, and
//! the second term is a constant per filter that joins the bias. Padded positions hold `zx`
//! and so contribute 0, as `q.conv` says. Every sum wraps at the layer's accumulator width,
//! so the folded bias is exact modulo it, as the sums are.

use super::layout::{Region, View, format, view};
use super::plan::Layer;
use super::post::{self, storage, zero_points};
use super::slices::{self, Slice};
use super::window::Window;
use super::{Emitter, Mapping};
use qweave_hw::isa::{Alu, AluOp, Buf, Config, Format, Gemm, Load, Op, Store};
use qweave_hw::pe;
use qweave_ir::{OpKind, Storage};

/// The geometry of a convolution (a matrix product is a 1x1 one).
struct Geometry {
    x: View,
    out: View,
    win: Window,
    groups: u64,
    /// Input channels and filters per group.
    cpg: u64,
    mpg: u64,
}

/// What a tile can exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Input,
    Weight,
    Accumulator,
    Parameter,
    Field,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Input => "input buffer",
            Limit::Weight => "weight buffer",
            Limit::Accumulator => "accumulator memory",
            Limit::Parameter => "parameter memory",
            Limit::Field => "16-bit range of the instruction fields",
        })
    }
}

/// A tile size: groups, filters per group, input channels per group, output rows.
#[derive(Clone, Copy, Debug)]
struct Tile {
    g: u64,
    m: u64,
    c: u64,
    r: u64,
}

/// The smallest width holding `lo ..= hi`: unsigned when nothing is negative.
fn width(lo: i64, hi: i64) -> (Format, u8) {
    if lo >= 0 {
        (Format::Unsigned, (64 - hi.leading_zeros()).max(1) as u8)
    } else {
        let need = |v: i64| {
            65 - if v < 0 {
                v.leading_ones()
            } else {
                v.leading_zeros()
            }
        };
        (Format::Signed, need(lo).max(need(hi)) as u8)
    }
}

fn u8_of(v: u64, what: &str) -> Result<u8, String> {
    u8::try_from(v).map_err(|_| format!("{what} {v} exceeds the 255 an instruction field holds"))
}

/// Emits a `q.conv` or `q.matmul` layer; returns its mode and tile count.
pub(crate) fn emit(
    e: &mut Emitter<'_>,
    layer: &Layer,
    op: qweave_ir::Op,
) -> Result<Mapping, String> {
    let g = e.g;
    let d = &g.ops[op];
    let (xv, wv, bv) = (d.operands[0], d.operands[1], d.operands.get(2).copied());
    let xt = g.ty(xv);
    let wt = g.ty(wv);
    let result = g.ty(d.results[0]);
    let acc = match &d.kind {
        OpKind::QConv(a) => a.acc,
        OpKind::QMatMul(a) => a.acc,
        _ => unreachable!("conv::emit is given convolutions"),
    };
    let wdata = g.const_data(wv).and_then(|t| t.as_int()).ok_or(
        "the weights are not a constant: the array multiplies activations by stored weights \
         only (a product of two computed tensors has no mapping)",
    )?;
    // geometry, and the weights as [filter][channel][ky][kx]
    let (geo, weights): (Geometry, Vec<i64>) =
        match &d.kind {
            OpKind::QConv(a) => {
                let spatial = xt.rank().checked_sub(2).filter(|s| (1..=2).contains(s)).ok_or(
                "only 1-D and 2-D convolutions map onto the array (planes of rows of values)",
            )?;
                let two = |v: &[u64], i: usize| {
                    if spatial == 1 {
                        [1, v[i]]
                    } else {
                        [v[i], v[i + 1]]
                    }
                };
                let ws = &wt.shape;
                let k = if spatial == 1 {
                    [1, ws[2]]
                } else {
                    [ws[2], ws[3]]
                };
                let pads_begin = two(&a.pads, 0);
                let x = view(&xt.shape, &xt.shape)?;
                let out = view(&result.shape, &result.shape)?;
                let win = Window {
                    h: x.dims[1],
                    w: x.dims[2],
                    oh: out.dims[1],
                    ow: out.dims[2],
                    k,
                    s: two(&a.strides, 0),
                    d: two(&a.dilations, 0),
                    pad: pads_begin,
                };
                let groups = a.group;
                let geo = Geometry {
                    x,
                    out,
                    win,
                    groups,
                    cpg: x.dims[0] / groups,
                    mpg: out.dims[0] / groups,
                };
                (geo, wdata.to_vec())
            }
            _ => {
                // [M, K] x [K, N]: K planes of one row of M values, N filters of K x 1 x 1
                let (kk, n) = (wt.shape[0], wt.shape[1]);
                let x = view(&xt.shape, &xt.shape)?;
                let out = view(&result.shape, &result.shape)?;
                let win = Window {
                    h: 1,
                    w: x.dims[2],
                    oh: 1,
                    ow: out.dims[2],
                    k: [1, 1],
                    s: [1, 1],
                    d: [1, 1],
                    pad: [0, 0],
                };
                let mut w = Vec::with_capacity(wdata.len());
                for o in 0..n {
                    for c in 0..kk {
                        w.push(wdata[(c * n + o) as usize]);
                    }
                }
                let geo = Geometry {
                    x,
                    out,
                    win,
                    groups: 1,
                    cpg: kk,
                    mpg: n,
                };
                (geo, w)
            }
        };
    let Geometry {
        x,
        out,
        win,
        groups,
        cpg,
        mpg,
    } = geo;
    let m_total = groups * mpg;
    let khw = win.k[0] * win.k[1];
    let per_filter = (cpg * khw) as usize;
    // weights minus their zero points, per filter
    let wrank = wt.rank();
    let zw = match wt.elem.quant().map(|q| &q.params) {
        Some(qweave_ir::QuantParams::Axis {
            axis, zero_points, ..
        }) => {
            let filter_axis = if matches!(d.kind, OpKind::QMatMul(_)) {
                1
            } else {
                0
            };
            if *axis != filter_axis {
                return Err(format!(
                    "weight zero points run along axis {axis}, not the filters (axis {filter_axis})"
                ));
            }
            zero_points.to_vec()
        }
        _ => zero_points(wt.elem, wrank, 1)?.repeat(m_total as usize),
    };
    let wstore = storage(wt.elem)?;
    let shifted: Vec<i64> = weights
        .iter()
        .enumerate()
        .map(|(i, &v)| v - zw[i / per_filter])
        .collect();
    let (wfmt, wbits) = if zw.iter().all(|&z| z == 0) {
        format(wstore)
    } else {
        let lo = shifted.iter().copied().min().unwrap_or(0);
        let hi = shifted.iter().copied().max().unwrap_or(0);
        width(lo, hi)
    };
    // activations as stored, padded with the zero point
    let xstore = storage(xt.elem)?;
    let zx = zero_points(xt.elem, xt.rank(), 1).map_err(|m| format!("the input's {m}"))?[0];
    let padded = win.pad.iter().any(|&p| p > 0) || win.cols().1 > 0;
    let (afmt, abits) = match xstore {
        Storage::Bipolar if padded => (Format::Signed, 2),
        s => format(s),
    };
    let xreg = e.region(xv)?;
    let no_mode = || {
        let modes: Vec<String> = e.hw.modes.iter().map(|m| m.mode.to_string()).collect();
        format!(
            "{wbits}-bit weights by {abits}-bit activations fit none of the PE's modes ({}) on \
             target {}; quantize the layer narrower or pick a target with a wider mode",
            modes.join(", "),
            e.hw.target
        )
    };
    let (rate, afmt, slices) = match e.hw.mode_for(wbits, abits) {
        Some(rate) => (
            rate,
            afmt,
            vec![Slice {
                region: xreg,
                fill: zx,
            }],
        ),
        None if matches!(xstore, Storage::Int(_)) => {
            let s = slices::split(e.hw, wbits, xreg, zx).ok_or_else(no_mode)?;
            (s.rate, s.afmt, s.slices)
        }
        None => return Err(no_mode()),
    };
    let sliced = slices.len() > 1;
    if !acc.signed || acc.bits > e.hw.acc_bits {
        return Err(format!(
            "its {acc} accumulators exceed the {}-bit signed accumulators of target {}; \
             narrow the layer's operands or pick a target with wider accumulators",
            e.hw.acc_bits, e.hw.target
        ));
    }
    // the bias with -zx * sum(w - zw) folded in, wrapped at the accumulator width
    let bias: Option<Vec<i64>> = match bv {
        None if zx == 0 => None,
        _ => {
            let b = match bv {
                Some(b) => g
                    .const_data(b)
                    .and_then(|t| t.as_int())
                    .ok_or("the bias is not a constant; fold constants first")?
                    .to_vec(),
                None => vec![0; m_total as usize],
            };
            Some(
                (0..m_total as usize)
                    .map(|o| {
                        let sum: i64 = shifted[o * per_filter..(o + 1) * per_filter].iter().sum();
                        acc.wrap(b[o] - zx * sum)
                    })
                    .collect(),
            )
        }
    };
    if sliced {
        // between slices the post-processing unit scales the sums, saturating: exact only
        // when no sum can leave the accumulator type, which the operand ranges must prove
        let xmax = i128::from(xstore.min().abs().max(xstore.max().abs()));
        let worst = (0..m_total as usize)
            .map(|o| {
                let w: i128 = shifted[o * per_filter..(o + 1) * per_filter]
                    .iter()
                    .map(|v| i128::from(v.abs()))
                    .sum();
                let b = bias.as_ref().map_or(0, |b| i128::from(b[o].abs()));
                b + xmax * w
            })
            .max()
            .unwrap_or(0);
        if worst > i128::from(acc.max()) {
            return Err(format!(
                "its {abits}-bit activations run in {} slices of {} bits, which is exact only \
                 when no sum can overflow the {acc} accumulators, but these weights reach \
                 {worst}; quantize the activations narrower",
                slices.len(),
                slices[0].region.bits
            ));
        }
    }
    let wreg = e.dram.constant(&shifted, wfmt, wbits)?;
    let breg = match &bias {
        Some(b) => Some(e.dram.constant(b, Format::Signed, 32)?),
        None => None,
    };
    let mut posts = Vec::new();
    for &p in &layer.post {
        e.fits_acc(g.ops[p].results[0])?;
        posts.push(e.post(p, out.dims[0])?);
    }
    let oreg = e.region(layer.result)?;
    let scale = if sliced {
        let one = 1i64 << slices[0].region.bits;
        Some(e.dram.constant(&[one], Format::Signed, 32)?)
    } else {
        None
    };
    let mode = rate.mode;
    // filter packing takes neighbouring taps of a kernel row over neighbouring outputs
    let taps = if win.s[1] == 1 && win.d[1] == 1 {
        u8::try_from(win.k[1]).unwrap_or(u8::MAX)
    } else {
        1
    };
    let config = Config {
        w: mode.w,
        a: mode.a,
        wfmt,
        afmt,
        acc_bits: acc.bits,
        ..Config::zeroed()
    };
    let pe = *pe::choices(e.hw, rate, wfmt, afmt, taps)
        .first()
        .ok_or_else(no_mode)?;
    let config = pe.apply(config);
    let products = pe::rate(e.hw, &config)?.products;
    e.s.config(config);
    // capacities of one half (slot) of each buffer, in entries of the mode
    let hw = e.hw;
    let inp_half = u64::from(hw.rows) * u64::from(hw.input_bank_bytes) * 8 / u64::from(mode.a);
    let wgt_half = u64::from(hw.cols) * u64::from(hw.weight_bank_bytes) * 8 / u64::from(mode.w) / 2;
    let acc_half = e.acc_half();
    let (pad_left, pad_right) = win.cols();
    let iw = win.iw();
    for (v, what) in [
        (win.k[0], "kernel rows"),
        (win.k[1], "kernel columns"),
        (win.s[0], "vertical stride"),
        (win.s[1], "horizontal stride"),
        (win.d[0], "vertical dilation"),
        (win.d[1], "horizontal dilation"),
        (pad_left, "left padding"),
        (pad_right, "right padding"),
        (win.pad[0], "top padding"),
    ] {
        u8_of(v, what)?;
    }
    let u16max = u64::from(u16::MAX);
    // sliced layers keep the bias apart until the slices are summed
    let regions = if sliced && breg.is_some() { 2 } else { 1 };
    let n_slices = slices.len() as u64;
    let fits = |t: Tile| -> Result<(), Limit> {
        let ih = win.ih_bound(t.r);
        let planes = t.g * t.m;
        let checks = [
            (t.g * t.c * ih * iw <= inp_half, Limit::Input),
            (planes * t.c * khw <= wgt_half, Limit::Weight),
            (
                regions * planes * t.r * win.ow
                    + u64::from(sliced)
                    + posts.iter().map(|p| p.scratch(planes)).sum::<u64>()
                    <= acc_half,
                Limit::Accumulator,
            ),
            (
                posts.iter().map(|p| p.par_words(planes)).sum::<u64>()
                    <= u64::from(hw.post.param_entries),
                Limit::Parameter,
            ),
            (
                [t.g * t.c, ih, iw, planes, t.c * khw, t.r, win.ow]
                    .iter()
                    .all(|&v| v <= u16max),
                Limit::Field,
            ),
        ];
        match checks.iter().find(|c| !c.0) {
            Some(c) => Err(c.1),
            None => Ok(()),
        }
    };
    e.check_tables(&posts)?;
    let mut t = Tile {
        g: groups,
        m: mpg,
        c: cpg,
        r: 1,
    };
    while let Err(what) = fits(t) {
        if t.g > 1 {
            t.g = t.g.div_ceil(2);
            continue;
        }
        let shrink_m = match what {
            Limit::Accumulator | Limit::Parameter => true,
            Limit::Input => false,
            Limit::Weight | Limit::Field => t.m >= t.c,
        };
        if shrink_m && t.m > 1 {
            t.m = t.m.div_ceil(2);
        } else if !shrink_m && t.c > 1 {
            t.c = t.c.div_ceil(2);
        } else if t.m > 1 {
            t.m = t.m.div_ceil(2);
        } else if t.c > 1 {
            t.c = t.c.div_ceil(2);
        } else {
            return Err(format!(
                "one output row of one filter does not fit: the {what} is too small for a \
                 row of {} input columns ({} output columns) on target {}; tile the image or \
                 pick a larger target",
                iw, win.ow, hw.target
            ));
        }
    }
    while t.r < win.oh && fits(Tile { r: t.r + 1, ..t }).is_ok() {
        t.r += 1;
    }
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
                let half = e.s.begin_tile() as u64;
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
                match (&breg, &scale) {
                    (Some(b), None) => e.s.compute(&[bias_load(b, acc_base)]),
                    (_, Some(sc)) => {
                        let (dram, bit) = sc.at(0);
                        e.s.compute(&[Op::Load(Load {
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
                        let slot = e.s.next_slot() as u64;
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
                        e.s.fill_slot(&[inp, wgt]);
                        e.s.read_slot(&[Op::Gemm(Gemm {
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
                        e.s.compute(&[Op::Alu(scaled(
                            acc_base,
                            scale_at,
                            [planes, rt, win.ow],
                            AluOp::Mul,
                            hw.acc_bits,
                        ))]);
                    }
                }
                if let (true, Some(b)) = (sliced, &breg) {
                    e.s.compute(&[
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
                e.s.compute(&post::emit(
                    &posts,
                    acc_base,
                    scale_at + u64::from(sliced),
                    f0,
                    [planes, rt, win.ow],
                ));
                e.s.end_tile(&[store(
                    &oreg,
                    &out,
                    acc_base,
                    [f0, r0, 0],
                    [planes, rt, win.ow],
                )]);
            }
        }
    }
    let folds = (t.c * khw).div_ceil(u64::from(products));
    Ok(Mapping {
        mode: Some(rate),
        pe: Some((pe, products)),
        tiles,
        array: Some([folds.min(u64::from(hw.rows)), t.m.min(u64::from(hw.cols))]),
    })
}

/// `acc[dst..] = op(acc[dst..], acc[src])` over `dims`, the one `src` value broadcast,
/// saturating at the accumulators' width.
fn scaled(dst: u64, src: u64, dims: [u64; 3], op: AluOp, bits: u8) -> Alu {
    Alu {
        op,
        dst: dst as u32,
        src: src as u32,
        z: dims[0] as u16,
        y: dims[1] as u16,
        x: dims[2] as u16,
        szs: 0,
        sys: 0,
        sxs: 0,
        dzp: 0,
        szp: 0,
        ozp: 0,
        ofmt: Format::Signed,
        obits: bits,
    }
}

/// A store of a dense block of `dims` accumulators from `acc` to `at` of a tensor.
pub(crate) fn store(reg: &Region, v: &View, acc: u64, at: [u64; 3], dims: [u64; 3]) -> Store {
    let (dram, bit) = reg.at(v.at(at[0], at[1], at[2]));
    Store {
        sram: acc as u32,
        dram,
        bit,
        fmt: reg.fmt,
        bits: reg.bits,
        z: dims[0] as u16,
        y: dims[1] as u16,
        x: dims[2] as u16,
        zs: v.strides[0] as u32,
        ys: v.strides[1] as u32,
        xs: v.strides[2] as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::width;
    use qweave_hw::isa::Format;

    #[test]
    fn widths_are_the_smallest_that_hold_the_range() {
        assert_eq!(width(0, 255), (Format::Unsigned, 8));
        assert_eq!(width(0, 0), (Format::Unsigned, 1));
        assert_eq!(width(-128, 127), (Format::Signed, 8));
        assert_eq!(width(-129, 0), (Format::Signed, 9));
        assert_eq!(width(-1, 1), (Format::Signed, 2));
    }
}
