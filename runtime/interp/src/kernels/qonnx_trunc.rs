//! QONNX `Trunc`: `onnx.trunc` (version 2) and `onnx.trunc_v1`, as the qonnx 1.0.0 executor
//! computes them with numpy on `f32` arrays, one rounding per numpy operation.

use super::index::Walk;
use super::quant::bit_width;
use super::{Computed, floats};
use crate::error::EvalError;
use qweave_ir::ops::TruncAttrs;
use qweave_ir::{RoundingMode, Tensor};

/// `2^k` in `f32` for an integral (or infinite, or NaN) `k`, exactly as `powf(2, k)` rounds:
/// infinity from 128 up, subnormals down to `2^-149`, 0 below.
fn pow2(k: f32) -> f32 {
    if k.is_nan() {
        f32::NAN
    } else if k >= 128.0 {
        f32::INFINITY
    } else if k < -149.0 {
        0.0
    } else if k >= -126.0 {
        // Integral and in range: the conversion is exact.
        f32::from_bits(((k as i32 + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (k as i32 + 149))
    }
}

/// numpy's `sign` in `f32`: -1, 1, or +0 for both zeros; NaN stays NaN.
fn np_sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}

/// `y` rounded by `mode` exactly as qonnx's `resolve_rounding_mode` functions compute it on
/// `f32` arrays: `np.round` (half even), `np.floor`, `np.ceil`, `np.fix` (toward zero),
/// `UP = sign(y) * ceil(|y|)`, `HALF_UP = sign(y) * floor(|y| + 0.5)` and `HALF_DOWN =
/// sign(y) * ceil(|y| - 0.5)`, the additions rounded to `f32` (so, for example, `HALF_UP`
/// rounds 0.49999997 to 1 and 8388609 to 8388610, and `HALF_DOWN` gives +0 for (-0.5, 0)).
/// The modes qonnx does not have (`half_up`, `half_down`) round exactly.
pub(crate) fn qonnx_round(mode: RoundingMode, y: f32) -> f32 {
    match mode {
        RoundingMode::HalfEven => y.round_ties_even(),
        RoundingMode::Floor => y.floor(),
        RoundingMode::Ceil => y.ceil(),
        RoundingMode::TowardZero => y.trunc(),
        RoundingMode::Away => np_sign(y) * y.abs().ceil(),
        RoundingMode::HalfAway => np_sign(y) * (y.abs() + 0.5).floor(),
        RoundingMode::HalfTowardZero => np_sign(y) * (y.abs() - 0.5).ceil(),
        RoundingMode::HalfUp | RoundingMode::HalfDown => mode.round_f32(y),
    }
}

/// The operand values read at each element of `x`: `(x, scale, zp, extra)`, the last three
/// broadcast to `x`'s shape.
fn elements<'a>(
    x: &'a [&'a Tensor],
    extra: usize,
) -> Result<impl Iterator<Item = (f32, f32, f32, f32)> + 'a, EvalError> {
    let shape = &x[0].ty.shape;
    let (xs, scales, zps, others) = (
        floats(x[0])?,
        floats(x[1])?,
        floats(x[2])?,
        floats(x[extra])?,
    );
    let walk = |t: &Tensor| Walk::broadcast(&t.ty.shape, shape);
    Ok(xs
        .iter()
        .zip(walk(x[1]))
        .zip(walk(x[2]))
        .zip(walk(x[extra]))
        .map(move |(((&v, si), zi), oi)| (v, scales[si], zps[zi], others[oi])))
}

/// `onnx.trunc` (QONNX Trunc version 2), every step an `f32` operation: `y = round_half_even(x
/// / scale + zp)`, `t = 2^round_half_even(log2(out_scale / scale))`, `y = y / t` clamped to
/// the output range (signed `[-2^(b-1) + narrow, 2^(b-1) - 1]`, unsigned `[0, 2^b - 1 -
/// narrow]`, as `f32`; NaN passes), rounded by `rounding` as qonnx's numpy functions do
/// (see [`qonnx_round`]), and `(y - zp / t) * out_scale`.
/// Both bit widths must be integers in 1..=32. Each clamped value counts as a saturation.
pub(crate) fn trunc(x: &[&Tensor], a: &TruncAttrs) -> Result<Computed, EvalError> {
    bit_width(x[3])?;
    let bits = bit_width(x[5])?;
    let (lo, hi) = super::quant::qonnx_bounds(bits, a.signed, a.narrow);
    let mut saturations = 0;
    let y = elements(x, 4)?
        .map(|(v, scale, zp, out_scale)| {
            let y = (v / scale + zp).round_ties_even();
            let t = pow2((out_scale / scale).log2().round_ties_even());
            let y = y / t;
            let c = if y > hi {
                hi
            } else if y < lo {
                lo
            } else {
                y
            };
            saturations += u64::from(c != y);
            (qonnx_round(a.rounding, c) - zp / t) * out_scale
        })
        .collect();
    Ok(Computed {
        saturations,
        ..Computed::f32(y)
    })
}

/// `onnx.trunc_v1` (QONNX Trunc version 1), in `f32`: `y = round_half_even(x / scale + zp) /
/// 2^(in_bits - out_bits)`, rounded by `rounding` (as [`qonnx_round`] does), then
/// `(y - zp) * scale`. Both bit widths
/// must be integers in 1..=32; `signed` and `narrow` are unused.
pub(crate) fn trunc_v1(x: &[&Tensor], a: &TruncAttrs) -> Result<Computed, EvalError> {
    let (in_bits, out_bits) = (bit_width(x[3])?, bit_width(x[4])?);
    // |in_bits - out_bits| <= 31: an exact power of two.
    let t = pow2((i64::from(in_bits) - i64::from(out_bits)) as f32);
    let y = elements(x, 2)?
        .map(|(v, scale, zp, _)| {
            let y = (v / scale + zp).round_ties_even() / t;
            (qonnx_round(a.rounding, y) - zp) * scale
        })
        .collect();
    Ok(Computed::f32(y))
}

