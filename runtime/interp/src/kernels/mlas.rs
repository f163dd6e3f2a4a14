//! The float steps onnxruntime's CPU kernels (MLAS on x86-64 with AVX2 and FMA) share, bit for bit.
//!
//! Every function here mirrors one vector instruction sequence: `_mm_max_ps`/`_mm_min_ps`
//! clamps (which return their second operand when either is NaN), `_mm_cvtps_epi32`
//! (round half to even; NaN and out-of-range values give the "integer indefinite"
//! `i32::MIN`), and the fused multiply-adds of the FMA3 kernels ([`f32::mul_add`]).

use super::saturate;
use qweave_ir::Storage;

/// Far outside every storage range plus zero point: a rounded value is clamped to this before
/// it becomes an integer, so that the exact saturation decides.
const BEYOND: f32 = (1u64 << 40) as f32;

/// The last step of `MlasQuantizeLinear` and `MlasRequantizeOutput`: `v` clamped to
/// `[qmin - zp, qmax - zp]` with `maxps(v, lo)` then `minps(., hi)`, rounded half to even,
/// plus `zp`. NaN gives `qmin` (`maxps` returns `lo` for NaN); infinities saturate. Returns
/// the stored value and whether it was clamped (NaN counts as clamped).
pub(crate) fn quantize_clamped(v: f32, zp: i64, s: Storage) -> (i64, bool) {
    if v.is_nan() {
        return (s.min(), true);
    }
    let r = v.round_ties_even().clamp(-BEYOND, BEYOND);
    // The clamp bounds are integers, so clamping before or after rounding is the same.
    saturate(s, i128::from(r as i64) + i128::from(zp))
}

/// `MlasRequantizeOutput` for one accumulator: `f32(acc) * scale` (one rounding), then
/// [`quantize_clamped`] with the output zero point.
pub(crate) fn requantize(acc: i32, scale: f32, zp: i64, s: Storage) -> (i64, bool) {
    quantize_clamped(acc as f32 * scale, zp, s)
}

/// `1.5 * 2^23`: for `|v| <= 2^22`, `v + MAGIC` is an `f32` in `[2^23, 2^24)`, where every
/// value is an integer, so the addition rounds `v` to an integer (to nearest, ties to even, the
/// default rounding), and the bits of the sum minus those of `MAGIC` are that integer.
const MAGIC: f32 = 12_582_912.0;

/// `v` rounded half to even, for `|v| <= 2^22` (see [`MAGIC`]); vectorizable.
#[inline(always)]
pub(crate) fn round_small(v: f32) -> i32 {
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// The storage range of `s` minus `zp` when it lies within `±2^22`, where [`round_small`]
/// applies to everything clamped into it (widened by one).
pub(crate) fn small_range(s: Storage, zp: i64) -> Option<(i32, i32)> {
    const LIMIT: i128 = 1 << 22;
    let Storage::Int(t) = s else { return None };
    let lo = i128::from(t.min()) - i128::from(zp);
    let hi = i128::from(t.max()) - i128::from(zp);
    (lo > -LIMIT && hi < LIMIT).then_some((lo as i32, hi as i32))
}

/// `v` clamped to `[lo - 1, hi + 1]` and rounded half to even, then clamped to `[lo, hi]`:
/// the result, and whether the second clamp changed it. Rounding commutes with clamping to
/// integer bounds, so this is `clamp(round_half_even(v), lo, hi)`, and the flag says whether
/// the rounded value lies outside `[lo, hi]`. NaN gives `(lo, true)` (as `maxps` would).
#[inline(always)]
pub(crate) fn round_clamp(v: f32, (lo, hi): (i32, i32)) -> (i32, bool) {
    let (below, above) = ((lo - 1) as f32, (hi + 1) as f32);
    let c = if v.is_nan() || v < below {
        below
    } else if v > above {
        above
    } else {
        v
    };
    let n = round_small(c);
    let q = if n < lo {
        lo
    } else if n > hi {
        hi
    } else {
        n
    };
    (q, q != n)
}

/// [`requantize`] of every accumulator `acc[i] + bias` (which must not overflow `i32`) with one
/// scale and zero point into `out` (of the same length); returns the number of clamped results.
///
/// With a finite scale and a storage range minus the zero point within `±2^22` this is a loop
/// LLVM vectorizes: `v = f32(acc) * scale` is finite or infinite, never NaN, and [`round_clamp`]
/// gives `clamp(round_half_even(v), lo, hi)` and whether it clamped, which is what
/// [`quantize_clamped`] computes after adding the zero point. Otherwise every accumulator goes
/// through [`requantize`].
pub(crate) fn requantize_all(
    acc: &[i32],
    bias: i32,
    scale: f32,
    zp: i64,
    s: Storage,
    out: &mut [i64],
) -> u64 {
    let mut clamped = 0u64;
    match small_range(s, zp) {
        Some(range) if scale.is_finite() => {
            let rows = RequantizeRows {
                acc,
                bias,
                scale,
                zp,
                range,
                out,
            };
            clamped = pulp::Arch::new().dispatch(rows);
        }
        _ => {
            for (o, &a) in out.iter_mut().zip(acc) {
                let (q, c) = requantize(a.wrapping_add(bias), scale, zp, s);
                *o = q;
                clamped += u64::from(c);
            }
        }
    }
    clamped
}

/// The vectorizable loop of [`requantize_all`], compiled by `pulp` for the vector
/// instructions the CPU has (the results are the same bits with any of them: integer
/// arithmetic, one `f32` multiply, [`round_clamp`]).
struct RequantizeRows<'a> {
    acc: &'a [i32],
    bias: i32,
    scale: f32,
    zp: i64,
    range: (i32, i32),
    out: &'a mut [i64],
}

