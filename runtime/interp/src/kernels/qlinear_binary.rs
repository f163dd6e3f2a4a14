//! onnxruntime's `onnx.qlinear_add` and `onnx.qlinear_mul` (MLAS AVX2 kernels), including
//! which operand its broadcaster treats as a scalar.
//!
//! onnxruntime's `Broadcaster` walks the output in spans: the innermost run of output axes
//! (from the right, skipping axes of size 1) along which each operand is either read
//! contiguously or repeated. An operand repeated along the whole span is passed to MLAS as a
//! one-element "scalar" input; when that is `a`, MLAS gets the operands swapped, which changes
//! the float formula of `QLinearAdd` (the multiply-adds are fused, so their order matters).
//! Which operand is the scalar depends only on the shapes; see [`span_scalar`]. The rule was
//! checked against onnxruntime for equal shapes, one-element operands of rank 0 and 1,
//! `[1,C,1,1]` with `[1,C,H,W]` both ways, `[1,1,H,W]` with `[1,C,H,W]`, `[C,1]` with `[1,W]`,
//! `[R,W]` with `[W]` and `[R,1]`, `[2,1,3]` with `[2,4,3]` and trailing size-1 axes.

use super::index::Walk;
use super::mlas::{cvt_pack, round_clamp, small_range};
use super::qlinear::tensor_params;
use super::{Computed, ints, storage};
use crate::error::EvalError;
use qweave_ir::{Tensor, TensorType};

/// The operand onnxruntime's broadcaster repeats over each span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    /// `a` is one value per span (checked first, so it wins when both are).
    A,
    /// `b` is one value per span.
    B,
}

/// Which operand is a per-span scalar for shapes `a` and `b`, as onnxruntime's
/// `Broadcaster` decides: aligned from the right, the first axis pair whose larger size
/// exceeds 1 (or the leftmost common axis when there is none) decides; an operand whose size
/// there is 1 is the scalar. A rank-0 operand always is; against a rank-0 operand the other
/// decides by its last axis alone.
fn span_scalar(a: &[u64], b: &[u64]) -> Option<Scalar> {
    let pick = |a_repeats: bool, b_repeats: bool| {
        if a_repeats {
            Some(Scalar::A)
        } else if b_repeats {
            Some(Scalar::B)
        } else {
            None
        }
    };
    match (a.last(), b.last()) {
        (None, _) => return Some(Scalar::A),
        (Some(&la), None) => return pick(la <= 1, true),
        _ => {}
    }
    let common = a.len().min(b.len());
    for k in 0..common {
        let (da, db) = (a[a.len() - 1 - k], b[b.len() - 1 - k]);
        if da.max(db) == 1 && k + 1 < common {
            continue;
        }
        return pick(da <= 1, db <= 1);
    }
    None
}

/// The scales of both operands and the result, and their zero points as `f32`.
struct Params {
    sa: f32,
    za: f32,
    sb: f32,
    zb: f32,
    sy: f32,
    zy: f32,
}

