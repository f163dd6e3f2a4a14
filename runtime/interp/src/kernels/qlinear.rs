//! onnxruntime's quantized matrix ops: `onnx.qlinear_conv`, `onnx.qlinear_matmul` and
//! `onnx.qgemm`: an exact integer sum wrapped into `i32`, then `MlasRequantizeOutput`.

use super::conv::{Plan, int_conv_sums};
use super::iconv::{Geometry, conv_sums};
use super::igemm::max_abs;
use super::index::Walk;
use super::matmul::int_matmul_sums;
use super::mlas::{requantize, requantize_all, wrap_i32};
use super::{Computed, ints, params_along, storage};
use crate::error::EvalError;
use qweave_ir::ops::{ConvAttrs, QGemmAttrs, QLinearConvAttrs};
use qweave_ir::{ElemType, Storage, Tensor, TensorType};

/// The scale and zero point of a per-tensor quantized type.
pub(crate) fn tensor_params(elem: ElemType) -> Result<(f32, i64), EvalError> {
    match elem.quant() {
        Some(q) if q.axis_len().is_none() => Ok((q.scale(0), q.zero_point(0))),
        _ => Err(EvalError::Internal(format!(
            "{elem} is not per-tensor quantized"
        ))),
    }
}

/// Requantized results of exact sums, with their event counts: each sum is wrapped into `i32`
/// (a wrap counts as an overflow) and requantized (a clamp counts as a saturation).
struct Requantized {
    zy: i64,
    s: Storage,
    y: Vec<i64>,
    overflows: u64,
    saturations: u64,
}

impl Requantized {
    fn new(out: &TensorType) -> Result<Self, EvalError> {
        Ok(Requantized {
            zy: tensor_params(out.elem)?.1,
            s: storage(out)?,
            y: vec![0; out.numel()],
            overflows: 0,
            saturations: 0,
        })
    }

    /// Stores the requantized `sum` at `index`.
    fn set(&mut self, index: usize, sum: i128, scale: f32) {
        let (acc, wrapped) = wrap_i32(sum);
        let (q, clamped) = requantize(acc, scale, self.zy, self.s);
        self.y[index] = q;
        self.overflows += u64::from(wrapped);
        self.saturations += u64::from(clamped);
    }

    /// Stores the requantized `sums[i] + bias` at `start + i` with one scale; the sums plus
    /// the bias fit `i32` (the fast path's bound), so nothing wraps.
    fn set_all(&mut self, start: usize, sums: &[i32], bias: i64, scale: f32) {
        let bias = i32::try_from(bias).expect("bias within the checked bound");
        let out = &mut self.y[start..start + sums.len()];
        self.saturations += requantize_all(sums, bias, scale, self.zy, self.s, out);
    }

    fn finish(self) -> Computed {
        Computed {
            overflows: self.overflows,
            ..Computed::saturated(self.y, self.saturations)
        }
    }
}

/// `onnx.qlinear_conv`: `acc = b[m] + sum (x - zp_x) * (w - zp_w[m])` wrapped into `i32`,
/// then requantized with `s[m] = (scale_x * scale_w[m]) / scale_y`.
pub(crate) fn qlinear_conv(
    x: &[&Tensor],
    a: &QLinearConvAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let geometry = ConvAttrs {
        strides: a.strides.clone(),
        pads: a.pads.clone(),
        dilations: a.dilations.clone(),
        group: a.group,
    };
    let plan = Plan::new(&x[0].ty, &x[1].ty, out, &geometry);
    let (xs, ws) = (ints(x[0])?, ints(x[1])?);
    let bias = x.get(2).map(|b| ints(b)).transpose()?;
    let (sx, zx) = tensor_params(x[0].ty.elem)?;
    let filters = plan.filters();
    let (sw, zw) = params_along(x[1].ty.elem, 0, filters)?;
    let (sy, _) = tensor_params(out.elem)?;
    let scales: Vec<f32> = sw.iter().map(|&w| sx * w / sy).collect();
    let mut r = Requantized::new(out)?;
    let geo = Geometry::new(&x[0].ty, &x[1].ty, out, &geometry);
    let max_bias = bias.map_or(0, max_abs);
    if let Some(sums) = conv_sums(&geo, (x[0], zx), (x[1], &zw), max_bias)? {
        let per_filter = out.numel() / (out.shape[0] * out.shape[1]).max(1) as usize;
        for (row, chunk) in sums.chunks(per_filter.max(1)).enumerate() {
            let m = row % filters;
            let b = bias.map_or(0, |b| b[m]);
            r.set_all(row * per_filter, chunk, b, scales[m]);
        }
        return Ok(r.finish());
    }
    int_conv_sums(&plan, (xs, zx), (ws, &zw), bias, |yi, m, sum| {
        r.set(yi, sum, scales[m]);
    });
    Ok(r.finish())
}

