//! Shape and type inference: the result types every op has on given operand types.
//!
//! Inference is a pure function of the op (with its attributes) and the operand types. It
//! also validates attributes against the operands (a stride of 0, a permutation that is not
//! one, a group that does not divide the channels), so the verifier's type check is also
//! its attribute check. Errors are plain sentences; the caller adds where they happened.

mod conv;
mod elementwise;
mod qlinear;
mod quant;
mod shape;

pub use conv::window_out;
pub use elementwise::{broadcast as broadcast_shapes, broadcasts_to};

use crate::ops::OpKind;
use crate::types::{ElemType, TensorType};

/// Result types of `kind` applied to operands of types `operands`.
pub fn infer(kind: &OpKind, operands: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    let (min, max) = kind.arity();
    if operands.len() < min || operands.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else if max == crate::ops::VARIADIC {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "{} takes {expected} operands, got {}",
            kind.name(),
            operands.len()
        ));
    }
    let types = infer_checked_arity(kind, operands)?;
    for t in &types {
        t.check()
            .map_err(|e| format!("the result type is invalid: {e}"))?;
    }
    Ok(types)
}

fn infer_checked_arity(kind: &OpKind, x: &[&TensorType]) -> Result<Vec<TensorType>, String> {
    use OpKind::*;
    let t = match kind {
        Const(_) => return Err("the type of a constant is declared, not inferred".into()),
        Reshape(a) => shape::reshape(x[0], a)?,
        Transpose(a) => shape::transpose(x[0], a)?,
        Concat(a) => shape::concat(x, a)?,
        Pad(a) => shape::pad(x[0], a)?,
        ResizeNearest(a) => shape::resize(x[0], a)?,
        Conv(a) => conv::conv(x, a)?,
        MatMul => elementwise::matmul(x[0], x[1])?,
        Gemm(a) => elementwise::gemm(x, a)?,
        Relu | Sigmoid | HardSwish | Clip(_) | LeakyRelu(_) | HardSigmoid(_) => {
            float(x[0], "x")?.clone()
        }
        Add | Sub | Mul | Div | Max | Min => elementwise::binary_float(x[0], x[1])?,
        PRelu => elementwise::prelu(x[0], x[1])?,
        MaxPool(a) => conv::max_pool(x[0], a)?,
        AveragePool(a) => {
            float(x[0], "x")?;
            conv::pool_like(
                x[0],
                &a.kernel,
                &a.strides,
                &a.pads,
                Some(&a.dilations),
                a.ceil_mode,
            )?
        }
        GlobalAveragePool | GlobalMaxPool => conv::global_pool(float(x[0], "x")?)?,
        BatchNorm(_) => elementwise::batch_norm(x)?,
        Lrn(a) => elementwise::lrn(x[0], a)?,
        Softmax(a) => {
            float(x[0], "x")?;
            axis(x[0], a.axis)?;
            x[0].clone()
        }
        QuantizeLinear(a) => quant::quantize_linear(x[0], a)?,
        DequantizeLinear => quant::dequantize_linear(x[0])?,
        Quant(_) => quant::qonnx_quant(x)?,
        BipolarQuant => quant::bipolar_quant(x)?,
        MultiThreshold(a) => quant::multi_threshold(x, a)?,
        Cast(a) => qlinear::cast(x[0], a)?,
        Retype(a) => qlinear::retype(x[0], a)?,
        ConvInteger(a) => qlinear::conv_integer(x, a)?,
        MatMulInteger => qlinear::matmul_integer(x)?,
        DynamicQuantizeLinear => return qlinear::dynamic_quantize_linear(x[0]),
        QLinearConv(a) => qlinear::qlinear_conv(x, a)?,
        QLinearMatMul(a) => qlinear::qlinear_matmul(x, a)?,
        QGemm(a) => qlinear::qgemm(x, a)?,
        QLinearAdd(a) | QLinearMul(a) => qlinear::qlinear_binary(x[0], x[1], a)?,
        QLinearGlobalAveragePool(a) => qlinear::qlinear_global_pool(x[0], a)?,
        QLinearAveragePool(a) => qlinear::qlinear_average_pool(x[0], a)?,
        QLinearConcat(a) => qlinear::qlinear_concat(x, a)?,
        QLinearLeakyRelu(a) => qlinear::qlinear_unary(x[0], a.out)?,
        QLinearSigmoid(a) => qlinear::qlinear_unary(x[0], a.out)?,
        Trunc(_) => qlinear::trunc(x, &[3, 5])?,
        TruncV1(_) => qlinear::trunc(x, &[3, 4])?,
        QConv(a) => conv::qconv(x, a)?,
        QMatMul(a) => quant::qmatmul(x, a)?,
        Requantize(a) => quant::requantize(x[0], a)?,
        QAdd(a) | QMul(a) => quant::qadd(x[0], x[1], a)?,
        QMaxPool(a) => {
            integer(x[0], "x")?;
            conv::max_pool(x[0], a)?
        }
        QSumPool(a) => conv::sum_pool(x[0], a)?,
        QClamp(a) => quant::qclamp(x[0], a)?,
        QLut => quant::qlut(x[0], x[1])?,
        QMultiThreshold(a) => quant::qmulti_threshold(x, a)?,
    };
    Ok(vec![t])
}

/// Requires an `f32` operand.
pub(crate) fn float<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, String> {
    if t.elem.is_float() {
        Ok(t)
    } else {
        Err(format!("{what} must be f32, found {t}"))
    }
}

/// Requires an integer-valued operand.
pub(crate) fn integer<'a>(t: &'a TensorType, what: &str) -> Result<&'a TensorType, String> {
    if t.elem.is_integer() {
        Ok(t)
    } else {
        Err(format!("{what} must be integer-valued, found {t}"))
    }
}

/// Requires an operand that is integer-valued and not per-axis quantized.
pub(crate) fn per_tensor_integer<'a>(
    t: &'a TensorType,
    what: &str,
) -> Result<&'a TensorType, String> {
    integer(t, what)?;
    match t.elem.quant_axis() {
        Some(_) => Err(format!("{what} must not be per-axis quantized, found {t}")),
        None => Ok(t),
    }
}

/// Requires `axis < rank`, returning it as `usize`.
pub(crate) fn axis(t: &TensorType, axis: u64) -> Result<usize, String> {
    if axis < t.rank() as u64 {
        Ok(axis as usize)
    } else {
        Err(format!("axis {axis} is out of range for {t}"))
    }
}

/// Requires the element type to be usable as a result: valid width; for quantized types,
/// valid parameters.
pub(crate) fn valid_elem(e: ElemType) -> Result<ElemType, String> {
    match e {
        ElemType::Int(t) if !t.is_valid() => {
            Err(format!("integer width {} is outside 1..=32", t.bits))
        }
        ElemType::Quant(q) => q.get().check().map(|()| e),
        _ => Ok(e),
    }
}
