//! Elementwise arithmetic: Add, Sub, Mul, Div, Sum, Max, Min.
//!
//! Float operands become IR ops (variadic Sum, Max and Min become left-to-right chains, which
//! is the order onnxruntime evaluates them in). Integer operands known at import time — shape
//! arithmetic in exported graphs — are computed on the host.

use super::op;
use crate::context::{Ctx, Outputs, Val};
use crate::host::{HostData, HostTensor};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::OpKind;
use std::rc::Rc;

/// The arithmetic importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "Add", |c, n| binary(c, n, &OpKind::Add), any),
    op(Onnx, "Sub", |c, n| binary(c, n, &OpKind::Sub), any),
    op(Onnx, "Mul", |c, n| binary(c, n, &OpKind::Mul), any),
    op(Onnx, "Div", |c, n| binary(c, n, &OpKind::Div), any),
    op(Onnx, "Sum", |c, n| binary(c, n, &OpKind::Add), any),
    op(Onnx, "Max", |c, n| binary(c, n, &OpKind::Max), any),
    op(Onnx, "Min", |c, n| binary(c, n, &OpKind::Min), any),
];

fn host_int(ctx: &Ctx, node: &Node<'_>) -> Option<Vec<Rc<HostTensor>>> {
    (0..node.num_inputs())
        .map(|i| {
            ctx.is_host(node, i)
                .then(|| ctx.host(node, i).ok())
                .flatten()
        })
        .map(|t| t.filter(|t| t.as_ints().is_some()))
        .collect()
}

fn binary(ctx: &mut Ctx, node: &Node<'_>, kind: &OpKind) -> Result<Outputs, String> {
    if node.num_inputs() == 0 {
        return Err("needs at least one input".into());
    }
    if let Some(ints) = host_int(ctx, node) {
        let mut acc = (*ints[0]).clone();
        for t in &ints[1..] {
            acc = host_binary(kind, &acc, t)?;
        }
        return Ok(vec![Val::Host(Rc::new(acc))]);
    }
    let mut acc = ctx.ir(node, 0)?;
    for i in 1..node.num_inputs() {
        let mut rhs = ctx.ir(node, i)?;
        if node.opset < 7 && node.int_or("broadcast", 0)? != 0 {
            rhs = legacy_broadcast(ctx, node, acc, rhs)?;
        }
        acc = ctx.build(node, kind.clone(), vec![acc, rhs])?;
    }
    Ok(vec![Val::Ir(acc)])
}

/// Opset 6 and earlier broadcast `b` into `a` starting at attribute `axis` (default: aligned
/// to the end); reshaping `b` with trailing ones expresses that with numpy broadcasting.
pub fn legacy_broadcast(
    ctx: &mut Ctx,
    node: &Node<'_>,
    a: qweave_ir::Value,
    b: qweave_ir::Value,
) -> Result<qweave_ir::Value, String> {
    let (ra, shape_b) = (ctx.graph.ty(a).rank(), ctx.graph.ty(b).shape.clone());
    let Some(axis) = node.int("axis")? else {
        return Ok(b);
    };
    let axis = super::axis(axis, ra)?;
    let trailing = ra
        .checked_sub(axis + shape_b.len())
        .ok_or("the broadcast operand does not fit at that axis")?;
    if trailing == 0 {
        return Ok(b);
    }
    let mut dims = shape_b;
    dims.extend(std::iter::repeat_n(1, trailing));
    ctx.build(
        node,
        OpKind::Reshape(qweave_ir::ops::ReshapeAttrs { shape: dims }),
        vec![b],
    )
}

/// Integer arithmetic with numpy broadcasting on the host (Div truncates, as ONNX's integer
/// Div does).
fn host_binary(kind: &OpKind, a: &HostTensor, b: &HostTensor) -> Result<HostTensor, String> {
    let (x, y) = (
        a.as_ints().unwrap_or_default(),
        b.as_ints().unwrap_or_default(),
    );
    let shape = qweave_ir::infer::broadcast_shapes(&a.dims, &b.dims)?;
    let n: u64 = shape.iter().product();
    let (sa, sb) = (
        broadcast_strides(&a.dims, &shape),
        broadcast_strides(&b.dims, &shape),
    );
    let index = |strides: &[u64], flat: u64| -> usize {
        let (mut rem, mut idx) = (flat, 0u64);
        for (axis, &d) in shape.iter().enumerate().rev() {
            idx += (rem % d) * strides[axis];
            rem /= d;
        }
        idx as usize
    };
    let mut out = Vec::with_capacity(n as usize);
    for flat in 0..n {
        let (p, q) = (x[index(&sa, flat)], y[index(&sb, flat)]);
        out.push(match kind {
            OpKind::Add => p.wrapping_add(q),
            OpKind::Sub => p.wrapping_sub(q),
            OpKind::Mul => p.wrapping_mul(q),
            OpKind::Div if q == 0 => return Err("integer division by zero".into()),
            OpKind::Div => p.wrapping_div(q),
            OpKind::Max => p.max(q),
            _ => p.min(q),
        });
    }
    Ok(HostTensor {
        dtype: a.dtype,
        dims: shape,
        data: HostData::Int(out),
    })
}

/// Row-major strides of `dims` aligned to the broadcast `shape` (0 along broadcast axes).
pub fn broadcast_strides(dims: &[u64], shape: &[u64]) -> Vec<u64> {
    let offset = shape.len() - dims.len();
    let mut strides = vec![0; shape.len()];
    let mut s = 1;
    for i in (0..dims.len()).rev() {
        if dims[i] != 1 {
            strides[offset + i] = s;
        }
        s *= dims[i];
    }
    strides
}
