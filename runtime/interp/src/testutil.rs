//! Helpers for the unit tests: building tensors and types, evaluating one op with its
//! inferred result types, and reading results back.

use crate::{EvalError, Outcome, eval_op};
use qweave_ir::{ElemType, IntType, OpKind, Quant, QuantType, Storage, Tensor, TensorType};

/// An `f32` tensor.
pub(crate) fn f(shape: &[u64], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).expect("valid float tensor")
}

/// An integer-valued tensor.
pub(crate) fn int(shape: &[u64], elem: ElemType, v: &[i64]) -> Tensor {
    Tensor::from_int(shape.to_vec(), elem, v.to_vec()).expect("valid integer tensor")
}

/// `iN`.
pub(crate) fn i(bits: u8) -> ElemType {
    ElemType::Int(IntType::signed(bits))
}

/// `uN`.
pub(crate) fn u(bits: u8) -> ElemType {
    ElemType::Int(IntType::unsigned(bits))
}

/// A per-tensor quantized type over integer storage `base` (`i(8)`, `u(8)`, ...).
pub(crate) fn qt(base: ElemType, scale: f32, zp: i64) -> ElemType {
    let ElemType::Int(t) = base else {
        panic!("integer storage expected")
    };
    ElemType::Quant(Quant::intern(QuantType::per_tensor(
        Storage::Int(t),
        scale,
        zp,
    )))
}

/// A per-axis quantized type over integer storage `base`.
pub(crate) fn qa(base: ElemType, axis: usize, scales: &[f32], zps: &[i64]) -> ElemType {
    let ElemType::Int(t) = base else {
        panic!("integer storage expected")
    };
    ElemType::Quant(Quant::intern(QuantType::per_axis(
        Storage::Int(t),
        axis,
        scales.to_vec(),
        zps.to_vec(),
    )))
}

/// The result types `kind` infers on `inputs`.
pub(crate) fn infer(kind: &OpKind, inputs: &[&Tensor]) -> Vec<TensorType> {
    let types: Vec<&TensorType> = inputs.iter().map(|t| &t.ty).collect();
    qweave_ir::infer(kind, &types).expect("the test op infers")
}

/// Evaluates `kind` with its inferred result types.
pub(crate) fn eval(kind: &OpKind, inputs: &[&Tensor]) -> Outcome {
    eval_op(kind, inputs, &infer(kind, inputs)).expect("the test op evaluates")
}

/// The error of evaluating `kind` with its inferred result types.
pub(crate) fn eval_err(kind: &OpKind, inputs: &[&Tensor]) -> EvalError {
    eval_op(kind, inputs, &infer(kind, inputs)).expect_err("the test op fails")
}

/// The floats of the one result.
pub(crate) fn floats(o: &Outcome) -> Vec<f32> {
    o.outputs[0].data.as_f32().expect("float result").to_vec()
}

/// The integers of the one result.
pub(crate) fn ints(o: &Outcome) -> Vec<i64> {
    o.outputs[0].data.as_int().expect("integer result").to_vec()
}

/// The shape of the one result.
pub(crate) fn shape(o: &Outcome) -> Vec<u64> {
    o.outputs[0].ty.shape.clone()
}

/// A small deterministic pseudo-random generator (xorshift64) for randomized tests.
pub(crate) struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}
