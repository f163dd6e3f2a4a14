//! Normalizations in `f32`: `onnx.batch_norm`, `onnx.lrn` and `onnx.softmax`.

use super::index::split;
use super::{Computed, floats};
use crate::error::EvalError;
use qweave_ir::Tensor;
use qweave_ir::ops::{AxisAttrs, BatchNormAttrs, LrnAttrs};

/// `onnx.batch_norm`: `(x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]`, the
/// square root computed once per channel, then left to right per element.
pub(crate) fn batch_norm(x: &[&Tensor], a: &BatchNormAttrs) -> Result<Computed, EvalError> {
    let xs = floats(x[0])?;
    let (scale, bias, mean, var) = (floats(x[1])?, floats(x[2])?, floats(x[3])?, floats(x[4])?);
    let (outer, channels, inner) = split(&x[0].ty.shape, 1);
    let denom: Vec<f32> = var.iter().map(|&v| (v + a.epsilon).sqrt()).collect();
    let mut y = Vec::with_capacity(xs.len());
    for n in 0..outer {
        for c in 0..channels {
            let base = (n * channels + c) * inner;
            y.extend(
                xs[base..base + inner]
                    .iter()
                    .map(|&v| (v - mean[c]) / denom[c] * scale[c] + bias[c]),
            );
        }
    }
    Ok(Computed::f32(y))
}

/// `onnx.lrn`: `x / (bias + alpha / size * sumsq)^beta` where `sumsq` sums `x^2` in `f32`
/// over channels `c - floor((size - 1) / 2) ..= c + ceil((size - 1) / 2)` within range.
pub(crate) fn lrn(x: &Tensor, a: &LrnAttrs) -> Result<Computed, EvalError> {
    let xs = floats(x)?;
    let (outer, channels, inner) = split(&x.ty.shape, 1);
    let size = usize::try_from(a.size).unwrap_or(usize::MAX);
    let (before, after) = ((size - 1) / 2, size / 2);
    let coef = a.alpha / a.size as f32;
    let mut y = vec![0.0f32; xs.len()];
    for n in 0..outer {
        let plane = n * channels * inner;
        for c in 0..channels {
            let (lo, hi) = (
                c.saturating_sub(before),
                c.saturating_add(after).min(channels - 1),
            );
            for i in 0..inner {
                let mut sumsq = 0.0f32;
                for j in lo..=hi {
                    let v = xs[plane + j * inner + i];
                    sumsq += v * v;
                }
                let at = plane + c * inner + i;
                y[at] = xs[at] / (a.bias + coef * sumsq).powf(a.beta);
            }
        }
    }
    Ok(Computed::f32(y))
}

/// `onnx.softmax` along one axis: `exp(x - max) / sum(exp(x - max))`, the sum in `f32` in
/// axis order.
pub(crate) fn softmax(x: &Tensor, a: &AxisAttrs) -> Result<Computed, EvalError> {
    let xs = floats(x)?;
    let (outer, len, inner) = split(&x.ty.shape, a.axis as usize);
    let mut y = vec![0.0f32; xs.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len)
                .map(|j| xs[at(j)])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for j in 0..len {
                let e = (xs[at(j)] - max).exp();
                y[at(j)] = e;
                sum += e;
            }
            for j in 0..len {
                y[at(j)] /= sum;
            }
        }
    }
    Ok(Computed::f32(y))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats};
    use qweave_ir::OpKind;
    use qweave_ir::ops::{AxisAttrs, BatchNormAttrs, LrnAttrs};

    #[test]
    fn batch_norm_per_channel() {
        let x = f(&[1, 2, 2], &[1.0, 3.0, 10.0, 20.0]);
        let scale = f(&[2], &[2.0, 1.0]);
        let bias = f(&[2], &[0.5, -1.0]);
        let mean = f(&[2], &[1.0, 10.0]);
        let var = f(&[2], &[4.0, 25.0]);
        let o = eval(
            &OpKind::BatchNorm(BatchNormAttrs { epsilon: 0.0 }),
            &[&x, &scale, &bias, &mean, &var],
        );
        assert_eq!(floats(&o), [0.5, 2.5, -1.0, 1.0]);
    }

    #[test]
    fn lrn_windows_clip_at_the_channel_range() {
        let x = f(&[1, 3, 1], &[1.0, 2.0, 3.0]);
        let o = eval(
            &OpKind::Lrn(LrnAttrs {
                size: 3,
                alpha: 3.0,
                beta: 1.0,
                bias: 1.0,
            }),
            &[&x],
        );
        // sumsq: c0 = 1 + 4, c1 = 1 + 4 + 9, c2 = 4 + 9
        assert_eq!(floats(&o), [1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0]);
        // an even size reaches one channel further up than down: size 2 is [c, c + 1]
        let o = eval(
            &OpKind::Lrn(LrnAttrs {
                size: 2,
                alpha: 2.0,
                beta: 1.0,
                bias: 0.0,
            }),
            &[&x],
        );
        assert_eq!(floats(&o), [1.0 / 5.0, 2.0 / 13.0, 3.0 / 9.0]);
    }

    #[test]
    fn softmax_along_an_inner_axis() {
        let x = f(&[2, 2], &[0.0, 1.0, 1000.0, 1000.0]);
        let o = floats(&eval(&OpKind::Softmax(AxisAttrs { axis: 1 }), &[&x]));
        assert!((o[0] - 0.268_941_42).abs() < 1e-6 && (o[1] - 0.731_058_6).abs() < 1e-6);
        assert_eq!(o[2..], [0.5, 0.5]);
        let o = floats(&eval(&OpKind::Softmax(AxisAttrs { axis: 0 }), &[&x]));
        assert_eq!(o, [0.0, 0.0, 1.0, 1.0]);
    }
}
