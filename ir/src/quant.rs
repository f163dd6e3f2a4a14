//! Quantized element types (scale and zero point, per tensor or per axis), interned.
//!
//! A [`QuantType`] is interned once per process and named by a [`Quant`] handle, so element
//! types stay `Copy`, compare in O(1), and print without a graph at hand. The interner only
//! grows; it holds one entry per distinct quantization, which stays small.

use crate::float::fmt_f32;
use crate::types::Storage;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

/// How the real value of a stored integer `q` is found: `(q - zero_point) * scale`.
#[derive(Clone, Debug)]
pub enum QuantParams {
    /// One scale and zero point for the whole tensor.
    Tensor {
        /// Positive, finite.
        scale: f32,
        /// Within the storage range.
        zero_point: i64,
    },
    /// One scale and zero point per index along `axis` (per output channel, usually).
    Axis {
        /// The dimension the parameters run along.
        axis: usize,
        /// One positive, finite scale per index of `axis`.
        scales: Box<[f32]>,
        /// One zero point per index of `axis`, each within the storage range.
        zero_points: Box<[i64]>,
    },
}

/// A quantized element type: integer (or bipolar) storage plus its real-value mapping.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuantType {
    /// What each element stores.
    pub storage: Storage,
    /// Scale and zero point.
    pub params: QuantParams,
}

impl PartialEq for QuantParams {
    fn eq(&self, other: &Self) -> bool {
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        match (self, other) {
            (
                QuantParams::Tensor {
                    scale: a,
                    zero_point: za,
                },
                QuantParams::Tensor {
                    scale: b,
                    zero_point: zb,
                },
            ) => a.to_bits() == b.to_bits() && za == zb,
            (
                QuantParams::Axis {
                    axis: a,
                    scales: sa,
                    zero_points: za,
                },
                QuantParams::Axis {
                    axis: b,
                    scales: sb,
                    zero_points: zb,
                },
            ) => a == b && bits(sa) == bits(sb) && za == zb,
            _ => false,
        }
    }
}
impl Eq for QuantParams {}
impl Hash for QuantParams {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            QuantParams::Tensor { scale, zero_point } => {
                scale.to_bits().hash(state);
                zero_point.hash(state);
            }
            QuantParams::Axis {
                axis,
                scales,
                zero_points,
            } => {
                axis.hash(state);
                for s in scales {
                    s.to_bits().hash(state);
                }
                zero_points.hash(state);
            }
        }
    }
}

impl QuantType {
    /// A per-tensor quantized type.
    pub fn per_tensor(storage: Storage, scale: f32, zero_point: i64) -> Self {
        QuantType {
            storage,
            params: QuantParams::Tensor { scale, zero_point },
        }
    }

    /// A per-axis quantized type.
    pub fn per_axis(
        storage: Storage,
        axis: usize,
        scales: Vec<f32>,
        zero_points: Vec<i64>,
    ) -> Self {
        QuantType {
            storage,
            params: QuantParams::Axis {
                axis,
                scales: scales.into(),
                zero_points: zero_points.into(),
            },
        }
    }

    /// `(axis, number of scales)` for a per-axis type.
    pub fn axis_len(&self) -> Option<(usize, usize)> {
        match &self.params {
            QuantParams::Tensor { .. } => None,
            QuantParams::Axis { axis, scales, .. } => Some((*axis, scales.len())),
        }
    }

    /// The scale of index `i` along the axis (any `i` for a per-tensor type).
    pub fn scale(&self, i: usize) -> f32 {
        match &self.params {
            QuantParams::Tensor { scale, .. } => *scale,
            QuantParams::Axis { scales, .. } => scales[i],
        }
    }

    /// The zero point of index `i` along the axis (any `i` for a per-tensor type).
    pub fn zero_point(&self, i: usize) -> i64 {
        match &self.params {
            QuantParams::Tensor { zero_point, .. } => *zero_point,
            QuantParams::Axis { zero_points, .. } => zero_points[i],
        }
    }

    /// True when every zero point is 0.
    pub fn is_symmetric(&self) -> bool {
        match &self.params {
            QuantParams::Tensor { zero_point, .. } => *zero_point == 0,
            QuantParams::Axis { zero_points, .. } => zero_points.iter().all(|&z| z == 0),
        }
    }

