//! Post-training quantization: a float graph and calibration inputs to a QDQ graph (integer
//! weights behind `dequantize_linear`, a `quantize_linear`/`dequantize_linear` pair on every
//! activation), which the `lower` pipeline turns into exact integer ops.
//!
//! The float graph is first simplified (`fold-constants,fold-bn,dce`, and a `matmul` plus a
//! constant bias `add` becomes one `gemm`). Each activation is quantized where the integer
//! form needs it: graph inputs and op results, except a result only a `relu` or `clip` reads
//! (the quantizer after the activation covers both, as `q.clamp`). Reshapes, transposes,
//! nearest resizes and max pools keep their operand's quantization, so they stay moves of
//! integers. An activation's width is the widest its readers ask for (the `a` of their bit
//! rules; a graph output also takes its producer's), its range comes from [`Calibration`]
//! and its type is unsigned, zero point 0 for non-negative ranges, asymmetric otherwise.
//! Weights of conv, gemm and matmul layers are symmetric `i<w>` (bipolar for 1 bit), per
//! tensor or per output channel; biases stay `f32` and lowering rescales them into the
//! accumulator once.

mod bias;
mod calibrate;
mod rules;
mod weights;

pub use calibrate::{Calibration, Params};
pub use rules::{BitRules, Bits};

use crate::{Pipeline, PipelineOptions};
use qweave_ir::ops::GemmAttrs;
use qweave_ir::{Data, ElemType, Graph, Op, OpKind, Quant, QuantType, Tensor, Value};
use std::collections::{HashMap, HashSet};

/// What `quantize` does.
#[derive(Clone, Debug)]
pub struct PtqOptions {
    /// Widths per layer.
    pub bits: BitRules,
    /// How activation ranges are chosen (`Mse` also searches each weight channel's clipping).
    pub calibration: Calibration,
    /// One weight scale per output channel rather than per tensor.
    pub per_channel: bool,
    /// Move the mean output shift that weight quantization causes into each layer's bias.
    pub bias_correction: bool,
}

/// How one layer's weights were quantized.
#[derive(Clone, Debug)]
pub struct WeightReport {
    /// The layer's node name.
    pub layer: String,
    /// Its op.
    pub op: &'static str,
    /// Weight width (1 = bipolar).
    pub bits: u8,
    /// Number of scales (1 per tensor, else one per output channel).
    pub scales: usize,
}

/// How one activation was quantized.
#[derive(Clone, Debug)]
pub struct ActivationReport {
    /// The activation's name.
    pub name: String,
    /// The range calibration chose.
    pub range: (f32, f32),
    /// The resulting parameters.
    pub params: Params,
}

/// The quantized graph and what was chosen.
pub struct Quantized {
    /// The QDQ graph (onnx level), verified.
    pub graph: Graph,
    /// Per weighted layer, in order.
    pub weights: Vec<WeightReport>,
    /// Per quantized activation, in order.
    pub activations: Vec<ActivationReport>,
}

