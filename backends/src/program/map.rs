//! Layers on the post-processing unit: pooling, element-wise adds and multiplies (with the
//! chains of their operands), chains applied to a tensor in DRAM, and concatenation as copies.
//! Each runs over tiles of whole rows of the result: planes first, then rows when a single
//! plane does not fit half the accumulators.

use super::conv::store;
use super::layout::{Region, View, view, view_dim};
use super::plan::{Anchor, Layer};
use super::post::{self, Post, storage, zero_points};
use super::window::Window;
use super::{Emitter, Mapping};
use qweave_hw::isa::{Alu, AluOp, Buf, Load, Op, Pool, PoolKind};
use qweave_ir::{OpKind, Value};

/// A load of `dims` values of a tensor into the accumulators from `acc` on.
fn acc_load(reg: &Region, v: &View, acc: u64, at: [u64; 3], dims: [u64; 3]) -> Load {
    let (dram, bit) = reg.at(v.at(at[0], at[1], at[2]));
    Load {
        buf: Buf::Acc,
        fmt: reg.fmt,
        bits: reg.bits,
        sram: acc as u32,
        dram,
        bit,
        z: dims[0] as u16,
        y: dims[1] as u16,
        x: dims[2] as u16,
        zs: v.strides[0] as u32,
        ys: v.strides[1] as u32,
        xs: v.strides[2] as u32,
        ..Load::zeroed()
    }
}

/// The largest tile of `[planes, rows]` (whole rows of `dims`) for which `fits` holds.
fn tile(dims: [u64; 3], fits: impl Fn(u64, u64) -> bool) -> Option<(u64, u64)> {
    let u16max = u64::from(u16::MAX);
    let ok = |z: u64, r: u64| z <= u16max && r <= u16max && dims[2] <= u16max && fits(z, r);
    let mut z = dims[0];
    while z > 1 && !ok(z, dims[1]) {
        z = z.div_ceil(2);
    }
    if ok(z, dims[1]) {
        return Some((z, dims[1]));
    }
    let mut r = dims[1];
    while r > 1 && !ok(1, r) {
        r = r.div_ceil(2);
    }
    ok(1, r).then_some((1, r))
}

fn prepare(e: &mut Emitter<'_>, ops: &[qweave_ir::Op], planes: u64) -> Result<Vec<Post>, String> {
    let mut posts = Vec::with_capacity(ops.len());
    for &p in ops {
        e.fits_acc(e.g.ops[p].results[0])?;
        posts.push(e.post(p, planes)?);
    }
    Ok(posts)
}

fn scratch(posts: &[Post], planes: u64) -> u64 {
    posts.iter().map(|p| p.scratch(planes)).sum()
}

fn words(posts: &[Post], planes: u64) -> u64 {
    posts.iter().map(|p| p.par_words(planes)).sum()
}

/// Emits a layer other than a convolution; returns its tile count.
pub(crate) fn emit(e: &mut Emitter<'_>, layer: &Layer) -> Result<Mapping, String> {
    match &layer.anchor {
        Anchor::Pool(op) => pool(e, layer, *op),
        Anchor::Binary { op, src, pre } => binary(e, layer, *op, *src, pre),
        Anchor::Load(src) => binary(e, layer, layer.post[0], [*src, *src], &[vec![], vec![]]),
        Anchor::Concat(op) => concat(e, layer, *op),
        Anchor::Conv(_) => unreachable!("convolutions go to conv::emit"),
    }
    .map(|tiles| Mapping {
        pe: None,
        mode: None,
        tiles,
        array: None,
    })
}

