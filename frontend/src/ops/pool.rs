//! Pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.

use super::{check_auto_pad, op, unsigned, window};
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::OpKind;
use qweave_ir::ops::{AvgPoolAttrs, MaxPoolAttrs};

/// The pooling importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "MaxPool", max_pool, check_max_pool),
    op(Onnx, "AveragePool", average_pool, check_auto_pad),
    op(
        Onnx,
        "GlobalAveragePool",
        |c, n| global(c, n, OpKind::GlobalAveragePool),
        any,
    ),
    op(
        Onnx,
        "GlobalMaxPool",
        |c, n| global(c, n, OpKind::GlobalMaxPool),
        any,
    ),
];

fn check_max_pool(node: &Node<'_>) -> Result<(), String> {
    check_auto_pad(node)
}

/// Kernel, strides, pads and dilations of a pool over input 0.
pub fn pool_window(ctx: &Ctx, node: &Node<'_>) -> Result<super::Window, String> {
    let shape = ctx.shape(node, 0)?;
    if shape.len() < 3 {
        return Err(format!("the input {shape:?} is not [N, C, spatial...]"));
    }
    let kernel = node
        .ints("kernel_shape")?
        .ok_or("attribute 'kernel_shape' is required")?;
    window(node, &shape[2..], unsigned(&kernel, "kernel_shape")?)
}

fn max_pool(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let w = pool_window(ctx, node)?;
    let attrs = MaxPoolAttrs {
        kernel: w.kernel,
        strides: w.strides,
        pads: w.pads,
        dilations: w.dilations,
        ceil_mode: node.int_or("ceil_mode", 0)? != 0,
    };
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::MaxPool(attrs),
        vec![x],
    )?)])
}

fn average_pool(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let w = pool_window(ctx, node)?;
    let attrs = AvgPoolAttrs {
        kernel: w.kernel,
        strides: w.strides,
        pads: w.pads,
        dilations: w.dilations,
        ceil_mode: node.int_or("ceil_mode", 0)? != 0,
        count_include_pad: node.int_or("count_include_pad", 0)? != 0,
    };
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::AveragePool(attrs),
        vec![x],
    )?)])
}

fn global(ctx: &mut Ctx, node: &Node<'_>, kind: OpKind) -> Result<Outputs, String> {
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(node, kind, vec![x])?)])
}
