//! ONNX quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, ConvInteger,
//! MatMulInteger; and how a (data, scale, zero point) triple becomes a quantized IR value.

use super::conv::conv_attrs;
use super::{axis, op};
use crate::context::{Ctx, Outputs, Val};
use crate::host::{DType, HostData, HostTensor};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use qweave_ir::ops::{CastAttrs, OutAttrs};
use qweave_ir::{ElemType, IntType, OpKind, Quant, QuantType, Storage, Tensor, TensorType, Value};

/// The quantization importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "QuantizeLinear", quantize_linear, check_blocked),
    op(Onnx, "DequantizeLinear", dequantize_linear, check_blocked),
    op(Onnx, "DynamicQuantizeLinear", dynamic_quantize_linear, any),
    op(Onnx, "ConvInteger", conv_integer, super::check_auto_pad),
    op(Onnx, "MatMulInteger", matmul_integer, any),
];

fn check_blocked(node: &Node<'_>) -> Result<(), String> {
    if node.int_or("block_size", 0)? != 0 {
        return Err("blocked quantization (block_size) is not supported".into());
    }
    Ok(())
}

/// The integer storage of an ONNX integer type.
fn storage_of(dtype: DType) -> Result<Storage, String> {
    match dtype {
        DType::Int { signed, bits } if bits <= 32 => Ok(Storage::Int(IntType { signed, bits })),
        other => Err(format!(
            "quantized data must be an integer type of at most 32 bits, found {other:?}"
        )),
    }
}

/// The quantized type `scale` and `zero_point` describe for data of `shape` quantized along
/// `axis` (per tensor when the scale has one element); `storage` when there is no zero point.
pub fn quant_type(
    scale: &HostTensor,
    zero_point: Option<&HostTensor>,
    axis_attr: i64,
    shape: &[u64],
    storage: Storage,
) -> Result<ElemType, String> {
    let scales: Vec<f32> = scale
        .as_f32()
        .ok_or("the scale must be a float32 tensor")?
        .to_vec();
    let (storage, zps) = match zero_point {
        Some(z) => (
            storage_of(z.dtype)?,
            z.as_ints()
                .ok_or("the zero point must be integers")?
                .to_vec(),
        ),
        None => (storage, vec![0; scales.len()]),
    };
    if zps.len() != scales.len() {
        return Err(format!(
            "{} scales but {} zero points",
            scales.len(),
            zps.len()
        ));
    }
    let ty = if scales.len() == 1 {
        QuantType::per_tensor(storage, scales[0], zps[0])
    } else {
        // One scale per index of `axis`: a 1-D scale, or one whose other dimensions are all 1
        // aligned to the data from the right (onnxruntime's per-column `[1, N]`).
        let a = if scale.dims.len() == 1 {
            axis(axis_attr, shape.len())?
        } else {
            let long: Vec<usize> = (0..scale.dims.len())
                .filter(|&i| scale.dims[i] != 1)
                .collect();
            match (long.as_slice(), shape.len().checked_sub(scale.dims.len())) {
                ([i], Some(offset)) => offset + i,
                _ => {
                    return Err(format!(
                        "scales of shape {:?} are not along one axis of {shape:?}",
                        scale.dims
                    ));
                }
            }
        };
        if shape.get(a) != Some(&(scales.len() as u64)) {
            return Err(format!(
                "{} scales do not match axis {a} of {shape:?}",
                scales.len()
            ));
        }
        QuantType::per_axis(storage, a, scales, zps)
    };
    ty.check()
        .map_err(|e| format!("invalid quantization parameters: {e}"))?;
    Ok(ElemType::Quant(Quant::intern(ty)))
}

