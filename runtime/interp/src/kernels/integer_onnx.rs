//! ONNX's integer ops: `onnx.cast`, `onnx.conv_integer`, `onnx.matmul_integer` and
//! `onnx.dynamic_quantize_linear` (three results), as onnxruntime computes them.

use super::conv::{Plan, int_conv_sums};
use super::iconv::{Geometry, conv_sums};
use super::matmul::int_matmul_sums;
use super::mlas::{quantize_clamped, wrap_i32};
use super::{Computed, Results, floats, ints};
use crate::error::EvalError;
use qweave_ir::ops::{CastAttrs, ConvAttrs};
use qweave_ir::{Data, ElemType, IntType, Storage, Tensor, TensorType};

/// `cvttss2si` into `i32`: truncation toward zero; NaN and values outside the `i32` range
/// give the "integer indefinite" `i32::MIN`.
fn cvtt_i32(f: f32) -> i32 {
    const LIMIT: f32 = 2_147_483_648.0;
    let t = f.trunc();
    if (-LIMIT..LIMIT).contains(&t) {
        t as i32
    } else {
        i32::MIN
    }
}

/// One `f32` converted to the integer type `t` as onnxruntime's `Cast` does on x86-64 (a C++
/// `static_cast`, which the compiler implements with `cvttss2si`).
fn cast_f32(f: f32, t: IntType) -> i64 {
    const HALF: f32 = 2_147_483_648.0;
    match (t.signed, t.bits) {
        // The vectorized float-to-u32 conversion: values from 2^31 up are converted after
        // subtracting 2^31, and the sign bit restored.
        (false, 32) if f >= HALF => i64::from(cvtt_i32(f - HALF) as u32 ^ 0x8000_0000),
        (false, 32) => i64::from(cvtt_i32(f) as u32),
        // 4-bit types: `lround` (half away from zero; NaN and values beyond i64 give
        // i64::MIN), then the low 4 bits.
        (_, 4) => {
            const LIMIT: f32 = 9_223_372_036_854_775_808.0;
            let r = f.round();
            let l = if (-LIMIT..LIMIT).contains(&r) {
                r as i64
            } else {
                i64::MIN
            };
            t.wrap(l)
        }
        _ => t.wrap(i64::from(cvtt_i32(f))),
    }
}

/// `onnx.cast` as onnxruntime computes it on x86-64. Integers to `f32` round to nearest, ties
/// to even; an integer to another integer type wraps modulo 2^bits (two's complement). `f32` to
/// an integer truncates toward zero into `i32` (`cvttss2si`: NaN and values outside `i32` give
/// `i32::MIN`) and then wraps to the target width, so out-of-range values wrap rather than
/// saturate; `u32` converts values from 2^31 up after subtracting 2^31 (so up to 2^32
/// exactly, beyond that 0); 4-bit types round half away from zero (`lround`) before wrapping.
pub(crate) fn cast(x: &Tensor, a: &CastAttrs) -> Result<Computed, EvalError> {
    match (&x.data, a.to) {
        (Data::F32(v), ElemType::F32) => Ok(Computed::f32(v.to_vec())),
        (Data::Int(v), ElemType::F32) => Ok(Computed::f32(v.iter().map(|&i| i as f32).collect())),
        (Data::Int(v), ElemType::Int(t)) => {
            Ok(Computed::int(v.iter().map(|&i| t.wrap(i)).collect()))
        }
        (Data::F32(v), ElemType::Int(t)) => {
            Ok(Computed::int(v.iter().map(|&f| cast_f32(f, t)).collect()))
        }
        (_, to) => Err(EvalError::Internal(format!("cast of {} to {to}", x.ty))),
    }
}

/// The one stored value of a one-element zero-point operand.
fn single_zero_point(t: &Tensor) -> Result<i64, EvalError> {
    match ints(t)? {
        [z] => Ok(*z),
        other => Err(EvalError::Invalid(format!(
            "a zero point with {} elements where one is needed",
            other.len()
        ))),
    }
}

/// One zero point per index (`len` of them) from an operand holding one or `len` values.
fn zero_points(t: &Tensor, len: usize, what: &str) -> Result<Vec<i64>, EvalError> {
    match ints(t)? {
        [z] => Ok(vec![*z; len]),
        zs if zs.len() == len => Ok(zs.to_vec()),
        zs => Err(EvalError::Invalid(format!(
            "{what} has {} elements, expected 1 or {len}",
            zs.len()
        ))),
    }
}

/// Exact sums wrapped into `i32`, counting the wraps as overflows.
#[derive(Default)]
struct Wrapped {
    y: Vec<i64>,
    overflows: u64,
}

impl Wrapped {
    fn push(&mut self, sum: i128) {
        let (w, wrapped) = wrap_i32(sum);
        self.y.push(i64::from(w));
        self.overflows += u64::from(wrapped);
    }

