//! Elementwise `f32` ops: activations, broadcasting arithmetic and `onnx.prelu`.

use super::index::Walk;
use super::{Computed, floats};
use crate::error::EvalError;
use qweave_ir::{OpKind, Tensor, TensorType};

/// `max(0, min(1, v))`, NaN passing through.
fn unit_clamp(v: f32) -> f32 {
    let v = if v > 1.0 { 1.0 } else { v };
    if v < 0.0 { 0.0 } else { v }
}

/// The activations: `onnx.relu`, `onnx.sigmoid`, `onnx.hard_swish`, `onnx.clip`,
/// `onnx.leaky_relu` and `onnx.hard_sigmoid`. NaN propagates through every one of them.
pub(crate) fn unary(kind: &OpKind, x: &Tensor) -> Result<Computed, EvalError> {
    let xs = floats(x)?;
    let y: Vec<f32> = match kind {
        OpKind::Relu => xs.iter().map(|&v| if v < 0.0 { 0.0 } else { v }).collect(),
        OpKind::Sigmoid => xs.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
        OpKind::HardSwish => xs.iter().map(|&v| v * unit_clamp(v / 6.0 + 0.5)).collect(),
        OpKind::Clip(a) => xs
            .iter()
            .map(|&v| {
                let v = if v < a.min { a.min } else { v };
                if v > a.max { a.max } else { v }
            })
            .collect(),
        OpKind::LeakyRelu(a) => xs
            .iter()
            .map(|&v| if v < 0.0 { a.alpha * v } else { v })
            .collect(),
        OpKind::HardSigmoid(a) => xs
            .iter()
            .map(|&v| unit_clamp(a.alpha * v + a.beta))
            .collect(),
        other => {
            return Err(EvalError::Internal(format!(
                "{} is not an activation",
                other.name()
            )));
        }
    };
    Ok(Computed::f32(y))
}

/// `onnx.add`, `onnx.sub`, `onnx.mul`, `onnx.div`, `onnx.max` and `onnx.min` with numpy
/// broadcasting. `max` and `min` return a NaN operand when there is one (the first if both
/// are), and the first operand when they compare equal.
pub(crate) fn binary(
    kind: &OpKind,
    a: &Tensor,
    b: &Tensor,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let (xs, ys) = (floats(a)?, floats(b)?);
    let f: fn(f32, f32) -> f32 = match kind {
        OpKind::Add => |p, q| p + q,
        OpKind::Sub => |p, q| p - q,
        OpKind::Mul => |p, q| p * q,
        OpKind::Div => |p, q| p / q,
        OpKind::Max => |p, q| {
            if p.is_nan() || !(q.is_nan() || p < q) {
                p
            } else {
                q
            }
        },
        OpKind::Min => |p, q| {
            if p.is_nan() || !(q.is_nan() || q < p) {
                p
            } else {
                q
            }
        },
        other => {
            return Err(EvalError::Internal(format!(
                "{} is not a binary float op",
                other.name()
            )));
        }
    };
    let y = if a.ty.shape == out.shape && b.ty.shape == out.shape {
        xs.iter().zip(ys).map(|(&p, &q)| f(p, q)).collect()
    } else {
        Walk::broadcast(&a.ty.shape, &out.shape)
            .zip(Walk::broadcast(&b.ty.shape, &out.shape))
            .map(|(i, j)| f(xs[i], ys[j]))
            .collect()
    };
    Ok(Computed::f32(y))
}

/// `onnx.prelu`: `x < 0 ? slope * x : x`, the slope broadcast to `x`.
pub(crate) fn prelu(x: &Tensor, slope: &Tensor) -> Result<Computed, EvalError> {
    let (xs, ss) = (floats(x)?, floats(slope)?);
    let y = xs
        .iter()
        .zip(Walk::broadcast(&slope.ty.shape, &x.ty.shape))
        .map(|(&v, j)| if v < 0.0 { ss[j] * v } else { v })
        .collect();
    Ok(Computed::f32(y))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, shape};
    use qweave_ir::OpKind;
    use qweave_ir::ops::{ClipAttrs, HardSigmoidAttrs, LeakyReluAttrs};

    fn unary(kind: &OpKind, xs: &[f32]) -> Vec<f32> {
        floats(&eval(kind, &[&f(&[xs.len() as u64], xs)]))
    }

    #[test]
    fn activations() {
        assert_eq!(unary(&OpKind::Relu, &[-1.0, 0.0, 2.5]), [0.0, 0.0, 2.5]);
        assert_eq!(unary(&OpKind::Sigmoid, &[0.0]), [0.5]);
        assert_eq!(
            unary(&OpKind::Sigmoid, &[2.0]),
            [1.0 / (1.0 + (-2.0f32).exp())]
        );
        assert_eq!(
            unary(&OpKind::HardSwish, &[-4.0, -1.5, 0.0, 1.5, 4.0]),
            [0.0, -0.375, 0.0, 1.125, 4.0]
        );
        let clip = OpKind::Clip(ClipAttrs { min: 0.0, max: 6.0 });
        assert_eq!(unary(&clip, &[-1.0, 3.0, 7.0]), [0.0, 3.0, 6.0]);
        assert_eq!(
            unary(
                &OpKind::LeakyRelu(LeakyReluAttrs { alpha: 0.5 }),
                &[-2.0, 2.0]
            ),
            [-1.0, 2.0]
        );
        let hs = OpKind::HardSigmoid(HardSigmoidAttrs {
            alpha: 0.5,
            beta: 0.5,
        });
        assert_eq!(unary(&hs, &[-3.0, 0.0, 0.5, 3.0]), [0.0, 0.5, 0.75, 1.0]);
        assert!(unary(&OpKind::Relu, &[f32::NAN])[0].is_nan());
    }

    #[test]
    fn broadcasting_arithmetic() {
        let a = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f(&[3], &[10.0, 20.0, 30.0]);
        let c = f(&[2, 1], &[2.0, 4.0]);
        assert_eq!(
            floats(&eval(&OpKind::Add, &[&a, &b])),
            [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
        );
        assert_eq!(
            floats(&eval(&OpKind::Sub, &[&b, &a])),
            [9.0, 18.0, 27.0, 6.0, 15.0, 24.0]
        );
        assert_eq!(
            floats(&eval(&OpKind::Div, &[&a, &c])),
            [0.5, 1.0, 1.5, 1.0, 1.25, 1.5]
        );
        let o = eval(&OpKind::Mul, &[&c, &b]);
        assert_eq!(
            (shape(&o), floats(&o)),
            (vec![2, 3], vec![20.0, 40.0, 60.0, 40.0, 80.0, 120.0])
        );
    }

    #[test]
    fn max_and_min_propagate_nan() {
        let a = f(&[3], &[1.0, f32::NAN, 5.0]);
        let b = f(&[3], &[2.0, 0.0, f32::NAN]);
        let max = floats(&eval(&OpKind::Max, &[&a, &b]));
        assert_eq!(max[0], 2.0);
        assert!(max[1].is_nan() && max[2].is_nan());
        let min = floats(&eval(&OpKind::Min, &[&a, &b]));
        assert_eq!(min[0], 1.0);
        assert!(min[1].is_nan() && min[2].is_nan());
    }

    #[test]
    fn prelu_broadcasts_the_slope() {
        let x = f(&[1, 2, 2], &[-1.0, 1.0, -2.0, 2.0]);
        let slope = f(&[2, 1], &[0.5, 0.25]);
        assert_eq!(
            floats(&eval(&OpKind::PRelu, &[&x, &slope])),
            [-0.5, 1.0, -0.5, 2.0]
        );
    }
}