/// Quantizes the float graph `src` with calibration `items` (one input list per item).
pub fn quantize(
    src: &Graph,
    items: &[Vec<Tensor>],
    opts: &PtqOptions,
) -> Result<Quantized, String> {
    if items.is_empty() {
        return Err("the calibration data holds no items".into());
    }
    let mut g = src.clone();
    check_float(&g)?;
    let prepare = Pipeline::parse("fold-constants,fold-bn,dce").map_err(|e| e.to_string())?;
    prepare
        .run(&mut g, PipelineOptions { verify_each: true }, |_, _| {})
        .map_err(|e| e.to_string())?;
    crate::fuse_bias::fuse(&mut g)?;

    let layers: Vec<Op> = g
        .order
        .iter()
        .copied()
        .filter(|&op| weight_axis(&g, op).is_some())
        .collect();
    let known: HashSet<&str> = g
        .order
        .iter()
        .filter_map(|&op| g.ops[op].source.as_deref())
        .collect();
    if let Some(bad) = opts.bits.names().find(|n| !known.contains(n)) {
        let names: Vec<&str> = layers
            .iter()
            .filter_map(|&op| g.ops[op].source.as_deref())
            .collect();
        return Err(format!(
            "bit rule names '{bad}', which is no node of the model (layers with weights: {})",
            names.join(", ")
        ));
    }
    let op_bits: HashMap<Op, Bits> = g
        .order
        .iter()
        .map(|&op| {
            let (first, last) = (layers.first() == Some(&op), layers.last() == Some(&op));
            (
                op,
                opts.bits
                    .for_layer(g.ops[op].source.as_deref(), first, last),
            )
        })
        .collect();
    let bits_of = |op: Op| op_bits[&op];

    // Which values get quantized, the group (root) whose parameters each shares, and widths.
    let uses = g.uses();
    let outputs: HashSet<Value> = g.outputs.iter().copied().collect();
    let mut acts: Vec<Value> = g.inputs.clone();
    let mut root: HashMap<Value, Value> = g.inputs.iter().map(|&v| (v, v)).collect();
    for &op in &g.order {
        if matches!(g.ops[op].kind, OpKind::Const(_)) {
            continue;
        }
        for &r in &g.ops[op].results {
            let users = &uses[r];
            let fused = users
                .iter()
                .all(|&u| matches!(g.ops[u].kind, OpKind::Relu | OpKind::Clip(_)));
            if !outputs.contains(&r) && (users.is_empty() || fused) {
                continue;
            }
            let from = g.ops[op]
                .operands
                .first()
                .and_then(|x| root.get(x))
                .copied();
            let shared = if keeps_quantization(&g.ops[op].kind) {
                from
            } else {
                None
            };
            root.insert(r, shared.unwrap_or(r));
            acts.push(r);
        }
    }
    let mut width: HashMap<Value, u8> = HashMap::new();
    for &v in &acts {
        let mut w = uses[v].iter().map(|&u| bits_of(u).a).max().unwrap_or(0);
        if outputs.contains(&v)
            && let Some(op) = g.def_op(v)
        {
            w = w.max(bits_of(op).a);
        }
        // The index of a lookup-table activation: internal to its layer, at the table's width.
        let indexes = !uses[v].is_empty() && uses[v].iter().all(|&u| table_index(&g.ops[u].kind));
        if indexes {
            w = w.max(TABLE_BITS);
        }
        let e = width.entry(root[&v]).or_insert(1);
        *e = (*e).max(w);
    }
    let roots: Vec<Value> = acts.iter().copied().filter(|v| root[v] == *v).collect();
    let stats = calibrate::observe(&g, &acts, items, opts.calibration)?;
    let input_means: HashMap<Op, Vec<f64>> = layers
        .iter()
        .filter_map(|&op| {
            let s = stats.get(g.ops[op].operands[0]).as_ref()?;
            Some((op, s.channel_means()))
        })
        .collect();
    let mut params: HashMap<Value, (ElemType, (f32, f32), Params)> = HashMap::new();
    for &v in &roots {
        let s = stats
            .get(v)
            .as_ref()
            .ok_or("a calibrated value has no statistics")?;
        let range = s.range(opts.calibration, width[&v]);
        let p = Params::for_range(range.0, range.1, width[&v]).ok_or_else(|| {
            format!(
                "no quantization covers the range {range:?} of '{}'",
                name(&g, v)
            )
        })?;
        let qt = QuantType::per_tensor(p.storage, p.scale, p.zero_point);
        params.insert(v, (ElemType::Quant(Quant::intern(qt)), range, p));
    }

    // The rewrite: a new schedule with the quantizers after their values, weights before
    // their layers.
    let mut rw = Rewrite {
        names: g
            .values
            .iter()
            .filter_map(|(_, d)| d.name.clone())
            .collect(),
        order: Vec::with_capacity(g.order.len() * 2),
        activations: Vec::new(),
        params,
        root,
        outputs,
    };
    for v in g.inputs.clone() {
        if rw.root.contains_key(&v) {
            rw.pair(&mut g, v);
        }
    }
    let mut weight_reports = Vec::new();
    let mut done: HashMap<Value, (Value, Vec<f32>)> = HashMap::new();
    for op in g.order.clone() {
        if let Some(axis) = weight_axis(&g, op) {
            let w = g.ops[op].operands[1];
            let bits = bits_of(op).w;
            let (dv, wq) = match done.get(&w) {
                Some(d) => d.clone(),
                None => {
                    let d = quantized_weight(&mut g, &mut rw, op, w, axis, bits, opts);
                    done.insert(w, d.clone());
                    d
                }
            };
            if opts.bias_correction
                && let Some(means) = input_means.get(&op)
            {
                correct_bias(&mut g, &mut rw, op, &wq, means);
            }
            g.ops[op].operands[1] = dv;
            let channels = g.ty(w).shape[axis] as usize;
            weight_reports.push(WeightReport {
                layer: g.ops[op].source.clone().unwrap_or_default(),
                op: g.ops[op].kind.name(),
                bits,
                scales: if opts.per_channel { channels } else { 1 },
            });
        }
        rw.order.push(op);
        for r in g.ops[op].results.clone() {
            if rw.root.contains_key(&r) {
                rw.pair(&mut g, r);
            }
        }
    }
    g.order = rw.order;
    let cleanup = Pipeline::parse("dce").map_err(|e| e.to_string())?;
    cleanup
        .run(&mut g, PipelineOptions { verify_each: true }, |_, _| {})
        .map_err(|e| e.to_string())?;
    Ok(Quantized {
        graph: g,
        weights: weight_reports,
        activations: rw.activations,
    })
}

