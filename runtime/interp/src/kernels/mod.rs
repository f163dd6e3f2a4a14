//! Op dispatch and what the kernels share: validation, result assembly, operand access and
//! quantization parameters.
//!
//! [`eval`] validates the op against its operand types with [`qweave_ir::infer()`] first, so
//! every kernel may rely on consistent shapes, valid attributes and per-axis quantization
//! along the axes the op allows; it must still not trust the data beyond that.

mod checked;
mod conv;
mod elementwise;
mod iconv;
mod igemm;
#[cfg(target_arch = "x86_64")]
mod igemm_avx2;
mod index;
mod integer;
mod integer_onnx;
mod matmul;
mod mlas;
mod norm;
mod pool;
mod prepack;
mod qlinear;
mod qlinear_binary;
mod qlinear_pool;
mod qlinear_table;
mod qonnx_trunc;
pub(crate) mod quant;
mod resize;
mod structural;
mod threshold;
mod window;

use crate::Outcome;
use crate::error::EvalError;
use qweave_ir::{Data, ElemType, IntType, OpKind, Storage, Tensor, TensorType};

/// A single-result kernel's result: the data of the one result plus its event counts.
pub(crate) struct Computed {
    pub data: Data,
    pub overflows: u64,
    pub saturations: u64,
}

impl Computed {
    /// Float results.
    pub fn f32(v: Vec<f32>) -> Self {
        Computed {
            data: Data::F32(v.into()),
            overflows: 0,
            saturations: 0,
        }
    }

    /// Integer results.
    pub fn int(v: Vec<i64>) -> Self {
        Computed {
            data: Data::Int(v.into()),
            overflows: 0,
            saturations: 0,
        }
    }

    /// Integer results with the number of saturations.
    pub fn saturated(v: Vec<i64>, saturations: u64) -> Self {
        Computed {
            saturations,
            ..Computed::int(v)
        }
    }

    /// Integer results with the number of overflows.
    pub fn wrapped(v: Vec<i64>, overflows: u64) -> Self {
        Computed {
            overflows,
            ..Computed::int(v)
        }
    }
}

/// A kernel's results: the data of every result, in order, plus the event counts.
pub(crate) struct Results {
    pub data: Vec<Data>,
    pub overflows: u64,
    pub saturations: u64,
}

impl From<Computed> for Results {
    fn from(c: Computed) -> Self {
        Results {
            data: vec![c.data],
            overflows: c.overflows,
            saturations: c.saturations,
        }
    }
}

/// Checks a type the way the verifier would: shape limits, valid widths, and for quantized
/// types valid parameters (so that per-axis parameter lists match the axis).
pub(crate) fn check_type(ty: &TensorType) -> Result<(), String> {
    ty.check()?;
    match ty.elem.quant() {
        Some(q) => q.check(),
        None => Ok(()),
    }
}

