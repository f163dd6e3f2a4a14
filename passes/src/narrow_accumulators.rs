//! `narrow-accumulators`: gives each integer sum the narrowest signed width that provably
//! cannot overflow, from a value-range analysis of the `q` level.
//!
//! Every integer value gets an interval of the stored values it can take: a constant its
//! data's minimum and maximum; `q.conv` and `q.matmul` the sums of the per-weight extremes of
//! `(x - zp(x)) * (w - zp(w))` for each output channel (using the constant weights themselves,
//! and counting a padded tap as 0) plus the bias; `q.sum_pool` the window size times the
//! offsets' extremes; `q.requantize` its input's interval scaled (one step wider for the
//! rounding) and clamped to the result type; `q.add` and `q.mul` the sum or product of the
//! operands' offset intervals, clamped; `q.lut` the table's extremes; anything else its
//! type's range. The accumulators of `q.conv`, `q.matmul` and `q.sum_pool`, and the plain
//! integer results of `q.add`, `q.mul` and `q.requantize` (the wide intermediates of a
//! rescaled add), then become the narrowest signed type holding their interval (at least 2
//! bits), and their consumers see the narrower type. Quantized results keep their types.

use crate::Pass;
use qweave_ir::ops::{AccAttrs, OutAttrs, RequantizeAttrs};
use qweave_ir::{
    Data, ElemType, Graph, HandleMap, IntType, Op, OpKind, TensorType, Value, ValueData,
};

/// The pass.
pub struct NarrowAccumulators;

/// An inclusive interval of integers.
type Range = (i128, i128);

impl Pass for NarrowAccumulators {
    fn run(&self, g: &mut Graph) -> Result<bool, crate::PassError> {
        let mut ranges: HandleMap<ValueData, Option<Range>> = HandleMap::new();
        let mut changed = false;
        for op in g.order.clone() {
            let r = range_of(g, &ranges, op);
            let result = g.ops[op].results[0];
            let Some(r) = r else { continue };
            if let Some(narrow) = narrowed(g, op, r) {
                let attrs_changed = set_acc(g, op, narrow);
                if attrs_changed {
                    let shape = g.ty(result).shape.clone();
                    g.values[result].ty = TensorType::new(shape, ElemType::Int(narrow));
                    changed = true;
                }
            }
            ranges.insert(result, Some(r));
        }
        Ok(changed)
    }
}

/// The narrowest signed type holding `r`, at least 2 bits.
fn width(r: Range) -> IntType {
    let bits = (2..=32)
        .find(|&b: &u8| {
            let t = IntType::signed(b);
            i128::from(t.min()) <= r.0 && r.1 <= i128::from(t.max())
        })
        .unwrap_or(32);
    IntType::signed(bits)
}

/// The narrower type for `op`'s sum, when it has one that can narrow.
fn narrowed(g: &Graph, op: Op, r: Range) -> Option<IntType> {
    let current = match &g.ops[op].kind {
        OpKind::QConv(a) => a.acc,
        OpKind::QMatMul(AccAttrs { acc, .. }) => *acc,
        OpKind::QSumPool(a) => a.acc,
        OpKind::QAdd(OutAttrs {
            out: ElemType::Int(t),
        })
        | OpKind::QMul(OutAttrs {
            out: ElemType::Int(t),
        })
        | OpKind::Requantize(RequantizeAttrs {
            out: ElemType::Int(t),
            ..
        }) => *t,
        _ => return None,
    };
    let w = width(r);
    (w.bits < current.bits && current.signed).then_some(w)
}

/// Sets `op`'s sum type to `t`; true when it changed.
fn set_acc(g: &mut Graph, op: Op, t: IntType) -> bool {
    let slot = match &mut g.ops[op].kind {
        OpKind::QConv(a) => &mut a.acc,
        OpKind::QMatMul(a) => &mut a.acc,
        OpKind::QSumPool(a) => &mut a.acc,
        OpKind::QAdd(OutAttrs { out }) | OpKind::QMul(OutAttrs { out }) => {
            let old = *out;
            *out = ElemType::Int(t);
            return old != *out;
        }
        OpKind::Requantize(a) => {
            let old = a.out;
            a.out = ElemType::Int(t);
            return old != a.out;
        }
        _ => return false,
    };
    let old = *slot;
    *slot = t;
    old != t
}

/// The range of a type's stored values (`None` for floats).
fn type_range(t: &TensorType) -> Option<Range> {
    let s = t.elem.storage()?;
    Some((i128::from(s.min()), i128::from(s.max())))
}

/// The zero point of a per-tensor type (0 for plain integers and per-axis types, whose
/// zero points [`offsets`] handles).
fn zero_point(t: &TensorType) -> i128 {
    t.elem
        .quant()
        .filter(|q| q.axis_len().is_none())
        .map_or(0, |q| i128::from(q.zero_point(0)))
}

/// The known or type range of `v`.
fn known(g: &Graph, ranges: &HandleMap<ValueData, Option<Range>>, v: Value) -> Option<Range> {
    (*ranges.get(v)).or_else(|| type_range(g.ty(v)))
}

/// The interval of `x - zp(x)`, widened to include 0 (a padded tap).
fn offset_with_zero(
    g: &Graph,
    ranges: &HandleMap<ValueData, Option<Range>>,
    v: Value,
) -> Option<Range> {
    let (lo, hi) = known(g, ranges, v)?;
    let zp = zero_point(g.ty(v));
    Some(((lo - zp).min(0), (hi - zp).max(0)))
}

