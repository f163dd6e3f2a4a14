//! Element and tensor types: `f32`, `i1`..`i32`, `u1`..`u32`, bipolar ±1 and quantized types.

use crate::quant::Quant;
use std::fmt;

/// The largest number of elements a tensor type may have (2^28, a quarter billion). Larger
/// types are rejected by the parser and the verifier before anything is allocated for them.
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// The largest rank a tensor type may have.
pub const MAX_RANK: usize = 8;

/// A two's-complement (signed) or plain binary (unsigned) integer of 1 to 32 bits.
///
/// `i1` holds {-1, 0} and `u1` holds {0, 1}; a ±1 value is [`ElemType::Bipolar`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntType {
    /// Two's complement when true.
    pub signed: bool,
    /// Width in bits, 1 to 32.
    pub bits: u8,
}

impl IntType {
    /// A signed integer type of `bits` bits.
    pub const fn signed(bits: u8) -> Self {
        IntType { signed: true, bits }
    }

    /// An unsigned integer type of `bits` bits.
    pub const fn unsigned(bits: u8) -> Self {
        IntType {
            signed: false,
            bits,
        }
    }

    /// `i32`, the usual accumulator.
    pub const I32: IntType = IntType::signed(32);

    /// True when the width is within 1..=32.
    pub fn is_valid(self) -> bool {
        (1..=32).contains(&self.bits)
    }

    /// The smallest representable value.
    pub fn min(self) -> i64 {
        if self.signed {
            -(1i64 << (self.bits - 1))
        } else {
            0
        }
    }

    /// The largest representable value.
    pub fn max(self) -> i64 {
        if self.signed {
            (1i64 << (self.bits - 1)) - 1
        } else {
            (1i64 << self.bits) - 1
        }
    }

    /// True when `v` is representable.
    pub fn contains(self, v: i64) -> bool {
        (self.min()..=self.max()).contains(&v)
    }

    /// `v` clamped into the representable range.
    pub fn saturate(self, v: i64) -> i64 {
        v.clamp(self.min(), self.max())
    }

    /// `v` reduced modulo 2^bits into the representable range (two's-complement wrap-around).
    pub fn wrap(self, v: i64) -> i64 {
        let modulus = 1i128 << self.bits;
        let mut r = (v as i128).rem_euclid(modulus);
        if self.signed && r > self.max() as i128 {
            r -= modulus;
        }
        r as i64
    }
}

impl fmt::Display for IntType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.signed { 'i' } else { 'u' }, self.bits)
    }
}

/// The type of a tensor's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    /// IEEE-754 binary32.
    F32,
    /// A plain integer.
    Int(IntType),
    /// ±1, stored as the integers -1 and +1.
    Bipolar,
    /// Integers standing for real numbers `(q - zero_point) * scale`; see [`crate::QuantType`].
    Quant(Quant),
}

/// What a quantized type stores: an integer, or bipolar ±1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    /// A plain integer of the given type.
    Int(IntType),
    /// ±1.
    Bipolar,
}

impl Storage {
    /// Smallest stored value.
    pub fn min(self) -> i64 {
        match self {
            Storage::Int(t) => t.min(),
            Storage::Bipolar => -1,
        }
    }

    /// Largest stored value.
    pub fn max(self) -> i64 {
        match self {
            Storage::Int(t) => t.max(),
            Storage::Bipolar => 1,
        }
    }

    /// True when `v` is a value of this storage (for bipolar: exactly -1 or +1).
    pub fn contains(self, v: i64) -> bool {
        match self {
            Storage::Int(t) => t.contains(v),
            Storage::Bipolar => v == -1 || v == 1,
        }
    }

    /// Bits needed to hold one element (1 for bipolar).
    pub fn bits(self) -> u8 {
        match self {
            Storage::Int(t) => t.bits,
            Storage::Bipolar => 1,
        }
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Int(t) => t.fmt(f),
            Storage::Bipolar => f.write_str("bipolar"),
        }
    }
}

impl ElemType {
    /// The integer storage of an integer-valued type; `None` for `f32`.
    pub fn storage(self) -> Option<Storage> {
        match self {
            ElemType::F32 => None,
            ElemType::Int(t) => Some(Storage::Int(t)),
            ElemType::Bipolar => Some(Storage::Bipolar),
            ElemType::Quant(q) => Some(q.get().storage),
        }
    }

    /// True for `f32`.
    pub fn is_float(self) -> bool {
        self == ElemType::F32
    }

    /// True for every type whose elements are stored as integers (all but `f32`).
    pub fn is_integer(self) -> bool {
        !self.is_float()
    }

    /// The axis of a per-axis quantized type.
    pub fn quant_axis(self) -> Option<usize> {
        self.quant()
            .and_then(crate::QuantType::axis_len)
            .map(|(axis, _)| axis)
    }

