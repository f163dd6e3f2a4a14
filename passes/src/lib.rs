//! qweave's passes and the pass manager that runs them as named pipelines.
//!
//! A pass transforms a [`Graph`] in place and says whether it changed anything. Every pass
//! is registered once, with its name and a one-line description, in [`registry`]; a
//! pipeline is a comma-separated list of pass names and aliases (`dce,fold-constants`,
//! `default`). The manager can verify the IR after each pass, hand the IR to an observer
//! after each pass, and time each pass.

mod biased_sums;
pub mod dce;
pub mod fixed_point;
pub mod fold_bn;
pub mod fold_constants;
pub mod fold_weight_quant;
pub mod fuse_bias;
pub mod lower_qdq;
pub mod lower_qop;
pub mod lower_quant;
mod lowering;
pub mod manager;
pub mod multiplier;
pub mod narrow_accumulators;
pub mod ptq;
pub mod registry;

pub use manager::{PassTiming, Pipeline, PipelineOptions};
use qweave_ir::Graph;
pub use registry::{ALIASES, PASSES, PassInfo};

/// A transformation of the IR.
pub trait Pass {
    /// Runs the pass; `Ok(true)` when the graph changed.
    fn run(&self, graph: &mut Graph) -> Result<bool, PassError>;
}

/// A pass or pipeline failure.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The pipeline names something that is neither a pass nor an alias.
    #[error("unknown pass '{name}' (passes: {known}; aliases: {aliases})")]
    UnknownPass {
        /// The unknown name.
        name: String,
        /// Every pass name.
        known: String,
        /// Every alias.
        aliases: String,
    },
    /// A pass could not do its work on some op.
    #[error("pass {pass}: {message}")]
    Failed {
        /// The pass.
        pass: &'static str,
        /// What went wrong, naming the op and its source node.
        message: String,
    },
    /// The IR no longer verifies after a pass (`--verify-each`).
    #[error("the IR is invalid after pass {pass}:\n{}", errors.join("\n"))]
    Invalid {
        /// The pass after which verification failed.
        pass: &'static str,
        /// Every verifier message.
        errors: Vec<String>,
    },
}

/// The ops a lowering left at the onnx level: every `onnx.*` op except the boundary ones that
/// stay by design (a `quantize_linear` of a graph input, a `dequantize_linear` of a constant
/// or of a graph output's integers). Empty when the graph computes in exact integers.
pub fn unlowered_ops(g: &Graph) -> Vec<qweave_ir::Op> {
    use qweave_ir::OpKind;
    g.order
        .iter()
        .copied()
        .filter(|&op| {
            let d = &g.ops[op];
            let boundary = match d.kind {
                OpKind::QuantizeLinear(_) => g.inputs.contains(&d.operands[0]),
                OpKind::DequantizeLinear => {
                    g.const_data(d.operands[0]).is_some() || g.outputs.contains(&d.results[0])
                }
                _ => false,
            };
            d.kind.name().starts_with("onnx.") && !boundary
        })
        .collect()
}

/// `%r = name (node "src")`, how passes name an op in messages.
pub fn describe_op(g: &Graph, names: &qweave_ir::text::Names, op: qweave_ir::Op) -> String {
    let data = &g.ops[op];
    let results: Vec<String> = data.results.iter().map(|&r| names.value(r)).collect();
    let mut s = format!("{} = {}", results.join(", "), data.kind.name());
    if let Some(src) = &data.source {
        s.push_str(&format!(" (node {src:?})"));
    }
    s
}
