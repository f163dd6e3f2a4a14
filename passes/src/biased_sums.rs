//! The integer sums of a conv or matmul layer plus its bias, requantized into the layer's
//! result: where a low-bit layer's float bias needs finer units than its accumulator.

use crate::lower_qdq::dequantized;
use crate::lowering::{ACC, Builder};
use crate::multiplier::FixedPoint;
use qweave_ir::ops::OutAttrs;
use qweave_ir::{Data, ElemType, Graph, IntType, OpKind, Storage, TensorType, Value};

/// A layer's bias: its real value per output channel, and its stored integers when it is
/// dequantized with exactly the accumulator's scales and zero point 0.
pub(crate) struct Bias {
    real: Vec<f64>,
    stored: Option<Vec<i64>>,
}

/// The bias `[n]` of a layer whose accumulator has `scales[m]`; `None` when it is not
/// constant.
pub(crate) fn bias(b: &Builder<'_>, v: Value, scales: &[f32]) -> Option<Bias> {
    let n = scales.len();
    match dequantized(b.g, v) {
        Some(q) => {
            let Some(Data::Int(ints)) = b.g.const_data(q) else {
                return None;
            };
            let p = b.g.ty(q).elem.quant()?;
            let at = |i: usize| if ints.len() == 1 { 0 } else { i };
            let same = (0..n).all(|m| p.scale(at(m)) == scales[m] && p.zero_point(at(m)) == 0);
            let real = (0..n)
                .map(|m| (ints[at(m)] - p.zero_point(at(m))) as f64 * f64::from(p.scale(at(m))))
                .collect();
            let stored = same.then(|| (0..n).map(|m| ints[at(m)]).collect());
            Some(Bias { real, stored })
        }
        None => match b.g.const_data(v) {
            Some(Data::F32(f)) if f.len() == n => Some(Bias {
                real: f.iter().map(|&x| f64::from(x)).collect(),
                stored: None,
            }),
            _ => None,
        },
    }
}

/// Resolution of a rescaled bias: 2^-12 of a result step.
const BIAS_FRACTION_BITS: i32 = 12;

