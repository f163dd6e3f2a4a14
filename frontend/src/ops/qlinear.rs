//! QOperator models: ONNX QLinearConv and QLinearMatMul, and the com.microsoft ops
//! onnxruntime's quantizer emits (QLinearAdd, QLinearMul, QLinearGlobalAveragePool,
//! QLinearAveragePool, QGemm, QLinearConcat, QLinearLeakyRelu, QLinearSigmoid).

use super::conv::conv_attrs;
use super::pool::pool_window;
use super::quant::{quant_type, quantized};
use super::{check_auto_pad, op};
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{
    Domain::{Microsoft, Onnx},
    OpDef, any,
};
use qweave_ir::ops::{
    OutAttrs, QAvgPoolAttrs, QConcatAttrs, QGemmAttrs, QLeakyReluAttrs, QLinearConvAttrs,
    TransposeAttrs,
};
use qweave_ir::{ElemType, IntType, OpKind, Storage, Value};

/// The QOperator importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "QLinearConv", qlinear_conv, check_auto_pad),
    op(Onnx, "QLinearMatMul", qlinear_matmul, any),
    op(Microsoft, "QLinearAdd", |c, n| binary(c, n, true), any),
    op(Microsoft, "QLinearMul", |c, n| binary(c, n, false), any),
    op(
        Microsoft,
        "QLinearGlobalAveragePool",
        global_average_pool,
        any,
    ),
    op(
        Microsoft,
        "QLinearAveragePool",
        average_pool,
        check_auto_pad,
    ),
    op(Microsoft, "QGemm", qgemm, any),
    op(Microsoft, "QLinearConcat", concat, any),
    op(Microsoft, "QLinearLeakyRelu", leaky_relu, any),
    op(Microsoft, "QLinearSigmoid", sigmoid, any),
];

/// The result type given by scale input `scale` and zero-point input `zp` (uint8 without one).
fn out_type(
    ctx: &Ctx,
    node: &Node<'_>,
    scale: usize,
    zp: usize,
    shape: &[u64],
) -> Result<ElemType, String> {
    let (s, z) = (ctx.host(node, scale)?, ctx.opt_host(node, zp)?);
    quant_type(
        &s,
        z.as_deref(),
        0,
        shape,
        Storage::Int(IntType::unsigned(8)),
    )
}

fn qlinear_conv(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let g = conv_attrs(ctx, node, 0, 3)?;
    let out = out_type(ctx, node, 6, 7, &[])?;
    let x = quantized(ctx, node, 0, 1, 2, 1)?;
    let w = quantized(ctx, node, 3, 4, 5, 0)?;
    let mut operands = vec![x, w];
    operands.extend(ctx.opt_ir(node, 8)?);
    let attrs = QLinearConvAttrs {
        strides: g.strides,
        pads: g.pads,
        dilations: g.dilations,
        group: g.group,
        out,
    };
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearConv(attrs),
        operands,
    )?)])
}

fn qlinear_matmul(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let out = out_type(ctx, node, 6, 7, &[])?;
    let b_rank = ctx.shape(node, 3)?.len() as i64;
    let a = quantized(ctx, node, 0, 1, 2, 1)?;
    let b = quantized(ctx, node, 3, 4, 5, b_rank - 1)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearMatMul(OutAttrs { out }),
        vec![a, b],
    )?)])
}

fn binary(ctx: &mut Ctx, node: &Node<'_>, add: bool) -> Result<Outputs, String> {
    let out = out_type(ctx, node, 6, 7, &[])?;
    let a = quantized(ctx, node, 0, 1, 2, 1)?;
    let b = quantized(ctx, node, 3, 4, 5, 1)?;
    let kind = if add {
        OpKind::QLinearAdd(OutAttrs { out })
    } else {
        OpKind::QLinearMul(OutAttrs { out })
    };
    Ok(vec![Val::Ir(ctx.build(node, kind, vec![a, b])?)])
}

