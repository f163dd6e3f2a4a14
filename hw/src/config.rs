//! [`HwConfig`]: the sizes and features of one accelerator built from the template.

use crate::HwError;
use crate::precision::{self, ModeRate};
use serde::{Deserialize, Serialize};

/// How a processing element multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeKind {
    /// In LUTs, from 2-bit multiplier bricks that fuse into wider products (Bit Fusion style):
    /// sixteen bricks make one 8x8 product, four 4x4 products or sixteen 2x2 (and 1x1) ones.
    Lut,
    /// On one DSP48E2 block, several narrow products packed into its 27x18 multiplier (kernel
    /// and filter packing, Xilinx WP486 and MixQ).
    Dsp48e2,
}

/// What the post-processing unit behind the accumulators does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostProcessing {
    /// Parallel lanes (values per cycle).
    pub lanes: u32,
    /// Entries of the activation lookup table (0: none).
    pub lut_entries: u32,
    /// 64-bit words of the parameter memory (requantization records, thresholds); 32-bit on the
    /// serial datapath.
    pub param_entries: u32,
    /// Max and sum pooling over a window.
    pub pooling: bool,
    /// Rescaled residual add of a second operand.
    pub residual_add: bool,
    /// Whether each lane's requantization multiplier is a DSP block (else it is built in LUTs).
    pub multiplier_dsp: bool,
}

/// A packing a DSP PE is built with for one mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packed {
    /// The mode.
    pub mode: crate::Mode,
    /// The packing.
    pub pe: crate::pe::PeMode,
}

/// One accelerator: the systolic array, its buffers, the post-processing unit and the DRAM
/// port. Buffers are sized in bytes per bank; the input buffers have one bank per array row,
/// the weight buffer and the accumulator memory one per column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HwConfig {
    /// The target it is built for.
    pub target: String,
    /// Array rows (input channels side).
    pub rows: u32,
    /// Array columns (output channels side).
    pub cols: u32,
    /// How each PE multiplies.
    pub pe: PeKind,
    /// The precision modes a PE supports and its MACs per cycle in each.
    pub modes: Vec<ModeRate>,
    /// The packings a DSP PE is built with, per mode (each costs lane decoders in every PE;
    /// LUT PEs run fused bricks and list none).
    #[serde(default)]
    pub packings: Vec<Packed>,
    /// Bytes per row bank of each half of the input ping-pong buffer.
    pub input_bank_bytes: u32,
    /// Bytes per column bank of the weight buffer.
    pub weight_bank_bytes: u32,
    /// Entries per column of the accumulator memory.
    pub acc_entries: u32,
    /// Bits of each accumulator.
    pub acc_bits: u8,
    /// Banks of the partial-sum sorter per column (partial sums in flight that never stall
    /// the array).
    pub sorter_banks: u32,
    /// The post-processing unit.
    pub post: PostProcessing,
    /// DRAM bus width in bits.
    pub dram_bus_bits: u32,
    /// Clock frequency the cycle model converts to time with.
    pub clock_mhz: u32,
    /// The serial datapath (for the smallest parts): one instruction at a time in program
    /// order, one buffer entry a cycle in transfers and post-processing, and an array of
    /// `rows` multipliers over neighbouring output pixels of one filter (`cols` is 1).
    /// `docs/hw.md` describes it; `crate::serial` is its cycle model.
    #[serde(default)]
    pub serial: bool,
}

