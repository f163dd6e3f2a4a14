//! Structural ops on any element type: `transpose`, `concat`, `pad`, and the per-axis gather
//! that `pad` and `resize_nearest` share. (`reshape` only retypes the data.)

use super::index::{Walk, advance, dims, strides};
use super::{Computed, floats, ints};
use crate::error::EvalError;
use qweave_ir::ops::{AxisAttrs, PadAttrs, TransposeAttrs};
use qweave_ir::{Data, PadMode, Scalar, Tensor, TensorType};

/// Reads `v` at every position of the result, row-major: along axis `k` result index `i`
/// reads input offset `tables[k][i]` (already multiplied by the input stride), summed over
/// the axes; `None` on any axis reads `fill` instead.
fn gather<T: Copy>(v: &[T], tables: &[Vec<Option<usize>>], fill: T) -> Vec<T> {
    let Some((last, outer)) = tables.split_last() else {
        return v.to_vec();
    };
    let outer_dims: Vec<usize> = outer.iter().map(Vec::len).collect();
    let mut y = Vec::with_capacity(outer_dims.iter().product::<usize>() * last.len());
    let mut idx = vec![0; outer.len()];
    loop {
        let base = outer
            .iter()
            .zip(&idx)
            .try_fold(0, |acc, (t, &i)| t[i].map(|o| acc + o));
        match base {
            Some(b) => y.extend(last.iter().map(|o| o.map_or(fill, |o| v[b + o]))),
            None => y.extend(std::iter::repeat_n(fill, last.len())),
        }
        if !advance(&mut idx, &outer_dims) {
            return y;
        }
    }
}

/// [`gather`] on float or integer data, with the fill value given for both kinds.
pub(crate) fn gather_data(d: &Data, tables: &[Vec<Option<usize>>], fill: (f32, i64)) -> Data {
    match d {
        Data::F32(v) => Data::F32(gather(v, tables, fill.0).into()),
        Data::Int(v) => Data::Int(gather(v, tables, fill.1).into()),
    }
}

/// `transpose`: result axis `k` is operand axis `perm[k]`.
pub(crate) fn transpose(x: &Tensor, a: &TransposeAttrs) -> Computed {
    let (d, s) = (dims(&x.ty.shape), strides(&dims(&x.ty.shape)));
    let walk = || {
        Walk::new(
            a.perm.iter().map(|&p| d[p as usize]).collect(),
            a.perm.iter().map(|&p| s[p as usize]).collect(),
        )
    };
    let data = match &x.data {
        Data::F32(v) => Data::F32(walk().map(|i| v[i]).collect()),
        Data::Int(v) => Data::Int(walk().map(|i| v[i]).collect()),
    };
    Computed {
        data,
        overflows: 0,
        saturations: 0,
    }
}

/// Joins `parts` (each `[outer, chunk_i]` in effect) chunk by chunk.
fn join<T: Copy>(parts: &[&[T]], outer: usize) -> Vec<T> {
    let mut y = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for o in 0..outer {
        for p in parts {
            let chunk = p.len() / outer;
            y.extend_from_slice(&p[o * chunk..(o + 1) * chunk]);
        }
    }
    y
}

/// `concat` along `axis`.
pub(crate) fn concat(x: &[&Tensor], a: &AxisAttrs) -> Result<Computed, EvalError> {
    let outer: usize = dims(&x[0].ty.shape[..a.axis as usize]).iter().product();
    let data = match &x[0].data {
        Data::F32(_) => Data::F32(
            join(
                &x.iter().map(|t| floats(t)).collect::<Result<Vec<_>, _>>()?,
                outer,
            )
            .into(),
        ),
        Data::Int(_) => Data::Int(
            join(
                &x.iter().map(|t| ints(t)).collect::<Result<Vec<_>, _>>()?,
                outer,
            )
            .into(),
        ),
    };
    Ok(Computed {
        data,
        overflows: 0,
        saturations: 0,
    })
}

/// The input index read by padded index `o` along an axis of length `len` with begin pad
/// `begin`: `None` for the constant border.
fn pad_source(mode: PadMode, o: i64, begin: i64, len: i64) -> Option<i64> {
    let i = o - begin;
    match mode {
        PadMode::Constant => (0..len).contains(&i).then_some(i),
        // reflect pads are at most len - 1 (checked by inference); the clamp only guards
        PadMode::Reflect => {
            let r = if i < 0 {
                -i
            } else if i >= len {
                2 * (len - 1) - i
            } else {
                i
            };
            Some(r.clamp(0, len - 1))
        }
        PadMode::Edge => Some(i.clamp(0, len - 1)),
    }
}

