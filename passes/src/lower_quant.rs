//! `lower-quant`: QONNX quantizers of activations (`onnx.quant`, `onnx.bipolar_quant`) and
//! FINN's `onnx.multi_threshold` on integers to exact integer `q` ops.
//!
//! A QONNX model states each activation quantizer as a float op, `quant(y) = (q - zp) *
//! scale` with `q = clamp(round(y / scale + zp))`. With constant per-tensor parameters, the
//! quantizer is a quantization into the type `quant<iN or uN or bipolar, scale, zp>` followed
//! by a `dequantize_linear`, and it is lowered that way:
//!
//! - when `y` comes from a pattern `lower-qdq` recognizes (a conv, gemm, add, pooling, a chain
//!   of activations, ... on dequantized integers), that pattern is lowered with the
//!   quantizer's rounding mode in its `q.requantize`, a `q.clamp` for a narrow range, and
//!   lookup tables computed by the quantizer's own formula; a bipolar quantizer (`y >= 0 ? 1 :
//!   -1`) requantizes rounding toward -infinity, since `floor(v) < 0` exactly when `v < 0`;
//! - otherwise, when the quantizer rounds half to even onto a full range with zero point 0 —
//!   the same integers as `quantize_linear` — it becomes a `quantize_linear` (the boundary
//!   quantizer of a float input, or a value a later pass makes integer);
//! - otherwise it stays.
//!
//! Either way the quantizer's float result becomes the `dequantize_linear` of the integers,
//! keeping the quantizer's name; the integers are named after it with `.q`.
//!
//! `multi_threshold(dequantize_linear(x), t) {out_scale, out_bias}` with constant thresholds
//! counts, per channel, the thresholds the real value reaches. Since dequantization is
//! monotonic, that count equals the count of integer thresholds `x >= T`, where `T` is the
//! smallest stored value whose dequantized value reaches `t` (computed with the interpreter's
//! `dequantize_linear`). The result `out_scale * n + out_bias` is the dequantization of `n` in
//! `quant<uN, out_scale, -out_bias / out_scale>` when that zero point is an integer, so the op
//! becomes `q.multi_threshold` into that type and a `dequantize_linear`; other scalings stay.

use crate::lower_qdq::{self, Quantizer, Target};
use crate::lowering::Builder;
use crate::{Pass, PassError, describe_op};
use qweave_ir::ops::{OutAttrs, QMultiThresholdAttrs, QonnxQuantAttrs};
use qweave_ir::text::Names;
use qweave_ir::{
    Data, ElemType, Graph, IntType, Op, OpKind, Quant, QuantType, RoundingMode, Storage, Tensor,
    TensorType, Value,
};
use std::collections::HashSet;

/// The pass.
pub struct LowerQuant;

impl Pass for LowerQuant {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let names = Names::new(g);
        let mut lowered = HashSet::new();
        for op in g.order.clone() {
            let new = lower_op(g, op).map_err(|message| PassError::Failed {
                pass: "lower-quant",
                message: format!("{}: {message}", describe_op(g, &names, op)),
            })?;
            let Some(ints) = new else { continue };
            let old = g.ops[op].results[0];
            let f32_ty = TensorType::new(g.ty(old).shape.clone(), ElemType::F32);
            let source = g.ops[op].source.clone();
            let dq = g.detached_op(OpKind::DequantizeLinear, vec![ints], vec![f32_ty], source);
            g.insert_before(op, dq);
            let new = g.ops[dq].results[0];
            let name = g.values[old].name.take();
            g.values[ints].name = name.as_ref().map(|n| format!("{n}.q"));
            g.values[new].name = name;
            g.replace_uses(old, new);
            lowered.insert(op);
        }
        g.retain(|_, op| !lowered.contains(&op));
        Ok(!lowered.is_empty())
    }
}