    /// Checks that scales are positive and finite, zero points fit the storage (0 for
    /// bipolar), the storage width is valid, and per-axis lists agree in length.
    pub fn check(&self) -> Result<(), String> {
        if let Storage::Int(t) = self.storage
            && !t.is_valid()
        {
            return Err(format!("integer width {} is outside 1..=32", t.bits));
        }
        let (scales, zps): (&[f32], &[i64]) = match &self.params {
            QuantParams::Tensor { scale, zero_point } => (
                std::slice::from_ref(scale),
                std::slice::from_ref(zero_point),
            ),
            QuantParams::Axis {
                scales,
                zero_points,
                ..
            } => {
                if scales.is_empty() {
                    return Err("a per-axis quantized type needs at least one scale".into());
                }
                if scales.len() != zero_points.len() {
                    return Err(format!(
                        "{} scales but {} zero points",
                        scales.len(),
                        zero_points.len()
                    ));
                }
                (scales, zero_points)
            }
        };
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("scale {} is not positive and finite", fmt_f32(*s)));
        }
        let zp_ok = |z: i64| match self.storage {
            Storage::Bipolar => z == 0,
            s => (s.min()..=s.max()).contains(&z),
        };
        if let Some(z) = zps.iter().find(|z| !zp_ok(**z)) {
            return Err(format!(
                "zero point {z} is outside the range of {}",
                self.storage
            ));
        }
        Ok(())
    }
}

impl fmt::Display for QuantType {
    /// `quant<u8, scale = 0.5, zp = 3>` or `quant<i8, axis = 0, scale = [0.1, 0.2]>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quant<{}, ", self.storage)?;
        match &self.params {
            QuantParams::Tensor { scale, zero_point } => {
                write!(f, "scale = {}", fmt_f32(*scale))?;
                if *zero_point != 0 {
                    write!(f, ", zp = {zero_point}")?;
                }
            }
            QuantParams::Axis {
                axis,
                scales,
                zero_points,
            } => {
                write!(f, "axis = {axis}, scale = [")?;
                for (i, s) in scales.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}", fmt_f32(*s))?;
                }
                f.write_str("]")?;
                if zero_points.iter().any(|&z| z != 0) {
                    f.write_str(", zp = [")?;
                    for (i, z) in zero_points.iter().enumerate() {
                        let sep = if i == 0 { "" } else { ", " };
                        write!(f, "{sep}{z}")?;
                    }
                    f.write_str("]")?;
                }
            }
        }
        f.write_str(">")
    }
}

/// Handle of an interned [`QuantType`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quant(u32);

#[derive(Default)]
struct Interner {
    types: Vec<&'static QuantType>,
    ids: HashMap<&'static QuantType, u32>,
}

fn interner() -> std::sync::MutexGuard<'static, Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    let lock = INTERNER.get_or_init(Default::default);
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Quant {
    /// Interns `ty`, returning the one handle every equal type shares.
    pub fn intern(ty: QuantType) -> Quant {
        let mut table = interner();
        if let Some(&id) = table.ids.get(&ty) {
            return Quant(id);
        }
        let leaked: &'static QuantType = Box::leak(Box::new(ty));
        let id = u32::try_from(table.types.len()).expect("fewer than 2^32 quantized types");
        table.types.push(leaked);
        table.ids.insert(leaked, id);
        Quant(id)
    }

    /// The interned type.
    pub fn get(self) -> &'static QuantType {
        interner().types[self.0 as usize]
    }
}

impl fmt::Debug for Quant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::IntType;

    #[test]
    fn equal_types_share_a_handle() {
        let u8s = Storage::Int(IntType::unsigned(8));
        let a = Quant::intern(QuantType::per_tensor(u8s, 0.5, 3));
        let b = Quant::intern(QuantType::per_tensor(u8s, 0.5, 3));
        let c = Quant::intern(QuantType::per_tensor(u8s, 0.5, 4));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.get().to_string(), "quant<u8, scale = 0.5, zp = 3>");
    }

    #[test]
    fn checks_parameters() {
        let i4 = Storage::Int(IntType::signed(4));
        assert!(QuantType::per_tensor(i4, 0.0, 0).check().is_err());
        assert!(QuantType::per_tensor(i4, f32::NAN, 0).check().is_err());
        assert!(QuantType::per_tensor(i4, 1.0, 8).check().is_err());
        assert!(
            QuantType::per_tensor(Storage::Bipolar, 1.0, 1)
                .check()
                .is_err()
        );
        assert!(
            QuantType::per_axis(i4, 0, vec![1.0, 2.0], vec![0])
                .check()
                .is_err()
        );
        let ok = QuantType::per_axis(i4, 1, vec![0.25, 2.0], vec![0, -8]);
        ok.check().unwrap();
        assert_eq!(
            ok.to_string(),
            "quant<i4, axis = 1, scale = [0.25, 2.0], zp = [0, -8]>"
        );
    }
}
