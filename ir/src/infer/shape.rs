//! Inference for the structural ops: reshape, transpose, concat, pad, resize.

use super::axis;
use crate::attrs::{PadMode, Scalar};
use crate::ops::{AxisAttrs, PadAttrs, ReshapeAttrs, ResizeAttrs, TransposeAttrs};
use crate::quant::{Quant, QuantParams, QuantType};
use crate::types::{ElemType, MAX_RANK, TensorType, numel};

/// `reshape`.
pub fn reshape(x: &TensorType, a: &ReshapeAttrs) -> Result<TensorType, String> {
    if a.shape.len() > MAX_RANK {
        return Err(format!(
            "'shape' has rank {}, more than {MAX_RANK}",
            a.shape.len()
        ));
    }
    if x.elem.quant_axis().is_some() {
        return Err(format!("cannot reshape the per-axis quantized {x}"));
    }
    if numel(&a.shape) != Some(x.numel() as u64) {
        return Err(format!(
            "cannot reshape {x} ({} elements) to {:?}",
            x.numel(),
            a.shape
        ));
    }
    Ok(TensorType::new(a.shape.clone(), x.elem))
}

/// `transpose`; a per-axis quantized type moves its axis along.
pub fn transpose(x: &TensorType, a: &TransposeAttrs) -> Result<TensorType, String> {
    let mut seen = vec![false; x.rank()];
    if a.perm.len() != x.rank()
        || a.perm
            .iter()
            .any(|&p| p as usize >= x.rank() || std::mem::replace(&mut seen[p as usize], true))
    {
        return Err(format!(
            "{:?} is not a permutation of the {} axes of {x}",
            a.perm,
            x.rank()
        ));
    }
    let shape: Vec<u64> = a.perm.iter().map(|&p| x.shape[p as usize]).collect();
    let elem = match x.elem {
        ElemType::Quant(q) => match &q.get().params {
            QuantParams::Axis {
                axis: old,
                scales,
                zero_points,
            } => {
                let new_axis = a
                    .perm
                    .iter()
                    .position(|&p| p as usize == *old)
                    .unwrap_or(*old);
                ElemType::Quant(Quant::intern(QuantType {
                    storage: q.get().storage,
                    params: QuantParams::Axis {
                        axis: new_axis,
                        scales: scales.clone(),
                        zero_points: zero_points.clone(),
                    },
                }))
            }
            QuantParams::Tensor { .. } => x.elem,
        },
        e => e,
    };
    Ok(TensorType::new(shape, elem))
}

/// `concat`.
pub fn concat(x: &[&TensorType], a: &AxisAttrs) -> Result<TensorType, String> {
    let first = x[0];
    let ax = axis(first, a.axis)?;
    if first.elem.quant_axis() == Some(ax) {
        return Err(format!(
            "cannot concatenate along the quantization axis of {first}"
        ));
    }
    let mut total: u64 = 0;
    for (i, t) in x.iter().enumerate() {
        if t.elem != first.elem || t.rank() != first.rank() {
            return Err(format!("operand {i} is {t}, but operand 0 is {first}"));
        }
        let other_dims_agree = (0..t.rank()).all(|d| d == ax || t.shape[d] == first.shape[d]);
        if !other_dims_agree {
            return Err(format!(
                "operand {i} ({t}) differs from operand 0 ({first}) off axis {ax}"
            ));
        }
        total = total
            .checked_add(t.shape[ax])
            .ok_or("the concatenated axis overflows")?;
    }
    let mut shape = first.shape.clone();
    shape[ax] = total;
    Ok(TensorType::new(shape, first.elem))
}

/// `pad`.
pub fn pad(x: &TensorType, a: &PadAttrs) -> Result<TensorType, String> {
    let r = x.rank();
    if a.pads.len() != 2 * r {
        return Err(format!(
            "'pads' has {} entries, expected {} for {x}",
            a.pads.len(),
            2 * r
        ));
    }
    if let (Scalar::F32(_), true) = (a.value, x.elem.is_integer()) {
        return Err(format!(
            "a float pad value cannot fill the integer tensor {x}"
        ));
    }
    if let Scalar::Int(v) = a.value
        && let Some(s) = x.elem.storage()
        && !s.contains(v)
    {
        return Err(format!("pad value {v} is outside the range of {s}"));
    }
    let mut shape = Vec::with_capacity(r);
    for d in 0..r {
        let (b, e) = (a.pads[d] as i128, a.pads[r + d] as i128);
        if a.mode != PadMode::Constant {
            let len = x.shape[d] as i128;
            let limit = if a.mode == PadMode::Reflect {
                len - 1
            } else {
                i128::MAX
            };
            if b < 0 || e < 0 || b > limit || e > limit {
                return Err(format!(
                    "{} padding of axis {d} needs amounts in 0..={}, found {b} and {e}",
                    a.mode,
                    limit.min(i64::MAX as i128)
                ));
            }
        }
        let len = x.shape[d] as i128 + b + e;
        if len < 1 || len > u64::MAX as i128 {
            return Err(format!(
                "padding axis {d} of {x} by {b} and {e} leaves {len} elements"
            ));
        }
        shape.push(len as u64);
    }
    Ok(TensorType::new(shape, x.elem))
}

/// `resize_nearest`.
pub fn resize(x: &TensorType, a: &ResizeAttrs) -> Result<TensorType, String> {
    if a.shape.len() != x.rank() || a.scales.len() != x.rank() {
        return Err(format!(
            "'shape' and 'scales' need {} entries each for {x}, found {} and {}",
            x.rank(),
            a.shape.len(),
            a.scales.len()
        ));
    }
    if let Some(s) = a.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("scale {s} is not positive and finite"));
    }
    Ok(TensorType::new(a.shape.clone(), x.elem))
}
