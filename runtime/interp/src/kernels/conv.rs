//! Convolutions: `onnx.conv` in `f32` and `q.conv` exactly in integers.

use super::iconv::{Geometry, conv_sums};
use super::igemm::max_abs;
use super::index::advance;
use super::window::{Taps, Window};
use super::{Computed, floats, ints, params_along, tensor_zero_point, wrap};
use crate::error::EvalError;
use qweave_ir::ops::{ConvAttrs, QConvAttrs};
use qweave_ir::{Tensor, TensorType};

/// The loop structure of one convolution (from validated types).
pub(crate) struct Plan {
    win: Window,
    batch: usize,
    channels: usize,
    outputs: usize,
    /// Input channels per group.
    cg: usize,
    /// Output channels per group.
    mg: usize,
    in_len: usize,
    k_len: usize,
    out_len: usize,
}

impl Plan {
    pub fn new(x: &TensorType, w: &TensorType, out: &TensorType, a: &ConvAttrs) -> Plan {
        let win = Window::new(
            &x.shape[2..],
            &out.shape[2..],
            &w.shape[2..],
            &a.strides,
            &a.pads,
            Some(&a.dilations),
        );
        let (outputs, cg) = (w.shape[0] as usize, w.shape[1] as usize);
        Plan {
            batch: x.shape[0] as usize,
            channels: x.shape[1] as usize,
            outputs,
            cg,
            mg: outputs / a.group as usize,
            in_len: win.in_len(),
            k_len: win.kernel_len(),
            out_len: win.out_len(),
            win,
        }
    }

    /// Number of filters (output channels).
    pub fn filters(&self) -> usize {
        self.outputs
    }

    /// Calls `f(y_index, m, taps, x_base, w_base)` for every output element, where `x_base`
    /// is the offset of the group's first input channel in batch `n` and `w_base` that of
    /// filter `m`; channel `c` of the group is `in_len` and `k_len` further on.
    fn each(&self, mut f: impl FnMut(usize, usize, &[(usize, usize)], usize, usize)) {
        let mut taps = Taps::default();
        let mut o = vec![0; self.win.out_dims.len()];
        for flat in 0..self.out_len {
            self.win.taps(&o, &mut taps);
            for n in 0..self.batch {
                for m in 0..self.outputs {
                    let x_base = (n * self.channels + m / self.mg * self.cg) * self.in_len;
                    let w_base = m * self.cg * self.k_len;
                    f(
                        (n * self.outputs + m) * self.out_len + flat,
                        m,
                        &taps.list,
                        x_base,
                        w_base,
                    );
                }
            }
            advance(&mut o, &self.win.out_dims);
        }
    }
}

/// Calls `f(y_index, m, sum)` with the exact sum `b[m] + sum (x - zx) * (w - zw[m])` of every
/// output element (`y_index` row-major in `[N, M, out...]`, `m` its filter), padded positions
/// contributing 0; `zw` has one entry per filter.
pub(crate) fn int_conv_sums(
    plan: &Plan,
    (xs, zx): (&[i64], i64),
    (ws, zw): (&[i64], &[i64]),
    bias: Option<&[i64]>,
    mut f: impl FnMut(usize, usize, i128),
) {
    let zx = i128::from(zx);
    plan.each(|yi, m, taps, x_base, w_base| {
        let zwm = i128::from(zw[m]);
        let mut acc = bias.map_or(0, |b| i128::from(b[m]));
        for c in 0..plan.cg {
            let (xc, wc) = (x_base + c * plan.in_len, w_base + c * plan.k_len);
            for &(kf, xo) in taps {
                acc += (i128::from(xs[xc + xo]) - zx) * (i128::from(ws[wc + kf]) - zwm);
            }
        }
        f(yi, m, acc);
    });
}

fn geometry(a: &QConvAttrs) -> ConvAttrs {
    ConvAttrs {
        strides: a.strides.clone(),
        pads: a.pads.clone(),
        dilations: a.dilations.clone(),
        group: a.group,
    }
}

/// `onnx.conv`: sums over the group's channels, then the kernel in row-major order, in
/// `f32`; the bias is added last. Padded positions are skipped (they would add `0 * w`).
pub(crate) fn conv(x: &[&Tensor], a: &ConvAttrs, out: &TensorType) -> Result<Computed, EvalError> {
    let plan = Plan::new(&x[0].ty, &x[1].ty, out, a);
    let (xs, ws) = (floats(x[0])?, floats(x[1])?);
    let bias = x.get(2).map(|b| floats(b)).transpose()?;
    let mut y = vec![0.0f32; out.numel()];
    plan.each(|yi, m, taps, x_base, w_base| {
        let mut acc = 0.0f32;
        for c in 0..plan.cg {
            let (xc, wc) = (x_base + c * plan.in_len, w_base + c * plan.k_len);
            for &(kf, xo) in taps {
                acc += xs[xc + xo] * ws[wc + kf];
            }
        }
        y[yi] = bias.map_or(acc, |b| acc + b[m]);
    });
    Ok(Computed::f32(y))
}