/// The state of the rewrite: the new schedule and the names in use.
struct Rewrite {
    names: HashSet<String>,
    order: Vec<Op>,
    activations: Vec<ActivationReport>,
    params: HashMap<Value, (ElemType, (f32, f32), Params)>,
    root: HashMap<Value, Value>,
    outputs: HashSet<Value>,
}

impl Rewrite {
    /// Schedules `quantize_linear` and `dequantize_linear` of `v` and makes every reader of
    /// `v` read the dequantized value instead.
    fn pair(&mut self, g: &mut Graph, v: Value) {
        let (elem, range, p) = self.params[&self.root[&v]];
        let base = name(g, v);
        self.activations.push(ActivationReport {
            name: base.clone(),
            range,
            params: p,
        });
        let source = g.def_op(v).and_then(|op| g.ops[op].source.clone());
        let (q, dq) = crate::lowering::detached_qdq(g, v, elem, source);
        let (qv, dv) = (g.ops[q].results[0], g.ops[dq].results[0]);
        g.values[qv].name = Some(self.fresh(&format!("{base}.q")));
        if self.outputs.contains(&v) {
            g.values[dv].name = g.values[v].name.take();
            g.values[v].name = Some(self.fresh(&format!("{base}.float")));
        } else {
            g.values[dv].name = Some(self.fresh(&format!("{base}.dq")));
        }
        self.order.extend([q, dq]);
    }

    /// `want`, or `want` with a numeric suffix when another value has that name.
    fn fresh(&mut self, want: &str) -> String {
        let mut candidate = want.to_string();
        let mut n = 1;
        while self.names.contains(&candidate) {
            candidate = format!("{want}{n}");
            n += 1;
        }
        self.names.insert(candidate.clone());
        candidate
    }
}

/// Inserts the integer weights of layer `op` (its operand `w`) and their dequantize into
/// `order`; returns the dequantized value and its real values.
fn quantized_weight(
    g: &mut Graph,
    rw: &mut Rewrite,
    op: Op,
    w: Value,
    axis: usize,
    bits: u8,
    opts: &PtqOptions,
) -> (Value, Vec<f32>) {
    let wt = g.ty(w).clone();
    let values = g
        .const_data(w)
        .and_then(Data::as_f32)
        .unwrap_or_default()
        .to_vec();
    let q = weights::quantize(
        &values,
        &wt.shape,
        opts.per_channel.then_some(axis),
        bits,
        opts.calibration == Calibration::Mse,
    );
    // The real weights, exactly as the model's dequantize_linear computes them.
    let real = Tensor::new(wt.with_elem(q.elem), Data::Int(q.ints.clone().into()))
        .ok()
        .and_then(|stored| {
            let dq = OpKind::DequantizeLinear;
            qweave_interp::eval_op(&dq, &[&stored], std::slice::from_ref(&wt)).ok()
        })
        .and_then(|o| o.outputs[0].data.as_f32().map(<[f32]>::to_vec))
        .unwrap_or(values);
    let source = g.ops[op].source.clone();
    let k = g.detached_op(
        OpKind::Const(Data::Int(q.ints.into())),
        vec![],
        vec![wt.with_elem(q.elem)],
        source.clone(),
    );
    let kv = g.ops[k].results[0];
    let d = g.detached_op(OpKind::DequantizeLinear, vec![kv], vec![wt], source);
    let dv = g.ops[d].results[0];
    let base = name(g, w);
    g.values[kv].name = Some(rw.fresh(&format!("{base}.q")));
    g.values[dv].name = g.values[w].name.take();
    rw.order.extend([k, d]);
    (dv, real)
}

