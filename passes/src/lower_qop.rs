//! `lower-qop`: onnxruntime's QOperator ops to exact integer `q` ops.
//!
//! | source op | q level |
//! |---|---|
//! | `qlinear_conv` | `q.conv` (i32) + `q.requantize` per output channel |
//! | `qlinear_matmul`, `qgemm` (quantized result, 2-D) | `q.matmul` (i32) + `q.requantize` per column |
//! | `qlinear_add` | each operand times its multiplier (`q.requantize`, shift 0) + `q.add` (i32) + one `q.requantize` |
//! | `qlinear_mul` | `q.mul` (exact product, i32) + `q.requantize` |
//! | `qlinear_global_average_pool` | `q.sum_pool` over the plane (i32) + `q.requantize` |
//! | `qlinear_average_pool` with one divisor for every window | `q.sum_pool` (i32) + `q.requantize` |
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
//! transposed `b` that is not constant; operands of rank other than 2 for matmul; average
//! pools whose divisor varies with the window's overlap of the padding), stay as they are,
//! and the lowering of the rest still happens.

use crate::lowering::{ACC, Builder, scales, tensor_params};
use crate::{Pass, PassError, describe_op};
use qweave_ir::binding::Map;
use qweave_ir::ops::{AccAttrs, AvgPoolAttrs, OutAttrs, QConvAttrs};
use qweave_ir::text::Names;
use qweave_ir::{Graph, Op, OpKind, TensorType, Value};
use std::collections::HashSet;

/// The pass.
pub struct LowerQop;

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
            let mut b = Builder {
                g,
                before: op,
                source: None,
                rounding: qweave_ir::RoundingMode::HalfEven,
            };
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

impl Builder<'_> {
    /// The lowered replacement of `op`'s single result, or `None` when `op` stays.
    fn lower(&mut self, op: Op) -> Result<Option<Value>, String> {
        let data = self.g.ops[op].clone();
        let x = &data.operands;
        let types: Vec<TensorType> = x.iter().map(|&v| self.g.ty(v).clone()).collect();
        let ty = |i: usize| types[i].clone();
        let yt = self.g.ty(data.results[0]).clone();
        let acc = ACC;
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
                    map: Map::None,
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
                let sums = self.emit(
                    OpKind::QMatMul(AccAttrs {
                        acc,
                        map: Map::None,
                    }),
                    x.clone(),
                )?;
                let points = Self::fixed(&s)?;
                self.requantize(sums, &points, 1, yt.elem).map(Some)
            }
            OpKind::QGemm(a) => self.qgemm(&data.operands, a.alpha, a.trans_a, a.trans_b, &yt),
            OpKind::QLinearAdd(OutAttrs { out }) => {
                let (sa, _) = tensor_params(&ty(0), "a")?;
                let (sb, _) = tensor_params(&ty(1), "b")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                self.rescaled_add(x[0], x[1], [sa / sy, sb / sy], *out)
                    .map(Some)
            }
            OpKind::QLinearMul(OutAttrs { out }) => {
                let (sa, _) = tensor_params(&ty(0), "a")?;
                let (sb, _) = tensor_params(&ty(1), "b")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                self.product(x[0], x[1], sa * sb / sy, *out).map(Some)
            }
            OpKind::QLinearGlobalAveragePool(OutAttrs { out }) => {
                let (sx, _) = tensor_params(&ty(0), "x")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                self.global_average(x[0], sx / sy, *out).map(Some)
            }
            OpKind::QLinearAveragePool(a) => {
                let (sx, _) = tensor_params(&ty(0), "x")?;
                let (sy, _) = tensor_params(&yt, "the result")?;
                let pool = AvgPoolAttrs {
                    kernel: a.kernel.clone(),
                    strides: a.strides.clone(),
                    pads: a.pads.clone(),
                    dilations: vec![1; a.kernel.len()],
                    ceil_mode: a.ceil_mode,
                    count_include_pad: a.count_include_pad,
                };
                self.average(x[0], &pool, sx / sy, a.out)
            }
            OpKind::QLinearConcat(a) => self.concat(x, a.axis, a.out).map(Some),
            OpKind::QLinearLeakyRelu(_) | OpKind::QLinearSigmoid(_) => self
                .table(x[0], std::slice::from_ref(&data.kind), None)
                .map(Some),
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
        let sums = self.emit(
            OpKind::QMatMul(AccAttrs {
                acc: ACC,
                map: Map::None,
            }),
            operands,
        )?;
        let points = Self::fixed(&s)?;
        self.requantize(sums, &points, 1, yt.elem).map(Some)
    }
}
