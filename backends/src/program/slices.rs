//! Activations wider than every mode of the array, computed in slices of bits.
//!
//! A `b`-bit activation is `sum_k 2^(k s) x_k` for slices `x_k` of `s` bits (the top one
//! signed when `x` is, the others unsigned), so a product with it is the same sum of products
//! with the slices. The array computes the slices most significant first, and between them
//! the post-processing unit multiplies the accumulators by `2^s` (Horner's rule). A slice is
//! loaded straight from the packed tensor: with `s` dividing `b`, slice `k` of value `e` is
//! DRAM value `e b / s + k` of width `s`.
//!
//! The slices are read in one format, so that the array needs no new mode between them: for
//! a signed input every slice is read as a signed `s + 1`-bit operand (the unsigned lower
//! slices fit that too), for an unsigned one as unsigned `s` bits.

use super::layout::Region;
use qweave_hw::isa::Format;
use qweave_hw::{HwConfig, ModeRate};

/// One slice of the input.
#[derive(Clone, Copy, Debug)]
pub struct Slice {
    /// Its values in DRAM.
    pub region: Region,
    /// Its padding value: the slice of the zero point.
    pub fill: i64,
}

/// An input split into slices, most significant first.
#[derive(Clone, Debug)]
pub struct Sliced {
    /// The mode the slices run in, and the format the array reads them in.
    pub rate: ModeRate,
    pub afmt: Format,
    /// The slices.
    pub slices: Vec<Slice>,
}

/// Splits `x` (packed in `region`, padded with `zero`) into the fewest slices a mode with
/// `wbits`-bit weights reads; `None` when no mode takes `wbits`-bit weights.
pub fn split(hw: &HwConfig, wbits: u8, region: Region, zero: i64) -> Option<Sliced> {
    let signed = region.fmt == Format::Signed;
    let widest = hw
        .modes
        .iter()
        .filter(|m| m.mode.w >= wbits)
        .map(|m| m.mode.a)
        .max()?;
    // a signed operand of the mode holds unsigned slices one bit narrower
    let limit = if signed { widest - 1 } else { widest };
    let bits = (1..=limit.max(1))
        .rev()
        .find(|&s| region.bits.is_multiple_of(s))
        .filter(|&s| s <= limit)?;
    let read = if signed { bits + 1 } else { bits };
    let rate = hw.mode_for(wbits, read)?;
    let n = region.bits / bits;
    let slices = (0..n)
        .rev()
        .map(|k| {
            let top = k + 1 == n;
            let shifted = zero >> (u32::from(k) * u32::from(bits));
            Slice {
                region: Region {
                    start: region.start + u64::from(k) * u64::from(bits),
                    fmt: if top && signed {
                        Format::Signed
                    } else {
                        Format::Unsigned
                    },
                    bits,
                    len: region.len * u64::from(n),
                },
                fill: if top {
                    shifted
                } else {
                    shifted & ((1i64 << bits) - 1)
                },
            }
        })
        .collect();
    Some(Sliced {
        rate,
        afmt: if signed {
            Format::Signed
        } else {
            Format::Unsigned
        },
        slices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qweave_hw::Target;
    use qweave_hw::isa::packing::{read, write};

    #[test]
    fn slices_recompose_every_value() {
        let hw = Target::Sim.preset();
        let r = Region {
            start: 8,
            fmt: Format::Signed,
            bits: 16,
            len: 5,
        };
        let values = [-32768, -1, 0, 12345, 32767];
        let mut dram = vec![0u8; 16];
        for (e, &v) in values.iter().enumerate() {
            write(&mut dram, r.start, e as u64, 16, Format::Signed, v).unwrap();
        }
        let s = split(&hw, 4, r, -300).unwrap();
        // signed 16-bit input, modes up to a8: 4-bit slices read as signed 5-bit operands
        assert_eq!(
            (s.slices[0].region.bits, s.slices.len(), s.afmt),
            (4, 4, Format::Signed)
        );
        assert!(s.rate.mode.a >= 5);
        for (e, &v) in values.iter().enumerate() {
            let n = s.slices.len() as u64;
            let back = s.slices.iter().fold(0i64, |acc, sl| {
                let part = read(
                    &dram,
                    sl.region.start,
                    e as u64 * n,
                    sl.region.bits,
                    sl.region.fmt,
                );
                acc * 16 + part.unwrap()
            });
            assert_eq!(back, v);
        }
        let zero = s.slices.iter().fold(0i64, |acc, sl| acc * 16 + sl.fill);
        assert_eq!(zero, -300);
        // an unsigned input takes the widest slices
        let u = split(
            &hw,
            8,
            Region {
                fmt: Format::Unsigned,
                ..r
            },
            0,
        )
        .unwrap();
        assert_eq!((u.slices[0].region.bits, u.slices.len()), (8, 2));
    }
}
