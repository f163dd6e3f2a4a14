//! Inference for ONNX integer ops (ConvInteger, MatMulInteger, DynamicQuantizeLinear, Cast),
//! onnxruntime's QLinear family and QONNX Trunc.

use super::conv::{conv_shape, pool_like};
use super::elementwise::{broadcast, broadcasts_to, matmul_shape};
use super::shape::concat;
use super::{float, valid_elem};
use crate::ops::{
    AxisAttrs, CastAttrs, ConvAttrs, OutAttrs, QAvgPoolAttrs, QConcatAttrs, QGemmAttrs,
    QLinearConvAttrs,
};
use crate::types::{ElemType, IntType, Storage, TensorType};

const U8: ElemType = ElemType::Int(IntType::unsigned(8));
const I32: ElemType = ElemType::Int(IntType::I32);

/// A plain 8-bit integer operand.
fn int8<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, String> {
    match t.elem {
        ElemType::Int(i) if i.bits == 8 => Ok(t),
        _ => Err(format!(
            "{what} must be a plain 8-bit integer tensor, found {t}"
        )),
    }
}

/// An 8-bit quantized operand, per tensor unless `axis` allows one per-axis dimension.
fn quant8<'a>(
    t: &'a TensorType,
    what: &str,
    axis: Option<usize>,
) -> Result<&'a TensorType, String> {
    let q = t
        .elem
        .quant()
        .ok_or_else(|| format!("{what} must be quantized, found {t}"))?;
    if !matches!(q.storage, Storage::Int(i) if i.bits == 8) {
        return Err(format!("{what} must be stored in 8 bits, found {t}"));
    }
    match (q.axis_len(), axis) {
        (None, _) => Ok(t),
        (Some((a, _)), Some(allowed)) if a == allowed => Ok(t),
        (Some((a, _)), _) => Err(format!("{what} may not be quantized along axis {a}")),
    }
}

/// An 8-bit per-tensor quantized result type.
fn out8(out: ElemType) -> Result<ElemType, String> {
    let e = valid_elem(out)?;
    let ok = e.quant().is_some_and(|q| {
        q.axis_len().is_none() && matches!(q.storage, Storage::Int(i) if i.bits == 8)
    });
    if ok {
        Ok(e)
    } else {
        Err(format!(
            "'out' must be an 8-bit per-tensor quantized type, found {e}"
        ))
    }
}

/// A zero-point operand: the element type of `of`, one element or `per` elements.
fn zero_point(
    zp: &TensorType,
    of: &TensorType,
    per: Option<u64>,
    what: &str,
) -> Result<(), String> {
    let count_ok = zp.numel() == 1 || per.is_some_and(|n| zp.numel() as u64 == n && zp.rank() <= 2);
    if zp.elem != of.elem || !count_ok {
        return Err(format!(
            "{what} must be {} with one element{}, found {zp}",
            of.elem,
            per.map_or(String::new(), |n| format!(" or {n}"))
        ));
    }
    Ok(())
}

/// `onnx.cast`.
pub fn cast(x: &TensorType, a: &CastAttrs) -> Result<TensorType, String> {
    let ok = |e: ElemType| matches!(e, ElemType::F32 | ElemType::Int(_));
    if !ok(x.elem) {
        return Err(format!("x must be f32 or a plain integer, found {x}"));
    }
    if !ok(valid_elem(a.to)?) {
        return Err(format!(
            "'to' must be f32 or a plain integer type, found {}",
            a.to
        ));
    }
    Ok(x.with_elem(a.to))
}

/// `retype`: integer-valued to integer-valued with the same storage.
pub fn retype(x: &TensorType, a: &CastAttrs) -> Result<TensorType, String> {
    let to = valid_elem(a.to)?;
    match (x.elem.storage(), to.storage()) {
        (Some(from), Some(into)) if from == into => {
            let t = x.with_elem(to);
            t.check()?;
            Ok(t)
        }
        _ => Err(format!("retype keeps the storage: cannot view {x} as {to}")),
    }
}

/// `onnx.conv_integer`.
pub fn conv_integer(x: &[&TensorType], a: &ConvAttrs) -> Result<TensorType, String> {
    int8(x[0], "x")?;
    int8(x[1], "w")?;
    let shape = conv_shape(x[0], x[1], None, a)?;
    zero_point(x[2], x[0], None, "the x zero point")?;
    zero_point(x[3], x[1], Some(x[1].shape[0]), "the w zero point")?;
    Ok(TensorType::new(shape, I32))
}

/// `onnx.matmul_integer`.
pub fn matmul_integer(x: &[&TensorType]) -> Result<TensorType, String> {
    int8(x[0], "a")?;
    int8(x[1], "b")?;
    let shape = matmul_shape(&x[0].shape, &x[1].shape)?;
    zero_point(x[2], x[0], None, "the a zero point")?;
    zero_point(x[3], x[1], x[1].shape.last().copied(), "the b zero point")?;
    Ok(TensorType::new(shape, I32))
}

/// `onnx.dynamic_quantize_linear`.
pub fn dynamic_quantize_linear(x: &TensorType) -> Result<Vec<TensorType>, String> {
    float(x, "x")?;
    Ok(vec![
        x.with_elem(U8),
        TensorType::new(vec![], ElemType::F32),
        TensorType::new(vec![], U8),
    ])
}

