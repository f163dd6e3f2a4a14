//! qweave's bit-accurate accuracy analysis: a model run over a data set in its float
//! reference, its source format's quantized semantics and the hardware-integer semantics (the
//! q level), compared tensor by tensor: SQNR and maximum error against float, saturation and
//! accumulator overflow rates, and how many stored integers differ between source and
//! hardware, both end to end and layer by layer.

pub mod explore;
mod html;
pub mod pareto_svg;
mod report;
mod strip;

pub use html::html;
pub use report::{Error, Layer, Report, SCHEMA_VERSION, Semantics};
pub use strip::{Stripped, strip};

use qweave_interp::{Outcome, run_observed};
use qweave_ir::{Data, ElemType, Graph, Op, OpKind, Tensor, TensorType, Value};
use std::collections::HashMap;

/// A float reference: a graph and, by quantized tensor name, the float value standing for
/// it (tensors not in the map are looked up by the same name).
pub struct FloatRef {
    /// The float graph.
    pub graph: Graph,
    /// Quantized tensor name to float value.
    pub aliases: HashMap<String, Value>,
    /// What it is, in words.
    pub description: String,
}

/// What to analyze.
pub struct Inputs<'a> {
    /// The model's file name, for the report.
    pub model: String,
    /// The model as imported (the source format's semantics).
    pub source: &'a Graph,
    /// The model lowered to the q level (the hardware-integer semantics).
    pub hw: &'a Graph,
    /// The float reference, when there is one.
    pub float: Option<FloatRef>,
    /// The inputs of each item.
    pub items: &'a [Vec<Tensor>],
    /// The class of each item, when known.
    pub labels: Option<&'a [i64]>,
}

/// One compared tensor: its value in each graph.
struct Row {
    name: String,
    src: Value,
    hw: Value,
    float: Option<Value>,
}

/// Running sums of one semantics against float.
#[derive(Default, Clone)]
struct Sums {
    signal: f64,
    noise: f64,
    max: f64,
    saturated: u64,
}

