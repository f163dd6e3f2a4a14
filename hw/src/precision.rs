//! Precision modes of a processing element: weight bits by activation bits, and how many
//! multiply-accumulates a PE completes per cycle in each.

use serde::{Deserialize, Serialize};

/// A weight-width by activation-width mode; a layer of narrower operands runs in it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mode {
    /// Weight bits.
    pub w: u8,
    /// Activation bits.
    pub a: u8,
}

impl Mode {
    /// True when operands of `w` and `a` bits run in this mode.
    pub fn covers(self, w: u8, a: u8) -> bool {
        w <= self.w && a <= self.a
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}a{}", self.w, self.a)
    }
}

/// A mode a PE supports and its throughput in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeRate {
    /// The mode.
    pub mode: Mode,
    /// Multiply-accumulates one PE completes per cycle in this mode.
    pub macs_per_cycle: u32,
}

/// The fastest of `modes` that runs `w`-bit weights against `a`-bit activations.
pub fn best(modes: &[ModeRate], w: u8, a: u8) -> Option<ModeRate> {
    modes
        .iter()
        .filter(|m| m.mode.covers(w, a))
        .max_by_key(|m| m.macs_per_cycle)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_covering_mode_wins() {
        let r = |w, a, macs_per_cycle| ModeRate {
            mode: Mode { w, a },
            macs_per_cycle,
        };
        let modes = [r(8, 8, 1), r(4, 4, 4), r(2, 2, 16)];
        assert_eq!(best(&modes, 3, 4), Some(r(4, 4, 4)));
        assert_eq!(best(&modes, 1, 1), Some(r(2, 2, 16)));
        assert_eq!(best(&modes, 8, 5), Some(r(8, 8, 1)));
        assert_eq!(best(&modes, 16, 8), None);
        assert_eq!(Mode { w: 4, a: 8 }.to_string(), "w4a8");
    }
}
