//! What a convolution layer's tiles may be: the layer's shape as the array sees it, the
//! buffer capacities of each mode, and the fit check that both the emitter and the mapper
//! (`crate::mapping`) use, so a tile one accepts the other emits.

use super::window::Window;
use qweave_hw::isa::Format;
use qweave_hw::pe::{self, PeMode};
use qweave_hw::{HwConfig, Mode, ModeRate};

/// What a tile can exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The input ping-pong buffer's half.
    Input,
    /// The weight buffer's half.
    Weight,
    /// The accumulator memory's half.
    Accumulator,
    /// The post-processing unit's parameter memory.
    Parameter,
    /// A 16-bit instruction field.
    Field,
    /// A tile of several groups must take each group's every filter and channel (its loads
    /// read whole groups).
    Groups,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Input => "input buffer",
            Limit::Weight => "weight buffer",
            Limit::Accumulator => "accumulator memory",
            Limit::Parameter => "parameter memory",
            Limit::Field => "16-bit range of the instruction fields",
            Limit::Groups => "rule that a tile of several groups takes whole groups",
        })
    }
}

/// A tile size: groups, filters per group, input channels per group, output rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Tile {
    pub g: u64,
    pub m: u64,
    pub c: u64,
    pub r: u64,
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "g{} m{} c{} r{}", self.g, self.m, self.c, self.r)
    }
}

/// An affine count `per_plane * planes + fixed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerPlane {
    pub per_plane: u64,
    pub fixed: u64,
}

impl PerPlane {
    fn at(self, planes: u64) -> u64 {
        self.per_plane * planes + self.fixed
    }
}

/// A convolution or matrix product as its tiles see it.
#[derive(Clone, Debug)]
pub struct ConvShape {
    /// The sliding window (a matrix product is a 1x1 one over one row).
    pub win: Window,
    pub groups: u64,
    /// Filters and input channels per group.
    pub mpg: u64,
    pub cpg: u64,
    /// Operand widths and formats as the array reads them.
    pub wbits: u8,
    pub abits: u8,
    pub wfmt: Format,
    pub afmt: Format,
    /// The modes that hold the operands, fastest first; a bit-sliced layer has only its
    /// slices' mode.
    pub modes: Vec<ModeRate>,
    /// Taps of a kernel row filter packing may take (1 unless stride and dilation are 1).
    pub taps: u8,
    /// Activation slices (1 unless the activations are wider than every mode).
    pub slices: u64,
    /// Accumulators per output (2 when a sliced layer keeps its bias apart).
    pub regions: u64,
    /// Accumulators the post-processing chain needs beside the block, and its parameter words.
    pub scratch: PerPlane,
    pub par: PerPlane,
}

/// Entries of one half of each buffer in a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub input: u64,
    pub weight: u64,
    pub acc: u64,
}

impl ConvShape {
    /// Products per output (`cin x kh x kw` of a group).
    pub fn khw(&self) -> u64 {
        self.win.k[0] * self.win.k[1]
    }

    /// The rate of `mode` if it is one that holds the layer.
    pub fn rate(&self, mode: Mode) -> Option<ModeRate> {
        self.modes.iter().find(|m| m.mode == mode).copied()
    }

    /// The half-buffer capacities of `hw` in `mode`.
    pub fn capacity(hw: &HwConfig, mode: Mode) -> Capacity {
        Capacity {
            input: u64::from(hw.rows) * u64::from(hw.input_bank_bytes) * 8 / u64::from(mode.a),
            weight: u64::from(hw.cols) * u64::from(hw.weight_bank_bytes) * 8
                / u64::from(mode.w)
                / 2,
            acc: u64::from(hw.cols) * u64::from(hw.acc_entries) / 2,
        }
    }

    /// Whether tile `t` fits `hw`'s buffers in `mode`, or the first limit it exceeds.
    pub fn fits(&self, hw: &HwConfig, mode: Mode, t: Tile) -> Result<(), Limit> {
        let cap = Self::capacity(hw, mode);
        let win = &self.win;
        let ih = win.ih_bound(t.r);
        let iw = win.iw();
        let planes = t.g * t.m;
        let u16max = u64::from(u16::MAX);
        let checks = [
            (
                t.g == 1 || (t.m == self.mpg && t.c == self.cpg),
                Limit::Groups,
            ),
            (t.g * t.c * ih * iw <= cap.input, Limit::Input),
            (planes * t.c * self.khw() <= cap.weight, Limit::Weight),
            (
                self.regions * planes * t.r * win.ow
                    + u64::from(self.slices > 1)
                    + self.scratch.at(planes)
                    <= cap.acc,
                Limit::Accumulator,
            ),
            (
                self.par.at(planes) <= u64::from(hw.post.param_entries),
                Limit::Parameter,
            ),
            (
                [t.g * t.c, ih, iw, planes, t.c * self.khw(), t.r, win.ow]
                    .iter()
                    .all(|&v| v <= u16max),
                Limit::Field,
            ),
        ];
        match checks.iter().find(|c| !c.0) {
            Some(c) => Err(c.1),
            None => Ok(()),
        }
    }

    /// The default tile: all of the layer, halving groups, then filters or channels
    /// (whichever the exceeded buffer holds more of), then as many output rows as fit; or
    /// the limit one output row of one filter and channel exceeds.
    pub fn default_tile(&self, hw: &HwConfig, mode: Mode) -> Result<Tile, Limit> {
        let mut t = Tile {
            g: self.groups,
            m: self.mpg,
            c: self.cpg,
            r: 1,
        };
        while let Err(what) = self.fits(hw, mode, t) {
            if t.g > 1 {
                t.g = t.g.div_ceil(2);
                continue;
            }
            let shrink_m = match what {
                Limit::Accumulator | Limit::Parameter => true,
                Limit::Input => false,
                Limit::Weight | Limit::Field | Limit::Groups => t.m >= t.c,
            };
            if shrink_m && t.m > 1 {
                t.m = t.m.div_ceil(2);
            } else if !shrink_m && t.c > 1 {
                t.c = t.c.div_ceil(2);
            } else if t.m > 1 {
                t.m = t.m.div_ceil(2);
            } else if t.c > 1 {
                t.c = t.c.div_ceil(2);
            } else {
                return Err(what);
            }
        }
        while t.r < self.win.oh && self.fits(hw, mode, Tile { r: t.r + 1, ..t }).is_ok() {
            t.r += 1;
        }
        Ok(t)
    }

    /// Every way `hw`'s PEs run this layer in `mode`, the most products first.
    pub fn packings(&self, hw: &HwConfig, mode: ModeRate) -> Vec<PeMode> {
        pe::choices(hw, mode, self.wfmt, self.afmt, self.taps)
    }

    /// Output tiles of tile size `t`.
    pub fn tiles(&self, t: Tile) -> u64 {
        self.groups.div_ceil(t.g) * self.mpg.div_ceil(t.m) * self.win.oh.div_ceil(t.r)
    }
}
