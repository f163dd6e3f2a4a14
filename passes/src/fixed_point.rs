//! `fixed-point`: float ops left between quantized tensors get a 16-bit fixed-point result,
//! so that the lowering can make them integer.
//!
//! A QONNX model quantizes only some tensors; the ops between its quantizers compute in `f32`
//! (a convolution's output before a residual add, the average pool and squeeze-and-excitation
//! arithmetic between two quantizers, the logits). When every operand of such an op is
//! dequantized from integers or constant, this pass quantizes its result into `i16` with zero
//! point 0 and the scale `bound / 32767`, where `bound` is the largest magnitude the result can
//! take given its operands' ranges (interval arithmetic over the stored ranges and constant
//! weights, so the value provably fits), and makes its readers read the `dequantize_linear` of
//! that. `lower-qdq` then lowers each such op like any quantized layer. Reshape-like ops, max
//! pooling and ReLU of one dequantized operand take their operand's type, which they preserve.
//!
//! This is the one place the hardware-integer form rounds where the source does not: once per
//! such op, to 15 bits below the bound of its range. `qweave analyze` measures the effect.
//! Results read only by a quantizer (directly or through a ReLU or clip, which `lower-qdq`
//! folds into it) are left for that quantizer, and ops without an integer form (the rule
//! table below) stay in `f32`:
//!
//! | op | result range from operand ranges |
//! |---|---|
//! | `conv`, `gemm` (`alpha = beta = 1`), 2-D `matmul` with constant weights | per output channel, the sum of each weight times the end of the input range that maximizes (minimizes) it, plus the bias |
//! | `add`, `mul` | interval sum, product |
//! | `average_pool`, `global_average_pool` | the operand's (with 0 when padding counts) |
//! | `max_pool`, `reshape`, `transpose`, `resize_nearest`, `concat`, `relu`, `clip` | the operand's, clamped |
//! | `leaky_relu`, `sigmoid`, `hard_sigmoid` | the function of the operand's ends |

use crate::{Pass, PassError};
use qweave_ir::{Data, ElemType, Graph, IntType, Op, OpKind, Quant, QuantType, Storage, Value};
use std::collections::HashMap;

/// The pass.
pub struct FixedPoint;

/// Bits of the fixed-point results.
const BITS: u8 = 16;

/// A closed interval of real values.
type Range = (f64, f64);

impl Pass for FixedPoint {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let fail = |message: String| PassError::Failed {
            pass: "fixed-point",
            message,
        };
        let mut changed = false;
        let mut ranges: HashMap<Value, Range> = HashMap::new();
        for op in g.order.clone() {
            let data = &g.ops[op];
            if data.results.len() != 1 || g.ty(data.results[0]).elem != ElemType::F32 {
                continue;
            }
            let r = data.results[0];
            let dead =
                !g.outputs.contains(&r) && !g.order.iter().any(|&o| g.ops[o].operands.contains(&r));
            if !integer_form(&data.kind) || dead || read_by_quantizer(g, r) {
                continue;
            }
            let operands: Option<Vec<Range>> = data
                .operands
                .iter()
                .map(|&v| ranges.get(&v).copied().or_else(|| known_range(g, v)))
                .collect();
            let Some(operands) = operands else { continue };
            let Some(range) = result_range(g, op, &operands) else {
                continue;
            };
            let Some(elem) = result_type(g, op, range) else {
                continue;
            };
            let dv = quantize_after(g, op, elem).map_err(fail)?;
            ranges.insert(dv, range);
            changed = true;
        }
        Ok(changed)
    }
}

/// Ops `lower-qdq` has an integer form for, given dequantized operands.
fn integer_form(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Conv(_)
            | OpKind::Gemm(_)
            | OpKind::MatMul
            | OpKind::Add
            | OpKind::Mul
            | OpKind::AveragePool(_)
            | OpKind::GlobalAveragePool
            | OpKind::MaxPool(_)
            | OpKind::Reshape(_)
            | OpKind::Transpose(_)
            | OpKind::ResizeNearest(_)
            | OpKind::Concat(_)
            | OpKind::Relu
            | OpKind::Clip(_)
            | OpKind::LeakyRelu(_)
            | OpKind::Sigmoid
            | OpKind::HardSigmoid(_)
    )
}

/// True when every reader of `v` is a quantizer, or a ReLU or clip read only by quantizers:
/// the quantizer's lowering covers the op.
fn read_by_quantizer(g: &Graph, v: Value) -> bool {
    let readers: Vec<Op> = g
        .order
        .iter()
        .copied()
        .filter(|&op| g.ops[op].operands.contains(&v))
        .collect();
    let quantizer = |op: Op| {
        matches!(
            g.ops[op].kind,
            OpKind::QuantizeLinear(_) | OpKind::Quant(_) | OpKind::BipolarQuant
        )
    };
    !readers.is_empty()
        && !g.outputs.contains(&v)
        && readers.iter().all(|&op| {
            quantizer(op)
                || (matches!(g.ops[op].kind, OpKind::Relu | OpKind::Clip(_))
                    && read_by_quantizer(g, g.ops[op].results[0]))
        })
}