/// Runs `f` on input 0 in NCHW, transposing in and out when the node says `channels_last`.
fn nchw(
    ctx: &mut Ctx,
    node: &Node<'_>,
    x: Value,
    f: impl FnOnce(&mut Ctx, Value) -> Result<Value, String>,
) -> Result<Outputs, String> {
    if node.int_or("channels_last", 0)? == 0 {
        return Ok(vec![Val::Ir(f(ctx, x)?)]);
    }
    let rank = ctx.graph.ty(x).rank() as u64;
    let to_first: Vec<u64> = [0, rank - 1].into_iter().chain(1..rank - 1).collect();
    let to_last: Vec<u64> = [0].into_iter().chain(2..rank).chain([1]).collect();
    let t = ctx.build(
        node,
        OpKind::Transpose(TransposeAttrs { perm: to_first }),
        vec![x],
    )?;
    let y = f(ctx, t)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Transpose(TransposeAttrs { perm: to_last }),
        vec![y],
    )?)])
}

fn global_average_pool(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let out = out_type(ctx, node, 3, 4, &[])?;
    let x = quantized(ctx, node, 0, 1, 2, 1)?;
    nchw(ctx, node, x, |c, x| {
        c.build(
            node,
            OpKind::QLinearGlobalAveragePool(OutAttrs { out }),
            vec![x],
        )
    })
}

fn average_pool(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    if node.int_or("channels_last", 0)? != 0 {
        return Err("channels_last QLinearAveragePool is not supported".into());
    }
    let w = pool_window(ctx, node)?;
    let out = out_type(ctx, node, 3, 4, &[])?;
    let x = quantized(ctx, node, 0, 1, 2, 1)?;
    let attrs = QAvgPoolAttrs {
        kernel: w.kernel,
        strides: w.strides,
        pads: w.pads,
        ceil_mode: node.int_or("ceil_mode", 0)? != 0,
        count_include_pad: node.int_or("count_include_pad", 0)? != 0,
        out,
    };
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearAveragePool(attrs),
        vec![x],
    )?)])
}

fn qgemm(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let trans_b = node.int_or("transB", 0)? != 0;
    let out = if ctx.has_input(node, 7) {
        out_type(ctx, node, 7, 8, &[])?
    } else {
        ElemType::F32
    };
    let a = quantized(ctx, node, 0, 1, 2, 1)?;
    let b = quantized(ctx, node, 3, 4, 5, if trans_b { 0 } else { 1 })?;
    let mut operands = vec![a, b];
    operands.extend(ctx.opt_ir(node, 6)?);
    let attrs = QGemmAttrs {
        alpha: node.float_or("alpha", 1.0)?,
        trans_a: node.int_or("transA", 0)? != 0,
        trans_b,
        out,
    };
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QGemm(attrs),
        operands,
    )?)])
}

/// QLinearConcat: inputs are `y_scale, y_zp` then `(x, x_scale, x_zp)` per operand.
fn concat(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let n = node.num_inputs();
    if n < 5 || !(n - 2).is_multiple_of(3) {
        return Err(format!(
            "{n} inputs; QLinearConcat takes y_scale, y_zero_point and triples"
        ));
    }
    let out = out_type(ctx, node, 0, 1, &[])?;
    let rank = ctx.shape(node, 2)?.len();
    let axis = super::axis(
        node.int("axis")?.ok_or("attribute 'axis' is required")?,
        rank,
    )?;
    let operands = (2..n)
        .step_by(3)
        .map(|i| quantized(ctx, node, i, i + 1, i + 2, 1))
        .collect::<Result<Vec<_>, _>>()?;
    let attrs = QConcatAttrs {
        axis: axis as u64,
        out,
    };
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearConcat(attrs),
        operands,
    )?)])
}

fn leaky_relu(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let out = out_type(ctx, node, 3, 4, &[])?;
    let x = quantized(ctx, node, 0, 1, 2, 1)?;
    let attrs = QLeakyReluAttrs {
        alpha: node.float_or("alpha", 0.01)?,
        out,
    };
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearLeakyRelu(attrs),
        vec![x],
    )?)])
}

fn sigmoid(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let out = out_type(ctx, node, 3, 4, &[])?;
    let x = quantized(ctx, node, 0, 1, 2, 1)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QLinearSigmoid(OutAttrs { out }),
        vec![x],
    )?)])
}