/// Input `data` under the quantized type of inputs `scale` and `zp` (along `axis`): a
/// constant becomes a quantized IR constant; a computed value is retyped when needed.
pub fn quantized(
    ctx: &mut Ctx,
    node: &Node<'_>,
    data: usize,
    scale: usize,
    zp: usize,
    axis_attr: i64,
) -> Result<Value, String> {
    let shape = ctx.shape(node, data)?;
    let (s, z) = (ctx.host(node, scale)?, ctx.opt_host(node, zp)?);
    let default = storage_of(
        ctx.input_type(node, data)
            .ok()
            .and_then(|t| DType::of_ir(t.elem))
            .unwrap_or(DType::Int {
                signed: false,
                bits: 8,
            }),
    )?;
    let elem = quant_type(&s, z.as_deref(), axis_attr, &shape, default)?;
    if ctx.is_host(node, data) {
        let t = ctx.host(node, data)?;
        let values = t
            .as_ints()
            .ok_or("quantized data must be integers")?
            .to_vec();
        let tensor = Tensor::new(
            TensorType::new(t.dims.clone(), elem),
            qweave_ir::Data::Int(values.into()),
        )?;
        return Ok(ctx
            .graph
            .constant(tensor.ty, tensor.data, Some(node.name.clone())));
    }
    let v = ctx.ir(node, data)?;
    if ctx.graph.ty(v).elem == elem {
        return Ok(v);
    }
    ctx.build(node, OpKind::Retype(CastAttrs { to: elem }), vec![v])
}

/// The result type of QuantizeLinear: the zero point's type, else `output_dtype` (opset 21),
/// else uint8.
fn output_storage(ctx: &Ctx, node: &Node<'_>) -> Result<Storage, String> {
    if let Some(z) = ctx.opt_host(node, 2)? {
        return storage_of(z.dtype);
    }
    match node.int("output_dtype")? {
        Some(code) if code != 0 => storage_of(DType::from_onnx(code as i32)?),
        _ => Ok(Storage::Int(IntType::unsigned(8))),
    }
}

fn quantize_linear(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let shape = ctx.shape(node, 0)?;
    let storage = output_storage(ctx, node)?;
    let (s, z) = (ctx.host(node, 1)?, ctx.opt_host(node, 2)?);
    let out = quant_type(&s, z.as_deref(), node.int_or("axis", 1)?, &shape, storage)?;
    let x = ctx.ir(node, 0)?;
    if !ctx.graph.ty(x).elem.is_float() {
        return Err(format!(
            "QuantizeLinear of {} is not supported (float32 input only)",
            ctx.graph.ty(x)
        ));
    }
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::QuantizeLinear(OutAttrs { out }),
        vec![x],
    )?)])
}

fn dequantize_linear(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let x = quantized(ctx, node, 0, 1, 2, node.int_or("axis", 1)?)?;
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::DequantizeLinear,
        vec![x],
    )?)])
}

fn dynamic_quantize_linear(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let x = ctx.ir(node, 0)?;
    let results = ctx.build_many(node, OpKind::DynamicQuantizeLinear, vec![x])?;
    Ok(results.into_iter().map(Val::Ir).collect())
}

/// Zero-point input `i` as an IR value, or a zero of `like`'s type when absent.
fn zero_point_or_zero(
    ctx: &mut Ctx,
    node: &Node<'_>,
    i: usize,
    like: Value,
) -> Result<Value, String> {
    if ctx.has_input(node, i) {
        return ctx.ir(node, i);
    }
    let elem = ctx.graph.ty(like).elem;
    let dtype = DType::of_ir(elem).ok_or("unsupported data type")?;
    let zero = HostTensor {
        dtype,
        dims: vec![],
        data: HostData::Int(vec![0]),
    };
    ctx.constant(node, &zero)
}

fn conv_integer(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let attrs = conv_attrs(ctx, node, 0, 1)?;
    let (x, w) = (ctx.ir(node, 0)?, ctx.ir(node, 1)?);
    let (xz, wz) = (
        zero_point_or_zero(ctx, node, 2, x)?,
        zero_point_or_zero(ctx, node, 3, w)?,
    );
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::ConvInteger(attrs),
        vec![x, w, xz, wz],
    )?)])
}

fn matmul_integer(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let (a, b) = (ctx.ir(node, 0)?, ctx.ir(node, 1)?);
    let (az, bz) = (
        zero_point_or_zero(ctx, node, 2, a)?,
        zero_point_or_zero(ctx, node, 3, b)?,
    );
    Ok(vec![Val::Ir(ctx.build(
        node,
        OpKind::MatMulInteger,
        vec![a, b, az, bz],
    )?)])
}
