//! Matrix products: `onnx.matmul` and `onnx.gemm` in `f32`, `q.matmul` exactly in integers.

use super::index::Walk;
use super::{Computed, floats, ints, params_along, tensor_zero_point, wrap};
use crate::error::EvalError;
use qweave_ir::ops::{AccAttrs, GemmAttrs};
use qweave_ir::{Tensor, TensorType};

/// The geometry of a numpy matmul: `(m, k, n)` and, per batch of the result, the batch
/// offsets (in matrices) into `a` and `b`. A 1-D `a` is a row, a 1-D `b` a column (the
/// added axis is dropped from the result), batch axes broadcast.
fn batches(
    a: &TensorType,
    b: &TensorType,
    out: &TensorType,
) -> ((usize, usize, usize), Vec<(usize, usize)>) {
    let (ra, rb) = (a.rank(), b.rank());
    let a2 = if ra == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.clone()
    };
    let b2 = if rb == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.clone()
    };
    let (m, k) = (a2[a2.len() - 2] as usize, a2[a2.len() - 1] as usize);
    let n = b2[b2.len() - 1] as usize;
    let batch = &out.shape[..out.rank() - usize::from(ra > 1) - usize::from(rb > 1)];
    let a_batches = Walk::broadcast(&a2[..a2.len() - 2], batch);
    let b_batches = Walk::broadcast(&b2[..b2.len() - 2], batch);
    ((m, k, n), a_batches.zip(b_batches).collect())
}

/// `onnx.matmul` with numpy semantics (see [`batches`]). Sums run over `k` in order.
pub(crate) fn matmul(a: &Tensor, b: &Tensor, out: &TensorType) -> Result<Computed, EvalError> {
    let (xs, ys) = (floats(a)?, floats(b)?);
    let ((m, k, n), pairs) = batches(&a.ty, &b.ty, out);
    let mut y = Vec::with_capacity(out.numel());
    for (ia, ib) in pairs {
        let (pa, pb) = (
            &xs[ia * m * k..(ia + 1) * m * k],
            &ys[ib * k * n..(ib + 1) * k * n],
        );
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for p in 0..k {
                    acc += pa[i * k + p] * pb[p * n + j];
                }
                y.push(acc);
            }
        }
    }
    Ok(Computed::f32(y))
}

/// Calls `f(j, sum)` with the exact sum of the numpy matmul of `(a - za)` and `(b - zb[j])`
/// (see [`batches`]) for every result element in order, `j` its column; `zb` has one entry
/// per column of `b` (one for a 1-D `b`).
pub(crate) fn int_matmul_sums(
    (a, za): (&Tensor, i64),
    (b, zb): (&Tensor, &[i64]),
    out: &TensorType,
    mut f: impl FnMut(usize, i128),
) -> Result<(), EvalError> {
    let (xs, ys) = (ints(a)?, ints(b)?);
    let ((m, k, n), pairs) = batches(&a.ty, &b.ty, out);
    if zb.len() != n {
        return Err(EvalError::Internal(format!(
            "{} column zero points for {n} columns",
            zb.len()
        )));
    }
    let za = i128::from(za);
    for (ia, ib) in pairs {
        let (pa, pb) = (
            &xs[ia * m * k..(ia + 1) * m * k],
            &ys[ib * k * n..(ib + 1) * k * n],
        );
        for i in 0..m {
            for (j, &zbj) in zb.iter().enumerate() {
                let zbj = i128::from(zbj);
                let mut acc = 0i128;
                for p in 0..k {
                    acc += (i128::from(pa[i * k + p]) - za) * (i128::from(pb[p * n + j]) - zbj);
                }
                f(j, acc);
            }
        }
    }
    Ok(())
}

/// `onnx.gemm`: `alpha * sum + beta * c`, the sum over `k` in order, `c` broadcast to `[M, N]`
/// (without `c`, just `alpha * sum`).
pub(crate) fn gemm(
    x: &[&Tensor],
    attrs: &GemmAttrs,
    out: &TensorType,
) -> Result<Computed, EvalError> {
    let (xs, ys) = (floats(x[0])?, floats(x[1])?);
    let (m, n) = (out.shape[0] as usize, out.shape[1] as usize);
    let k = if attrs.trans_a {
        x[0].ty.shape[0]
    } else {
        x[0].ty.shape[1]
    } as usize;
    let a = |i: usize, p: usize| {
        if attrs.trans_a {
            xs[p * m + i]
        } else {
            xs[i * k + p]
        }
    };
    let b = |p: usize, j: usize| {
        if attrs.trans_b {
            ys[j * k + p]
        } else {
            ys[p * n + j]
        }
    };
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += a(i, p) * b(p, j);
            }
            y.push(attrs.alpha * acc);
        }
    }
    if let Some(c) = x.get(2) {
        let cs = floats(c)?;
        for (v, ci) in y.iter_mut().zip(Walk::broadcast(&c.ty.shape, &out.shape)) {
            *v += attrs.beta * cs[ci];
        }
    }
    Ok(Computed::f32(y))
}