    /// The quantized type's parameters, if this is one.
    pub fn quant(self) -> Option<&'static crate::QuantType> {
        match self {
            ElemType::Quant(q) => Some(q.get()),
            _ => None,
        }
    }
}

impl fmt::Display for ElemType {
    /// The inline form; the printer writes quantized types as `!name` aliases instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::F32 => f.write_str("f32"),
            ElemType::Int(t) => t.fmt(f),
            ElemType::Bipolar => f.write_str("bipolar"),
            ElemType::Quant(q) => write!(f, "!{}", q.get()),
        }
    }
}

/// Static dimensions, outermost first. Rank 0 is a scalar.
pub type Shape = Vec<u64>;

/// Number of elements of `shape`, or `None` when the product overflows `u64`.
pub fn numel(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// A tensor type: static shape plus element type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// Dimensions, each at least 1.
    pub shape: Shape,
    /// Element type.
    pub elem: ElemType,
}

impl TensorType {
    /// A tensor type of the given shape and element type.
    pub fn new(shape: impl Into<Shape>, elem: ElemType) -> Self {
        TensorType {
            shape: shape.into(),
            elem,
        }
    }

    /// Rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements. Only meaningful for types that passed [`TensorType::check`].
    pub fn numel(&self) -> usize {
        numel(&self.shape).unwrap_or(u64::MAX) as usize
    }

    /// The same shape with another element type.
    pub fn with_elem(&self, elem: ElemType) -> Self {
        TensorType {
            shape: self.shape.clone(),
            elem,
        }
    }

    /// Checks the limits every tensor type obeys: rank at most [`MAX_RANK`], no zero-sized
    /// dimension, at most [`MAX_ELEMENTS`] elements, valid integer widths, and for a per-axis
    /// quantized type an axis within the rank whose length matches the number of scales.
    pub fn check(&self) -> Result<(), String> {
        if self.rank() > MAX_RANK {
            return Err(format!("rank {} exceeds the limit {MAX_RANK}", self.rank()));
        }
        if self.shape.contains(&0) {
            return Err("zero-sized dimensions are not supported".into());
        }
        match numel(&self.shape) {
            Some(n) if n <= MAX_ELEMENTS => {}
            _ => {
                return Err(format!(
                    "more than {MAX_ELEMENTS} elements (2^28), the limit for one tensor"
                ));
            }
        }
        match self.elem {
            ElemType::Int(t) if !t.is_valid() => {
                return Err(format!("integer width {} is outside 1..=32", t.bits));
            }
            ElemType::Quant(q) => {
                if let Some((axis, n)) = q.get().axis_len() {
                    match self.shape.get(axis) {
                        None => {
                            return Err(format!(
                                "quantization axis {axis} is outside a rank-{} tensor",
                                self.rank()
                            ));
                        }
                        Some(&d) if d != n as u64 => {
                            return Err(format!(
                                "quantization axis {axis} has {d} elements but the type has {n} scales"
                            ));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tensor<")?;
        for d in &self.shape {
            write!(f, "{d}x")?;
        }
        write!(f, "{}>", self.elem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ranges() {
        assert_eq!(
            (IntType::signed(1).min(), IntType::signed(1).max()),
            (-1, 0)
        );
        assert_eq!(
            (IntType::unsigned(1).min(), IntType::unsigned(1).max()),
            (0, 1)
        );
        assert_eq!(
            (IntType::signed(8).min(), IntType::signed(8).max()),
            (-128, 127)
        );
        assert_eq!(IntType::unsigned(32).max(), u32::MAX as i64);
        assert_eq!(IntType::signed(32).min(), i32::MIN as i64);
    }

    #[test]
    fn wrap_and_saturate() {
        let i8t = IntType::signed(8);
        assert_eq!(i8t.wrap(128), -128);
        assert_eq!(i8t.wrap(-129), 127);
        assert_eq!(i8t.saturate(300), 127);
        let u4 = IntType::unsigned(4);
        assert_eq!(u4.wrap(17), 1);
        assert_eq!(u4.wrap(-1), 15);
    }

    #[test]
    fn limits_are_checked() {
        let t = TensorType::new(vec![1u64 << 20, 1 << 20], ElemType::F32);
        assert!(t.check().unwrap_err().contains("more than"));
        let t = TensorType::new(vec![u64::MAX, 2], ElemType::F32);
        assert!(t.check().is_err());
        assert!(TensorType::new(vec![2, 0], ElemType::F32).check().is_err());
        assert_eq!(
            TensorType::new(vec![1, 3], ElemType::Int(IntType::unsigned(4))).to_string(),
            "tensor<1x3xu4>"
        );
        assert_eq!(
            TensorType::new(vec![], ElemType::F32).to_string(),
            "tensor<f32>"
        );
    }
}
