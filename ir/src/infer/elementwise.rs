//! Inference for broadcasting arithmetic, matrix products and normalizations.

use super::float;
use crate::ops::{GemmAttrs, LrnAttrs};
use crate::types::{ElemType, Shape, TensorType};

/// Numpy (multidirectional) broadcasting of two shapes.
pub fn broadcast(a: &[u64], b: &[u64]) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let dim = |s: &[u64], i: usize| {
        if i < rank - s.len() {
            1
        } else {
            s[i - (rank - s.len())]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y || y == 1 => Ok(x),
            (1, y) => Ok(y),
            (x, y) => Err(format!(
                "shapes {a:?} and {b:?} do not broadcast ({x} against {y})"
            )),
        })
        .collect()
}

/// True when `small` broadcasts to exactly `big` (unidirectional broadcasting).
pub fn broadcasts_to(small: &[u64], big: &[u64]) -> bool {
    broadcast(small, big).is_ok_and(|s| s == big)
}

/// `onnx.add` and friends: two `f32` operands, broadcast.
pub fn binary_float(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    float(a, "a")?;
    float(b, "b")?;
    Ok(TensorType::new(
        broadcast(&a.shape, &b.shape)?,
        ElemType::F32,
    ))
}

/// `onnx.prelu`: the slope broadcasts to `x`.
pub fn prelu(x: &TensorType, slope: &TensorType) -> Result<TensorType, String> {
    float(x, "x")?;
    float(slope, "the slope")?;
    if !broadcasts_to(&slope.shape, &x.shape) {
        return Err(format!("the slope {slope} does not broadcast to {x}"));
    }
    Ok(x.clone())
}

/// `onnx.matmul`: numpy semantics.
pub fn matmul(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    float(a, "a")?;
    float(b, "b")?;
    Ok(TensorType::new(
        matmul_shape(&a.shape, &b.shape)?,
        ElemType::F32,
    ))
}

/// The result shape of numpy matmul: 1-D operands promoted, batch dimensions broadcast.
pub fn matmul_shape(a: &[u64], b: &[u64]) -> Result<Shape, String> {
    if a.is_empty() || b.is_empty() {
        return Err("matmul operands must have rank at least 1".into());
    }
    let a2: Shape = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Shape = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!("inner dimensions differ: {a:?} times {b:?}"));
    }
    let mut shape = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if a.len() > 1 {
        shape.push(m);
    }
    if b.len() > 1 {
        shape.push(n);
    }
    Ok(shape)
}

/// `onnx.gemm`.
pub fn gemm(x: &[&TensorType], attrs: &GemmAttrs) -> Result<TensorType, String> {
    let (a, b) = (float(x[0], "a")?, float(x[1], "b")?);
    if a.rank() != 2 || b.rank() != 2 {
        return Err(format!("gemm needs 2-D operands, found {a} and {b}"));
    }
    let (m, k) = if attrs.trans_a {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (k2, n) = if attrs.trans_b {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != k2 {
        return Err(format!("inner dimensions differ: {k} against {k2}"));
    }
    if let Some(c) = x.get(2) {
        float(c, "c")?;
        if !broadcasts_to(&c.shape, &[m, n]) {
            return Err(format!("c {c} does not broadcast to [{m}, {n}]"));
        }
    }
    Ok(TensorType::new(vec![m, n], ElemType::F32))
}

/// `onnx.batch_norm`: `x` is `[N, C, ...]`, the four parameters `[C]`.
pub fn batch_norm(x: &[&TensorType]) -> Result<TensorType, String> {
    let input = float(x[0], "x")?;
    if input.rank() < 2 {
        return Err(format!("x must be [N, C, ...], found {input}"));
    }
    let c = input.shape[1];
    for (t, name) in x[1..].iter().zip(["scale", "bias", "mean", "var"]) {
        float(t, name)?;
        if t.shape != [c] {
            return Err(format!("{name} must be [{c}], found {t}"));
        }
    }
    Ok(input.clone())
}

/// `onnx.lrn`.
pub fn lrn(x: &TensorType, a: &LrnAttrs) -> Result<TensorType, String> {
    float(x, "x")?;
    if x.rank() < 2 {
        return Err(format!("x must be [N, C, ...], found {x}"));
    }
    if a.size == 0 {
        return Err("'size' must be at least 1".into());
    }
    Ok(x.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[u64]) -> TensorType {
        TensorType::new(shape.to_vec(), ElemType::F32)
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[2, 1, 4], &[3, 1]), Ok(vec![2, 3, 4]));
        assert_eq!(broadcast(&[], &[5]), Ok(vec![5]));
        assert!(broadcast(&[2, 3], &[3, 2]).is_err());
        assert!(broadcasts_to(&[1, 4], &[3, 4]));
        assert!(!broadcasts_to(&[3, 4], &[1, 4]));
    }

    #[test]
    fn matmul_shapes() {
        assert_eq!(matmul(&t(&[2, 3]), &t(&[3, 4])).unwrap().shape, [2, 4]);
        assert_eq!(matmul(&t(&[3]), &t(&[3, 4])).unwrap().shape, [4]);
        assert_eq!(matmul(&t(&[5, 2, 3]), &t(&[3])).unwrap().shape, [5, 2]);
        assert_eq!(
            matmul(&t(&[5, 1, 2, 3]), &t(&[4, 3, 6])).unwrap().shape,
            [5, 4, 2, 6]
        );
        assert!(matmul(&t(&[2, 3]), &t(&[2, 3])).is_err());
    }
}