/// `q.matmul`: the exact sum of `(a - zp(a)) * (b - zp(b)[n])` plus `bias[n]`, wrapped into
/// the accumulator type (each wrap counts as an overflow).
pub(crate) fn qmatmul(x: &[&Tensor], attrs: &AccAttrs) -> Result<Computed, EvalError> {
    let (xs, ys) = (ints(x[0])?, ints(x[1])?);
    let (m, k, n) = (
        x[0].ty.shape[0] as usize,
        x[0].ty.shape[1] as usize,
        x[1].ty.shape[1] as usize,
    );
    let za = i128::from(tensor_zero_point(x[0].ty.elem)?);
    let (_, zb) = params_along(x[1].ty.elem, 1, n)?;
    let bias = x.get(2).map(|b| ints(b)).transpose()?;
    let acc_ty = attrs.acc;
    let mut y = Vec::with_capacity(m * n);
    let mut overflows = 0;
    for i in 0..m {
        for j in 0..n {
            let zbj = i128::from(zb[j]);
            let mut acc = bias.map_or(0, |b| i128::from(b[j]));
            for p in 0..k {
                acc += (i128::from(xs[i * k + p]) - za) * (i128::from(ys[p * n + j]) - zbj);
            }
            let (v, wrapped) = wrap(acc_ty, acc);
            y.push(v);
            overflows += u64::from(wrapped);
        }
    }
    Ok(Computed::wrapped(y, overflows))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, qa, qt, shape, u};
    use qweave_ir::ops::{AccAttrs, GemmAttrs};
    use qweave_ir::{IntType, OpKind};

    #[test]
    fn matmul_2d() {
        let a = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let o = eval(&OpKind::MatMul, &[&a, &b]);
        assert_eq!(
            (shape(&o), floats(&o)),
            (vec![2, 2], vec![4.0, 5.0, 10.0, 11.0])
        );
    }

    #[test]
    fn matmul_promotes_vectors_and_broadcasts_batches() {
        let v = f(&[3], &[1.0, 2.0, 3.0]);
        let m = f(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let o = eval(&OpKind::MatMul, &[&v, &m]);
        assert_eq!((shape(&o), floats(&o)), (vec![2], vec![4.0, 5.0]));
        let mt = f(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]);
        let o = eval(&OpKind::MatMul, &[&mt, &v]);
        assert_eq!((shape(&o), floats(&o)), (vec![2], vec![4.0, 5.0]));
        // [2, 1, 1, 2] x [3, 2, 1]: batches [2, 1] and [3] broadcast to [2, 3]
        let a = f(&[2, 1, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f(&[3, 2, 1], &[1.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let o = eval(&OpKind::MatMul, &[&a, &b]);
        assert_eq!(shape(&o), [2, 3, 1, 1]);
        assert_eq!(floats(&o), [3.0, 1.0, 2.0, 7.0, 3.0, 4.0]);
    }

    #[test]
    fn gemm_transposes_scales_and_broadcasts_c() {
        let a = f(&[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]); // A' = [[1, 2, 3], [4, 5, 6]]
        let b = f(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]); // B' = [[1, 0], [0, 1], [1, 1]]
        let c = f(&[2], &[10.0, 20.0]);
        let attrs = GemmAttrs {
            alpha: 2.0,
            beta: 0.5,
            trans_a: true,
            trans_b: true,
        };
        let o = eval(&OpKind::Gemm(attrs.clone()), &[&a, &b, &c]);
        assert_eq!(floats(&o), [13.0, 20.0, 25.0, 32.0]);
        let o = eval(&OpKind::Gemm(attrs), &[&a, &b]);
        assert_eq!(floats(&o), [8.0, 10.0, 20.0, 22.0]);
    }

    #[test]
    fn qmatmul_per_column_zero_points_and_wrapping() {
        let a = int(&[1, 2], qt(u(8), 1.0, 10), &[12, 13]); // [2, 3]
        let b = int(&[2, 2], qa(i(8), 1, &[1.0, 1.0], &[0, -2]), &[1, -2, 2, 0]); // [[1, 0], [2, 2]]
        let bias = int(&[2], i(32), &[100, -1]);
        let o = eval(
            &OpKind::QMatMul(AccAttrs {
                acc: IntType::I32,
                map: Default::default(),
            }),
            &[&a, &b, &bias],
        );
        assert_eq!((ints(&o), o.overflows), (vec![108, 5], 0));
        let o = eval(
            &OpKind::QMatMul(AccAttrs {
                acc: IntType::signed(4),
                map: Default::default(),
            }),
            &[&a, &b, &bias],
        );
        assert_eq!((ints(&o), o.overflows), (vec![-4, 5], 1));
    }
}
