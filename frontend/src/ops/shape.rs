//! Structural ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Pad, Resize,
//! Upsample, Identity, Dropout, Cast, and the shape arithmetic of exported graphs (Shape,
//! Gather, Slice) on import-time constants.
//!
//! When every input is known at import time, the op is computed on the host, so shape
//! computations and constant weights fold away; otherwise it becomes an IR op.

use super::{axis, host_shape, ints_of, op, unsigned};
use crate::context::{Ctx, Outputs, Val};
use crate::host::{DType, HostTensor};
use crate::host_ops;
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::ops::{AxisAttrs, CastAttrs, PadAttrs, ReshapeAttrs, ResizeAttrs, TransposeAttrs};
use qweave_ir::{CoordMode, NearestMode, OpKind, PadMode, Scalar};
use std::rc::Rc;

/// The structural importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "Reshape", reshape, any),
    op(Onnx, "Flatten", flatten, any),
    op(Onnx, "Squeeze", squeeze, any),
    op(Onnx, "Unsqueeze", unsqueeze, any),
    op(Onnx, "Transpose", transpose, any),
    op(Onnx, "Concat", concat, any),
    op(Onnx, "Pad", pad, check_pad),
    op(Onnx, "Resize", resize, check_resize),
    op(Onnx, "Upsample", resize, check_resize),
    op(Onnx, "Identity", identity, any),
    op(Onnx, "Dropout", identity, check_dropout),
    op(Onnx, "Cast", cast, any),
    op(Onnx, "Shape", shape_of, any),
    op(Onnx, "Gather", gather, any),
    op(Onnx, "Slice", slice, any),
];

fn identity(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let name = node.input_name(0).ok_or("input 0 is missing")?;
    let val = ctx
        .lookup(name)
        .cloned()
        .ok_or_else(|| format!("input 0 ('{name}') is not produced by any earlier node"))?;
    Ok(vec![val])
}

fn check_dropout(node: &Node<'_>) -> Result<(), String> {
    if node.opset < 7 && node.int_or("is_test", 0)? == 0 {
        return Err("Dropout in training mode (is_test = 0)".into());
    }
    Ok(())
}

/// Reshapes input 0 to `dims`, on the host when it is a constant.
fn reshaped(ctx: &mut Ctx, node: &Node<'_>, dims: Vec<u64>) -> Result<Outputs, String> {
    if ctx.is_host(node, 0) {
        let t = ctx.host(node, 0)?;
        if dims.iter().product::<u64>() != t.len() as u64 {
            return Err(format!("cannot reshape {:?} to {dims:?}", t.dims));
        }
        return Ok(vec![Val::Host(Rc::new(host_ops::reshape(&t, dims)))]);
    }
    let x = ctx.ir(node, 0)?;
    if ctx.graph.ty(x).shape == dims {
        return Ok(vec![Val::Ir(x)]);
    }
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Reshape(ReshapeAttrs { shape: dims }),
        vec![x],
    )?)])
}

fn reshape(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let target = host_shape(ctx, node, 1, "the shape")?;
    let allow_zero = node.int_or("allowzero", 0)? != 0;
    let mut dims = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => infer_at = Some(i),
            -1 => return Err(format!("the shape {target:?} has more than one -1")),
            0 if !allow_zero => dims.push(
                *shape
                    .get(i)
                    .ok_or_else(|| format!("shape entry {i} copies a missing dimension"))?,
            ),
            d if d >= 0 => dims.push(d as u64),
            d => return Err(format!("shape entry {d} is invalid")),
        }
    }
    let total: u64 = shape.iter().product();
    if let Some(i) = infer_at {
        let known: u64 = dims.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!(
                "cannot infer the -1 in {target:?} for input {shape:?}"
            ));
        }
        dims.insert(i, total / known);
    }
    reshaped(ctx, node, dims)
}

fn flatten(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let a = node.int_or("axis", 1)?;
    let a = if a == shape.len() as i64 {
        shape.len()
    } else {
        axis(a, shape.len())?
    };
    reshaped(
        ctx,
        node,
        vec![shape[..a].iter().product(), shape[a..].iter().product()],
    )
}