/// `onnx.qlinear_matmul`: numpy matmul of `(a - zp_a)` and `(b - zp_b[n])` wrapped into
/// `i32`, then requantized with `s[n] = (scale_a * scale_b[n]) / scale_y`.
pub(crate) fn qlinear_matmul(x: &[&Tensor], out: &TensorType) -> Result<Computed, EvalError> {
    let (a, b) = (x[0], x[1]);
    let rank = b.ty.rank();
    let columns = if rank == 1 {
        1
    } else {
        b.ty.shape[rank - 1] as usize
    };
    if rank == 1 && b.ty.shape[0] != 1 && b.ty.elem.quant_axis().is_some() {
        return Err(EvalError::Invalid(format!(
            "a 1-D b ({}) cannot be quantized per column",
            b.ty
        )));
    }
    let (sa, za) = tensor_params(a.ty.elem)?;
    let (sb, zb) = params_along(b.ty.elem, rank - 1, columns)?;
    let (sy, _) = tensor_params(out.elem)?;
    let scales: Vec<f32> = sb.iter().map(|&s| sa * s / sy).collect();
    let mut r = Requantized::new(out)?;
    let mut index = 0;
    int_matmul_sums((a, za), (b, &zb), out, |j, sum| {
        r.set(index, sum, scales[j]);
        index += 1;
    })?;
    Ok(r.finish())
}

