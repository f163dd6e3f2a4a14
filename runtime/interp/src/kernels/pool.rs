//! Pools: `onnx.max_pool`/`q.max_pool`, `onnx.average_pool`, the global pools and `q.sum_pool`.

use super::index::advance;
use super::window::{Taps, Window};
use super::{Computed, floats, ints, params_along, storage, wrap};
use crate::error::EvalError;
use qweave_ir::ops::{AvgPoolAttrs, MaxPoolAttrs, SumPoolAttrs};
use qweave_ir::{Data, OpKind, Tensor, TensorType};

/// Calls `f(y_index, x_base, taps)` for every output element of every `[n, c]` plane.
pub(crate) fn each_window(win: &Window, planes: usize, mut f: impl FnMut(usize, usize, &Taps)) {
    let (in_len, out_len) = (win.in_len(), win.out_len());
    let mut taps = Taps::default();
    let mut o = vec![0; win.out_dims.len()];
    for flat in 0..out_len {
        win.taps(&o, &mut taps);
        for p in 0..planes {
            f(p * out_len + flat, p * in_len, &taps);
        }
        advance(&mut o, &win.out_dims);
    }
}

/// Number of `[n, c]` planes of a `[N, C, spatial...]` type.
pub(crate) fn planes(t: &TensorType) -> usize {
    (t.shape[0] * t.shape[1]) as usize
}

/// The largest of `xs[base + offset]` over the window, starting from `lowest`; a value wins
/// only when it compares greater, so NaN never wins.
fn window_max<T: Copy + PartialOrd>(xs: &[T], base: usize, taps: &Taps, lowest: T) -> T {
    let mut best = lowest;
    for &(_, xo) in &taps.list {
        let v = xs[base + xo];
        if v > best {
            best = v;
        }
    }
    best
}

/// `onnx.max_pool` and `q.max_pool` on floats or stored integers. Padded positions never win;
/// a window entirely in the padding gives `-inf` (floats) or the storage minimum (integers).
pub(crate) fn max_pool(
    x: &Tensor,
    a: &MaxPoolAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let win = Window::new(
        &x.ty.shape[2..],
        &out.shape[2..],
        &a.kernel,
        &a.strides,
        &a.pads,
        Some(&a.dilations),
    );
    let n = planes(&x.ty);
    Ok(match &x.data {
        Data::F32(xs) => {
            let mut y = vec![0.0; out.numel()];
            each_window(&win, n, |yi, base, taps| {
                y[yi] = window_max(xs, base, taps, f32::NEG_INFINITY);
            });
            Computed::f32(y)
        }
        Data::Int(xs) => {
            let lowest = storage(&x.ty)?.min();
            let mut y = vec![0; out.numel()];
            each_window(&win, n, |yi, base, taps| {
                y[yi] = window_max(xs, base, taps, lowest);
            });
            Computed::int(y)
        }
    })
}

/// `onnx.average_pool`: the `f32` sum in window order divided by the number of positions
/// inside the input, or with `count_include_pad` inside the padded input. A window with no
/// position to count gives `0 / 0`, NaN.
pub(crate) fn average_pool(
    x: &Tensor,
    a: &AvgPoolAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let win = Window::new(
        &x.ty.shape[2..],
        &out.shape[2..],
        &a.kernel,
        &a.strides,
        &a.pads,
        Some(&a.dilations),
    );
    let xs = floats(x)?;
    let mut y = vec![0.0f32; out.numel()];
    each_window(&win, planes(&x.ty), |yi, base, taps| {
        let mut sum = 0.0f32;
        for &(_, xo) in &taps.list {
            sum += xs[base + xo];
        }
        let count = if a.count_include_pad {
            taps.padded as f32
        } else {
            taps.list.len() as f32
        };
        y[yi] = sum / count;
    });
    Ok(Computed::f32(y))
}

/// `onnx.global_average_pool` (the `f32` sum over each plane divided by its size) and
/// `onnx.global_max_pool` (as [`max_pool`]).
pub(crate) fn global_pool(kind: &OpKind, x: &Tensor) -> Result<Computed, EvalError> {
    let xs = floats(x)?;
    let len: usize = x.ty.shape[2..].iter().product::<u64>() as usize;
    let y = xs
        .chunks_exact(len)
        .map(|plane| {
            if matches!(kind, OpKind::GlobalMaxPool) {
                plane.iter().fold(
                    f32::NEG_INFINITY,
                    |best, &v| if v > best { v } else { best },
                )
            } else {
                let mut sum = 0.0f32;
                for &v in plane {
                    sum += v;
                }
                sum / len as f32
            }
        })
        .collect();
    Ok(Computed::f32(y))
}

