//! The analysis report: what `report.json` holds (its schema is `docs/analyze.md`).

use serde::Serialize;

/// Version of the report's JSON layout; it changes when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The analyzed model's file name.
    pub model: String,
    /// Number of items (inputs) analyzed.
    pub items: u64,
    /// Whether accuracy is against labels (`"labels"`) or top-1 agreement with the float
    /// reference (`"float_agreement"`), or absent (`"none"`: no float reference, no labels, or
    /// an output that is not a class score vector).
    pub accuracy_basis: String,
    /// One entry per semantics.
    pub semantics: Vec<Semantics>,
    /// One entry per quantized tensor of the source model, in schedule order.
    pub layers: Vec<Layer>,
    /// Plain-language notes on what could not be compared and why.
    pub notes: Vec<String>,
}

/// One way of computing the model.
#[derive(Clone, Debug, Serialize)]
pub struct Semantics {
    /// `"float"`, `"source"` or `"hw"`.
    pub name: String,
    /// What it is, in words.
    pub description: String,
    /// Top-1 accuracy (or agreement with float) over the items; `null` when not measured.
    pub top1: Option<f64>,
    /// Ops left at the onnx level (float or source-format integer ops) besides input
    /// quantizers and output dequantizers; 0 when the semantics is exact integers throughout.
    pub onnx_ops: usize,
}

/// One quantized tensor of the source model, compared across the semantics.
#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    /// The tensor's name (shared by the source and hardware graphs).
    pub tensor: String,
    /// The node computing it in the hardware graph (for example `conv1`).
    pub node: String,
    /// The layer's op in the source model (for example `onnx.conv`).
    pub op: String,
    /// Width of the layer's weights (`null` without weights).
    pub weight_bits: Option<u8>,
    /// Width of the tensor.
    pub act_bits: Option<u8>,
    /// Width of the layer's widest accumulator in the hardware graph.
    pub acc_bits: Option<u8>,
    /// Elements compared (per item times items).
    pub elements: u64,
    /// Source semantics against float.
    pub source: Error,
    /// Hardware-integer semantics against float.
    pub hw: Error,
    /// Elements whose stored integer differs between source and hardware, with each
    /// semantics run on its own (differences from earlier layers included).
    pub differ: u64,
    /// The same with the hardware layer fed the source's values of every earlier tensor: the
    /// differences this layer's own requantization makes.
    pub differ_local: u64,
}

/// One semantics compared with the float reference, and its saturation counts.
#[derive(Clone, Debug, Serialize)]
pub struct Error {
    /// Signal-to-quantization-noise ratio in dB against float (`null` without a float
    /// reference; `+inf` is written as `null` too, with `max_abs_error` 0).
    pub sqnr_db: Option<f64>,
    /// Largest absolute difference from float.
    pub max_abs_error: Option<f64>,
    /// Fraction of the tensor's values that saturated (were clamped into the range of their
    /// type) where they were computed.
    pub overflow_rate: f64,
    /// Fraction of the layer's accumulator sums that overflowed their width (wrapped): in
    /// the hardware graph the sums of the layer's node; in the source the sums of the op
    /// computing the tensor (`onnx.qlinear_conv` and the like, or `q.conv` in a `.qir`).
    pub acc_overflow_rate: f64,
}
