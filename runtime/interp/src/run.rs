//! Whole-graph evaluation in schedule order, freeing each intermediate tensor after its last use.

use crate::Outcome;
use crate::error::{EvalError, RunError};
use crate::kernels;
use qweave_ir::{Graph, HandleMap, Op, Tensor, TensorType, Value, ValueData};

/// Last-use marker of a value that must outlive the run (a graph output).
const KEEP: usize = usize::MAX;

/// Runs `graph` on `inputs` (one per graph input, each of exactly the input's type) and
/// returns the graph outputs in order.
///
/// Ops run in `graph.order`. A value is dropped as soon as the last op using it has run,
/// so memory holds only the live tensors. A graph that passed [`qweave_ir::verify()`] never
/// makes this panic; a malformed one gives [`RunError::Malformed`].
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
    run_observed(graph, inputs, &mut |_, _| {})
}

/// [`run()`], calling `observe` with each op and its [`Outcome`] (results, overflow and
/// saturation counts) as soon as the op has run. The observer may replace the results with
/// tensors of the same types, and later ops then see those: the accuracy analysis feeds one
/// semantics' values into another this way. A replacement of another type is an error.
pub fn run_observed(
    graph: &Graph,
    inputs: &[Tensor],
    observe: &mut dyn FnMut(Op, &mut Outcome),
) -> Result<Vec<Tensor>, RunError> {
    if inputs.len() != graph.inputs.len() {
        return Err(RunError::InputCount {
            expected: graph.inputs.len(),
            found: inputs.len(),
        });
    }
    let mut values: HandleMap<ValueData, Option<Tensor>> = HandleMap::new();
    for (index, (&v, t)) in graph.inputs.iter().zip(inputs).enumerate() {
        let decl = value(graph, v)?;
        let name = decl
            .name
            .as_ref()
            .map_or_else(|| format!("#{index}"), |n| format!("%{n}"));
        if t.ty != decl.ty {
            return Err(RunError::InputType {
                index,
                name,
                expected: decl.ty.clone(),
                found: t.ty.clone(),
            });
        }
        let checked = kernels::check_type(&t.ty).and_then(|()| t.data.check(&t.ty));
        checked.map_err(|message| RunError::InputData {
            index,
            name,
            message,
        })?;
        values.insert(v, Some(t.clone()));
    }
    let last_use = last_uses(graph)?;
    for &v in &graph.inputs {
        if last_use.get(v).is_none() {
            values.insert(v, None);
        }
    }
    let mut result_types: Vec<TensorType> = Vec::new();
    for (pos, &op) in graph.order.iter().enumerate() {
        let data = graph
            .ops
            .get(op)
            .ok_or_else(|| RunError::Malformed(format!("scheduled op {op:?} does not exist")))?;
        let fail = |error: EvalError| RunError::Op {
            op: data.kind.name(),
            node: data.source.clone(),
            error,
        };
        let mut operands: Vec<&Tensor> = Vec::with_capacity(data.operands.len());
        for (i, &v) in data.operands.iter().enumerate() {
            let t = values.get(v).as_ref();
            operands.push(t.ok_or_else(|| {
                fail(EvalError::Invalid(format!("operand {i} has no value yet")))
            })?);
        }
        result_types.clear();
        for &r in &data.results {
            result_types.push(value(graph, r)?.ty.clone());
        }
        let mut outcome = kernels::eval(&data.kind, &operands, &result_types).map_err(fail)?;
        observe(op, &mut outcome);
        if outcome.outputs.len() != data.results.len() {
            let message = format!(
                "{} results computed for {} declared",
                outcome.outputs.len(),
                data.results.len()
            );
            return Err(fail(EvalError::Internal(message)));
        }
        if let Some((t, want)) = outcome.outputs.iter().zip(&result_types).find(|(t, want)| {
            t.ty != **want
                || t.data.len() != want.numel()
                || t.data.as_f32().is_some() != want.elem.is_float()
        }) {
            let message = format!("a result of type {} replaced one of type {}", t.ty, want);
            return Err(fail(EvalError::Internal(message)));
        }
        for (&r, t) in data.results.iter().zip(outcome.outputs) {
            if last_use.get(r).is_some_and(|last| last > pos) {
                values.insert(r, Some(t));
            }
        }
        for &v in &data.operands {
            if *last_use.get(v) == Some(pos) {
                values.insert(v, None);
            }
        }
    }
    graph
        .outputs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            values
                .get(v)
                .clone()
                .ok_or_else(|| RunError::Malformed(format!("output {i} is never computed")))
        })
        .collect()
}

