//! `lower-qdq`: the QuantizeLinear/DequantizeLinear (QDQ) patterns around float ops to exact
//! integer `q` ops.
//!
//! A QDQ model computes each layer in `f32` on dequantized operands and quantizes the result:
//! `y = quantize_linear(f(dequantize_linear(x), ...))`. Each such `quantize_linear` whose
//! operand comes from a recognized `f` with dequantized operands is replaced by integer ops on
//! the stored integers, with the same result type:
//!
//! | `f` | q level |
//! |---|---|
//! | `conv` (bias dequantized or `f32`) | `q.conv` (i32) + `q.requantize` per output channel |
//! | `gemm` (`alpha = beta = 1`, constant `b`), 2-D `matmul` | `q.matmul` (i32) + `q.requantize` per column |
//! | `add` | rescaled residual add: `q.requantize` (shift 0) of each operand + `q.add` (i32) + `q.requantize` |
//! | `mul` | `q.mul` (i32) + `q.requantize` |
//! | `mul` or `add` by a constant varying at most per channel, `batch_norm` | `q.requantize` per channel (shift 0, i32) + `q.add` of the offsets (i32) + `q.requantize` by one shift |
//! | `global_average_pool`, `average_pool` with one divisor for every window | `q.sum_pool` (i32) + `q.requantize` |
//! | `max_pool` | `q.max_pool` (+ `q.requantize` when the types differ) |
//! | `concat` | `q.requantize` of each operand whose type differs + `concat` |
//! | `reshape`, `transpose`, `resize_nearest` | the same op on integers (+ `q.requantize` when the types differ) |
//! | `relu` with equal types | `q.clamp` at the zero point |
//! | a chain of `relu`, `clip`, `leaky_relu`, `sigmoid`, `hard_sigmoid`, `hard_swish` | `q.lut` of the whole chain; from an input wider than 8 bits, `q.multi_threshold` at the steps of a monotone chain |
//!
//! A `relu` or `clip` between a conv, gemm, matmul, add or mul and its `quantize_linear` (the
//! quantizer usually folds it into the zero point) becomes a `q.clamp` of the requantized
//! result at the quantized bounds: quantization is monotonic, so `Q(clip(y)) =
//! clamp(Q(y), Q(lo), Q(hi))` exactly.
//!
//! Multipliers are the real ratios of the scales (computed in `f32`) represented exactly as
//! `multiplier / 2^shift` and rounded half to even once, where the source computes in `f32`
//! with a rounding at every step; the two can differ by one step at values near a rounding
//! boundary, which `qweave analyze` counts per layer. Lookup tables are computed by the
//! interpreter from the dequantize, the chain and the quantize, so they are exact. A bias
//! whose scale is not exactly `scale_x * scale_w[m]` is rescaled to it once, rounded half to
//! even. Patterns outside the table stay at the onnx level.

use crate::biased_sums::{accumulate, bias};
use crate::lowering::{ACC, Builder, scales, tensor_params};
use crate::{Pass, PassError, describe_op};
use qweave_ir::binding::Map;
use qweave_ir::ops::{AccAttrs, ClampAttrs, ConvAttrs, OutAttrs, QConvAttrs};
use qweave_ir::text::Names;
use qweave_ir::{Data, ElemType, Graph, OpKind, RoundingMode, Tensor, TensorType, Value};
use std::collections::HashSet;

/// The pass.
pub struct LowerQdq;

impl Pass for LowerQdq {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let names = Names::new(g);
        let mut lowered = HashSet::new();
        for op in g.order.clone() {
            let OpKind::QuantizeLinear(OutAttrs { out }) = g.ops[op].kind else {
                continue;
            };
            let y = g.ops[op].operands[0];
            let mut b = Builder {
                g,
                before: op,
                source: None,
                rounding: RoundingMode::HalfEven,
            };
            let new =
                lower(&mut b, y, &Target::linear(out)).map_err(|message| PassError::Failed {
                    pass: "lower-qdq",
                    message: format!("{}: {message}", describe_op(b.g, &names, op)),
                })?;
            if let Some(new) = new {
                let old = g.ops[op].results[0];
                g.values[new].name = g.values[old].name.take();
                g.replace_uses(old, new);
                lowered.insert(op);
            }
        }
        g.retain(|_, op| !lowered.contains(&op));
        Ok(!lowered.is_empty())
    }
}

