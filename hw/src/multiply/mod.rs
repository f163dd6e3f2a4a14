//! How a PE multiplies: several narrow products packed into one hardware multiplier (kernel
//! and filter packing, Xilinx WP486, MixQ), Bit Fusion bricks in LUTs, and XNOR-popcount.
//!
//! Every scheme here is exact arithmetic, and its legality is decided by interval arithmetic
//! over the operands' value ranges, so a scheme this module calls legal computes the plain
//! products and sums for every operand value in those ranges (the tests check this
//! exhaustively for operands up to 4 bits and at random at 8 bits).

mod bricks;
mod lanes;
mod xnor;

pub use bricks::{BRICKS_PER_PE, bricks, digits, fused_product, products_per_pe};
pub use lanes::{Illegal, Layout, Packing, Port, best, legal};
pub use xnor::{dot as xnor_dot, encode as xnor_encode};

use serde::{Deserialize, Serialize};

/// The values an operand takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    /// Two's complement of this many bits.
    Signed(u8),
    /// Non-negative, of this many bits.
    Unsigned(u8),
    /// -1 or +1 (one bit).
    Bipolar,
}

impl Values {
    /// The least and greatest value.
    pub fn range(self) -> (i64, i64) {
        match self {
            Values::Signed(b) => (-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1),
            Values::Unsigned(b) => (0, (1i64 << b) - 1),
            Values::Bipolar => (-1, 1),
        }
    }

    /// Bits of storage.
    pub fn bits(self) -> u8 {
        match self {
            Values::Signed(b) | Values::Unsigned(b) => b,
            Values::Bipolar => 1,
        }
    }

    /// Every value, in increasing order.
    pub fn all(self) -> Vec<i64> {
        match self {
            Values::Bipolar => vec![-1, 1],
            _ => {
                let (lo, hi) = self.range();
                (lo..=hi).collect()
            }
        }
    }
}

impl std::fmt::Display for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Values::Signed(b) => write!(f, "i{b}"),
            Values::Unsigned(b) => write!(f, "u{b}"),
            Values::Bipolar => write!(f, "bipolar"),
        }
    }
}

/// A hardware multiplier block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Multiplier {
    /// Xilinx UltraScale+ DSP48E2: a 27x18 signed multiplier behind a 27-bit pre-adder, with
    /// a 48-bit accumulator.
    Dsp48e2,
    /// Lattice iCE40 SB_MAC16: a 16x16 multiplier, each port signed or unsigned, with a
    /// 32-bit accumulator.
    SbMac16,
}

/// The DSP48E2.
pub const DSP48E2: Multiplier = Multiplier::Dsp48e2;
/// The SB_MAC16.
pub const SB_MAC16: Multiplier = Multiplier::SbMac16;

impl Multiplier {
    /// The block's name.
    pub fn name(self) -> &'static str {
        match self {
            Multiplier::Dsp48e2 => "DSP48E2",
            Multiplier::SbMac16 => "SB_MAC16",
        }
    }

    /// Bits of the wide port (on the DSP48E2, the pre-adder's output).
    pub fn a_bits(self) -> u8 {
        match self {
            Multiplier::Dsp48e2 => 27,
            Multiplier::SbMac16 => 16,
        }
    }

    /// Bits of the narrow port.
    pub fn b_bits(self) -> u8 {
        match self {
            Multiplier::Dsp48e2 => 18,
            Multiplier::SbMac16 => 16,
        }
    }

    /// Bits of the product and accumulator register (it wraps there).
    pub fn p_bits(self) -> u8 {
        match self {
            Multiplier::Dsp48e2 => 48,
            Multiplier::SbMac16 => 32,
        }
    }

    /// Whether a port may be configured unsigned (SB_MAC16's `A_SIGNED`/`B_SIGNED`); else
    /// both are two's complement.
    pub fn unsigned_ports(self) -> bool {
        self == Multiplier::SbMac16
    }

    /// Whether a port of `bits` holds operands in `lo..=hi`: as a signed port, or as an
    /// unsigned one when the block allows it and the operands are non-negative.
    fn port_holds(self, bits: u8, lo: i64, hi: i64) -> bool {
        let signed = lo >= -(1i64 << (bits - 1)) && hi < (1i64 << (bits - 1));
        let unsigned = self.unsigned_ports() && lo >= 0 && hi < (1i64 << bits);
        signed || unsigned
    }
}

/// `v` wrapped to a two's complement register of `bits` bits.
pub fn wrap(v: i128, bits: u8) -> i64 {
    let m = 1i128 << bits;
    let r = v.rem_euclid(m);
    (if r >= m / 2 { r - m } else { r }) as i64
}

/// The range of products of operands in `w` and `a`.
pub fn product_range(w: Values, a: Values) -> (i64, i64) {
    let (wl, wh) = w.range();
    let (al, ah) = a.range();
    let c = [wl * al, wl * ah, wh * al, wh * ah];
    (
        *c.iter().min().expect("four corners"),
        *c.iter().max().expect("four corners"),
    )
}

#[cfg(test)]
mod tests;