impl Params {
    fn of(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Params, EvalError> {
        let (sa, za) = tensor_params(a.ty.elem)?;
        let (sb, zb) = tensor_params(b.ty.elem)?;
        let (sy, zy) = tensor_params(out.elem)?;
        // Zero points are 8-bit, so the conversions are exact.
        Ok(Params {
            sa,
            za: za as f32,
            sb,
            zb: zb as f32,
            sy,
            zy: zy as f32,
        })
    }
}

/// `onnx.qlinear_add` as MLAS computes it on AVX2 with FMA (the compiler contracts every
/// multiply-add, also in the scalar set-up code): `ra = scale_a / scale_y`, `rb = scale_b /
/// scale_y`. MLAS takes a vector operand `v` and a second operand `s` that is either a vector
/// or a per-span scalar: `(v, s) = (b, a)` when `a` is the per-span scalar, else `(a, b)`. Then
/// `F = zp_y - fma(rv, zp_v, rs * zp_s)` and `r = fma(v, rv, fma(s, rs, F))` (for a scalar `s`
/// the inner `fma` is computed once per span: the same value). Finally `_mm_cvtps_epi32` and
/// saturating packs: NaN and values beyond `i32` give the storage minimum. Clamped values
/// count as saturations.
pub(crate) fn qlinear_add(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    let (xs, ys) = (ints(a)?, ints(b)?);
    let p = Params::of(a, b, out)?;
    let s = storage(out)?;
    let (ra, rb) = (p.sa / p.sy, p.sb / p.sy);
    let swap = span_scalar(&a.ty.shape, &b.ty.shape) == Some(Scalar::A);
    let ((rv, zv), (rs, zs)) = if swap {
        ((rb, p.zb), (ra, p.za))
    } else {
        ((ra, p.za), (rb, p.zb))
    };
    let fixed = p.zy - rv.mul_add(zv, rs * zs);
    let exact = |v: f32, w: f32| cvt_pack(v.mul_add(rv, w.mul_add(rs, fixed)), s);
    let ((v, vt), (w, wt)) = if swap {
        ((ys, b), (xs, a))
    } else {
        ((xs, a), (ys, b))
    };
    let small = small_storage(vt) && small_storage(wt);
    if let (true, Some(range)) = (small && a.ty.shape == b.ty.shape, small_range(s, 0)) {
        return Ok(add_fast((v, w), (rv, rs, fixed), range, exact));
    }
    let mut saturations = 0;
    let y = Walk::broadcast(&a.ty.shape, &out.shape)
        .zip(Walk::broadcast(&b.ty.shape, &out.shape))
        .map(|(i, j)| {
            // 8-bit stored values: exact in f32.
            let (va, vb) = (xs[i] as f32, ys[j] as f32);
            let (v, w) = if swap { (vb, va) } else { (va, vb) };
            let (q, clamped) = cvt_pack(v.mul_add(rv, w.mul_add(rs, fixed)), s);
            saturations += u64::from(clamped);
            q
        })
        .collect();
    Ok(Computed::saturated(y, saturations))
}

/// Whether the stored values of `t` lie within `±2^24`, so that they convert to `f32` exactly
/// (through `i32`).
fn small_storage(t: &Tensor) -> bool {
    t.ty.elem
        .storage()
        .is_some_and(|s| s.min() >= -(1 << 24) && s.max() <= 1 << 24)
}

/// [`qlinear_add`] of operands of one shape, `v` the vector operand and `w` the other, both
/// with stored values that convert to `f32` exactly (see [`small_storage`]), and a result
/// storage `range` for [`round_clamp`]. The two fused multiply-adds and the rounding and clamp
/// run as one vector loop ([`AddRows`]); the rare elements whose result is beyond `±2^22` (or
/// NaN), where `round_clamp` and `_mm_cvtps_epi32` part ways, are recomputed with `exact`.
fn add_fast(
    (v, w): (&[i64], &[i64]),
    (rv, rs, fixed): (f32, f32, f32),
    range: (i32, i32),
    exact: impl Fn(f32, f32) -> (i64, bool),
) -> Computed {
    let mut y = vec![0i64; v.len()];
    let mut redo = vec![false; v.len()];
    let rows = AddRows {
        v,
        w,
        rv,
        rs,
        fixed,
        range,
        y: &mut y,
        redo: &mut redo,
    };
    let mut saturations = pulp::Arch::new().dispatch(rows);
    for i in (0..redo.len()).filter(|&i| redo[i]) {
        let (q, clamped) = exact(v[i] as f32, w[i] as f32);
        y[i] = q;
        saturations += u64::from(clamped);
    }
    Computed::saturated(y, saturations)
}

/// The vector loop of [`add_fast`], compiled by `pulp` for the CPU's vector instructions
/// (with FMA where present: `mul_add` is one rounding on every instruction set, so the bits do
/// not depend on it). Returns the saturations among the elements it settles.
struct AddRows<'a> {
    v: &'a [i64],
    w: &'a [i64],
    rv: f32,
    rs: f32,
    fixed: f32,
    range: (i32, i32),
    y: &'a mut [i64],
    redo: &'a mut [bool],
}

