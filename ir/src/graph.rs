//! The graph: values and ops in arenas, a schedule in dependency order, inputs and outputs.

use crate::arena::{Arena, Handle, HandleMap};
use crate::data::Data;
use crate::infer::infer;
use crate::ops::OpKind;
use crate::types::TensorType;

/// Handle of a value (an SSA tensor).
pub type Value = Handle<ValueData>;
/// Handle of an op.
pub type Op = Handle<OpData>;

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueDef {
    /// The `i`-th graph input.
    Input(usize),
    /// Result number `index` of `op`.
    Result(Op, usize),
}

/// A value: its type, its definition and an optional name.
#[derive(Clone, Debug)]
pub struct ValueData {
    /// The tensor type.
    pub ty: TensorType,
    /// The one place the value is defined.
    pub def: ValueDef,
    /// The source's name for it (an ONNX tensor name), unique in the graph when present.
    pub name: Option<String>,
}

/// An op: what it computes, on which values, producing which values.
#[derive(Clone, Debug)]
pub struct OpData {
    /// The operation and its attributes.
    pub kind: OpKind,
    /// Operand values, in order.
    pub operands: Vec<Value>,
    /// Result values, in order; each is defined by this op alone.
    pub results: Vec<Value>,
    /// The source node this op came from (an ONNX node name), kept through every pass.
    pub source: Option<String>,
}

