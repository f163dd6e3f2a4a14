//! QONNX and FINN custom ops: Quant, BipolarQuant, Trunc (versions 1 and 2) and MultiThreshold.

use super::op;
use crate::context::{Ctx, Outputs, Val};
use crate::node::Node;
use crate::registry::{Domain::Qonnx, OpDef, any};
use qweave_ir::ops::{MultiThresholdAttrs, QonnxQuantAttrs, TruncAttrs};
use qweave_ir::{OpKind, RoundingMode};

/// The QONNX importers.
pub const OPS: &[OpDef] = &[
    op(Qonnx, "Quant", quant, check_rounding),
    op(Qonnx, "IntQuant", quant, check_rounding),
    op(Qonnx, "BipolarQuant", bipolar_quant, any),
    op(Qonnx, "Trunc", trunc, check_rounding),
    op(
        Qonnx,
        "MultiThreshold",
        multi_threshold,
        check_multi_threshold,
    ),
];

/// QONNX rounding mode names (case-insensitive), with their meaning in qweave's terms.
fn rounding(node: &Node<'_>, default: &str) -> Result<RoundingMode, String> {
    let mode = node.string_or("rounding_mode", default)?;
    Ok(match mode.to_uppercase().as_str() {
        "ROUND" | "HALF_EVEN" => RoundingMode::HalfEven,
        "CEIL" => RoundingMode::Ceil,
        "FLOOR" => RoundingMode::Floor,
        "UP" => RoundingMode::Away,
        "DOWN" => RoundingMode::TowardZero,
        "HALF_UP" => RoundingMode::HalfAway,
        "HALF_DOWN" => RoundingMode::HalfTowardZero,
        other => return Err(format!("rounding_mode '{other}' is not a QONNX mode")),
    })
}

fn check_rounding(node: &Node<'_>) -> Result<(), String> {
    let default = if node.op_type() == "Trunc" {
        "FLOOR"
    } else {
        "ROUND"
    };
    rounding(node, default).map(|_| ())
}

fn flag(node: &Node<'_>, name: &str, default: i64) -> Result<bool, String> {
    Ok(node.int_or(name, default)? != 0)
}

fn operands(ctx: &mut Ctx, node: &Node<'_>, n: usize) -> Result<Vec<qweave_ir::Value>, String> {
    (0..n).map(|i| ctx.ir(node, i)).collect()
}

fn quant(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let attrs = QonnxQuantAttrs {
        signed: flag(node, "signed", 1)?,
        narrow: flag(node, "narrow", 0)?,
        rounding: rounding(node, "ROUND")?,
    };
    let x = operands(ctx, node, 4)?;
    Ok(vec![Val::Ir(ctx.build(node, OpKind::Quant(attrs), x)?)])
}

fn bipolar_quant(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let x = operands(ctx, node, 2)?;
    Ok(vec![Val::Ir(ctx.build(node, OpKind::BipolarQuant, x)?)])
}

/// Trunc: version 1 (5 inputs) before the domain's opset 2, version 2 (6 inputs) from it.
fn trunc(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let attrs = TruncAttrs {
        signed: flag(node, "signed", 1)?,
        narrow: flag(node, "narrow", 0)?,
        rounding: rounding(node, "FLOOR")?,
    };
    let v2 = node.opset >= 2 && node.num_inputs() >= 6;
    let x = operands(ctx, node, if v2 { 6 } else { 5 })?;
    let kind = if v2 {
        OpKind::Trunc(attrs)
    } else {
        OpKind::TruncV1(attrs)
    };
    Ok(vec![Val::Ir(ctx.build(node, kind, x)?)])
}

fn check_multi_threshold(node: &Node<'_>) -> Result<(), String> {
    match node.string_or("data_layout", "NCHW")?.as_str() {
        "NCHW" | "NHWC" | "NC" => Ok(()),
        other => Err(format!("data_layout '{other}' is not supported")),
    }
}

fn multi_threshold(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let rank = ctx.shape(node, 0)?.len() as u64;
    let axis = if node.string_or("data_layout", "NCHW")? == "NHWC" {
        rank - 1
    } else {
        1
    };
    let attrs = MultiThresholdAttrs {
        axis,
        out_scale: node.float_or("out_scale", 1.0)?,
        out_bias: node.float_or("out_bias", 0.0)?,
    };
    let x = operands(ctx, node, 2)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::MultiThreshold(attrs),
        x,
    )?)])
}