impl pulp::WithSimd for RequantizeRows<'_> {
    type Output = u64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> u64 {
        let mut clamped = 0u64;
        // Counted in u32 per block, which keeps the count in the vector lanes.
        for (out, acc) in self.out.chunks_mut(1 << 16).zip(self.acc.chunks(1 << 16)) {
            let mut block = 0u32;
            for (o, &a) in out.iter_mut().zip(acc) {
                let v = a.wrapping_add(self.bias) as f32 * self.scale;
                let (q, c) = round_clamp(v, self.range);
                block += u32::from(c);
                *o = i64::from(q) + self.zp;
            }
            clamped += u64::from(block);
        }
        clamped
    }
}

/// `_mm_cvtps_epi32`: `v` rounded half to even into `i32`; NaN and values outside the `i32`
/// range give `i32::MIN`.
pub(crate) fn cvtps_epi32(v: f32) -> i32 {
    const LIMIT: f32 = 2_147_483_648.0;
    let r = v.round_ties_even();
    if (-LIMIT..LIMIT).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// `_mm_cvtps_epi32` followed by the saturating packs into `s` (`packs_epi32`, then
/// `packus_epi16` or `packs_epi16`): NaN and values beyond `i32` give `qmin`. Returns the
/// stored value and whether it was clamped.
pub(crate) fn cvt_pack(v: f32, s: Storage) -> (i64, bool) {
    let (q, _) = saturate(s, i128::from(cvtps_epi32(v)));
    let r = v.round_ties_even();
    let exact = (!r.is_nan()).then(|| r.clamp(-BEYOND, BEYOND) as i64);
    (q, exact != Some(q))
}

/// An exact sum reduced modulo 2^32 into `i32` (the wrapping `int32` arithmetic of the
/// integer kernels), and whether it had to be.
pub(crate) fn wrap_i32(v: i128) -> (i32, bool) {
    let w = v as i32;
    (w, i128::from(w) != v)
}

/// Numerator coefficients of MLAS's logistic approximation, highest power first: MLAS's
/// decimal constants (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
/// 8.51377133304701e-03, 2.48287947061529e-01) rounded to `f32`.
const ALPHA: [f32; 5] = [
    4.37031e-11,
    1.1562732e-07,
    6.085749e-05,
    0.008513771,
    0.24828795,
];

/// Denominator coefficients of MLAS's logistic approximation, highest power first: MLAS's
/// 6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03,
/// 1.16817656904453e-01 and 9.93151921023180e-01 rounded to `f32`.
const BETA: [f32; 6] = [
    6.1024737e-13,
    5.7610214e-09,
    6.291068e-06,
    0.0017019882,
    0.11681765,
    0.9931519,
];

/// `MlasComputeLogistic` (the FMA3 kernel): `x` clamped to `[-18, 18]` (NaN passes),
/// `p = x * poly(x^2)` and `q = poly(x^2)` by fused multiply-adds, `p / q + 0.5` (a division
/// and an addition, each rounded), then `max(0, .)`.
pub(crate) fn logistic(x: f32) -> f32 {
    // NaN passes through `clamp`, as through MLAS's max/min pair.
    let x = x.clamp(-18.0, 18.0);
    let x2 = x * x;
    let p = ALPHA[1..]
        .iter()
        .fold(ALPHA[0], |acc, &c| acc.mul_add(x2, c))
        * x;
    let q = BETA[1..].iter().fold(BETA[0], |acc, &c| acc.mul_add(x2, c));
    let r = p / q + 0.5;
    if r < 0.0 { 0.0 } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_ir::IntType;

    const U8: Storage = Storage::Int(IntType::unsigned(8));
    const I8: Storage = Storage::Int(IntType::signed(8));

    #[test]
    fn quantize_clamps_rounds_and_sends_nan_to_the_minimum() {
        assert_eq!(quantize_clamped(2.5, 10, U8), (12, false));
        assert_eq!(quantize_clamped(-3.5, 0, I8), (-4, false));
        assert_eq!(quantize_clamped(300.0, 0, U8), (255, true));
        assert_eq!(quantize_clamped(f32::NEG_INFINITY, 5, I8), (-128, true));
        assert_eq!(quantize_clamped(f32::NAN, 100, U8), (0, true));
        assert_eq!(quantize_clamped(f32::NAN, 0, I8), (-128, true));
        assert_eq!(requantize(-7, 0.5, 3, I8), (-1, false));
    }

    #[test]
    fn requantizing_rows_matches_one_by_one() {
        let mut rng = crate::testutil::Rng(7);
        let storages = [
            U8,
            I8,
            Storage::Int(IntType::signed(4)),
            Storage::Int(IntType::I32),
        ];
        let mut acc: Vec<i32> = (0..2000)
            .map(|_| rng.next() as i32 >> (rng.next() % 31))
            .collect();
        // ties, near ties and the extremes
        acc.extend([
            0,
            1,
            -1,
            2,
            -2,
            3,
            5,
            7,
            i32::MAX,
            i32::MIN,
            255,
            -255,
            256,
            510,
            511,
        ]);
        let scales = [
            0.5,
            0.25,
            1.5,
            0.007_812_5,
            1e-3,
            3.9e-5,
            1.0,
            1e30,
            -0.5,
            0.0,
            -0.0,
            4.0e-10,
            f32::INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
        ];
        for s in storages {
            for zp in [s.min(), 0, 3, s.max()] {
                for &scale in &scales {
                    let mut got = vec![0; acc.len()];
                    let clamped = requantize_all(&acc, 0, scale, zp, s, &mut got);
                    let want: Vec<(i64, bool)> =
                        acc.iter().map(|&a| requantize(a, scale, zp, s)).collect();
                    let want_clamped = want.iter().filter(|w| w.1).count() as u64;
                    let want: Vec<i64> = want.into_iter().map(|w| w.0).collect();
                    assert_eq!((got, clamped), (want, want_clamped), "{s} {zp} {scale}");
                }
            }
        }
    }

    #[test]
    fn cvtps_gives_the_integer_indefinite_out_of_range() {
        assert_eq!(cvtps_epi32(2.5), 2);
        assert_eq!(cvtps_epi32(-2.5), -2);
        assert_eq!(cvtps_epi32(2_147_483_520.0), 2_147_483_520);
        assert_eq!(cvtps_epi32(2_147_483_648.0), i32::MIN);
        assert_eq!(cvtps_epi32(f32::NAN), i32::MIN);
        assert_eq!(cvt_pack(1e12, U8), (0, true));
        assert_eq!(cvt_pack(-1e12, I8), (-128, true));
        assert_eq!(cvt_pack(254.5, U8), (254, false));
        assert_eq!(wrap_i32(1 << 31), (i32::MIN, true));
        assert_eq!(wrap_i32(-5), (-5, false));
    }

    #[test]
    fn logistic_coefficients_are_mlas_constants_in_f32() {
        let bits: Vec<u32> = ALPHA.iter().chain(&BETA).map(|c| c.to_bits()).collect();
        assert_eq!(
            bits,
            [
                0x2e40_3551,
                0x33f8_4ecb,
                0x387f_413b,
                0x3c0b_7d58,
                0x3e7e_3f32,
                0x2b2b_c4f5,
                0x31c5_f27b,
                0x36d3_17dd,
                0x3adf_153f,
                0x3def_3e18,
                0x3f7e_3f34
            ]
        );
    }

    #[test]
    fn logistic_is_close_to_the_true_sigmoid() {
        for i in -40..=40 {
            let x = i as f32 * 0.5;
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(logistic(x)) - exact).abs() < 1e-6, "{x}");
        }
        assert_eq!(logistic(0.0), 0.5);
        assert!(logistic(f32::NAN).is_nan());
        assert_eq!(logistic(100.0), logistic(18.0));
    }
}
