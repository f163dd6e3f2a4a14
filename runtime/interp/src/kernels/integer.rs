//! Exact integer post-processing: `q.requantize`, `q.add`, `q.mul`, `q.clamp` and `q.lut`.

use super::index::{Walk, map_along, split};
use super::{Computed, ints, params_along, saturate, storage, tensor_zero_point};
use crate::error::EvalError;
use qweave_ir::ops::{ClampAttrs, RequantizeAttrs};
use qweave_ir::{Tensor, TensorType};

/// `q.requantize`: `saturate(round((x - zp_in[c]) * multiplier[c] / 2^shift[c]) + zp_out[c])`
/// exactly, `c` the index along `axis` (one-entry lists apply to every channel, per-tensor
/// zero points to every channel). Each clamped value counts as a saturation.
pub(crate) fn requantize(
    x: &Tensor,
    a: &RequantizeAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let xs = ints(x)?;
    let axis = a.axis as usize;
    let parts = split(&x.ty.shape, axis);
    let channels = parts.1;
    let (_, zp_in) = params_along(x.ty.elem, axis, channels)?;
    let (_, zp_out) = params_along(out.elem, axis, channels)?;
    let pick = |c: usize, len: usize| if len == 1 { 0 } else { c };
    let s = storage(out)?;
    let mut saturations = 0;
    let y = map_along(xs, parts, |v, c| {
        let m = i128::from(a.multiplier[pick(c, a.multiplier.len())]);
        let shift = a.shift[pick(c, a.shift.len())] as u32;
        let scaled = a
            .rounding
            .shift((i128::from(v) - i128::from(zp_in[c])) * m, shift);
        let (q, clamped) = saturate(s, scaled + i128::from(zp_out[c]));
        saturations += u64::from(clamped);
        q
    });
    Ok(Computed::saturated(y, saturations))
}

/// `q.add` and `q.mul`: `saturate(combine(a - zp(a), b - zp(b)) + zp(y))` with numpy
/// broadcasting, `combine` the sum or the product. Each clamped value counts as a saturation.
pub(crate) fn qadd(
    a: &Tensor,
    b: &Tensor,
    out: &TensorType,
    combine: impl Fn(i128, i128) -> i128,
) -> Result<Computed, EvalError> {
    let (xs, ys) = (ints(a)?, ints(b)?);
    let (za, zb) = (tensor_zero_point(a.ty.elem)?, tensor_zero_point(b.ty.elem)?);
    let zy = tensor_zero_point(out.elem)?;
    let s = storage(out)?;
    let mut saturations = 0;
    let y = Walk::broadcast(&a.ty.shape, &out.shape)
        .zip(Walk::broadcast(&b.ty.shape, &out.shape))
        .map(|(i, j)| {
            let offsets = (
                i128::from(xs[i]) - i128::from(za),
                i128::from(ys[j]) - i128::from(zb),
            );
            let sum = combine(offsets.0, offsets.1) + i128::from(zy);
            let (q, clamped) = saturate(s, sum);
            saturations += u64::from(clamped);
            q
        })
        .collect();
    Ok(Computed::saturated(y, saturations))
}

/// `q.clamp`: stored integers clamped to `[min, max]` (not counted as saturations: clamping
/// is what the op is for).
pub(crate) fn qclamp(x: &Tensor, a: &ClampAttrs) -> Result<Computed, EvalError> {
    Ok(Computed::int(
        ints(x)?.iter().map(|&v| v.clamp(a.min, a.max)).collect(),
    ))
}