/// The integers replacing `op`'s float result, inserted before it; `None` when it stays.
fn lower_op(g: &mut Graph, op: Op) -> Result<Option<Value>, String> {
    let data = &g.ops[op];
    let operands = data.operands.clone();
    let quantizer = matches!(
        data.kind,
        OpKind::Quant(_) | OpKind::BipolarQuant | OpKind::MultiThreshold(_)
    );
    if !quantizer || g.const_data(operands[0]).is_some() {
        // A weight: `fold-weight-quant` makes it an integer constant.
        return Ok(None);
    }
    let (target, linear) = match &data.kind {
        OpKind::Quant(a) => match quant_target(g, &operands, a)? {
            Some(t) => t,
            None => return Ok(None),
        },
        OpKind::BipolarQuant => match scalar(g, operands[1]) {
            Some(scale) if scale > 0.0 && scale.is_finite() => {
                let a = QonnxQuantAttrs {
                    signed: true,
                    narrow: false,
                    rounding: RoundingMode::HalfEven,
                };
                (bipolar_target(scale, 0, &a), false)
            }
            _ => return Ok(None),
        },
        OpKind::MultiThreshold(a) => {
            let a = a.clone();
            return multi_threshold(g, op, &operands, a.axis, a.out_scale, a.out_bias);
        }
        _ => return Ok(None),
    };
    let mut b = Builder {
        g,
        before: op,
        source: None,
        rounding: target.rounding,
    };
    if let Some(v) = lower_qdq::lower(&mut b, operands[0], &target)? {
        return Ok(Some(v));
    }
    if !linear {
        return Ok(None);
    }
    b.source = None;
    b.emit(
        OpKind::QuantizeLinear(OutAttrs { out: target.out }),
        vec![operands[0]],
    )
    .map(Some)
}

/// The one value of a constant `f32` tensor.
fn scalar(g: &Graph, v: Value) -> Option<f32> {
    match g.const_data(v)? {
        Data::F32(f) if f.len() == 1 => Some(f[0]),
        _ => None,
    }
}

/// The target of `quant(x, scale, zp, bits)` with constant per-tensor parameters, and whether
/// `quantize_linear` computes the same integers; `None` when the parameters do not fit.
fn quant_target(
    g: &Graph,
    operands: &[Value],
    a: &QonnxQuantAttrs,
) -> Result<Option<(Target, bool)>, String> {
    let (Some(scale), Some(zp), Some(bits)) = (
        scalar(g, operands[1]),
        scalar(g, operands[2]),
        scalar(g, operands[3]),
    ) else {
        return Ok(None);
    };
    if !(scale > 0.0 && scale.is_finite()) || zp.fract() != 0.0 || bits.fract() != 0.0 {
        return Ok(None);
    }
    if !(1.0..=16.0).contains(&bits) {
        return Ok(None);
    }
    let (bits, zp) = (bits as u8, zp as i64);
    if a.signed && bits == 1 {
        return Ok((zp == 0).then(|| (bipolar_target(scale, 0, a), false)));
    }
    let int = if a.signed {
        IntType::signed(bits)
    } else {
        IntType::unsigned(bits)
    };
    let storage = Storage::Int(int);
    if !storage.contains(zp) {
        return Ok(None);
    }
    let out = ElemType::Quant(Quant::intern(QuantType::per_tensor(storage, scale, zp)));
    let bounds = a.narrow.then(|| {
        if a.signed {
            (int.min() + 1, int.max())
        } else {
            (int.min(), int.max() - 1)
        }
    });
    let linear = a.rounding == RoundingMode::HalfEven && !a.narrow && zp == 0;
    let target = Target {
        out,
        rounding: a.rounding,
        bounds,
        quantize: Some(qonnx_quantizer(a.clone(), scale, zp, bits, out)),
    };
    Ok(Some((target, linear)))
}

/// The target of a bipolar quantizer with `scale`: `y >= 0 ? 1 : -1`, which a requantization
/// rounding toward -infinity gives (`floor(v) < 0` exactly when `v < 0`).
fn bipolar_target(scale: f32, zp: i64, a: &QonnxQuantAttrs) -> Target {
    let out = ElemType::Quant(Quant::intern(QuantType::per_tensor(
        Storage::Bipolar,
        scale,
        zp,
    )));
    let a = QonnxQuantAttrs {
        signed: true,
        ..a.clone()
    };
    Target {
        out,
        rounding: RoundingMode::Floor,
        bounds: None,
        quantize: Some(qonnx_quantizer(a, scale, zp, 1, out)),
    }
}

/// The stored integers `quant(x, scale, zp, bits)` computes for an `f32` tensor, as a tensor
/// of `out`.
fn qonnx_quantizer(a: QonnxQuantAttrs, scale: f32, zp: i64, bits: u8, out: ElemType) -> Quantizer {
    Box::new(move |x: &Tensor| {
        let one = |v: f32| {
            Tensor::new(
                TensorType::new(vec![], ElemType::F32),
                Data::F32([v].into()),
            )
        };
        let params = [one(scale)?, one(zp as f32)?, one(f32::from(bits))?];
        let inputs = [x, &params[0], &params[1], &params[2]];
        let levels = qweave_interp::qonnx_quant_levels(&inputs, &a).map_err(|e| e.to_string())?;
        let ints = levels
            .iter()
            .map(|&q| {
                if q.is_nan() {
                    Err("the quantizer's input is NaN".to_string())
                } else {
                    Ok(q as i64)
                }
            })
            .collect::<Result<Vec<i64>, _>>()?;
        Tensor::new(
            TensorType::new(x.ty.shape.clone(), out),
            Data::Int(ints.into()),
        )
    })
}

