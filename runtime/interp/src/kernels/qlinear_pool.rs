//! onnxruntime's quantized average pools: `onnx.qlinear_global_average_pool` (an integer sum,
//! then `MlasRequantizeOutput`) and `onnx.qlinear_average_pool` (in `f32`, unless the window
//! is the whole unpadded input).

use super::mlas::{quantize_clamped, requantize, wrap_i32};
use super::pool::{each_window, planes};
use super::qlinear::tensor_params;
use super::window::Window;
use super::{Computed, ints, storage};
use crate::error::EvalError;
use qweave_ir::ops::QAvgPoolAttrs;
use qweave_ir::{Tensor, TensorType};

/// The global pool of `x` into `out` as MLAS computes it: per `[n, c]` plane of `len`
/// positions, `acc = sum x - zp_x * len` wrapped into `i32` (a wrap counts as an overflow),
/// requantized with `scale_x / (scale_y * f32(len))`.
fn global(x: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    let xs = ints(x)?;
    let (sx, zx) = tensor_params(x.ty.elem)?;
    let (sy, zy) = tensor_params(out.elem)?;
    let s = storage(out)?;
    let len = x.ty.shape[2..].iter().product::<u64>() as usize;
    // The position count converts to f32 as in onnxruntime (`static_cast<float>`).
    let scale = sx / (sy * len as f32);
    let bias = -i128::from(zx) * len as i128;
    let (mut overflows, mut saturations) = (0, 0);
    let y = xs
        .chunks_exact(len)
        .map(|plane| {
            let sum: i128 = plane.iter().map(|&v| i128::from(v)).sum();
            let (acc, wrapped) = wrap_i32(sum + bias);
            let (q, clamped) = requantize(acc, scale, zy, s);
            overflows += u64::from(wrapped);
            saturations += u64::from(clamped);
            q
        })
        .collect();
    Ok(Computed {
        overflows,
        ..Computed::saturated(y, saturations)
    })
}

/// `onnx.qlinear_global_average_pool`: see [`global`]. Clamped values count as saturations.
pub(crate) fn qlinear_global_average_pool(
    x: &Tensor,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    global(x, out)
}

/// `onnx.qlinear_average_pool`. A kernel equal to the spatial dimensions without padding is
/// the global pool ([`global`]). Otherwise, in `f32`: `d = scale_x * f32(x - zp_x)` summed
/// over the window's positions inside the input in row-major order (starting from 0), divided
/// by `f32` of their number (or of the kernel size with `count_include_pad`, positions beyond
/// the input through `ceil_mode` included), and `y = round_half_even(avg / scale_y +
/// f32(zp_y))` saturated (NaN, from a window without positions, gives the minimum). Clamped
/// values count as saturations.
pub(crate) fn qlinear_average_pool(
    x: &Tensor,
    a: &QAvgPoolAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let spatial = &x.ty.shape[2..];
    if a.kernel.as_slice() == spatial && a.pads.iter().all(|&p| p == 0) {
        return global(x, out);
    }
    let xs = ints(x)?;
    let (sx, zx) = tensor_params(x.ty.elem)?;
    let (sy, zy) = tensor_params(out.elem)?;
    let s = storage(out)?;
    // 8-bit differences: exact in f32.
    let dq: Vec<f32> = xs.iter().map(|&v| sx * (v - zx) as f32).collect();
    let zy = zy as f32;
    let win = Window::new(
        spatial,
        &out.shape[2..],
        &a.kernel,
        &a.strides,
        &a.pads,
        None,
    );
    let kernel_len = win.kernel_len();
    let mut y = vec![0i64; out.numel()];
    let mut saturations = 0;
    each_window(&win, planes(&x.ty), |yi, base, taps| {
        let mut sum = 0.0f32;
        for &(_, xo) in &taps.list {
            sum += dq[base + xo];
        }
        let count = if a.count_include_pad {
            kernel_len
        } else {
            taps.list.len()
        };
        let (q, clamped) = quantize_clamped((sum / count as f32) / sy + zy, 0, s);
        y[yi] = q;
        saturations += u64::from(clamped);
    });
    Ok(Computed::saturated(y, saturations))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, i, int, ints, qt, shape, u};
    use qweave_ir::OpKind;
    use qweave_ir::ops::{OutAttrs, QAvgPoolAttrs};

    #[test]
    fn global_pool_requantizes_the_integer_sum() {
        let x = int(&[1, 2, 2, 1], qt(u(8), 0.5, 1), &[1, 2, 5, 7]);
        let o = eval(
            &OpKind::QLinearGlobalAveragePool(OutAttrs {
                out: qt(u(8), 0.25, 10),
            }),
            &[&x],
        );
        assert_eq!(shape(&o), [1, 2, 1, 1]);
        // (0 + 1) * 0.5 / (0.25 * 2) = 1 -> 11; (4 + 6) * 1 = 10 -> 20
        assert_eq!(ints(&o), [11, 20]);
    }

    fn avg(kernel: u64, pads: [u64; 2], ceil_mode: bool, count_include_pad: bool) -> OpKind {
        OpKind::QLinearAveragePool(QAvgPoolAttrs {
            kernel: vec![kernel],
            strides: vec![2],
            pads: pads.to_vec(),
            ceil_mode,
            count_include_pad,
            out: qt(i(8), 0.5, 0),
        })
    }

    #[test]
    fn windowed_pool_divisors() {
        let x = int(&[1, 1, 5], qt(i(8), 1.0, 0), &[1, 2, 3, 4, 6]);
        // windows [1 2] [3 4] [6]: averages 1.5, 3.5, 6 -> / 0.5
        let o = eval(&avg(2, [0, 0], true, false), &[&x]);
        assert_eq!(ints(&o), [3, 7, 12]);
        // count_include_pad divides the last window by the kernel size
        let o = eval(&avg(2, [0, 0], true, true), &[&x]);
        assert_eq!(ints(&o), [3, 7, 6]);
        // pads 1: windows [pad 1] [2 3] [4 6]
        let o = eval(&avg(2, [1, 1], false, true), &[&x]);
        assert_eq!(ints(&o), [1, 5, 10]);
        let o = eval(&avg(2, [1, 1], false, false), &[&x]);
        assert_eq!(ints(&o), [2, 5, 10]);
        // the whole input without pads is the global pool: 16 / 5 / 0.5 = 6.4
        let o = eval(&avg(5, [0, 0], false, false), &[&x]);
        assert_eq!(ints(&o), [6]);
    }
}
