//! The resource model: LUTs, DSP blocks and block RAMs a configuration needs, and whether it
//! fits its target.
//!
//! The model counts the template's parts with fixed per-part costs. The costs are this
//! template's design estimates, to be calibrated against synthesis (yosys `synth_ice40` and
//! `synth_xilinx`) once the RTL exists; reports call the figures "modeled".
//!
//! | part | LUTs | DSP | block RAM |
//! |---|---|---|---|
//! | PE in LUTs (16 2-bit bricks, shift-add tree, mode muxes) | 150 | | |
//! | PE on a DSP48E2 (operand registers and muxes) | 8 | 1 | |
//! | lane decoders of each packing it is built with, per column one every `depth` rows (`PeMode::decode_luts`) | `(lanes - 1 + np - 1) x lane` each | | |
//! | 2-stage input buffer | 16 per row | | |
//! | accumulator adder and partial-sum sorter | `acc_bits` x (1 + sorter banks) per column | | `acc_entries x acc_bits` per column |
//! | input ping-pong buffer | | | 2 x `input_bank_bytes` per row |
//! | weight buffer | | | `weight_bank_bytes` per column |
//! | post-processing lane (rounding, clamp, pooling compare, residual add) | 120 | | table of `lut_entries` bytes |
//! | its requantization multiplier | 0 on a DSP, else 256 | 1 on a DSP | |
//! | parameter memory (requantization records, thresholds) | | | `param_entries` x 64 bits |
//! | controller (fetch, decode, three queues, tokens) | 800 | | |
//! | DRAM port | 200 + bus bits | | |
//!
//! Each memory bank takes whole block RAMs of the target (`ceil(bits / block bits)`); the
//! simulation target counts 36 Kbit blocks.

use crate::HwError;
use crate::config::{HwConfig, PeKind};
use crate::target::{Target, TargetLimits};
use serde::Serialize;

/// Modeled resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Look-up tables.
    pub lut: u64,
    /// Multiplier blocks.
    pub dsp: u64,
    /// Block RAMs.
    pub bram: u64,
}

/// Block RAM bits counted for the simulation target.
const SIM_BRAM_BITS: u64 = 36_864;

/// The modeled resources of each part of the template.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// The PE array with its input registers, accumulator adders and partial-sum sorter.
    pub array: Resources,
    /// The input ping-pong buffer and the weight buffer.
    pub operand_buffers: Resources,
    /// The accumulator memory.
    pub accumulators: Resources,
    /// The post-processing lanes, their tables and the parameter memory.
    pub post: Resources,
    /// The controller and the DRAM port.
    pub control: Resources,
}

impl std::ops::Add for Resources {
    type Output = Resources;

    fn add(self, r: Resources) -> Resources {
        Resources {
            lut: self.lut + r.lut,
            dsp: self.dsp + r.dsp,
            bram: self.bram + r.bram,
        }
    }
}

impl Breakdown {
    /// The sum of the parts.
    pub fn total(&self) -> Resources {
        self.array + self.operand_buffers + self.accumulators + self.post + self.control
    }
}

/// The resources `c` needs on `target` per part, whether or not they fit it.
pub fn breakdown(c: &HwConfig, target: Target) -> Result<Breakdown, HwError> {
    c.validate()?;
    let block = target.limits().map_or(SIM_BRAM_BITS, |l| l.bram_bits);
    if c.serial {
        return Ok(crate::serial::breakdown(c, block));
    }
    let blocks = |bits: u64| bits.div_ceil(block);
    let (rows, cols) = (u64::from(c.rows), u64::from(c.cols));
    let pes = rows * cols;
    let lanes = u64::from(c.post.lanes);
    let acc_bits = u64::from(c.acc_bits);
    let mut b = Breakdown::default();
    match c.pe {
        PeKind::Lut => b.array.lut += 150 * pes,
        PeKind::Dsp48e2 => {
            // packed lanes accumulate down a column's DSP cascade for as many rows as the
            // packing's depth allows, then a decoder splits them
            let decode: u64 = c
                .packings
                .iter()
                .map(|p| rows.div_ceil(p.pe.depth(p.mode).max(1)) * p.pe.decode_luts())
                .sum();
            b.array.lut += 8 * pes + decode * cols;
            b.array.dsp += pes;
        }
    }
    b.array.lut += 16 * rows;
    b.array.lut += cols * acc_bits * (1 + u64::from(c.sorter_banks));
    b.post.lut += 120 * lanes;
    if c.post.multiplier_dsp {
        b.post.dsp += lanes;
    } else {
        b.post.lut += 256 * lanes;
    }
    b.control.lut += 800 + 200 + u64::from(c.dram_bus_bits);
    b.operand_buffers.bram += 2 * rows * blocks(8 * u64::from(c.input_bank_bytes));
    b.operand_buffers.bram += cols * blocks(8 * u64::from(c.weight_bank_bytes));
    b.accumulators.bram += cols * blocks(u64::from(c.acc_entries) * acc_bits);
    if c.post.lut_entries > 0 {
        b.post.bram += lanes * blocks(8 * u64::from(c.post.lut_entries));
    }
    b.post.bram += blocks(64 * u64::from(c.post.param_entries));
    Ok(b)
}