/// `onnx.qlinear_conv`.
pub fn qlinear_conv(x: &[&TensorType], a: &QLinearConvAttrs) -> Result<TensorType, String> {
    quant8(x[0], "x", None)?;
    quant8(x[1], "w", Some(0))?;
    if let Some(b) = x.get(2)
        && b.elem != I32
    {
        return Err(format!("the bias must be i32, found {b}"));
    }
    let geometry = ConvAttrs {
        strides: a.strides.clone(),
        pads: a.pads.clone(),
        dilations: a.dilations.clone(),
        group: a.group,
    };
    Ok(TensorType::new(
        conv_shape(x[0], x[1], x.get(2).copied(), &geometry)?,
        out8(a.out)?,
    ))
}

/// `onnx.qlinear_matmul`.
pub fn qlinear_matmul(x: &[&TensorType], a: &OutAttrs) -> Result<TensorType, String> {
    quant8(x[0], "a", None)?;
    quant8(x[1], "b", Some(x[1].rank().saturating_sub(1)))?;
    Ok(TensorType::new(
        matmul_shape(&x[0].shape, &x[1].shape)?,
        out8(a.out)?,
    ))
}

/// `onnx.qgemm`.
pub fn qgemm(x: &[&TensorType], a: &QGemmAttrs) -> Result<TensorType, String> {
    quant8(x[0], "a", None)?;
    quant8(x[1], "b", Some(if a.trans_b { 0 } else { 1 }))?;
    let (lhs, rhs) = (x[0], x[1]);
    if lhs.rank() != 2 || rhs.rank() != 2 {
        return Err(format!("qgemm needs 2-D operands, found {lhs} and {rhs}"));
    }
    let (m, k) = if a.trans_a {
        (lhs.shape[1], lhs.shape[0])
    } else {
        (lhs.shape[0], lhs.shape[1])
    };
    let (k2, n) = if a.trans_b {
        (rhs.shape[1], rhs.shape[0])
    } else {
        (rhs.shape[0], rhs.shape[1])
    };
    if k != k2 {
        return Err(format!("inner dimensions differ: {k} against {k2}"));
    }
    if let Some(c) = x.get(2)
        && (c.elem != I32 || !broadcasts_to(&c.shape, &[m, n]))
    {
        return Err(format!(
            "c must be i32 broadcastable to [{m}, {n}], found {c}"
        ));
    }
    let out = if a.out == ElemType::F32 {
        a.out
    } else {
        out8(a.out)?
    };
    Ok(TensorType::new(vec![m, n], out))
}

/// `onnx.qlinear_add` and `onnx.qlinear_mul`.
pub fn qlinear_binary(
    a: &TensorType,
    b: &TensorType,
    attrs: &OutAttrs,
) -> Result<TensorType, String> {
    quant8(a, "a", None)?;
    quant8(b, "b", None)?;
    Ok(TensorType::new(
        broadcast(&a.shape, &b.shape)?,
        out8(attrs.out)?,
    ))
}

/// `onnx.qlinear_global_average_pool`.
pub fn qlinear_global_pool(x: &TensorType, a: &OutAttrs) -> Result<TensorType, String> {
    quant8(x, "x", None)?;
    let t = super::conv::global_pool(x)?;
    Ok(t.with_elem(out8(a.out)?))
}

/// `onnx.qlinear_average_pool`.
pub fn qlinear_average_pool(x: &TensorType, a: &QAvgPoolAttrs) -> Result<TensorType, String> {
    quant8(x, "x", None)?;
    let t = pool_like(x, &a.kernel, &a.strides, &a.pads, None, a.ceil_mode)?;
    Ok(t.with_elem(out8(a.out)?))
}

/// `onnx.qlinear_concat`: operands may differ in quantization, not in storage.
pub fn qlinear_concat(x: &[&TensorType], a: &QConcatAttrs) -> Result<TensorType, String> {
    let out = out8(a.out)?;
    let retyped: Vec<TensorType> = x
        .iter()
        .enumerate()
        .map(|(i, t)| quant8(t, &format!("operand {i}"), None).map(|t| t.with_elem(out)))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&TensorType> = retyped.iter().collect();
    concat(&refs, &AxisAttrs { axis: a.axis })
}

/// `onnx.qlinear_leaky_relu` and `onnx.qlinear_sigmoid`.
pub fn qlinear_unary(x: &TensorType, out: ElemType) -> Result<TensorType, String> {
    quant8(x, "x", None)?;
    Ok(x.with_elem(out8(out)?))
}

/// `onnx.trunc` and `onnx.trunc_v1`: float operands; every parameter broadcasts to `x`, bit
/// widths have one element.
pub fn trunc(x: &[&TensorType], bits: &[usize]) -> Result<TensorType, String> {
    let input = float(x[0], "x")?;
    for (i, t) in x.iter().enumerate().skip(1) {
        float(t, &format!("operand {i}"))?;
        let ok = if bits.contains(&i) {
            t.numel() == 1
        } else {
            broadcasts_to(&t.shape, &input.shape)
        };
        if !ok {
            return Err(format!("operand {i} ({t}) does not fit {input}"));
        }
    }
    Ok(input.clone())
}