    fn finish(self) -> Computed {
        Computed::wrapped(self.y, self.overflows)
    }
}

/// `onnx.conv_integer`: `sum (x - x_zp) * (w - w_zp[m])` exactly, padded positions
/// contributing 0, wrapped into `i32` (each wrap counts as an overflow).
pub(crate) fn conv_integer(
    x: &[&Tensor],
    a: &ConvAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let plan = Plan::new(&x[0].ty, &x[1].ty, out, a);
    let (xs, ws) = (ints(x[0])?, ints(x[1])?);
    let zx = single_zero_point(x[2])?;
    let zw = zero_points(x[3], plan.filters(), "the w zero point")?;
    let geo = Geometry::new(&x[0].ty, &x[1].ty, out, a);
    if let Some(sums) = conv_sums(&geo, (x[0], zx), (x[1], &zw), 0)? {
        // The sums fit i32, so nothing wraps.
        return Ok(Computed::int(sums.into_iter().map(i64::from).collect()));
    }
    let (mut y, mut overflows) = (vec![0i64; out.numel()], 0);
    int_conv_sums(&plan, (xs, zx), (ws, &zw), None, |yi, _, sum| {
        let (w, wrapped) = wrap_i32(sum);
        y[yi] = i64::from(w);
        overflows += u64::from(wrapped);
    });
    Ok(Computed::wrapped(y, overflows))
}

/// `onnx.matmul_integer`: numpy matmul of `(a - a_zp)` and `(b - b_zp[n])` exactly, wrapped
/// into `i32` (each wrap counts as an overflow).
pub(crate) fn matmul_integer(x: &[&Tensor], out: &TensorType) -> Result<Computed, EvalError> {
    let za = single_zero_point(x[2])?;
    let columns = if x[1].ty.rank() == 1 {
        1
    } else {
        x[1].ty.shape[x[1].ty.rank() - 1] as usize
    };
    let zb = zero_points(x[3], columns, "the b zero point")?;
    let mut y = Wrapped::default();
    int_matmul_sums((x[0], za), (x[1], &zb), out, |_, sum| y.push(sum))?;
    Ok(y.finish())
}

