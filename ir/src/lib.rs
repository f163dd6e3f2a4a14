//! qweave's intermediate representation: a typed dataflow graph with a text form.
//!
//! This documentation is the IR's specification.
//!
//! # Model
//! A [`Graph`] holds *values* (tensors of a static [`TensorType`]) and *ops* (an [`OpKind`]
//! with typed attributes, applied to operand values, defining result values). Both live in
//! arenas and are named by typed 32-bit [`Handle`]s ([`Value`], [`Op`]); analyses keep their
//! facts beside the graph in a [`HandleMap`]. Each op remembers its `source`, the ONNX node
//! it came from, through every pass.
//!
//! Three dialects share the graph type and may be mixed in one graph: structural ops with no
//! prefix, `onnx.` ops with ONNX float semantics plus the ONNX/QONNX/FINN quantization ops,
//! and `q.` ops with exact integer semantics. [`ops`] states what each op computes.
//!
//! # Types
//! Element types ([`ElemType`]): `f32`; plain integers `i1`..`i32` (two's complement) and
//! `u1`..`u32`; `bipolar` (±1); and quantized types ([`QuantType`]): integer or bipolar
//! storage whose real value is `(q - zero_point) * scale`, with one scale and zero point for
//! the tensor or one per index along an axis. Quantized types are interned ([`Quant`]).
//! Shapes are static: every dimension is at least 1, the rank at most [`MAX_RANK`], and a
//! tensor holds at most [`MAX_ELEMENTS`] elements. Integer-valued tensors hold their stored
//! integers exactly ([`Data::Int`]); floats are never used for them.
//!
//! # Invariants
//! The [`verify()`] function checks all of these and reports every violation:
//! 1. **Single assignment.** Every value is defined exactly once: by one graph input, or as
//!    one result of one scheduled op.
//! 2. **Dependency order.** `Graph::order` lists every scheduled op once, after the ops
//!    defining its operands; graph outputs are defined values.
//! 3. **Types.** Every type obeys the shape limits and quantization rules above, and every
//!    op's result types equal what [`infer()`] computes from its operands and attributes —
//!    which also validates the attributes. A constant's data matches its declared type
//!    (element count, float or integer, every integer within range).
//! 4. **Names.** Value names, where present, are unique.
//!
//! # Text form
//! ```text
//! // comment
//! !q0 = quant<u8, scale = 0.0039215689, zp = 0>            quantized-type aliases first
//! graph @name(%x: tensor<1x3x8x8xf32>) -> (tensor<1x4x8x8xf32>) {
//!   %w = const blob<3fa4...> : tensor<4x3x3x3xf32>          large data: in the sidecar
//!   %b = const dense<[0.5, 0.0, -1.0, 2.0]> : tensor<4xf32>  small data: inline
//!   %0 = onnx.conv %x, %w, %b {strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]}
//!        : tensor<1x4x8x8xf32> loc("conv1")
//!   return %0
//! }
//! ```
//! Values print as `%name` when named (quoted when the name is not a plain identifier) and
//! as `%N` otherwise, numbered in order of definition. Attributes equal to their default
//! are omitted. Constants of at most [`INLINE_LIMIT`] elements print as `dense<[...]>`,
//! constants whose elements are all equal as `splat<v>`, and others as `blob<hash>`: the
//! first 128 bits of the BLAKE3 hash of their bytes, stored in the binary sidecar `.qwb`
//! beside the `.qir` (see [`sidecar`]). Floats print as the shortest decimal that reads
//! back to the same bits. Printing, parsing and printing again gives the same text.

pub mod arena;
pub mod attrs;
pub mod binding;
pub mod data;
pub mod float;
pub mod graph;
pub mod infer;
pub mod ops;
pub mod quant;
pub mod rounding;
pub mod sidecar;
pub mod text;
pub mod types;
pub mod verify;

pub use arena::{Arena, Handle, HandleMap};
pub use attrs::{CoordMode, NearestMode, PadMode, Scalar};
pub use data::{Data, Tensor};
pub use graph::{Graph, Op, OpData, Value, ValueData, ValueDef};
pub use infer::infer;
pub use ops::{Dialect, OpKind};
pub use quant::{Quant, QuantParams, QuantType};
pub use rounding::RoundingMode;
pub use text::{INLINE_LIMIT, ParseError, Parsed, SourceMap, parse, print, print_with_sidecar};
pub use types::{ElemType, IntType, MAX_ELEMENTS, MAX_RANK, Shape, Storage, TensorType};
pub use verify::{VerifyError, verify};
