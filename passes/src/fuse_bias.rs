//! `fuse-bias`: a matmul followed by the addition of a constant bias becomes one gemm.
//!
//! `add(matmul(x, W), b)` (either operand order) with a 2-D `x`, a constant `W` `[K, N]` —
//! plain, or the `dequantize_linear` of constant integers — and a constant `b` `[N]`, the
//! matmul used only by the add, becomes `gemm(x, W, b)`: one layer with a bias, which the
//! quantizer calibrates once and the lowering turns into one integer matmul with its bias in
//! the accumulator. Exporters (PyTorch's `Linear` through `MatMul` + `Add`, QONNX) split the
//! two. The gemm computes `x * W + b` as the two ops do, so the result is unchanged.

use crate::{Pass, PassError};
use qweave_ir::ops::GemmAttrs;
use qweave_ir::{Graph, OpKind, Value};
use std::collections::HashSet;

/// The pass.
pub struct FuseBias;

impl Pass for FuseBias {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        fuse(g).map_err(|message| PassError::Failed {
            pass: "fuse-bias",
            message,
        })
    }
}

/// True when `w` is constant, or dequantized from constant integers.
fn constant_weight(g: &Graph, w: Value) -> bool {
    if g.const_data(w).is_some() {
        return true;
    }
    g.def_op(w).is_some_and(|op| {
        matches!(g.ops[op].kind, OpKind::DequantizeLinear)
            && g.const_data(g.ops[op].operands[0]).is_some()
    })
}

/// Fuses every fitting pair; whether any was.
pub(crate) fn fuse(g: &mut Graph) -> Result<bool, String> {
    let uses = g.uses();
    let mut dead = HashSet::new();
    for op in g.order.clone() {
        if !matches!(g.ops[op].kind, OpKind::Add) {
            continue;
        }
        let [a, b] = g.ops[op].operands[..] else {
            continue;
        };
        let is_matmul = |v: Value| {
            g.def_op(v)
                .filter(|&p| matches!(g.ops[p].kind, OpKind::MatMul))
        };
        let (m, bias) = match (is_matmul(a), is_matmul(b)) {
            (Some(p), _) if g.const_data(b).is_some() => (p, b),
            (_, Some(p)) if g.const_data(a).is_some() => (p, a),
            _ => continue,
        };
        let mv = g.ops[m].results[0];
        let [x, w] = g.ops[m].operands[..] else {
            continue;
        };
        let n = g.ty(mv).shape.last().copied();
        let fits = uses[mv].len() == 1
            && !g.outputs.contains(&mv)
            && g.ty(x).rank() == 2
            && g.ty(w).rank() == 2
            && constant_weight(g, w)
            && g.ty(bias).shape.as_slice() == [n.unwrap_or(0)];
        if !fits {
            continue;
        }
        let kind = OpKind::Gemm(GemmAttrs {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        });
        let types = g.infer_types(&kind, &[x, w, bias])?;
        if types[0] != *g.ty(g.ops[op].results[0]) {
            continue;
        }
        let source = g.ops[m].source.clone();
        let gemm = g.detached_op(kind, vec![x, w, bias], types, source);
        g.insert_before(op, gemm);
        let (old, new) = (g.ops[op].results[0], g.ops[gemm].results[0]);
        g.values[new].name = g.values[old].name.take();
        g.replace_uses(old, new);
        dead.extend([op, m]);
    }
    g.retain(|_, op| !dead.contains(&op));
    Ok(!dead.is_empty())
}
