//! Helpers that build `q`-level ops in place of an op being lowered, shared by the lowering
//! passes.

use crate::multiplier::{self, FixedPoint};
use qweave_ir::ops::{
    AvgPoolAttrs, AxisAttrs, OutAttrs, QMultiThresholdAttrs, RequantizeAttrs, SumPoolAttrs,
};
use qweave_ir::{
    Data, ElemType, Graph, IntType, Op, OpKind, Quant, QuantType, RoundingMode, Storage, Tensor,
    TensorType, Value,
};

/// The accumulator type the lowering passes give integer sums; the `narrow-accumulators`
/// pass narrows it where value ranges allow.
pub(crate) const ACC: IntType = IntType::I32;

/// The axis a per-channel requantization of a tensor of `rank` runs along.
fn channel_axis(rank: usize) -> u64 {
    if rank > 1 { 1 } else { 0 }
}

/// Widest input a `q.lut` table is built for when the function is monotone: wider inputs
/// (the 16-bit fixed-point results, whose tables would hold 65536 entries) get thresholds.
const LUT_BITS: u8 = 8;

/// A monotone table as `q.multi_threshold` parameters: the result for the smallest input,
/// and the inputs at which it steps up by one.
struct Steps {
    bias: i64,
    thresholds: Vec<i64>,
}

/// The steps of `values` (the table of inputs `min..`), when they never decrease and do
/// change; for a bipolar result, the one step from -1 to +1 (`q.multi_threshold` takes the
/// sign of `-1 + n`).
fn steps(values: &[i64], min: i64, out: ElemType) -> Option<Steps> {
    if values.is_empty() || values.windows(2).any(|w| w[1] < w[0]) {
        return None;
    }
    let first = values[0];
    let last = *values.last()?;
    let at = |level: i64| min + values.partition_point(|&v| v < level) as i64;
    if out.storage() == Some(Storage::Bipolar) {
        return (first < 0 && last > 0).then(|| Steps {
            bias: -1,
            thresholds: vec![at(1)],
        });
    }
    // A constant function stays a table.
    (last > first).then(|| Steps {
        bias: first,
        thresholds: (first + 1..=last).map(at).collect(),
    })
}

/// A computation of one tensor from another (a quantizer's own formula, for tables).
pub(crate) type TensorMap = dyn Fn(&Tensor) -> Result<Tensor, String>;

/// A `quantize_linear` of `v` into `elem` and the `dequantize_linear` of that, neither
/// scheduled yet, recording `source`; every reader of `v` is made to read the dequantized
/// value (the detached quantizer keeps reading `v`). Returns the two ops.
pub(crate) fn detached_qdq(
    g: &mut Graph,
    v: Value,
    elem: ElemType,
    source: Option<String>,
) -> (Op, Op) {
    let ty = g.ty(v).clone();
    let q = g.detached_op(
        OpKind::QuantizeLinear(OutAttrs { out: elem }),
        vec![v],
        vec![ty.with_elem(elem)],
        source.clone(),
    );
    let qv = g.ops[q].results[0];
    let dq = g.detached_op(OpKind::DequantizeLinear, vec![qv], vec![ty], source);
    g.replace_uses(v, g.ops[dq].results[0]);
    (q, dq)
}

/// Inserts ops before `before`, keeping its source node.
pub(crate) struct Builder<'g> {
    pub g: &'g mut Graph,
    pub before: Op,
    /// The source node the new ops record, when not `before`'s.
    pub source: Option<String>,
    /// How requantizations into the final result round.
    pub rounding: RoundingMode,
}

/// The per-tensor scale and zero point of a quantized type.
pub(crate) fn tensor_params(t: &TensorType, what: &str) -> Result<(f32, i64), String> {
    match t.elem.quant() {
        Some(q) if q.axis_len().is_none() => Ok((q.scale(0), q.zero_point(0))),
        _ => Err(format!("{what} must be per-tensor quantized, found {t}")),
    }
}

