//! Fixed-point multipliers: a requantization scale as `multiplier / 2^shift`, the integer form
//! `q.requantize` computes with.
//!
//! The source formats state their scales as `f32` values. Every finite `f32` is a dyadic
//! rational `m * 2^e` with `|m| < 2^24`, so [`exact`] represents it without error whenever the
//! shift fits `0..=63` and the multiplier fits `i32` — the lowered form then rounds the true
//! product `acc * scale`, where the source rounds `f32(acc) * scale` to `f32` first; the two
//! differ only where that `f32` rounding crosses a rounding boundary. [`common`] gives several
//! scales one shift, with multipliers bounded so that sums of products stay within `i32`.

/// `multiplier / 2^shift`, and whether it equals the scale it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedPoint {
    /// Fits `i32`.
    pub multiplier: i64,
    /// `0..=63`.
    pub shift: u64,
    /// True when `multiplier / 2^shift` is exactly the scale.
    pub exact: bool,
}

/// `v` as `(m, e)` with `v = m * 2^e` and `m` odd (or `(0, 0)` for zero); `None` for NaN and
/// infinities.
fn dyadic(v: f32) -> Option<(i64, i32)> {
    if !v.is_finite() {
        return None;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = i64::from(bits & 0x7f_ffff);
    let (mut m, mut e) = if exp == 0 {
        (frac, -149)
    } else {
        (frac | 1 << 23, exp - 150)
    };
    if m == 0 {
        return Some((0, 0));
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    Some((if v < 0.0 { -m } else { m }, e))
}

/// `m * 2^k` rounded half to even (exact for `k >= 0`), and whether it was exact.
fn scaled(m: i64, k: i32) -> (i128, bool) {
    if k >= 0 {
        return (i128::from(m) << k.min(100), true);
    }
    let d = (-k).min(120) as u32;
    let (q, r) = (i128::from(m) >> d, i128::from(m) & ((1i128 << d) - 1));
    let half = 1i128 << (d - 1);
    let up = r > half || (r == half && q & 1 == 1);
    (q + i128::from(up), r == 0)
}

/// `scale` as a fixed-point multiplier, exactly when possible (see the module documentation);
/// a scale below `2^-63 * 2^24` loses its low bits (rounded half to even).
pub fn exact(scale: f32) -> Result<FixedPoint, String> {
    let (m, e) = dyadic(scale).ok_or_else(|| format!("the scale {scale} is not finite"))?;
    if m == 0 {
        return Ok(FixedPoint {
            multiplier: 0,
            shift: 0,
            exact: true,
        });
    }
    // scale = m * 2^e = (m * 2^(e + s)) / 2^s with s = clamp(-e, 0, 63).
    let shift = (-e).clamp(0, 63);
    let (multiplier, exact) = scaled(m, e + shift);
    let multiplier = i64::try_from(multiplier)
        .ok()
        .filter(|v| i32::try_from(*v).is_ok())
        .ok_or_else(|| format!("the scale {scale} is too large for a 32-bit multiplier"))?;
    Ok(FixedPoint {
        multiplier,
        shift: shift as u64,
        exact,
    })
}

/// One shift for all `scales` and a multiplier for each: the largest shift (at most 63) that
/// keeps every `|multiplier| < 2^bits`, then reduced while every multiplier is even (the same
/// ratios with the smallest shift); multipliers are rounded half to even when the shift cannot
/// hold a scale exactly.
pub fn common(scales: &[f32], bits: u32) -> Result<(Vec<FixedPoint>, u64), String> {
    common_within(scales, &vec![bits; scales.len()])
}

/// Like [`common`], with a bound of its own for each multiplier: `|multiplier[i]| <
/// 2^bits[i]` (a wide operand needs a short multiplier, a narrow one can take a long one).
pub fn common_within(scales: &[f32], bits: &[u32]) -> Result<(Vec<FixedPoint>, u64), String> {
    let parts = scales
        .iter()
        .map(|&s| dyadic(s).ok_or_else(|| format!("the scale {s} is not finite")))
        .collect::<Result<Vec<_>, _>>()?;
    for shift in (0..=63).rev() {
        let fixed: Vec<(i128, bool)> = parts.iter().map(|&(m, e)| scaled(m, e + shift)).collect();
        let fits = fixed
            .iter()
            .zip(bits)
            .all(|(&(v, _), &b)| v.abs() < 1i128 << b.min(62));
        if fits {
            // The smallest equivalent shift: halve while every multiplier is even.
            let (mut fixed, mut shift) = (fixed, shift);
            while shift > 0 && fixed.iter().all(|&(v, _)| v % 2 == 0) {
                fixed.iter_mut().for_each(|f| f.0 /= 2);
                shift -= 1;
            }
            let points = fixed
                .into_iter()
                .map(|(v, exact)| FixedPoint {
                    multiplier: v as i64,
                    shift: shift as u64,
                    exact,
                })
                .collect();
            return Ok((points, shift as u64));
        }
    }
    Err(format!(
        "the scales {scales:?} are too large for multipliers of {bits:?} bits"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `multiplier / 2^shift` as f64 (exact for the values tested).
    fn value(p: FixedPoint) -> f64 {
        p.multiplier as f64 / 2f64.powi(p.shift as i32)
    }

    #[test]
    fn f32_scales_are_exact() {
        for s in [
            1.0f32,
            0.5,
            0.75,
            3.0e-3,
            1.234_567e-5,
            0.007_812_5,
            6.0,
            1.0e-10,
        ] {
            let p = exact(s).unwrap();
            assert!(p.exact, "{s}");
            assert_eq!(value(p), f64::from(s), "{s}");
            assert!(p.shift <= 63 && i32::try_from(p.multiplier).is_ok());
        }
        assert_eq!(
            exact(0.25).unwrap(),
            FixedPoint {
                multiplier: 1,
                shift: 2,
                exact: true
            }
        );
        assert_eq!(exact(-3.0).unwrap().multiplier, -3);
        assert_eq!(exact(0.0).unwrap().multiplier, 0);
        assert_eq!(exact(2.0f32.powi(30)).unwrap().multiplier, 1 << 30);
        assert!(exact(2.0f32.powi(31)).is_err());
        assert!(exact(f32::NAN).is_err());
        // below 2^-63 the low bits round away
        let tiny = exact(1.0e-25).unwrap();
        assert!(!tiny.exact && tiny.shift == 63);
        // within half a step of 2^-63
        assert!((value(tiny) - 1.0e-25).abs() <= 2f64.powi(-64));
    }

    #[test]
    fn common_shifts_bound_every_multiplier() {
        let (points, shift) = common(&[0.75, 0.001], 21).unwrap();
        assert!(
            points
                .iter()
                .all(|p| p.multiplier.abs() < 1 << 21 && p.shift == shift)
        );
        // 0.75 * 2^21 < 2^21 <= 0.75 * 2^22
        assert_eq!(shift, 21);
        assert_eq!(points[0].multiplier, 3 << (shift - 2));
        assert!(points[0].exact && !points[1].exact);
        // within half a step of 2^-21
        assert!((value(points[1]) - f64::from(0.001f32)).abs() <= 2f64.powi(-22));
        assert!(common(&[2.0f32.powi(22)], 21).is_err());
        let (points, shift) = common(&[0.5, 0.25], 4).unwrap();
        assert_eq!(
            (points[0].multiplier, points[1].multiplier, shift),
            (2, 1, 2)
        );
        assert_eq!(common(&[1.0, 1.0], 21).unwrap().1, 0);
    }

    #[test]
    fn rounding_is_half_even() {
        assert_eq!(scaled(5, -1), (2, false));
        assert_eq!(scaled(7, -1), (4, false));
        assert_eq!(scaled(-5, -1), (-2, false));
        assert_eq!(scaled(6, -2), (2, false));
        assert_eq!(scaled(3, 2), (12, true));
    }
}