/// A dataflow graph in single-assignment form.
///
/// `order` is the schedule: every op of the graph appears in it once, after the ops that
/// define its operands. Ops removed from `order` are detached and ignored (and dropped by
/// [`Graph::compact`]); the arenas are append-only.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The graph's name.
    pub name: String,
    /// Every value ever created.
    pub values: Arena<ValueData>,
    /// Every op ever created.
    pub ops: Arena<OpData>,
    /// The schedule.
    pub order: Vec<Op>,
    /// Graph inputs, in order.
    pub inputs: Vec<Value>,
    /// Graph outputs, in order (a value may appear more than once).
    pub outputs: Vec<Value>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Appends a graph input.
    pub fn add_input(&mut self, name: Option<String>, ty: TensorType) -> Value {
        let v = self.values.push(ValueData {
            ty,
            def: ValueDef::Input(self.inputs.len()),
            name,
        });
        self.inputs.push(v);
        v
    }

    /// Creates an op with the given result types and appends it to the schedule. No
    /// inference or checking happens; see [`Graph::build`].
    pub fn push_op(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        result_types: Vec<TensorType>,
        source: Option<String>,
    ) -> Op {
        let op = self.detached_op(kind, operands, result_types, source);
        self.order.push(op);
        op
    }

    /// Creates an op without scheduling it (for [`Graph::insert_before`]).
    pub fn detached_op(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        result_types: Vec<TensorType>,
        source: Option<String>,
    ) -> Op {
        let op = self.ops.push(OpData {
            kind,
            operands,
            results: Vec::new(),
            source,
        });
        let results = result_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| {
                self.values.push(ValueData {
                    ty,
                    def: ValueDef::Result(op, i),
                    name: None,
                })
            })
            .collect();
        self.ops[op].results = results;
        op
    }

    /// Infers the result types of `kind` applied to `operands`, then appends the op.
    pub fn build(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        source: Option<String>,
    ) -> Result<Op, String> {
        let types = self.infer_types(&kind, &operands)?;
        Ok(self.push_op(kind, operands, types, source))
    }

    /// Like [`Graph::build`] for a one-result op, returning the result.
    pub fn build1(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        source: Option<String>,
    ) -> Result<Value, String> {
        let op = self.build(kind, operands, source)?;
        Ok(self.ops[op].results[0])
    }

    /// The result types `kind` would have on `operands`.
    pub fn infer_types(
        &self,
        kind: &OpKind,
        operands: &[Value],
    ) -> Result<Vec<TensorType>, String> {
        let tys: Vec<&TensorType> = operands.iter().map(|&v| &self.values[v].ty).collect();
        infer(kind, &tys)
    }

    /// Appends a `const` op holding `data` of type `ty` and returns its value.
    pub fn constant(&mut self, ty: TensorType, data: Data, source: Option<String>) -> Value {
        let op = self.push_op(OpKind::Const(data), vec![], vec![ty], source);
        self.ops[op].results[0]
    }

    /// Schedules the detached op `new` right before `before`.
    pub fn insert_before(&mut self, before: Op, new: Op) {
        let pos = self
            .order
            .iter()
            .position(|&o| o == before)
            .unwrap_or(self.order.len());
        self.order.insert(pos, new);
    }

    /// The value's type.
    pub fn ty(&self, v: Value) -> &TensorType {
        &self.values[v].ty
    }

    /// The op defining `v`, unless it is a graph input.
    pub fn def_op(&self, v: Value) -> Option<Op> {
        match self.values[v].def {
            ValueDef::Result(op, _) => Some(op),
            ValueDef::Input(_) => None,
        }
    }

    /// The constant data of `v`, if a `const` op defines it.
    pub fn const_data(&self, v: Value) -> Option<&Data> {
        self.def_op(v).and_then(|op| self.ops[op].kind.as_const())
    }

    /// The scheduled ops, in order.
    pub fn scheduled(&self) -> impl Iterator<Item = Op> + '_ {
        self.order.iter().copied()
    }

    /// Number of scheduled ops.
    pub fn num_ops(&self) -> usize {
        self.order.len()
    }

    /// For each value, the scheduled ops using it (one entry per use).
    pub fn uses(&self) -> HandleMap<ValueData, Vec<Op>> {
        let mut uses: HandleMap<ValueData, Vec<Op>> = HandleMap::new();
        for op in self.scheduled() {
            for &v in &self.ops[op].operands {
                uses.get_mut(v).push(op);
            }
        }
        uses
    }

    /// Replaces every use of `from` (operands of scheduled ops and graph outputs) by `to`.
    pub fn replace_uses(&mut self, from: Value, to: Value) {
        for &op in &self.order {
            for operand in &mut self.ops[op].operands {
                if *operand == from {
                    *operand = to;
                }
            }
        }
        for out in &mut self.outputs {
            if *out == from {
                *out = to;
            }
        }
    }

    /// Unschedules every op for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&Graph, Op) -> bool) {
        let order = std::mem::take(&mut self.order);
        let kept = order.into_iter().filter(|&op| keep(self, op)).collect();
        self.order = kept;
    }

    /// Rebuilds the arenas with only the scheduled ops and the values they and the inputs
    /// define, renumbering handles. Names, sources and order are kept.
    pub fn compact(&mut self) {
        let name = std::mem::take(&mut self.name);
        let old = std::mem::replace(self, Graph::new(name));
        let mut map: HandleMap<ValueData, Option<Value>> = HandleMap::new();
        for &v in &old.inputs {
            let data = &old.values[v];
            let nv = self.add_input(data.name.clone(), data.ty.clone());
            map.insert(v, Some(nv));
        }
        let lookup = |map: &HandleMap<ValueData, Option<Value>>, v: Value| -> Value {
            // Operands that were never defined stay dangling; keep a handle past the end so
            // the verifier still reports them.
            map.get(v).unwrap_or(Handle::from_index(u32::MAX as usize))
        };
        for &op in &old.order {
            let data = &old.ops[op];
            let operands = data.operands.iter().map(|&v| lookup(&map, v)).collect();
            let types = data
                .results
                .iter()
                .map(|&r| old.values[r].ty.clone())
                .collect();
            let nop = self.push_op(data.kind.clone(), operands, types, data.source.clone());
            for (&r, &nr) in data.results.iter().zip(&self.ops[nop].results.clone()) {
                self.values[nr].name = old.values[r].name.clone();
                map.insert(r, Some(nr));
            }
        }
        self.outputs = old.outputs.iter().map(|&v| lookup(&map, v)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ElemType;

    fn f32s(shape: &[u64]) -> TensorType {
        TensorType::new(shape.to_vec(), ElemType::F32)
    }

    #[test]
    fn build_infers_and_compact_renumbers() {
        let mut g = Graph::new("g");
        let x = g.add_input(Some("x".into()), f32s(&[1, 4]));
        let dead = g.build1(OpKind::Sigmoid, vec![x], None).unwrap();
        let y = g
            .build1(OpKind::Relu, vec![x], Some("relu1".into()))
            .unwrap();
        g.outputs = vec![y];
        assert_eq!(g.ty(y), &f32s(&[1, 4]));
        let dead_op = g.def_op(dead).unwrap();
        g.retain(|_, op| op != dead_op);
        g.compact();
        assert_eq!(g.ops.len(), 1);
        assert_eq!(g.values.len(), 2);
        let op = g.order[0];
        assert_eq!(g.ops[op].source.as_deref(), Some("relu1"));
        assert_eq!(g.outputs, g.ops[op].results);
    }

    #[test]
    fn replace_uses_rewires_operands_and_outputs() {
        let mut g = Graph::new("g");
        let x = g.add_input(None, f32s(&[2]));
        let a = g.build1(OpKind::Relu, vec![x], None).unwrap();
        let b = g.build1(OpKind::Sigmoid, vec![a], None).unwrap();
        g.outputs = vec![a, b];
        g.replace_uses(a, x);
        assert_eq!(g.outputs[0], x);
        assert_eq!(g.ops[g.def_op(b).unwrap()].operands, vec![x]);
        assert_eq!(g.uses()[x].len(), 2);
    }
}