fn list(types: &[TensorType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Evaluates `kind` on operands whose data is known to match their types.
pub(crate) fn eval(
    kind: &OpKind,
    inputs: &[&Tensor],
    result_types: &[TensorType],
) -> Result<Outcome, EvalError> {
    let out: &[TensorType] = match (kind, result_types) {
        (OpKind::Const(data), [ty]) => {
            check_type(ty).map_err(EvalError::Invalid)?;
            if !inputs.is_empty() {
                return Err(EvalError::Invalid(format!(
                    "const takes no operands, got {}",
                    inputs.len()
                )));
            }
            let t = checked::constant(ty, data).map_err(EvalError::Invalid)?;
            return Ok(Outcome {
                outputs: vec![t],
                overflows: 0,
                saturations: 0,
            });
        }
        (OpKind::Const(_), _) => {
            return Err(EvalError::Invalid(format!(
                "const has one result, {} declared",
                result_types.len()
            )));
        }
        _ => {
            let types: Vec<&TensorType> = inputs.iter().map(|t| &t.ty).collect();
            let inferred = qweave_ir::infer(kind, &types).map_err(EvalError::Invalid)?;
            if inferred.is_empty() || result_types != inferred.as_slice() {
                let (declared, inferred) = (list(result_types), list(&inferred));
                return Err(EvalError::ResultTypes { declared, inferred });
            }
            result_types
        }
    };
    let r = dispatch(kind, inputs, out)?;
    if r.data.len() != out.len() {
        return Err(EvalError::Internal(format!(
            "{} results computed for {} declared",
            r.data.len(),
            out.len()
        )));
    }
    let outputs = out
        .iter()
        .zip(r.data)
        .map(|(ty, data)| Tensor::new(ty.clone(), data))
        .collect::<Result<Vec<_>, _>>()
        .map_err(EvalError::Internal)?;
    Ok(Outcome {
        outputs,
        overflows: r.overflows,
        saturations: r.saturations,
    })
}

/// Evaluates a multi-result op, or a single-result op through [`single`].
fn dispatch(kind: &OpKind, x: &[&Tensor], out: &[TensorType]) -> Result<Results, EvalError> {
    match (kind, out) {
        (OpKind::DynamicQuantizeLinear, _) => integer_onnx::dynamic_quantize_linear(x[0]),
        (_, [out]) => single(kind, x, out).map(Results::from),
        _ => Err(EvalError::Internal(format!(
            "{} declares {} results",
            kind.name(),
            out.len()
        ))),
    }
}

fn single(kind: &OpKind, x: &[&Tensor], out: &TensorType) -> Result<Computed, EvalError> {
    use OpKind::*;
    match kind {
        Const(d) => Ok(Computed {
            data: d.clone(),
            overflows: 0,
            saturations: 0,
        }),
        Reshape(_) | Retype(_) => Ok(Computed {
            data: x[0].data.clone(),
            overflows: 0,
            saturations: 0,
        }),
        Transpose(a) => Ok(structural::transpose(x[0], a)),
        Concat(a) => structural::concat(x, a),
        Pad(a) => structural::pad(x[0], a, out),
        ResizeNearest(a) => Ok(resize::resize_nearest(x[0], a, out)),
        Conv(a) => conv::conv(x, a, out),
        QConv(a) => conv::qconv(x, a, out),
        MatMul => matmul::matmul(x[0], x[1], out),
        Gemm(a) => matmul::gemm(x, a, out),
        QMatMul(a) => matmul::qmatmul(x, a),
        Relu | Sigmoid | HardSwish | Clip(_) | LeakyRelu(_) | HardSigmoid(_) => {
            elementwise::unary(kind, x[0])
        }
        Add | Sub | Mul | Div | Max | Min => elementwise::binary(kind, x[0], x[1], out),
        PRelu => elementwise::prelu(x[0], x[1]),
        MaxPool(a) | QMaxPool(a) => pool::max_pool(x[0], a, out),
        AveragePool(a) => pool::average_pool(x[0], a, out),
        GlobalAveragePool | GlobalMaxPool => pool::global_pool(kind, x[0]),
        QSumPool(a) => pool::sum_pool(x[0], a, out),
        BatchNorm(a) => norm::batch_norm(x, a),
        Lrn(a) => norm::lrn(x[0], a),
        Softmax(a) => norm::softmax(x[0], a),
        QuantizeLinear(_) => quant::quantize_linear(x[0], out),
        DequantizeLinear => quant::dequantize_linear(x[0]),
        Quant(a) => quant::qonnx_quant(x, a),
        BipolarQuant => quant::bipolar_quant(x[0], x[1]),
        MultiThreshold(a) => threshold::multi_threshold(x[0], x[1], a),
        QMultiThreshold(a) => threshold::qmulti_threshold(x[0], x[1], a, out),
        Requantize(a) => integer::requantize(x[0], a, out),
        QAdd(_) => integer::qadd(x[0], x[1], out, |a, b| a + b),
        QMul(_) => integer::qadd(x[0], x[1], out, |a, b| a * b),
        QClamp(a) => integer::qclamp(x[0], a),
        QLut => integer::qlut(x[0], x[1]),
        Cast(a) => integer_onnx::cast(x[0], a),
        ConvInteger(a) => integer_onnx::conv_integer(x, a, out),
        MatMulInteger => integer_onnx::matmul_integer(x, out),
        DynamicQuantizeLinear => Err(EvalError::Internal(
            "onnx.dynamic_quantize_linear has three results".into(),
        )),
        QLinearConv(a) => qlinear::qlinear_conv(x, a, out),
        QLinearMatMul(_) => qlinear::qlinear_matmul(x, out),
        QGemm(a) => qlinear::qgemm(x, a, out),
        QLinearAdd(_) => qlinear_binary::qlinear_add(x[0], x[1], out),
        QLinearMul(_) => qlinear_binary::qlinear_mul(x[0], x[1], out),
        QLinearGlobalAveragePool(_) => qlinear_pool::qlinear_global_average_pool(x[0], out),
        QLinearAveragePool(a) => qlinear_pool::qlinear_average_pool(x[0], a, out),
        QLinearConcat(a) => qlinear_table::qlinear_concat(x, a, out),
        QLinearLeakyRelu(a) => qlinear_table::qlinear_leaky_relu(x[0], a.alpha, out),
        QLinearSigmoid(_) => qlinear_table::qlinear_sigmoid(x[0], out),
        Trunc(a) => qonnx_trunc::trunc(x, a),
        TruncV1(a) => qonnx_trunc::trunc_v1(x, a),
    }
}

/// The floats of an `f32` operand.
pub(crate) fn floats(t: &Tensor) -> Result<&[f32], EvalError> {
    t.data
        .as_f32()
        .ok_or_else(|| EvalError::Internal(format!("expected float data for {}", t.ty)))
}

/// The stored integers of an integer-valued operand.
pub(crate) fn ints(t: &Tensor) -> Result<&[i64], EvalError> {
    t.data
        .as_int()
        .ok_or_else(|| EvalError::Internal(format!("expected integer data for {}", t.ty)))
}

/// Scales and zero points of an element type for each of the `len` indices along `axis`:
/// a per-tensor type repeats its one pair, a plain type (integer, bipolar, `f32`) has scale 1
/// and zero point 0. A type quantized along another axis is an error.
pub(crate) fn params_along(
    elem: ElemType,
    axis: usize,
    len: usize,
) -> Result<(Vec<f32>, Vec<i64>), EvalError> {
    let Some(q) = elem.quant() else {
        return Ok((vec![1.0; len], vec![0; len]));
    };
    match q.axis_len() {
        None => Ok((vec![q.scale(0); len], vec![q.zero_point(0); len])),
        Some((a, n)) if a == axis && n == len => Ok((
            (0..len).map(|i| q.scale(i)).collect(),
            (0..len).map(|i| q.zero_point(i)).collect(),
        )),
        Some((a, n)) => Err(EvalError::Internal(format!(
            "parameters along axis {axis} ({len}) requested of a type quantized along axis {a} ({n})"
        ))),
    }
}

/// The zero point of a type that is not per-axis quantized (0 for plain types).
pub(crate) fn tensor_zero_point(elem: ElemType) -> Result<i64, EvalError> {
    params_along(elem, usize::MAX, 1).map(|(_, zps)| zps[0])
}

/// The stored range of an integer-valued result type.
pub(crate) fn storage(ty: &TensorType) -> Result<Storage, EvalError> {
    ty.elem
        .storage()
        .ok_or_else(|| EvalError::Internal(format!("{ty} has no integer storage")))
}

/// `v` clamped into `s`, and whether it had to be (bipolar takes the sign, 0 giving +1, and
/// never counts).
pub(crate) fn saturate(s: Storage, v: i128) -> (i64, bool) {
    match s {
        Storage::Int(t) => {
            let c = v.clamp(t.min() as i128, t.max() as i128);
            (c as i64, c != v)
        }
        // The sign: every value maps to a level, none saturates.
        Storage::Bipolar => (if v < 0 { -1 } else { 1 }, false),
    }
}

/// `v` reduced modulo 2^bits into `t` (two's-complement wrap-around), and whether it had to be.
pub(crate) fn wrap(t: IntType, v: i128) -> (i64, bool) {
    if (t.min() as i128..=t.max() as i128).contains(&v) {
        return (v as i64, false);
    }
    let modulus = 1i128 << t.bits;
    let mut r = v.rem_euclid(modulus);
    if t.signed && r > t.max() as i128 {
        r -= modulus;
    }
    (r as i64, true)
}
