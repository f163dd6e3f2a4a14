//! Convolution: Conv (1-D to 3-D, groups and depthwise, dilations, asymmetric pads, auto_pad).

use super::{check_auto_pad, op, window};
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef};
use qweave_ir::OpKind;
use qweave_ir::ops::ConvAttrs;

/// The convolution importers.
pub const OPS: &[OpDef] = &[op(Onnx, "Conv", conv, check_auto_pad)];

/// The geometry of a Conv-like node whose input is operand `x` and weight operand `w`.
pub fn conv_attrs(ctx: &Ctx, node: &Node<'_>, x: usize, w: usize) -> Result<ConvAttrs, String> {
    let (xs, ws) = (ctx.shape(node, x)?, ctx.shape(node, w)?);
    if xs.len() < 3 || ws.len() != xs.len() {
        return Err(format!(
            "input {xs:?} and weight {ws:?} are not [N, C, spatial...] and [M, C/group, kernel...]"
        ));
    }
    let kernel = ws[2..].to_vec();
    if let Some(k) = node.ints("kernel_shape")?
        && k.iter().map(|&v| v as u64).ne(kernel.iter().copied())
    {
        return Err(format!(
            "kernel_shape {k:?} disagrees with the weight's shape {ws:?}"
        ));
    }
    let win = window(node, &xs[2..], kernel)?;
    let group = node.int_or("group", 1)?;
    let group = u64::try_from(group)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| format!("group {group} must be positive"))?;
    Ok(ConvAttrs {
        strides: win.strides,
        pads: win.pads,
        dilations: win.dilations,
        group,
    })
}

fn conv(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let attrs = conv_attrs(ctx, node, 0, 1)?;
    let mut operands = vec![ctx.ir(node, 0)?, ctx.ir(node, 1)?];
    operands.extend(ctx.opt_ir(node, 2)?);
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Conv(attrs),
        operands,
    )?)])
}
