//! The targets: one preset configuration each, and the resources of its part.

use crate::HwError;
use crate::config::{HwConfig, Packed, PeKind, PostProcessing};
use crate::isa::Format;
use crate::pe::{self, PeMode};
use crate::precision::{Mode, ModeRate};
use serde::Serialize;

/// A compilation target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// No FPGA: the RTL runs in simulation, without resource limits.
    Sim,
    /// Lattice iCE40 UltraPlus 5K: 5280 LUTs, 8 SB_MAC16, 30 EBR of 4 Kbit.
    Ice40up5k,
    /// Xilinx Zynq UltraScale+ ZU3EG (Ultra96-V2): 70560 LUTs, 360 DSP48E2, 216 RAMB36.
    Xczu3eg,
    /// Xilinx Zynq UltraScale+ ZU9EG (ZCU102): 274080 LUTs, 2520 DSP48E2, 912 RAMB36.
    Xczu9eg,
}

/// The resources of a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TargetLimits {
    /// Look-up tables.
    pub lut: u64,
    /// Multiplier blocks (DSP48E2, SB_MAC16).
    pub dsp: u64,
    /// Block RAMs.
    pub bram: u64,
    /// Bits of one block RAM.
    pub bram_bits: u64,
}

impl Target {
    /// Every target, in the order the help lists them.
    pub const ALL: [Target; 4] = [
        Target::Sim,
        Target::Ice40up5k,
        Target::Xczu3eg,
        Target::Xczu9eg,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sim => "sim",
            Target::Ice40up5k => "ice40up5k",
            Target::Xczu3eg => "xczu3eg",
            Target::Xczu9eg => "xczu9eg",
        }
    }

    /// The target called `name`.
    pub fn parse(name: &str) -> Result<Target, HwError> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| HwError::UnknownTarget(name.to_string()))
    }

    /// The part's resources; `None` for simulation.
    pub fn limits(self) -> Option<TargetLimits> {
        let (lut, dsp, bram, bram_bits) = match self {
            Target::Sim => return None,
            Target::Ice40up5k => (5280, 8, 30, 4096),
            Target::Xczu3eg => (70_560, 360, 216, 36_864),
            Target::Xczu9eg => (274_080, 2520, 912, 36_864),
        };
        Some(TargetLimits {
            lut,
            dsp,
            bram,
            bram_bits,
        })
    }

    /// The preset accelerator for this target: the largest regular array the part holds
    /// with room left for routing, and buffers for a tile of a typical convolution layer.
    pub fn preset(self) -> HwConfig {
        let rate = |w, a, macs_per_cycle| ModeRate {
            mode: Mode { w, a },
            macs_per_cycle,
        };
        // Bit Fusion: 16 2-bit bricks make one 8x8, two 8x4, four 4x4 or sixteen 2x2 products.
        let lut_modes = vec![
            rate(8, 8, 1),
            rate(8, 4, 2),
            rate(4, 8, 2),
            rate(4, 4, 4),
            rate(2, 2, 16),
        ];
        // Products packed into one DSP48E2 (MixQ, 3x3 kernels): 2 at 8 bits, 6 at 4, 15 at 2.
        let dsp_modes = vec![rate(8, 8, 2), rate(4, 4, 6), rate(2, 2, 15)];
        let post = |lanes| PostProcessing {
            lanes,
            lut_entries: 256,
            param_entries: if self == Target::Ice40up5k { 512 } else { 1024 },
            pooling: true,
            residual_add: true,
            multiplier_dsp: self != Target::Sim,
        };
        let base = |rows, cols, pe, modes: Vec<ModeRate>, bank: u32| HwConfig {
            target: self.name().to_string(),
            rows,
            cols,
            pe,
            packings: if pe == PeKind::Dsp48e2 {
                default_packings(&modes)
            } else {
                Vec::new()
            },
            modes,
            input_bank_bytes: bank,
            weight_bank_bytes: bank * 2,
            acc_entries: bank / 4,
            acc_bits: 32,
            sorter_banks: 2,
            post: post(cols),
            dram_bus_bits: 128,
            clock_mhz: 200,
            serial: false,
        };
        match self {
            Target::Sim => base(8, 8, PeKind::Lut, lut_modes, 1024),
            // the serial datapath: one multiplier (SB_MAC16; a column of 2 does not fit), block
            // RAM buffers
            Target::Ice40up5k => HwConfig {
                input_bank_bytes: 256,
                weight_bank_bytes: 512,
                acc_entries: 512,
                acc_bits: 32,
                dram_bus_bits: 32,
                clock_mhz: 6,
                serial: true,
                post: PostProcessing {
                    lanes: 1,
                    ..post(1)
                },
                ..base(1, 1, PeKind::Lut, vec![rate(8, 8, 1)], 256)
            },
            Target::Xczu3eg => base(16, 16, PeKind::Dsp48e2, dsp_modes, 4096),
            Target::Xczu9eg => HwConfig {
                dram_bus_bits: 512,
                ..base(32, 64, PeKind::Dsp48e2, dsp_modes, 4096)
            },
        }
    }
}

impl Target {
    /// A Xilinx part (DSP48E2 multipliers, RAMB36E2 block RAMs).
    pub fn xilinx(self) -> bool {
        matches!(self, Target::Xczu3eg | Target::Xczu9eg)
    }

    /// The serial datapath for this target (`qweave compile --datapath serial`): the
    /// iCE40's preset, or on a Zynq part a column of 32 multipliers, two to a DSP48E2, with
    /// block-RAM memories (the rows' input copies take 64 RAMB36); the e-graph mapper
    /// doubles the column where that fits and is faster. `None` for `sim`. Its 50 MHz clock
    /// is not measured (no open tool times UltraScale+ parts): the Vivado script's timing
    /// report is the check.
    pub fn serial_preset(self) -> Option<HwConfig> {
        let (rows, bank) = match self {
            Target::Sim => return None,
            Target::Ice40up5k => return Some(self.preset()),
            Target::Xczu3eg | Target::Xczu9eg => (32, 128),
        };
        let ice40 = Target::Ice40up5k.preset();
        Some(HwConfig {
            target: self.name().to_string(),
            rows,
            input_bank_bytes: bank,
            weight_bank_bytes: 8192,
            acc_entries: 2048,
            clock_mhz: 50,
            post: PostProcessing {
                param_entries: 1024,
                ..ice40.post
            },
            ..ice40
        })
    }
}

/// The packings a preset DSP PE is built with: per mode, plain products (so that any layer
/// maps) and the packing with the most products for signed weights by unsigned activations
/// and 3x3 kernels (MixQ's table). Each packing costs lane decoders (`docs/hw.md`); the
/// mapper (`qweave compile --mapping egraph`) builds the set a model gains most from.
pub fn default_packings(modes: &[ModeRate]) -> Vec<Packed> {
    let probe = HwConfig {
        pe: PeKind::Dsp48e2,
        ..Target::Sim.preset()
    };
    let mut out = Vec::new();
    for &m in modes {
        let mut add = |pe: PeMode| {
            let p = Packed { mode: m.mode, pe };
            if !out.contains(&p) {
                out.push(p);
            }
        };
        add(PeMode::PLAIN);
        if let Some(&pe) = pe::candidates(&probe, m, Format::Signed, Format::Unsigned, 3).first() {
            add(pe);
        }
    }
    out
}
