//! What a PE computes under a `config`: the packing its mode runs with, whether that is legal
//! on the PE's multiplier, and the products it completes per cycle.

use crate::config::{HwConfig, PeKind};
use crate::cycles::Rate;
use crate::isa::{Config, Format, MulPort, Pack};
use crate::multiply::{self, DSP48E2, Layout, Packing, Port, Values};
use crate::precision::ModeRate;
use serde::{Deserialize, Serialize};

/// The values a mode of `bits` reads in `fmt`.
pub fn values(fmt: Format, bits: u8) -> Values {
    match fmt {
        Format::Signed => Values::Signed(bits),
        Format::Unsigned => Values::Unsigned(bits),
        Format::Bipolar => Values::Bipolar,
    }
}

/// The packing fields of a `config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "PeModeText", try_from = "PeModeText")]
pub struct PeMode {
    /// How products are computed.
    pub pack: Pack,
    /// Weights per packed multiply.
    pub kp: u8,
    /// Activations per packed multiply.
    pub np: u8,
    /// Lane bits.
    pub lane: u8,
    /// The port of the packed weights.
    pub wport: MulPort,
}

impl PeMode {
    /// Bit Fusion bricks (LUT PEs).
    pub const BRICKS: PeMode = PeMode {
        pack: Pack::Bricks,
        kp: 0,
        np: 0,
        lane: 0,
        wport: MulPort::A,
    };

    /// The fields of `c`.
    pub fn of(c: &Config) -> PeMode {
        PeMode {
            pack: c.pack,
            kp: c.kp,
            np: c.np,
            lane: c.lane,
            wport: c.wport,
        }
    }

    /// `c` with these fields.
    pub fn apply(self, c: Config) -> Config {
        Config {
            pack: self.pack,
            kp: self.kp,
            np: self.np,
            lane: self.lane,
            wport: self.wport,
            ..c
        }
    }

    /// A DSP packing as config fields.
    pub fn of_packing(p: &Packing) -> PeMode {
        PeMode {
            pack: match p.layout {
                Layout::Kernel => Pack::Kernel,
                Layout::Filter => Pack::Filter,
            },
            kp: p.weights,
            np: p.activations,
            lane: p.lane_bits,
            wport: match p.weights_on {
                Port::A => MulPort::A,
                Port::B => MulPort::B,
            },
        }
    }

    /// The DSP48E2 packing these fields name for `c`'s mode and formats.
    pub fn packing(self, c: &Config) -> Option<Packing> {
        let layout = match self.pack {
            Pack::Kernel => Layout::Kernel,
            Pack::Filter => Layout::Filter,
            Pack::Bricks | Pack::Xnor => return None,
        };
        Some(Packing {
            multiplier: DSP48E2,
            layout,
            weights: self.kp,
            activations: self.np,
            lane_bits: self.lane,
            weights_on: match self.wport {
                MulPort::A => Port::A,
                MulPort::B => Port::B,
            },
            w: values(c.wfmt, c.w),
            a: values(c.afmt, c.a),
        })
    }

    /// LUTs one PE spends on this packing: a borrow adder per lane below the top, and an
    /// adder per activation packed beside the first (sign extension across lanes).
    pub fn decode_luts(self) -> u64 {
        match self.pack {
            Pack::Bricks | Pack::Xnor => 0,
            Pack::Kernel | Pack::Filter => {
                let (kp, np) = (u64::from(self.kp), u64::from(self.np));
                let lanes = if self.pack == Pack::Kernel {
                    kp * np
                } else {
                    kp + np - 1
                };
                (lanes - 1 + np - 1) * u64::from(self.lane)
            }
        }
    }

    /// The accumulation depth of this packing in `mode`: the fewest products its lanes may
    /// sum before a decode, over signed weights by unsigned and by signed activations (where
    /// legal); `u64::MAX` for bricks.
    pub fn depth(self, mode: crate::Mode) -> u64 {
        let mut depth = u64::MAX;
        for afmt in [Format::Unsigned, Format::Signed] {
            let c = Config {
                w: mode.w,
                a: mode.a,
                wfmt: Format::Signed,
                afmt,
                ..Config::zeroed()
            };
            if let Some(d) = self.packing(&c).and_then(|p| p.check().ok()) {
                depth = depth.min(d);
            }
        }
        depth
    }

    /// One product per multiply in one 48-bit lane: legal for any operands of up to 8 bits.
    pub const PLAIN: PeMode = PeMode {
        pack: Pack::Kernel,
        kp: 1,
        np: 1,
        lane: 48,
        wport: MulPort::A,
    };