fn pool(e: &mut Emitter<'_>, layer: &Layer, op: qweave_ir::Op) -> Result<u64, String> {
    let g = e.g;
    let d = &g.ops[op];
    let (xv, rv) = (d.operands[0], d.results[0]);
    let xt = g.ty(xv);
    if xt.rank() != 4 {
        return Err("only 2-D pooling over [1, C, H, W] maps onto the accelerator".into());
    }
    let x = view(&xt.shape, &xt.shape)?;
    let out = view(&g.ty(rv).shape, &g.ty(rv).shape)?;
    let xs = storage(xt.elem)?;
    let (kind, k, s, dl, pads, acc_bits, offset, fill) = match &d.kind {
        OpKind::QMaxPool(a) => (
            PoolKind::Max,
            &a.kernel,
            &a.strides,
            a.dilations.clone(),
            &a.pads,
            e.hw.acc_bits,
            0,
            xs.min(),
        ),
        OpKind::QSumPool(a) => {
            if !a.acc.signed || a.acc.bits > e.hw.acc_bits {
                return Err(format!(
                    "its {} sums exceed the {}-bit signed accumulators of target {}",
                    a.acc, e.hw.acc_bits, e.hw.target
                ));
            }
            let zx = zero_points(xt.elem, 4, 1)?[0];
            (
                PoolKind::Sum,
                &a.kernel,
                &a.strides,
                vec![1, 1],
                &a.pads,
                a.acc.bits,
                zx,
                0,
            )
        }
        _ => unreachable!("pool is given poolings"),
    };
    e.fits_acc(xv)?;
    let win = Window {
        h: x.dims[1],
        w: x.dims[2],
        oh: out.dims[1],
        ow: out.dims[2],
        k: [k[0], k[1]],
        s: [s[0], s[1]],
        d: [dl[0], dl[1]],
        pad: [pads[0], pads[1]],
    };
    let (pl, pr) = win.cols();
    let iw = win.iw();
    for v in [k[0], k[1], s[0], s[1], dl[0], dl[1], pl, pr, pads[0]] {
        if v > 255 {
            return Err(format!(
                "a window parameter ({v}) exceeds the 255 a field holds"
            ));
        }
    }
    let posts = prepare(e, &layer.post, out.dims[0])?;
    e.check_tables(&posts)?;
    let (xreg, oreg) = (e.region(xv)?, e.region(layer.result)?);
    e.s.config(e.plain_config(acc_bits));
    let (half, par) = (e.acc_half(), u64::from(e.hw.post.param_entries));
    let (z, r) = tile(out.dims, |z, r| {
        let ih = win.ih_bound(r);
        ih <= u64::from(u16::MAX) && z * (ih * iw + r * win.ow) <= half && words(&posts, z) <= par
    })
    .ok_or_else(|| {
        format!("one output row ({iw} input columns) does not fit half the accumulators ({half})")
    })?;
    let mut tiles = 0;
    for z0 in (0..out.dims[0]).step_by(z as usize) {
        let zt = z.min(out.dims[0] - z0);
        for r0 in (0..win.oh).step_by(r as usize) {
            let rt = r.min(win.oh - r0);
            let rows = win.rows(r0, rt);
            tiles += 1;
            let base = e.s.begin_tile() as u64 * half;
            let src_n = zt * rows.ih() * iw;
            let mut load = acc_load(&xreg, &x, base, [z0, rows.first, 0], [zt, rows.y, win.w]);
            load.pad_top = rows.pad_top as u8;
            load.pad_bottom =
                u8::try_from(rows.pad_bottom).map_err(|_| "bottom padding exceeds 255")?;
            load.pad_left = pl as u8;
            load.pad_right = pr as u8;
            load.offset = offset;
            load.fill = fill;
            let mut ops = vec![
                Op::Load(load),
                Op::Pool(Pool {
                    kind,
                    src: base as u32,
                    dst: (base + src_n) as u32,
                    c: zt as u16,
                    ih: rows.ih() as u16,
                    iw: iw as u16,
                    oh: rt as u16,
                    ow: win.ow as u16,
                    kh: k[0] as u8,
                    kw: k[1] as u8,
                    sh: s[0] as u8,
                    sw: s[1] as u8,
                    dh: dl[0] as u8,
                    dw: dl[1] as u8,
                }),
            ];
            let dst_n = zt * rt * win.ow;
            ops.extend(post::emit(
                &posts,
                base + src_n,
                base + src_n + dst_n,
                z0,
                [zt, rt, win.ow],
            ));
            e.s.compute(&ops);
            e.s.end_tile(&[store(
                &oreg,
                &out,
                base + src_n,
                [z0, r0, 0],
                [zt, rt, win.ow],
            )]);
        }
    }
    Ok(tiles)
}

