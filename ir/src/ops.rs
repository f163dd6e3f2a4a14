//! The fixed set of ops, their typed attributes, and their semantics.
//!
//! Ops belong to one of three dialects, told apart by the prefix of their name:
//! no prefix for the structural ops every level shares (`const`, `reshape`, `transpose`,
//! `concat`, `pad`, `resize_nearest`), `onnx.` for what the frontend imports (float semantics
//! plus ONNX's and QONNX's quantization ops) and `q.` for exact integer arithmetic.
//!
//! Conventions used below. Layouts are NCHW (`N` batch, `C` channels, then spatial axes;
//! 1-D and 3-D convolutions and pools have one and three spatial axes). `pads` lists all
//! begin paddings, then all end paddings. Float ops compute in `f32` with ONNX semantics.
//! A *zero point* `zp(x)` is the zero point of `x`'s quantized type at the relevant channel,
//! or 0 for a plain integer type. Integer ops compute exactly (in unbounded integers) and then
//! apply the stated rounding and saturation; no integer is ever carried in a float.

use crate::attrs::{
    AttrError, AttrReader, AttrSet, AttrWriter, CoordMode, NearestMode, PadMode, Scalar, attr_set,
};
use crate::data::Data;
use crate::rounding::RoundingMode;
use crate::types::{ElemType, IntType};

attr_set! {
    /// Convolution geometry.
    pub struct ConvAttrs {
        /// Stride per spatial axis (each at least 1).
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings, per spatial axis.
        pub pads: Vec<u64>,
        /// Dilation per spatial axis (each at least 1).
        pub dilations: Vec<u64>,
        /// Number of groups; input and output channels must both divide by it.
        pub group: u64 = 1,
    }
}

attr_set! {
    /// Integer convolution: geometry plus the declared accumulator type.
    pub struct QConvAttrs {
        /// Stride per spatial axis.
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings.
        pub pads: Vec<u64>,
        /// Dilation per spatial axis.
        pub dilations: Vec<u64>,
        /// Number of groups.
        pub group: u64 = 1,
        /// The accumulator (and result) type.
        pub acc: IntType,
    }
}

attr_set! {
    /// ONNX Gemm: `alpha * A' * B' + beta * C`.
    pub struct GemmAttrs {
        /// Scale of the product.
        pub alpha: f32 = 1.0,
        /// Scale of `C`.
        pub beta: f32 = 1.0,
        /// Use `A` transposed.
        pub trans_a: bool = false,
        /// Use `B` transposed.
        pub trans_b: bool = false,
    }
}

attr_set! {
    /// The declared accumulator type of an integer op.
    pub struct AccAttrs {
        /// Accumulator (and result) type.
        pub acc: IntType,
    }
}

attr_set! {
    /// Clip bounds.
    pub struct ClipAttrs {
        /// Lower bound.
        pub min: f32 = f32::NEG_INFINITY,
        /// Upper bound.
        pub max: f32 = f32::INFINITY,
    }
}

attr_set! {
    /// LeakyRelu slope.
    pub struct LeakyReluAttrs {
        /// Slope for negative inputs.
        pub alpha: f32 = 0.01,
    }
}

attr_set! {
    /// HardSigmoid coefficients.
    pub struct HardSigmoidAttrs {
        /// Slope.
        pub alpha: f32 = 0.2,
        /// Offset.
        pub beta: f32 = 0.5,
    }
}

attr_set! {
    /// Max-pool geometry.
    pub struct MaxPoolAttrs {
        /// Window size per spatial axis.
        pub kernel: Vec<u64>,
        /// Stride per spatial axis.
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings.
        pub pads: Vec<u64>,
        /// Dilation per spatial axis.
        pub dilations: Vec<u64>,
        /// Round the output size up instead of down.
        pub ceil_mode: bool = false,
    }
}

