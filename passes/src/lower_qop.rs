//! `lower-qop`: onnxruntime's QOperator ops to exact integer `q` ops.
//!
//! | source op | q level |
//! |---|---|
//! | `qlinear_conv` | `q.conv` (i32) + `q.requantize` per output channel |
//! | `qlinear_matmul`, `qgemm` (quantized result, 2-D) | `q.matmul` (i32) + `q.requantize` per column |
//! | `qlinear_add` | each operand times its multiplier (`q.requantize`, shift 0) + `q.add` (i32) + one `q.requantize` |
//! | `qlinear_global_average_pool` | `q.sum_pool` over the plane (i32) + `q.requantize` |
//! | `qlinear_concat` | `q.requantize` of each operand whose type differs + `concat` |
//! | `qlinear_leaky_relu`, `qlinear_sigmoid` | `q.lut` with the op's value for every storable input |
//! | `max_pool` of integers | `q.max_pool` |
//!
//! Requantization scales are computed in `f32` in onnxruntime's order and represented exactly
//! as `multiplier / 2^shift` ([`crate::multiplier`]), rounded half to even. The lowered form
//! rounds the exact product where onnxruntime rounds `f32(acc) * scale` to `f32` first, so the
//! two can differ by one step at values within an `f32` rounding of a tie. The residual add
//! uses 21-bit multipliers on a common shift and rounds once. Lookup tables are computed by
//! the interpreter from the op itself, so they are exact. Ops outside the table, and the
//! forms the table does not cover (`qgemm` with an `f32` result, `trans_a`, a 2-D bias, or a
//! transposed `b` that is not constant; operands of rank other than 2 for matmul), stay as
//! they are, and the lowering of the rest still happens.

use crate::multiplier::{self, FixedPoint};
use crate::{Pass, PassError, describe_op};
use qweave_ir::ops::{AccAttrs, AxisAttrs, OutAttrs, QConvAttrs, RequantizeAttrs, SumPoolAttrs};
use qweave_ir::text::Names;
use qweave_ir::{
    Data, ElemType, Graph, IntType, Op, OpKind, Quant, QuantType, RoundingMode, Tensor, TensorType,
    Value,
};
use std::collections::HashSet;

/// The pass.
pub struct LowerQop;

/// Bits of the residual add's multipliers: two 9-bit differences times 21-bit multipliers
/// sum within `i32`.
const ADD_BITS: u32 = 21;

impl Pass for LowerQop {
    fn run(&self, g: &mut Graph) -> Result<bool, PassError> {
        let names = Names::new(g);
        let mut lowered = HashSet::new();
        let order = g.order.clone();
        for op in order {
            let fail = |g: &Graph, message: String| PassError::Failed {
                pass: "lower-qop",
                message: format!("{}: {message}", describe_op(g, &names, op)),
            };
            let mut b = Builder { g, before: op };
            match b.lower(op).map_err(|m| fail(b.g, m))? {
                Some(new) => {
                    let old = g.ops[op].results[0];
                    g.values[new].name = g.values[old].name.take();
                    g.replace_uses(old, new);
                    lowered.insert(op);
                }
                None => continue,
            }
        }
        g.retain(|_, op| !lowered.contains(&op));
        Ok(!lowered.is_empty())
    }
}

/// Inserts ops before `before`, keeping its source node.
struct Builder<'g> {
    g: &'g mut Graph,
    before: Op,
}

/// The per-tensor scale and zero point of a quantized type.
fn tensor_params(t: &TensorType, what: &str) -> Result<(f32, i64), String> {
    match t.elem.quant() {
        Some(q) if q.axis_len().is_none() => Ok((q.scale(0), q.zero_point(0))),
        _ => Err(format!("{what} must be per-tensor quantized, found {t}")),
    }
}

/// The scales of a possibly per-axis quantized type, `n` of them.
fn scales(t: &TensorType, n: usize) -> Result<Vec<f32>, String> {
    let q = t
        .elem
        .quant()
        .ok_or_else(|| format!("expected a quantized type, found {t}"))?;
    Ok((0..n).map(|i| q.scale(i)).collect())
}