/// The `axes` of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on.
fn axes_of(ctx: &Ctx, node: &Node<'_>) -> Result<Option<Vec<i64>>, String> {
    if node.opset < 13 {
        node.ints("axes")
    } else {
        ctx.opt_host(node, 1)?
            .map(|t| ints_of(&t, "axes"))
            .transpose()
    }
}

fn squeeze(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let axes: Vec<usize> = match axes_of(ctx, node)? {
        Some(a) => a
            .iter()
            .map(|&x| axis(x, shape.len()))
            .collect::<Result<_, _>>()?,
        None => (0..shape.len()).filter(|&i| shape[i] == 1).collect(),
    };
    if let Some(&bad) = axes.iter().find(|&&a| shape[a] != 1) {
        return Err(format!("cannot squeeze axis {bad} of size {}", shape[bad]));
    }
    let dims = shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect();
    reshaped(ctx, node, dims)
}

fn unsqueeze(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let axes = axes_of(ctx, node)?.ok_or("Unsqueeze needs axes")?;
    let rank = shape.len() + axes.len();
    let mut axes: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, rank))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let mut dims = Vec::with_capacity(rank);
    let mut rest = shape.iter();
    for i in 0..rank {
        dims.push(if axes.contains(&i) {
            1
        } else {
            *rest.next().ok_or("duplicate axes in Unsqueeze")?
        });
    }
    reshaped(ctx, node, dims)
}

fn transpose(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let rank = ctx.shape(node, 0)?.len();
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p.iter().map(|&x| axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    if ctx.is_host(node, 0) {
        let t = ctx.host(node, 0)?;
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        if sorted != (0..rank).collect::<Vec<_>>() {
            return Err(format!("perm {perm:?} is not a permutation"));
        }
        return Ok(vec![Val::Host(Rc::new(host_ops::transpose(&t, &perm)))]);
    }
    let x = ctx.ir(node, 0)?;
    let kind = OpKind::Transpose(TransposeAttrs {
        perm: perm.iter().map(|&p| p as u64).collect(),
    });
    Ok(vec![Val::Ir(ctx.build(node, kind, vec![x])?)])
}

fn concat(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let rank = ctx.shape(node, 0)?.len();
    let a = axis(
        node.int("axis")?.ok_or("attribute 'axis' is required")?,
        rank,
    )?;
    let n = node.num_inputs();
    if (0..n).all(|i| ctx.is_host(node, i)) {
        let parts = (0..n)
            .map(|i| ctx.host(node, i))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&HostTensor> = parts.iter().map(|p| &**p).collect();
        return Ok(vec![Val::Host(Rc::new(host_ops::concat(&refs, a)?))]);
    }
    let present: Vec<usize> = (0..n).filter(|&i| ctx.has_input(node, i)).collect();
    let operands = present
        .into_iter()
        .map(|i| ctx.ir(node, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Concat(AxisAttrs { axis: a as u64 }),
        operands,
    )?)])
}

fn check_pad(node: &Node<'_>) -> Result<(), String> {
    match node.string_or("mode", "constant")?.as_str() {
        "constant" | "reflect" | "edge" => Ok(()),
        other => Err(format!(
            "pad mode '{other}' is not supported (constant, reflect and edge are)"
        )),
    }
}