attr_set! {
    /// Average-pool geometry.
    pub struct AvgPoolAttrs {
        /// Window size per spatial axis.
        pub kernel: Vec<u64>,
        /// Stride per spatial axis.
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings.
        pub pads: Vec<u64>,
        /// Round the output size up instead of down.
        pub ceil_mode: bool = false,
        /// Count padded positions in the divisor.
        pub count_include_pad: bool = false,
    }
}

attr_set! {
    /// Integer sum-pool geometry and accumulator.
    pub struct SumPoolAttrs {
        /// Window size per spatial axis.
        pub kernel: Vec<u64>,
        /// Stride per spatial axis.
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings.
        pub pads: Vec<u64>,
        /// Round the output size up instead of down.
        pub ceil_mode: bool = false,
        /// Accumulator (and result) type.
        pub acc: IntType,
    }
}

attr_set! {
    /// BatchNormalization's epsilon.
    pub struct BatchNormAttrs {
        /// Added to the variance before the square root.
        pub epsilon: f32 = 1e-5,
    }
}

attr_set! {
    /// Local response normalization across channels.
    pub struct LrnAttrs {
        /// Number of channels summed over (odd in practice).
        pub size: u64,
        /// Scale.
        pub alpha: f32 = 1e-4,
        /// Exponent.
        pub beta: f32 = 0.75,
        /// Offset.
        pub bias: f32 = 1.0,
    }
}

attr_set! {
    /// One axis.
    pub struct AxisAttrs {
        /// The axis, counted from 0 (never negative).
        pub axis: u64,
    }
}

attr_set! {
    /// Target shape of a reshape.
    pub struct ReshapeAttrs {
        /// The result's dimensions (same element count as the operand).
        pub shape: Vec<u64>,
    }
}

attr_set! {
    /// Axis permutation.
    pub struct TransposeAttrs {
        /// Result axis `i` is operand axis `perm[i]`.
        pub perm: Vec<u64>,
    }
}

attr_set! {
    /// Padding.
    pub struct PadAttrs {
        /// Begin amounts for every axis, then end amounts; negative amounts crop.
        pub pads: Vec<i64>,
        /// How the border is filled.
        pub mode: PadMode = PadMode::Constant,
        /// The fill value for `constant` mode: a float for `f32` tensors, the stored
        /// integer for integer-valued ones.
        pub value: Scalar = Scalar::Int(0),
    }
}

attr_set! {
    /// Nearest-neighbour resize.
    pub struct ResizeAttrs {
        /// The result's dimensions.
        pub shape: Vec<u64>,
        /// The scale per axis used in the coordinate transformation.
        pub scales: Vec<f32>,
        /// ONNX coordinate_transformation_mode.
        pub coord: CoordMode = CoordMode::HalfPixel,
        /// ONNX nearest_mode.
        pub nearest: NearestMode = NearestMode::RoundPreferFloor,
    }
}

attr_set! {
    /// The result element type of an op that cannot infer it.
    pub struct OutAttrs {
        /// Result element type.
        pub out: ElemType,
    }
}

attr_set! {
    /// QONNX Quant attributes.
    pub struct QonnxQuantAttrs {
        /// Signed integer range.
        pub signed: bool = true,
        /// Drop the most negative (signed) or the largest (unsigned) value.
        pub narrow: bool = false,
        /// Rounding of `x / scale + zp`.
        pub rounding: RoundingMode = RoundingMode::HalfEven,
    }
}

attr_set! {
    /// FINN MultiThreshold attributes.
    pub struct MultiThresholdAttrs {
        /// The channel axis of the input.
        pub axis: u64 = 1,
        /// Scale of the count.
        pub out_scale: f32 = 1.0,
        /// Added after scaling.
        pub out_bias: f32 = 0.0,
    }
}