/// `onnx.dynamic_quantize_linear` as onnxruntime computes it: `lo = min(min(x), 0)` and
/// `hi = max(max(x), 0)` (NaN elements do not take part), `scale = hi == lo ? 1 : (hi - lo)
/// / 255`, `zp = round_half_even(max(0, min(255, 0 - lo / scale)))` (`std::min`/`std::max`
/// order: a NaN quotient gives 255), and `y` quantized as `onnx.quantize_linear` does.
/// Results: `y` (`u8`, the shape of `x`), `scale` (`f32` scalar) and `zp` (`u8` scalar).
/// Clamped elements of `y` count as saturations.
pub(crate) fn dynamic_quantize_linear(x: &Tensor) -> Result<Results, EvalError> {
    let xs = floats(x)?;
    let lo = xs.iter().fold(0.0f32, |m, &v| if v < m { v } else { m });
    let hi = xs.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
    let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let initial = 0.0 - lo / scale;
    let upper = if initial < 255.0 { initial } else { 255.0 };
    let clamped = if 0.0 < upper { upper } else { 0.0 };
    // In [0, 255] and not NaN, so the conversion is exact.
    let zp = clamped.round_ties_even() as i64;
    let s = Storage::Int(IntType::unsigned(8));
    let mut saturations = 0;
    let y = xs
        .iter()
        .map(|&v| {
            let (q, c) = quantize_clamped(v / scale, zp, s);
            saturations += u64::from(c);
            q
        })
        .collect::<Vec<_>>();
    Ok(Results {
        data: vec![
            Data::Int(y.into()),
            Data::F32(vec![scale].into()),
            Data::Int(vec![zp].into()),
        ],
        overflows: 0,
        saturations,
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, u};
    use qweave_ir::ops::{CastAttrs, ConvAttrs};
    use qweave_ir::{ElemType, OpKind, TensorType};

    fn cast(to: ElemType) -> OpKind {
        OpKind::Cast(CastAttrs { to })
    }

    #[test]
    fn casts_truncate_and_wrap_like_onnxruntime() {
        let x = f(
            &[9],
            &[
                2.9,
                -2.9,
                300.0,
                -300.0,
                f32::NAN,
                f32::INFINITY,
                128.0,
                3e9,
                255.9,
            ],
        );
        let o = eval(&cast(i(8)), &[&x]);
        assert_eq!(ints(&o), [2, -2, 44, -44, 0, 0, -128, 0, -1]);
        let o = eval(&cast(u(8)), &[&x]);
        assert_eq!(ints(&o), [2, 254, 44, 212, 0, 0, 128, 0, 255]);
        let o = eval(&cast(i(32)), &[&x]);
        let min = i64::from(i32::MIN);
        assert_eq!(ints(&o), [2, -2, 300, -300, min, min, 128, min, 255]);
        let o = eval(&cast(u(32)), &[&x]);
        let half = 1i64 << 31;
        assert_eq!(
            ints(&o),
            [
                2,
                (1 << 32) - 2,
                300,
                (1 << 32) - 300,
                half,
                0,
                128,
                3_000_000_000,
                255
            ]
        );
        let o = eval(
            &cast(i(4)),
            &[&f(&[6], &[2.5, -2.5, 7.5, 0.49999997, 1e10, f32::NAN])],
        );
        assert_eq!(ints(&o), [3, -3, -8, 0, 0, 0]);
        let x = int(&[3], i(32), &[16_777_217, -1, 300]);
        assert_eq!(
            floats(&eval(&cast(ElemType::F32), &[&x])),
            [16_777_216.0, -1.0, 300.0]
        );
        assert_eq!(ints(&eval(&cast(u(8)), &[&x])), [1, 255, 44]);
        assert_eq!(ints(&eval(&cast(i(4)), &[&x])), [1, -1, -4]);
    }

    #[test]
    fn conv_integer_subtracts_zero_points_and_pads_with_the_x_zero_point() {
        let x = int(&[1, 1, 2, 2], u(8), &[3, 4, 5, 6]);
        let w = int(&[2, 1, 2, 2], u(8), &[1, 1, 1, 1, 2, 2, 2, 2]);
        let attrs = ConvAttrs {
            strides: vec![1, 1],
            pads: vec![1, 1, 0, 0],
            dilations: vec![1, 1],
            group: 1,
        };
        let zx = int(&[], u(8), &[2]);
        let zw = int(&[2], u(8), &[0, 1]);
        let o = eval(&OpKind::ConvInteger(attrs.clone()), &[&x, &w, &zx, &zw]);
        // filter 0 (w - 0 = 1): window at (-1,-1) sees only x[0,0] - 2 = 1, and so on
        assert_eq!(ints(&o), [1, 3, 4, 10, 1, 3, 4, 10]);
        let bad = int(&[3], u(8), &[0, 0, 0]);
        let declared = [TensorType::new(vec![1, 2, 2, 2], i(32))];
        let e = crate::eval_op(&OpKind::ConvInteger(attrs), &[&x, &w, &zx, &bad], &declared);
        assert!(e.unwrap_err().to_string().contains("zero point"));
    }

    #[test]
    fn matmul_integer_per_column_zero_points_and_wrapping() {
        let a = int(&[1, 2], i(8), &[-128, -128]);
        let b = int(&[2, 2], i(8), &[-128, 1, -128, 3]);
        let (za, zb) = (int(&[], i(8), &[127]), int(&[2], i(8), &[127, 1]));
        let o = eval(&OpKind::MatMulInteger, &[&a, &b, &za, &zb]);
        // (-255) * (-255) * 2 = 130050; column 1: (-255) * (0 + 2) = -510
        assert_eq!((ints(&o), o.overflows), (vec![130_050, -510], 0));
        let a = int(&[1, 40_000], u(8), &vec![255; 40_000]);
        let b = int(&[40_000], u(8), &vec![255; 40_000]);
        let z = int(&[], u(8), &[0]);
        let o = eval(&OpKind::MatMulInteger, &[&a, &b, &z, &z]);
        let exact: i128 = 255 * 255 * 40_000;
        assert_eq!((ints(&o), o.overflows), (vec![i64::from(exact as i32)], 1));
    }

    #[test]
    fn dynamic_quantize_linear_has_three_results() {
        let x = f(&[4], &[-1.0, 0.0, 2.0, 3.0]);
        let o = eval(&OpKind::DynamicQuantizeLinear, &[&x]);
        assert_eq!(o.outputs.len(), 3);
        let scale = 4.0f32 / 255.0;
        assert_eq!(o.outputs[1].data.as_f32(), Some(&[scale][..]));
        // zp = round(1 / scale) = round(63.75) = 64
        assert_eq!(o.outputs[2].data.as_int(), Some(&[64][..]));
        assert_eq!(ints(&o), [0, 64, 191, 255]);
        let o = eval(&OpKind::DynamicQuantizeLinear, &[&f(&[2], &[0.0, 0.0])]);
        assert_eq!(o.outputs[1].data.as_f32(), Some(&[1.0][..]));
        assert_eq!(ints(&o), [0, 0]);
        let e = crate::eval_op(
            &OpKind::DynamicQuantizeLinear,
            &[&x],
            &[TensorType::new(vec![4], u(8))],
        );
        assert!(
            matches!(e, Err(crate::EvalError::ResultTypes { .. })),
            "{e:?}"
        );
        let o = eval(&OpKind::DynamicQuantizeLinear, &[&f(&[2], &[-2.0, -1.0])]);
        assert_eq!(o.outputs[2].data.as_int(), Some(&[255][..]));
        assert_eq!(ints(&o), [0, 128]);
    }
}