#[cfg(test)]
mod tests {
    use super::pow2;
    use crate::EvalError;
    use crate::testutil::{eval, eval_err, f, floats};
    use qweave_ir::ops::TruncAttrs;
    use qweave_ir::{OpKind, RoundingMode};

    fn attrs(signed: bool, narrow: bool, rounding: RoundingMode) -> TruncAttrs {
        TruncAttrs {
            signed,
            narrow,
            rounding,
        }
    }

    #[test]
    fn rounding_follows_numpy() {
        use super::qonnx_round;
        use RoundingMode::*;
        let r = |m, y: f32| qonnx_round(m, y).to_bits();
        assert_eq!(r(HalfAway, 0.49999997), 1.0f32.to_bits());
        assert_eq!(r(HalfAway, 8_388_609.0), 8_388_610.0f32.to_bits());
        assert_eq!(r(HalfAway, -0.25), (-0.0f32).to_bits());
        assert_eq!(r(HalfTowardZero, -0.25), 0.0f32.to_bits());
        assert_eq!(r(HalfTowardZero, 0.25), (-0.0f32).to_bits());
        assert_eq!(r(HalfTowardZero, -2.5), (-2.0f32).to_bits());
        assert_eq!(r(Away, -0.0), 0.0f32.to_bits());
        assert_eq!(r(Away, -2.1), (-3.0f32).to_bits());
        assert_eq!(r(TowardZero, -0.5), (-0.0f32).to_bits());
        assert_eq!(r(HalfEven, 2.5), 2.0f32.to_bits());
        assert!(qonnx_round(HalfAway, f32::NAN).is_nan());
    }

    #[test]
    fn powers_of_two_round_like_powf() {
        assert_eq!(pow2(3.0), 8.0);
        assert_eq!(pow2(-1.0), 0.5);
        assert_eq!(pow2(-149.0), f32::from_bits(1));
        assert_eq!(pow2(-150.0), 0.0);
        assert_eq!(pow2(-130.0), f32::from_bits(1 << 19));
        assert_eq!(pow2(128.0), f32::INFINITY);
        assert_eq!(pow2(f32::NEG_INFINITY), 0.0);
        assert!(pow2(f32::NAN).is_nan());
    }

    #[test]
    fn trunc_v2_rescales_clamps_and_rounds() {
        // scale 1, out_scale 4: t = 4; 8-bit in, 4-bit signed out: [-8, 7]
        let x = f(&[5], &[13.0, -13.0, 100.0, -100.0, 2.5]);
        let (one, zero) = (f(&[], &[1.0]), f(&[], &[0.0]));
        let (in_bits, out_scale, out_bits) = (f(&[], &[8.0]), f(&[], &[4.0]), f(&[], &[4.0]));
        let ops = [&x, &one, &zero, &in_bits, &out_scale, &out_bits];
        let o = eval(
            &OpKind::Trunc(attrs(true, false, RoundingMode::Floor)),
            &ops,
        );
        // 13/4 = 3.25 -> 3 * 4; -3.25 -> -4; 25 -> 7; -25 -> -8; 2.5 rounds to 2, 0.5 -> 0
        assert_eq!(
            (floats(&o), o.saturations),
            (vec![12.0, -16.0, 28.0, -32.0, 0.0], 2)
        );
        let o = eval(
            &OpKind::Trunc(attrs(false, true, RoundingMode::HalfEven)),
            &ops,
        );
        // unsigned narrow 4 bits: [0, 14]
        assert_eq!(floats(&o), [12.0, 0.0, 56.0, 0.0, 0.0]);
        let bad = f(&[], &[0.5]);
        let e = eval_err(
            &OpKind::Trunc(attrs(true, false, RoundingMode::Floor)),
            &[&x, &one, &zero, &bad, &out_scale, &out_bits],
        );
        assert!(matches!(e, EvalError::Value(_)), "{e}");
    }

    #[test]
    fn trunc_v2_zero_point_is_rescaled() {
        // scale 0.5, zp 3, out_scale 1: t = 2; x = 1.5 -> 3 + 3 = 6 -> 3 -> (3 - 1.5) * 1
        let ops = [
            &f(&[1], &[1.5]),
            &f(&[], &[0.5]),
            &f(&[], &[3.0]),
            &f(&[], &[8.0]),
            &f(&[], &[1.0]),
            &f(&[], &[8.0]),
        ];
        let o = eval(
            &OpKind::Trunc(attrs(false, false, RoundingMode::Floor)),
            &ops,
        );
        assert_eq!(floats(&o), [1.5]);
    }

    #[test]
    fn trunc_v1_divides_by_the_dropped_bits() {
        let x = f(&[3], &[13.0, -13.0, 6.0]);
        let scale = f(&[3], &[1.0, 1.0, 2.0]);
        let ops = [
            &x,
            &scale,
            &f(&[], &[1.0]),
            &f(&[], &[8.0]),
            &f(&[], &[6.0]),
        ];
        let o = eval(
            &OpKind::TruncV1(attrs(true, false, RoundingMode::Floor)),
            &ops,
        );
        // (13 + 1) / 4 = 3.5 -> 3, (3 - 1) * 1 = 2; (-12) / 4 = -3 -> -4; (3 + 1) / 4 = 1 -> 0 * 2
        assert_eq!(floats(&o), [2.0, -4.0, 0.0]);
    }
}