/// A quantizer's computation of stored integers from an `f32` tensor.
pub(crate) type Quantizer = Box<dyn Fn(&Tensor) -> Result<Tensor, String>>;

/// The quantizer ending a pattern: its result type, and how it maps a float tensor to stored
/// integers (which the lowered form must reproduce).
pub(crate) struct Target {
    /// The stored result type.
    pub out: ElemType,
    /// How the quantizer rounds.
    pub rounding: RoundingMode,
    /// Stored bounds inside the storage's range (a narrow range), when it has them.
    pub bounds: Option<(i64, i64)>,
    /// The quantizer's own computation of stored integers from an `f32` tensor; `None` for
    /// `quantize_linear` into `out`.
    pub quantize: Option<Quantizer>,
}

impl Target {
    /// `quantize_linear` into `out`.
    pub(crate) fn linear(out: ElemType) -> Target {
        Target {
            out,
            rounding: RoundingMode::HalfEven,
            bounds: None,
            quantize: None,
        }
    }

    /// `values` quantized as the target's quantizer does.
    fn quantize_values(&self, values: &[f32]) -> Result<Vec<i64>, String> {
        let n = values.len() as u64;
        let x = Tensor::new(
            TensorType::new(vec![n], ElemType::F32),
            Data::F32(values.into()),
        )?;
        let t = match &self.quantize {
            Some(f) => f(&x)?,
            None => {
                let kind = OpKind::QuantizeLinear(OutAttrs { out: self.out });
                let types = [TensorType::new(vec![n], self.out)];
                let outcome =
                    qweave_interp::eval_op(&kind, &[&x], &types).map_err(|e| e.to_string())?;
                outcome.outputs.into_iter().next().ok_or("no result")?
            }
        };
        match t.data {
            Data::Int(v) => Ok(v.to_vec()),
            _ => Err("the quantizer gave no integers".into()),
        }
    }
}

/// The stored integers `x` when `v = dequantize_linear(x)`.
pub(crate) fn dequantized(g: &Graph, v: Value) -> Option<Value> {
    let op = g.def_op(v)?;
    match g.ops[op].kind {
        OpKind::DequantizeLinear => Some(g.ops[op].operands[0]),
        _ => None,
    }
}

/// The stored integers of `v` when it is dequantized from a per-tensor quantized tensor.
fn activation(g: &Graph, v: Value) -> Option<Value> {
    let x = dequantized(g, v)?;
    let q = g.ty(x).elem.quant()?;
    q.axis_len().is_none().then_some(x)
}

/// The op defining `v`, with its kind and operands.
fn producer(g: &Graph, v: Value) -> Option<(OpKind, Vec<Value>)> {
    let op = g.def_op(v)?;
    Some((g.ops[op].kind.clone(), g.ops[op].operands.clone()))
}

/// Elementwise activations a lookup table can stand for.
fn tabulable(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Relu
            | OpKind::Clip(_)
            | OpKind::LeakyRelu(_)
            | OpKind::Sigmoid
            | OpKind::HardSigmoid(_)
            | OpKind::HardSwish
    )
}

/// The integer replacement of the quantization of `y` by `target`, or `None`.
pub(crate) fn lower(
    b: &mut Builder<'_>,
    y: Value,
    target: &Target,
) -> Result<Option<Value>, String> {
    let out = target.out;
    let per_tensor = out.quant().is_some_and(|q| q.axis_len().is_none());
    if !per_tensor {
        return Ok(None);
    }
    b.rounding = target.rounding;
    if let Some(table) = chain(b, y, target)? {
        return Ok(Some(table));
    }
    let Some((kind, operands)) = producer(b.g, y) else {
        return Ok(None);
    };
    // A clamp folded between the layer and its quantization.
    let (inner, bounds) = match &kind {
        OpKind::Relu => (operands[0], Some((0.0, f32::INFINITY))),
        OpKind::Clip(c) => (operands[0], Some((c.min, c.max))),
        _ => (y, None),
    };
    let (inner, bounds) = match bounds {
        Some(bounds) => (inner, bounds),
        None => (y, (f32::NEG_INFINITY, f32::INFINITY)),
    };
    let Some(r) = layer(b, inner, out)? else {
        return Ok(None);
    };
    clamp(b, r, bounds, target).map(Some)
}

