//! Which ONNX ops the importer handles: one table per op family (in `ops/`), looked up by
//! domain and op type.

use crate::context::{Ctx, Outputs};
use crate::node::Node;

/// Imports one node, returning its outputs.
pub type ImportFn = fn(&mut Ctx, &Node<'_>) -> Result<Outputs, String>;
/// Checks a node before import using only its attributes: `Err` says why it is unsupported.
pub type CheckFn = fn(&Node<'_>) -> Result<(), String>;

/// The operator domains qweave reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// The standard ONNX domain (`""` or `ai.onnx`).
    Onnx,
    /// onnxruntime's contrib ops (`com.microsoft`).
    Microsoft,
    /// QONNX and FINN custom ops (`qonnx.custom_op.general`, `finn.custom_op.general`, `finn`,
    /// and Brevitas' `onnx.brevitas`).
    Qonnx,
}

impl Domain {
    /// The domain a node's domain string names.
    pub fn parse(domain: &str) -> Option<Domain> {
        match domain {
            "" | "ai.onnx" => Some(Domain::Onnx),
            "com.microsoft" => Some(Domain::Microsoft),
            "qonnx.custom_op.general" | "finn.custom_op.general" | "finn" | "onnx.brevitas" => {
                Some(Domain::Qonnx)
            }
            _ => None,
        }
    }
}

/// One importable op.
pub struct OpDef {
    /// Its domain.
    pub domain: Domain,
    /// Its op type.
    pub name: &'static str,
    /// The importer.
    pub import: ImportFn,
    /// The pre-import check.
    pub check: CheckFn,
}

/// A check that accepts every node.
pub fn any(_: &Node<'_>) -> Result<(), String> {
    Ok(())
}

/// Every importable op.
pub fn all() -> impl Iterator<Item = &'static OpDef> {
    use crate::ops::*;
    [
        activation::OPS,
        arithmetic::OPS,
        conv::OPS,
        matmul::OPS,
        norm::OPS,
        pool::OPS,
        quant::OPS,
        qlinear::OPS,
        qonnx::OPS,
        shape::OPS,
        constant::OPS,
    ]
    .into_iter()
    .flatten()
}

/// The op `name` of `domain`.
pub fn find(domain: Domain, name: &str) -> Option<&'static OpDef> {
    all().find(|d| d.domain == domain && d.name == name)
}