attr_set! {
    /// Integer requantization `(x - zp_in) * multiplier / 2^shift`, rounded, plus `zp_out`.
    pub struct RequantizeAttrs {
        /// One multiplier for the tensor or one per index of `axis`; each fits `i32`.
        pub multiplier: Vec<i64>,
        /// One right shift (0..=63) for the tensor or one per index of `axis`.
        pub shift: Vec<u64>,
        /// Rounding of the division by `2^shift`.
        pub rounding: RoundingMode,
        /// The axis per-channel parameters run along.
        pub axis: u64 = 1,
        /// Result element type (an integer or quantized type).
        pub out: ElemType,
    }
}

attr_set! {
    /// Integer clamp bounds (stored values).
    pub struct ClampAttrs {
        /// Lower bound.
        pub min: i64,
        /// Upper bound.
        pub max: i64,
    }
}

attr_set! {
    /// Integer multi-threshold.
    pub struct QMultiThresholdAttrs {
        /// The channel axis.
        pub axis: u64 = 1,
        /// Added to the count.
        pub bias: i64 = 0,
        /// Result element type.
        pub out: ElemType,
    }
}

/// Operand count limit of a variadic op.
pub const VARIADIC: usize = usize::MAX;

/// Helpers for `define_ops!`: write the attributes of a variant that has some.
macro_rules! op_write {
    ($s:ident, $w:ident, $v:ident) => {};
    ($s:ident, $w:ident, $v:ident, $a:ident) => {
        if let OpKind::$v(a) = $s {
            a.write($w);
        }
    };
}

macro_rules! op_read {
    ($v:ident; $r:ident) => {
        Ok(OpKind::$v)
    };
    ($v:ident, $a:ident; $r:ident) => {
        $a::read($r).map(OpKind::$v)
    };
}

macro_rules! op_attr_names {
    ($v:ident) => {
        &[]
    };
    ($v:ident, $a:ident) => {
        $a::NAMES
    };
}

macro_rules! define_ops {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident $(($attrs:ident))? = $name:literal, operands($min:expr, $max:expr);
    )*) => {
        /// An op and its attributes. See each case for its semantics.
        #[derive(Clone, Debug, PartialEq)]
        pub enum OpKind {
            /// `const`: a constant tensor; its data matches the result type.
            Const(Data),
            $($(#[doc = $doc])* $variant $(($attrs))?,)*
        }

        impl OpKind {
            /// Every op name except `const`, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The op's name in the text form.
            pub fn name(&self) -> &'static str {
                match self {
                    OpKind::Const(_) => "const",
                    $(OpKind::$variant { .. } => $name,)*
                }
            }

            /// Smallest and largest operand count ([`VARIADIC`] for no limit).
            pub fn arity(&self) -> (usize, usize) {
                match self {
                    OpKind::Const(_) => (0, 0),
                    $(OpKind::$variant { .. } => ($min, $max),)*
                }
            }

            /// Writes the attributes that differ from their defaults.
            pub fn write_attrs(&self, w: &mut AttrWriter<'_>) {
                $(op_write!(self, w, $variant $(, $attrs)?);)*
            }

            /// Names of the attributes an op of this name takes.
            pub fn attr_names(name: &str) -> &'static [&'static str] {
                match name {
                    $($name => op_attr_names!($variant $(, $attrs)?),)*
                    _ => &[],
                }
            }

            /// Builds the op named `name` from its attributes; `None` for an unknown name
            /// (and for `const`, which the text form writes differently).
            pub fn from_name(name: &str, r: &mut AttrReader) -> Option<Result<OpKind, AttrError>> {
                match name {
                    $($name => Some(op_read!($variant $(, $attrs)?; r)),)*
                    _ => None,
                }
            }
        }
    };
}

