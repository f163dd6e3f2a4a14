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
use super::tiles::{self, ConvJob};
use super::tiling::{ConvShape, Limit, PerPlane};
use super::window::Window;
use super::{Binding, Emitter, Mapping};
use qweave_hw::ModeRate;
use qweave_hw::isa::{Alu, AluOp, Format, Store};
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

pub(crate) fn u8_of(v: u64, what: &str) -> Result<u8, String> {
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
    let hw = e.hw;
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
    e.check_tables(&posts)?;
    let affine = |f: &dyn Fn(&post::Post, u64) -> u64| PerPlane {
        per_plane: posts.iter().map(|p| f(p, 1) - f(p, 0)).sum(),
        fixed: posts.iter().map(|p| f(p, 0)).sum(),
    };
    let mut modes: Vec<ModeRate> = if sliced {
        vec![rate]
    } else {
        hw.modes
            .iter()
            .filter(|m| m.mode.covers(wbits, abits))
            .copied()
            .collect()
    };
    modes.sort_by_key(|m| std::cmp::Reverse(m.macs_per_cycle));
    let shape = ConvShape {
        win,
        groups,
        mpg,
        cpg,
        wbits,
        abits,
        wfmt,
        afmt,
        modes,
        // filter packing takes neighbouring taps of a kernel row over neighbouring outputs
        taps: if win.s[1] == 1 && win.d[1] == 1 {
            u8::try_from(win.k[1]).unwrap_or(u8::MAX)
        } else {
            1
        },
        slices: slices.len() as u64,
        // sliced layers keep the bias apart until the slices are summed
        regions: if sliced && breg.is_some() { 2 } else { 1 },
        scratch: affine(&|p, n| p.scratch(n)),
        par: affine(&|p, n| p.par_words(n)),
    };
    let binding = match e.binding(op) {
        Some(b) => check_binding(hw, &shape, b)?,
        None => default_binding(hw, &shape).map_err(|what| {
            format!(
                "one output row of one filter does not fit: the {what} is too small for a \
                 row of {} input columns ({} output columns) on target {}; tile the image or \
                 pick a larger target",
                iw, win.ow, hw.target
            )
        })?,
    };
    let job = ConvJob {
        shape,
        x,
        out,
        slices,
        wreg,
        breg,
        scale,
        oreg,
        posts,
        acc_bits: acc.bits,
    };
    let (tiles, rate, products) = tiles::emit(&mut e.s, hw, &job, binding)?;
    let (t, pe) = (binding.tile, binding.pe);
    let khw = job.shape.khw();
    e.record(job, binding);
    let folds = (t.c * khw).div_ceil(u64::from(products));
    Ok(Mapping {
        mode: Some(rate),
        pe: Some((pe, products)),
        tiles,
        array: Some([folds.min(u64::from(hw.rows)), t.m.min(u64::from(hw.cols))]),
    })
}

/// The emitter's own choice: the fastest mode, its packing with the most products, the
/// default tile; or the limit one output row exceeds.
pub(crate) fn default_binding(
    hw: &qweave_hw::HwConfig,
    shape: &ConvShape,
) -> Result<Binding, Limit> {
    let rate = shape.modes[0];
    let pe = *shape
        .packings(hw, rate)
        .first()
        .expect("every mode has a packing for operands of its widths");
    let tile = shape.default_tile(hw, rate.mode)?;
    Ok(Binding {
        mode: rate.mode,
        pe,
        tile,
    })
}

/// `b` if it is one of `shape`'s legal bindings on `hw`, else what is wrong with it.
fn check_binding(
    hw: &qweave_hw::HwConfig,
    shape: &ConvShape,
    b: Binding,
) -> Result<Binding, String> {
    let rate = shape.rate(b.mode).ok_or_else(|| {
        format!(
            "the mapping chose mode {}, which does not hold the layer",
            b.mode
        )
    })?;
    if !shape.packings(hw, rate).contains(&b.pe) {
        return Err(format!(
            "the mapping chose packing {} in mode {}, which the layer cannot use",
            b.pe.describe(),
            b.mode
        ));
    }
    shape
        .fits(hw, b.mode, b.tile)
        .map_err(|what| format!("the mapping's tile {} exceeds the {what}", b.tile))?;
    Ok(b)
}

/// `acc[dst..] = op(acc[dst..], acc[src])` over `dims`, the one `src` value broadcast,
/// saturating at the accumulators' width.
pub(crate) fn scaled(dst: u64, src: u64, dims: [u64; 3], op: AluOp, bits: u8) -> Alu {
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
