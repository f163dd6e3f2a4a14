//! Groups the ops of a q-level graph into layers: the unit the accelerator runs from DRAM to
//! DRAM, with the element-wise steps that follow an op done on its accumulators.
//!
//! A layer has an anchor (a convolution or matrix product, a pooling, an element-wise add or
//! multiply, a concatenation, or a load of a tensor already in DRAM) and a chain of
//! post-processing ops applied to its accumulators before they are stored: `q.requantize`,
//! `q.clamp`, `q.lut`, `q.multi_threshold`, and `q.add` or `q.mul` by a constant that varies
//! at most per channel. An op joins the chain of the layer that
//! computes its operand when it is that value's only use (and the value is not a graph
//! output); the intermediate values of a chain never reach DRAM. A chain that starts on a
//! tensor in DRAM and feeds only an add or multiply runs inside that layer, on its operand.
//!
//! Around the layers: `reshape` is free (the same DRAM bytes, viewed anew); an input's
//! `onnx.quantize_linear` and an output's `onnx.dequantize_linear` run on the host, as the
//! manifest tells it to.

use qweave_ir::{Graph, HandleMap, Op, OpKind, Value, ValueData};
use std::collections::HashMap;

/// What a layer computes before its chain.
#[derive(Clone, Debug)]
pub enum Anchor {
    /// `q.conv` or `q.matmul`.
    Conv(Op),
    /// `q.max_pool` or `q.sum_pool`.
    Pool(Op),
    /// `q.add` or `q.mul`; each operand is loaded from `src` and put through `pre` first.
    Binary {
        /// The op.
        op: Op,
        /// Where each operand's chain starts.
        src: [Value; 2],
        /// Each operand's chain.
        pre: [Vec<Op>; 2],
    },
    /// The chain applied to a tensor in DRAM.
    Load(Value),
    /// `concat`: its operands copied into place.
    Concat(Op),
}

/// One layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Its name: the source node of its anchor (or first op).
    pub name: String,
    /// What it computes.
    pub anchor: Anchor,
    /// The post-processing chain, in order.
    pub post: Vec<Op>,
    /// The value it stores.
    pub result: Value,
}

/// A graph input the host quantizes, or an output it dequantizes.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    /// The graph input or output.
    pub outer: Value,
    /// The integer value in DRAM.
    pub inner: Value,
    /// The `onnx.quantize_linear` or `onnx.dequantize_linear` op, if any.
    pub op: Option<Op>,
}

/// The layers of a graph, in an order that respects their dependences.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The layers.
    pub layers: Vec<Layer>,
    /// Values that are another's bytes viewed anew (`reshape`): value, the viewed value.
    pub aliases: Vec<(Value, Value)>,
    /// The graph inputs, in order.
    pub inputs: Vec<Host>,
    /// The graph outputs, in order.
    pub outputs: Vec<Host>,
}

/// The name an op is known by in messages: its source node, else its result's name.
pub fn op_name(g: &Graph, op: Op) -> String {
    let d = &g.ops[op];
    d.source
        .clone()
        .or_else(|| d.results.first().and_then(|&v| g.values[v].name.clone()))
        .unwrap_or_else(|| format!("op{}", op.index()))
}

/// The operand a post-processing op applies to, when `op` is one a chain can hold:
/// `q.requantize`, `q.clamp`, `q.lut`, `q.multi_threshold`, and `q.add` or `q.mul` with a
/// constant that varies at most per channel (a bias, a batch norm's shift).
pub fn post_operand(g: &Graph, op: Op) -> Option<Value> {
    let d = &g.ops[op];
    match d.kind {
        OpKind::Requantize(_) | OpKind::QClamp(_) | OpKind::QLut | OpKind::QMultiThreshold(_) => {
            Some(d.operands[0])
        }
        OpKind::QAdd(_) | OpKind::QMul(_) => {
            let result = &g.ty(d.results[0]).shape;
            let per_channel = |v: Value| {
                g.const_data(v).is_some()
                    && super::layout::view(&g.ty(v).shape, result)
                        .is_ok_and(|w| w.strides[1..].iter().all(|&s| s == 0))
            };
            let [a, b] = [d.operands[0], d.operands[1]];
            match (per_channel(a), per_channel(b)) {
                (false, true) if g.ty(a).shape == *result => Some(a),
                (true, false) if g.ty(b).shape == *result => Some(b),
                _ => None,
            }
        }
        _ => None,
    }
}

/// An op the accelerator cannot run, and why.
#[derive(Clone, Debug)]
pub struct Unmappable {
    /// The op.
    pub op: Op,
    /// What is wrong and the way out.
    pub message: String,
}