define_ops! {
    /// `reshape(x) {shape}`: the same elements, row-major, in a new shape. A per-axis
    /// quantized operand is not allowed.
    Reshape(ReshapeAttrs) = "reshape", operands(1, 1);
    /// `transpose(x) {perm}`: `y[i_0, ..] = x[i_perm^-1...]`, i.e. result axis `k` is operand
    /// axis `perm[k]`. A per-axis quantized type moves its axis along.
    Transpose(TransposeAttrs) = "transpose", operands(1, 1);
    /// `concat(x...) {axis}`: joins operands of one type along `axis`; all other dimensions
    /// agree. A per-axis quantized type is not allowed.
    Concat(AxisAttrs) = "concat", operands(1, VARIADIC);
    /// `pad(x) {pads, mode, value}`: ONNX Pad with static pads (negative pads crop). Every
    /// result dimension stays at least 1.
    Pad(PadAttrs) = "pad", operands(1, 1);
    /// `resize_nearest(x) {shape, scales, coord, nearest}`: ONNX Resize in `nearest` mode.
    /// Along each axis, output index `o` reads input index
    /// `clamp(nearest(coord(o)), 0, len_in - 1)`, the coordinate computed in `f32`.
    ResizeNearest(ResizeAttrs) = "resize_nearest", operands(1, 1);

    /// `onnx.conv(x, w, b?) {strides, pads, dilations, group}`: ONNX Conv in `f32`. `x` is
    /// `[N, C, spatial...]`, `w` is `[M, C/group, kernel...]`, `b` is `[M]`; the result is
    /// `[N, M, out...]` with `out = floor((in + pad_begin + pad_end - dil*(k-1) - 1)/stride) + 1`.
    Conv(ConvAttrs) = "onnx.conv", operands(2, 3);
    /// `onnx.matmul(a, b)`: numpy matmul in `f32` (1-D operands promoted, batch dims
    /// broadcast).
    MatMul = "onnx.matmul", operands(2, 2);
    /// `onnx.gemm(a, b, c?) {alpha, beta, trans_a, trans_b}`: ONNX Gemm on 2-D `a` and `b`,
    /// `c` broadcast to `[M, N]`.
    Gemm(GemmAttrs) = "onnx.gemm", operands(2, 3);
    /// `onnx.relu(x)`: `max(x, 0)`.
    Relu = "onnx.relu", operands(1, 1);
    /// `onnx.clip(x) {min, max}`: `min(max(x, min), max)`.
    Clip(ClipAttrs) = "onnx.clip", operands(1, 1);
    /// `onnx.leaky_relu(x) {alpha}`: `x < 0 ? alpha * x : x`.
    LeakyRelu(LeakyReluAttrs) = "onnx.leaky_relu", operands(1, 1);
    /// `onnx.prelu(x, slope)`: `x < 0 ? slope * x : x`, `slope` broadcast to `x`.
    PRelu = "onnx.prelu", operands(2, 2);
    /// `onnx.sigmoid(x)`: `1 / (1 + exp(-x))`.
    Sigmoid = "onnx.sigmoid", operands(1, 1);
    /// `onnx.hard_sigmoid(x) {alpha, beta}`: `max(0, min(1, alpha * x + beta))`.
    HardSigmoid(HardSigmoidAttrs) = "onnx.hard_sigmoid", operands(1, 1);
    /// `onnx.hard_swish(x)`: `x * max(0, min(1, x / 6 + 0.5))`.
    HardSwish = "onnx.hard_swish", operands(1, 1);
    /// `onnx.add(a, b)`: `a + b`, numpy broadcasting.
    Add = "onnx.add", operands(2, 2);
    /// `onnx.sub(a, b)`: `a - b`, numpy broadcasting.
    Sub = "onnx.sub", operands(2, 2);
    /// `onnx.mul(a, b)`: `a * b`, numpy broadcasting.
    Mul = "onnx.mul", operands(2, 2);
    /// `onnx.div(a, b)`: `a / b`, numpy broadcasting.
    Div = "onnx.div", operands(2, 2);
    /// `onnx.max(a, b)`: elementwise maximum, numpy broadcasting (NaN propagates).
    Max = "onnx.max", operands(2, 2);
    /// `onnx.min(a, b)`: elementwise minimum, numpy broadcasting (NaN propagates).
    Min = "onnx.min", operands(2, 2);
    /// `onnx.max_pool(x) {kernel, strides, pads, dilations, ceil_mode}`: ONNX MaxPool; padded
    /// positions never win. Any element type; the result keeps it.
    MaxPool(MaxPoolAttrs) = "onnx.max_pool", operands(1, 1);
    /// `onnx.average_pool(x) {kernel, strides, pads, ceil_mode, count_include_pad}`: ONNX
    /// AveragePool in `f32`.
    AveragePool(AvgPoolAttrs) = "onnx.average_pool", operands(1, 1);
    /// `onnx.global_average_pool(x)`: mean over all spatial positions, keeping them as 1s.
    GlobalAveragePool = "onnx.global_average_pool", operands(1, 1);
    /// `onnx.global_max_pool(x)`: maximum over all spatial positions, keeping them as 1s.
    GlobalMaxPool = "onnx.global_max_pool", operands(1, 1);
    /// `onnx.batch_norm(x, scale, bias, mean, var) {epsilon}`: inference-mode
    /// BatchNormalization, per channel (axis 1):
    /// `(x - mean) / sqrt(var + epsilon) * scale + bias`.
    BatchNorm(BatchNormAttrs) = "onnx.batch_norm", operands(5, 5);
    /// `onnx.lrn(x) {size, alpha, beta, bias}`: ONNX LRN across channels:
    /// `x / (bias + alpha / size * sum(x^2 over the channel window))^beta`.
    Lrn(LrnAttrs) = "onnx.lrn", operands(1, 1);
    /// `onnx.softmax(x) {axis}`: softmax along one axis (opset 13 semantics).
    Softmax(AxisAttrs) = "onnx.softmax", operands(1, 1);
    /// `onnx.quantize_linear(x) {out}`: ONNX QuantizeLinear to the quantized type `out`:
    /// `saturate(round_half_even(x / scale) + zp)`, the division in `f32`.
    QuantizeLinear(OutAttrs) = "onnx.quantize_linear", operands(1, 1);
    /// `onnx.dequantize_linear(x)`: ONNX DequantizeLinear of a quantized tensor:
    /// `f32(x - zp) * scale`, the product in `f32`.
    DequantizeLinear = "onnx.dequantize_linear", operands(1, 1);
    /// `onnx.quant(x, scale, zp, bits) {signed, narrow, rounding}`: QONNX Quant. With
    /// `v = x / scale + zp` in `f32`: `q = clamp(round(v), lo, hi)` over the (narrow) signed or
    /// unsigned range of `bits`, and `y = (q - zp) * scale` in `f32`. A signed 1-bit Quant is
    /// bipolar: `q = v >= 0 ? 1 : -1`. `scale` and `zp` broadcast to `x`; `bits` has one element.
    Quant(QonnxQuantAttrs) = "onnx.quant", operands(4, 4);
    /// `onnx.bipolar_quant(x, scale)`: QONNX BipolarQuant: `(x >= 0 ? 1 : -1) * scale`.
    BipolarQuant = "onnx.bipolar_quant", operands(2, 2);
    /// `onnx.multi_threshold(x, t) {axis, out_scale, out_bias}`: FINN MultiThreshold. For
    /// channel `c` (the index along `axis`), `n` is the number of thresholds `t[c, j]` with
    /// `x >= t[c, j]` (`t` is `[C, T]`, or `[1, T]` for all channels), and
    /// `y = out_scale * n + out_bias` computed in `f64` and rounded once to `f32`.
    MultiThreshold(MultiThresholdAttrs) = "onnx.multi_threshold", operands(2, 2);

    /// `q.conv(x, w, b?) {strides, pads, dilations, group, acc}`: integer convolution.
    /// `y[n, m, o] = b[m] + sum (x[n, c, i] - zp(x)) * (w[m, c', k] - zp(w)[m])`, padded
    /// positions contributing 0. `x` is per-tensor quantized or plain, `w` per-tensor or
    /// per-axis along axis 0, `b` a plain integer `[M]`. The result has type `acc`; a sum
    /// outside its range wraps around (as an adder of that width would), which the
    /// interpreter reports as overflow.
    QConv(QConvAttrs) = "q.conv", operands(2, 3);
    /// `q.matmul(a, b, bias?) {acc}`: integer `[M, K] x [K, N] (+ bias[N])` with zero points
    /// (`b` may be per-axis along axis 1); accumulation as in `q.conv`.
    QMatMul(AccAttrs) = "q.matmul", operands(2, 3);
    /// `q.requantize(x) {multiplier, shift, rounding, axis, out}`: per tensor or per index
    /// `c` of `axis`, `y = saturate(round((x - zp(x)) * multiplier[c] / 2^shift[c]) + zp(y))`
    /// into `out`, rounded exactly by the named mode.
    Requantize(RequantizeAttrs) = "q.requantize", operands(1, 1);
    /// `q.add(a, b) {out}`: `saturate((a - zp(a)) + (b - zp(b)) + zp(y))` into `out`, numpy
    /// broadcasting. Operands and result are plain integers or per-tensor quantized.
    QAdd(OutAttrs) = "q.add", operands(2, 2);
    /// `q.max_pool(x) {kernel, strides, pads, dilations, ceil_mode}`: max pool of stored
    /// integers; padded positions never win.
    QMaxPool(MaxPoolAttrs) = "q.max_pool", operands(1, 1);
    /// `q.sum_pool(x) {kernel, strides, pads, ceil_mode, acc}`: `sum (x - zp(x))` over the
    /// window's positions inside the input, into `acc` (wrapping as in `q.conv`).
    QSumPool(SumPoolAttrs) = "q.sum_pool", operands(1, 1);
    /// `q.clamp(x) {min, max}`: clamps stored integers to `[min, max]` (integer ReLU, ReLU6).
    QClamp(ClampAttrs) = "q.clamp", operands(1, 1);
    /// `q.lut(x, table)`: `y = table[x - min(x's storage)]` for any activation function of a
    /// narrow integer; `table` is 1-D with one entry per storable value (at most 2^16).
    QLut = "q.lut", operands(2, 2);
    /// `q.multi_threshold(x, t) {axis, bias, out}`: `saturate(bias + n)` where `n` counts the
    /// integer thresholds `t[c, j] <= x` for channel `c` (the stored values are compared).
    QMultiThreshold(QMultiThresholdAttrs) = "q.multi_threshold", operands(2, 2);
}