/// `onnx.qgemm`: `acc = c + sum (a - zp_a) * (b - zp_b[n])` wrapped into `i32` (`c` broadcast
/// to `[M, N]`), `s[n] = (alpha * scale_a) * scale_b[n]`; a quantized result is requantized
/// with `s[n] / scale_y`, an `f32` result is `f32(acc) * s[n]`.
pub(crate) fn qgemm(
    x: &[&Tensor],
    a: &QGemmAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let (xs, ys) = (ints(x[0])?, ints(x[1])?);
    let (m, n) = (out.shape[0] as usize, out.shape[1] as usize);
    let k = x[0].ty.shape[usize::from(!a.trans_a)] as usize;
    let (sa, za) = tensor_params(x[0].ty.elem)?;
    let (sb, zb) = params_along(x[1].ty.elem, usize::from(!a.trans_b), n)?;
    let (za, zb): (i128, Vec<i128>) = (za.into(), zb.into_iter().map(i128::from).collect());
    let lhs = |i: usize, p: usize| {
        i128::from(if a.trans_a {
            xs[p * m + i]
        } else {
            xs[i * k + p]
        })
    };
    let rhs = |p: usize, j: usize| {
        i128::from(if a.trans_b {
            ys[j * k + p]
        } else {
            ys[p * n + j]
        })
    };
    let mut sums: Vec<i128> = match x.get(2) {
        Some(c) => {
            let cs = ints(c)?;
            Walk::broadcast(&c.ty.shape, &out.shape)
                .map(|ci| i128::from(cs[ci]))
                .collect()
        }
        None => vec![0; m * n],
    };
    for i in 0..m {
        for j in 0..n {
            let dot: i128 = (0..k).map(|p| (lhs(i, p) - za) * (rhs(p, j) - zb[j])).sum();
            sums[i * n + j] += dot;
        }
    }
    let scales: Vec<f32> = sb.iter().map(|&s| a.alpha * sa * s).collect();
    if out.elem == ElemType::F32 {
        let mut overflows = 0;
        let y = sums
            .into_iter()
            .enumerate()
            .map(|(i, acc)| {
                let (acc, wrapped) = wrap_i32(acc);
                overflows += u64::from(wrapped);
                acc as f32 * scales[i % n]
            })
            .collect();
        return Ok(Computed {
            overflows,
            ..Computed::f32(y)
        });
    }
    let (sy, _) = tensor_params(out.elem)?;
    let scales: Vec<f32> = scales.iter().map(|&s| s / sy).collect();
    let mut r = Requantized::new(out)?;
    for (i, sum) in sums.into_iter().enumerate() {
        r.set(i, sum, scales[i % n]);
    }
    Ok(r.finish())
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, floats, i, int, ints, qa, qt, shape, u};
    use qweave_ir::ElemType;
    use qweave_ir::OpKind;
    use qweave_ir::ops::{OutAttrs, QGemmAttrs, QLinearConvAttrs};

    #[test]
    fn qlinear_conv_per_channel_requantization_with_bias() {
        // x - 2 = [1, 2, 3, 4]; filter 0 sums them (10), filter 1 doubles them (w - 1 = 2)
        let x = int(&[1, 1, 2, 2], qt(u(8), 0.5, 2), &[3, 4, 5, 6]);
        let w = int(
            &[2, 1, 2, 2],
            qa(i(8), 0, &[1.0, 0.25], &[0, 1]),
            &[1, 1, 1, 1, 3, 3, 3, 3],
        );
        let b = int(&[2], i(32), &[1, -21]);
        let attrs = QLinearConvAttrs {
            strides: vec![1, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
            out: qt(u(8), 1.0, 100),
        };
        let o = eval(&OpKind::QLinearConv(attrs), &[&x, &w, &b]);
        assert_eq!(shape(&o), [1, 2, 1, 1]);
        // 11 * 0.5 = 5.5 -> 6 (ties to even) + 100; (20 - 21) * 0.125 = -0.125 -> 0 + 100
        assert_eq!(ints(&o), [106, 100]);
    }

    #[test]
    fn qlinear_matmul_per_column_scales_saturate() {
        let a = int(&[1, 2], qt(i(8), 1.0, 0), &[100, 100]);
        let b = int(&[2, 2], qa(i(8), 1, &[1.0, 0.01], &[0, 0]), &[1, 1, 1, 1]);
        let o = eval(
            &OpKind::QLinearMatMul(OutAttrs {
                out: qt(i(8), 1.0, -1),
            }),
            &[&a, &b],
        );
        assert_eq!((ints(&o), o.saturations), (vec![127, 1], 1));
    }

    #[test]
    fn qgemm_with_c_transposes_and_float_output() {
        let a = int(&[2, 1], qt(u(8), 0.5, 1), &[3, 5]); // A' = [[2, 4]]
        let b = int(&[2, 2], qa(u(8), 0, &[1.0, 2.0], &[0, 1]), &[1, 2, 3, 4]); // B' = [[1, 2], [2, 3]] rows=n
        let c = int(&[1], i(32), &[10]);
        let attrs = |out| QGemmAttrs {
            alpha: 2.0,
            trans_a: true,
            trans_b: true,
            out,
        };
        // acc[0][0] = 10 + 2*1 + 4*2 = 20; acc[0][1] = 10 + 2*2 + 4*3 = 26
        let o = eval(&OpKind::QGemm(attrs(ElemType::F32)), &[&a, &b, &c]);
        assert_eq!(floats(&o), [20.0, 52.0]);
        let o = eval(&OpKind::QGemm(attrs(qt(u(8), 4.0, 0))), &[&a, &b, &c]);
        assert_eq!(ints(&o), [5, 13]);
        // without c: 10 * 0.25 = 2.5 -> 2 (ties to even); 16 * 0.5 = 8
        let o = eval(&OpKind::QGemm(attrs(qt(u(8), 4.0, 0))), &[&a, &b]);
        assert_eq!(ints(&o), [2, 8]);
    }
}