/// `multi_threshold(dequantize_linear(x), t)` as `q.multi_threshold` into the integer type
/// whose dequantization is `out_scale * n + out_bias`; `None` when it does not fit.
fn multi_threshold(
    g: &mut Graph,
    op: Op,
    operands: &[Value],
    axis: u64,
    out_scale: f32,
    out_bias: f32,
) -> Result<Option<Value>, String> {
    let Some(dq) = g.def_op(operands[0]) else {
        return Ok(None);
    };
    if !matches!(g.ops[dq].kind, OpKind::DequantizeLinear) {
        return Ok(None);
    }
    let x = g.ops[dq].operands[0];
    let xt = g.ty(x).clone();
    let Some(q) = xt.elem.quant() else {
        return Ok(None);
    };
    if q.axis_len().is_some() || q.storage == Storage::Bipolar {
        return Ok(None);
    }
    let Some(Data::F32(ts)) = g.const_data(operands[1]).cloned() else {
        return Ok(None);
    };
    if ts.iter().any(|t| t.is_nan()) {
        return Ok(None);
    }
    let tt = g.ty(operands[1]).clone();
    let count = tt.shape.get(1).copied().unwrap_or(0);
    // The output type: n in 0..=count, dequantized as (n - zp) * out_scale.
    let zp = -out_bias / out_scale;
    if !(out_scale > 0.0 && out_scale.is_finite()) || zp.fract() != 0.0 || zp.abs() > 1e9 {
        return Ok(None);
    }
    let zp = zp as i64;
    let needed = |v: i64| 64 - v.unsigned_abs().leading_zeros();
    let signed = zp < 0;
    let bits = needed(count as i64).max(needed(zp)) + u32::from(signed);
    if bits > 32 {
        return Ok(None);
    }
    let int = IntType {
        signed,
        bits: bits.max(1) as u8,
    };
    if !(int.contains(zp) && int.contains(count as i64)) {
        return Ok(None);
    }
    let out = ElemType::Quant(Quant::intern(QuantType::per_tensor(
        Storage::Int(int),
        out_scale,
        zp,
    )));
    // Each threshold as the smallest stored value whose dequantization reaches it (one past
    // the largest stored value when none does).
    let (lo, hi) = (q.storage.min(), q.storage.max());
    let reals = dequantized_levels(&xt)?;
    let thresholds: Vec<i64> = ts
        .iter()
        .map(|&t| {
            let first = reals.partition_point(|&r| r < t);
            lo + first as i64
        })
        .collect();
    let fits = thresholds.iter().all(|&t| t <= hi + 1);
    let wide = IntType::signed(q.storage.bits().max(int.bits) + 2);
    if !fits || wide.bits > 32 {
        return Ok(None);
    }
    let source = g.ops[op].source.clone();
    let t_ty = TensorType::new(tt.shape.clone(), ElemType::Int(wide));
    let konst = g.detached_op(
        OpKind::Const(Data::Int(thresholds.into())),
        vec![],
        vec![t_ty],
        source.clone(),
    );
    g.insert_before(op, konst);
    let t = g.ops[konst].results[0];
    let mut b = Builder {
        g,
        before: op,
        source: None,
        rounding: RoundingMode::HalfEven,
    };
    let attrs = QMultiThresholdAttrs { axis, bias: 0, out };
    b.emit(OpKind::QMultiThreshold(attrs), vec![x, t]).map(Some)
}

/// The dequantized value of every stored value of the per-tensor quantized `t`, in order.
fn dequantized_levels(t: &TensorType) -> Result<Vec<f32>, String> {
    let s = t.elem.storage().ok_or("not an integer type")?;
    if s.bits() > 16 {
        return Err(format!("thresholds need at most 16-bit inputs, found {t}"));
    }
    let ints: Vec<i64> = (s.min()..=s.max()).collect();
    let n = ints.len() as u64;
    let x = Tensor::new(TensorType::new(vec![n], t.elem), Data::Int(ints.into()))?;
    let types = [TensorType::new(vec![n], ElemType::F32)];
    let outcome = qweave_interp::eval_op(&OpKind::DequantizeLinear, &[&x], &types)
        .map_err(|e| e.to_string())?;
    match &outcome.outputs[0].data {
        Data::F32(v) => Ok(v.to_vec()),
        Data::Int(_) => Err("dequantize_linear gave integers".into()),
    }
}
