//! Activation ranges from calibration data: min/max, percentile, or minimum mean-square
//! quantization error over a histogram.

use qweave_interp::run_observed;
use qweave_ir::{Data, Graph, HandleMap, Storage, Tensor, Value, ValueData};

/// Histogram bins between a value's minimum and maximum.
const BINS: usize = 2048;

/// How activation ranges are chosen from calibration data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Calibration {
    /// The observed minimum and maximum.
    MinMax,
    /// The given percentile of the observed values at the top (and its mirror at the bottom
    /// for signed data), for example 99.99: outliers saturate.
    Percentile(f64),
    /// The range whose quantization gives the least mean-square error over the observed
    /// values (clipping error against rounding error), searched over shrunken min/max ranges.
    Mse,
}

/// What the calibration run saw of one value.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
    /// Counts of `BINS` equal bins over `[min, max]` (empty for min/max calibration).
    hist: Vec<u64>,
    /// Sum over all items of each index of axis 1 (the channel), and the number of values
    /// summed per index.
    channel_sums: Vec<f64>,
    per_channel: u64,
}

/// Runs `g` on every calibration item and gathers the statistics of `values` (all `f32`).
pub fn observe(
    g: &Graph,
    values: &[Value],
    items: &[Vec<Tensor>],
    method: Calibration,
) -> Result<HandleMap<ValueData, Option<Stats>>, String> {
    let mut stats: HandleMap<ValueData, Option<Stats>> = HandleMap::new();
    for &v in values {
        stats.insert(v, Some(Stats::new()));
    }
    // First pass: the extremes; a second pass fills the histograms when the method needs one.
    let passes = if method == Calibration::MinMax { 1 } else { 2 };
    for pass in 0..passes {
        if pass == 1 {
            for &v in values {
                if let Some(s) = stats.get_mut(v).as_mut() {
                    s.hist = vec![0; BINS];
                }
            }
        }
        for (n, inputs) in items.iter().enumerate() {
            let mut visit = |v: Value, t: &Tensor| {
                if let (Some(s), Data::F32(x)) = (stats.get_mut(v).as_mut(), &t.data) {
                    if pass == 0 {
                        s.extremes(x);
                        s.channels(&t.ty.shape, x);
                    } else {
                        s.count(x);
                    }
                }
            };
            for (&v, t) in g.inputs.iter().zip(inputs) {
                visit(v, t);
            }
            run_observed(g, inputs, &mut |op, outcome| {
                for (&r, t) in g.ops[op].results.iter().zip(&outcome.outputs) {
                    visit(r, t);
                }
            })
            .map_err(|e| format!("calibration item {n}: {e}"))?;
        }
    }
    for &v in values {
        if let Some(s) = stats.get(v).as_ref()
            && !(s.min.is_finite() && s.max.is_finite())
        {
            let name = g.values[v].name.as_deref().unwrap_or("(unnamed)");
            return Err(format!(
                "calibration saw no finite values for '{name}' (NaN or infinity in the model's output there)"
            ));
        }
    }
    Ok(stats)
}

impl Stats {
    fn new() -> Stats {
        Stats {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            hist: Vec::new(),
            channel_sums: Vec::new(),
            per_channel: 0,
        }
    }

    fn channels(&mut self, shape: &[u64], x: &[f32]) {
        let c = shape.get(1).copied().unwrap_or(1) as usize;
        let inner: usize = shape.iter().skip(2).product::<u64>() as usize;
        if self.channel_sums.len() != c {
            self.channel_sums = vec![0.0; c];
        }
        for (i, &v) in x.iter().enumerate() {
            self.channel_sums[(i / inner.max(1)) % c.max(1)] += f64::from(v);
        }
        self.per_channel += (x.len() / c.max(1)) as u64;
    }

    /// The mean of each index of axis 1 over everything observed.
    pub fn channel_means(&self) -> Vec<f64> {
        let n = self.per_channel.max(1) as f64;
        self.channel_sums.iter().map(|s| s / n).collect()
    }

