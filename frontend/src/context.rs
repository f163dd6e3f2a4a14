//! The import context: which IR value or import-time constant each ONNX name stands for, and
//! the helpers importers use to read operands and build ops.

use crate::host::HostTensor;
use crate::node::Node;
use qweave_ir::{Graph, OpKind, TensorType, Value};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// What an ONNX name stands for during import.
#[derive(Clone, Debug)]
pub enum Val {
    /// A value of the IR graph.
    Ir(Value),
    /// A constant known at import time (an initializer, a `Constant`, a folded shape
    /// computation); it becomes an IR `const` only when an op needs it as an operand.
    Host(Rc<HostTensor>),
}

/// The state of one import.
pub struct Ctx {
    /// The graph being built.
    pub graph: Graph,
    vals: HashMap<String, Val>,
    materialized: HashMap<String, Value>,
    names: HashSet<String>,
    unavailable: HashMap<String, String>,
    /// Graph inputs an importer needed as compile-time constants.
    pub needed_constants: std::cell::RefCell<Vec<String>>,
}

/// An importer's result: one entry per node output (fewer when trailing outputs are unused).
pub type Outputs = Vec<Val>;

impl Ctx {
    /// An empty context for a graph called `name`.
    pub fn new(name: &str) -> Self {
        Ctx {
            graph: Graph::new(name),
            vals: HashMap::new(),
            materialized: HashMap::new(),
            names: HashSet::new(),
            unavailable: HashMap::new(),
            needed_constants: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Binds an ONNX name.
    pub fn bind(&mut self, name: &str, val: Val) {
        if let Val::Ir(v) = val
            && self.graph.values[v].name.is_none()
            && self.names.insert(name.to_string())
        {
            self.graph.values[v].name = Some(name.to_string());
        }
        self.vals.insert(name.to_string(), val);
    }

    /// Records that output `name` is declared but not computed, and why; using it is an error
    /// that gives the reason.
    pub fn mark_unavailable(&mut self, name: &str, reason: &str) {
        self.unavailable
            .insert(name.to_string(), reason.to_string());
    }

    /// Why `name` has no value, if it was marked unavailable.
    pub fn unavailable(&self, name: &str) -> Option<&str> {
        self.unavailable.get(name).map(String::as_str)
    }

    /// Adds a graph input called `name`.
    pub fn add_input(&mut self, name: &str, ty: TensorType) {
        let v = self.graph.add_input(None, ty);
        self.bind(name, Val::Ir(v));
    }

    /// What `name` stands for.
    pub fn lookup(&self, name: &str) -> Option<&Val> {
        self.vals.get(name)
    }

    /// Renames the value an ONNX graph output refers to after the output, so results carry
    /// the model's output names; returns the IR value (constants are materialized).
    pub fn output(&mut self, name: &str) -> Result<Value, String> {
        let val = self
            .lookup(name)
            .cloned()
            .ok_or_else(|| match self.unavailable(name) {
                Some(why) => format!("graph output '{name}' is not available: {why}"),
                None => format!("graph output '{name}' is never produced"),
            })?;
        let v = self.materialize(name, &val)?;
        let is_input = self.graph.inputs.contains(&v);
        if !is_input
            && self.graph.values[v].name.as_deref() != Some(name)
            && !self.names.contains(name)
        {
            if let Some(old) = self.graph.values[v].name.take() {
                self.names.remove(&old);
            }
            self.names.insert(name.to_string());
            self.graph.values[v].name = Some(name.to_string());
        }
        Ok(v)
    }

    fn materialize(&mut self, name: &str, val: &Val) -> Result<Value, String> {
        match val {
            Val::Ir(v) => Ok(*v),
            Val::Host(t) => {
                if let Some(&v) = self.materialized.get(name) {
                    return Ok(v);
                }
                let tensor = t.to_ir().map_err(|e| format!("constant '{name}': {e}"))?;
                let v = self.graph.constant(tensor.ty, tensor.data, None);
                if self.names.insert(name.to_string()) {
                    self.graph.values[v].name = Some(name.to_string());
                }
                self.materialized.insert(name.to_string(), v);
                Ok(v)
            }
        }
    }

    fn input_val(&self, node: &Node<'_>, i: usize) -> Result<(String, Val), String> {
        let name = node
            .input_name(i)
            .ok_or_else(|| format!("input {i} is missing"))?;
        let val = self
            .lookup(name)
            .ok_or_else(|| match self.unavailable(name) {
                Some(why) => format!("input {i} ('{name}') is not available: {why}"),
                None => format!("input {i} ('{name}') is not produced by any earlier node"),
            })?;
        Ok((name.to_string(), val.clone()))
    }

    /// True when input `i` is present.
    pub fn has_input(&self, node: &Node<'_>, i: usize) -> bool {
        node.input_name(i).is_some()
    }

    /// Input `i` as an IR value (a constant input becomes a `const` op).
    pub fn ir(&mut self, node: &Node<'_>, i: usize) -> Result<Value, String> {
        let (name, val) = self.input_val(node, i)?;
        self.materialize(&name, &val)
    }

    /// Input `i` as an IR value, if present.
    pub fn opt_ir(&mut self, node: &Node<'_>, i: usize) -> Result<Option<Value>, String> {
        if self.has_input(node, i) {
            self.ir(node, i).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Input `i`, which must be known at import time.
    pub fn host(&self, node: &Node<'_>, i: usize) -> Result<Rc<HostTensor>, String> {
        match self.input_val(node, i)? {
            (_, Val::Host(t)) => Ok(t),
            (name, Val::Ir(v)) => match self.graph.const_data(v) {
                Some(d) => HostTensor::from_ir(&qweave_ir::Tensor {
                    ty: self.graph.ty(v).clone(),
                    data: d.clone(),
                })
                .map(Rc::new),
                None if self.graph.inputs.contains(&v) => {
                    self.needed_constants.borrow_mut().push(name.clone());
                    Err(format!(
                        "input {i} ('{name}') is a graph input, but qweave needs its value at compile time: \
                         bind it to a constant"
                    ))
                }
                None => Err(format!(
                    "input {i} ('{name}') must be a constant (an initializer or Constant node): qweave needs its \
                     value at compile time"
                )),
            },
        }
    }

    /// Input `i` if present, which must then be known at import time.
    pub fn opt_host(&self, node: &Node<'_>, i: usize) -> Result<Option<Rc<HostTensor>>, String> {
        if self.has_input(node, i) {
            self.host(node, i).map(Some)
        } else {
            Ok(None)
        }
    }

    /// True when input `i` is present and known at import time.
    pub fn is_host(&self, node: &Node<'_>, i: usize) -> bool {
        matches!(self.input_val(node, i), Ok((_, Val::Host(_))))
    }

    /// The type of input `i` (for a constant, the type it would have in the IR).
    pub fn input_type(&self, node: &Node<'_>, i: usize) -> Result<TensorType, String> {
        match self.input_val(node, i)? {
            (_, Val::Ir(v)) => Ok(self.graph.ty(v).clone()),
            (name, Val::Host(t)) => {
                let elem = t
                    .dtype
                    .ir_elem()
                    .ok_or_else(|| format!("input {i} ('{name}') is {}", t.dtype_name()))?;
                Ok(TensorType::new(t.dims.clone(), elem))
            }
        }
    }

    /// The shape of input `i`.
    pub fn shape(&self, node: &Node<'_>, i: usize) -> Result<Vec<u64>, String> {
        match self.input_val(node, i)? {
            (_, Val::Ir(v)) => Ok(self.graph.ty(v).shape.clone()),
            (_, Val::Host(t)) => Ok(t.dims.clone()),
        }
    }

    /// Builds a one-result op attributed to `node`, inferring its type.
    pub fn build(
        &mut self,
        node: &Node<'_>,
        kind: OpKind,
        operands: Vec<Value>,
    ) -> Result<Value, String> {
        self.graph.build1(kind, operands, Some(node.name.clone()))
    }

    /// Builds an op with several results attributed to `node`.
    pub fn build_many(
        &mut self,
        node: &Node<'_>,
        kind: OpKind,
        operands: Vec<Value>,
    ) -> Result<Vec<Value>, String> {
        let op = self.graph.build(kind, operands, Some(node.name.clone()))?;
        Ok(self.graph.ops[op].results.clone())
    }

    /// An IR constant holding `t`, attributed to `node`.
    pub fn constant(&mut self, node: &Node<'_>, t: &HostTensor) -> Result<Value, String> {
        let t = t.to_ir()?;
        Ok(self.graph.constant(t.ty, t.data, Some(node.name.clone())))
    }
}