/// The resources `c` needs on `target`, or the first resource it exceeds.
pub fn estimate(c: &HwConfig, target: Target) -> Result<Resources, HwError> {
    let r = breakdown(c, target)?.total();
    if let Some(l) = target.limits() {
        fits(&r, &l, target)?;
    }
    Ok(r)
}

/// `Ok` when `r` is within `l`, else the first resource exceeded.
fn fits(r: &Resources, l: &TargetLimits, target: Target) -> Result<(), HwError> {
    for (resource, needed, available) in [
        ("DSP blocks", r.dsp, l.dsp),
        // (the iCE40's count is of logic cells: a LUT4 and a flip-flop each)
        (
            if target == Target::Ice40up5k {
                "logic cells"
            } else {
                "LUTs"
            },
            r.lut,
            l.lut,
        ),
        ("block RAMs", r.bram, l.bram),
    ] {
        if needed > available {
            return Err(HwError::DoesNotFit {
                target: target.name().to_string(),
                resource,
                needed,
                available,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset but the iCE40's, whose serial datapath synthesizes to more LUTs than the
    /// UP5K has (`the_ice40_preset_is_modeled_as_synthesized`).
    #[test]
    fn every_preset_fits_its_target() {
        for t in Target::ALL.into_iter().filter(|&t| t != Target::Ice40up5k) {
            let c = t.preset();
            assert_eq!(c.target, t.name());
            let r = estimate(&c, t).unwrap_or_else(|e| panic!("{}: {e}", t.name()));
            if let Some(l) = t.limits() {
                assert!(
                    r.lut <= l.lut && r.dsp <= l.dsp && r.bram <= l.bram,
                    "{r:?}"
                );
            }
        }
    }

    /// The modeled figures `docs/hw.md` lists.
    #[test]
    fn presets_model_as_documented() {
        let want = [
            (Target::Sim, 14632, 0, 42),
            (Target::Ice40up5k, 5180, 2, 25),
            (Target::Xczu3eg, 27368, 272, 98),
            (Target::Xczu9eg, 196072, 2112, 322),
        ];
        let doc = include_str!("../../docs/hw.md");
        for (t, lut, dsp, bram) in want {
            let r = breakdown(&t.preset(), t).unwrap().total();
            assert_eq!((r.lut, r.dsp, r.bram), (lut, dsp, bram), "{}", t.name());
            let row = format!("| `{}` | {lut}", t.name());
            assert!(doc.contains(&row), "docs/hw.md lacks {row}");
        }
    }

    /// `--datapath serial`: the Zynq columns validate and fit, two rows a DSP48E2 plus the
    /// setup product's and the micro-machine's, and without the iCE40's board shell.
    #[test]
    fn the_zynq_serial_datapaths_fit_their_parts() {
        for (t, rows) in [(Target::Xczu3eg, 32), (Target::Xczu9eg, 32)] {
            let c = t.serial_preset().unwrap();
            assert!(c.serial && c.rows == rows && c.target == t.name());
            c.validate().unwrap();
            let b = breakdown(&c, t).unwrap();
            assert_eq!(b.array.dsp, u64::from(rows) / 2 + 1);
            assert_eq!(b.control.lut, 1808 + 442 + 872);
            // the FIFOs, and on the ZCU102 the board's memory: 8 x 4 RAMB36
            let board = if t == Target::Xczu9eg { 32 } else { 0 };
            assert_eq!(b.control.bram, 1 + 1 + board);
            assert!(estimate(&c, t).is_ok());
        }
        assert_eq!(Target::Sim.serial_preset(), None);
        assert_eq!(
            Target::Ice40up5k.serial_preset(),
            Some(Target::Ice40up5k.preset())
        );
        // 64 rows fit the ZU9EG's block RAM (the mapper's doubling), not the ZU3EG's
        let c = Target::Xczu9eg.serial_preset().unwrap().resized(64, 1);
        assert!(estimate(&c, Target::Xczu9eg).is_ok());
        let c = Target::Xczu3eg.serial_preset().unwrap().resized(64, 1);
        assert!(estimate(&c, Target::Xczu3eg).is_err());
        let wide = Target::Xczu9eg.serial_preset().unwrap().resized(128, 1);
        let e = wide.validate().unwrap_err().to_string();
        assert!(e.contains("or 64 multipliers, found 128x1"), "{e}");
    }

    #[test]
    fn the_ice40_preset_is_modeled_as_synthesized() {
        let c = Target::Ice40up5k.preset();
        let b = breakdown(&c, Target::Ice40up5k).unwrap();
        // the serial datapath: one multiplier and the setup multiplier; one 512 x 8 input
        // copy and the 512 x 8 weights; 512 32-bit accumulators; the micro-machine's
        // multiplier, 512 32-bit parameters, a 256 x 32 table, its ROM, register file and
        // instruction copy; the transfer engine's two FIFOs
        let r = |lut, dsp, bram| Resources { lut, dsp, bram };
        assert_eq!(b.array, r(833 + 165, 1, 0));
        assert_eq!(b.operand_buffers, r(0, 0, 1 + 1));
        assert_eq!(b.accumulators, r(0, 0, 4));
        assert_eq!(b.post, r(487, 1, 4 + 2 + 10));
        assert_eq!(b.control, r(1808 + 442 + 872 + 573, 0, 2 + 1));
        // with its board shell: 5,180 logic cells of 5,280, 2 SB_MAC16, 25 EBR and the 4
        // SPRAMs, as nextpnr packs it
        assert!(estimate(&c, Target::Ice40up5k).is_ok());
        // a second multiplier row does not fit
        assert_eq!(
            estimate(&c.resized(2, 1), Target::Ice40up5k),
            Err(HwError::DoesNotFit {
                target: "ice40up5k".into(),
                resource: "logic cells",
                needed: 5180 + 165,
                available: 5280,
            })
        );
    }

    #[test]
    fn too_big_an_array_names_the_resource_it_exceeds() {
        let mut c = Target::Xczu3eg.preset();
        (c.rows, c.cols) = (32, 32);
        let e = estimate(&c, Target::Xczu3eg).unwrap_err();
        assert_eq!(
            e,
            HwError::DoesNotFit {
                target: "xczu3eg".into(),
                resource: "DSP blocks",
                // 1024 PEs and the preset's 16 requantization lanes
                needed: 1024 + 16,
                available: 360,
            }
        );
        assert!(e.to_string().contains("shrink"), "{e}");
        // 8 multiplier rows and the micro-machine's 1
        let mut c = Target::Ice40up5k.preset();
        c.rows = 8;
        assert!(matches!(
            estimate(&c, Target::Ice40up5k),
            Err(HwError::DoesNotFit {
                resource: "DSP blocks",
                needed: 9,
                available: 8,
                ..
            })
        ));
        // simulation has no limits
        assert!(estimate(&c, Target::Sim).is_ok());
    }

    #[test]
    fn invalid_fields_are_named() {
        let mut c = Target::Sim.preset();
        c.acc_bits = 8;
        assert!(
            estimate(&c, Target::Sim)
                .unwrap_err()
                .to_string()
                .contains("accumulators of 8 bits")
        );
        let mut c = Target::Sim.preset();
        c.dram_bus_bits = 100;
        assert!(c.validate().unwrap_err().to_string().contains("DRAM bus"));
        let mut c = Target::Sim.preset();
        c.modes[0].mode.w = 9;
        assert!(c.validate().unwrap_err().to_string().contains("w9a8"));
        assert_eq!(Target::parse("xczu9eg"), Ok(Target::Xczu9eg));
        assert!(
            Target::parse("ecp5")
                .unwrap_err()
                .to_string()
                .contains("ice40up5k")
        );
    }

    #[test]
    fn modes_set_the_peak_throughput() {
        let c = Target::Xczu9eg.preset();
        assert_eq!(c.peak_macs_per_cycle(8, 8), Some(32 * 64 * 2));
        assert_eq!(c.peak_macs_per_cycle(4, 3), Some(32 * 64 * 6));
        assert_eq!(c.peak_macs_per_cycle(1, 1), Some(32 * 64 * 15));
        let s = Target::Sim.preset();
        assert_eq!(s.mode_for(4, 8).map(|m| m.macs_per_cycle), Some(2));
        assert_eq!(s.peak_macs_per_cycle(8, 16), None);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["pe"], "lut");
        assert_eq!(json["modes"][0]["mode"]["w"], 8);
    }
}
