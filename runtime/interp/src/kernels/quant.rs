//! Float-level quantization: `onnx.quantize_linear`, `onnx.dequantize_linear`, QONNX
//! `onnx.quant` and `onnx.bipolar_quant`.

use super::index::{Walk, map_along, split};
use super::mlas::{quantize_clamped, round_clamp, small_range};
use super::{Computed, floats, ints, params_along, storage};
use crate::error::EvalError;
use qweave_ir::ops::QonnxQuantAttrs;
use qweave_ir::{ElemType, QuantType, Tensor, TensorType};

/// The channels of a quantized tensor of `shape`: `(outer, len, inner)` around its
/// quantization axis (one channel for a per-tensor type), and each channel's scale and
/// zero point.
struct Channels {
    outer: usize,
    len: usize,
    inner: usize,
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

impl Channels {
    fn of(shape: &[u64], elem: ElemType) -> Result<Channels, EvalError> {
        let (axis, (outer, len, inner)) = match elem.quant().and_then(QuantType::axis_len) {
            Some((axis, _)) => (axis, split(shape, axis)),
            None => (0, (1, 1, shape.iter().product::<u64>() as usize)),
        };
        let (scales, zero_points) = params_along(elem, axis, len)?;
        Ok(Channels {
            outer,
            len,
            inner,
            scales,
            zero_points,
        })
    }

