//! Matrix products: MatMul and Gemm.

use super::op;
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::OpKind;
use qweave_ir::ops::GemmAttrs;

/// The matrix-product importers.
pub const OPS: &[OpDef] = &[op(Onnx, "MatMul", matmul, any), op(Onnx, "Gemm", gemm, any)];

fn matmul(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let (a, b) = (ctx.ir(node, 0)?, ctx.ir(node, 1)?);
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::MatMul,
        vec![a, b],
    )?)])
}

fn gemm(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let attrs = GemmAttrs {
        alpha: node.float_or("alpha", 1.0)?,
        beta: node.float_or("beta", 1.0)?,
        trans_a: node.int_or("transA", 0)? != 0,
        trans_b: node.int_or("transB", 0)? != 0,
    };
    let mut operands = vec![ctx.ir(node, 0)?, ctx.ir(node, 1)?];
    operands.extend(ctx.opt_ir(node, 2)?);
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Gemm(attrs),
        operands,
    )?)])
}