impl pulp::WithSimd for AddRows<'_> {
    type Output = u64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> u64 {
        let (rv, rs, fixed) = (self.rv, self.rs, self.fixed);
        const BLOCK: usize = 1 << 16;
        let mut saturations = 0u64;
        let rows = self.y.chunks_mut(BLOCK).zip(self.redo.chunks_mut(BLOCK));
        for ((y, redo), (v, w)) in rows.zip(self.v.chunks(BLOCK).zip(self.w.chunks(BLOCK))) {
            // Counted in u32 per block, which keeps the count in the vector lanes.
            let mut block = 0u32;
            for ((y, redo), (&v, &w)) in y.iter_mut().zip(redo).zip(v.iter().zip(w)) {
                // Both fit 24 bits: exact through i32.
                let r = (v as i32 as f32).mul_add(rv, (w as i32 as f32).mul_add(rs, fixed));
                let (q, clamped) = round_clamp(r, self.range);
                let fast = r.abs() < 4_194_304.0;
                *y = i64::from(q);
                *redo = !fast;
                block += u32::from(clamped & fast);
            }
            saturations += u64::from(block);
        }
        saturations
    }
}

/// `onnx.qlinear_mul`: `ratio = (scale_a * scale_b) / scale_y`, the exact product
/// `p = (a - zp_a) * (b - zp_b)`, `r = f32(p) * ratio + f32(zp_y)` (two roundings), then
/// `_mm_cvtps_epi32` and saturating packs (NaN and values beyond `i32` give the storage
/// minimum). Clamped values count as saturations.
pub(crate) fn qlinear_mul(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    let (xs, ys) = (ints(a)?, ints(b)?);
    let (_, za) = tensor_params(a.ty.elem)?;
    let (_, zb) = tensor_params(b.ty.elem)?;
    let p = Params::of(a, b, out)?;
    let s = storage(out)?;
    let ratio = p.sa * p.sb / p.sy;
    let mut saturations = 0;
    let y = Walk::broadcast(&a.ty.shape, &out.shape)
        .zip(Walk::broadcast(&b.ty.shape, &out.shape))
        .map(|(i, j)| {
            // |product| <= 255 * 255: exact in f32.
            let product = ((xs[i] - za) * (ys[j] - zb)) as f32;
            let (q, clamped) = cvt_pack(product * ratio + p.zy, s);
            saturations += u64::from(clamped);
            q
        })
        .collect();
    Ok(Computed::saturated(y, saturations))
}

#[cfg(test)]
mod tests {
    use super::{Scalar, span_scalar};
    use crate::testutil::{eval, i, int, ints, qt, shape, u};
    use qweave_ir::OpKind;
    use qweave_ir::ops::OutAttrs;

    #[test]
    fn broadcast_spans_pick_the_repeated_operand() {
        assert_eq!(span_scalar(&[1, 4, 1, 1], &[1, 4, 3, 3]), Some(Scalar::A));
        assert_eq!(span_scalar(&[1, 4, 3, 3], &[4, 1, 1]), Some(Scalar::B));
        assert_eq!(span_scalar(&[1, 1, 3, 3], &[1, 4, 3, 3]), None);
        assert_eq!(span_scalar(&[4, 1], &[1, 5]), Some(Scalar::A));
        assert_eq!(span_scalar(&[2, 3], &[2, 3]), None);
        assert_eq!(span_scalar(&[2, 3], &[]), Some(Scalar::B));
        assert_eq!(span_scalar(&[], &[2, 3]), Some(Scalar::A));
        assert_eq!(span_scalar(&[3, 1], &[]), Some(Scalar::A));
        assert_eq!(span_scalar(&[1, 1], &[1]), Some(Scalar::A));
        assert_eq!(span_scalar(&[3, 1], &[2, 3, 1]), None);
        assert_eq!(span_scalar(&[2, 1, 1], &[2, 3, 1]), Some(Scalar::A));
    }