/// Runs the analysis.
pub fn analyze(inp: &Inputs<'_>) -> Result<Report, String> {
    let named = |g: &Graph| -> HashMap<String, Value> {
        g.values
            .iter()
            .filter_map(|(v, d)| d.name.clone().map(|n| (n, v)))
            .collect()
    };
    let (hw_names, float_names) = (named(inp.hw), inp.float.as_ref().map(|f| named(&f.graph)));
    let mut rows = Vec::new();
    let src_values = inp.source.inputs.iter().copied().chain(
        inp.source
            .order
            .iter()
            .filter(|&&op| !matches!(inp.source.ops[op].kind, OpKind::Const(_)))
            .flat_map(|&op| inp.source.ops[op].results.iter().copied()),
    );
    for v in src_values {
        let Some(name) = inp.source.values[v].name.clone() else {
            continue;
        };
        // QONNX quantizers of activations (those of constant weights are not layers).
        let quantizer = inp.source.def_op(v).is_some_and(|op| {
            let d = &inp.source.ops[op];
            matches!(
                d.kind,
                OpKind::Quant(_) | OpKind::BipolarQuant | OpKind::MultiThreshold(_)
            ) && inp.source.const_data(d.operands[0]).is_none()
        });
        if !(matches!(inp.source.ty(v).elem, ElemType::Quant(_)) || quantizer) {
            continue;
        }
        // The lowering names a quantizer's integers after it with `.q` (its float result,
        // the dequantized integers, is usually dead by then).
        let integers = || hw_names.get(&format!("{name}.q"));
        let Some(&hw) = hw_names
            .get(&name)
            .or_else(|| quantizer.then(integers).flatten())
        else {
            continue;
        };
        let float = inp.float.as_ref().and_then(|f| {
            f.aliases
                .get(&name)
                .copied()
                .or_else(|| float_names.as_ref()?.get(&name).copied())
                .filter(|&fv| f.graph.ty(fv).shape == inp.source.ty(v).shape)
        });
        rows.push(Row {
            name,
            src: v,
            hw,
            float,
        });
    }

    let n = rows.len();
    let mut src_sums = vec![Sums::default(); n];
    let mut hw_sums = vec![Sums::default(); n];
    let (mut differ, mut differ_local) = (vec![0u64; n], vec![0u64; n]);
    let mut elements = vec![0u64; n];
    let mut acc_overflows: HashMap<String, (u64, u64)> = HashMap::new();
    let mut src_acc_overflows: HashMap<String, (u64, u64)> = HashMap::new();
    let mut top1: [Vec<Option<usize>>; 3] = Default::default();
    let src_index: HashMap<Value, usize> =
        rows.iter().enumerate().map(|(i, r)| (r.src, i)).collect();
    let hw_index: HashMap<Value, usize> = rows.iter().enumerate().map(|(i, r)| (r.hw, i)).collect();
    let float_index: HashMap<Value, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.float.map(|f| (f, i)))
        .collect();
    let hw_saturating: HashMap<Op, usize> = saturating_ops(inp.hw, &hw_index);

    for (k, item) in inp.items.iter().enumerate() {
        let fail =
            |what: &str, e: qweave_interp::RunError| format!("item {k}, {what} semantics: {e}");
        // Float reference.
        let mut float_vals: Vec<Option<Vec<f64>>> = vec![None; n];
        if let Some(f) = &inp.float {
            let mut unused = HashMap::new();
            let outs = observe(&f.graph, item, &float_index, &mut unused, &mut |i, t, _| {
                float_vals[i] = Some(real(t));
            })
            .map_err(|e| fail("float", e))?;
            top1[0].push(class(&outs));
        }
        // Source semantics.
        let mut src_vals: Vec<Option<Tensor>> = vec![None; n];
        let acc = &mut src_acc_overflows;
        let outs = observe(inp.source, item, &src_index, acc, &mut |i, t, sat| {
            src_sums[i].saturated += sat;
            src_vals[i] = Some(stored_as(t, inp.hw.ty(rows[i].hw)));
        })
        .map_err(|e| fail("source", e))?;
        top1[1].push(class(&outs));
        // Hardware semantics, end to end.
        let mut hw_vals: Vec<Option<Tensor>> = vec![None; n];
        let outs = run_observed(inp.hw, item, &mut |op, outcome| {
            let data = &inp.hw.ops[op];
            if let Some(&i) = hw_saturating.get(&op) {
                hw_sums[i].saturated += outcome.saturations;
            }
            count_overflows(&mut acc_overflows, data, outcome);
            for (&r, t) in data.results.iter().zip(&outcome.outputs) {
                if let Some(&i) = hw_index.get(&r) {
                    hw_vals[i] = Some(t.clone());
                }
            }
        })
        .map_err(|e| fail("hardware", e))?;
        top1[2].push(class(&outs));
        // Hardware semantics fed the source's tensors: each layer's own differences.
        run_observed(inp.hw, item, &mut |op, outcome: &mut Outcome| {
            for (j, &r) in inp.hw.ops[op].results.iter().enumerate() {
                let Some(&i) = hw_index.get(&r) else { continue };
                let Some(s) = &src_vals[i] else { continue };
                if s.ty == outcome.outputs[j].ty {
                    differ_local[i] += count_differences(s, &outcome.outputs[j]);
                    outcome.outputs[j] = s.clone();
                }
            }
        })
        .map_err(|e| fail("hardware (layer by layer)", e))?;

        for i in 0..n {
            let (Some(s), Some(h)) = (&src_vals[i], &hw_vals[i]) else {
                continue;
            };
            differ[i] += count_differences(s, h);
            elements[i] += s.ty.numel() as u64;
            if let Some(f) = &float_vals[i] {
                accumulate(&mut src_sums[i], f, &real(s));
                accumulate(&mut hw_sums[i], f, &real(h));
            }
        }
    }

    let has_float = inp.float.is_some();
    let layers = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let node = layer_node(inp.hw, r.hw);
            let op = source_op(inp.source, &node).unwrap_or_else(|| {
                inp.hw
                    .def_op(r.hw)
                    .map_or("input", |o| inp.hw.ops[o].kind.name())
                    .to_string()
            });
            let (w, acc) = widths(inp.hw, &node);
            let total = elements[i].max(1) as f64;
            let hw_rate = overflow_rate(&acc_overflows, Some(&node));
            let src_node = inp
                .source
                .def_op(r.src)
                .and_then(|o| inp.source.ops[o].source.as_deref());
            let src_rate = overflow_rate(&src_acc_overflows, src_node);
            let error = |s: &Sums, acc_overflow_rate: f64| Error {
                sqnr_db: (has_float && r.float.is_some() && s.noise > 0.0)
                    .then(|| 10.0 * (s.signal / s.noise).log10())
                    .filter(|d| d.is_finite()),
                max_abs_error: (has_float && r.float.is_some()).then_some(s.max),
                overflow_rate: s.saturated as f64 / total,
                acc_overflow_rate,
            };
            Layer {
                tensor: r.name.clone(),
                node,
                op,
                weight_bits: w,
                act_bits: (inp.source.ty(r.src).elem.storage())
                    .or_else(|| inp.hw.ty(r.hw).elem.storage())
                    .map(qweave_ir::Storage::bits),
                acc_bits: acc,
                elements: elements[i],
                source: error(&src_sums[i], src_rate),
                hw: error(&hw_sums[i], hw_rate),
                differ: differ[i],
                differ_local: differ_local[i],
            }
        })
        .collect();

    // Overall top-1, against labels or float.
    let mut notes = Vec::new();
    let classes = top1[1].iter().all(Option::is_some);
    let (basis, reference): (&str, Option<Vec<i64>>) = match (inp.labels, has_float) {
        (Some(l), _) if classes => {
            if l.len() != inp.items.len() {
                return Err(format!("{} labels for {} items", l.len(), inp.items.len()));
            }
            ("labels", Some(l.to_vec()))
        }
        (None, true) if classes => (
            "float_agreement",
            top1[0].iter().map(|c| c.map(|c| c as i64)).collect(),
        ),
        _ => {
            notes.push("top-1 not measured: the first output is not a [1, classes] score vector, or there are neither labels nor a float reference".into());
            ("none", None)
        }
    };
    let score = |got: &[Option<usize>]| {
        let want = reference.as_ref()?;
        if got.len() != want.len() {
            return None;
        }
        let right = got
            .iter()
            .zip(want)
            .filter(|(g, w)| g.map(|g| g as i64) == Some(**w))
            .count();
        Some(right as f64 / want.len().max(1) as f64)
    };
    let mut semantics = Vec::new();
    if let Some(f) = &inp.float {
        semantics.push(Semantics {
            name: "float".into(),
            description: f.description.clone(),
            top1: score(&top1[0]),
            onnx_ops: qweave_passes::unlowered_ops(&f.graph).len(),
        });
    } else {
        notes.push("no float reference: the model has integer ops with no float form (QOperator); pass --float MODEL to compare with one".into());
    }
    semantics.push(Semantics {
        name: "source".into(),
        description: "the model as imported, with its format's quantization semantics (onnxruntime for QDQ and QOperator, the qonnx executor for QONNX)".into(),
        top1: score(&top1[1]),
        onnx_ops: qweave_passes::unlowered_ops(inp.source).len(),
    });
    let hw_left = qweave_passes::unlowered_ops(inp.hw).len();
    if hw_left > 0 {
        notes.push(format!(
            "the hardware-integer graph still has {hw_left} op(s) at the onnx level (not yet lowered to exact integers); they compute as in the source"
        ));
    }
    semantics.push(Semantics {
        name: "hw".into(),
        description:
            "the q level after `lower`: exact integer ops, as the accelerator computes them".into(),
        top1: score(&top1[2]),
        onnx_ops: hw_left,
    });
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        model: inp.model.clone(),
        items: inp.items.len() as u64,
        accuracy_basis: basis.into(),
        semantics,
        layers,
        notes,
    })
}