    fn extremes(&mut self, x: &[f32]) {
        for &v in x.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    fn width(&self) -> f64 {
        (f64::from(self.max) - f64::from(self.min)) / BINS as f64
    }

    fn count(&mut self, x: &[f32]) {
        let (min, width) = (f64::from(self.min), self.width());
        for &v in x.iter().filter(|v| v.is_finite()) {
            let bin = if width > 0.0 {
                (((f64::from(v) - min) / width) as usize).min(BINS - 1)
            } else {
                0
            };
            self.hist[bin] += 1;
        }
    }

    /// The bin centers and counts.
    fn bins(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let (min, width) = (f64::from(self.min), self.width());
        self.hist
            .iter()
            .enumerate()
            .map(move |(i, &c)| (min + (i as f64 + 0.5) * width, c))
    }

    /// The value below which `fraction` of the observations lie.
    fn quantile(&self, fraction: f64) -> f64 {
        let total: u64 = self.hist.iter().sum();
        let want = fraction * total as f64;
        let mut seen = 0.0;
        for (i, &c) in self.hist.iter().enumerate() {
            seen += c as f64;
            if seen >= want {
                return f64::from(self.min) + (i as f64 + 1.0) * self.width();
            }
        }
        f64::from(self.max)
    }

    /// The range to quantize to `bits` (always containing 0).
    pub fn range(&self, method: Calibration, bits: u8) -> (f32, f32) {
        let (min, max) = (self.min.min(0.0), self.max.max(0.0));
        match method {
            Calibration::MinMax => (min, max),
            Calibration::Percentile(p) => {
                let tail = (100.0 - p).max(0.0) / 100.0;
                let hi = self.quantile(1.0 - tail).min(f64::from(max)) as f32;
                let lo = if self.min < 0.0 {
                    self.quantile(tail).max(f64::from(min)) as f32
                } else {
                    0.0
                };
                (lo.min(0.0), hi.max(0.0))
            }
            Calibration::Mse => {
                let mut best = ((min, max), f64::INFINITY);
                for step in 0..=80 {
                    let r = 1.0 - step as f32 * 0.01;
                    let cand = (min * r, max * r);
                    let Some(p) = Params::for_range(cand.0, cand.1, bits) else {
                        continue;
                    };
                    let err: f64 = self
                        .bins()
                        .filter(|&(_, c)| c > 0)
                        .map(|(x, c)| {
                            let d = x - f64::from(p.fake_quant(x as f32));
                            d * d * c as f64
                        })
                        .sum();
                    if err < best.1 {
                        best = (cand, err);
                    }
                }
                best.0
            }
        }
    }
}

/// Per-tensor activation quantization: unsigned storage, zero point 0 for non-negative
/// ranges, asymmetric (a zero point inside the range) otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The storage, `u<bits>`.
    pub storage: Storage,
    /// Positive and finite.
    pub scale: f32,
    /// Within the storage.
    pub zero_point: i64,
}

impl Params {
    /// The parameters that cover `[lo, hi]` (`lo <= 0 <= hi`) with `bits`-bit integers; `None`
    /// when the scale is not a positive finite `f32`. A zero-width range gets scale 1.
    pub fn for_range(lo: f32, hi: f32, bits: u8) -> Option<Params> {
        let storage = Storage::Int(qweave_ir::IntType {
            bits,
            signed: false,
        });
        let levels = ((1u32 << bits) - 1) as f32;
        let span = hi - lo;
        let scale = if span > 0.0 { span / levels } else { 1.0 };
        if !(scale.is_finite() && scale > 0.0) {
            return None;
        }
        let zero_point = ((-lo / scale).round_ties_even() as i64).clamp(0, storage.max());
        Some(Params {
            storage,
            scale,
            zero_point,
        })
    }

    /// `x` quantized and dequantized, as `quantize_linear` then `dequantize_linear` compute it.
    pub fn fake_quant(&self, x: f32) -> f32 {
        let q = ((x / self.scale).round_ties_even() as i64 + self.zero_point)
            .clamp(self.storage.min(), self.storage.max());
        (q - self.zero_point) as f32 * self.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f32]) -> Stats {
        let mut s = Stats::new();
        s.extremes(values);
        s.hist = vec![0; BINS];
        s.count(values);
        s
    }

    #[test]
    fn ranges_by_each_method() {
        // 10 000 values in [0, 1) plus one outlier at 100
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(100.0);
        let s = stats(&v);
        assert_eq!(s.range(Calibration::MinMax, 8), (0.0, 100.0));
        let (lo, hi) = s.range(Calibration::Percentile(99.9), 8);
        assert_eq!(lo, 0.0);
        assert!(hi < 1.1, "{hi}");
        // a lone far outlier costs more clipped than it saves: MSE keeps it
        assert_eq!(s.range(Calibration::Mse, 2), (0.0, 100.0));
        // ten moderate ones are worth clipping at 2 bits, where rounding error dominates
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.extend([3.0; 10]);
        let (_, hi) = stats(&v).range(Calibration::Mse, 2);
        assert!(hi < 2.0, "{hi}");
        let signed = stats(&[-2.0, -1.0, 0.5, 4.0]);
        assert_eq!(signed.range(Calibration::MinMax, 8), (-2.0, 4.0));
    }

    #[test]
    fn channel_means_run_along_axis_1() {
        let mut s = Stats::new();
        // [2, 2, 2]: channel 0 holds 1, 2, 5, 6; channel 1 holds 3, 4, 7, 8
        s.channels(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(s.channel_means(), [3.5, 5.5]);
    }

    #[test]
    fn parameters_put_zero_on_a_level() {
        let p = Params::for_range(0.0, 2.55, 8).unwrap();
        assert_eq!((p.zero_point, p.storage.max()), (0, 255));
        assert_eq!(p.fake_quant(0.0), 0.0);
        let p = Params::for_range(-1.0, 3.0, 4).unwrap();
        assert_eq!(p.zero_point, 4);
        assert_eq!(p.fake_quant(0.0), 0.0);
        assert_eq!(p.fake_quant(-5.0), -4.0 * p.scale);
        let one = Params::for_range(0.0, 1.0, 1).unwrap();
        assert_eq!((one.fake_quant(0.7), one.fake_quant(0.2)), (1.0, 0.0));
        assert_eq!(Params::for_range(0.0, 0.0, 8).unwrap().scale, 1.0);
    }
}