/// `q.sum_pool`: the exact sum of `x - zp(x)[c]` over the window's positions inside the
/// input, wrapped into the accumulator type (each wrap counts as an overflow).
pub(crate) fn sum_pool(
    x: &Tensor,
    a: &SumPoolAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let win = Window::new(
        &x.ty.shape[2..],
        &out.shape[2..],
        &a.kernel,
        &a.strides,
        &a.pads,
        None,
    );
    let xs = ints(x)?;
    let channels = x.ty.shape[1] as usize;
    let (_, zps) = params_along(x.ty.elem, 1, channels)?;
    let acc_ty = a.acc;
    let in_len = win.in_len();
    let mut y = vec![0i64; out.numel()];
    let mut overflows = 0;
    each_window(&win, planes(&x.ty), |yi, base, taps| {
        let zp = i128::from(zps[base / in_len % channels]);
        let mut sum = 0i128;
        for &(_, xo) in &taps.list {
            sum += i128::from(xs[base + xo]) - zp;
        }
        let (v, wrapped) = wrap(acc_ty, sum);
        y[yi] = v;
        overflows += u64::from(wrapped);
    });
    Ok(Computed::wrapped(y, overflows))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, qa, shape};
    use qweave_ir::ops::{AvgPoolAttrs, MaxPoolAttrs, SumPoolAttrs};
    use qweave_ir::{IntType, OpKind};

    fn max(
        kernel: &[u64],
        strides: &[u64],
        pads: &[u64],
        dilations: &[u64],
        ceil_mode: bool,
    ) -> MaxPoolAttrs {
        MaxPoolAttrs {
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dilations.to_vec(),
            ceil_mode,
        }
    }

    fn avg(pads: &[u64], ceil_mode: bool, count_include_pad: bool) -> OpKind {
        OpKind::AveragePool(AvgPoolAttrs {
            kernel: vec![3],
            strides: vec![2],
            pads: pads.to_vec(),
            dilations: vec![1],
            ceil_mode,
            count_include_pad,
        })
    }

    #[test]
    fn max_pool_2x2() {
        let x = f(
            &[1, 1, 4, 4],
            &(1..=16).map(|v| v as f32).collect::<Vec<_>>(),
        );
        let o = eval(
            &OpKind::MaxPool(max(&[2, 2], &[2, 2], &[0; 4], &[1, 1], false)),
            &[&x],
        );
        assert_eq!(
            (shape(&o), floats(&o)),
            (vec![1, 1, 2, 2], vec![6.0, 8.0, 14.0, 16.0])
        );
    }

    #[test]
    fn max_pool_ceil_mode_padding_and_dilation() {
        let x = f(&[1, 1, 5], &[1.0, 5.0, 2.0, 4.0, 3.0]);
        let o = eval(
            &OpKind::MaxPool(max(&[2], &[2], &[0, 0], &[1], true)),
            &[&x],
        );
        assert_eq!(floats(&o), [5.0, 4.0, 3.0]);
        // padded positions never win, even against negative values
        let x = f(&[1, 1, 3], &[-3.0, -1.0, -2.0]);
        let o = eval(
            &OpKind::MaxPool(max(&[2], &[2], &[1, 1], &[1], false)),
            &[&x],
        );
        assert_eq!(floats(&o), [-3.0, -1.0]);
        let x = f(&[1, 1, 5], &[1.0, 5.0, 2.0, 4.0, 3.0]);
        let o = eval(
            &OpKind::MaxPool(max(&[2], &[1], &[0, 0], &[2], false)),
            &[&x],
        );
        assert_eq!(floats(&o), [2.0, 5.0, 3.0]);
    }

    #[test]
    fn max_pool_on_stored_integers() {
        let x = int(&[1, 1, 3], i(8), &[-100, -128, 7]);
        let o = eval(
            &OpKind::QMaxPool(max(&[2], &[2], &[1, 1], &[1], false)),
            &[&x],
        );
        assert_eq!(ints(&o), [-100, 7]);
        let o = eval(
            &OpKind::MaxPool(max(&[2], &[1], &[0, 0], &[1], false)),
            &[&x],
        );
        assert_eq!(ints(&o), [-100, 7]);
    }

    #[test]
    fn average_pool_divisors() {
        let x = f(&[1, 1, 6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // ceil mode without pads: the last window holds only 5 and 6
        assert_eq!(
            floats(&eval(&avg(&[0, 0], true, false), &[&x])),
            [2.0, 4.0, 5.5]
        );
        assert_eq!(
            floats(&eval(&avg(&[0, 0], true, true), &[&x])),
            [2.0, 4.0, 5.5]
        );
        // pads 1: the explicit pads count with count_include_pad, the ceil overhang does not
        assert_eq!(
            floats(&eval(&avg(&[1, 1], true, false), &[&x])),
            [1.5, 3.0, 5.0, 6.0]
        );
        assert_eq!(
            floats(&eval(&avg(&[1, 1], true, true), &[&x])),
            [1.0, 3.0, 5.0, 3.0]
        );
    }

    #[test]
    fn global_pools() {
        let x = f(&[1, 2, 2, 1], &[1.0, 2.0, -3.0, -5.0]);
        let o = eval(&OpKind::GlobalAveragePool, &[&x]);
        assert_eq!((shape(&o), floats(&o)), (vec![1, 2, 1, 1], vec![1.5, -4.0]));
        assert_eq!(floats(&eval(&OpKind::GlobalMaxPool, &[&x])), [2.0, -3.0]);
    }

    #[test]
    fn sum_pool_with_per_channel_zero_points_and_wrapping() {
        let x = int(
            &[1, 2, 3],
            qa(i(8), 1, &[1.0, 1.0], &[1, -1]),
            &[1, 2, 3, 100, 100, 100],
        );
        let attrs = |acc| {
            OpKind::QSumPool(SumPoolAttrs {
                kernel: vec![2],
                strides: vec![2],
                pads: vec![0, 1],
                ceil_mode: false,
                acc,
            })
        };
        let o = eval(&attrs(IntType::I32), &[&x]);
        assert_eq!((ints(&o), o.overflows), (vec![1, 2, 202, 101], 0));
        let o = eval(&attrs(IntType::signed(8)), &[&x]);
        assert_eq!((ints(&o), o.overflows), (vec![1, 2, -54, 101], 1));
    }
}