    /// A short name: `bricks`, `xnor`, or the DSP packing's scheme.
    pub fn describe(self) -> String {
        match self.pack {
            Pack::Bricks => "bricks".into(),
            Pack::Xnor => "xnor".into(),
            Pack::Kernel | Pack::Filter => {
                let p = Packing {
                    multiplier: DSP48E2,
                    layout: if self.pack == Pack::Kernel {
                        Layout::Kernel
                    } else {
                        Layout::Filter
                    },
                    weights: self.kp,
                    activations: self.np,
                    lane_bits: self.lane,
                    weights_on: Port::A,
                    w: Values::Bipolar,
                    a: Values::Bipolar,
                };
                p.scheme()
            }
        }
    }
}

/// `PeMode` as the manifest writes it, with the enums by name.
#[derive(Serialize, Deserialize)]
struct PeModeText {
    pack: String,
    kp: u8,
    np: u8,
    lane: u8,
    wport: String,
}

impl From<PeMode> for PeModeText {
    fn from(p: PeMode) -> Self {
        PeModeText {
            pack: p.pack.name().into(),
            kp: p.kp,
            np: p.np,
            lane: p.lane,
            wport: p.wport.name().into(),
        }
    }
}

impl TryFrom<PeModeText> for PeMode {
    type Error = String;

    fn try_from(t: PeModeText) -> Result<Self, String> {
        let find = |names: &[&str], v: &str, what: &str| {
            names
                .iter()
                .position(|n| *n == v)
                .ok_or_else(|| format!("{what} '{v}' is not one of {}", names.join(", ")))
        };
        Ok(PeMode {
            pack: Pack::ALL[find(Pack::NAMES, &t.pack, "pack")?],
            kp: t.kp,
            np: t.np,
            lane: t.lane,
            wport: MulPort::ALL[find(MulPort::NAMES, &t.wport, "wport")?],
        })
    }
}

/// How a PE of `hw` computes under `c` (its products per cycle and packing shape), or why `c`
/// is not a mode the PE runs.
pub fn rate(hw: &HwConfig, c: &Config) -> Result<Rate, String> {
    let rate = hw
        .modes
        .iter()
        .find(|m| m.mode.w == c.w && m.mode.a == c.a)
        .ok_or_else(|| {
            let modes: Vec<String> = hw.modes.iter().map(|m| m.mode.to_string()).collect();
            format!(
                "mode w{}a{} is not one of the PE's ({})",
                c.w,
                c.a,
                modes.join(", ")
            )
        })?;
    let pe = PeMode::of(c);
    match (hw.pe, c.pack) {
        (PeKind::Lut, Pack::Bricks) => Ok(Rate::bricks(rate.macs_per_cycle)),
        (PeKind::Lut, Pack::Xnor) if c.wfmt == Format::Bipolar && c.afmt == Format::Bipolar => {
            Ok(Rate {
                pack: Pack::Xnor,
                ..Rate::bricks(rate.macs_per_cycle)
            })
        }
        (PeKind::Dsp48e2, Pack::Kernel | Pack::Filter) => {
            if !hw
                .packings
                .iter()
                .any(|p| p.mode == rate.mode && p.pe == pe)
            {
                return Err(format!(
                    "the PE is not built with {} ({} {} {} l{}) in mode {}",
                    pe.describe(),
                    pe.pack.name(),
                    pe.kp,
                    pe.np,
                    pe.lane,
                    rate.mode
                ));
            }
            let p = pe.packing(c).expect("a DSP packing");
            p.check().map_err(|e| format!("{}: {e}", pe.describe()))?;
            if p.products() > rate.macs_per_cycle {
                return Err(format!(
                    "{} computes {} products, more than the {} lanes the PE decodes in mode {}",
                    pe.describe(),
                    p.products(),
                    rate.macs_per_cycle,
                    rate.mode
                ));
            }
            Ok(Rate {
                pack: c.pack,
                products: p.products(),
                kp: u32::from(p.weights),
                np: u32::from(p.activations),
            })
        }
        (kind, pack) => Err(format!(
            "pack={} is not one a {kind:?} PE runs for {} by {} operands",
            pack.name(),
            c.wfmt.name(),
            c.afmt.name()
        )),
    }
}

/// Every way a PE of `hw` as built runs `mode` on operands read as `wfmt` and `afmt`, where
/// filter packing may take up to `taps` taps of a kernel row; the most products first.
pub fn choices(hw: &HwConfig, mode: ModeRate, wfmt: Format, afmt: Format, taps: u8) -> Vec<PeMode> {
    let mut all = candidates(hw, mode, wfmt, afmt, taps);
    if hw.pe == PeKind::Dsp48e2 {
        all.retain(|pe| {
            hw.packings
                .iter()
                .any(|p| p.mode == mode.mode && p.pe == *pe)
        });
    }
    all
}