/// The range of a value dequantized from integers, or of a constant.
fn known_range(g: &Graph, v: Value) -> Option<Range> {
    if let Some(Data::F32(f)) = g.const_data(v) {
        let lo = f.iter().fold(f64::INFINITY, |m, &x| m.min(f64::from(x)));
        let hi = f
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
        return (lo.is_finite() && hi.is_finite()).then_some((lo, hi));
    }
    let op = g.def_op(v)?;
    let data = &g.ops[op];
    let scalar = |i: usize| match g.const_data(*data.operands.get(i)?) {
        Some(Data::F32(f)) if f.len() == 1 => Some(f64::from(f[0])),
        _ => None,
    };
    match &data.kind {
        OpKind::DequantizeLinear => Some(stored_range(g.ty(data.operands[0]).elem)),
        // A QONNX quantizer `lower-quant` has yet to lower: its levels' range.
        OpKind::Quant(a) => {
            let (s, z, bits) = (scalar(1)?, scalar(2)?, scalar(3)?);
            let (lo, hi) = if a.signed && bits == 1.0 {
                (-1.0, 1.0)
            } else if a.signed {
                (-(2f64.powf(bits - 1.0)), 2f64.powf(bits - 1.0) - 1.0)
            } else {
                (0.0, 2f64.powf(bits) - 1.0)
            };
            Some(((lo - z) * s, (hi - z) * s)).filter(|r| r.0.is_finite() && r.1.is_finite())
        }
        OpKind::BipolarQuant => scalar(1).map(|s| (-s.abs(), s.abs())),
        _ => None,
    }
}

/// The real values a quantized type can hold.
fn stored_range(elem: ElemType) -> Range {
    let Some(q) = elem.quant() else {
        return (f64::NEG_INFINITY, f64::INFINITY);
    };
    let n = q.axis_len().map_or(1, |(_, n)| n);
    let (smin, smax) = (q.storage.min(), q.storage.max());
    (0..n).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
        let (s, z) = (f64::from(q.scale(c)), q.zero_point(c));
        (lo.min((smin - z) as f64 * s), hi.max((smax - z) as f64 * s))
    })
}

/// The real values of a constant or dequantized constant.
fn weight_values(g: &Graph, v: Value) -> Option<Vec<f64>> {
    match g.const_data(v) {
        Some(Data::F32(f)) => return Some(f.iter().map(|&x| f64::from(x)).collect()),
        Some(Data::Int(_)) => return None,
        None => {}
    }
    let op = g.def_op(v)?;
    if !matches!(g.ops[op].kind, OpKind::DequantizeLinear) {
        return None;
    }
    let x = g.ops[op].operands[0];
    let Data::Int(ints) = g.const_data(x)? else {
        return None;
    };
    let t = g.ty(x);
    let q = t.elem.quant()?;
    let inner = match q.axis_len() {
        Some((axis, _)) => t.shape[axis + 1..].iter().product::<u64>() as usize,
        None => usize::MAX,
    };
    let len = q.axis_len().map_or(1, |(_, n)| n);
    Some(
        ints.iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = if inner == usize::MAX {
                    0
                } else {
                    (i / inner) % len
                };
                (v - q.zero_point(c)) as f64 * f64::from(q.scale(c))
            })
            .collect(),
    )
}

/// The range of a weighted sum per output `o` over `weights(o)`, from an input range.
fn linear_range(
    outputs: usize,
    weights: impl Fn(usize) -> Vec<f64>,
    bias: Option<&[f64]>,
    (lo, hi): Range,
) -> Range {
    (0..outputs).fold((f64::INFINITY, f64::NEG_INFINITY), |(rlo, rhi), o| {
        let b = bias.map_or(0.0, |b| b[if b.len() == 1 { 0 } else { o }]);
        let (mut a, mut z) = (b, b);
        for w in weights(o) {
            a += (w * lo).min(w * hi);
            z += (w * lo).max(w * hi);
        }
        (rlo.min(a), rhi.max(z))
    })
}