/// `quantize_linear(f(x))` for a chain `f` of tabulable activations from a dequantized narrow
/// tensor, as one `q.lut` (or a `q.clamp` for a lone `relu` between equal types).
fn chain(b: &mut Builder<'_>, y: Value, target: &Target) -> Result<Option<Value>, String> {
    let out = target.out;
    let mut kinds = Vec::new();
    let mut v = y;
    let x = loop {
        if let Some(x) = activation(b.g, v) {
            break x;
        }
        match producer(b.g, v) {
            Some((kind, operands)) if tabulable(&kind) => {
                kinds.push(kind);
                v = operands[0];
            }
            _ => return Ok(None),
        }
    };
    if kinds.is_empty() {
        return Ok(None);
    }
    kinds.reverse();
    b.source = b.g.def_op(y).and_then(|op| b.g.ops[op].source.clone());
    let xt = b.g.ty(x).clone();
    if kinds == [OpKind::Relu] && xt.elem == out && target.quantize.is_none() {
        let (_, zp) = tensor_params(&xt, "x")?;
        let s = out.storage().ok_or("the result is not an integer")?;
        let attrs = ClampAttrs {
            min: zp.max(s.min()),
            max: s.max(),
        };
        return b.emit(OpKind::QClamp(attrs), vec![x]).map(Some);
    }
    let mut ops = vec![OpKind::DequantizeLinear];
    ops.extend(kinds);
    match &target.quantize {
        Some(f) => b.table(x, &ops, Some(f.as_ref())).map(Some),
        None => {
            ops.push(OpKind::QuantizeLinear(OutAttrs { out }));
            b.table(x, &ops, None).map(Some)
        }
    }
}

/// `q.clamp` of the quantized `r` at `Q(lo)` and `Q(hi)` (within the target's own bounds),
/// dropped when it cannot clamp.
fn clamp(
    b: &mut Builder<'_>,
    r: Value,
    (lo, hi): (f32, f32),
    target: &Target,
) -> Result<Value, String> {
    let mut bounds = target.quantize_values(&[lo, hi])?;
    if let Some((min, max)) = target.bounds {
        bounds = vec![bounds[0].max(min), bounds[1].min(max)];
    }
    let s = target.out.storage().ok_or("the result is not an integer")?;
    if bounds[0] <= s.min() && bounds[1] >= s.max() {
        return Ok(r);
    }
    let attrs = ClampAttrs {
        min: bounds[0],
        max: bounds[1],
    };
    b.emit(OpKind::QClamp(attrs), vec![r])
}

