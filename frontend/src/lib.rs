//! qweave's ONNX importer: reads float, QDQ, QOperator and QONNX models into the IR's onnx level.
//!
//! Import runs in two phases. First every node is checked against the importers' table and
//! their attribute checks, so that a model with unsupported parts gets one report listing
//! every such node, in milliseconds, before any work. Then nodes are imported in order; an
//! importer reads its operands as IR values or as import-time constants (initializers,
//! `Constant` nodes and folded shape computations) and builds IR ops whose types the IR
//! infers. Errors name the node, its op type, domain and opset. Nothing here panics on a
//! malformed model.

mod context;
pub mod files;
pub mod host;
mod host_ops;
mod node;
mod ops;
pub mod proto;
pub mod registry;

use context::{Ctx, Val};
use host::{DType, HostTensor, from_proto};
use node::Node;
use prost::Message;
use qweave_ir::{ElemType, Graph, TensorType};
use registry::Domain;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::rc::Rc;

/// The ONNX IR versions qweave reads.
pub const IR_VERSIONS: std::ops::RangeInclusive<i64> = 3..=13;
/// The standard operator set versions qweave reads (opset 6's legacy broadcasting included).
pub const OPSETS: std::ops::RangeInclusive<i64> = 6..=27;

/// How to specialize a model while importing it.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Graph inputs to treat as constants with these values (compile-time parameters such as
    /// shapes, scales or zero points that a model takes as inputs).
    pub constants: std::collections::HashMap<String, HostTensor>,
    /// Shapes for graph inputs, replacing symbolic dimensions (the batch dimension, otherwise
    /// taken as 1).
    pub shapes: std::collections::HashMap<String, Vec<u64>>,
}

/// A node that cannot be imported, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeProblem {
    /// The node's name (or `OpType_index`).
    pub node: String,
    /// Its op type.
    pub op_type: String,
    /// Its domain as written (`ai.onnx` for the empty default).
    pub domain: String,
    /// The opset version of its domain.
    pub opset: i64,
    /// Why.
    pub reason: String,
}

impl fmt::Display for NodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node '{}' ({}, {} opset {}): {}",
            self.node, self.op_type, self.domain, self.opset, self.reason
        )
    }
}

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The bytes are not an ONNX model.
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    /// The model as a whole is outside what qweave reads.
    #[error("{0}")]
    Model(String),
    /// Some nodes are not supported (every one is listed).
    #[error("{} unsupported node{}:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Unsupported(Vec<NodeProblem>),
    /// Some nodes failed to import (every root cause is listed).
    #[error("{} node{} could not be imported:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Nodes(Vec<NodeProblem>),
    /// Some graph inputs must be constants for the model to compile.
    #[error("the model must be specialized: graph input{} {} must be bound to constant{}:\n{}",
        if .inputs.len() == 1 { "" } else { "s" },
        .inputs.join(", "),
        if .inputs.len() == 1 { "" } else { "s" },
        list(.problems))]
    NeedsConstants {
        /// The inputs to bind.
        inputs: Vec<String>,
        /// The failures they caused (and any other).
        problems: Vec<NodeProblem>,
    },
}