/// `pad`: ONNX Pad with static pads; negative pads crop. The constant is `value`: a float
/// for `f32` tensors (an integer value converts to `f32`), the stored integer otherwise.
pub(crate) fn pad(x: &Tensor, a: &PadAttrs, out: &TensorType) -> Result<Computed, EvalError> {
    let rank = x.ty.rank();
    let in_dims = dims(&x.ty.shape);
    let in_strides = strides(&in_dims);
    let tables: Vec<Vec<Option<usize>>> = (0..rank)
        .map(|k| {
            let len = in_dims[k] as i64;
            (0..out.shape[k] as i64)
                .map(|o| pad_source(a.mode, o, a.pads[k], len).map(|i| i as usize * in_strides[k]))
                .collect()
        })
        .collect();
    let fill = match (a.value, &x.data) {
        (Scalar::F32(v), Data::F32(_)) => (v, 0),
        (Scalar::Int(v), _) => (v as f32, v),
        (Scalar::F32(v), Data::Int(_)) => {
            return Err(EvalError::Invalid(format!(
                "a float pad value {v} cannot fill the integer tensor {}",
                x.ty
            )));
        }
    };
    Ok(Computed {
        data: gather_data(&x.data, &tables, fill),
        overflows: 0,
        saturations: 0,
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::{eval, f, floats, i, int, ints, shape};
    use qweave_ir::ops::{AxisAttrs, PadAttrs, ReshapeAttrs, TransposeAttrs};
    use qweave_ir::{OpKind, PadMode, Scalar};

    fn pad(pads: &[i64], mode: PadMode, value: Scalar) -> OpKind {
        OpKind::Pad(PadAttrs {
            pads: pads.to_vec(),
            mode,
            value,
        })
    }

    #[test]
    fn transpose_and_reshape() {
        let x = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let o = eval(
            &OpKind::Transpose(TransposeAttrs { perm: vec![1, 0] }),
            &[&x],
        );
        assert_eq!(
            (shape(&o), floats(&o)),
            (vec![3, 2], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        );
        let x = int(&[2, 1, 3], i(8), &[1, 2, 3, 4, 5, 6]);
        let o = eval(
            &OpKind::Transpose(TransposeAttrs {
                perm: vec![2, 0, 1],
            }),
            &[&x],
        );
        assert_eq!(
            (shape(&o), ints(&o)),
            (vec![3, 2, 1], vec![1, 4, 2, 5, 3, 6])
        );
        let o = eval(&OpKind::Reshape(ReshapeAttrs { shape: vec![3, 2] }), &[&x]);
        assert_eq!((shape(&o), ints(&o)), (vec![3, 2], vec![1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn concat_along_an_inner_axis() {
        let a = int(&[2, 1], i(8), &[1, 2]);
        let b = int(&[2, 2], i(8), &[3, 4, 5, 6]);
        let o = eval(&OpKind::Concat(AxisAttrs { axis: 1 }), &[&a, &b, &a]);
        assert_eq!(
            (shape(&o), ints(&o)),
            (vec![2, 4], vec![1, 3, 4, 1, 2, 5, 6, 2])
        );
        let o = eval(
            &OpKind::Concat(AxisAttrs { axis: 0 }),
            &[&f(&[1], &[1.0]), &f(&[2], &[2.0, 3.0])],
        );
        assert_eq!(floats(&o), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn pad_constant_and_crop() {
        let x = f(&[3], &[1.0, 2.0, 3.0]);
        let o = eval(&pad(&[1, 2], PadMode::Constant, Scalar::F32(9.0)), &[&x]);
        assert_eq!(floats(&o), [9.0, 1.0, 2.0, 3.0, 9.0, 9.0]);
        let o = eval(&pad(&[-1, 1], PadMode::Constant, Scalar::Int(7)), &[&x]);
        assert_eq!(floats(&o), [2.0, 3.0, 7.0]);
        let x = int(&[2, 2], i(8), &[1, 2, 3, 4]);
        let o = eval(
            &pad(&[1, 0, 0, 1], PadMode::Constant, Scalar::Int(-1)),
            &[&x],
        );
        assert_eq!(
            (shape(&o), ints(&o)),
            (vec![3, 3], vec![-1, -1, -1, 1, 2, -1, 3, 4, -1])
        );
    }

    #[test]
    fn pad_reflect_and_edge() {
        let x = f(&[3], &[1.0, 2.0, 3.0]);
        let o = eval(&pad(&[2, 2], PadMode::Reflect, Scalar::Int(0)), &[&x]);
        assert_eq!(floats(&o), [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]);
        let o = eval(&pad(&[2, 1], PadMode::Edge, Scalar::Int(0)), &[&x]);
        assert_eq!(floats(&o), [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        let x = int(&[2, 2], i(8), &[1, 2, 3, 4]);
        let o = eval(&pad(&[1, 1, 0, 0], PadMode::Reflect, Scalar::Int(0)), &[&x]);
        assert_eq!(ints(&o), [4, 3, 4, 2, 1, 2, 4, 3, 4]);
    }
}
