//! The verifier: checks every invariant of the IR and reports every violation it finds.

use crate::arena::HandleMap;
use crate::graph::{Graph, Op, OpData, Value, ValueData, ValueDef};
use crate::infer::infer;
use crate::text::Names;
use crate::types::TensorType;
use std::collections::HashMap;
use std::fmt;

/// What a verification error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// The graph as a whole.
    Graph,
    /// The `i`-th graph input.
    Input(usize),
    /// The `i`-th graph output.
    Output(usize),
    /// An op.
    Op(Op),
}

/// One violated invariant.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyError {
    /// Where.
    pub location: Location,
    /// What, naming the op (`%3 = onnx.conv`, with its source node) or value involved.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

struct Verifier<'g> {
    g: &'g Graph,
    names: Names,
    errors: Vec<VerifyError>,
    /// Position of each scheduled op in the schedule.
    position: HandleMap<OpData, Option<usize>>,
}

/// Checks the invariants listed in the crate documentation; `Err` holds every violation.
pub fn verify(g: &Graph) -> Result<(), Vec<VerifyError>> {
    let mut v = Verifier {
        g,
        names: Names::new(g),
        errors: Vec::new(),
        position: HandleMap::new(),
    };
    v.run();
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

impl Verifier<'_> {
    fn error(&mut self, location: Location, message: String) {
        self.errors.push(VerifyError { location, message });
    }

    fn describe(&self, op: Op) -> String {
        let data = &self.g.ops[op];
        let results: Vec<String> = data.results.iter().map(|&r| self.names.value(r)).collect();
        let mut s = if results.is_empty() {
            data.kind.name().to_string()
        } else {
            format!("{} = {}", results.join(", "), data.kind.name())
        };
        if let Some(src) = &data.source {
            s.push_str(&format!(" (node {src:?})"));
        }
        s
    }

    fn op_error(&mut self, op: Op, message: impl fmt::Display) {
        let message = format!("{}: {message}", self.describe(op));
        self.error(Location::Op(op), message);
    }

    fn run(&mut self) {
        let g = self.g;
        let mut defined_by: HashMap<Value, String> = HashMap::new();
        let mut names: HashMap<&str, String> = HashMap::new();
        let mut note_name =
            |v: Value, what: String, errors: &mut Vec<(Location, String)>, loc: Location| {
                if let Some(n) = &g.values[v].name
                    && let Some(first) = names.insert(n, what.clone())
                {
                    errors.push((
                        loc,
                        format!("the name {n:?} is used by {first} and by {what}"),
                    ));
                }
            };
        let mut later: Vec<(Location, String)> = Vec::new();

        for (i, &v) in g.inputs.iter().enumerate() {
            if !g.values.contains(v) {
                self.error(
                    Location::Input(i),
                    format!("input {i} is not a value of this graph"),
                );
                continue;
            }
            if g.values[v].def != ValueDef::Input(i) {
                self.error(
                    Location::Input(i),
                    format!(
                        "input {i} ({}) records another definition",
                        self.names.value(v)
                    ),
                );
            }
            if let Err(e) = g.values[v].ty.check() {
                self.error(
                    Location::Input(i),
                    format!(
                        "input {i} ({}) has an invalid type: {e}",
                        self.names.value(v)
                    ),
                );
            }
            defined_by.insert(v, format!("input {i}"));
            note_name(v, format!("input {i}"), &mut later, Location::Input(i));
        }

        for (pos, &op) in g.order.iter().enumerate() {
            if !g.ops.contains(op) {
                self.error(
                    Location::Graph,
                    format!("the schedule names op {op:?}, which does not exist"),
                );
                continue;
            }
            if self.position.get(op).is_some() {
                self.op_error(op, "is scheduled twice");
                continue;
            }
            *self.position.get_mut(op) = Some(pos);
        }

        for &op in &g.order {
            if !g.ops.contains(op) {
                continue;
            }
            let data = &g.ops[op];
            for (j, &r) in data.results.iter().enumerate() {
                if !g.values.contains(r) {
                    self.op_error(op, format!("result {j} is not a value of this graph"));
                    continue;
                }
                if g.values[r].def != ValueDef::Result(op, j) {
                    self.op_error(
                        op,
                        format!(
                            "result {j} ({}) records another definition",
                            self.names.value(r)
                        ),
                    );
                }
                let what = self.describe(op);
                if let Some(first) = defined_by.insert(r, what.clone()) {
                    self.op_error(
                        op,
                        format!(
                            "redefines {}, already defined by {first}",
                            self.names.value(r)
                        ),
                    );
                }
                note_name(r, what, &mut later, Location::Op(op));
            }
            self.check_op(op);
        }

        for (i, &v) in g.outputs.iter().enumerate() {
            if !g.values.contains(v) || !defined_by.contains_key(&v) {
                self.error(
                    Location::Output(i),
                    format!("output {i} ({}) is not defined", self.names.value(v)),
                );
            }
        }
        for (loc, message) in later {
            self.error(loc, message);
        }
    }

    fn check_op(&mut self, op: Op) {
        let g = self.g;
        let data = &g.ops[op];
        let my_pos = self.position.get(op).unwrap_or(0);
        let mut operands_ok = true;
        for (j, &v) in data.operands.iter().enumerate() {
            if !g.values.contains(v) {
                self.op_error(op, format!("operand {j} is not a value of this graph"));
                operands_ok = false;
                continue;
            }
            let name = self.names.value(v);
            match g.values[v].def {
                ValueDef::Input(i) if g.inputs.get(i) == Some(&v) => {}
                ValueDef::Result(def, k)
                    if g.ops.contains(def) && g.ops[def].results.get(k) == Some(&v) =>
                {
                    match *self.position.get(def) {
                        Some(p) if p < my_pos => {}
                        Some(_) => self.op_error(op, format!("uses {name} before its definition")),
                        None => {
                            self.op_error(
                                op,
                                format!("uses {name}, which no scheduled op defines"),
                            );
                        }
                    }
                }
                _ => self.op_error(op, format!("uses {name}, which is not properly defined")),
            }
        }
        let declared: Vec<&TensorType> = data
            .results
            .iter()
            .filter(|&&r| g.values.contains(r))
            .map(|&r| &g.values[r].ty)
            .collect();
        for (j, ty) in declared.iter().enumerate() {
            if let Err(e) = ty.check() {
                self.op_error(op, format!("result {j} has an invalid type: {e}"));
                return;
            }
        }
        if let Some(d) = data.kind.as_const() {
            match declared.as_slice() {
                [ty] => {
                    if let Err(e) = d.check(ty) {
                        self.op_error(op, format!("the constant does not fit its type: {e}"));
                    }
                }
                _ => self.op_error(
                    op,
                    format!("a constant has one result, found {}", declared.len()),
                ),
            }
            return;
        }
        if !operands_ok || declared.len() != data.results.len() {
            return;
        }
        let operand_types: Vec<&ValueData> = data.operands.iter().map(|&v| &g.values[v]).collect();
        let tys: Vec<&TensorType> = operand_types.iter().map(|d| &d.ty).collect();
        match infer(&data.kind, &tys) {
            Err(e) => self.op_error(op, e),
            Ok(inferred) if inferred.len() != declared.len() => {
                self.op_error(
                    op,
                    format!(
                        "has {} results, but {} has {}",
                        declared.len(),
                        data.kind.name(),
                        inferred.len()
                    ),
                );
            }
            Ok(inferred) => {
                for (j, (want, have)) in inferred.iter().zip(&declared).enumerate() {
                    if want != *have {
                        self.op_error(
                            op,
                            format!(
                                "result {j} is declared {have}, but the inferred type is {want}"
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpKind;
    use crate::types::ElemType;

    #[test]
    fn reports_every_error() {
        let mut g = Graph::new("g");
        let x = g.add_input(Some("x".into()), TensorType::new(vec![2], ElemType::F32));
        // A result whose declared type disagrees, an op using a later value, and an
        // undefined output: three errors, all reported.
        let a = g.push_op(
            OpKind::Relu,
            vec![x],
            vec![TensorType::new(vec![3], ElemType::F32)],
            None,
        );
        let b = g.push_op(
            OpKind::Relu,
            vec![x],
            vec![TensorType::new(vec![2], ElemType::F32)],
            None,
        );
        let later = g.ops[b].results[0];
        g.ops[a].operands = vec![later];
        g.outputs = vec![Value::from_index(99)];
        let errors = verify(&g).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("uses %1 before its definition"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("declared tensor<3xf32>, but the inferred type is tensor<2xf32>"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("output 0"), "{}", text[2]);
    }
}