/// Overflowed sums per sum of node `node` (0 without sums).
fn overflow_rate(counts: &HashMap<String, (u64, u64)>, node: Option<&str>) -> f64 {
    match node.and_then(|n| counts.get(n)) {
        Some(&(overflows, sums)) if sums > 0 => overflows as f64 / sums as f64,
        _ => 0.0,
    }
}

/// Adds an op's accumulator overflows and sums to its node's counts.
fn count_overflows(
    counts: &mut HashMap<String, (u64, u64)>,
    op: &qweave_ir::OpData,
    outcome: &Outcome,
) {
    if has_accumulator(&op.kind) {
        let e = counts
            .entry(op.source.clone().unwrap_or_default())
            .or_default();
        e.0 += outcome.overflows;
        e.1 += outcome
            .outputs
            .iter()
            .map(|t| t.ty.numel() as u64)
            .sum::<u64>();
    }
}

/// Runs `g`, calling `seen(row, tensor, saturations)` for each value in `index` (graph inputs
/// included, with no saturations) and counting accumulator overflows per node into `acc`.
fn observe(
    g: &Graph,
    item: &[Tensor],
    index: &HashMap<Value, usize>,
    acc: &mut HashMap<String, (u64, u64)>,
    seen: &mut dyn FnMut(usize, &Tensor, u64),
) -> Result<Vec<Tensor>, qweave_interp::RunError> {
    for (&v, t) in g.inputs.iter().zip(item) {
        if let Some(&i) = index.get(&v) {
            seen(i, t, 0);
        }
    }
    run_observed(g, item, &mut |op, outcome| {
        count_overflows(acc, &g.ops[op], outcome);
        for (&r, t) in g.ops[op].results.iter().zip(&outcome.outputs) {
            if let Some(&i) = index.get(&r) {
                seen(i, t, outcome.saturations);
            }
        }
    })
}

