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
use crate::binding::Map;
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
        /// The hw level's binding to the accelerator (`crate::binding`).
        pub map: Map = Map::None,
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
    /// The declared accumulator type of an integer matrix product, and its binding.
    pub struct AccAttrs {
        /// Accumulator (and result) type.
        pub acc: IntType,
        /// The hw level's binding to the accelerator (`crate::binding`).
        pub map: Map = Map::None,
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
        /// Dilation per spatial axis.
        pub dilations: Vec<u64>,
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

attr_set! {
    /// A conversion's target type.
    pub struct CastAttrs {
        /// `f32` or a plain integer type.
        pub to: ElemType,
    }
}

attr_set! {
    /// onnxruntime QLinearConv: convolution geometry and the quantized result type.
    pub struct QLinearConvAttrs {
        /// Stride per spatial axis.
        pub strides: Vec<u64>,
        /// Begin paddings, then end paddings.
        pub pads: Vec<u64>,
        /// Dilation per spatial axis.
        pub dilations: Vec<u64>,
        /// Number of groups.
        pub group: u64 = 1,
        /// Result type (8-bit, per-tensor quantized).
        pub out: ElemType,
    }
}

attr_set! {
    /// onnxruntime QGemm.
    pub struct QGemmAttrs {
        /// Scale of the product.
        pub alpha: f32 = 1.0,
        /// Use `A` transposed.
        pub trans_a: bool = false,
        /// Use `B` transposed.
        pub trans_b: bool = false,
        /// Result type: 8-bit per-tensor quantized, or `f32` for a float result.
        pub out: ElemType,
    }
}

attr_set! {
    /// onnxruntime QLinearAveragePool.
    pub struct QAvgPoolAttrs {
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
        /// Result type.
        pub out: ElemType,
    }
}

attr_set! {
    /// onnxruntime QLinearConcat.
    pub struct QConcatAttrs {
        /// The axis.
        pub axis: u64,
        /// Result type.
        pub out: ElemType,
    }
}

attr_set! {
    /// onnxruntime QLinearLeakyRelu.
    pub struct QLeakyReluAttrs {
        /// Slope for negative inputs.
        pub alpha: f32 = 0.01,
        /// Result type.
        pub out: ElemType,
    }
}

attr_set! {
    /// QONNX Trunc (both versions).
    pub struct TruncAttrs {
        /// Signed output range.
        pub signed: bool = true,
        /// Narrow output range.
        pub narrow: bool = false,
        /// Rounding of the truncated value.
        pub rounding: RoundingMode = RoundingMode::Floor,
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
    /// `retype(x) {to}`: the same stored integers under another integer-valued type with the
    /// same storage (attaching, changing or dropping quantization parameters). No value changes.
    Retype(CastAttrs) = "retype", operands(1, 1);
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
    /// `onnx.average_pool(x) {kernel, strides, pads, dilations, ceil_mode,
    /// count_include_pad}`: ONNX AveragePool in `f32` (opset 19 dilations): the sum of the
    /// window's taps inside the input divided by their number, or with `count_include_pad` by
    /// the number of taps inside the padded input.
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
    /// `onnx.quantize_linear(x) {out}`: ONNX QuantizeLinear to the quantized type `out`, as
    /// onnxruntime computes it: `saturate(round_half_even(x / scale) + zp)`, the division in
    /// `f32`; NaN gives the storage minimum.
    QuantizeLinear(OutAttrs) = "onnx.quantize_linear", operands(1, 1);
    /// `onnx.dequantize_linear(x)`: ONNX DequantizeLinear of a quantized tensor:
    /// `f32(x - zp) * scale`, the product in `f32`.
    DequantizeLinear = "onnx.dequantize_linear", operands(1, 1);
    /// `onnx.quant(x, scale, zp, bits) {signed, narrow, rounding}`: QONNX Quant as the qonnx
    /// executor computes it. With `v = x / scale + zp` in `f32`: `q = clamp(round(v), lo, hi)`
    /// over the (narrow) signed or unsigned range of `bits`, `round` by `rounding` with qonnx's
    /// numpy formulas (`half_even` is `np.round`; `half_away` is `sign(v) * floor(|v| + 0.5)` in
    /// `f32`), and `y = (q - zp) * scale` in `f32`. A signed 1-bit Quant is bipolar: `q = v >= 0 ?
    /// 1 : -1`. `scale` and `zp` broadcast to `x`; `bits` has one element.
    Quant(QonnxQuantAttrs) = "onnx.quant", operands(4, 4);
    /// `onnx.bipolar_quant(x, scale)`: QONNX BipolarQuant: `(x >= 0 ? 1 : -1) * scale`.
    BipolarQuant = "onnx.bipolar_quant", operands(2, 2);
    /// `onnx.multi_threshold(x, t) {axis, out_scale, out_bias}`: FINN MultiThreshold. For
    /// channel `c` (the index along `axis`), `n` is the number of thresholds `t[c, j]` with
    /// `x >= t[c, j]` (`t` is `[C, T]`, or `[1, T]` for all channels), and
    /// `y = out_scale * n + out_bias` in `f32`, the product and the sum each rounded (as the
    /// qonnx executor computes it).
    MultiThreshold(MultiThresholdAttrs) = "onnx.multi_threshold", operands(2, 2);

    /// `onnx.cast(x) {to}`: ONNX Cast as onnxruntime computes it on x86-64. Integers to `f32`
    /// round to nearest (ties to even); an integer to another integer type wraps modulo 2^bits.
    /// `f32` to an integer truncates toward zero into `i32` (NaN and values outside `i32` give
    /// `i32::MIN`) and then wraps to the target width — out-of-range values wrap, they do not
    /// saturate; to `u32`, values from 2^31 convert after subtracting 2^31 (beyond 2^32: 0); to
    /// 4-bit types the value is first rounded half away from zero.
    Cast(CastAttrs) = "onnx.cast", operands(1, 1);
    /// `onnx.conv_integer(x, w, x_zp, w_zp) {strides, pads, dilations, group}`: ONNX
    /// ConvInteger: the `i32` sum `sum (x - x_zp) * (w - w_zp[m])`, padded positions equal to
    /// `x_zp`, wrapping modulo 2^32. `x_zp` has one element; `w_zp` one or one per output
    /// channel; zero points have the type of their tensor.
    ConvInteger(ConvAttrs) = "onnx.conv_integer", operands(4, 4);
    /// `onnx.matmul_integer(a, b, a_zp, b_zp)`: ONNX MatMulInteger: numpy matmul of
    /// `(a - a_zp)` and `(b - b_zp[n])` into `i32`, wrapping; `a_zp` has one element, `b_zp`
    /// one or one per column.
    MatMulInteger = "onnx.matmul_integer", operands(4, 4);
    /// `onnx.dynamic_quantize_linear(x)`: ONNX DynamicQuantizeLinear as onnxruntime computes
    /// it, giving `(y: u8, scale: f32 scalar, zp: u8 scalar)`: with `lo = min(min(x), 0)` and
    /// `hi = max(max(x), 0)` in `f32`, `scale = hi == lo ? 1 : (hi - lo) / 255`,
    /// `zp = round_half_even(clamp(0 - lo / scale, 0, 255))`, and `y` as `onnx.quantize_linear`
    /// computes it with that scale and zero point.
    DynamicQuantizeLinear = "onnx.dynamic_quantize_linear", operands(1, 1);
    /// `onnx.qlinear_conv(x, w, b?) {strides, pads, dilations, group, out}`: ONNX QLinearConv
    /// as onnxruntime computes it on x86-64. `acc = b[m] + sum (x - zp_x) * (w - zp_w[m])` in
    /// `i32` (padded positions contribute 0), then with `s[m] = (scale_x * scale_w[m]) /
    /// scale_y` in `f32` (that order), `v = clamp(f32(acc) * s[m], qmin - zp_y, qmax - zp_y)`
    /// and `y = round_half_even(v) + zp_y`. `x` and `out` are per-tensor 8-bit quantized; `w`
    /// 8-bit, per tensor or per axis 0; `b` plain `i32`.
    QLinearConv(QLinearConvAttrs) = "onnx.qlinear_conv", operands(2, 3);
    /// `onnx.qlinear_matmul(a, b) {out}`: ONNX QLinearMatMul as onnxruntime computes it: numpy
    /// matmul of `(a - zp_a)` and `(b - zp_b[n])` into `i32`, then requantized exactly as in
    /// `onnx.qlinear_conv` with `s[n] = (scale_a * scale_b[n]) / scale_y`. `b` may be per-axis
    /// along its last axis.
    QLinearMatMul(OutAttrs) = "onnx.qlinear_matmul", operands(2, 2);
    /// `onnx.qgemm(a, b, c?) {alpha, trans_a, trans_b, out}`: onnxruntime's QGemm: `acc = c +
    /// sum (a - zp_a) * (b - zp_b[n])` in `i32` (`c` plain `i32`, broadcast to `[M, N]`), `s[n]
    /// = (alpha * scale_a) * scale_b[n]` in `f32`, then for a quantized `out` divided by
    /// `scale_y` and requantized as in `onnx.qlinear_conv`; for `out = f32`, `y = f32(acc) *
    /// s[n]`. `b` may be per-axis along its `N` axis.
    QGemm(QGemmAttrs) = "onnx.qgemm", operands(2, 3);
    /// `onnx.qlinear_add(a, b) {out}`: onnxruntime's QLinearAdd as MLAS computes it on AVX2
    /// with FMA (numpy broadcasting). `ra = scale_a / scale_y`, `rb = scale_b / scale_y`; with
    /// `(v, s) = (b, a)` when onnxruntime's broadcaster repeats `a` over the innermost span of
    /// output axes, else `(a, b)`: `F = zp_y - fma(rv, zp_v, rs * zp_s)` and `r = fma(v, rv,
    /// fma(s, rs, F))`. Then `y = round_half_even(r)` saturated into `out` (NaN and values
    /// beyond `i32` give the storage minimum).
    QLinearAdd(OutAttrs) = "onnx.qlinear_add", operands(2, 2);
    /// `onnx.qlinear_mul(a, b) {out}`: onnxruntime's QLinearMul: `ratio = (scale_a * scale_b) /
    /// scale_y`, `p = (a - zp_a) * (b - zp_b)` exactly, `r = f32(p) * ratio + f32(zp_y)` (each
    /// operation rounded), then `y = round_half_even(r)` saturated into `out` (NaN and values
    /// beyond `i32` give the storage minimum).
    QLinearMul(OutAttrs) = "onnx.qlinear_mul", operands(2, 2);
    /// `onnx.qlinear_global_average_pool(x) {out}`: onnxruntime's QLinearGlobalAveragePool
    /// (NCHW): with `n` the number of spatial positions, `acc = sum x - zp_x * n` in `i32` and
    /// `s = scale_x / (scale_y * f32(n))`, requantized as in `onnx.qlinear_conv`.
    QLinearGlobalAveragePool(OutAttrs) = "onnx.qlinear_global_average_pool", operands(1, 1);
    /// `onnx.qlinear_average_pool(x) {kernel, strides, pads, ceil_mode, count_include_pad,
    /// out}`: onnxruntime's QLinearAveragePool. A window covering the whole unpadded input is
    /// computed as `onnx.qlinear_global_average_pool`. Otherwise in `f32`: `d = scale_x *
    /// f32(x - zp_x)` summed in window order, divided by the window's in-input size (or by the
    /// kernel size with `count_include_pad`), and `y = saturate(round_half_even(avg / scale_y +
    /// f32(zp_y)))`.
    QLinearAveragePool(QAvgPoolAttrs) = "onnx.qlinear_average_pool", operands(1, 1);
    /// `onnx.qlinear_concat(x...) {axis, out}`: onnxruntime's QLinearConcat: each element of
    /// each operand is dequantized (`scale_x * f32(x - zp_x)`) and quantized to `out` as
    /// `onnx.quantize_linear` does; then the results are concatenated.
    QLinearConcat(QConcatAttrs) = "onnx.qlinear_concat", operands(1, VARIADIC);
    /// `onnx.qlinear_leaky_relu(x) {alpha, out}`: onnxruntime's QLinearLeakyRelu: per element,
    /// `d = scale_x * f32(x - zp_x)`, `f = d >= 0 ? d : alpha * d`, quantized to `out` as
    /// `onnx.quantize_linear` does.
    QLinearLeakyRelu(QLeakyReluAttrs) = "onnx.qlinear_leaky_relu", operands(1, 1);
    /// `onnx.qlinear_sigmoid(x) {out}`: onnxruntime's QLinearSigmoid: per element, `d = scale_x
    /// * f32(x - zp_x)`, `f = logistic(d)` by MLAS's rational approximation with fused
    /// multiply-adds (AVX2/FMA3 kernel: `d` clamped to [-18, 18], odd numerator and even
    /// denominator polynomials in `d^2`, `p / q + 0.5`, then `max(0, .)`), quantized to `out`
    /// as `onnx.quantize_linear` does.
    QLinearSigmoid(OutAttrs) = "onnx.qlinear_sigmoid", operands(1, 1);
    /// `onnx.trunc(x, scale, zp, in_bits, out_scale, out_bits) {signed, narrow, rounding}`:
    /// QONNX Trunc version 2 as the qonnx executor computes it, in `f32`: `y = round_half_even(x
    /// / scale + zp)`, `t = 2^round_half_even(log2(out_scale / scale))`, `y = clamp(y / t, lo,
    /// hi)` over the output range, `y = round(y)` by `rounding` with qonnx's numpy formulas (for
    /// example `half_away` is `sign(y) * floor(|y| + 0.5)` in `f32`), and `(y - zp / t) *
    /// out_scale`.
    Trunc(TruncAttrs) = "onnx.trunc", operands(6, 6);
    /// `onnx.trunc_v1(x, scale, zp, in_bits, out_bits) {rounding}`: QONNX Trunc version 1, in
    /// `f32`: `y = round_half_even(x / scale + zp) / 2^(in_bits - out_bits)`, rounded by
    /// `rounding` with qonnx's numpy formulas, then `(y - zp) * scale` (`signed` and `narrow`
    /// are unused).
    TruncV1(TruncAttrs) = "onnx.trunc_v1", operands(5, 5);

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
    /// into `out`, rounded exactly by the named mode. Into a bipolar `out`, `saturate` takes
    /// the sign: −1 below 0, else +1 (with `floor`, the sign of the exact product).
    Requantize(RequantizeAttrs) = "q.requantize", operands(1, 1);
    /// `q.add(a, b) {out}`: `saturate((a - zp(a)) + (b - zp(b)) + zp(y))` into `out`, numpy
    /// broadcasting. Operands and result are plain integers or per-tensor quantized.
    QAdd(OutAttrs) = "q.add", operands(2, 2);
    /// `q.mul(a, b) {out}`: `saturate((a - zp(a)) * (b - zp(b)) + zp(y))` into `out`, numpy
    /// broadcasting: the exact product of the two offsets (an element-wise scaling, such as a
    /// squeeze-and-excitation gate). Operands and result as in `q.add`.
    QMul(OutAttrs) = "q.mul", operands(2, 2);
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
    /// integer thresholds `t[c, j] <= x` for channel `c` (the stored values are compared); a
    /// bipolar `out` takes the sign, as in `q.requantize`.
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