impl Builder<'_> {
    fn source(&self) -> Option<String> {
        self.g.ops[self.before].source.clone()
    }

    fn emit(&mut self, kind: OpKind, operands: Vec<Value>) -> Result<Value, String> {
        let types = self.g.infer_types(&kind, &operands)?;
        let source = self.source();
        let op = self.g.detached_op(kind, operands, types, source);
        self.g.insert_before(self.before, op);
        Ok(self.g.ops[op].results[0])
    }

    fn constant(&mut self, ty: TensorType, data: Data) -> Value {
        let source = self.source();
        let op = self
            .g
            .detached_op(OpKind::Const(data), vec![], vec![ty], source);
        self.g.insert_before(self.before, op);
        self.g.ops[op].results[0]
    }

    /// `q.requantize` of `x` along `axis` by `multipliers` (one, or one per index) into `out`.
    fn requantize(
        &mut self,
        x: Value,
        points: &[FixedPoint],
        axis: u64,
        out: ElemType,
    ) -> Result<Value, String> {
        let uniform = points.windows(2).all(|w| w[0] == w[1]);
        let points = if uniform { &points[..1] } else { points };
        let attrs = RequantizeAttrs {
            multiplier: points.iter().map(|p| p.multiplier).collect(),
            shift: points.iter().map(|p| p.shift).collect(),
            rounding: RoundingMode::HalfEven,
            axis,
            out,
        };
        self.emit(OpKind::Requantize(attrs), vec![x])
    }

    fn fixed(scales: &[f32]) -> Result<Vec<FixedPoint>, String> {
        scales.iter().map(|&s| multiplier::exact(s)).collect()
    }

    /// The lowered replacement of `op`'s single result, or `None` when `op` stays.
    fn lower(&mut self, op: Op) -> Result<Option<Value>, String> {
        let data = self.g.ops[op].clone();
        let x = &data.operands;
        let types: Vec<TensorType> = x.iter().map(|&v| self.g.ty(v).clone()).collect();
        let ty = |i: usize| types[i].clone();
        let yt = self.g.ty(data.results[0]).clone();
        let acc = IntType::I32;
        match &data.kind {
            OpKind::QLinearConv(a) => {
                let (xt, wt, yt) = (ty(0), ty(1), yt.clone());
                let (sx, _) = tensor_params(&xt, "x")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                let filters = wt.shape[0] as usize;
                let s: Vec<f32> = scales(&wt, filters)?
                    .iter()
                    .map(|&sw| sx * sw / sy)
                    .collect();
                let conv = QConvAttrs {
                    strides: a.strides.clone(),
                    pads: a.pads.clone(),
                    dilations: a.dilations.clone(),
                    group: a.group,
                    acc,
                };
                let sums = self.emit(OpKind::QConv(conv), x.clone())?;
                let points = Self::fixed(&s)?;
                self.requantize(sums, &points, 1, yt.elem).map(Some)
            }
            OpKind::QLinearMatMul(_) => {
                let (at, bt, yt) = (ty(0), ty(1), yt.clone());
                if at.rank() != 2 || bt.rank() != 2 {
                    return Ok(None);
                }
                let (sa, _) = tensor_params(&at, "a")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                let n = bt.shape[1] as usize;
                let s: Vec<f32> = scales(&bt, n)?.iter().map(|&sb| sa * sb / sy).collect();
                let sums = self.emit(OpKind::QMatMul(AccAttrs { acc }), x.clone())?;
                let points = Self::fixed(&s)?;
                self.requantize(sums, &points, 1, yt.elem).map(Some)
            }
            OpKind::QGemm(a) => self.qgemm(&data.operands, a.alpha, a.trans_a, a.trans_b, &yt),
            OpKind::QLinearAdd(OutAttrs { out }) => {
                let (at, bt) = (ty(0), ty(1));
                let (sa, _) = tensor_params(&at, "a")?;
                let (sb, _) = tensor_params(&bt, "b")?;
                let (sy, _) = tensor_params(&yt.clone(), "the result")?;
                let (points, shift) = multiplier::common(&[sa / sy, sb / sy], ADD_BITS)?;
                let wide = ElemType::Int(acc);
                let mut terms = Vec::new();
                for (i, p) in points.iter().enumerate() {
                    let unshifted = FixedPoint { shift: 0, ..*p };
                    let axis = if ty(i).rank() > 1 { 1 } else { 0 };
                    terms.push(self.requantize(x[i], &[unshifted], axis, wide)?);
                }
                let sum = self.emit(OpKind::QAdd(OutAttrs { out: wide }), terms)?;
                let one = FixedPoint {
                    multiplier: 1,
                    shift,
                    exact: true,
                };
                let axis = if yt.clone().rank() > 1 { 1 } else { 0 };
                self.requantize(sum, &[one], axis, *out).map(Some)
            }
            OpKind::QLinearGlobalAveragePool(OutAttrs { out }) => {
                let xt = ty(0);
                let (sx, _) = tensor_params(&xt, "x")?;
                let (sy, _) = tensor_params(&yt.clone(), "the result")?;
                let spatial = xt.shape[2..].to_vec();
                let n: u64 = spatial.iter().product();
                let r = spatial.len();
                let pool = SumPoolAttrs {
                    kernel: spatial,
                    strides: vec![1; r],
                    pads: vec![0; 2 * r],
                    ceil_mode: false,
                    acc,
                };
                let sums = self.emit(OpKind::QSumPool(pool), vec![x[0]])?;
                let points = Self::fixed(&[sx / (sy * n as f32)])?;
                self.requantize(sums, &points, 1, *out).map(Some)
            }
            OpKind::QLinearConcat(a) => {
                let mut parts = Vec::new();
                for (i, &v) in x.iter().enumerate() {
                    let t = ty(i);
                    if t.elem == a.out {
                        parts.push(v);
                        continue;
                    }
                    let (sx, _) = tensor_params(&t, "an operand")?;
                    let (sy, _) = tensor_params(&yt.clone(), "the result")?;
                    let points = Self::fixed(&[sx / sy])?;
                    let axis = if t.rank() > 1 { 1 } else { 0 };
                    parts.push(self.requantize(v, &points, axis, a.out)?);
                }
                self.emit(OpKind::Concat(AxisAttrs { axis: a.axis }), parts)
                    .map(Some)
            }
            OpKind::QLinearLeakyRelu(_) | OpKind::QLinearSigmoid(_) => {
                self.lut(&data.kind, x[0], &yt).map(Some)
            }
            OpKind::MaxPool(a) if ty(0).elem.storage().is_some() => {
                self.emit(OpKind::QMaxPool(a.clone()), vec![x[0]]).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn qgemm(
        &mut self,
        x: &[Value],
        alpha: f32,
        trans_a: bool,
        trans_b: bool,
        yt: &TensorType,
    ) -> Result<Option<Value>, String> {
        let (at, bt) = (self.g.ty(x[0]).clone(), self.g.ty(x[1]).clone());
        let bias_ok = x.get(2).is_none_or(|&c| self.g.ty(c).rank() == 1);
        if trans_a || yt.elem.quant().is_none() || !bias_ok || at.rank() != 2 {
            return Ok(None);
        }
        let b = if trans_b {
            match self.transposed_constant(x[1]) {
                Some(b) => b,
                None => return Ok(None),
            }
        } else {
            x[1]
        };
        let bt = if trans_b { self.g.ty(b).clone() } else { bt };
        let (sa, _) = tensor_params(&at, "a")?;
        let (sy, _) = tensor_params(yt, "the result")?;
        let n = bt.shape[1] as usize;
        let s: Vec<f32> = scales(&bt, n)?
            .iter()
            .map(|&sb| alpha * sa * sb / sy)
            .collect();
        let mut operands = vec![x[0], b];
        operands.extend(x.get(2).copied());
        let sums = self.emit(OpKind::QMatMul(AccAttrs { acc: IntType::I32 }), operands)?;
        let points = Self::fixed(&s)?;
        self.requantize(sums, &points, 1, yt.elem).map(Some)
    }

    /// The constant 2-D `v` transposed, a per-axis quantization moving with its axis.
    fn transposed_constant(&mut self, v: Value) -> Option<Value> {
        let Data::Int(values) = self.g.const_data(v)?.clone() else {
            return None;
        };
        let t = self.g.ty(v).clone();
        let (rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
        let data: Vec<i64> = (0..cols * rows)
            .map(|i| values[(i % rows) * cols + i / rows])
            .collect();
        let elem = match t.elem.quant() {
            Some(q) => match q.axis_len() {
                Some((axis, _)) => {
                    let n = q.axis_len().map_or(1, |(_, n)| n);
                    let params = QuantType::per_axis(
                        q.storage,
                        1 - axis,
                        (0..n).map(|i| q.scale(i)).collect(),
                        (0..n).map(|i| q.zero_point(i)).collect(),
                    );
                    ElemType::Quant(Quant::intern(params))
                }
                None => t.elem,
            },
            None => t.elem,
        };
        let ty = TensorType::new(vec![t.shape[1], t.shape[0]], elem);
        Some(self.constant(ty, Data::Int(data.into())))
    }

    /// `q.lut` of `x` with the values of the unary op `kind` for every storable input,
    /// computed by the interpreter.
    fn lut(&mut self, kind: &OpKind, x: Value, yt: &TensorType) -> Result<Value, String> {
        let xt = self.g.ty(x).clone();
        let s = xt.elem.storage().ok_or("the operand is not an integer")?;
        if s.bits() > 16 {
            return Err(format!(
                "a lookup table needs at most 16-bit inputs, found {xt}"
            ));
        }
        let inputs: Vec<i64> = (s.min()..=s.max()).collect();
        let len = inputs.len() as u64;
        let all = Tensor::new(
            TensorType::new(vec![len], xt.elem),
            Data::Int(inputs.into()),
        )?;
        let table_ty = TensorType::new(vec![len], yt.elem);
        let outcome = qweave_interp::eval_op(kind, &[&all], std::slice::from_ref(&table_ty))
            .map_err(|e| e.to_string())?;
        let table = outcome
            .outputs
            .into_iter()
            .next()
            .ok_or("no table computed")?;
        let table = self.constant(table_ty, table.data);
        self.emit(OpKind::QLut, vec![x, table])
    }
}