/// An add or multiply of two chains, or (`op` a post op, both sources the same) one chain.
fn binary(
    e: &mut Emitter<'_>,
    layer: &Layer,
    op: qweave_ir::Op,
    src: [Value; 2],
    pre: &[Vec<qweave_ir::Op>],
) -> Result<u64, String> {
    let g = e.g;
    let rt = g.ty(layer.result).clone();
    let out = view(&rt.shape, &rt.shape)?;
    let alu = match g.ops[op].kind {
        OpKind::QAdd(_) => Some(AluOp::Add),
        OpKind::QMul(_) => Some(AluOp::Mul),
        _ => None,
    };
    let n_src = if alu.is_some() { 2 } else { 1 };
    let alu_result = g.ops[op].results[0];
    // what each source and chain needs
    let mut views = Vec::new();
    let mut regs = Vec::new();
    let mut pres = Vec::new();
    for k in 0..n_src {
        let st = g.ty(src[k]);
        let v = view(&st.shape, &rt.shape)?;
        e.fits_acc(src[k])?;
        let planes = if v.strides[0] == 0 { 1 } else { out.dims[0] };
        pres.push(prepare(e, &pre[k], planes)?);
        views.push(v);
        regs.push(e.region(src[k])?);
    }
    if alu.is_some() {
        e.fits_acc(alu_result)?;
    }
    let posts = prepare(e, &layer.post, out.dims[0])?;
    let all: Vec<Post> = pres.iter().flatten().chain(&posts).cloned().collect();
    e.check_tables(&all)?;
    let oreg = e.region(layer.result)?;
    e.s.config(e.plain_config(e.hw.acc_bits));
    let (half, par) = (e.acc_half(), u64::from(e.hw.post.param_entries));
    let (z, r) = tile(out.dims, |z, r| {
        n_src as u64 * z * r * out.dims[2] + scratch(&all, z) <= half && words(&all, z) <= par
    })
    .ok_or_else(|| {
        format!(
            "one row of {} values does not fit half the accumulators ({half})",
            out.dims[2]
        )
    })?;
    let zps = |v: Value| zero_points(g.ty(v).elem, g.ty(v).rank(), 1).map(|z| z[0]);
    let mut tiles = 0;
    for z0 in (0..out.dims[0]).step_by(z as usize) {
        let zt = z.min(out.dims[0] - z0);
        for r0 in (0..out.dims[1]).step_by(r as usize) {
            let rt_ = r.min(out.dims[1] - r0);
            let dims = [zt, rt_, out.dims[2]];
            let n = zt * rt_ * out.dims[2];
            tiles += 1;
            let base = e.s.begin_tile() as u64 * half;
            let mut ops = Vec::new();
            for k in 0..n_src {
                let at = base + k as u64 * n;
                ops.push(Op::Load(acc_load(
                    &regs[k],
                    &views[k],
                    at,
                    [z0, r0, 0],
                    dims,
                )));
                let zc = if views[k].strides[0] == 0 { 0 } else { z0 };
                ops.extend(post::emit(&pres[k], at, base + n_src as u64 * n, zc, dims));
            }
            if let Some(aop) = alu {
                let d = &g.ops[op];
                let (ofmt, obits) = super::layout::format(storage(g.ty(alu_result).elem)?);
                ops.push(Op::Alu(Alu {
                    op: aop,
                    dst: base as u32,
                    src: (base + n) as u32,
                    z: zt as u16,
                    y: rt_ as u16,
                    x: out.dims[2] as u16,
                    szs: (rt_ * out.dims[2]) as u32,
                    sys: out.dims[2] as u32,
                    sxs: 1,
                    dzp: zps(d.operands[0])?,
                    szp: zps(d.operands[1])?,
                    ozp: zps(alu_result)?,
                    ofmt,
                    obits,
                }));
            }
            ops.extend(post::emit(&posts, base, base + n_src as u64 * n, z0, dims));
            e.s.compute(&ops);
            e.s.end_tile(&[store(&oreg, &out, base, [z0, r0, 0], dims)]);
        }
    }
    Ok(tiles)
}

/// `concat`: each operand copied into its place through the accumulators.
fn concat(e: &mut Emitter<'_>, layer: &Layer, op: qweave_ir::Op) -> Result<u64, String> {
    let g = e.g;
    let d = &g.ops[op];
    let OpKind::Concat(a) = &d.kind else {
        unreachable!("concat is given concatenations")
    };
    let rt = g.ty(layer.result);
    let out = view(&rt.shape, &rt.shape)?;
    let dim = view_dim(rt.rank(), a.axis as usize)
        .ok_or("concatenation along the batch axis; the accelerator runs batch 1")?;
    let oreg = e.region(layer.result)?;
    e.s.config(e.plain_config(e.hw.acc_bits));
    let half = e.acc_half();
    let mut offset = 0;
    let mut tiles = 0;
    for &v in &d.operands {
        let vt = g.ty(v);
        let vv = view(&vt.shape, &vt.shape)?;
        e.fits_acc(v)?;
        let reg = e.region(v)?;
        let (z, r) = tile(vv.dims, |z, r| z * r * vv.dims[2] <= half).ok_or_else(|| {
            format!(
                "one row of {} values does not fit half the accumulators",
                vv.dims[2]
            )
        })?;
        for z0 in (0..vv.dims[0]).step_by(z as usize) {
            let zt = z.min(vv.dims[0] - z0);
            for r0 in (0..vv.dims[1]).step_by(r as usize) {
                let rt_ = r.min(vv.dims[1] - r0);
                let dims = [zt, rt_, vv.dims[2]];
                tiles += 1;
                let base = e.s.begin_tile() as u64 * half;
                e.s.compute(&[Op::Load(acc_load(&reg, &vv, base, [z0, r0, 0], dims))]);
                let mut at = [z0, r0, 0];
                at[dim] += offset;
                e.s.end_tile(&[store(&oreg, &out, base, at, dims)]);
            }
        }
        offset += vv.dims[dim];
    }
    Ok(tiles)
}
