//! Exact text for `f32` values: the shortest decimal that reads back to the same bits.

/// Formats `x` so that [`parse_f32`] returns exactly the same bits.
///
/// Finite values use the shortest round-tripping decimal (`0.1`, `1e-7`, `-0.0`); infinities
/// print as `inf` and `-inf`; the canonical quiet NaN as `nan`; any other NaN as its bit
/// pattern in hex (`0x7fc00001`), so NaN payloads survive a round trip.
pub fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        if x.to_bits() == f32::NAN.to_bits() {
            "nan".to_string()
        } else {
            format!("0x{:08x}", x.to_bits())
        }
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

/// Reads an `f32` written by [`fmt_f32`] (or any decimal literal); `None` when malformed.
pub fn parse_f32(text: &str) -> Option<f32> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok().map(f32::from_bits);
    }
    match text {
        "nan" => Some(f32::NAN),
        "inf" => Some(f32::INFINITY),
        "-inf" => Some(f32::NEG_INFINITY),
        _ => {
            let ok = text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if ok { text.parse().ok() } else { None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bits() {
        let cases = [
            0.0f32,
            -0.0,
            0.1,
            1.0 / 3.0,
            1e-7,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::from_bits(0x7fc0_0001),
            f32::from_bits(0xffc0_0000),
        ];
        for x in cases {
            let text = fmt_f32(x);
            assert_eq!(
                parse_f32(&text).map(f32::to_bits),
                Some(x.to_bits()),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_words() {
        assert_eq!(parse_f32("infinity"), None);
        assert_eq!(parse_f32("1.0.0"), None);
        assert_eq!(parse_f32("0xzz"), None);
    }
}