/// `q.lut`: `table[x - min]`, `min` the smallest value of `x`'s storage.
pub(crate) fn qlut(x: &Tensor, table: &Tensor) -> Result<Computed, EvalError> {
    let (xs, ts) = (ints(x)?, ints(table)?);
    let min = storage(&x.ty)?.min();
    let y = xs
        .iter()
        .map(|&v| {
            let entry = usize::try_from(i128::from(v) - i128::from(min))
                .ok()
                .and_then(|i| ts.get(i));
            entry
                .copied()
                .ok_or_else(|| EvalError::Value(format!("{v} indexes outside the table")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Computed::int(y))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, i, int, ints, qa, qt, shape, u};
    use qweave_ir::ops::{ClampAttrs, OutAttrs, RequantizeAttrs};
    use qweave_ir::{OpKind, RoundingMode};

    fn requant(
        multiplier: &[i64],
        shift: &[u64],
        rounding: RoundingMode,
        axis: u64,
        out: qweave_ir::ElemType,
    ) -> OpKind {
        OpKind::Requantize(RequantizeAttrs {
            multiplier: multiplier.to_vec(),
            shift: shift.to_vec(),
            rounding,
            axis,
            out,
        })
    }

    #[test]
    fn requantize_rounds_exactly_including_negatives() {
        // x * 3 / 4: -5 -> -3.75, -6 -> -4.5, -2 -> -1.5, 2 -> 1.5, 6 -> 4.5, 1000 -> 750
        let x = int(&[6], i(32), &[-5, -6, -2, 2, 6, 1000]);
        let o = eval(&requant(&[3], &[2], RoundingMode::HalfEven, 0, i(8)), &[&x]);
        assert_eq!((ints(&o), o.saturations), (vec![-4, -4, -2, 2, 4, 127], 1));
        let o = eval(&requant(&[3], &[2], RoundingMode::HalfUp, 0, i(8)), &[&x]);
        assert_eq!(ints(&o), [-4, -4, -1, 2, 5, 127]);
        let o = eval(&requant(&[3], &[2], RoundingMode::Floor, 0, i(8)), &[&x]);
        assert_eq!(ints(&o), [-4, -5, -2, 1, 4, 127]);
    }

    #[test]
    fn requantize_per_channel_with_zero_points() {
        // channels along axis 1: multipliers 1 and 3, shifts 1 and 0; input zp 2, output zps 10 and -5
        let x = int(&[2, 2], qt(u(8), 1.0, 2), &[7, 4, 0, 255]);
        let out = qa(i(8), 1, &[1.0, 1.0], &[10, -5]);
        let o = eval(
            &requant(&[1, 3], &[1, 0], RoundingMode::HalfEven, 1, out),
            &[&x],
        );
        assert_eq!((ints(&o), o.saturations), (vec![12, 1, 9, 127], 1));
    }

    #[test]
    fn qadd_broadcasts_with_zero_points() {
        let a = int(&[2, 2], qt(u(8), 1.0, 10), &[10, 20, 30, 255]);
        let b = int(&[2], qt(i(8), 1.0, -1), &[-1, 10]);
        let o = eval(
            &OpKind::QAdd(OutAttrs {
                out: qt(u(8), 1.0, 5),
            }),
            &[&a, &b],
        );
        assert_eq!(shape(&o), [2, 2]);
        assert_eq!((ints(&o), o.saturations), (vec![5, 26, 25, 255], 1));
    }

    #[test]
    fn qmul_multiplies_offsets_exactly() {
        let a = int(&[1, 3], qt(u(8), 0.5, 128), &[0, 130, 255]);
        let b = int(&[3, 1], i(8), &[-1, 2, 100]);
        let o = eval(&OpKind::QMul(OutAttrs { out: i(16) }), &[&a, &b]);
        assert_eq!(shape(&o), [3, 3]);
        assert_eq!(
            (ints(&o), o.saturations),
            (vec![128, -2, -127, -256, 4, 254, -12800, 200, 12700], 0)
        );
        let narrow = eval(&OpKind::QMul(OutAttrs { out: i(8) }), &[&a, &b]);
        assert_eq!(narrow.saturations, 6);
    }

    #[test]
    fn qclamp_and_lut() {
        let x = int(&[4], i(4), &[-8, -1, 3, 7]);
        assert_eq!(
            ints(&eval(&OpKind::QClamp(ClampAttrs { min: 0, max: 6 }), &[&x])),
            [0, 0, 3, 6]
        );
        let table = int(&[16], u(8), &(0..16).map(|v| v * 10).collect::<Vec<_>>());
        let o = eval(&OpKind::QLut, &[&x, &table]);
        assert_eq!(ints(&o), [0, 70, 110, 150]);
    }
}
