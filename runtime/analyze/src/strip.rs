//! The float reference of a quantized graph: its activation quantizers removed.
//!
//! `dequantize_linear(quantize_linear(x))` on a float `x` becomes `x`, and a QONNX `quant` or
//! `bipolar_quant` of a non-constant value becomes its operand. A quantizer whose range starts
//! exactly at 0 also acts as a ReLU (quantizers fold ReLUs that way, and onnxruntime's QDQ
//! export drops the ReLU node), so it becomes `relu(x)`. Weights keep their quantized values,
//! so the reference isolates what quantizing activations and computing in integers cost.
//! Each removed quantizer's result name is mapped to the float value that stands for it.

use qweave_ir::{Data, Graph, Op, OpKind, Value};
use std::collections::{HashMap, HashSet};

/// The stripped graph, the float value standing for each removed quantizer's result (by the
/// result's name), and how many quantizers were removed.
pub struct Stripped {
    /// The float graph.
    pub graph: Graph,
    /// Quantized value name to float value.
    pub aliases: HashMap<String, Value>,
    /// Number of quantizers removed.
    pub removed: usize,
}

/// Strips activation quantizers; `None` when ops with integer semantics remain (the
/// QOperator form), which have no float counterpart.
pub fn strip(source: &Graph) -> Option<Stripped> {
    let mut g = source.clone();
    let mut aliases = HashMap::new();
    let mut dead = HashSet::new();
    for op in g.order.clone() {
        let data = &g.ops[op];
        let x = data.operands.first().copied();
        let r = data.results.first().copied();
        let (Some(x), Some(r)) = (x, r) else { continue };
        let constant = g.const_data(x).is_some();
        let stripped_to = match &data.kind {
            OpKind::DequantizeLinear => {
                let Some(q) = g.def_op(x) else { continue };
                match g.ops[q].kind {
                    OpKind::QuantizeLinear(_) => {
                        let inner = g.ops[q].operands[0];
                        if g.const_data(inner).is_some() {
                            continue;
                        }
                        let floor_zero = g
                            .ty(x)
                            .elem
                            .storage()
                            .zip(g.ty(x).elem.quant())
                            .is_some_and(|(st, p)| {
                                p.axis_len().is_none() && p.zero_point(0) == st.min()
                            });
                        let inner = if floor_zero {
                            relu(&mut g, op, inner)
                        } else {
                            inner
                        };
                        if let Some(n) = g.values[x].name.clone() {
                            aliases.insert(n, inner);
                        }
                        inner
                    }
                    _ => continue,
                }
            }
            OpKind::Quant(a) if !constant => {
                let zero = |v: Value| matches!(g.const_data(v), Some(Data::F32(z)) if z.iter().all(|&z| z == 0.0));
                let x = if !a.signed && zero(data.operands[2]) {
                    relu(&mut g, op, x)
                } else {
                    x
                };
                if let Some(n) = g.values[r].name.clone() {
                    aliases.insert(n, x);
                }
                x
            }
            OpKind::BipolarQuant if !constant => {
                if let Some(n) = g.values[r].name.clone() {
                    aliases.insert(n, x);
                }
                x
            }
            _ => continue,
        };
        g.replace_uses(r, stripped_to);
        dead.insert(op);
    }
    g.retain(|_, op| !dead.contains(&op));
    // Drop the quantizers nothing reads any more.
    let uses = g.uses();
    let outputs: HashSet<Value> = g.outputs.iter().copied().collect();
    g.retain(|g, op| {
        let d = &g.ops[op];
        !matches!(d.kind, OpKind::QuantizeLinear(_))
            || d.results
                .iter()
                .any(|&r| outputs.contains(&r) || !uses[r].is_empty())
    });
    let integer = g.order.iter().any(|&op| {
        let d = &g.ops[op];
        !matches!(d.kind, OpKind::Const(_) | OpKind::DequantizeLinear)
            && d.results.iter().any(|&r| g.ty(r).elem.is_integer())
    });
    if integer {
        return None;
    }
    let removed = dead.len();
    Some(Stripped {
        graph: g,
        aliases,
        removed,
    })
}

/// Schedules `relu(x)` before `at` and returns it.
fn relu(g: &mut Graph, at: Op, x: Value) -> Value {
    let ty = g.ty(x).clone();
    let source = g.ops[at].source.clone();
    let op = g.detached_op(OpKind::Relu, vec![x], vec![ty], source);
    g.insert_before(at, op);
    g.ops[op].results[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_ir::{parse, verify};

    #[test]
    fn quantizer_pairs_become_their_float_operand_or_a_relu() {
        let src = r#"
!r = quant<i8, scale = 0.5, zp = -128>
!s = quant<i8, scale = 0.5, zp = 0>
graph @g(%x: tensor<4xf32>) -> (tensor<4xf32>) {
  %a = onnx.quantize_linear %x {out = !r} : tensor<4x!r>
  %b = onnx.dequantize_linear %a : tensor<4xf32>
  %c = onnx.sigmoid %b : tensor<4xf32>
  %d = onnx.quantize_linear %c {out = !s} : tensor<4x!s>
  %e = onnx.dequantize_linear %d : tensor<4xf32>
  return %e
}
"#;
        let g = parse(src, None).unwrap().graph;
        let s = strip(&g).unwrap();
        verify(&s.graph).unwrap();
        assert_eq!(s.removed, 2);
        let kinds: Vec<&str> = s
            .graph
            .order
            .iter()
            .map(|&op| s.graph.ops[op].kind.name())
            .collect();
        // the range of !r starts at 0: its quantizer was a ReLU
        assert_eq!(kinds, ["onnx.relu", "onnx.sigmoid"]);
        let relu = s.graph.ops[s.graph.order[0]].results[0];
        assert_eq!(s.aliases["a"], relu);
        assert_eq!(s.graph.outputs[0], s.aliases["d"]);
    }
}
