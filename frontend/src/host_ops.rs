//! Structural transforms of import-time constants (transpose, concat, gather, slice, cast),
//! for shape arithmetic and constant weights that never need to reach the IR as ops.

use crate::host::{DType, HostData, HostTensor};

/// Picks elements by flat index.
fn select(data: &HostData, idx: &[usize]) -> HostData {
    match data {
        HostData::F32(v) => HostData::F32(idx.iter().map(|&i| v[i]).collect()),
        HostData::F64(v) => HostData::F64(idx.iter().map(|&i| v[i]).collect()),
        HostData::Int(v) => HostData::Int(idx.iter().map(|&i| v[i]).collect()),
    }
}

fn strides(dims: &[u64]) -> Vec<u64> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Calls `f` with every coordinate of `dims` in row-major order.
fn each_coord(dims: &[u64], mut f: impl FnMut(&[u64])) {
    if dims.contains(&0) {
        return;
    }
    let mut c = vec![0u64; dims.len()];
    loop {
        f(&c);
        let mut axis = dims.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            c[axis] += 1;
            if c[axis] < dims[axis] {
                break;
            }
            c[axis] = 0;
        }
    }
}

/// The same tensor with new dimensions (same element count).
pub fn reshape(t: &HostTensor, dims: Vec<u64>) -> HostTensor {
    HostTensor { dims, ..t.clone() }
}

/// Axis permutation: result axis `k` is axis `perm[k]`.
pub fn transpose(t: &HostTensor, perm: &[usize]) -> HostTensor {
    let src = strides(&t.dims);
    let dims: Vec<u64> = perm.iter().map(|&p| t.dims[p]).collect();
    let mut idx = Vec::with_capacity(t.len());
    each_coord(&dims, |c| {
        idx.push(c.iter().zip(perm).map(|(&ci, &p)| ci * src[p]).sum::<u64>() as usize);
    });
    HostTensor {
        dtype: t.dtype,
        dims,
        data: select(&t.data, &idx),
    }
}

/// Concatenation along `axis` of tensors with equal other dimensions and element types.
pub fn concat(parts: &[&HostTensor], axis: usize) -> Result<HostTensor, String> {
    let first = parts[0];
    let mut dims = first.dims.clone();
    dims[axis] = parts.iter().map(|p| p.dims[axis]).sum();
    for p in parts {
        let agree = p.dims.len() == dims.len()
            && (0..dims.len()).all(|d| d == axis || p.dims[d] == dims[d]);
        if !agree || p.dtype != first.dtype {
            return Err(format!(
                "cannot concatenate {:?} and {:?} along axis {axis}",
                first.dims, p.dims
            ));
        }
    }
    let outer: u64 = dims[..axis].iter().product();
    let inner: u64 = dims[axis + 1..].iter().product();
    let mut out = match &first.data {
        HostData::F32(_) => HostData::F32(Vec::new()),
        HostData::F64(_) => HostData::F64(Vec::new()),
        HostData::Int(_) => HostData::Int(Vec::new()),
    };
    for o in 0..outer {
        for p in parts {
            let chunk = (p.dims[axis] * inner) as usize;
            let start = o as usize * chunk;
            match (&mut out, &p.data) {
                (HostData::F32(d), HostData::F32(s)) => {
                    d.extend_from_slice(&s[start..start + chunk]);
                }
                (HostData::F64(d), HostData::F64(s)) => {
                    d.extend_from_slice(&s[start..start + chunk]);
                }
                (HostData::Int(d), HostData::Int(s)) => {
                    d.extend_from_slice(&s[start..start + chunk]);
                }
                _ => return Err("mixed element types".into()),
            }
        }
    }
    Ok(HostTensor {
        dtype: first.dtype,
        dims,
        data: out,
    })
}

/// ONNX Gather: `indices` (negative counting from the end) select along `axis`.
pub fn gather(t: &HostTensor, indices: &HostTensor, axis: usize) -> Result<HostTensor, String> {
    let idx = indices.as_ints().ok_or("indices must be integers")?;
    let len = t.dims[axis] as i64;
    let mut picks = Vec::with_capacity(idx.len());
    for &i in idx {
        let j = if i < 0 { i + len } else { i };
        if !(0..len).contains(&j) {
            return Err(format!("index {i} is out of range for an axis of {len}"));
        }
        picks.push(j as u64);
    }
    let mut dims: Vec<u64> = t.dims[..axis].to_vec();
    dims.extend(&indices.dims);
    dims.extend(&t.dims[axis + 1..]);
    let src = strides(&t.dims);
    let (outer, inner) = (&t.dims[..axis], &t.dims[axis + 1..]);
    let mut out = Vec::new();
    each_coord(outer, |o| {
        for &p in &picks {
            each_coord(inner, |c| {
                let mut flat = p * src[axis];
                flat += o
                    .iter()
                    .enumerate()
                    .map(|(k, &ok)| ok * src[k])
                    .sum::<u64>();
                flat += c
                    .iter()
                    .enumerate()
                    .map(|(k, &ck)| ck * src[axis + 1 + k])
                    .sum::<u64>();
                out.push(flat as usize);
            });
        }
    });
    Ok(HostTensor {
        dtype: t.dtype,
        dims,
        data: select(&t.data, &out),
    })
}