    /// Operands of one shape take the vector loop; the same values with `a` one axis shorter
    /// take the broadcasting walk. Both must agree, also beyond `±2^22`, beyond `i32` and on
    /// ties.
    #[test]
    fn the_vector_loop_equals_the_broadcasting_walk() {
        let mut rng = crate::testutil::Rng(0x1234_5678);
        let values = |rng: &mut crate::testutil::Rng| -> Vec<i64> {
            (0..300).map(|_| rng.range(0, 255)).collect()
        };
        let out_scales = [1.0, 0.5, 0.125, 3.0e-3, 1.0e-5, 1.0e-8, 1.0e-30, 37.0];
        for (k, &sy) in out_scales.iter().enumerate() {
            for signed in [false, true] {
                let (sa, sb) = (0.5 + k as f32 * 0.37, 0.25 / (k + 1) as f32);
                let (za, zb, zy) = (rng.range(0, 255), rng.range(0, 255), rng.range(0, 127));
                let (av, bv) = (values(&mut rng), values(&mut rng));
                let out = if signed {
                    qt(i(8), sy, zy - 64)
                } else {
                    qt(u(8), sy, zy)
                };
                let op = OpKind::QLinearAdd(OutAttrs { out });
                let b = int(&[1, 300], qt(u(8), sb, zb), &bv);
                let same = eval(&op, &[&int(&[1, 300], qt(u(8), sa, za), &av), &b]);
                let walk = eval(&op, &[&int(&[300], qt(u(8), sa, za), &av), &b]);
                assert_eq!(ints(&same), ints(&walk), "scale {sy}");
                assert_eq!(same.saturations, walk.saturations, "scale {sy}");
            }
        }
    }

    #[test]
    fn qlinear_add_requantizes_both_operands() {
        let a = int(&[1, 2, 1, 1], qt(u(8), 0.5, 10), &[10, 20]);
        let b = int(&[1, 2, 1, 2], qt(u(8), 0.25, 0), &[0, 8, 4, 255]);
        let o = eval(
            &OpKind::QLinearAdd(OutAttrs {
                out: qt(u(8), 1.0, 3),
            }),
            &[&a, &b],
        );
        assert_eq!(shape(&o), [1, 2, 1, 2]);
        // 0 + 0 + 3, 0 + 2 + 3, 5 + 1 + 3, 5 + 63.75 + 3 = 71.75
        assert_eq!(ints(&o), [3, 5, 9, 72]);
        let tiny = OpKind::QLinearAdd(OutAttrs {
            out: qt(u(8), 1e-30, 0),
        });
        let o = eval(&tiny, &[&a, &b]);
        // beyond i32 the integer indefinite packs to the minimum, even for large values; the
        // first sum is the rounding error of 10 * 5e29, also far beyond i32
        assert_eq!((ints(&o), o.saturations), (vec![0, 0, 0, 0], 4));
    }

    #[test]
    fn qlinear_mul_rounds_then_saturates() {
        let a = int(&[3], qt(i(8), 0.5, 0), &[3, -128, 127]);
        let b = int(&[1], qt(i(8), 0.5, 1), &[2]);
        let o = eval(
            &OpKind::QLinearMul(OutAttrs {
                out: qt(i(8), 0.5, -2),
            }),
            &[&a, &b],
        );
        // p = 3, -128, 127; p * 0.5 - 2 = -0.5, -66, 61.5
        assert_eq!((ints(&o), o.saturations), (vec![0, -66, 62], 0));
    }
}
