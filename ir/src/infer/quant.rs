//! Inference for quantization ops (ONNX, QONNX, FINN) and the integer `q.` ops.

use super::elementwise::{broadcast, broadcasts_to};
use super::{axis, float, integer, per_tensor_integer, valid_elem};
use crate::ops::{
    AccAttrs, ClampAttrs, MultiThresholdAttrs, OutAttrs, QMultiThresholdAttrs, RequantizeAttrs,
};
use crate::types::{ElemType, Storage, TensorType};

/// Requires a result type that is a plain integer or a quantized type (a bipolar result
/// takes the sign: see `saturate` in the ops' documentation).
fn stored_result(e: ElemType) -> Result<ElemType, String> {
    match valid_elem(e)? {
        ElemType::Int(_) | ElemType::Quant(_) => Ok(e),
        other => Err(format!(
            "the result type must be an integer or quantized type, found {other}"
        )),
    }
}

/// Requires a result type that is a plain integer or an integer-stored quantized type.
fn int_result(e: ElemType) -> Result<ElemType, String> {
    match valid_elem(e)? {
        ElemType::Int(_) => Ok(e),
        ElemType::Quant(q) if matches!(q.get().storage, Storage::Int(_)) => Ok(e),
        other => Err(format!(
            "the result type must be an integer or integer-stored quantized type, found {other}"
        )),
    }
}

/// `onnx.quantize_linear`.
pub fn quantize_linear(x: &TensorType, a: &OutAttrs) -> Result<TensorType, String> {
    float(x, "x")?;
    match valid_elem(a.out)? {
        ElemType::Quant(q) if matches!(q.get().storage, Storage::Int(_)) => Ok(x.with_elem(a.out)),
        other => Err(format!(
            "'out' must be an integer-stored quantized type, found {other}"
        )),
    }
}

/// `onnx.dequantize_linear`.
pub fn dequantize_linear(x: &TensorType) -> Result<TensorType, String> {
    match x.elem {
        ElemType::Quant(_) => Ok(x.with_elem(ElemType::F32)),
        _ => Err(format!("x must be quantized, found {x}")),
    }
}

/// `onnx.quant` (QONNX).
pub fn qonnx_quant(x: &[&TensorType]) -> Result<TensorType, String> {
    let input = float(x[0], "x")?;
    for (t, name) in [(x[1], "scale"), (x[2], "the zero point")] {
        float(t, name)?;
        if !broadcasts_to(&t.shape, &input.shape) {
            return Err(format!("{name} {t} does not broadcast to {input}"));
        }
    }
    float(x[3], "the bit width")?;
    if x[3].numel() != 1 {
        return Err(format!(
            "the bit width must have one element, found {}",
            x[3]
        ));
    }
    Ok(input.clone())
}

/// `onnx.bipolar_quant`.
pub fn bipolar_quant(x: &[&TensorType]) -> Result<TensorType, String> {
    let input = float(x[0], "x")?;
    float(x[1], "scale")?;
    if !broadcasts_to(&x[1].shape, &input.shape) {
        return Err(format!("scale {} does not broadcast to {input}", x[1]));
    }
    Ok(input.clone())
}

/// Checks thresholds `[C or 1, T]` against the channel axis of `x`.
fn thresholds(x: &TensorType, t: &TensorType, ax: u64) -> Result<(), String> {
    let ax = axis(x, ax)?;
    let c = x.shape[ax];
    if t.rank() != 2 || (t.shape[0] != c && t.shape[0] != 1) {
        return Err(format!("thresholds must be [{c}, T] or [1, T], found {t}"));
    }
    Ok(())
}

/// `onnx.multi_threshold`.
pub fn multi_threshold(x: &[&TensorType], a: &MultiThresholdAttrs) -> Result<TensorType, String> {
    float(x[0], "x")?;
    float(x[1], "the thresholds")?;
    thresholds(x[0], x[1], a.axis)?;
    Ok(x[0].clone())
}

