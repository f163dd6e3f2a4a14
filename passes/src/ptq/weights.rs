//! Weight quantization for post-training quantization: symmetric integers (narrow range) or
//! bipolar ±1, per tensor or per output channel, with an optional least-squares clipping.

use qweave_ir::{ElemType, IntType, Quant, QuantType, Storage};

/// Quantized weights: the stored integers and their element type.
pub struct Quantized {
    /// One integer per weight, in the weight's layout.
    pub ints: Vec<i64>,
    /// `i<bits>` (bipolar for 1 bit) with one scale per channel or for the whole tensor.
    pub elem: ElemType,
}

/// Quantizes `w` (of `shape`) to `bits` with one scale per index of `axis` (or one for the
/// tensor). `bits >= 2`: integers in `[-(2^(bits-1) - 1), 2^(bits-1) - 1]`, zero point 0,
/// scale from the channel's largest magnitude, or with `search` the clipping of it (20 % to
/// 100 %) with the least squared error. 1 bit: the sign (bipolar) with scale `mean |w|`, the
/// least-squares scale for signs.
pub fn quantize(
    w: &[f32],
    shape: &[u64],
    axis: Option<usize>,
    bits: u8,
    search: bool,
) -> Quantized {
    let (channels, inner, outer) = match axis {
        Some(a) => {
            let c = shape[a] as usize;
            let inner: usize = shape[a + 1..].iter().product::<u64>() as usize;
            (c, inner, w.len() / (c * inner).max(1))
        }
        None => (1, w.len(), 1),
    };
    // The elements of channel `c`, as indices into `w`.
    let channel = |c: usize| {
        (0..outer).flat_map(move |o| {
            let start = (o * channels + c) * inner;
            start..start + inner
        })
    };
    let mut ints = vec![0i64; w.len()];
    let mut scales = Vec::with_capacity(channels);
    for c in 0..channels {
        let values: Vec<f32> = channel(c).map(|i| w[i]).collect();
        let scale = if bits == 1 {
            let mean =
                values.iter().map(|v| f64::from(v.abs())).sum::<f64>() / values.len().max(1) as f64;
            positive(mean as f32)
        } else {
            let qmax = ((1i64 << (bits - 1)) - 1) as f32;
            let absmax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let error = |s: f32| -> f64 {
                values
                    .iter()
                    .map(|&v| {
                        let d = f64::from(v) - f64::from(level(v, s, qmax) as f32 * s);
                        d * d
                    })
                    .sum()
            };
            let mut best = positive(absmax / qmax);
            if search {
                let mut least = error(best);
                for step in 1..=80 {
                    let s = positive(absmax * (1.0 - step as f32 * 0.01) / qmax);
                    let e = error(s);
                    if e < least {
                        (best, least) = (s, e);
                    }
                }
            }
            best
        };
        for i in channel(c) {
            ints[i] = if bits == 1 {
                if w[i] >= 0.0 { 1 } else { -1 }
            } else {
                level(w[i], scale, ((1i64 << (bits - 1)) - 1) as f32)
            };
        }
        scales.push(scale);
    }
    let storage = if bits == 1 {
        Storage::Bipolar
    } else {
        Storage::Int(IntType { bits, signed: true })
    };
    let qt = match axis {
        Some(a) => QuantType::per_axis(storage, a, scales, vec![0; channels]),
        None => QuantType::per_tensor(storage, scales[0], 0),
    };
    Quantized {
        ints,
        elem: ElemType::Quant(Quant::intern(qt)),
    }
}

/// `v / scale` rounded half to even and clamped to `[-qmax, qmax]`.
fn level(v: f32, scale: f32, qmax: f32) -> i64 {
    (v / scale).round_ties_even().clamp(-qmax, qmax) as i64
}

/// `s`, or 1 when it is not a positive finite number (an all-zero channel).
fn positive(s: f32) -> f32 {
    if s.is_finite() && s > 0.0 { s } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_symmetric_levels() {
        // two filters of two weights each, axis 0
        let q = quantize(&[1.0, -0.6, 0.25, 0.0], &[2, 2], Some(0), 4, false);
        assert_eq!(q.ints, [7, -4, 7, 0]);
        let p = q.elem.quant().unwrap();
        assert_eq!((p.scale(0), p.scale(1)), (1.0 / 7.0, 0.25 / 7.0));
        // axis 1 of a [2, 3] matrix: columns
        let q = quantize(&[1.0, 2.0, 0.0, -1.0, 0.0, 0.0], &[2, 3], Some(1), 8, false);
        assert_eq!(q.ints, [127, 127, 0, -127, 0, 0]);
        assert_eq!(q.elem.quant().unwrap().scale(2), 1.0);
    }

    #[test]
    fn one_bit_is_the_sign_with_the_mean_magnitude() {
        let q = quantize(&[0.5, -1.5, 0.0, -0.0], &[4], None, 1, false);
        assert_eq!(q.ints, [1, -1, 1, 1]);
        let p = q.elem.quant().unwrap();
        assert_eq!((p.storage, p.scale(0)), (Storage::Bipolar, 0.5));
    }

    #[test]
    fn the_search_clips_an_outlier() {
        let mut w: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 500.0).collect();
        w.push(8.0);
        let plain = quantize(&w, &[1001], None, 3, false);
        let searched = quantize(&w, &[1001], None, 3, true);
        let s = |q: &Quantized| q.elem.quant().unwrap().scale(0);
        assert!(s(&searched) < s(&plain));
    }
}
