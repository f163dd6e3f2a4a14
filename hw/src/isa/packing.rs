//! Values packed at their true width in DRAM: value `e` of a region starting at bit `base`
//! takes bits `[base + e bits, base + (e + 1) bits)`, lowest bit first (`docs/isa.md`).

use super::Format;

/// The smallest and largest value of `bits`-bit `fmt` integers (bipolar: -1 and +1).
pub fn range(fmt: Format, bits: u8) -> (i64, i64) {
    let b = u32::from(bits.clamp(1, 63));
    match fmt {
        Format::Signed => (-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1),
        Format::Unsigned => (0, (1i64 << b) - 1),
        Format::Bipolar => (-1, 1),
    }
}

/// Whether `v` is a `bits`-bit `fmt` value.
pub fn fits(v: i64, fmt: Format, bits: u8) -> bool {
    match fmt {
        Format::Bipolar => v == -1 || v == 1,
        _ => {
            let (lo, hi) = range(fmt, bits);
            (lo..=hi).contains(&v)
        }
    }
}

/// Whether `bits` is a width values of `fmt` are stored at (1 to 32; bipolar only 1).
pub fn valid_width(fmt: Format, bits: u8) -> bool {
    match fmt {
        Format::Bipolar => bits == 1,
        _ => (1..=32).contains(&bits),
    }
}

/// The DRAM bit address of a region that starts at bit `bit` (0 to 7) of byte `byte`.
pub fn bit_address(byte: u32, bit: u8) -> u64 {
    u64::from(byte) * 8 + u64::from(bit)
}

/// The bit position of value `index` of a region starting at bit `base`, and the byte just
/// past it.
fn span(base: u64, index: u64, bits: u8) -> (u64, u64) {
    let at = base + index * u64::from(bits);
    (at, (at + u64::from(bits)).div_ceil(8))
}

/// The byte just past value `index`, for bounds checks.
pub fn end_byte(base: u64, index: u64, bits: u8) -> u64 {
    span(base, index, bits).1
}

/// Reads value `index` of a region; `None` past the end of `dram` or for a width `fmt` does
/// not store at.
pub fn read(dram: &[u8], base: u64, index: u64, bits: u8, fmt: Format) -> Option<i64> {
    if !valid_width(fmt, bits) {
        return None;
    }
    let (at, end) = span(base, index, bits);
    let first = usize::try_from(at / 8).ok()?;
    let last = usize::try_from(end).ok()?;
    // eight bytes hold any value of at most 32 bits at any bit offset
    let word = match dram.get(first..first + 8) {
        Some(b) if last <= dram.len() => u64::from_le_bytes(b.try_into().ok()?),
        _ => {
            let bytes = dram.get(first..last)?;
            let mut window = [0u8; 8];
            window[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(window)
        }
    };
    let raw = (word >> (at % 8)) & ((1u64 << bits) - 1);
    Some(match fmt {
        Format::Unsigned => raw as i64,
        Format::Signed => ((raw << (64 - bits)) as i64) >> (64 - bits),
        Format::Bipolar => {
            if raw == 1 {
                1
            } else {
                -1
            }
        }
    })
}

/// Writes value `index` of a region, leaving every other bit alone. `Err` names what is
/// wrong: the value does not fit, or the region runs past `dram`.
pub fn write(
    dram: &mut [u8],
    base: u64,
    index: u64,
    bits: u8,
    fmt: Format,
    v: i64,
) -> Result<(), String> {
    if !valid_width(fmt, bits) {
        return Err(format!(
            "{} values are not stored at {bits} bits",
            fmt.name()
        ));
    }
    if !fits(v, fmt, bits) {
        return Err(format!("{v} is not a {bits}-bit {} value", fmt.name()));
    }
    let (at, end) = span(base, index, bits);
    let len = dram.len();
    let past = || format!("byte {} is past the end of DRAM ({len} bytes)", end - 1);
    let first = usize::try_from(at / 8).map_err(|_| past())?;
    let bytes = dram
        .get_mut(first..usize::try_from(end).map_err(|_| past())?)
        .ok_or_else(past)?;
    let raw = match fmt {
        Format::Bipolar => u64::from(v == 1),
        _ => (v as u64) & ((1u64 << bits) - 1),
    };
    let mut window = [0u8; 8];
    window[..bytes.len()].copy_from_slice(bytes);
    let shift = at % 8;
    let mask = ((1u64 << bits) - 1) << shift;
    let merged = (u64::from_le_bytes(window) & !mask) | (raw << shift);
    let n = bytes.len();
    bytes.copy_from_slice(&merged.to_le_bytes()[..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_pack_at_their_width_lowest_bit_first() {
        let mut d = vec![0u8; 8];
        for (i, v) in [-4, 3, -1, 0, 2].into_iter().enumerate() {
            write(&mut d, 8, i as u64, 3, Format::Signed, v).unwrap();
        }
        // 100 011 111 000 010 from bit 8 on: byte 1 = 0b11_011_100, byte 2 = 0b0_010_000_1
        assert_eq!(&d[..3], &[0, 0b1101_1100, 0b0010_0001]);
        let back: Vec<i64> = (0..5)
            .map(|i| read(&d, 8, i, 3, Format::Signed).unwrap())
            .collect();
        assert_eq!(back, [-4, 3, -1, 0, 2]);
        assert_eq!(read(&d, 8, 0, 3, Format::Unsigned), Some(4));
        write(&mut d, 0, 5, 1, Format::Bipolar, 1).unwrap();
        assert_eq!(d[0], 0b10_0000);
        assert_eq!(read(&d, 0, 5, 1, Format::Bipolar), Some(1));
        assert_eq!(read(&d, 0, 4, 1, Format::Bipolar), Some(-1));
        write(&mut d, 32, 0, 32, Format::Unsigned, u32::MAX.into()).unwrap();
        assert_eq!(read(&d, 32, 0, 32, Format::Signed), Some(-1));
        // a region may start inside a byte: 5 then -3 as 4-bit values from bit 2 of byte 7
        let mut e = vec![0u8; 9];
        let at = bit_address(7, 2);
        write(&mut e, at, 0, 4, Format::Signed, 5).unwrap();
        write(&mut e, at, 1, 4, Format::Signed, -3).unwrap();
        assert_eq!(&e[7..], &[0b0101_0100, 0b11]);
        assert_eq!(read(&e, at, 1, 4, Format::Signed), Some(-3));
        assert_eq!(end_byte(at, 1, 4), 9);
    }

    #[test]
    fn misfits_and_overruns_are_errors() {
        let mut d = vec![0u8; 2];
        assert!(
            write(&mut d, 0, 0, 4, Format::Signed, 8)
                .unwrap_err()
                .contains("4-bit")
        );
        assert!(write(&mut d, 0, 0, 2, Format::Bipolar, 1).is_err());
        assert!(
            write(&mut d, 1, 1, 8, Format::Unsigned, 1)
                .unwrap_err()
                .contains("past")
        );
        assert_eq!(read(&d, 1, 1, 8, Format::Unsigned), None);
        assert_eq!(read(&d, 0, 0, 33, Format::Signed), None);
        assert!(fits(-1, Format::Bipolar, 1) && !fits(0, Format::Bipolar, 1));
        assert_eq!(range(Format::Unsigned, 32), (0, u32::MAX.into()));
    }
}
