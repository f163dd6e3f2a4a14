//! onnxruntime's lookup-table ops: `onnx.qlinear_concat`, `onnx.qlinear_leaky_relu` and
//! `onnx.qlinear_sigmoid`. Each builds one entry per storable input value: dequantized
//! (`scale_x * f32(x - zp_x)`), mapped by the op's float function, then quantized to the result
//! type as `onnx.quantize_linear` does (`MlasQuantizeLinear`).

use super::index::split;
use super::mlas::{logistic, quantize_clamped};
use super::qlinear::tensor_params;
use super::{Computed, ints, storage};
use crate::error::EvalError;
use qweave_ir::ops::QConcatAttrs;
use qweave_ir::{Tensor, TensorType};

/// The table of `x`'s type into `out` under `f`: the stored result for each stored input value
/// from the storage minimum up, and whether it was clamped.
struct Table {
    min: i64,
    entries: Vec<(i64, bool)>,
}

impl Table {
    fn new(x: &TensorType, out: &TensorType, f: impl Fn(f32) -> f32) -> Result<Table, EvalError> {
        let (sx, zx) = tensor_params(x.elem)?;
        let (sy, zy) = tensor_params(out.elem)?;
        let (from, to) = (storage(x)?, storage(out)?);
        if from.bits() > 16 {
            return Err(EvalError::Internal(format!("a table for {x} is too large")));
        }
        // Differences of stored values of at most 16 bits: exact in f32.
        let entries = (from.min()..=from.max())
            .map(|v| quantize_clamped(f(sx * (v - zx) as f32) / sy, zy, to))
            .collect();
        Ok(Table {
            min: from.min(),
            entries,
        })
    }

    /// Looks every stored value of `xs` up, appending the results to `y` and counting the
    /// clamped ones in `saturations`.
    fn apply(&self, xs: &[i64], y: &mut Vec<i64>, saturations: &mut u64) -> Result<(), EvalError> {
        for &v in xs {
            let entry = usize::try_from(v - self.min)
                .ok()
                .and_then(|i| self.entries.get(i));
            let &(q, clamped) =
                entry.ok_or_else(|| EvalError::Internal(format!("{v} is outside the table")))?;
            y.push(q);
            *saturations += u64::from(clamped);
        }
        Ok(())
    }
}

/// Maps every element of `x` through the table of `f`. Clamped values count as saturations.
fn unary(x: &Tensor, out: &TensorType, f: impl Fn(f32) -> f32) -> Result<Computed, EvalError> {
    let table = Table::new(&x.ty, out, f)?;
    let (mut y, mut saturations) = (Vec::with_capacity(out.numel()), 0);
    table.apply(ints(x)?, &mut y, &mut saturations)?;
    Ok(Computed::saturated(y, saturations))
}

/// `onnx.qlinear_leaky_relu`: `f(d) = d >= 0 ? d : alpha * d`.
pub(crate) fn qlinear_leaky_relu(
    x: &Tensor,
    alpha: f32,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    unary(x, out, |d| if d >= 0.0 { d } else { alpha * d })
}

/// `onnx.qlinear_sigmoid`: `f` is MLAS's logistic approximation ([`logistic`]).
pub(crate) fn qlinear_sigmoid(x: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    unary(x, out, logistic)
}

/// `onnx.qlinear_concat`: every operand requantized to `out` through its table (the identity
/// when its parameters are the result's), then concatenated along `axis`.
pub(crate) fn qlinear_concat(
    x: &[&Tensor],
    a: &QConcatAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let axis = a.axis as usize;
    let (outer, _, _) = split(&out.shape, axis);
    let parts = x
        .iter()
        .map(|t| {
            let (_, len, inner) = split(&t.ty.shape, axis);
            Ok((Table::new(&t.ty, out, |d| d)?, ints(t)?, len * inner))
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    let (mut y, mut saturations) = (Vec::with_capacity(out.numel()), 0);
    for o in 0..outer {
        for (table, xs, chunk) in &parts {
            table.apply(&xs[o * chunk..(o + 1) * chunk], &mut y, &mut saturations)?;
        }
    }
    Ok(Computed::saturated(y, saturations))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, i, int, ints, qt, shape, u};
    use qweave_ir::OpKind;
    use qweave_ir::ops::{OutAttrs, QConcatAttrs, QLeakyReluAttrs};

    #[test]
    fn leaky_relu_and_sigmoid_tables() {
        let x = int(&[4], qt(i(8), 0.5, 0), &[-128, -3, 0, 127]);
        let o = eval(
            &OpKind::QLinearLeakyRelu(QLeakyReluAttrs {
                alpha: 0.25,
                out: qt(i(8), 0.25, -10),
            }),
            &[&x],
        );
        // -64 * 0.25 = -16 -> -64 - 10 = -74; -1.5 * 0.25 / 0.25 = -1.5 -> -2 - 10; 63.5 / 0.25 = 254
        assert_eq!((ints(&o), o.saturations), (vec![-74, -12, -10, 127], 1));
        let o = eval(
            &OpKind::QLinearSigmoid(OutAttrs {
                out: qt(u(8), 1.0 / 256.0, 0),
            }),
            &[&x],
        );
        assert_eq!(ints(&o), [0, 47, 128, 255]);
    }

    #[test]
    fn concat_requantizes_each_operand() {
        let a = int(&[2, 1], qt(u(8), 1.0, 0), &[10, 20]);
        let b = int(&[2, 2], qt(u(8), 0.5, 4), &[4, 6, 8, 255]);
        let o = eval(
            &OpKind::QLinearConcat(QConcatAttrs {
                axis: 1,
                out: qt(u(8), 1.0, 0),
            }),
            &[&a, &b],
        );
        assert_eq!(shape(&o), [2, 3]);
        // b: 0, 1, 2, 125.5 -> 126 (ties to even)
        assert_eq!(ints(&o), [10, 0, 1, 20, 2, 126]);
    }
}