/// The integer sums of a conv or matmul (`kind` on `x` and the constant `w`, whose output
/// channels run along `w_axis`) plus `bias`, requantized by `acc_scales[m] / sy` into `out`.
///
/// A bias stored in the accumulator's units is added by the sum op itself. Otherwise its
/// real value must be rounded: into accumulator units when those are at most 2^-12 of a
/// result step, else — coarse accumulators of low-bit layers, where that rounding would move
/// results — at 2^-12 of a result step: the sums are scaled by `2^k` (a shift-0
/// `q.requantize`, `k` bounded so that the scaled sums provably fit `i32`), the bias added
/// in units of `acc_scale / 2^k` (`q.add`), and the requantization divides by `2^k`. For a
/// bipolar result, the sign of `acc + bias / acc_scale`, the bias rounded down into
/// accumulator units is exact.
pub(crate) fn accumulate(
    b: &mut Builder<'_>,
    kind: OpKind,
    (x, w, w_axis): (Value, Value, usize),
    bias: Option<&Bias>,
    acc_scales: &[f32],
    out: ElemType,
) -> Result<Value, String> {
    let n = acc_scales.len();
    let sy = out.quant().map_or(1.0, |q| q.scale(0));
    // A bipolar result is the sign of `acc + bias / acc_scale` with an integer `acc`, which
    // the bias rounded down gives exactly.
    let bipolar = out.storage() == Some(Storage::Bipolar);
    let exact = |bias: &Bias, k: i32| -> Vec<Option<i64>> {
        (0..n)
            .map(|m| {
                let q = bias.real[m] / f64::from(acc_scales[m]) * 2f64.powi(k);
                let r = if bipolar {
                    q.floor()
                } else {
                    q.round_ties_even()
                };
                (r.abs() < 2f64.powi(31)).then_some(r as i64)
            })
            .collect()
    };
    let coarsest = acc_scales
        .iter()
        .map(|&s| f64::from(s) / f64::from(sy))
        .fold(0.0f64, f64::max);
    let wanted = (coarsest.log2().ceil() as i32 + BIAS_FRACTION_BITS).max(0);
    let k = match &bias {
        Some(Bias { stored: None, .. }) if wanted > 0 && !bipolar => {
            let bound = sum_bound(b.g, x, w, w_axis).unwrap_or(u64::MAX);
            let room = 30 - (64 - bound.leading_zeros()) as i32;
            wanted.min(room).max(0)
        }
        _ => 0,
    };
    let ints = |bias: &Bias, k: i32| -> Result<Vec<i64>, String> {
        match (&bias.stored, k) {
            (Some(stored), 0) => Ok(stored.clone()),
            _ => exact(bias, k)
                .into_iter()
                .enumerate()
                .map(|(m, v)| {
                    v.ok_or(format!(
                        "bias element {m} is beyond i32 in accumulator units"
                    ))
                })
                .collect(),
        }
    };
    let bias_ty = TensorType::new(vec![n as u64], ElemType::Int(IntType::I32));
    let mut qops = vec![x, w];
    if k == 0
        && let Some(bias) = &bias
    {
        let c = b.constant(bias_ty.clone(), Data::Int(ints(bias, 0)?.into()));
        qops.push(c);
    }
    let mut sums = b.emit(kind, qops)?;
    let channel_axis = 1;
    if k > 0
        && let Some(bias) = &bias
    {
        let wide = ElemType::Int(ACC);
        let scale = FixedPoint {
            multiplier: 1 << k,
            shift: 0,
            exact: true,
        };
        let scaled = b.requantize(sums, &[scale], channel_axis, wide)?;
        let rank = b.g.ty(scaled).rank();
        let mut shape = vec![1u64; rank];
        shape[channel_axis as usize] = n as u64;
        let c = b.constant(
            TensorType::new(shape, ElemType::Int(IntType::I32)),
            Data::Int(ints(bias, k)?.into()),
        );
        sums = b.emit(OpKind::QAdd(OutAttrs { out: wide }), vec![scaled, c])?;
    }
    let unit = 2f64.powi(k);
    let ratios: Vec<f32> = acc_scales
        .iter()
        .map(|&s| (f64::from(s / sy) / unit) as f32)
        .collect();
    let points = Builder::fixed(&ratios)?;
    b.requantize(sums, &points, channel_axis, out)
}

/// A bound on `|sum|` of a conv or matmul of `x` by the constant `w` (output channels along
/// `w_axis`): per channel, the sum of `|w - zp(w)|` times the largest `|x - zp(x)|`.
fn sum_bound(g: &Graph, x: Value, w: Value, w_axis: usize) -> Option<u64> {
    let xs = g.ty(x).elem.storage()?;
    let zx = g.ty(x).elem.quant().map_or(0, |q| q.zero_point(0));
    let xmax = (xs.max() - zx)
        .unsigned_abs()
        .max((xs.min() - zx).unsigned_abs());
    let Data::Int(ints) = g.const_data(w)? else {
        return None;
    };
    let wt = g.ty(w);
    let q = wt.elem.quant();
    let channels = wt.shape[w_axis] as usize;
    let inner: usize = wt.shape[w_axis + 1..].iter().product::<u64>() as usize;
    let mut sums = vec![0u64; channels];
    for (i, &v) in ints.iter().enumerate() {
        let c = (i / inner) % channels;
        let zp = q.map_or(0, |q| {
            if q.axis_len().is_some() {
                q.zero_point(c)
            } else {
                q.zero_point(0)
            }
        });
        sums[c] = sums[c].saturating_add((v - zp).unsigned_abs());
    }
    sums.into_iter().max()?.checked_mul(xmax)
}