/// The ops whose saturations count for a row: the producer of the row's value, and through
/// a `q.clamp` (a folded ReLU) the requantization before it.
fn saturating_ops(g: &Graph, index: &HashMap<Value, usize>) -> HashMap<Op, usize> {
    let mut ops = HashMap::new();
    for (&v, &i) in index {
        let mut cur = g.def_op(v);
        while let Some(op) = cur {
            ops.insert(op, i);
            cur = match g.ops[op].kind {
                OpKind::QClamp(_) => g.def_op(g.ops[op].operands[0]),
                _ => None,
            };
        }
    }
    ops
}

fn has_accumulator(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::QConv(_)
            | OpKind::QMatMul(_)
            | OpKind::QSumPool(_)
            | OpKind::ConvInteger(_)
            | OpKind::MatMulInteger
            | OpKind::QLinearConv(_)
            | OpKind::QLinearMatMul(_)
            | OpKind::QGemm(_)
    )
}

/// The node name of the layer computing `v` in the hardware graph.
fn layer_node(g: &Graph, v: Value) -> String {
    g.def_op(v)
        .and_then(|op| g.ops[op].source.clone())
        .or_else(|| g.values[v].name.clone())
        .unwrap_or_default()
}

/// The op kind of the first non-quantizer op of the source graph from node `node`.
fn source_op(g: &Graph, node: &str) -> Option<String> {
    let ops: Vec<&qweave_ir::OpData> = g
        .order
        .iter()
        .map(|&op| &g.ops[op])
        .filter(|d| d.source.as_deref() == Some(node) && !matches!(d.kind, OpKind::Const(_)))
        .collect();
    let main = ops
        .iter()
        .find(|d| !matches!(d.kind, OpKind::QuantizeLinear(_) | OpKind::DequantizeLinear))
        .or(ops.first())?;
    Some(main.kind.name().to_string())
}