/// ONNX Slice with per-axis `starts`, `ends` and `steps` (already matched to axes, clamped
/// as ONNX clamps them).
pub fn slice(
    t: &HostTensor,
    starts: &[i64],
    ends: &[i64],
    axes: &[usize],
    steps: &[i64],
) -> Result<HostTensor, String> {
    let rank = t.dims.len();
    let mut ranges: Vec<Vec<u64>> = t.dims.iter().map(|&d| (0..d).collect()).collect();
    for (k, &a) in axes.iter().enumerate() {
        let (len, step) = (t.dims[a] as i64, steps[k]);
        if step == 0 {
            return Err("a slice step of 0".into());
        }
        let norm = |v: i64| if v < 0 { v + len } else { v };
        let (lo, hi) = if step > 0 { (0, len) } else { (-1, len - 1) };
        let start = norm(starts[k].clamp(-len - 1, len + 1)).clamp(lo, hi);
        let end =
            norm(
                ends[k]
                    .clamp(-len - 1, len + 1)
                    .max(if step > 0 { -len } else { -len - 1 }),
            )
            .clamp(lo, hi);
        let mut picks = Vec::new();
        let mut i = start;
        while (step > 0 && i < end) || (step < 0 && i > end) {
            picks.push(i as u64);
            i += step;
        }
        ranges[a] = picks;
    }
    let dims: Vec<u64> = ranges.iter().map(|r| r.len() as u64).collect();
    let src = strides(&t.dims);
    let mut idx = Vec::new();
    each_coord(&dims, |c| {
        idx.push(
            (0..rank)
                .map(|k| ranges[k][c[k] as usize] * src[k])
                .sum::<u64>() as usize,
        );
    });
    Ok(HostTensor {
        dtype: t.dtype,
        dims,
        data: select(&t.data, &idx),
    })
}

/// ONNX Cast of a constant (floats to integers truncate toward zero; integers wrap to the
/// target width; bool is `!= 0`).
pub fn cast(t: &HostTensor, to: DType) -> Result<HostTensor, String> {
    let as_int = |v: f64| -> i64 {
        if v.is_nan() {
            0
        } else {
            v.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64
        }
    };
    let data = match (to, &t.data) {
        (DType::F32 | DType::F16, d) => HostData::F32(match d {
            HostData::F32(v) => v.clone(),
            HostData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            HostData::Int(v) => v.iter().map(|&x| x as f32).collect(),
        }),
        (DType::F64, d) => HostData::F64(match d {
            HostData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            HostData::F64(v) => v.clone(),
            HostData::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }),
        (DType::Bool, d) => HostData::Int(match d {
            HostData::F32(v) => v.iter().map(|&x| i64::from(x != 0.0)).collect(),
            HostData::F64(v) => v.iter().map(|&x| i64::from(x != 0.0)).collect(),
            HostData::Int(v) => v.iter().map(|&x| i64::from(x != 0)).collect(),
        }),
        (DType::Int { signed, bits }, d) => {
            let wide: Vec<i64> = match d {
                HostData::F32(v) => v.iter().map(|&x| as_int(f64::from(x))).collect(),
                HostData::F64(v) => v.iter().map(|&x| as_int(x)).collect(),
                HostData::Int(v) => v.clone(),
            };
            let wrap = |x: i64| -> i64 {
                if bits >= 64 {
                    return x;
                }
                let m = 1i128 << bits;
                let mut r = i128::from(x).rem_euclid(m);
                if signed && r >= m / 2 {
                    r -= m;
                }
                r as i64
            };
            HostData::Int(wide.into_iter().map(wrap).collect())
        }
    };
    Ok(HostTensor {
        dtype: to,
        dims: t.dims.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(dims: &[u64], v: &[i64]) -> HostTensor {
        HostTensor::i64s(dims.to_vec(), v.to_vec())
    }

    #[test]
    fn structural_transforms() {
        let t = ints(&[2, 3], &[0, 1, 2, 3, 4, 5]);
        assert_eq!(
            transpose(&t, &[1, 0]).as_ints().unwrap(),
            [0, 3, 1, 4, 2, 5]
        );
        let c = concat(&[&t, &ints(&[2, 1], &[9, 8])], 1).unwrap();
        assert_eq!(
            (c.dims.clone(), c.as_ints().unwrap().to_vec()),
            (vec![2, 4], vec![0, 1, 2, 9, 3, 4, 5, 8])
        );
        let g = gather(&t, &ints(&[], &[-1]), 1).unwrap();
        assert_eq!(
            (g.dims.clone(), g.as_ints().unwrap().to_vec()),
            (vec![2], vec![2, 5])
        );
        let s = slice(&t, &[1], &[i64::MAX], &[1], &[1]).unwrap();
        assert_eq!(s.as_ints().unwrap(), [1, 2, 4, 5]);
        let s = slice(&t, &[-1], &[i64::MIN], &[1], &[-2]).unwrap();
        assert_eq!(s.as_ints().unwrap(), [2, 0, 5, 3]);
        let f = cast(
            &HostTensor {
                dtype: DType::F32,
                dims: vec![3],
                data: HostData::F32(vec![-1.7, 2.9, 300.0]),
            },
            DType::Int {
                signed: false,
                bits: 8,
            },
        )
        .unwrap();
        assert_eq!(f.as_ints().unwrap(), [255, 2, 44]);
    }
}