/// `q.matmul`.
pub fn qmatmul(x: &[&TensorType], a: &AccAttrs) -> Result<TensorType, String> {
    let (lhs, rhs) = (per_tensor_integer(x[0], "a")?, integer(x[1], "b")?);
    if let Some(axis) = rhs.elem.quant_axis()
        && axis != 1
    {
        return Err(format!(
            "b may only be per-axis quantized along axis 1, found axis {axis}"
        ));
    }
    if lhs.rank() != 2 || rhs.rank() != 2 || lhs.shape[1] != rhs.shape[0] {
        return Err(format!(
            "q.matmul needs [M, K] and [K, N], found {lhs} and {rhs}"
        ));
    }
    let n = rhs.shape[1];
    if let Some(b) = x.get(2)
        && (!matches!(b.elem, ElemType::Int(_)) || b.shape != [n])
    {
        return Err(format!("the bias must be a plain integer [{n}], found {b}"));
    }
    if !a.acc.is_valid() {
        return Err(format!(
            "accumulator width {} is outside 1..=32",
            a.acc.bits
        ));
    }
    Ok(TensorType::new(vec![lhs.shape[0], n], ElemType::Int(a.acc)))
}

/// `q.requantize`.
pub fn requantize(x: &TensorType, a: &RequantizeAttrs) -> Result<TensorType, String> {
    integer(x, "x")?;
    let out = stored_result(a.out)?;
    let ax = axis(x, a.axis)?;
    let channels = x.shape[ax] as usize;
    for (name, len) in [("multiplier", a.multiplier.len()), ("shift", a.shift.len())] {
        if len != 1 && len != channels {
            return Err(format!(
                "'{name}' needs 1 or {channels} entries (axis {ax} of {x}), found {len}"
            ));
        }
    }
    if let Some(m) = a.multiplier.iter().find(|&&m| i32::try_from(m).is_err()) {
        return Err(format!("multiplier {m} does not fit in i32"));
    }
    if let Some(s) = a.shift.iter().find(|&&s| s > 63) {
        return Err(format!("shift {s} exceeds 63"));
    }
    for (t, what) in [(x.elem, "x"), (out, "the result")] {
        if let Some(qa) = t.quant_axis()
            && qa != ax
        {
            return Err(format!(
                "{what} is quantized along axis {qa}, but requantization runs along {ax}"
            ));
        }
    }
    Ok(x.with_elem(out))
}

/// `q.add` and `q.mul`.
pub fn qadd(lhs: &TensorType, rhs: &TensorType, a: &OutAttrs) -> Result<TensorType, String> {
    per_tensor_integer(lhs, "a")?;
    per_tensor_integer(rhs, "b")?;
    let out = int_result(a.out)?;
    let t = TensorType::new(broadcast(&lhs.shape, &rhs.shape)?, out);
    per_tensor_integer(&t, "the result")?;
    Ok(t)
}

/// `q.clamp`.
pub fn qclamp(x: &TensorType, a: &ClampAttrs) -> Result<TensorType, String> {
    integer(x, "x")?;
    let s = x.elem.storage().expect("integer types have storage");
    if a.min > a.max || !s.contains(a.min) || !s.contains(a.max) {
        return Err(format!(
            "clamp bounds [{}, {}] must be ordered and within {s}",
            a.min, a.max
        ));
    }
    Ok(x.clone())
}

/// `q.lut`.
pub fn qlut(x: &TensorType, table: &TensorType) -> Result<TensorType, String> {
    integer(x, "x")?;
    let s = x.elem.storage().expect("integer types have storage");
    if s.bits() > 16 {
        return Err(format!("q.lut indexes by at most 16-bit values, found {x}"));
    }
    let len = (s.max() - s.min() + 1) as u64;
    if table.shape != [len] || !matches!(table.elem, ElemType::Int(_) | ElemType::Quant(_)) {
        return Err(format!(
            "the table must be a 1-D integer tensor of {len} entries, found {table}"
        ));
    }
    Ok(x.with_elem(table.elem))
}

/// `q.multi_threshold`.
pub fn qmulti_threshold(x: &[&TensorType], a: &QMultiThresholdAttrs) -> Result<TensorType, String> {
    integer(x[0], "x")?;
    if !matches!(x[1].elem, ElemType::Int(_)) {
        return Err(format!("thresholds must be plain integers, found {}", x[1]));
    }
    thresholds(x[0], x[1], a.axis)?;
    let out = stored_result(a.out)?;
    let t = x[0].with_elem(out);
    per_tensor_integer(&t, "the result")?;
    Ok(t)
}
