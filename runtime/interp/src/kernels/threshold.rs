//! Multi-thresholds: FINN's `onnx.multi_threshold` in `f32` and the integer `q.multi_threshold`.

use super::index::{map_along, split};
use super::{Computed, floats, ints, saturate, storage};
use crate::error::EvalError;
use qweave_ir::ops::{MultiThresholdAttrs, QMultiThresholdAttrs};
use qweave_ir::{Tensor, TensorType};

/// The thresholds of channel `c`: row `c` of `[C, T]` data, or the one row of `[1, T]`.
fn row<'a, T>(ts: &'a [T], t: &Tensor, c: usize) -> &'a [T] {
    let (rows, count) = (t.ty.shape[0] as usize, t.ty.shape[1] as usize);
    let r = if rows == 1 { 0 } else { c };
    &ts[r * count..(r + 1) * count]
}

/// `onnx.multi_threshold`: `n` counts the thresholds `t[c, j] <= x` (compared in `f32`, so
/// NaN counts none) and `y = out_scale * n + out_bias` in `f32`, product and sum each rounded (as
/// the qonnx executor computes it).
pub(crate) fn multi_threshold(
    x: &Tensor,
    t: &Tensor,
    a: &MultiThresholdAttrs,
) -> Result<Computed, EvalError> {
    let (xs, ts) = (floats(x)?, floats(t)?);
    let y = map_along(xs, split(&x.ty.shape, a.axis as usize), |v, c| {
        let n = row(ts, t, c).iter().filter(|&&th| v >= th).count();
        a.out_scale * n as f32 + a.out_bias
    });
    Ok(Computed::f32(y))
}

/// `q.multi_threshold`: `saturate(bias + n)` into the result's storage, where `n` counts the
/// thresholds `t[c, j] <= x` among the stored values. Each clamped value counts as a saturation.
pub(crate) fn qmulti_threshold(
    x: &Tensor,
    t: &Tensor,
    a: &QMultiThresholdAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let (xs, ts) = (ints(x)?, ints(t)?);
    let s = storage(out)?;
    let mut saturations = 0;
    let y = map_along(xs, split(&x.ty.shape, a.axis as usize), |v, c| {
        let n = row(ts, t, c).iter().filter(|&&th| th <= v).count();
        let (q, clamped) = saturate(s, i128::from(a.bias) + n as i128);
        saturations += u64::from(clamped);
        q
    });
    Ok(Computed::saturated(y, saturations))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, u};
    use qweave_ir::OpKind;
    use qweave_ir::ops::{MultiThresholdAttrs, QMultiThresholdAttrs};

    #[test]
    fn float_thresholds_per_channel_and_shared() {
        let x = f(&[1, 2, 2], &[-1.0, 1.0, 15.0, 25.0]);
        let t = f(&[2, 2], &[0.0, 1.0, 10.0, 20.0]);
        let attrs = MultiThresholdAttrs {
            axis: 1,
            out_scale: 2.0,
            out_bias: -1.0,
        };
        assert_eq!(
            floats(&eval(&OpKind::MultiThreshold(attrs.clone()), &[&x, &t])),
            [-1.0, 3.0, 1.0, 3.0]
        );
        let shared = f(&[1, 2], &[0.0, 20.0]);
        let o = eval(&OpKind::MultiThreshold(attrs), &[&x, &shared]);
        assert_eq!(floats(&o), [-1.0, 1.0, 1.0, 3.0]);
        let x = f(&[1, 1], &[f32::NAN]);
        let o = eval(
            &OpKind::MultiThreshold(MultiThresholdAttrs {
                axis: 1,
                out_scale: 1.0,
                out_bias: 0.0,
            }),
            &[&x, &shared],
        );
        assert_eq!(floats(&o), [0.0]);
    }

    #[test]
    fn float_result_is_rounded_twice_in_f32() {
        // 5 thresholds passed, 0.3 * 5 - 1.7: -0.20000005 in f32, -0.19999999 via f64.
        let x = f(&[1, 1], &[5.0]);
        let t = f(&[1, 5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let attrs = MultiThresholdAttrs {
            axis: 1,
            out_scale: 0.3,
            out_bias: -1.7,
        };
        let y = floats(&eval(&OpKind::MultiThreshold(attrs), &[&x, &t]));
        assert_eq!(y, [-0.20000005]);
        assert_ne!(y[0], (f64::from(0.3f32) * 5.0 + f64::from(-1.7f32)) as f32);
    }

    #[test]
    fn integer_thresholds_saturate() {
        let x = int(&[1, 3], i(8), &[-2, 0, 7]);
        let t = int(&[1, 3], i(8), &[-1, 0, 5]);
        let kind = |bias, out| OpKind::QMultiThreshold(QMultiThresholdAttrs { axis: 1, bias, out });
        let o = eval(&kind(-1, u(2)), &[&x, &t]);
        assert_eq!((ints(&o), o.saturations), (vec![0, 1, 2], 1));
        let o = eval(&kind(1, i(2)), &[&x, &t]);
        assert_eq!((ints(&o), o.saturations), (vec![1, 1, 1], 2));
    }
}
