//! Tensor contents: `f32` elements, or integers held exactly as `i64` whatever their width.
//!
//! Integer-valued types (plain integers, bipolar, quantized) all store their elements as
//! `i64`, so that every integer the IR can name (up to `u32` and `i32`) and every exact
//! product of two of them is representable without loss; floats are never used for them.

use crate::types::{ElemType, TensorType};
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
            (Data::Int(v), Some(storage)) => match v.iter().position(|&x| !storage.contains(x)) {
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
    fn float_equality_is_bitwise() {
        let a = Data::F32(vec![f32::NAN, 0.0].into());
        assert_eq!(a, a.clone());
        assert_ne!(a, Data::F32(vec![f32::NAN, -0.0].into()));
    }
}