/// `x - zp` for every element of the constant `w`, whose zero point may vary along an axis.
fn offsets(g: &Graph, w: Value) -> Option<Vec<i128>> {
    let Some(Data::Int(values)) = g.const_data(w) else {
        return None;
    };
    let t = g.ty(w);
    let zp_at = |i: usize| -> i128 {
        match t.elem.quant() {
            Some(q) => match q.axis_len() {
                Some((axis, n)) => {
                    let inner: u64 = t.shape[axis + 1..].iter().product();
                    let c = (i as u64 / inner) as usize % n;
                    i128::from(q.zero_point(c))
                }
                None => i128::from(q.zero_point(0)),
            },
            None => 0,
        }
    };
    Some(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| i128::from(v) - zp_at(i))
            .collect(),
    )
}

/// The extremes of `sum w * x` over `x` in `xr`, for the weights `ws`.
fn dot_range(ws: impl Iterator<Item = i128>, xr: Range) -> Range {
    ws.fold((0, 0), |(lo, hi), w| {
        let (a, b) = (w * xr.0, w * xr.1);
        (lo + a.min(b), hi + a.max(b))
    })
}

/// The interval of the bias (constant or of its type), 0 when absent.
fn bias_range(
    g: &Graph,
    ranges: &HandleMap<ValueData, Option<Range>>,
    b: Option<&Value>,
) -> Option<Range> {
    match b {
        None => Some((0, 0)),
        Some(&b) => known(g, ranges, b),
    }
}

/// The interval of `op`'s (first) integer result.
fn range_of(g: &Graph, ranges: &HandleMap<ValueData, Option<Range>>, op: Op) -> Option<Range> {
    let data = &g.ops[op];
    let x = &data.operands;
    let yt = g.ty(*data.results.first()?);
    let clamp_to = |r: Range| -> Option<Range> {
        let (lo, hi) = type_range(yt)?;
        Some((r.0.clamp(lo, hi), r.1.clamp(lo, hi)))
    };
    let derived = match &data.kind {
        OpKind::Const(Data::Int(v)) => {
            let lo = v.iter().min().map_or(0, |&m| i128::from(m));
            let hi = v.iter().max().map_or(0, |&m| i128::from(m));
            Some((lo, hi))
        }
        OpKind::QConv(_) => {
            let xr = offset_with_zero(g, ranges, x[0])?;
            let b = bias_range(g, ranges, x.get(2))?;
            let wt = g.ty(x[1]);
            let filters = wt.shape[0] as usize;
            let per = wt.numel() / filters.max(1);
            let sums = match offsets(g, x[1]) {
                Some(w) => w
                    .chunks(per.max(1))
                    .map(|f| dot_range(f.iter().copied(), xr))
                    .fold((0, 0), |(lo, hi), (a, c)| (lo.min(a), hi.max(c))),
                None => {
                    let (lo, hi) = type_range(wt)?;
                    let m = lo.abs().max(hi.abs()) + zero_point(wt).abs();
                    dot_range(std::iter::repeat_n(m, per), xr)
                }
            };
            Some((sums.0 + b.0, sums.1 + b.1))
        }
        OpKind::QMatMul(_) => {
            let xr = offset_with_zero(g, ranges, x[0])?;
            let b = bias_range(g, ranges, x.get(2))?;
            let wt = g.ty(x[1]);
            let (k, n) = (wt.shape[0] as usize, wt.shape[1] as usize);
            let sums = match offsets(g, x[1]) {
                Some(w) => (0..n)
                    .map(|c| dot_range((0..k).map(|r| w[r * n + c]), xr))
                    .fold((0, 0), |(lo, hi), (a, c)| (lo.min(a), hi.max(c))),
                None => {
                    let (lo, hi) = type_range(wt)?;
                    let m = lo.abs().max(hi.abs()) + zero_point(wt).abs();
                    dot_range(std::iter::repeat_n(m, k), xr)
                }
            };
            Some((sums.0 + b.0, sums.1 + b.1))
        }
        OpKind::QSumPool(a) => {
            let xr = offset_with_zero(g, ranges, x[0])?;
            let n: u64 = a.kernel.iter().product();
            Some((xr.0 * i128::from(n), xr.1 * i128::from(n)))
        }
        OpKind::Requantize(a) => {
            let (lo, hi) = known(g, ranges, x[0])?;
            let zp = zero_point(g.ty(x[0]));
            let (lo, hi) = (lo - zp, hi - zp);
            let mut r = (i128::MAX, i128::MIN);
            for (i, &m) in a.multiplier.iter().enumerate() {
                let s = a.shift.get(i).or(a.shift.first()).copied().unwrap_or(0);
                let d = 1i128 << s.min(100);
                let (p, q) = (lo * i128::from(m), hi * i128::from(m));
                let (p, q) = (p.min(q), p.max(q));
                r = (r.0.min(p.div_euclid(d) - 1), r.1.max(q.div_euclid(d) + 1));
            }
            let zy = zero_point(yt);
            clamp_to((r.0 + zy, r.1 + zy))
        }
        OpKind::QAdd(_) | OpKind::QMul(_) => {
            let (a, b) = (known(g, ranges, x[0])?, known(g, ranges, x[1])?);
            let (za, zb) = (zero_point(g.ty(x[0])), zero_point(g.ty(x[1])));
            let (a, b) = ((a.0 - za, a.1 - za), (b.0 - zb, b.1 - zb));
            let r = if matches!(data.kind, OpKind::QAdd(_)) {
                (a.0 + b.0, a.1 + b.1)
            } else {
                let p = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1];
                (*p.iter().min()?, *p.iter().max()?)
            };
            let zy = zero_point(yt);
            clamp_to((r.0 + zy, r.1 + zy))
        }
        OpKind::QLut => known(g, ranges, x[1]),
        _ => None,
    };
    derived.or_else(|| type_range(yt))
}