/// The value's data, or an error for a handle outside the graph.
fn value(graph: &Graph, v: Value) -> Result<&ValueData, RunError> {
    graph
        .values
        .get(v)
        .ok_or_else(|| RunError::Malformed(format!("value {v:?} does not exist")))
}

/// For every value, the schedule position of its last use ([`KEEP`] for graph outputs,
/// `None` for values nothing uses).
fn last_uses(graph: &Graph) -> Result<HandleMap<ValueData, Option<usize>>, RunError> {
    let mut last: HandleMap<ValueData, Option<usize>> = HandleMap::new();
    for (pos, &op) in graph.order.iter().enumerate() {
        let data = graph
            .ops
            .get(op)
            .ok_or_else(|| RunError::Malformed(format!("scheduled op {op:?} does not exist")))?;
        for &v in &data.operands {
            value(graph, v)?;
            last.insert(v, Some(pos));
        }
    }
    for &v in &graph.outputs {
        value(graph, v)?;
        last.insert(v, Some(KEEP));
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{f, i, int};
    use qweave_ir::{ElemType, OpKind, parse, verify};

    fn graph(src: &str) -> Graph {
        let g = parse(src, None).expect("the test graph parses").graph;
        verify(&g).expect("the test graph verifies");
        g
    }

    const FLOAT: &str = r#"
graph @g(%x: tensor<1x1x3x3xf32>) -> (tensor<1x1x2x2xf32>, tensor<1x1x3x3xf32>, tensor<1x1x2x2xf32>) {
  %w = const splat<1.0> : tensor<1x1x2x2xf32>
  %b = const dense<[-20.0]> : tensor<1xf32>
  %c = onnx.conv %x, %w, %b {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]} : tensor<1x1x2x2xf32> loc("conv1")
  %r = onnx.relu %c : tensor<1x1x2x2xf32>
  %s = onnx.add %r, %c : tensor<1x1x2x2xf32>
  return %r, %x, %s
}
"#;

    #[test]
    fn runs_a_float_graph() {
        let x = f(
            &[1, 1, 3, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        );
        let out = run(&graph(FLOAT), std::slice::from_ref(&x)).unwrap();
        assert_eq!(out[0], f(&[1, 1, 2, 2], &[0.0, 0.0, 4.0, 8.0]));
        assert_eq!(out[1], x);
        assert_eq!(out[2], f(&[1, 1, 2, 2], &[-8.0, -4.0, 8.0, 16.0]));
    }

    #[test]
    fn an_observer_sees_every_op_and_may_replace_its_results() {
        let g = graph(FLOAT);
        let x = f(&[1, 1, 3, 3], &[0.0; 9]);
        let mut seen = Vec::new();
        let out = run_observed(&g, std::slice::from_ref(&x), &mut |op, outcome| {
            seen.push(op);
            if g.ops[op].kind == OpKind::Relu {
                outcome.outputs[0] = f(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
            }
        })
        .unwrap();
        assert_eq!(seen, g.order);
        // the add sees the replaced relu: [1, 2, 3, 4] + (-20)
        assert_eq!(out[2], f(&[1, 1, 2, 2], &[-19.0, -18.0, -17.0, -16.0]));
        let e = run_observed(&g, std::slice::from_ref(&x), &mut |op, outcome| {
            if g.ops[op].kind == OpKind::Relu {
                outcome.outputs[0] = f(&[4], &[1.0, 2.0, 3.0, 4.0]);
            }
        })
        .unwrap_err();
        assert!(e.to_string().contains("replaced"), "{e}");
    }

    #[test]
    fn drops_values_after_their_last_use() {
        let g = graph(FLOAT);
        let last = last_uses(&g).unwrap();
        let op = |n: usize| &g.ops[g.order[n]];
        // %w and %b die at the conv (position 2), %c at the add (4); %r is an output
        assert_eq!(*last.get(op(0).results[0]), Some(2));
        assert_eq!(*last.get(op(2).results[0]), Some(4));
        assert_eq!(*last.get(op(3).results[0]), Some(KEEP));
        assert_eq!(*last.get(op(4).results[0]), Some(KEEP));
    }

    #[test]
    fn runs_an_integer_pipeline() {
        let src = r#"
!a = quant<u8, scale = 0.5, zp = 10>
!y = quant<i8, scale = 1.0, zp = -3>
graph @q(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {
  %q = onnx.quantize_linear %x {out = !a} : tensor<1x4x!a>
  %w = const dense<[1, -1, 2, 0]> : tensor<4x1xi8>
  %m = q.matmul %q, %w {acc = i32} : tensor<1x1xi32>
  %r = q.requantize %m {multiplier = [3], shift = [1], rounding = half_even, out = !y} : tensor<1x1x!y>
  %d = onnx.dequantize_linear %r : tensor<1x1xf32>
  %t = reshape %d {shape = [1]} : tensor<1xf32>
  %z = onnx.mul %x, %t : tensor<1x4xf32>
  return %z
}
"#;
        // q = [12, 14, 16, 18] -> minus zp [2, 4, 6, 8] -> dot [1, -1, 2, 0] = 10
        // requantize: 10 * 3 / 2 = 15, + (-3) = 12 -> dequantized (12 + 3) * 1 = 15
        let x = f(&[1, 4], &[1.0, 2.0, 3.0, 4.0]);
        let out = run(&graph(src), &[x]).unwrap();
        assert_eq!(out, [f(&[1, 4], &[15.0, 30.0, 45.0, 60.0])]);
    }

    #[test]
    fn input_errors_name_the_input() {
        let g = graph(FLOAT);
        let e = run(&g, &[]).unwrap_err();
        assert_eq!(e.to_string(), "the graph takes 1 inputs, but 0 were given");
        let e = run(&g, &[f(&[1, 9], &[0.0; 9])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 0 (%x) must be tensor<1x1x3x3xf32>, found tensor<1x9xf32>"
        );
        let bad = Tensor {
            ty: TensorType::new(vec![1, 1, 3, 3], ElemType::F32),
            data: f(&[1], &[0.0]).data,
        };
        let e = run(&g, &[bad]).unwrap_err();
        assert!(matches!(e, RunError::InputData { index: 0, .. }), "{e}");
    }

    #[test]
    fn op_errors_name_the_op_and_its_node() {
        let src = r#"
graph @g(%x: tensor<2xf32>) -> (tensor<2xf32>) {
  %s = const splat<1.0> : tensor<f32>
  %z = const splat<0.0> : tensor<f32>
  %b = const splat<0.0> : tensor<f32>
  %y = onnx.quant %x, %s, %z, %b : tensor<2xf32> loc("quant1")
  return %y
}
"#;
        let e = run(&graph(src), &[f(&[2], &[1.0, 2.0])]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("op `onnx.quant` (node \"quant1\"): invalid operand value: "),
            "{text}"
        );
    }

    #[test]
    fn unverified_graphs_give_errors() {
        let mut g = Graph::new("g");
        let x = g.add_input(None, TensorType::new(vec![2], i(8)));
        let kind = OpKind::QClamp(qweave_ir::ops::ClampAttrs { min: 0, max: 1 });
        // a result type that inference disagrees with
        let op = g.push_op(kind, vec![x], vec![TensorType::new(vec![3], i(8))], None);
        g.outputs = g.ops[op].results.clone();
        let e = run(&g, &[int(&[2], i(8), &[-1, 5])]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("op `q.clamp`: the declared result types"),
            "{e}"
        );
        // an output nothing defines
        g.order.clear();
        let e = run(&g, &[int(&[2], i(8), &[-1, 5])]).unwrap_err();
        assert!(matches!(e, RunError::Malformed(_)), "{e}");
    }
}