/// The range of `op`'s result given its operands' ranges, when the rule table covers it.
fn result_range(g: &Graph, op: Op, ranges: &[Range]) -> Option<Range> {
    let data = &g.ops[op];
    let union = ranges
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(lo, hi)| {
            (a.min(lo), b.max(hi))
        });
    let with_zero = |(lo, hi): Range| (lo.min(0.0), hi.max(0.0));
    let x = ranges[0];
    let bias = |i: usize| -> Option<Option<Vec<f64>>> {
        match data.operands.get(i) {
            None => Some(None),
            Some(&b) => weight_values(g, b).map(Some),
        }
    };
    let range = match &data.kind {
        OpKind::Conv(a) => {
            let w = weight_values(g, data.operands[1])?;
            let filters = g.ty(data.operands[1]).shape[0] as usize;
            let per = w.len() / filters.max(1);
            let padded = a.pads.iter().any(|&p| p > 0);
            let input = if padded { with_zero(x) } else { x };
            let b = bias(2)?;
            linear_range(
                filters,
                |m| w[m * per..(m + 1) * per].to_vec(),
                b.as_deref(),
                input,
            )
        }
        OpKind::Gemm(a) if a.alpha == 1.0 && a.beta == 1.0 && !a.trans_a => {
            let w = weight_values(g, data.operands[1])?;
            let shape = &g.ty(data.operands[1]).shape;
            let (n, k) = if a.trans_b {
                (shape[0] as usize, shape[1] as usize)
            } else {
                (shape[1] as usize, shape[0] as usize)
            };
            let column = |o: usize| -> Vec<f64> {
                if a.trans_b {
                    w[o * k..(o + 1) * k].to_vec()
                } else {
                    (0..k).map(|i| w[i * n + o]).collect()
                }
            };
            let b = bias(2)?;
            linear_range(n, column, b.as_deref(), x)
        }
        OpKind::MatMul if g.ty(data.operands[1]).rank() == 2 => {
            let w = weight_values(g, data.operands[1])?;
            let shape = &g.ty(data.operands[1]).shape;
            let (k, n) = (shape[0] as usize, shape[1] as usize);
            linear_range(n, |o| (0..k).map(|i| w[i * n + o]).collect(), None, x)
        }
        OpKind::Add => (ranges[0].0 + ranges[1].0, ranges[0].1 + ranges[1].1),
        OpKind::Mul => {
            let (a, b) = (ranges[0], ranges[1]);
            let p = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
            (
                p.iter().copied().fold(f64::INFINITY, f64::min),
                p.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        }
        OpKind::AveragePool(a) if a.count_include_pad && a.pads.iter().any(|&p| p > 0) => {
            with_zero(x)
        }
        OpKind::AveragePool(_)
        | OpKind::GlobalAveragePool
        | OpKind::MaxPool(_)
        | OpKind::Reshape(_)
        | OpKind::Transpose(_)
        | OpKind::ResizeNearest(_)
        | OpKind::Concat(_) => union,
        OpKind::Relu => (x.0.max(0.0), x.1.max(0.0)),
        OpKind::Clip(c) => {
            let (lo, hi) = (f64::from(c.min), f64::from(c.max));
            (x.0.clamp(lo, hi), x.1.clamp(lo, hi))
        }
        OpKind::LeakyRelu(a) if a.alpha >= 0.0 => {
            let f = |v: f64| if v >= 0.0 { v } else { v * f64::from(a.alpha) };
            (f(x.0), f(x.1))
        }
        OpKind::Sigmoid | OpKind::HardSigmoid(_) => (0.0, 1.0),
        _ => return None,
    };
    (range.0.is_finite() && range.1.is_finite() && range.0 <= range.1).then_some(range)
}

/// The quantized type of `op`'s fixed-point result: its operand's type for ops that keep it,
/// else `i16` with zero point 0 covering `range`.
fn result_type(g: &Graph, op: Op, range: Range) -> Option<ElemType> {
    let data = &g.ops[op];
    let keeps = matches!(
        data.kind,
        OpKind::MaxPool(_)
            | OpKind::Reshape(_)
            | OpKind::Transpose(_)
            | OpKind::ResizeNearest(_)
            | OpKind::Relu
    );
    if keeps {
        let elem = g
            .def_op(data.operands[0])
            .filter(|&d| matches!(g.ops[d].kind, OpKind::DequantizeLinear))
            .map(|d| g.ty(g.ops[d].operands[0]).elem)?;
        if elem.quant().is_some_and(|q| q.axis_len().is_none()) {
            return Some(elem);
        }
    }
    let bound = range.0.abs().max(range.1.abs());
    let int = IntType::signed(BITS);
    let scale = (bound / int.max() as f64) as f32;
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    // Round the scale up so that `bound / scale` stays within the storage.
    let scale = if f64::from(scale) * (int.max() as f64) < bound {
        f32::from_bits(scale.to_bits() + 1)
    } else {
        scale
    };
    let q = QuantType::per_tensor(Storage::Int(int), scale, 0);
    Some(ElemType::Quant(Quant::intern(q)))
}

/// Quantizes `op`'s result into `elem` right after it and makes its readers read the
/// dequantized value; returns that value.
fn quantize_after(g: &mut Graph, op: Op, elem: ElemType) -> Result<Value, String> {
    let r = g.ops[op].results[0];
    let source = g.ops[op].source.clone();
    let (q, dq) = crate::lowering::detached_qdq(g, r, elem, source);
    let (qv, dv) = (g.ops[q].results[0], g.ops[dq].results[0]);
    let pos = g
        .order
        .iter()
        .position(|&o| o == op)
        .ok_or("the op is not scheduled")?;
    g.order.insert(pos + 1, q);
    g.order.insert(pos + 2, dq);
    let name = g.values[r].name.clone();
    if g.outputs.contains(&dv) {
        g.values[dv].name = g.values[r].name.take();
        g.values[r].name = name.as_ref().map(|n| format!("{n}.float"));
    } else {
        g.values[dv].name = name.as_ref().map(|n| format!("{n}.dq"));
    }
    g.values[qv].name = name.map(|n| format!("{n}.q"));
    Ok(dv)
}
