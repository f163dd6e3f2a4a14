//! Normalizations: BatchNormalization (inference), LRN, Softmax.

use super::{axis, op};
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::OpKind;
use qweave_ir::ops::{AxisAttrs, BatchNormAttrs, LrnAttrs, ReshapeAttrs};

/// The normalization importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "BatchNormalization", batch_norm, check_batch_norm),
    op(Onnx, "LRN", lrn, any),
    op(Onnx, "Softmax", softmax, any),
];

fn check_batch_norm(node: &Node<'_>) -> Result<(), String> {
    if node.int_or("training_mode", 0)? != 0 {
        return Err("training mode is not supported (export the model for inference)".into());
    }
    if node.opset < 9 && node.int_or("spatial", 1)? == 0 {
        return Err("spatial=0 (per-activation statistics) is not supported".into());
    }
    Ok(())
}

fn batch_norm(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let epsilon = node.float_or("epsilon", 1e-5)?;
    let operands = (0..5)
        .map(|i| ctx.ir(node, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::BatchNorm(BatchNormAttrs { epsilon }),
        operands,
    )?)])
}

fn lrn(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let size = node.int("size")?.ok_or("attribute 'size' is required")?;
    let size = u64::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or("attribute 'size' must be positive")?;
    let attrs = LrnAttrs {
        size,
        alpha: node.float_or("alpha", 1e-4)?,
        beta: node.float_or("beta", 0.75)?,
        bias: node.float_or("bias", 1.0)?,
    };
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Lrn(attrs),
        vec![x],
    )?)])
}

/// Softmax: from opset 13 along one axis (default -1); before, over the flattened trailing
/// axes from `axis` (default 1), which becomes a reshape around a softmax on axis 1.
fn softmax(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let x = ctx.ir(node, 0)?;
    let default = if node.opset >= 13 { -1 } else { 1 };
    let ax = axis(node.int_or("axis", default)?, shape.len())?;
    if node.opset >= 13 || ax + 1 == shape.len() {
        let kind = OpKind::Softmax(AxisAttrs { axis: ax as u64 });
        return Ok(vec![Val::Ir(ctx.build(node, kind, vec![x])?)]);
    }
    let rows: u64 = shape[..ax].iter().product();
    let cols: u64 = shape[ax..].iter().product();
    let flat = ctx.build(
        node,
        OpKind::Reshape(ReshapeAttrs {
            shape: vec![rows, cols],
        }),
        vec![x],
    )?;
    let soft = ctx.build(node, OpKind::Softmax(AxisAttrs { axis: 1 }), vec![flat])?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Reshape(ReshapeAttrs { shape }),
        vec![soft],
    )?)])
}
