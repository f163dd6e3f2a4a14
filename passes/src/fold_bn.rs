//! `fold-bn`: folds an inference-mode BatchNormalization into the convolution before it.
//!
//! `batch_norm(conv(x, w, b))` with constant statistics is `conv(x, w * a, (b - mean) * a +
//! beta)` per output channel `m`, with `a[m] = gamma[m] / sqrt(var[m] + epsilon)` in `f32` as
//! the op computes it. Float weights are scaled element by element. Quantized weights behind
//! a `dequantize_linear` keep their integers: `a[m]` moves into the per-filter scale (a
//! negative `a[m]` negates the filter's integers, which needs zero point 0 and the negated
//! values in range), so the lowering passes still see integer weights at their true width.
//! The conv must have no other user. The folded form computes in a different order, so it
//! agrees with the original up to `f32` rounding; the accuracy analysis measures the effect.
//! BatchNorms that do not follow such a conv stay.

use crate::{Pass, PassError};
use qweave_ir::{Data, ElemType, Graph, Op, OpKind, Quant, QuantType, TensorType, Value};
use std::collections::HashSet;

/// The pass.
pub struct FoldBn;

impl Pass for FoldBn {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let uses = g.uses();
        let mut folded = HashSet::new();
        for op in g.order.clone() {
            let OpKind::BatchNorm(attrs) = &g.ops[op].kind else {
                continue;
            };
            let eps = attrs.epsilon;
            let operands = g.ops[op].operands.clone();
            let Some(conv) = g.def_op(operands[0]) else {
                continue;
            };
            if !matches!(g.ops[conv].kind, OpKind::Conv(_)) || uses[operands[0]].len() != 1 {
                continue;
            }
            let stats: Option<Vec<Vec<f32>>> =
                operands[1..].iter().map(|&v| floats(g, v)).collect();
            let Some(stats) = stats else { continue };
            let (gamma, beta, mean, var) = (&stats[0], &stats[1], &stats[2], &stats[3]);
            let a: Vec<f32> = gamma
                .iter()
                .zip(var)
                .map(|(&s, &v)| s / (v + eps).sqrt())
                .collect();
            let conv_operands = g.ops[conv].operands.clone();
            let Some(w) = scaled_weights(g, conv, conv_operands[1], &a) else {
                continue;
            };
            let bias: Vec<f32> = match conv_operands.get(2) {
                Some(&b) => match floats(g, b) {
                    Some(b) => b,
                    None => continue,
                },
                None => vec![0.0; a.len()],
            };
            let folded_bias: Vec<f32> = (0..a.len())
                .map(|m| (bias[m] - mean[m]) * a[m] + beta[m])
                .collect();
            let source = g.ops[conv].source.clone();
            let bt = TensorType::new(vec![a.len() as u64], ElemType::F32);
            let b = g.detached_op(
                OpKind::Const(Data::F32(folded_bias.into())),
                vec![],
                vec![bt],
                source,
            );
            g.insert_before(conv, b);
            let b = g.ops[b].results[0];
            g.ops[conv].operands = vec![conv_operands[0], w, b];
            let (old, new) = (g.ops[op].results[0], g.ops[conv].results[0]);
            // The folded conv computes what the BatchNorm did: it takes its name.
            if g.values[old].name.is_some() {
                g.values[new].name = g.values[old].name.take();
            }
            g.replace_uses(old, new);
            folded.insert(op);
        }
        g.retain(|_, op| !folded.contains(&op));
        Ok(!folded.is_empty())
    }
}

/// The `f32` data of a constant.
fn floats(g: &Graph, v: Value) -> Option<Vec<f32>> {
    match g.const_data(v)? {
        Data::F32(f) => Some(f.to_vec()),
        Data::Int(_) => None,
    }
}

/// Inserts before `conv` the weights `w` scaled by `a[m]` per filter: a new float constant,
/// or new integers and per-filter scales behind a new `dequantize_linear`.
fn scaled_weights(g: &mut Graph, conv: Op, w: Value, a: &[f32]) -> Option<Value> {
    let wt = g.ty(w).clone();
    let filters = wt.shape[0] as usize;
    if filters != a.len() || filters == 0 {
        return None;
    }
    let per = wt.numel() / filters;
    let source = g.ops[conv].source.clone();
    if let Some(f) = floats(g, w) {
        let scaled: Vec<f32> = f.iter().enumerate().map(|(i, &v)| v * a[i / per]).collect();
        let op = g.detached_op(
            OpKind::Const(Data::F32(scaled.into())),
            vec![],
            vec![wt],
            source,
        );
        g.insert_before(conv, op);
        return Some(g.ops[op].results[0]);
    }
    let dq = g.def_op(w)?;
    if !matches!(g.ops[dq].kind, OpKind::DequantizeLinear) {
        return None;
    }
    let q = g.ops[dq].operands[0];
    let Data::Int(ints) = g.const_data(q)?.clone() else {
        return None;
    };
    let qt = g.ty(q).clone();
    let params = qt.elem.quant()?;
    if params.axis_len().is_some_and(|(axis, _)| axis != 0) {
        return None;
    }
    let mut scales = Vec::with_capacity(filters);
    let mut zps = Vec::with_capacity(filters);
    let mut out = ints.to_vec();
    for m in 0..filters {
        let (s, zp) = (params.scale(m), params.zero_point(m));
        if a[m] < 0.0 {
            if zp != 0 {
                return None;
            }
            for v in &mut out[m * per..(m + 1) * per] {
                *v = -*v;
                if !params.storage.contains(*v) {
                    return None;
                }
            }
        }
        scales.push(s * a[m].abs());
        zps.push(zp);
    }
    let elem = ElemType::Quant(Quant::intern(QuantType::per_axis(
        params.storage,
        0,
        scales,
        zps,
    )));
    let ty = TensorType::new(wt.shape.clone(), elem);
    let k = g.detached_op(
        OpKind::Const(Data::Int(out.into())),
        vec![],
        vec![ty],
        source.clone(),
    );
    g.insert_before(conv, k);
    let k = g.ops[k].results[0];
    let d = g.detached_op(OpKind::DequantizeLinear, vec![k], vec![wt], source);
    g.insert_before(conv, d);
    Some(g.ops[d].results[0])
}