impl HwConfig {
    /// The same PEs, buffers and post-processing in a `rows x cols` array (one
    /// post-processing lane per column, as the presets have).
    pub fn resized(&self, rows: u32, cols: u32) -> HwConfig {
        let mut c = self.clone();
        (c.rows, c.cols, c.post.lanes) = (rows, cols, cols);
        c
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), HwError> {
        let bad = |m: String| Err(HwError::Invalid(m));
        if self.rows == 0 || self.cols == 0 || self.rows > 256 || self.cols > 256 {
            return bad(format!(
                "the array must be 1 to 256 rows and columns, found {}x{}",
                self.rows, self.cols
            ));
        }
        if self.modes.is_empty() {
            return bad("a PE needs at least one precision mode".into());
        }
        if let Some(m) = self.modes.iter().find(|m| {
            !(1..=8).contains(&m.mode.w) || !(1..=8).contains(&m.mode.a) || m.macs_per_cycle == 0
        }) {
            return bad(format!(
                "mode {} with {} MACs per cycle: widths run 1 to 8 and a mode must compute",
                m.mode, m.macs_per_cycle
            ));
        }
        if !(16..=48).contains(&self.acc_bits) {
            return bad(format!(
                "accumulators of {} bits; the template builds 16 to 48",
                self.acc_bits
            ));
        }
        let sizes = [
            ("input bank", self.input_bank_bytes),
            ("weight bank", self.weight_bank_bytes),
            ("accumulator entries", self.acc_entries),
            ("sorter banks", self.sorter_banks),
            ("post-processing lanes", self.post.lanes),
            ("parameter memory", self.post.param_entries),
            ("clock", self.clock_mhz),
        ];
        if let Some((what, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return bad(format!("the {what} must not be 0"));
        }
        if self.serial {
            self.validate_serial()?;
        }
        if !self.dram_bus_bits.is_power_of_two() || !(8..=1024).contains(&self.dram_bus_bits) {
            return bad(format!(
                "the DRAM bus must be a power of two from 8 to 1024 bits, found {}",
                self.dram_bus_bits
            ));
        }
        Ok(())
    }

    /// The serial datapath's limits: a column of a power-of-two number of multipliers (up to
    /// 64), one 8x8 mode (narrower layers run in it), 32-bit accumulators at most, a 32-bit
    /// DRAM bus, and memories of a power-of-two number of entries. Its PE kind is
    /// `PeKind::Lut` (plain products: what the part's multipliers compute is the RTL's
    /// choice, an SB_MAC16 a row on the iCE40 and a DSP48E2 for two rows on Zynq).
    fn validate_serial(&self) -> Result<(), HwError> {
        let bad = |m: String| Err(HwError::Invalid(format!("serial datapath: {m}")));
        if self.cols != 1 || !self.rows.is_power_of_two() || self.rows > 64 {
            return bad(format!(
                "the array is one column of 1, 2, 4, ... or 64 multipliers, found {}x{}",
                self.rows, self.cols
            ));
        }
        if self.pe != PeKind::Lut
            || self.modes.len() != 1
            || self.modes[0].macs_per_cycle != 1
            || (self.modes[0].mode.w, self.modes[0].mode.a) != (8, 8)
        {
            return bad("the multipliers run one 8x8 mode at one product a cycle".into());
        }
        if self.acc_bits > 32 || self.dram_bus_bits != 32 || self.post.lanes != 1 {
            return bad(format!(
                "accumulators of at most 32 bits, a 32-bit DRAM bus and one post-processing \
                 lane, found {} bits, {} bits and {} lanes",
                self.acc_bits, self.dram_bus_bits, self.post.lanes
            ));
        }
        let sizes = [
            ("input bank", self.input_bank_bytes),
            ("weight bank", self.weight_bank_bytes),
            ("accumulator entries", self.acc_entries),
            ("parameter memory", self.post.param_entries),
            ("activation table", self.post.lut_entries),
        ];
        if let Some((what, n)) = sizes
            .iter()
            .find(|(_, n)| !n.is_power_of_two() || *n > 1 << 15)
        {
            return bad(format!(
                "the {what} must be a power of two up to 32768, found {n}"
            ));
        }
        Ok(())
    }

    /// The mode a layer of `w`-bit weights and `a`-bit activations runs in: the fastest
    /// supported mode that covers both widths.
    pub fn mode_for(&self, w: u8, a: u8) -> Option<ModeRate> {
        precision::best(&self.modes, w, a)
    }

    /// Peak multiply-accumulates per cycle of the whole array in the mode for `w` by `a`.
    pub fn peak_macs_per_cycle(&self, w: u8, a: u8) -> Option<u64> {
        let m = self.mode_for(w, a)?;
        Some(u64::from(self.rows) * u64::from(self.cols) * u64::from(m.macs_per_cycle))
    }
}