fn list(problems: &[NodeProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Imports the model at `path` (external data is read relative to its folder).
pub fn import_file(path: &Path) -> Result<Graph, ImportError> {
    import_file_with(path, &ImportOptions::default())
}

/// Imports the model at `path`, specialized by `options`.
pub fn import_file_with(path: &Path, options: &ImportOptions) -> Result<Graph, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    import_bytes(&bytes, path.parent(), stem, options)
}

/// Imports a model from its bytes; `base_dir` is where external data lives.
pub fn import_bytes(
    bytes: &[u8],
    base_dir: Option<&Path>,
    fallback_name: &str,
    options: &ImportOptions,
) -> Result<Graph, ImportError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    let ir_version = model.ir_version();
    if !IR_VERSIONS.contains(&ir_version) {
        return Err(ImportError::Model(format!(
            "ONNX IR version {ir_version} is outside the versions qweave reads ({}..={})",
            IR_VERSIONS.start(),
            IR_VERSIONS.end()
        )));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let opset_of = |domain: &str| {
        let wanted = Domain::parse(domain);
        model
            .opset_import
            .iter()
            .find(|o| Domain::parse(o.domain()) == wanted && o.domain() == domain)
            .or_else(|| {
                model
                    .opset_import
                    .iter()
                    .find(|o| Domain::parse(o.domain()) == wanted)
            })
    };
    let onnx_opset = match opset_of("") {
        Some(o) => o.version(),
        // IR version 3 models may omit the default domain's opset; treat as the oldest read.
        None => *OPSETS.start(),
    };
    if !OPSETS.contains(&onnx_opset) {
        return Err(ImportError::Model(format!(
            "ONNX opset {onnx_opset} is outside the opsets qweave reads ({}..={}); convert the model \
             with onnx.version_converter",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(ImportError::Model(
            "sparse initializers are not supported".into(),
        ));
    }

    // Phase 1: every node against the table, before any work.
    let nodes: Vec<Node<'_>> = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| Node {
            proto: n,
            name: n
                .name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("{}_{i}", n.op_type())),
            opset: opset_of(n.domain()).map_or(onnx_opset, proto::OperatorSetIdProto::version),
        })
        .collect();
    let problem = |n: &Node<'_>, reason: String| NodeProblem {
        node: n.name.clone(),
        op_type: n.op_type().to_string(),
        domain: if n.proto.domain().is_empty() {
            "ai.onnx".into()
        } else {
            n.proto.domain().to_string()
        },
        opset: n.opset,
        reason,
    };
    let mut unsupported = Vec::new();
    for n in &nodes {
        let reason = match Domain::parse(n.proto.domain()) {
            None => Some(format!(
                "the domain '{}' is not one qweave reads",
                n.proto.domain()
            )),
            Some(d) => match registry::find(d, n.op_type()) {
                None => Some("qweave has no importer for this op".to_string()),
                Some(def) => (def.check)(n).err(),
            },
        };
        if let Some(reason) = reason {
            unsupported.push(problem(n, reason));
        }
    }
    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported(unsupported));
    }

    // Phase 2: inputs, initializers, then nodes in order.
    let name = graph
        .name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback_name.to_string());
    let mut ctx = Ctx::new(&name);
    let mut initializers = HashSet::new();
    for init in &graph.initializer {
        let tname = init.name().to_string();
        let t = from_proto(init, base_dir)
            .map_err(|e| ImportError::Model(format!("initializer '{tname}': {e}")))?;
        ctx.bind(&tname, Val::Host(Rc::new(t)));
        initializers.insert(tname);
    }
    for input in &graph.input {
        if let Some(t) = options.constants.get(input.name()) {
            ctx.bind(input.name(), Val::Host(Rc::new(t.clone())));
            continue;
        }
        if initializers.contains(input.name()) {
            continue; // an input with an initializer default is that constant
        }
        let shape = options.shapes.get(input.name()).map(Vec::as_slice);
        let ty = input_type(input, shape)
            .map_err(|e| ImportError::Model(format!("graph input '{}': {e}", input.name())))?;
        ctx.add_input(input.name(), ty);
    }
    let mut failed = Vec::new();
    let mut poisoned: HashSet<&str> = HashSet::new();
    for n in &nodes {
        if n.proto.input.iter().any(|i| poisoned.contains(i.as_str())) {
            poisoned.extend(n.proto.output.iter().map(String::as_str));
            continue;
        }
        let def = registry::find(
            Domain::parse(n.proto.domain()).expect("checked"),
            n.op_type(),
        )
        .expect("checked");
        match (def.import)(&mut ctx, n) {
            Ok(outs) => {
                for (i, out) in n.proto.output.iter().enumerate() {
                    match outs.get(i) {
                        _ if out.is_empty() => {}
                        Some(v) => ctx.bind(out, v.clone()),
                        None => ctx.mark_unavailable(
                            out,
                            &format!("{} does not compute output {i} in inference", n.op_type()),
                        ),
                    }
                }
            }
            Err(reason) => {
                failed.push(problem(n, reason));
                poisoned.extend(n.proto.output.iter().map(String::as_str));
            }
        }
    }
    if !failed.is_empty() {
        let mut inputs = ctx.needed_constants.take();
        inputs.dedup();
        return Err(if inputs.is_empty() {
            ImportError::Nodes(failed)
        } else {
            ImportError::NeedsConstants {
                inputs,
                problems: failed,
            }
        });
    }
    for out in &graph.output {
        let v = ctx.output(out.name()).map_err(ImportError::Model)?;
        ctx.graph.outputs.push(v);
    }
    let graph = ctx.graph;
    if let Err(errors) = qweave_ir::verify(&graph) {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(ImportError::Model(format!(
            "internal error: the imported IR is invalid:\n{}",
            text.join("\n")
        )));
    }
    Ok(graph)
}

fn input_type(input: &proto::ValueInfoProto, given: Option<&[u64]>) -> Result<TensorType, String> {
    use proto::tensor_shape_proto::dimension::Value as Dim;
    use proto::type_proto::Value as Ty;
    let Some(Ty::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err("only tensor inputs are supported".into());
    };
    let dtype = DType::from_onnx(t.elem_type()).map_err(|e| format!("unsupported {e}"))?;
    let elem: ElemType = dtype.ir_elem().ok_or_else(|| {
        let host = HostTensor {
            dtype,
            dims: vec![],
            data: host::HostData::Int(vec![]),
        };
        format!("{} inputs are not supported", host.dtype_name())
    })?;
    let shape = t
        .shape
        .as_ref()
        .ok_or("the input has no shape; qweave needs static shapes")?;
    if let Some(given) = given {
        let fits = given.len() == shape.dim.len()
            && shape
                .dim
                .iter()
                .zip(given)
                .all(|(d, &g)| !matches!(d.value, Some(Dim::DimValue(v)) if v as u64 != g));
        if !fits {
            return Err(format!(
                "the given shape {given:?} does not fit the model's"
            ));
        }
        let ty = TensorType::new(given.to_vec(), elem);
        ty.check()?;
        return Ok(ty);
    }
    let mut dims = Vec::with_capacity(shape.dim.len());
    for (axis, d) in shape.dim.iter().enumerate() {
        match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => dims.push(*v as u64),
            // A symbolic leading dimension is the batch: qweave compiles for batch 1 and runs
            // larger inputs item by item.
            _ if axis == 0 => dims.push(1),
            Some(Dim::DimValue(v)) => {
                return Err(format!(
                    "dimension {axis} is {v}; qweave needs positive static sizes"
                ));
            }
            Some(Dim::DimParam(p)) => {
                return Err(format!(
                    "dimension {axis} is the symbol '{p}'; qweave needs static shapes except the batch"
                ));
            }
            None => {
                return Err(format!(
                    "dimension {axis} is unknown; qweave needs static shapes except the batch"
                ));
            }
        }
    }
    let ty = TensorType::new(dims, elem);
    ty.check()?;
    Ok(ty)
}