/// `q.conv`: the exact sum of `(x - zp(x)) * (w - zp(w)[m])` plus `b[m]`, wrapped into the
/// accumulator type (each wrap counts as an overflow).
pub(crate) fn qconv(
    x: &[&Tensor],
    a: &QConvAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let attrs = geometry(a);
    let plan = Plan::new(&x[0].ty, &x[1].ty, out, &attrs);
    let (xs, ws) = (ints(x[0])?, ints(x[1])?);
    let bias = x.get(2).map(|b| ints(b)).transpose()?;
    let zx = tensor_zero_point(x[0].ty.elem)?;
    let (_, zw) = params_along(x[1].ty.elem, 0, plan.outputs)?;
    let mut y = vec![0i64; out.numel()];
    let mut overflows = 0;
    let geo = Geometry::new(&x[0].ty, &x[1].ty, out, &attrs);
    if let Some(sums) = conv_sums(&geo, (x[0], zx), (x[1], &zw), bias.map_or(0, max_abs))? {
        let per_filter = plan.out_len.max(1);
        for (i, (v, &sum)) in y.iter_mut().zip(&sums).enumerate() {
            let b = bias.map_or(0, |b| b[i / per_filter % plan.outputs]);
            let (q, wrapped) = wrap(a.acc, i128::from(sum) + i128::from(b));
            *v = q;
            overflows += u64::from(wrapped);
        }
        return Ok(Computed::wrapped(y, overflows));
    }
    int_conv_sums(&plan, (xs, zx), (ws, &zw), bias, |yi, _, acc| {
        let (v, wrapped) = wrap(a.acc, acc);
        y[yi] = v;
        overflows += u64::from(wrapped);
    });
    Ok(Computed::wrapped(y, overflows))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, qa, qt, shape, u};
    use qweave_ir::IntType;
    use qweave_ir::OpKind;
    use qweave_ir::ops::{ConvAttrs, QConvAttrs};

    fn attrs(strides: &[u64], pads: &[u64], dilations: &[u64], group: u64) -> ConvAttrs {
        ConvAttrs {
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: dilations.to_vec(),
            group,
        }
    }

    fn nine() -> qweave_ir::Tensor {
        f(
            &[1, 1, 3, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        )
    }

    #[test]
    fn conv_3x3_with_a_2x2_kernel_and_bias() {
        let w = f(&[1, 1, 2, 2], &[1.0, 1.0, 1.0, 1.0]);
        let b = f(&[1], &[0.5]);
        let o = eval(
            &OpKind::Conv(attrs(&[1, 1], &[0; 4], &[1, 1], 1)),
            &[&nine(), &w, &b],
        );
        assert_eq!(shape(&o), [1, 1, 2, 2]);
        assert_eq!(floats(&o), [12.5, 16.5, 24.5, 28.5]);
    }

    #[test]
    fn conv_with_padding_strides_and_dilation() {
        let w = f(&[1, 1, 3, 3], &[1.0; 9]);
        let o = eval(
            &OpKind::Conv(attrs(&[1, 1], &[1; 4], &[1, 1], 1)),
            &[&nine(), &w],
        );
        assert_eq!(
            floats(&o),
            [12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]
        );
        let o = eval(
            &OpKind::Conv(attrs(&[2, 2], &[1; 4], &[1, 1], 1)),
            &[&nine(), &w],
        );
        assert_eq!(floats(&o), [12.0, 16.0, 24.0, 28.0]);
        // dilation 2: the four corners
        let w = f(&[1, 1, 2, 2], &[1.0, 10.0, 100.0, 1000.0]);
        let o = eval(
            &OpKind::Conv(attrs(&[1, 1], &[0; 4], &[2, 2], 1)),
            &[&nine(), &w],
        );
        assert_eq!(floats(&o), [1.0 + 30.0 + 700.0 + 9000.0]);
    }

    #[test]
    fn grouped_and_one_dimensional_conv() {
        let x = f(&[1, 2, 1, 1], &[2.0, 3.0]);
        let w = f(&[2, 1, 1, 1], &[10.0, 100.0]);
        let o = eval(
            &OpKind::Conv(attrs(&[1, 1], &[0; 4], &[1, 1], 2)),
            &[&x, &w],
        );
        assert_eq!(floats(&o), [20.0, 300.0]);
        let x = f(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]);
        let w = f(&[1, 1, 2], &[1.0, -1.0]);
        let o = eval(&OpKind::Conv(attrs(&[1], &[0, 1], &[1], 1)), &[&x, &w]);
        assert_eq!(floats(&o), [-1.0, -1.0, -1.0, 4.0]);
    }

    fn qattrs(pads: &[u64], acc: IntType) -> QConvAttrs {
        QConvAttrs {
            strides: vec![1, 1],
            pads: pads.to_vec(),
            dilations: vec![1, 1],
            group: 1,
            acc,
            map: Default::default(),
        }
    }

    #[test]
    fn qconv_zero_points_bias_and_wrapping() {
        let x = int(&[1, 1, 2, 2], qt(u(8), 0.5, 2), &[3, 4, 5, 6]);
        let w = int(
            &[2, 1, 2, 2],
            qa(i(8), 0, &[1.0, 1.0], &[0, 1]),
            &[1, 1, 1, 1, 1, 3, 1, 1],
        );
        let b = int(&[2], i(32), &[5, -3]);
        let o = eval(&OpKind::QConv(qattrs(&[0; 4], IntType::I32)), &[&x, &w, &b]);
        assert_eq!((ints(&o), o.overflows), (vec![15, 1], 0));
        let o = eval(
            &OpKind::QConv(qattrs(&[0; 4], IntType::signed(4))),
            &[&x, &w, &b],
        );
        assert_eq!((ints(&o), o.overflows), (vec![-1, 1], 1));
    }

    #[test]
    fn qconv_padding_contributes_zero() {
        let x = int(&[1, 1, 1, 1], qt(u(8), 1.0, 2), &[5]);
        let w = int(&[1, 1, 3, 3], i(8), &[1; 9]);
        let o = eval(&OpKind::QConv(qattrs(&[1; 4], IntType::I32)), &[&x, &w]);
        assert_eq!(ints(&o), [3]);
    }
}
