//! `fold-weight-quant`: QONNX `quant` and `bipolar_quant` of constant weights become integer
//! constants at their true width, followed by a `dequantize_linear`.
//!
//! Brevitas exports float weights behind a `Quant` node. With the weights, scale, zero point
//! and bit width all constant, the integer levels `q` are computed once by the interpreter's
//! own formula and stored in a quantized type of exactly the declared width (`i4`, `u3`, ...;
//! a signed 1-bit quant, and `bipolar_quant`, store bipolar ±1), per tensor or per axis as the
//! scale broadcasts. `dequantize_linear` of that constant computes `(q - zp) * scale` in `f32`,
//! exactly the `quant` op's result, so the model's outputs do not change; the lowering passes
//! then see integer weights. A narrow range needs no mark: its levels simply never reach the
//! excluded value. Quants whose scale or zero point vary along more than one axis, or whose
//! zero point is not an integer, stay as they are.

use crate::{Pass, PassError, describe_op};
use qweave_ir::text::Names;
use qweave_ir::{
    Data, ElemType, Graph, IntType, Op, OpKind, Quant, QuantType, Storage, Tensor, TensorType,
    Value,
};
use std::collections::HashSet;

/// The pass.
pub struct FoldWeightQuant;

impl Pass for FoldWeightQuant {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let names = Names::new(g);
        let mut folded = HashSet::new();
        for op in g.order.clone() {
            let replacement = fold(g, op).map_err(|message| PassError::Failed {
                pass: "fold-weight-quant",
                message: format!("{}: {message}", describe_op(g, &names, op)),
            })?;
            let Some((ty, levels)) = replacement else {
                continue;
            };
            let source = g.ops[op].source.clone();
            let konst = g.detached_op(
                OpKind::Const(levels),
                vec![],
                vec![ty.clone()],
                source.clone(),
            );
            g.insert_before(op, konst);
            let q = g.ops[konst].results[0];
            let f32_ty = TensorType::new(ty.shape.clone(), ElemType::F32);
            let dq = g.detached_op(OpKind::DequantizeLinear, vec![q], vec![f32_ty], source);
            g.insert_before(op, dq);
            let (old, new) = (g.ops[op].results[0], g.ops[dq].results[0]);
            g.values[new].name = g.values[old].name.take();
            g.replace_uses(old, new);
            folded.insert(op);
        }
        g.retain(|_, op| !folded.contains(&op));
        Ok(!folded.is_empty())
    }
}

/// The constant's tensor.
fn constant(g: &Graph, v: Value) -> Option<Tensor> {
    Some(Tensor {
        ty: g.ty(v).clone(),
        data: g.const_data(v)?.clone(),
    })
}

/// The f32 values of a constant.
fn floats(t: &Tensor) -> Option<&[f32]> {
    match &t.data {
        Data::F32(v) => Some(v),
        Data::Int(_) => None,
    }
}

/// How per-element parameters of `param_shape` broadcast onto `shape`: `Ok(None)` for one
/// value, `Ok(Some(axis))` for one value per index of `axis`, `Err` otherwise.
fn layout(param_shape: &[u64], shape: &[u64]) -> Result<Option<usize>, ()> {
    let n: u64 = param_shape.iter().product();
    if n == 1 {
        return Ok(None);
    }
    if param_shape.len() > shape.len() {
        return Err(());
    }
    let offset = shape.len() - param_shape.len();
    let varying: Vec<usize> = (0..param_shape.len())
        .filter(|&i| param_shape[i] != 1)
        .collect();
    match varying.as_slice() {
        [i] if param_shape[*i] == shape[offset + i] => Ok(Some(offset + i)),
        _ => Err(()),
    }
}

/// `count` values of a parameter laid out as `layout` says: one, or one per axis index.
fn per_index(values: &[f32], count: usize) -> Vec<f32> {
    if values.len() == 1 {
        vec![values[0]; count]
    } else {
        values.to_vec()
    }
}

/// The quantized constant type and levels replacing `op`, when it is a foldable weight quant.
fn fold(g: &Graph, op: Op) -> Result<Option<(TensorType, Data)>, String> {
    let data = &g.ops[op];
    if !matches!(data.kind, OpKind::Quant(_) | OpKind::BipolarQuant) {
        return Ok(None);
    }
    let operands: Option<Vec<Tensor>> = data.operands.iter().map(|&v| constant(g, v)).collect();
    let Some(x) = operands else {
        return Ok(None);
    };
    let shape = x[0].ty.shape.clone();
    let (storage, levels, scale_t, zps) = match &data.kind {
        OpKind::Quant(a) => {
            let refs: Vec<&Tensor> = x.iter().collect();
            let levels = qweave_interp::qonnx_quant_levels(&refs, a).map_err(|e| e.to_string())?;
            let bits = floats(&x[3])
                .and_then(|b| b.first().copied())
                .unwrap_or(0.0) as u8;
            let storage = match (a.signed, bits) {
                (true, 1) => Storage::Bipolar,
                (true, b) => Storage::Int(IntType::signed(b)),
                (false, b) => Storage::Int(IntType::unsigned(b)),
            };
            let Some(zps) = floats(&x[2]) else {
                return Ok(None);
            };
            let zp_layout = layout(&x[2].ty.shape, &shape);
            let scale_layout = layout(&x[1].ty.shape, &shape);
            if zp_layout.is_err() || (zps.len() > 1 && zp_layout != scale_layout) {
                return Ok(None);
            }
            (storage, levels, x[1].clone(), zps.to_vec())
        }
        OpKind::BipolarQuant => {
            let Some(w) = floats(&x[0]) else {
                return Ok(None);
            };
            let levels = w
                .iter()
                .map(|&v| if v >= 0.0 { 1.0 } else { -1.0 })
                .collect();
            (Storage::Bipolar, levels, x[1].clone(), vec![0.0])
        }
        _ => return Ok(None),
    };
    let Ok(axis) = layout(&scale_t.ty.shape, &shape) else {
        return Ok(None);
    };
    let Some(scales) = floats(&scale_t) else {
        return Ok(None);
    };
    let count = axis.map_or(1, |a| shape[a] as usize);
    let (scales, zps) = (per_index(scales, count), per_index(&zps, count));
    let representable = |z: f32| match storage {
        Storage::Bipolar => z == 0.0,
        Storage::Int(_) => z.fract() == 0.0 && storage.contains(z as i64),
    };
    if zps.len() != count || !zps.iter().all(|&z| representable(z)) {
        return Ok(None);
    }
    if levels.iter().any(|q| q.is_nan()) {
        return Err("a weight is NaN".into());
    }
    let zps: Vec<i64> = zps.iter().map(|&z| z as i64).collect();
    let params = match axis {
        None => QuantType::per_tensor(storage, scales[0], zps[0]),
        Some(a) => QuantType::per_axis(storage, a, scales, zps),
    };
    let ty = TensorType::new(shape, ElemType::Quant(Quant::intern(params)));
    let ints: Vec<i64> = levels.iter().map(|&q| q as i64).collect();
    Ok(Some((ty, Data::Int(ints.into()))))
}