/// Weight and accumulator widths of the hardware ops of node `node`.
fn widths(g: &Graph, node: &str) -> (Option<u8>, Option<u8>) {
    let (mut w, mut acc) = (None, None);
    for &op in &g.order {
        let d = &g.ops[op];
        if d.source.as_deref() != Some(node) {
            continue;
        }
        if matches!(d.kind, OpKind::QConv(_) | OpKind::QMatMul(_)) {
            w = g
                .ty(d.operands[1])
                .elem
                .storage()
                .map(qweave_ir::Storage::bits)
                .max(w);
        }
        if matches!(
            d.kind,
            OpKind::QConv(_) | OpKind::QMatMul(_) | OpKind::QSumPool(_)
        ) {
            let bits = g
                .ty(d.results[0])
                .elem
                .storage()
                .map(qweave_ir::Storage::bits);
            acc = bits.max(acc);
        }
    }
    (w, acc)
}

/// A QONNX quantizer's `f32` result `t` as the stored integers of the hardware's per-tensor
/// quantized type `ty` (`t` is `(q - zp) * scale` in `f32`, so `t / scale` rounds back to `q - zp`
/// exactly; bipolar takes the sign); `t` itself when the types already agree or do not fit.
fn stored_as(t: &Tensor, ty: &TensorType) -> Tensor {
    let (Data::F32(f), Some(q)) = (&t.data, ty.elem.quant()) else {
        return t.clone();
    };
    if t.ty.shape != ty.shape || q.axis_len().is_some() {
        return t.clone();
    }
    let (scale, zp) = (f64::from(q.scale(0)), q.zero_point(0));
    let bipolar = q.storage == qweave_ir::Storage::Bipolar;
    let ints: Vec<i64> = f
        .iter()
        .map(|&y| {
            if bipolar {
                if y < 0.0 { -1 } else { 1 }
            } else {
                (f64::from(y) / scale).round_ties_even() as i64 + zp
            }
        })
        .collect();
    Tensor::new(ty.clone(), Data::Int(ints.into())).unwrap_or_else(|_| t.clone())
}

/// The real values of a tensor: `f32` as is, quantized ones dequantized as the model would.
fn real(t: &Tensor) -> Vec<f64> {
    match (&t.data, t.ty.elem) {
        (Data::F32(v), _) => v.iter().map(|&x| f64::from(x)).collect(),
        (Data::Int(v), ElemType::Quant(_)) => {
            let ty = TensorType::new(t.ty.shape.clone(), ElemType::F32);
            match qweave_interp::eval_op(&OpKind::DequantizeLinear, &[t], &[ty]) {
                Ok(o) => real(&o.outputs[0]),
                Err(_) => v.iter().map(|&x| x as f64).collect(),
            }
        }
        (Data::Int(v), _) => v.iter().map(|&x| x as f64).collect(),
    }
}

fn accumulate(s: &mut Sums, float: &[f64], got: &[f64]) {
    for (&f, &g) in float.iter().zip(got) {
        s.signal += f * f;
        s.noise += (f - g) * (f - g);
        s.max = s.max.max((f - g).abs());
    }
}

/// Elements that differ (stored integers, or float bits).
fn count_differences(a: &Tensor, b: &Tensor) -> u64 {
    match (&a.data, &b.data) {
        (Data::Int(x), Data::Int(y)) => {
            x.iter().zip(y.iter()).filter(|(p, q)| p != q).count() as u64
        }
        (Data::F32(x), Data::F32(y)) => x
            .iter()
            .zip(y.iter())
            .filter(|(p, q)| p.to_bits() != q.to_bits())
            .count() as u64,
        _ => a.ty.numel() as u64,
    }
}

/// The arg-max class of the first output when it is a `[1, classes]` score vector.
pub fn class(outputs: &[Tensor]) -> Option<usize> {
    let t = outputs.first()?;
    if t.ty.rank() != 2 || t.ty.shape[0] != 1 || t.ty.shape[1] < 2 {
        return None;
    }
    let v = real(t);
    Some(
        v.iter()
            .enumerate()
            .fold(0, |b, (i, &x)| if x > v[b] { i } else { b }),
    )
}