/// The integer form of the layer computing `y`, quantized into `out`, or `None`.
fn layer(b: &mut Builder<'_>, y: Value, out: ElemType) -> Result<Option<Value>, String> {
    let Some((kind, operands)) = producer(b.g, y) else {
        return Ok(None);
    };
    // The integer ops stand for the layer: they carry its node's name.
    b.source = b.g.def_op(y).and_then(|op| b.g.ops[op].source.clone());
    let sy = out.quant().map_or(1.0, |q| q.scale(0));
    let acts: Vec<Option<Value>> = operands.iter().map(|&v| activation(b.g, v)).collect();
    let scale = |b: &Builder<'_>, v: Value| tensor_params(b.g.ty(v), "operand").map(|p| p.0);
    match (&kind, acts.as_slice()) {
        (OpKind::Conv(a), [Some(x), ..]) => conv(b, a, *x, &operands, out),
        (OpKind::Gemm(a), [Some(x), ..])
            if a.alpha == 1.0 && a.beta == 1.0 && !a.trans_a && b.g.ty(*x).rank() == 2 =>
        {
            matmul(b, *x, &operands, a.trans_b, out)
        }
        (OpKind::MatMul, [Some(x), _]) if b.g.ty(*x).rank() == 2 => {
            matmul(b, *x, &operands, false, out)
        }
        (OpKind::Add, [Some(x0), Some(x1)]) => {
            let ratios = [scale(b, *x0)? / sy, scale(b, *x1)? / sy];
            b.rescaled_add(*x0, *x1, ratios, out).map(Some)
        }
        (OpKind::Mul, [Some(x0), Some(x1)]) => {
            let ratio = scale(b, *x0)? * scale(b, *x1)? / sy;
            b.product(*x0, *x1, ratio, out).map(Some)
        }
        // a per-channel scale or shift by constants (a batch norm split into mul and add)
        (OpKind::Mul | OpKind::Add, [Some(x), None] | [None, Some(x)]) => {
            let k = usize::from(acts[0].is_some());
            let Some(c) = per_channel(b.g, *x, operands[k]) else {
                return Ok(None);
            };
            let (a, s) = if kind == OpKind::Mul {
                (c, vec![0.0])
            } else {
                (vec![1.0], c)
            };
            b.affine(*x, (scale(b, *x)?, sy), &a, &s, out).map(Some)
        }
        (OpKind::BatchNorm(attrs), [Some(x), None, None, None, None]) => {
            // batch-norm parameters are vectors along the channel axis
            let channels = b.g.ty(*x).shape.get(1).copied().unwrap_or(1) as usize;
            let params: Option<Vec<Vec<f32>>> = operands[1..]
                .iter()
                .map(|&v| {
                    let d = b.g.const_data(v)?.as_f32()?;
                    (d.len() == channels || d.len() == 1).then(|| d.to_vec())
                })
                .collect();
            let Some([gamma, beta, mean, var]) = params.as_deref() else {
                return Ok(None);
            };
            let at = |v: &[f32], c: usize| v[if v.len() == 1 { 0 } else { c }];
            let a: Vec<f32> = (0..channels)
                .map(|c| at(gamma, c) / (at(var, c) + attrs.epsilon).sqrt())
                .collect();
            let s: Vec<f32> = (0..channels)
                .map(|c| at(beta, c) - at(mean, c) * a[c])
                .collect();
            b.affine(*x, (scale(b, *x)?, sy), &a, &s, out).map(Some)
        }
        (OpKind::GlobalAveragePool, [Some(x)]) => {
            let ratio = scale(b, *x)? / sy;
            b.global_average(*x, ratio, out).map(Some)
        }
        (OpKind::AveragePool(a), [Some(x)]) => {
            let ratio = scale(b, *x)? / sy;
            b.average(*x, a, ratio, out)
        }
        (OpKind::MaxPool(a), [Some(x)]) => {
            let m = b.emit(OpKind::QMaxPool(a.clone()), vec![*x])?;
            retyped(b, m, out).map(Some)
        }
        (OpKind::Reshape(_) | OpKind::Transpose(_) | OpKind::ResizeNearest(_), [Some(x)]) => {
            let r = b.emit(kind.clone(), vec![*x])?;
            retyped(b, r, out).map(Some)
        }
        (OpKind::Concat(a), _) if acts.iter().all(Option::is_some) => {
            let xs: Vec<Value> = acts.iter().flatten().copied().collect();
            b.concat(&xs, a.axis, out).map(Some)
        }
        _ => Ok(None),
    }
}

/// The values of the float constant `v` when it varies at most along the channel axis (1) of
/// `x` under numpy broadcasting: one value, or one per channel.
fn per_channel(g: &Graph, x: Value, v: Value) -> Option<Vec<f32>> {
    let values = g.const_data(v)?.as_f32()?.to_vec();
    let (xs, vs) = (&g.ty(x).shape, &g.ty(v).shape);
    if vs.len() > xs.len() || xs.len() < 2 {
        return None;
    }
    let lead = xs.len() - vs.len();
    for (i, &d) in vs.iter().enumerate() {
        let axis = lead + i;
        if d != 1 && !(axis == 1 && d == xs[1]) {
            return None;
        }
    }
    Some(values)
}