    /// `f(element, channel)` for every element in order, collected.
    fn map<T: Copy, U>(&self, xs: &[T], f: impl FnMut(T, usize) -> U) -> Vec<U> {
        map_along(xs, (self.outer, self.len, self.inner), f)
    }
}

/// `onnx.quantize_linear`: `saturate(round_half_even(x / scale) + zp)` with the division in
/// `f32`, per channel for a per-axis result type, as onnxruntime's `MlasQuantizeLinear`
/// computes it: the quotient is clamped with `maxps` and `minps` before rounding, so NaN
/// quantizes to the storage minimum and infinities saturate. Each clamped value (NaN
/// included) counts as a saturation.
pub(crate) fn quantize_linear(x: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    let xs = floats(x)?;
    let ch = Channels::of(&out.shape, out.elem)?;
    let s = storage(out)?;
    // Per channel: its zero point and, when the storage range minus it is small, that range
    // for the vectorizable `round_clamp` (the same result as `quantize_clamped`).
    let fast: Vec<Option<(i32, i32)>> = ch.zero_points.iter().map(|&z| small_range(s, z)).collect();
    let mut saturations = 0;
    let y = ch.map(xs, |v, c| {
        let (zp, v) = (ch.zero_points[c], v / ch.scales[c]);
        let (q, clamped) = match fast[c] {
            Some(range) => {
                let (q, clamped) = round_clamp(v, range);
                (i64::from(q) + zp, clamped)
            }
            None => quantize_clamped(v, zp, s),
        };
        saturations += u64::from(clamped);
        q
    });
    Ok(Computed::saturated(y, saturations))
}

/// `onnx.dequantize_linear`: `f32(q - zp) * scale`, the difference exact, the product in `f32`.
pub(crate) fn dequantize_linear(x: &Tensor) -> Result<Computed, EvalError> {
    let xs = ints(x)?;
    let ch = Channels::of(&x.ty.shape, x.ty.elem)?;
    Ok(Computed::f32(ch.map(xs, |q, c| {
        (q - ch.zero_points[c]) as f32 * ch.scales[c]
    })))
}

/// The bit width operand of `onnx.quant`: an integer in 1..=32.
pub(crate) fn bit_width(t: &Tensor) -> Result<u32, EvalError> {
    match floats(t)? {
        [b] if b.fract() == 0.0 && (1.0..=32.0).contains(b) => Ok(*b as u32),
        [b] => Err(EvalError::Value(format!(
            "the bit width must be an integer in 1..=32, found {b}"
        ))),
        other => Err(EvalError::Value(format!(
            "the bit width must have one element, found {}",
            other.len()
        ))),
    }
}

/// QONNX `onnx.quant`: with `v = x / scale + zp` in `f32`, `q = clamp(round(v), lo, hi)` (the
/// bounds as `f32`; NaN stays NaN; `round` by qonnx's numpy formulas, see
/// [`super::qonnx_trunc::qonnx_round`]) and `y = (q - zp) * scale`; a signed 1-bit quant gives
/// `q = v >= 0 ? 1 : -1`. A saturation is a rounded value outside `[lo, hi]`.
pub(crate) fn qonnx_quant(x: &[&Tensor], a: &QonnxQuantAttrs) -> Result<Computed, EvalError> {
    let (levels, saturations) = qonnx_levels(x, a)?;
    let (scales, zps) = (floats(x[1])?, floats(x[2])?);
    let shape = &x[0].ty.shape;
    let params = Walk::broadcast(&x[1].ty.shape, shape).zip(Walk::broadcast(&x[2].ty.shape, shape));
    let y = levels
        .iter()
        .zip(params)
        .map(|(&q, (si, zi))| (q - zps[zi]) * scales[si])
        .collect();
    Ok(Computed {
        saturations,
        ..Computed::f32(y)
    })
}

/// The (narrow) signed or unsigned range of `bits` bits, as `f32` the way numpy computes the
/// bounds (one rounding of the exact integer); shared by QONNX Quant and Trunc.
pub(crate) fn qonnx_bounds(bits: u32, signed: bool, narrow: bool) -> (f32, f32) {
    let narrow = i64::from(narrow);
    let (lo, hi) = if signed {
        (-(1i64 << (bits - 1)) + narrow, (1i64 << (bits - 1)) - 1)
    } else {
        (0, (1i64 << bits) - 1 - narrow)
    };
    (lo as f32, hi as f32)
}

/// The integer levels `q` of QONNX `onnx.quant` (as `f32`; NaN for NaN inputs) and the number
/// of saturations.
pub(crate) fn qonnx_levels(
    x: &[&Tensor],
    a: &QonnxQuantAttrs,
) -> Result<(Vec<f32>, u64), EvalError> {
    let (xs, scales, zps) = (floats(x[0])?, floats(x[1])?, floats(x[2])?);
    let bits = bit_width(x[3])?;
    let (lo, hi) = qonnx_bounds(bits, a.signed, a.narrow);
    let bipolar = bits == 1 && a.signed;
    let shape = &x[0].ty.shape;
    let params = Walk::broadcast(&x[1].ty.shape, shape).zip(Walk::broadcast(&x[2].ty.shape, shape));
    let mut saturations = 0;
    let q = xs
        .iter()
        .zip(params)
        .map(|(&v, (si, zi))| {
            let v = v / scales[si] + zps[zi];
            if bipolar {
                return if v >= 0.0 { 1.0 } else { -1.0 };
            }
            let r = super::qonnx_trunc::qonnx_round(a.rounding, v);
            let q = if r < lo {
                lo
            } else if r > hi {
                hi
            } else {
                r
            };
            saturations += u64::from(q != r && !r.is_nan());
            q
        })
        .collect();
    Ok((q, saturations))
}

/// QONNX `onnx.bipolar_quant`: `(x >= 0 ? 1 : -1) * scale`, the scale broadcast (NaN gives -1).
pub(crate) fn bipolar_quant(x: &Tensor, scale: &Tensor) -> Result<Computed, EvalError> {
    let (xs, ss) = (floats(x)?, floats(scale)?);
    let y = xs
        .iter()
        .zip(Walk::broadcast(&scale.ty.shape, &x.ty.shape))
        .map(|(&v, si)| if v >= 0.0 { ss[si] } else { -ss[si] })
        .collect();
    Ok(Computed::f32(y))
}

#[cfg(test)]
mod tests {
    use crate::EvalError;
    use crate::testutil::{eval, eval_err, f, floats, i, int, ints, qa, qt, u};
    use qweave_ir::ops::{OutAttrs, QonnxQuantAttrs};
    use qweave_ir::{OpKind, RoundingMode};

