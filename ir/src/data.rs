//! Tensor contents: `f32` elements, or integers held exactly as `i64` whatever their width.
//!
//! Integer-valued types (plain integers, bipolar, quantized) all store their elements as
//! `i64`, so that every integer the IR can name (up to `u32` and `i32`) and every exact
//! product of two of them is representable without loss; floats are never used for them.

use crate::types::{ElemType, Storage, TensorType};
use std::sync::Arc;

/// Flat, row-major tensor contents, shared cheaply between graphs and interpreter runs.
#[derive(Clone, Debug)]
pub enum Data {
    /// Elements of an `f32` tensor.
    F32(Arc<[f32]>),
    /// Elements of an integer, bipolar or quantized tensor (the stored integers).
    Int(Arc<[i64]>),
}

impl PartialEq for Data {
    /// Bitwise for floats, so that NaN equals the same NaN and -0.0 differs from 0.0.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Data::F32(a), Data::F32(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Data::Int(a), Data::Int(b)) => a == b,
            _ => false,
        }
    }
}

impl Data {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The floats, if this is float data.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Data::F32(v) => Some(v),
            Data::Int(_) => None,
        }
    }

    /// The integers, if this is integer data.
    pub fn as_int(&self) -> Option<&[i64]> {
        match self {
            Data::Int(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    /// Checks that the data can be the contents of a tensor of type `ty`: the right number
    /// of elements, floats for `f32`, and integers within the element type's range.
    pub fn check(&self, ty: &TensorType) -> Result<(), String> {
        if self.len() != ty.numel() {
            return Err(format!(
                "{} elements given for {ty}, which has {}",
                self.len(),
                ty.numel()
            ));
        }
        match (self, ty.elem.storage()) {
            (Data::F32(_), None) => Ok(()),
            (Data::Int(v), Some(storage)) => match first_outside(v, storage) {
                None => Ok(()),
                Some(i) => Err(format!(
                    "element {i} is {}, outside the range of {storage}",
                    v[i]
                )),
            },
            (Data::F32(_), Some(_)) => Err(format!("float elements given for {ty}")),
            (Data::Int(_), None) => Err(format!("integer elements given for {ty}")),
        }
    }

    /// The single element as `f32`, for one-element float data.
    pub fn scalar_f32(&self) -> Option<f32> {
        match self.as_f32() {
            Some([x]) => Some(*x),
            _ => None,
        }
    }
}

/// The index of the first of `v` that is not a value of `storage`. The common case, every
/// value inside, is decided by a branch-free pass over blocks that the compiler vectorizes
/// (`x` is a value of an integer type of `b` bits with minimum `lo` exactly when
/// `(x - lo) mod 2^64 < 2^b`); only a block with a value outside is searched element by element.
fn first_outside(v: &[i64], storage: Storage) -> Option<usize> {
    const BLOCK: usize = 512;
    let lo = storage.min();
    let inside = |block: &[i64]| match storage {
        Storage::Int(t) if t.bits < 64 => {
            let bits = u32::from(t.bits);
            block
                .iter()
                .fold(0u64, |acc, &x| acc | (x.wrapping_sub(lo) as u64) >> bits)
                == 0
        }
        _ => block.iter().all(|&x| storage.contains(x)),
    };
    v.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        if inside(block) {
            return None;
        }
        let i = block.iter().position(|&x| !storage.contains(x))?;
        Some(b * BLOCK + i)
    })
}

/// A tensor value: its type and contents.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Shape and element type.
    pub ty: TensorType,
    /// Contents, row-major.
    pub data: Data,
}

impl Tensor {
    /// A tensor, checking the data against the type.
    pub fn new(ty: TensorType, data: Data) -> Result<Tensor, String> {
        data.check(&ty)?;
        Ok(Tensor { ty, data })
    }

    /// An `f32` tensor of the given shape.
    pub fn from_f32(shape: impl Into<Vec<u64>>, values: Vec<f32>) -> Result<Tensor, String> {
        Tensor::new(
            TensorType::new(shape.into(), ElemType::F32),
            Data::F32(values.into()),
        )
    }

    /// An integer-valued tensor of the given shape and element type.
    pub fn from_int(
        shape: impl Into<Vec<u64>>,
        elem: ElemType,
        values: Vec<i64>,
    ) -> Result<Tensor, String> {
        Tensor::new(
            TensorType::new(shape.into(), elem),
            Data::Int(values.into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IntType;

    #[test]
    fn checks_length_kind_and_range() {
        let u4 = ElemType::Int(IntType::unsigned(4));
        assert!(Tensor::from_int([2], u4, vec![0, 15]).is_ok());
        assert!(
            Tensor::from_int([2], u4, vec![0, 16])
                .unwrap_err()
                .contains("outside the range of u4")
        );
        assert!(
            Tensor::from_int([3], u4, vec![0, 1])
                .unwrap_err()
                .contains("2 elements")
        );
        assert!(Tensor::from_int([2], ElemType::Bipolar, vec![1, 0]).is_err());
        assert!(
            Tensor::new(
                TensorType::new(vec![1], ElemType::F32),
                Data::Int(vec![1].into())
            )
            .is_err()
        );
    }

    #[test]
    fn names_the_first_value_outside_in_any_block() {
        let i8t = Storage::Int(IntType::signed(8));
        let mut v = vec![-128i64; 2000];
        assert_eq!(first_outside(&v, i8t), None);
        v[1500] = 128;
        v[1700] = -129;
        assert_eq!(first_outside(&v, i8t), Some(1500));
        v[3] = i64::MIN;
        assert_eq!(first_outside(&v, i8t), Some(3));
        let i32t = Storage::Int(IntType::I32);
        let (lo, hi) = (i64::from(i32::MIN), i64::from(i32::MAX));
        assert_eq!(first_outside(&[lo, hi, 0], i32t), None);
        assert_eq!(first_outside(&[lo, hi, hi + 1], i32t), Some(2));
        assert_eq!(first_outside(&[lo - 1], i32t), Some(0));
        assert_eq!(first_outside(&[i64::MAX, i64::MIN], i32t), Some(0));
        let u32t = Storage::Int(IntType::unsigned(32));
        assert_eq!(first_outside(&[0, hi * 2 + 1], u32t), None);
        assert_eq!(first_outside(&[0, hi * 2 + 2], u32t), Some(1));
        assert_eq!(first_outside(&[7, -1], u32t), Some(1));
        let u1 = Storage::Int(IntType::unsigned(1));
        assert_eq!(first_outside(&[0, 1, 1, 2], u1), Some(3));
        let mut bip = [1i64, -1].repeat(700);
        assert_eq!(first_outside(&bip, Storage::Bipolar), None);
        bip[900] = 0;
        assert_eq!(first_outside(&bip, Storage::Bipolar), Some(900));
    }

    #[test]
    fn float_equality_is_bitwise() {
        let a = Data::F32(vec![f32::NAN, 0.0].into());
        assert_eq!(a, a.clone());
        assert_ne!(a, Data::F32(vec![f32::NAN, -0.0].into()));
    }
}