/// `r` requantized into `out` when its type differs.
fn retyped(b: &mut Builder<'_>, r: Value, out: ElemType) -> Result<Value, String> {
    let rt = b.g.ty(r).clone();
    if rt.elem == out {
        return Ok(r);
    }
    let (sr, _) = tensor_params(&rt, "the operand")?;
    let sy = out.quant().map_or(1.0, |q| q.scale(0));
    let points = Builder::fixed(&[sr / sy])?;
    b.requantize(r, &points, if rt.rank() > 1 { 1 } else { 0 }, out)
}

/// The constant stored integers of a dequantized weight.
fn weight(b: &Builder<'_>, v: Value) -> Option<Value> {
    let w = dequantized(b.g, v)?;
    b.g.const_data(w)?;
    Some(w)
}

/// `conv(dequantize(x), dequantize(w), bias?)` as `q.conv` + `q.requantize`.
fn conv(
    b: &mut Builder<'_>,
    a: &ConvAttrs,
    x: Value,
    operands: &[Value],
    out: ElemType,
) -> Result<Option<Value>, String> {
    let Some(w) = weight(b, operands[1]) else {
        return Ok(None);
    };
    let wt = b.g.ty(w).clone();
    let per_filter_axis = wt
        .elem
        .quant()
        .is_some_and(|q| q.axis_len().is_none_or(|(axis, _)| axis == 0));
    if !per_filter_axis {
        return Ok(None);
    }
    let (sx, _) = tensor_params(b.g.ty(x), "x")?;
    let filters = wt.shape[0] as usize;
    let acc_scales: Vec<f32> = scales(&wt, filters)?.iter().map(|&sw| sx * sw).collect();
    let bias = match operands.get(2) {
        Some(&bv) => match bias(b, bv, &acc_scales) {
            Some(c) => Some(c),
            None => return Ok(None),
        },
        None => None,
    };
    let attrs = QConvAttrs {
        strides: a.strides.clone(),
        pads: a.pads.clone(),
        dilations: a.dilations.clone(),
        group: a.group,
        acc: ACC,
        map: Map::None,
    };
    accumulate(
        b,
        OpKind::QConv(attrs),
        (x, w, 0),
        bias.as_ref(),
        &acc_scales,
        out,
    )
    .map(Some)
}

/// `gemm`/`matmul` of a dequantized `[M, K]` activation by a dequantized constant (`[N, K]`
/// when `trans_b`, else `[K, N]`) as `q.matmul` + `q.requantize`.
fn matmul(
    b: &mut Builder<'_>,
    x: Value,
    operands: &[Value],
    trans_b: bool,
    out: ElemType,
) -> Result<Option<Value>, String> {
    let Some(w) = weight(b, operands[1]) else {
        return Ok(None);
    };
    if b.g.ty(w).rank() != 2 {
        return Ok(None);
    }
    let w = if trans_b {
        match b.transposed_constant(w) {
            Some(t) => t,
            None => return Ok(None),
        }
    } else {
        w
    };
    let wt = b.g.ty(w).clone();
    let per_column = wt
        .elem
        .quant()
        .is_some_and(|q| q.axis_len().is_none_or(|(axis, _)| axis == 1));
    if !per_column {
        return Ok(None);
    }
    let (sx, _) = tensor_params(b.g.ty(x), "a")?;
    let n = wt.shape[1] as usize;
    let acc_scales: Vec<f32> = scales(&wt, n)?.iter().map(|&sw| sx * sw).collect();
    let bias = match operands.get(2) {
        Some(&bv) if b.g.ty(bv).rank() == 1 => match bias(b, bv, &acc_scales) {
            Some(c) => Some(c),
            None => return Ok(None),
        },
        Some(_) => return Ok(None),
        None => None,
    };
    let kind = OpKind::QMatMul(AccAttrs {
        acc: ACC,
        map: Map::None,
    });
    accumulate(b, kind, (x, w, 1), bias.as_ref(), &acc_scales, out).map(Some)
}