/// Every way a PE of `hw`'s kind could run `mode` (whether or not `hw` is built with it),
/// as `choices` orders them.
pub fn candidates(
    hw: &HwConfig,
    mode: ModeRate,
    wfmt: Format,
    afmt: Format,
    taps: u8,
) -> Vec<PeMode> {
    match hw.pe {
        PeKind::Lut => {
            let mut out = vec![PeMode::BRICKS];
            if wfmt == Format::Bipolar && afmt == Format::Bipolar {
                out.push(PeMode {
                    pack: Pack::Xnor,
                    ..PeMode::BRICKS
                });
            }
            out
        }
        PeKind::Dsp48e2 => {
            let (w, a) = (values(wfmt, mode.mode.w), values(afmt, mode.mode.a));
            let mut legal: Vec<Packing> = multiply::legal(DSP48E2, w, a, taps)
                .into_iter()
                .filter(|p| p.products() <= mode.macs_per_cycle)
                .collect();
            // the most products; then filters whose taps split a kernel row evenly
            legal.sort_by_key(|p| {
                let even = p.layout == Layout::Kernel || taps.is_multiple_of(p.weights);
                std::cmp::Reverse((p.products(), even, p.depth()))
            });
            legal.iter().map(PeMode::of_packing).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;

    fn config(w: u8, a: u8, pe: PeMode) -> Config {
        pe.apply(Config {
            w,
            a,
            wfmt: Format::Signed,
            afmt: Format::Unsigned,
            acc_bits: 32,
            ..Config::zeroed()
        })
    }

    #[test]
    fn dsp_modes_run_the_packings_their_kernels_allow() {
        let hw = Target::Xczu3eg.preset();
        let mode = |w, a| hw.mode_for(w, a).expect("mode");
        let best = |w, a, taps| choices(&hw, mode(w, a), Format::Signed, Format::Unsigned, taps)[0];
        // the preset builds MixQ's packings for 3x3 kernels; 1x1 kernels cannot use filter
        // packing, and fall back to plain products unless the PE is built with kernel packing
        for (w, taps, want) in [
            (8, 3, 2),
            (4, 3, 6),
            (2, 3, 15),
            (8, 1, 2),
            (4, 1, 1),
            (2, 1, 1),
        ] {
            let pe = best(w, w, taps);
            assert_eq!(
                rate(&hw, &config(w, w, pe)).map(|r| r.products),
                Ok(want),
                "w{w} taps {taps}: {pe:?}"
            );
        }
        let unbuilt = |w| candidates(&hw, mode(w, w), Format::Signed, Format::Unsigned, 1)[0];
        assert_eq!(
            (unbuilt(4).describe(), unbuilt(2).describe()),
            ("kernel 2x2".into(), "kernel 3x3".into())
        );
        let e = rate(&hw, &config(4, 4, unbuilt(4))).unwrap_err();
        assert!(e.contains("not built with kernel 2x2"), "{e}");
        let built = HwConfig {
            packings: vec![crate::Packed {
                mode: mode(4, 4).mode,
                pe: unbuilt(4),
            }],
            ..hw.clone()
        };
        assert_eq!(
            rate(&built, &config(4, 4, unbuilt(4))).map(|r| r.products),
            Ok(4)
        );
        assert_eq!(best(4, 4, 3).describe(), "filter 3x2");
        // a packing with more products than the PE decodes, or an illegal one, is refused
        let too_many = choices(&hw, mode(2, 2), Format::Signed, Format::Unsigned, 3)[0];
        let e = rate(&hw, &config(4, 4, too_many)).unwrap_err();
        assert!(e.contains("not built with filter 3x5"), "{e}");
        let e = rate(&hw, &config(8, 8, PeMode::BRICKS)).unwrap_err();
        assert!(
            e.contains("pack=bricks is not one a Dsp48e2 PE runs"),
            "{e}"
        );
    }

    #[test]
    fn lut_modes_run_bricks_and_xnor_for_bipolar_operands() {
        let hw = Target::Sim.preset();
        assert_eq!(
            rate(&hw, &config(4, 4, PeMode::BRICKS)),
            Ok(Rate::bricks(4))
        );
        let xnor = PeMode {
            pack: Pack::Xnor,
            ..PeMode::BRICKS
        };
        assert!(rate(&hw, &config(2, 2, xnor)).is_err());
        let bip = Config {
            wfmt: Format::Bipolar,
            afmt: Format::Bipolar,
            ..config(2, 2, xnor)
        };
        assert_eq!(rate(&hw, &bip).map(|r| r.products), Ok(16));
        let mode = hw.mode_for(2, 2).expect("w2a2");
        assert_eq!(
            choices(&hw, mode, Format::Bipolar, Format::Bipolar, 3).len(),
            2
        );
        assert_eq!(
            rate(&hw, &config(3, 3, PeMode::BRICKS)).unwrap_err(),
            "mode w3a3 is not one of the PE's (w8a8, w8a4, w4a8, w4a4, w2a2)"
        );
    }
}
