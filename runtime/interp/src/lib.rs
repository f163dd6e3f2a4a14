//! qweave's reference interpreter: evaluates every op of every IR level on concrete tensors.
//!
//! This is the executable form of the op semantics documented in [`qweave_ir::ops`]. Float
//! (`onnx.`) ops compute in `f32`, as ONNX does; integer (`q.`) ops compute exactly (in `i64`
//! or `i128`, never in floats) and then round, wrap or saturate as stated, counting every
//! accumulator overflow and every saturation so that callers can report them. Structural ops
//! work on any element type. The ops onnxruntime implements with integer arithmetic
//! (`onnx.quantize_linear`, `onnx.cast`, `onnx.conv_integer`, `onnx.matmul_integer`,
//! `onnx.dynamic_quantize_linear` and the `onnx.qlinear_*` family, `onnx.qgemm`) reproduce what
//! onnxruntime computes on x86-64 with AVX2 and FMA bit for bit, including its float
//! requantization steps; `tests/ort_cases.rs` checks them against recorded onnxruntime results.
//!
//! [`eval_op`] evaluates one op (constant folding uses it); [`run()`] evaluates a whole graph,
//! dropping intermediate tensors after their last use.
//!
//! Neither panics on bad input: operands whose data does not match their type, result types
//! that differ from what the op infers, and invalid operand values are reported as
//! [`EvalError`]s (wrapped in a [`RunError`] naming the op by [`run()`]).

mod error;
mod kernels;
mod run;
#[cfg(test)]
mod testutil;

pub use error::{EvalError, RunError};
pub use run::{run, run_observed};

use qweave_ir::{OpKind, Tensor, TensorType};

/// The result of evaluating one op.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The op's results, with exactly the declared result types.
    pub outputs: Vec<Tensor>,
    /// Number of integer sums that did not fit the accumulator type and wrapped around
    /// (`q.conv`, `q.matmul`, `q.sum_pool`, and the `i32` sums of `onnx.conv_integer`,
    /// `onnx.matmul_integer`, `onnx.qlinear_conv`, `onnx.qlinear_matmul`, `onnx.qgemm` and
    /// `onnx.qlinear_global_average_pool`).
    pub overflows: u64,
    /// Number of results clamped into the range of their type (`onnx.quantize_linear`,
    /// `onnx.dynamic_quantize_linear`, the quantized results of the `onnx.qlinear_*` ops and
    /// `onnx.qgemm`, the clamp of `onnx.trunc`, `onnx.quant`, `q.requantize`, `q.add`,
    /// `q.multi_threshold`; NaN quantized to the minimum counts too).
    pub saturations: u64,
}

/// Evaluates one op on concrete operand tensors. `result_types` are the op's declared result
/// types (from the graph); the outputs have exactly those types.
///
/// Every operand's data is checked against its type, and the result types against what
/// [`qweave_ir::infer()`] computes from the operand types (which also validates the
/// attributes), so any inconsistency is an error rather than a panic.
pub fn eval_op(
    kind: &OpKind,
    inputs: &[&Tensor],
    result_types: &[TensorType],
) -> Result<Outcome, EvalError> {
    for (index, t) in inputs.iter().enumerate() {
        let checked = kernels::check_type(&t.ty).and_then(|()| t.data.check(&t.ty));
        checked.map_err(|message| EvalError::Operand { index, message })?;
    }
    kernels::eval(kind, inputs, result_types)
}

/// The integer levels `q` of QONNX `onnx.quant(x, scale, zp, bits)` (see
/// [`qweave_ir::OpKind::Quant`]) before they are scaled back: exactly the integers whose
/// `(q - zp) * scale` the op returns. Operands are checked against their types.
pub fn qonnx_quant_levels(
    inputs: &[&Tensor],
    attrs: &qweave_ir::ops::QonnxQuantAttrs,
) -> Result<Vec<f32>, EvalError> {
    if inputs.len() != 4 {
        return Err(EvalError::Invalid(format!(
            "quant takes 4 operands, found {}",
            inputs.len()
        )));
    }
    for (index, t) in inputs.iter().enumerate() {
        let checked = kernels::check_type(&t.ty).and_then(|()| t.data.check(&t.ty));
        checked.map_err(|message| EvalError::Operand { index, message })?;
    }
    kernels::quant::qonnx_levels(inputs, attrs).map(|(q, _)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{f, i, infer, int, u};
    use qweave_ir::ops::{ConvAttrs, ReshapeAttrs};
    use qweave_ir::{Data, ElemType};

    #[test]
    fn operands_must_match_their_types() {
        let ty = TensorType::new(vec![3], ElemType::F32);
        let short = Tensor {
            ty: ty.clone(),
            data: Data::F32(vec![1.0].into()),
        };
        let e = eval_op(&OpKind::Relu, &[&short], &[ty]).unwrap_err();
        assert!(matches!(e, EvalError::Operand { index: 0, .. }), "{e}");
        let ty = TensorType::new(vec![1], u(4));
        let wide = Tensor {
            ty: ty.clone(),
            data: Data::Int(vec![16].into()),
        };
        let e = eval_op(
            &OpKind::QClamp(qweave_ir::ops::ClampAttrs { min: 0, max: 3 }),
            &[&wide],
            &[ty],
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside the range of u4"), "{e}");
    }

    #[test]
    fn attributes_and_result_types_are_checked() {
        let x = f(&[1, 1, 3, 3], &[0.0; 9]);
        let w = f(&[1, 1, 2, 2], &[0.0; 4]);
        let bad = ConvAttrs {
            strides: vec![0, 1],
            pads: vec![0; 4],
            dilations: vec![1, 1],
            group: 1,
        };
        let e = eval_op(
            &OpKind::Conv(bad),
            &[&x, &w],
            &[TensorType::new(vec![1, 1, 2, 2], ElemType::F32)],
        )
        .unwrap_err();
        assert!(matches!(e, EvalError::Invalid(_)), "{e}");
        let reshape = OpKind::Reshape(ReshapeAttrs { shape: vec![9] });
        let e = eval_op(&reshape, &[&x], &[TensorType::new(vec![9], i(8))]).unwrap_err();
        assert!(matches!(e, EvalError::ResultTypes { .. }), "{e}");
        let e = eval_op(&reshape, &[&x], &[]).unwrap_err();
        assert!(matches!(e, EvalError::ResultTypes { .. }), "{e}");
        assert_eq!(
            eval_op(&reshape, &[&x], &infer(&reshape, &[&x]))
                .unwrap()
                .outputs[0]
                .ty
                .shape,
            [9]
        );
    }

    #[test]
    fn constants_check_their_data() {
        let ty = TensorType::new(vec![2], i(8));
        let ok = eval_op(
            &OpKind::Const(Data::Int(vec![1, -1].into())),
            &[],
            std::slice::from_ref(&ty),
        )
        .unwrap();
        assert_eq!(ok.outputs, [int(&[2], i(8), &[1, -1])]);
        let e = eval_op(
            &OpKind::Const(Data::Int(vec![1, 300].into())),
            &[],
            std::slice::from_ref(&ty),
        )
        .unwrap_err();
        assert!(matches!(e, EvalError::Invalid(_)), "{e}");
        let e = eval_op(
            &OpKind::Const(Data::F32(vec![1.0].into())),
            &[],
            &[ty.clone(), ty],
        )
        .unwrap_err();
        assert!(matches!(e, EvalError::Invalid(_)), "{e}");
    }
}
