//! qweave's accelerator template: what a configured accelerator holds ([`HwConfig`]), the
//! precision modes of its processing elements and how they multiply ([`multiply`]: DSP
//! packing, fused bricks, XNOR-popcount), one preset per target with the target's
//! resources, a resource model that says whether a configuration fits, the instruction set
//! ([`isa`], specified in `docs/isa.md`) and its cycle model ([`cycles`]).
//!
//! The template (BRIEF §6): a systolic array of `rows x cols` precision-scalable PEs, an input
//! ping-pong buffer feeding a 2-stage input buffer in front of the array, a weight buffer, an
//! accumulator memory behind a partial-sum sorter, a post-processing unit (requantize,
//! activation, pooling, residual add), and a DRAM port. The compiler sizes one per model
//! within its target's limits.

mod config;
pub mod cycles;
mod estimate;
pub mod isa;
pub mod multiply;
pub mod pe;
mod precision;
pub mod serial;
mod target;
pub mod ucode;

pub use config::{HwConfig, Packed, PeKind, PostProcessing};
pub use cycles::{Cost, Rate, cost};
pub use estimate::{Breakdown, Resources, breakdown, estimate};
pub use precision::{Mode, ModeRate};
pub use target::{Target, TargetLimits};

/// A configuration that does not fit or does not make sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HwError {
    /// A field is out of its range.
    #[error("invalid hardware configuration: {0}")]
    Invalid(String),
    /// The modeled resources exceed the target's.
    #[error(
        "the configuration needs {needed} {resource}, but {target} has {available}; {}",
        if target == "ice40up5k" {
            "the serial datapath fits with one multiplier row and the preset's buffers \
             (docs/hw.md)"
        } else {
            "shrink the array or its buffers"
        }
    )]
    DoesNotFit {
        /// The target.
        target: String,
        /// Which resource (LUTs, logic cells, DSP blocks, block RAMs).
        resource: &'static str,
        /// The modeled need.
        needed: u64,
        /// What the target has.
        available: u64,
    },
    /// A target name that is not a preset.
    #[error("unknown target '{0}' (targets: sim, ice40up5k, xczu3eg, xczu9eg)")]
    UnknownTarget(String),
}