/// The dialect (IR level) an op belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Structural ops shared by every level.
    Core,
    /// Imported ONNX/QONNX semantics.
    Onnx,
    /// Exact integer arithmetic.
    Q,
}

impl OpKind {
    /// The op's dialect, read off its name.
    pub fn dialect(&self) -> Dialect {
        let name = self.name();
        if name.starts_with("onnx.") {
            Dialect::Onnx
        } else if name.starts_with("q.") {
            Dialect::Q
        } else {
            Dialect::Core
        }
    }

    /// The constant's data, for `const`.
    pub fn as_const(&self) -> Option<&Data> {
        match self {
            OpKind::Const(d) => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for name in OpKind::NAMES {
            assert!(seen.insert(*name), "{name} twice");
            let mut r = AttrReader::new(BTreeMap::new());
            // Ops with required attributes fail here; the name must still be known.
            assert!(OpKind::from_name(name, &mut r).is_some(), "{name}");
        }
        assert!(OpKind::from_name("onnx.nope", &mut AttrReader::new(BTreeMap::new())).is_none());
    }

    #[test]
    fn dialects() {
        assert_eq!(OpKind::Relu.dialect(), Dialect::Onnx);
        assert_eq!(OpKind::QLut.dialect(), Dialect::Q);
        assert_eq!(
            OpKind::Reshape(ReshapeAttrs { shape: vec![1] }).dialect(),
            Dialect::Core
        );
    }
}