    #[test]
    fn quantize_linear_ties_to_even_and_saturates() {
        let x = f(&[7], &[0.25, 0.75, -0.25, 1.25, 100.0, -100.0, f32::NAN]);
        let o = eval(
            &OpKind::QuantizeLinear(OutAttrs {
                out: qt(i(8), 0.5, 1),
            }),
            &[&x],
        );
        assert_eq!(
            (ints(&o), o.saturations),
            (vec![1, 3, 1, 3, 127, -128, -128], 3)
        );
        let x = f(&[2], &[f32::INFINITY, f32::NEG_INFINITY]);
        let o = eval(
            &OpKind::QuantizeLinear(OutAttrs {
                out: qt(u(8), 1.0, 0),
            }),
            &[&x],
        );
        assert_eq!((ints(&o), o.saturations), (vec![255, 0], 2));
    }

    #[test]
    fn quantize_and_dequantize_per_axis() {
        let ty = qa(u(8), 1, &[1.0, 0.5], &[0, 10]);
        let x = f(&[2, 2], &[1.0, 1.0, 2.0, -10.0]);
        let o = eval(&OpKind::QuantizeLinear(OutAttrs { out: ty }), &[&x]);
        assert_eq!((ints(&o), o.saturations), (vec![1, 12, 2, 0], 1));
        let o = eval(&OpKind::DequantizeLinear, &[&o.outputs[0]]);
        assert_eq!(floats(&o), [1.0, 1.0, 2.0, -5.0]);
        let q = int(&[3], qt(u(8), 0.5, 128), &[128, 130, 0]);
        assert_eq!(
            floats(&eval(&OpKind::DequantizeLinear, &[&q])),
            [0.0, 1.0, -64.0]
        );
    }

    fn quant(signed: bool, narrow: bool, rounding: RoundingMode) -> OpKind {
        OpKind::Quant(QonnxQuantAttrs {
            signed,
            narrow,
            rounding,
        })
    }

    #[test]
    fn qonnx_quant_ranges_rounding_and_saturation() {
        let x = f(&[3], &[1.25, 10.0, -10.0]);
        let (scale, zp, bits) = (f(&[], &[0.5]), f(&[], &[0.0]), f(&[], &[4.0]));
        let o = eval(
            &quant(true, true, RoundingMode::HalfEven),
            &[&x, &scale, &zp, &bits],
        );
        assert_eq!((floats(&o), o.saturations), (vec![1.0, 3.5, -3.5], 2));
        let o = eval(
            &quant(true, false, RoundingMode::HalfEven),
            &[&x, &scale, &zp, &bits],
        );
        assert_eq!(floats(&o), [1.0, 3.5, -4.0]);
        // unsigned 2 bits with zero point 1: q in 0..=3
        let x = f(&[3], &[-1.0, 0.25, 5.0]);
        let (zp, bits) = (f(&[1], &[1.0]), f(&[1], &[2.0]));
        let o = eval(
            &quant(false, false, RoundingMode::HalfAway),
            &[&x, &scale, &zp, &bits],
        );
        assert_eq!((floats(&o), o.saturations), (vec![-0.5, 0.5, 1.0], 2));
        let o = eval(
            &quant(false, true, RoundingMode::HalfEven),
            &[&x, &scale, &zp, &bits],
        );
        assert_eq!(floats(&o), [-0.5, 0.5, 0.5]);
    }

    #[test]
    fn qonnx_quant_bipolar_broadcast_and_bad_widths() {
        let x = f(&[2, 2], &[0.0, -0.1, 3.0, -3.0]);
        let scale = f(&[2, 1], &[2.0, 0.5]);
        let zp = f(&[], &[0.0]);
        let o = eval(
            &quant(true, false, RoundingMode::HalfEven),
            &[&x, &scale, &zp, &f(&[], &[1.0])],
        );
        assert_eq!(floats(&o), [2.0, -2.0, 0.5, -0.5]);
        for bad in [0.0, 2.5, 33.0, f32::NAN] {
            let e = eval_err(
                &quant(true, false, RoundingMode::HalfEven),
                &[&x, &scale, &zp, &f(&[], &[bad])],
            );
            assert!(matches!(e, EvalError::Value(_)), "{e}");
        }
    }

    #[test]
    fn bipolar_quant() {
        let x = f(&[3], &[0.0, -1.0, 2.0]);
        assert_eq!(
            floats(&eval(&OpKind::BipolarQuant, &[&x, &f(&[1], &[0.25])])),
            [0.25, -0.25, 0.25]
        );
    }
}