/// Adds to the bias of layer `op` the output shift of its quantized weights `wq` (see
/// [`bias`]), creating the bias (and turning a matmul into a gemm) when there is none.
fn correct_bias(g: &mut Graph, rw: &mut Rewrite, op: Op, wq: &[f32], means: &[f64]) {
    let w = g.ops[op].operands[1];
    let Some(Data::F32(values)) = g.const_data(w) else {
        return;
    };
    let layout = match &g.ops[op].kind {
        OpKind::Conv(a) => bias::Layout::Conv {
            group: a.group as usize,
        },
        OpKind::Gemm(a) if a.trans_b => bias::Layout::RowsOut,
        _ => bias::Layout::ColumnsOut,
    };
    let shape = g.ty(w).shape.clone();
    let Some(shift) = bias::shift(layout, &shape, values, wq, means) else {
        return;
    };
    let n = shift.len();
    let old = match g.ops[op].operands.get(2) {
        Some(&b) => match g.const_data(b) {
            Some(Data::F32(v)) if v.len() == n && g.ty(b).rank() == 1 => v.to_vec(),
            _ => return,
        },
        None => vec![0.0; n],
    };
    let corrected: Vec<f32> = old.iter().zip(&shift).map(|(b, s)| b + s).collect();
    let ty = qweave_ir::TensorType::new(vec![n as u64], ElemType::F32);
    let source = g.ops[op].source.clone();
    let k = g.detached_op(
        OpKind::Const(Data::F32(corrected.into())),
        vec![],
        vec![ty],
        source,
    );
    let kv = g.ops[k].results[0];
    let base = g.ops[op].source.clone().unwrap_or_else(|| "layer".into());
    g.values[kv].name = Some(rw.fresh(&format!("{base}.bias")));
    rw.order.push(k);
    if matches!(g.ops[op].kind, OpKind::MatMul) {
        g.ops[op].kind = OpKind::Gemm(GemmAttrs {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        });
    }
    match g.ops[op].operands.get_mut(2) {
        Some(b) => *b = kv,
        None => g.ops[op].operands.push(kv),
    }
}

/// The output-channel axis of the constant weights of a conv, gemm or 2-D matmul layer.
fn weight_axis(g: &Graph, op: Op) -> Option<usize> {
    let data = &g.ops[op];
    let w = *data.operands.get(1)?;
    if !matches!(g.const_data(w), Some(Data::F32(_))) {
        return None;
    }
    match &data.kind {
        OpKind::Conv(_) => Some(0),
        OpKind::Gemm(a) if !a.trans_a && a.alpha == 1.0 && a.beta == 1.0 => {
            Some(if a.trans_b { 0 } else { 1 })
        }
        OpKind::MatMul if g.ty(w).rank() == 2 && g.ty(data.operands[0]).rank() == 2 => Some(1),
        _ => None,
    }
}

/// Width of the index of a lookup-table activation.
const TABLE_BITS: u8 = 8;

/// Elementwise activations lowered to a lookup table (`relu` and `clip` fold into the
/// quantizer instead).
fn table_index(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::LeakyRelu(_) | OpKind::Sigmoid | OpKind::HardSigmoid(_) | OpKind::HardSwish
    )
}

/// Ops whose result keeps its operand's quantization (integer moves and selections).
fn keeps_quantization(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Reshape(_) | OpKind::Transpose(_) | OpKind::ResizeNearest(_) | OpKind::MaxPool(_)
    )
}

/// The value's name, or a placeholder.
fn name(g: &Graph, v: Value) -> String {
    g.values[v].name.clone().unwrap_or_else(|| "value".into())
}

/// An error naming the first op that already computes with integers or quantizers.
fn check_float(g: &Graph) -> Result<(), String> {
    for &v in &g.inputs {
        if !g.ty(v).elem.is_float() {
            return Err(format!(
                "input '{}' is {}: qweave quantize takes a float model",
                name(g, v),
                g.ty(v).elem
            ));
        }
    }
    for &op in &g.order {
        let data = &g.ops[op];
        if matches!(data.kind, OpKind::Const(_)) {
            continue;
        }
        let integer = data.results.iter().any(|&r| !g.ty(r).elem.is_float());
        let quantizer = matches!(
            data.kind,
            OpKind::Quant(_) | OpKind::BipolarQuant | OpKind::Trunc(_)
        );
        if integer || quantizer {
            let node = data.source.as_deref().unwrap_or("(unnamed)");
            return Err(format!(
                "the model is already quantized ({} at node '{node}'): qweave quantize takes a float model; run it with `qweave run --level q` or `qweave analyze` instead",
                data.kind.name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
