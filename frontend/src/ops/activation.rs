//! Activations: Relu, Clip, LeakyRelu, PRelu, Sigmoid, HardSigmoid, HardSwish.

use super::op;
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::OpKind;
use qweave_ir::ops::{ClipAttrs, HardSigmoidAttrs, LeakyReluAttrs};

/// The activation importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "Relu", |c, n| unary(c, n, OpKind::Relu), any),
    op(Onnx, "Sigmoid", |c, n| unary(c, n, OpKind::Sigmoid), any),
    op(
        Onnx,
        "HardSwish",
        |c, n| unary(c, n, OpKind::HardSwish),
        any,
    ),
    op(Onnx, "Clip", clip, any),
    op(Onnx, "LeakyRelu", leaky_relu, any),
    op(Onnx, "HardSigmoid", hard_sigmoid, any),
    op(Onnx, "PRelu", prelu, any),
];

fn unary(ctx: &mut Ctx, node: &Node<'_>, kind: OpKind) -> Result<Outputs, String> {
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(node, kind, vec![x])?)])
}

/// Clip: bounds are attributes before opset 11 and optional constant inputs from 11 on.
fn clip(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let (min, max) = if node.opset < 11 {
        (
            node.float_or("min", f32::NEG_INFINITY)?,
            node.float_or("max", f32::INFINITY)?,
        )
    } else {
        let bound = |i: usize, default: f32| -> Result<f32, String> {
            match ctx.opt_host(node, i)? {
                None => Ok(default),
                Some(t) => t
                    .scalar_f32()
                    .ok_or_else(|| format!("input {i} must hold one value")),
            }
        };
        (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
    };
    unary(ctx, node, OpKind::Clip(ClipAttrs { min, max }))
}

fn leaky_relu(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let alpha = node.float_or("alpha", 0.01)?;
    unary(ctx, node, OpKind::LeakyRelu(LeakyReluAttrs { alpha }))
}

fn hard_sigmoid(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let (alpha, beta) = (node.float_or("alpha", 0.2)?, node.float_or("beta", 0.5)?);
    unary(
        ctx,
        node,
        OpKind::HardSigmoid(HardSigmoidAttrs { alpha, beta }),
    )
}

/// PRelu; before opset 7 a 1-D slope runs along the channel axis.
fn prelu(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let (x, mut slope) = (ctx.ir(node, 0)?, ctx.ir(node, 1)?);
    let (rank, s) = (ctx.graph.ty(x).rank(), ctx.graph.ty(slope).shape.clone());
    if node.opset < 7 && s.len() == 1 && s[0] > 1 && rank > 2 {
        let mut dims = s;
        dims.extend(std::iter::repeat_n(1, rank - 2));
        let kind = OpKind::Reshape(qweave_ir::ops::ReshapeAttrs { shape: dims });
        slope = ctx.build(node, kind, vec![slope])?;
    }
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::PRelu,
        vec![x, slope],
    )?)])
}