fn pad(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let ty = ctx.input_type(node, 0)?;
    let rank = ty.rank();
    let mode = match node.string_or("mode", "constant")?.as_str() {
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        _ => PadMode::Constant,
    };
    let (raw, value) = if node.opset < 11 {
        (
            node.ints("pads")?.ok_or("attribute 'pads' is required")?,
            node.float_or("value", 0.0)?,
        )
    } else {
        let pads = host_shape(ctx, node, 1, "pads")?;
        let value = match ctx.opt_host(node, 2)? {
            Some(t) => t
                .scalar_f32()
                .ok_or("the constant value must hold one element")?,
            None => 0.0,
        };
        (pads, value)
    };
    let mut pads = vec![0i64; 2 * rank];
    let axes: Vec<usize> = match ctx.opt_host(node, 3)? {
        Some(t) if node.opset >= 18 => ints_of(&t, "axes")?
            .iter()
            .map(|&a| axis(a, rank))
            .collect::<Result<_, _>>()?,
        _ => (0..rank).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(format!(
            "pads has {} entries, expected {}",
            raw.len(),
            2 * axes.len()
        ));
    }
    for (k, &a) in axes.iter().enumerate() {
        pads[a] = raw[k];
        pads[rank + a] = raw[axes.len() + k];
    }
    let value = if ty.elem.is_float() {
        Scalar::F32(value)
    } else if value.fract() == 0.0 {
        Scalar::Int(value as i64)
    } else {
        return Err(format!("pad value {value} is not an integer"));
    };
    let x = ctx.ir(node, 0)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Pad(PadAttrs { pads, mode, value }),
        vec![x],
    )?)])
}

fn check_resize(node: &Node<'_>) -> Result<(), String> {
    let mode = node.string_or("mode", "nearest")?;
    if mode != "nearest" {
        return Err(format!(
            "resize mode '{mode}' is not supported (only nearest)"
        ));
    }
    if node.int_or("antialias", 0)? != 0 {
        return Err("antialiased resizing is not supported".into());
    }
    let coord = node.string_or("coordinate_transformation_mode", "half_pixel")?;
    if coord_mode(&coord).is_none() {
        return Err(format!(
            "coordinate_transformation_mode '{coord}' is not supported"
        ));
    }
    let nearest = node.string_or("nearest_mode", "round_prefer_floor")?;
    if nearest_mode(&nearest).is_none() {
        return Err(format!("nearest_mode '{nearest}' is not an ONNX mode"));
    }
    if node.string_or("keep_aspect_ratio_policy", "stretch")? != "stretch" {
        return Err("keep_aspect_ratio_policy other than stretch is not supported".into());
    }
    Ok(())
}

fn coord_mode(s: &str) -> Option<CoordMode> {
    Some(match s {
        "half_pixel" => CoordMode::HalfPixel,
        "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
        "asymmetric" => CoordMode::Asymmetric,
        "align_corners" => CoordMode::AlignCorners,
        "tf_half_pixel_for_nn" => CoordMode::TfHalfPixelForNn,
        _ => return None,
    })
}

fn nearest_mode(s: &str) -> Option<NearestMode> {
    Some(match s {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        _ => return None,
    })
}

