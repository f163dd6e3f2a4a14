//! Named rounding modes and their exact definitions on rationals and on `f32`.
//!
//! Every rounding in the IR names one of these modes. The integer forms are exact (they work
//! on `i128` numerators and positive denominators), so a requantization `acc * m >> s` rounds
//! the true rational value, never an approximation of it.

use std::fmt;
use std::str::FromStr;

/// How a real value between two integers becomes an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundingMode {
    /// Nearest; ties to the even neighbour (IEEE default, numpy `round`, QONNX `ROUND`).
    HalfEven,
    /// Nearest; ties away from zero (C `round`, QONNX `HALF_UP`).
    HalfAway,
    /// Nearest; ties toward zero (QONNX `HALF_DOWN`).
    HalfTowardZero,
    /// Nearest; ties toward +infinity (`(x + 2^(s-1)) >> s` in hardware).
    HalfUp,
    /// Nearest; ties toward -infinity.
    HalfDown,
    /// Toward -infinity (an arithmetic right shift).
    Floor,
    /// Toward +infinity.
    Ceil,
    /// Away from zero (QONNX `UP`).
    Away,
    /// Toward zero, truncation (QONNX `DOWN`).
    TowardZero,
}

impl RoundingMode {
    /// Every mode, in the order documented above.
    pub const ALL: [RoundingMode; 9] = [
        RoundingMode::HalfEven,
        RoundingMode::HalfAway,
        RoundingMode::HalfTowardZero,
        RoundingMode::HalfUp,
        RoundingMode::HalfDown,
        RoundingMode::Floor,
        RoundingMode::Ceil,
        RoundingMode::Away,
        RoundingMode::TowardZero,
    ];

    /// The name used in the text form.
    pub fn as_str(self) -> &'static str {
        match self {
            RoundingMode::HalfEven => "half_even",
            RoundingMode::HalfAway => "half_away",
            RoundingMode::HalfTowardZero => "half_toward_zero",
            RoundingMode::HalfUp => "half_up",
            RoundingMode::HalfDown => "half_down",
            RoundingMode::Floor => "floor",
            RoundingMode::Ceil => "ceil",
            RoundingMode::Away => "away",
            RoundingMode::TowardZero => "toward_zero",
        }
    }

    /// Chooses between `floor` (the integer below) and `floor + 1` for a value strictly
    /// between them; `frac` orders the fraction against one half.
    fn pick(self, floor: i128, frac: std::cmp::Ordering, negative: bool) -> i128 {
        use std::cmp::Ordering::*;
        let up = match self {
            RoundingMode::Floor => false,
            RoundingMode::Ceil => true,
            RoundingMode::TowardZero => negative,
            RoundingMode::Away => !negative,
            _ => match frac {
                Less => false,
                Greater => true,
                Equal => match self {
                    RoundingMode::HalfEven => floor & 1 == 1,
                    RoundingMode::HalfAway => floor >= 0,
                    RoundingMode::HalfTowardZero => floor < 0,
                    RoundingMode::HalfUp => true,
                    _ => false,
                },
            },
        };
        floor + up as i128
    }

    /// `n / d` rounded, exactly. `d` must be positive.
    pub fn div(self, n: i128, d: i128) -> i128 {
        assert!(d > 0, "rounding division by a non-positive denominator");
        let q = n.div_euclid(d);
        let r = n.rem_euclid(d);
        if r == 0 {
            return q;
        }
        self.pick(q, (2 * r).cmp(&d), n < 0)
    }

    /// `x / 2^shift` rounded, exactly; `shift` at most 126.
    pub fn shift(self, x: i128, shift: u32) -> i128 {
        if shift == 0 {
            x
        } else {
            self.div(x, 1i128 << shift)
        }
    }

    /// `x` rounded to an integral `f32` (NaN and infinities pass through).
    pub fn round_f32(self, x: f32) -> f32 {
        if !x.is_finite() {
            return x;
        }
        let floor = x.floor();
        // Exact: x and floor(x) are within 1 of each other and share an exponent range.
        let frac = x - floor;
        if frac == 0.0 {
            return x;
        }
        let ord = frac.partial_cmp(&0.5).unwrap_or(std::cmp::Ordering::Equal);
        // |x| < 2^23 here (larger f32 values are integral), so the i128 round trip is exact.
        let picked = self.pick(floor as i128, ord, x < 0.0) as f32;
        if picked == 0.0 && x < 0.0 {
            -0.0
        } else {
            picked
        }
    }
}

impl fmt::Display for RoundingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoundingMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RoundingMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = RoundingMode::ALL.iter().map(|m| m.as_str()).collect();
                format!(
                    "unknown rounding mode '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::RoundingMode::{self, *};

    fn table(mode: RoundingMode) -> Vec<i128> {
        // numerators over 2: -2.5, -1.5, -1, -0.5, 0.5, 1.5, 2.5, and quarters -0.75, 0.25
        [
            (-5, 2),
            (-3, 2),
            (-2, 2),
            (-1, 2),
            (1, 2),
            (3, 2),
            (5, 2),
            (-3, 4),
            (1, 4),
        ]
        .into_iter()
        .map(|(n, d)| mode.div(n, d))
        .collect()
    }

    #[test]
    fn integer_rounding_matches_the_definitions() {
        assert_eq!(table(HalfEven), [-2, -2, -1, 0, 0, 2, 2, -1, 0]);
        assert_eq!(table(HalfAway), [-3, -2, -1, -1, 1, 2, 3, -1, 0]);
        assert_eq!(table(HalfTowardZero), [-2, -1, -1, 0, 0, 1, 2, -1, 0]);
        assert_eq!(table(HalfUp), [-2, -1, -1, 0, 1, 2, 3, -1, 0]);
        assert_eq!(table(HalfDown), [-3, -2, -1, -1, 0, 1, 2, -1, 0]);
        assert_eq!(table(Floor), [-3, -2, -1, -1, 0, 1, 2, -1, 0]);
        assert_eq!(table(Ceil), [-2, -1, -1, 0, 1, 2, 3, 0, 1]);
        assert_eq!(table(Away), [-3, -2, -1, -1, 1, 2, 3, -1, 1]);
        assert_eq!(table(TowardZero), [-2, -1, -1, 0, 0, 1, 2, 0, 0]);
    }

    #[test]
    fn float_rounding_agrees_with_integer_rounding() {
        for mode in RoundingMode::ALL {
            for n in -40i128..=40 {
                let x = n as f32 / 4.0;
                assert_eq!(mode.round_f32(x), mode.div(n, 4) as f32, "{mode} {x}");
            }
        }
        assert_eq!(HalfEven.round_f32(0.49999997), 0.0);
        assert_eq!(HalfUp.round_f32(0.49999997), 0.0);
        assert_eq!(HalfEven.round_f32(16777215.0), 16777215.0);
        assert_eq!(HalfAway.round_f32(-0.4).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn shifts_round_exactly() {
        assert_eq!(HalfUp.shift(-5, 1), -2);
        assert_eq!(Floor.shift(-5, 1), -3);
        assert_eq!(HalfEven.shift(6, 2), 2);
        assert_eq!(HalfEven.shift(10, 2), 2);
        assert_eq!("half_even".parse::<RoundingMode>(), Ok(HalfEven));
        assert!("nearest".parse::<RoundingMode>().is_err());
    }
}
