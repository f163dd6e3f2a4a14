//! `fold-constants`: evaluates ops whose operands are all constants and replaces their
//! results by constants.
//!
//! Evaluation uses the reference interpreter, so a folded constant is bit for bit what the
//! interpreter would compute at run time. Each result becomes a `const` op in the folded
//! op's place, keeping the op's source node and the result's name; the folded op is
//! unscheduled (run `dce` to drop constants that are no longer used). One walk over the
//! schedule: later operands are redirected to the new constants as the walk reaches them. To keep models from
//! growing, an op is not folded when its results hold more than [`GROWTH_LIMIT`] elements
//! and more elements than its operands together (a broadcast of a scalar into a large
//! tensor stays an op). Quantizers that make `f32` values of quantized constants
//! (`dequantize_linear`, QONNX `quant` and `bipolar_quant`) are not folded: the integers and
//! scales they keep apart are what the lowering passes turn into integer weights. An op that
//! fails to evaluate is an error: it would fail at run time.

use crate::{Pass, PassError, describe_op};
use qweave_ir::text::Names;
use qweave_ir::{Graph, Op, OpKind, Tensor, TensorType, Value};
use std::collections::HashMap;

/// Results larger than this many elements are folded only if they do not outgrow the operands.
pub const GROWTH_LIMIT: usize = 1 << 16;

/// The constant-folding pass.
pub struct FoldConstants {
    /// Fold quantizers of constants too (their float values), as re-quantizing a model from
    /// its float reference needs; the `fold-constants` pass keeps them.
    pub quantizers: bool,
}

/// Folds every constant, the quantizers of quantized weights and biases included: a
/// quantized model's float reference with plain `f32` weights.
pub fn dequantize_constants(g: &mut Graph) -> Result<bool, PassError> {
    FoldConstants { quantizers: true }.run(g)
}

impl Pass for FoldConstants {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let quantizers = self.quantizers;
        let names = Names::new(g);
        let old_order = std::mem::take(&mut g.order);
        let mut order = Vec::with_capacity(old_order.len());
        let mut subst: HashMap<Value, Value> = HashMap::new();
        for &op in &old_order {
            for operand in &mut g.ops[op].operands {
                if let Some(&new) = subst.get(operand) {
                    *operand = new;
                }
            }
            match fold(g, op, quantizers) {
                Ok(Some(outputs)) => {
                    let data = &g.ops[op];
                    let (source, results) = (data.source.clone(), data.results.clone());
                    for (old, tensor) in results.into_iter().zip(outputs) {
                        let new_op = g.detached_op(
                            OpKind::Const(tensor.data),
                            vec![],
                            vec![tensor.ty],
                            source.clone(),
                        );
                        let new = g.ops[new_op].results[0];
                        g.values[new].name = g.values[old].name.take();
                        subst.insert(old, new);
                        order.push(new_op);
                    }
                }
                Ok(None) => order.push(op),
                Err(e) => {
                    g.order = old_order;
                    return Err(PassError::Failed {
                        pass: "fold-constants",
                        message: format!("{}: {e}", describe_op(g, &names, op)),
                    });
                }
            }
        }
        for out in &mut g.outputs {
            if let Some(&new) = subst.get(out) {
                *out = new;
            }
        }
        g.order = order;
        Ok(!subst.is_empty())
    }
}

/// The results of `op` when it can and should be folded.
fn fold(
    g: &Graph,
    op: Op,
    quantizers: bool,
) -> Result<Option<Vec<Tensor>>, qweave_interp::EvalError> {
    let data = &g.ops[op];
    let quantizer = !quantizers
        && matches!(
            data.kind,
            OpKind::DequantizeLinear | OpKind::Quant(_) | OpKind::BipolarQuant
        );
    if quantizer || matches!(data.kind, OpKind::Const(_)) || data.operands.is_empty() {
        return Ok(None);
    }
    let Some(inputs) = data
        .operands
        .iter()
        .map(|&v| {
            g.const_data(v).map(|d| Tensor {
                ty: g.ty(v).clone(),
                data: d.clone(),
            })
        })
        .collect::<Option<Vec<Tensor>>>()
    else {
        return Ok(None);
    };
    let result_types: Vec<_> = data.results.iter().map(|&r| g.ty(r).clone()).collect();
    let in_elems: usize = inputs.iter().map(|t| t.ty.numel()).sum();
    let out_elems: usize = result_types.iter().map(TensorType::numel).sum();
    if out_elems > GROWTH_LIMIT && out_elems > in_elems {
        return Ok(None);
    }
    let refs: Vec<&Tensor> = inputs.iter().collect();
    Ok(Some(
        qweave_interp::eval_op(&data.kind, &refs, &result_types)?.outputs,
    ))
}