/// Resize (opset 10 on) and Upsample (opset 7 to 9), nearest mode. Opset 10 Resize and
/// Upsample sample `floor(x_out / scale)` (asymmetric, floor).
fn resize(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let rank = shape.len();
    let legacy = node.op_type() == "Upsample" || node.opset < 11;
    let scales_input = if node.op_type() == "Upsample" || node.opset < 11 {
        1
    } else {
        2
    };
    let scales: Option<Vec<f32>> = if node.op_type() == "Upsample" && node.opset < 9 {
        node.floats("scales")?
    } else {
        ctx.opt_host(node, scales_input)?
            .filter(|t| !t.is_empty())
            .map(|t| t.to_f64().iter().map(|&v| v as f32).collect())
    };
    let sizes: Option<Vec<u64>> = if legacy {
        None
    } else {
        ctx.opt_host(node, 3)?
            .filter(|t| !t.is_empty())
            .map(|t| ints_of(&t, "sizes").and_then(|v| unsigned(&v, "sizes")))
            .transpose()?
    };
    let axes: Vec<usize> = match node.ints("axes")? {
        Some(a) => a.iter().map(|&x| axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    let mut out = shape.clone();
    let mut full_scales = vec![1.0f32; rank];
    match (scales, sizes) {
        (_, Some(sizes)) => {
            if sizes.len() != axes.len() {
                return Err(format!(
                    "sizes has {} entries for {} axes",
                    sizes.len(),
                    axes.len()
                ));
            }
            for (k, &a) in axes.iter().enumerate() {
                out[a] = sizes[k];
                full_scales[a] = sizes[k] as f32 / shape[a] as f32;
            }
        }
        (Some(scales), None) => {
            if scales.len() != axes.len() {
                return Err(format!(
                    "scales has {} entries for {} axes",
                    scales.len(),
                    axes.len()
                ));
            }
            for (k, &a) in axes.iter().enumerate() {
                if !(scales[k].is_finite() && scales[k] > 0.0) {
                    return Err(format!("scale {} is not positive", scales[k]));
                }
                full_scales[a] = scales[k];
                out[a] = (shape[a] as f64 * f64::from(scales[k])).floor() as u64;
            }
        }
        (None, None) => return Err("Resize needs scales or sizes".into()),
    }
    let (coord, nearest) = if legacy {
        (CoordMode::Asymmetric, NearestMode::Floor)
    } else {
        let c = node.string_or("coordinate_transformation_mode", "half_pixel")?;
        let n = node.string_or("nearest_mode", "round_prefer_floor")?;
        (
            coord_mode(&c).ok_or("unsupported coordinate mode")?,
            nearest_mode(&n).ok_or("unsupported nearest mode")?,
        )
    };
    let x = ctx.ir(node, 0)?;
    let kind = OpKind::ResizeNearest(ResizeAttrs {
        shape: out,
        scales: full_scales,
        coord,
        nearest,
    });
    Ok(vec![Val::Ir(ctx.build(node, kind, vec![x])?)])
}

fn cast(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let code = node.int("to")?.ok_or("attribute 'to' is required")?;
    let to = DType::from_onnx(code as i32).map_err(|e| format!("cannot cast to {e}"))?;
    if ctx.is_host(node, 0) {
        return Ok(vec![Val::Host(Rc::new(host_ops::cast(
            &*ctx.host(node, 0)?,
            to,
        )?))]);
    }
    let elem = to
        .ir_elem()
        .ok_or_else(|| format!("cannot cast a computed tensor to {to:?}"))?;
    let x = ctx.ir(node, 0)?;
    if ctx.graph.ty(x).elem == elem {
        return Ok(vec![Val::Ir(x)]);
    }
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::Cast(CastAttrs { to: elem }),
        vec![x],
    )?)])
}

/// Shape: the static shape as an int64 constant (opset 15's start/end slice it).
fn shape_of(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape: Vec<i64> = ctx.shape(node, 0)?.iter().map(|&d| d as i64).collect();
    let r = shape.len() as i64;
    let clampi = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    let start = clampi(node.int_or("start", 0)?);
    let end = clampi(node.int_or("end", r)?);
    let dims = shape
        .get(start..end.max(start))
        .unwrap_or_default()
        .to_vec();
    Ok(vec![Val::Host(Rc::new(HostTensor::i64s(
        vec![dims.len() as u64],
        dims,
    )))])
}

fn gather(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let data = ctx
        .host(node, 0)
        .map_err(|_| "Gather is supported on constants only (shape arithmetic)".to_string())?;
    let indices = ctx.host(node, 1)?;
    let a = axis(node.int_or("axis", 0)?, data.dims.len())?;
    Ok(vec![Val::Host(Rc::new(host_ops::gather(
        &data, &indices, a,
    )?))])
}

fn slice(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let data = ctx
        .host(node, 0)
        .map_err(|_| "Slice is supported on constants only (shape arithmetic)".to_string())?;
    let rank = data.dims.len();
    let (starts, ends, axes, steps) = if node.opset < 10 {
        let starts = node
            .ints("starts")?
            .ok_or("attribute 'starts' is required")?;
        let ends = node.ints("ends")?.ok_or("attribute 'ends' is required")?;
        let axes = node.ints("axes")?;
        (starts, ends, axes, None)
    } else {
        let get = |i| {
            ctx.opt_host(node, i)
                .and_then(|t| t.map(|t| ints_of(&t, "slice parameters")).transpose())
        };
        (
            get(1)?.ok_or("starts is required")?,
            get(2)?.ok_or("ends is required")?,
            get(3)?,
            get(4)?,
        )
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&x| axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    Ok(vec![Val::Host(Rc::new(host_ops::slice(
        &data, &starts, &ends, &axes, &steps,
    )?))])
}