/// The scales of a possibly per-axis quantized type, `n` of them.
pub(crate) fn scales(t: &TensorType, n: usize) -> Result<Vec<f32>, String> {
    let q = t
        .elem
        .quant()
        .ok_or_else(|| format!("expected a quantized type, found {t}"))?;
    Ok((0..n).map(|i| q.scale(i)).collect())
}

impl Builder<'_> {
    pub(crate) fn source(&self) -> Option<String> {
        (self.source.clone()).or_else(|| self.g.ops[self.before].source.clone())
    }

    pub(crate) fn emit(&mut self, kind: OpKind, operands: Vec<Value>) -> Result<Value, String> {
        let types = self.g.infer_types(&kind, &operands)?;
        let source = self.source();
        let op = self.g.detached_op(kind, operands, types, source);
        self.g.insert_before(self.before, op);
        Ok(self.g.ops[op].results[0])
    }

    pub(crate) fn constant(&mut self, ty: TensorType, data: Data) -> Value {
        let source = self.source();
        let op = self
            .g
            .detached_op(OpKind::Const(data), vec![], vec![ty], source);
        self.g.insert_before(self.before, op);
        self.g.ops[op].results[0]
    }

    /// `q.requantize` of `x` along `axis` by `multipliers` (one, or one per index) into `out`.
    pub(crate) fn requantize(
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
            rounding: self.rounding,
            axis,
            out,
        };
        self.emit(OpKind::Requantize(attrs), vec![x])
    }

    pub(crate) fn fixed(scales: &[f32]) -> Result<Vec<FixedPoint>, String> {
        scales.iter().map(|&s| multiplier::exact(s)).collect()
    }

    /// The constant 2-D `v` transposed, a per-axis quantization moving with its axis.
    pub(crate) fn transposed_constant(&mut self, v: Value) -> Option<Value> {
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

    /// `q.lut` of `x` with the values of the chain of unary elementwise ops `ops` (applied in
    /// order) for every storable input, computed by the interpreter, then by `finish` when
    /// given (a quantizer the op set cannot state as a unary op).
    pub(crate) fn table(
        &mut self,
        x: Value,
        ops: &[OpKind],
        finish: Option<&TensorMap>,
    ) -> Result<Value, String> {
        let xt = self.g.ty(x).clone();
        let s = xt.elem.storage().ok_or("the operand is not an integer")?;
        if s.bits() > 16 {
            return Err(format!(
                "a lookup table needs at most 16-bit inputs, found {xt}"
            ));
        }
        let inputs: Vec<i64> = (s.min()..=s.max()).collect();
        let len = inputs.len() as u64;
        let mut t = Tensor::new(
            TensorType::new(vec![len], xt.elem),
            Data::Int(inputs.into()),
        )?;
        for kind in ops {
            let types = qweave_ir::infer(kind, &[&t.ty])?;
            let outcome = qweave_interp::eval_op(kind, &[&t], &types).map_err(|e| e.to_string())?;
            t = outcome
                .outputs
                .into_iter()
                .next()
                .ok_or("no table computed")?;
        }
        if let Some(finish) = finish {
            t = finish(&t)?;
        }
        if t.ty.elem.storage().is_none() {
            return Err(format!("the table's values are not integers: {}", t.ty));
        }
        if s.bits() > LUT_BITS
            && let Data::Int(values) = &t.data
            && let Some(steps) = steps(values, s.min(), t.ty.elem)
        {
            return self.thresholds(x, steps, t.ty.elem);
        }
        let table = self.constant(t.ty, t.data);
        self.emit(OpKind::QLut, vec![x, table])
    }

    /// `q.multi_threshold` of `x` by the integer thresholds of `steps` into `out`.
    fn thresholds(&mut self, x: Value, steps: Steps, out: ElemType) -> Result<Value, String> {
        let xs = self
            .g
            .ty(x)
            .elem
            .storage()
            .ok_or("the operand is not an integer")?;
        let wide = IntType::signed(xs.bits() + 1);
        let n = steps.thresholds.len() as u64;
        let ty = TensorType::new(vec![1, n], ElemType::Int(wide));
        let t = self.constant(ty, Data::Int(steps.thresholds.into()));
        let attrs = QMultiThresholdAttrs {
            axis: 1.min(self.g.ty(x).rank().saturating_sub(1) as u64),
            bias: steps.bias,
            out,
        };
        self.emit(OpKind::QMultiThreshold(attrs), vec![x, t])
    }

    /// `a * ra + b * rb` rounded once into `out`: each operand times a multiplier on a
    /// common shift (`q.requantize` with shift 0 into `i32`), an `i32` `q.add`, and one
    /// `q.requantize` by the shift. An operand of `w` bits gets a multiplier below `2^(30 -
    /// w)`, so that each product stays below `2^30` and their sum within `i32`.
    pub(crate) fn rescaled_add(
        &mut self,
        a: Value,
        b: Value,
        ratios: [f32; 2],
        out: ElemType,
    ) -> Result<Value, String> {
        let bits: Vec<u32> = [a, b]
            .iter()
            .map(|&v| {
                let w = self
                    .g
                    .ty(v)
                    .elem
                    .storage()
                    .map_or(32, |s| u32::from(s.bits()));
                30u32.saturating_sub(w)
            })
            .collect();
        let (points, shift) = multiplier::common_within(&ratios, &bits)?;
        let wide = ElemType::Int(ACC);
        let mut terms = Vec::new();
        for (&v, p) in [a, b].iter().zip(&points) {
            let unshifted = FixedPoint { shift: 0, ..*p };
            let axis = channel_axis(self.g.ty(v).rank());
            terms.push(self.requantize(v, &[unshifted], axis, wide)?);
        }
        let sum = self.emit(OpKind::QAdd(OutAttrs { out: wide }), terms)?;
        let one = FixedPoint {
            multiplier: 1,
            shift,
            exact: true,
        };
        let axis = channel_axis(self.g.ty(sum).rank());
        self.requantize(sum, &[one], axis, out)
    }

    /// `x * a[c] + b[c]` per channel (axis 1) into `out`, rounded once: `x` has scale `sx`,
    /// `a` and `b` hold one real number or one per channel, the result scale `sy`. Each
    /// channel's `sx a / sy` and `b / sy` become integers on one common shift: `q.requantize`
    /// (shift 0) of `x` into `i32` by the multipliers, an `i32` `q.add` of the offsets (when
    /// any is not 0), and one `q.requantize` by the shift. Multipliers stay below `2^(30 -
    /// w)` for a `w`-bit `x` and offsets below `2^30`, so the sum stays within `i32`.
    pub(crate) fn affine(
        &mut self,
        x: Value,
        (sx, sy): (f32, f32),
        a: &[f32],
        b: &[f32],
        out: ElemType,
    ) -> Result<Value, String> {
        let xt = self.g.ty(x).clone();
        let channels = if xt.rank() > 1 {
            xt.shape[1] as usize
        } else {
            1
        };
        let pick = |v: &[f32], c: usize| v[if v.len() == 1 { 0 } else { c }];
        let w = xt.elem.storage().map_or(32, |s| u32::from(s.bits()));
        let mut scales: Vec<f32> = (0..channels).map(|c| sx * pick(a, c) / sy).collect();
        scales.extend((0..channels).map(|c| pick(b, c) / sy));
        let mut bits = vec![30u32.saturating_sub(w); channels];
        bits.extend(vec![30u32; channels]);
        let (points, shift) = multiplier::common_within(&scales, &bits)?;
        let wide = ElemType::Int(ACC);
        let (mults, offsets) = points.split_at(channels);
        let unshifted: Vec<FixedPoint> = mults
            .iter()
            .map(|p| FixedPoint { shift: 0, ..*p })
            .collect();
        let axis = channel_axis(xt.rank());
        let mut t = self.requantize(x, &unshifted, axis, wide)?;
        if offsets.iter().any(|p| p.multiplier != 0) {
            let mut shape = vec![1u64; xt.rank()];
            if xt.rank() > 1 {
                shape[1] = channels as u64;
            }
            let values: Vec<i64> = offsets.iter().map(|p| p.multiplier).collect();
            let o = self.constant(TensorType::new(shape, wide), Data::Int(values.into()));
            t = self.emit(OpKind::QAdd(OutAttrs { out: wide }), vec![t, o])?;
        }
        let one = FixedPoint {
            multiplier: 1,
            shift,
            exact: true,
        };
        self.requantize(t, &[one], axis, out)
    }

    /// `a * b * ratio` into `out`: the exact product of the offsets (`q.mul` into `i32`), then
    /// one `q.requantize`.
    pub(crate) fn product(
        &mut self,
        a: Value,
        b: Value,
        ratio: f32,
        out: ElemType,
    ) -> Result<Value, String> {
        let wide = ElemType::Int(ACC);
        let p = self.emit(OpKind::QMul(OutAttrs { out: wide }), vec![a, b])?;
        let axis = channel_axis(self.g.ty(p).rank());
        self.requantize(p, &Self::fixed(&[ratio])?, axis, out)
    }

    /// The mean over each channel's plane times `ratio` into `out`: `q.sum_pool` over the
    /// whole plane, then a `q.requantize` by `ratio / n`.
    pub(crate) fn global_average(
        &mut self,
        x: Value,
        ratio: f32,
        out: ElemType,
    ) -> Result<Value, String> {
        let spatial = self.g.ty(x).shape[2..].to_vec();
        let n: u64 = spatial.iter().product();
        let r = spatial.len();
        let pool = SumPoolAttrs {
            kernel: spatial,
            strides: vec![1; r],
            pads: vec![0; 2 * r],
            ceil_mode: false,
            acc: ACC,
        };
        let sums = self.emit(OpKind::QSumPool(pool), vec![x])?;
        let points = Self::fixed(&[ratio / n as f32])?;
        self.requantize(sums, &points, 1, out)
    }

    /// A windowed average times `ratio` into `out` as `q.sum_pool` and one `q.requantize`,
    /// when every window has the same divisor: no dilation, and either no padding and no
    /// partial window at the end, or padding counted in the divisor without `ceil_mode`.
    /// `None` otherwise (the divisor would vary per position).
    pub(crate) fn average(
        &mut self,
        x: Value,
        a: &AvgPoolAttrs,
        ratio: f32,
        out: ElemType,
    ) -> Result<Option<Value>, String> {
        let shape = self.g.ty(x).shape.clone();
        let r = a.kernel.len();
        if a.dilations.iter().any(|&d| d != 1) || shape.len() != r + 2 {
            return Ok(None);
        }
        let unpadded = a.pads.iter().all(|&p| p == 0);
        let whole_windows = (0..r).all(|i| {
            let span = shape[i + 2] + a.pads[i] + a.pads[i + r];
            span >= a.kernel[i] && (span - a.kernel[i]).is_multiple_of(a.strides[i])
        });
        let uniform = (unpadded || a.count_include_pad) && (!a.ceil_mode || whole_windows);
        if !uniform {
            return Ok(None);
        }
        let n: u64 = a.kernel.iter().product();
        let pool = SumPoolAttrs {
            kernel: a.kernel.clone(),
            strides: a.strides.clone(),
            pads: a.pads.clone(),
            ceil_mode: a.ceil_mode,
            acc: ACC,
        };
        let sums = self.emit(OpKind::QSumPool(pool), vec![x])?;
        let points = Self::fixed(&[ratio / n as f32])?;
        self.requantize(sums, &points, 1, out).map(Some)
    }

    /// Concatenation along `axis` into `out`, requantizing each operand whose type differs.
    pub(crate) fn concat(
        &mut self,
        x: &[Value],
        axis: u64,
        out: ElemType,
    ) -> Result<Value, String> {
        let mut parts = Vec::new();
        for &v in x {
            let t = self.g.ty(v).clone();
            if t.elem == out {
                parts.push(v);
                continue;
            }
            let (sx, _) = tensor_params(&t, "an operand")?;
            let sy = out
                .quant()
                .map(|q| q.scale(0))
                .ok_or("the result is not quantized")?;
            let points = Self::fixed(&[sx / sy])?;
            parts.push(self.requantize(v, &points, channel_axis(t.rank()), out)?);
        }
        self.emit(OpKind::Concat(AxisAttrs { axis }), parts)
    }
}