/// Plans `g` (a graph lowered to the q level).
pub fn plan(g: &Graph) -> Result<Plan, Unmappable> {
    let uses = g.uses();
    let outputs: Vec<Value> = g.outputs.clone();
    let fusible = |v: Value, uses: &HandleMap<ValueData, Vec<Op>>| {
        uses.get(v).len() == 1 && !outputs.contains(&v)
    };
    let mut plan = Plan::default();
    // the layer whose chain ends in a value
    let mut tail: HashMap<Value, usize> = HashMap::new();
    let mut dropped: Vec<bool> = Vec::new();
    let mut host_in: HashMap<Value, usize> = HashMap::new();
    for (i, &v) in g.inputs.iter().enumerate() {
        plan.inputs.push(Host {
            outer: v,
            inner: v,
            op: None,
        });
        host_in.insert(v, i);
    }
    for op in g.scheduled() {
        let d = &g.ops[op];
        let result = d.results.first().copied();
        let unmappable = |message: String| Unmappable { op, message };
        if let Some(u) = post_operand(g, op) {
            let r = result.expect("one result");
            if let Some(&l) = tail.get(&u).filter(|_| fusible(u, &uses)) {
                plan.layers[l].post.push(op);
                plan.layers[l].result = r;
                tail.remove(&u);
                tail.insert(r, l);
            } else {
                tail.insert(r, plan.layers.len());
                plan.layers.push(Layer {
                    name: op_name(g, op),
                    anchor: Anchor::Load(u),
                    post: vec![op],
                    result: r,
                });
                dropped.push(false);
            }
            continue;
        }
        match &d.kind {
            OpKind::Const(_) => {}
            OpKind::Reshape(_) => {
                if let Some(r) = result {
                    plan.aliases.push((r, d.operands[0]));
                }
            }
            OpKind::QuantizeLinear(_)
                if host_in.contains_key(&d.operands[0]) && g.ty(d.operands[0]).elem.is_float() =>
            {
                let i = host_in[&d.operands[0]];
                if plan.inputs[i].op.is_some() {
                    return Err(unmappable(
                        "the input is quantized twice; quantize each input once".into(),
                    ));
                }
                if g.ty(result.expect("one result"))
                    .elem
                    .quant_axis()
                    .is_some()
                {
                    return Err(unmappable(
                        "an input quantized per axis; the host quantizes inputs per tensor".into(),
                    ));
                }
                plan.inputs[i].inner = result.expect("one result");
                plan.inputs[i].op = Some(op);
            }
            OpKind::DequantizeLinear
                if result.is_some_and(|r| outputs.contains(&r) && uses.get(r).is_empty()) => {}
            OpKind::QConv(_) | OpKind::QMatMul(_) | OpKind::QMaxPool(_) | OpKind::QSumPool(_) => {
                let anchor = if matches!(d.kind, OpKind::QConv(_) | OpKind::QMatMul(_)) {
                    Anchor::Conv(op)
                } else {
                    Anchor::Pool(op)
                };
                let r = result.expect("one result");
                tail.insert(r, plan.layers.len());
                plan.layers.push(Layer {
                    name: op_name(g, op),
                    anchor,
                    post: Vec::new(),
                    result: r,
                });
                dropped.push(false);
            }
            OpKind::QAdd(_) | OpKind::QMul(_) => {
                let mut src = [d.operands[0], d.operands[1]];
                let mut pre: [Vec<Op>; 2] = Default::default();
                for k in 0..2 {
                    let v = src[k];
                    if let Some(&l) = tail.get(&v).filter(|_| fusible(v, &uses))
                        && let Anchor::Load(s) = plan.layers[l].anchor
                    {
                        src[k] = s;
                        pre[k] = std::mem::take(&mut plan.layers[l].post);
                        dropped[l] = true;
                        tail.remove(&v);
                    }
                }
                let r = result.expect("one result");
                tail.insert(r, plan.layers.len());
                plan.layers.push(Layer {
                    name: op_name(g, op),
                    anchor: Anchor::Binary { op, src, pre },
                    post: Vec::new(),
                    result: r,
                });
                dropped.push(false);
            }
            OpKind::Concat(_) => {
                plan.layers.push(Layer {
                    name: op_name(g, op),
                    anchor: Anchor::Concat(op),
                    post: Vec::new(),
                    result: result.expect("one result"),
                });
                dropped.push(false);
            }
            k => {
                let why = if k.dialect() == qweave_ir::Dialect::Q {
                    "has no mapping onto the accelerator yet".to_string()
                } else {
                    format!(
                        "is not an integer op of the q level; run the `lower` pipeline first, \
                         and quantize the model (`qweave quantize`) if `{}` stays in float",
                        k.name()
                    )
                };
                return Err(unmappable(format!("`{}` {why}", k.name())));
            }
        }
    }
    plan.layers = plan
        .layers
        .into_iter()
        .zip(dropped)
        .filter_map(|(l, gone)| (!gone).then_some(l))
        .collect();
    for &v in &g.outputs {
        let inner = match g.def_op(v) {
            Some(op) if matches!(g.ops[op].kind, OpKind::DequantizeLinear) => {
                plan.outputs.push(Host {
                    outer: v,
                    inner: g.ops[op].operands[0],
                    op: Some(op),
                });
                continue;
            }
            _ => v,
        };
        plan.outputs.push(Host {
            outer: v,
            inner,
            op: None,
        });
    }
    Ok(plan)
}
