//! Tensors as ONNX stores them (`TensorProto`), decoded on the host: every ONNX data type the
//! importer reads, including `int64` shape tensors that never become IR values.

use crate::proto::{TensorProto, tensor_proto};
use qweave_ir::{Data, ElemType, IntType, MAX_ELEMENTS, Tensor, TensorType};
use std::path::Path;

/// An ONNX element type (`TensorProto.DataType`) the importer understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// float32.
    F32,
    /// float16 (read and widened to f32 exactly).
    F16,
    /// float64 (host-side only; never an IR value).
    F64,
    /// bool.
    Bool,
    /// A signed or unsigned integer of 4, 8, 16, 32 or 64 bits.
    Int {
        /// Two's complement.
        signed: bool,
        /// Width.
        bits: u8,
    },
}

impl DType {
    /// The data type with ONNX code `code`, or the name of the one that is not supported.
    pub fn from_onnx(code: i32) -> Result<DType, String> {
        use tensor_proto::DataType as D;
        let int = |signed, bits| Ok(DType::Int { signed, bits });
        match D::try_from(code) {
            Ok(D::Float) => Ok(DType::F32),
            Ok(D::Float16) => Ok(DType::F16),
            Ok(D::Double) => Ok(DType::F64),
            Ok(D::Bool) => Ok(DType::Bool),
            Ok(D::Int4) => int(true, 4),
            Ok(D::Uint4) => int(false, 4),
            Ok(D::Int8) => int(true, 8),
            Ok(D::Uint8) => int(false, 8),
            Ok(D::Int16) => int(true, 16),
            Ok(D::Uint16) => int(false, 16),
            Ok(D::Int32) => int(true, 32),
            Ok(D::Uint32) => int(false, 32),
            Ok(D::Int64) => int(true, 64),
            Ok(D::Uint64) => int(false, 64),
            Ok(other) => Err(format!(
                "element type {}",
                other.as_str_name().to_lowercase()
            )),
            Err(_) => Err(format!("unknown element type code {code}")),
        }
    }

    /// The ONNX code of this type.
    pub fn to_onnx(self) -> i32 {
        use tensor_proto::DataType as D;
        let d = match self {
            DType::F32 => D::Float,
            DType::F16 => D::Float16,
            DType::F64 => D::Double,
            DType::Bool => D::Bool,
            DType::Int {
                signed: true,
                bits: 4,
            } => D::Int4,
            DType::Int {
                signed: false,
                bits: 4,
            } => D::Uint4,
            DType::Int {
                signed: true,
                bits: 8,
            } => D::Int8,
            DType::Int {
                signed: false,
                bits: 8,
            } => D::Uint8,
            DType::Int {
                signed: true,
                bits: 16,
            } => D::Int16,
            DType::Int {
                signed: false,
                bits: 16,
            } => D::Uint16,
            DType::Int {
                signed: true,
                bits: 32,
            } => D::Int32,
            DType::Int {
                signed: false,
                bits: 32,
            } => D::Uint32,
            DType::Int { signed: true, .. } => D::Int64,
            DType::Int { signed: false, .. } => D::Uint64,
        };
        d as i32
    }

    /// The IR element type of the same values, if the IR has one (not f64 or 64-bit ints).
    pub fn ir_elem(self) -> Option<ElemType> {
        match self {
            DType::F32 | DType::F16 => Some(ElemType::F32),
            DType::Bool => Some(ElemType::Int(IntType::unsigned(1))),
            DType::Int { signed, bits } if bits <= 32 => {
                Some(ElemType::Int(IntType { signed, bits }))
            }
            _ => None,
        }
    }

    /// The ONNX data type of an IR element type (quantized types by their storage).
    pub fn of_ir(elem: ElemType) -> Option<DType> {
        match elem.storage() {
            None => Some(DType::F32),
            Some(qweave_ir::Storage::Bipolar) => Some(DType::Int {
                signed: true,
                bits: 8,
            }),
            Some(qweave_ir::Storage::Int(t)) => {
                let bits = match t.bits {
                    1 if !t.signed => return Some(DType::Bool),
                    0..=4 => 4,
                    5..=8 => 8,
                    9..=16 => 16,
                    _ => 32,
                };
                Some(DType::Int {
                    signed: t.signed,
                    bits,
                })
            }
        }
    }

    /// True for the floating types.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::F64)
    }
}

/// Host tensor contents: floats as f32 or f64, every integer (and bool) as i64.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// float32 and float16 elements.
    F32(Vec<f32>),
    /// float64 elements.
    F64(Vec<f64>),
    /// Integer and bool elements (u64 values above i64::MAX are refused when read).
    Int(Vec<i64>),
}

/// A tensor known at import time.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions (may include 0).
    pub dims: Vec<u64>,
    /// Elements, row-major.
    pub data: HostData,
}

impl HostTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
            HostData::Int(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An int64 tensor.
    pub fn i64s(dims: Vec<u64>, values: Vec<i64>) -> HostTensor {
        HostTensor {
            dtype: DType::Int {
                signed: true,
                bits: 64,
            },
            dims,
            data: HostData::Int(values),
        }
    }

    /// The elements as i64 (integers only).
    pub fn as_ints(&self) -> Option<&[i64]> {
        match &self.data {
            HostData::Int(v) => Some(v),
            _ => None,
        }
    }

    /// The elements as f64 (any type).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            HostData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            HostData::F64(v) => v.clone(),
            HostData::Int(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }

    /// The elements as f32 when the tensor is float32/float16 (exact).
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            HostData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The single element of a one-element tensor as f32 (floats exactly; ints converted).
    pub fn scalar_f32(&self) -> Option<f32> {
        if self.len() != 1 {
            return None;
        }
        Some(match &self.data {
            HostData::F32(v) => v[0],
            HostData::F64(v) => v[0] as f32,
            HostData::Int(v) => v[0] as f32,
        })
    }

    /// The single element of a one-element integer tensor.
    pub fn scalar_int(&self) -> Option<i64> {
        match self.as_ints() {
            Some([v]) => Some(*v),
            _ => None,
        }
    }

    /// This tensor as an IR tensor of the same values; f64 and 64-bit integers have no IR
    /// type, and zero-sized tensors no IR shape.
    pub fn to_ir(&self) -> Result<Tensor, String> {
        let elem = self.dtype.ir_elem().ok_or_else(|| {
            format!(
                "{} tensors exist in qweave only as import-time constants",
                self.dtype_name()
            )
        })?;
        let ty = TensorType::new(self.dims.clone(), elem);
        ty.check()?;
        let data = match &self.data {
            HostData::F32(v) => Data::F32(v.clone().into()),
            HostData::Int(v) => Data::Int(v.clone().into()),
            HostData::F64(_) => unreachable!("f64 has no IR element type"),
        };
        Tensor::new(ty, data)
    }

    /// An IR tensor as a host tensor with the ONNX type of its storage.
    pub fn from_ir(t: &Tensor) -> Result<HostTensor, String> {
        let dtype = DType::of_ir(t.ty.elem).ok_or_else(|| format!("{} has no ONNX type", t.ty))?;
        let data = match &t.data {
            Data::F32(v) => HostData::F32(v.to_vec()),
            Data::Int(v) => HostData::Int(v.to_vec()),
        };
        Ok(HostTensor {
            dtype,
            dims: t.ty.shape.clone(),
            data,
        })
    }

    /// A readable name of the element type.
    pub fn dtype_name(&self) -> String {
        match self.dtype {
            DType::F32 => "float32".into(),
            DType::F16 => "float16".into(),
            DType::F64 => "float64".into(),
            DType::Bool => "bool".into(),
            DType::Int { signed, bits } => format!("{}int{bits}", if signed { "" } else { "u" }),
        }
    }
}

/// Element count of `dims`, refusing negative dimensions and counts beyond the IR's limit.
pub fn checked_numel(dims: &[i64]) -> Result<usize, String> {
    let mut n: u64 = 1;
    for &d in dims {
        let d = u64::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
        n = n.checked_mul(d).filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| {
            format!("dimensions {dims:?} hold more than {MAX_ELEMENTS} elements, the limit for one tensor")
        })?;
    }
    Ok(n as usize)
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = (bits >> 10) & 0x1f;
    let frac = u32::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => (frac as f32) * 2f32.powi(-24),
        0x1f => {
            return f32::from_bits(sign | 0x7f80_0000 | (frac << 13));
        }
        _ => return f32::from_bits(sign | ((u32::from(exp) + 112) << 23) | (frac << 13)),
    };
    if sign != 0 { -magnitude } else { magnitude }
}

/// Reads an ONNX tensor, its external data relative to `base_dir` (refusing locations outside
/// it). The error names what is wrong; the caller names the tensor.
pub fn from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<HostTensor, String> {
    let dtype = DType::from_onnx(t.data_type()).map_err(|e| format!("unsupported {e}"))?;
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let n = checked_numel(&t.dims)?;
    let dims: Vec<u64> = t.dims.iter().map(|&d| d as u64).collect();
    let external;
    let raw: Option<&[u8]> = if t.data_location() == tensor_proto::DataLocation::External {
        external = read_external(t, base_dir)?;
        Some(&external)
    } else {
        t.raw_data.as_deref()
    };
    let data = match raw {
        Some(bytes) => from_raw(dtype, bytes, n)?,
        None => from_fields(t, dtype, n)?,
    };
    let got = match &data {
        HostData::F32(v) => v.len(),
        HostData::F64(v) => v.len(),
        HostData::Int(v) => v.len(),
    };
    if got != n {
        return Err(format!(
            "holds {got} elements but its dimensions {:?} need {n}",
            t.dims
        ));
    }
    Ok(HostTensor { dtype, dims, data })
}

fn elem_size(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F16 => 2,
        DType::F64 => 8,
        DType::Bool => 1,
        DType::Int { bits, .. } => usize::from(bits.max(8) / 8),
    }
}

fn from_raw(dtype: DType, bytes: &[u8], n: usize) -> Result<HostData, String> {
    if let DType::Int { signed, bits: 4 } = dtype {
        if bytes.len() != n.div_ceil(2) {
            return Err(format!(
                "raw data has {} bytes, {n} 4-bit elements need {}",
                bytes.len(),
                n.div_ceil(2)
            ));
        }
        return Ok(HostData::Int(unpack4(
            bytes.iter().map(|&b| u32::from(b)),
            signed,
            n,
        )));
    }
    let size = elem_size(dtype);
    if bytes.len() != n * size {
        return Err(format!(
            "raw data has {} bytes, {n} elements need {}",
            bytes.len(),
            n * size
        ));
    }
    let chunks = bytes.chunks_exact(size);
    Ok(match dtype {
        DType::F32 => HostData::F32(
            chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::F16 => HostData::F32(
            chunks
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DType::F64 => HostData::F64(
            chunks
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        DType::Bool => HostData::Int(chunks.map(|c| i64::from(c[0] != 0)).collect()),
        DType::Int { signed, bits } => {
            let mut out = Vec::with_capacity(n);
            for c in chunks {
                let mut raw = [0u8; 8];
                raw[..c.len()].copy_from_slice(c);
                let u = u64::from_le_bytes(raw);
                let shift = 64 - u32::from(bits);
                let v = if signed {
                    ((u << shift) as i64) >> shift
                } else {
                    i64::try_from(u)
                        .map_err(|_| format!("uint64 value {u} exceeds the int64 range"))?
                };
                out.push(v);
            }
            HostData::Int(out)
        }
    })
}

fn unpack4(words: impl Iterator<Item = u32>, signed: bool, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    for w in words {
        for nibble in [w & 0xf, (w >> 4) & 0xf] {
            if out.len() < n {
                let v = i64::from(nibble);
                out.push(if signed && v >= 8 { v - 16 } else { v });
            }
        }
    }
    out
}

fn from_fields(t: &TensorProto, dtype: DType, n: usize) -> Result<HostData, String> {
    Ok(match dtype {
        DType::F32 => HostData::F32(t.float_data.clone()),
        DType::F64 => HostData::F64(t.double_data.clone()),
        DType::F16 => HostData::F32(t.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect()),
        DType::Bool => HostData::Int(t.int32_data.iter().map(|&v| i64::from(v != 0)).collect()),
        DType::Int { signed, bits: 4 } => {
            HostData::Int(unpack4(t.int32_data.iter().map(|&v| v as u32), signed, n))
        }
        DType::Int {
            bits: 64,
            signed: true,
        } => HostData::Int(t.int64_data.clone()),
        DType::Int {
            bits: 32 | 64,
            signed: false,
        } => HostData::Int(
            t.uint64_data
                .iter()
                .map(|&u| {
                    i64::try_from(u)
                        .map_err(|_| format!("uint64 value {u} exceeds the int64 range"))
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::Int { signed, bits } => HostData::Int(
            t.int32_data
                .iter()
                .map(|&v| {
                    // Narrow types are stored widened; keep the low `bits` as the type reads them.
                    let shift = 64 - u32::from(bits);
                    let u = (v as i64 as u64) << shift;
                    if signed {
                        (u as i64) >> shift
                    } else {
                        (u >> shift) as i64
                    }
                })
                .collect(),
        ),
    })
}

fn read_external(t: &TensorProto, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let base = base_dir
        .ok_or("external data needs the model's folder, but the model was not read from a file")?;
    let field = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key() == key)
            .map(|e| e.value().to_string())
    };
    let location = field("location").ok_or("external data without a location")?;
    let rel = Path::new(&location);
    let escapes = rel.is_absolute()
        || rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    let path = base.join(rel);
    let inside = |p: &Path| match (p.canonicalize(), base.canonicalize()) {
        (Ok(p), Ok(b)) => p.starts_with(b),
        _ => true, // a missing file is reported below
    };
    if escapes || !inside(&path) {
        return Err(format!(
            "external data location {location:?} lies outside the model's folder; qweave only reads \
             external data next to the model (move the file beside it and use a plain relative name)"
        ));
    }
    let parse = |key: &str| -> Result<Option<u64>, String> {
        field(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("external data {key} {v:?} is not a number"))
            })
            .transpose()
    };
    let (offset, length) = (parse("offset")?.unwrap_or(0), parse("length")?);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read external data {}: {e}", path.display()))?;
    let start = usize::try_from(offset).ok().filter(|&o| o <= bytes.len());
    let start = start
        .ok_or_else(|| format!("external data offset {offset} is past the end of {location}"))?;
    let end = match length {
        Some(len) => usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= bytes.len()),
        None => Some(bytes.len()),
    };
    let end =
        end.ok_or_else(|| format!("external data {location} is shorter than offset + length"))?;
    Ok(bytes[start..end].to_vec())
}

/// Writes a host tensor as an ONNX `TensorProto` (raw little-endian data).
pub fn to_proto(t: &HostTensor, name: &str) -> TensorProto {
    let mut raw = Vec::new();
    match (&t.data, t.dtype) {
        (HostData::F32(v), _) => v
            .iter()
            .for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        (HostData::F64(v), _) => v
            .iter()
            .for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        (HostData::Int(v), DType::Int { bits: 4, .. }) => {
            for pair in v.chunks(2) {
                let lo = (pair[0] & 0xf) as u8;
                let hi = pair.get(1).map_or(0, |&h| (h & 0xf) as u8);
                raw.push(lo | (hi << 4));
            }
        }
        (HostData::Int(v), dtype) => {
            let size = elem_size(dtype);
            v.iter()
                .for_each(|x| raw.extend_from_slice(&x.to_le_bytes()[..size]));
        }
    }
    let dtype = if t.dtype == DType::F16 {
        DType::F32
    } else {
        t.dtype
    };
    TensorProto {
        dims: t.dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype.to_onnx()),
        name: Some(name.to_string()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dtype: tensor_proto::DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dims: dims.to_vec(),
            data_type: Some(dtype as i32),
            ..Default::default()
        }
    }

    #[test]
    fn reads_raw_and_typed_fields() {
        let mut t = proto(tensor_proto::DataType::Int8, &[3]);
        t.raw_data = Some(vec![0xff, 0x01, 0x80]);
        assert_eq!(
            from_proto(&t, None).unwrap().data,
            HostData::Int(vec![-1, 1, -128])
        );
        let mut t = proto(tensor_proto::DataType::Uint8, &[2]);
        t.int32_data = vec![255, 7];
        assert_eq!(
            from_proto(&t, None).unwrap().data,
            HostData::Int(vec![255, 7])
        );
        let mut t = proto(tensor_proto::DataType::Int4, &[3]);
        t.raw_data = Some(vec![0x8f, 0x07]);
        assert_eq!(
            from_proto(&t, None).unwrap().data,
            HostData::Int(vec![-1, -8, 7])
        );
        let mut t = proto(tensor_proto::DataType::Float16, &[3]);
        t.int32_data = vec![0x3c00, 0xc000, 0x0001];
        assert_eq!(
            from_proto(&t, None).unwrap().data,
            HostData::F32(vec![1.0, -2.0, 2f32.powi(-24)])
        );
    }

    #[test]
    fn refuses_inconsistent_or_huge_tensors() {
        let mut t = proto(tensor_proto::DataType::Float, &[2, 2]);
        t.float_data = vec![1.0];
        assert!(
            from_proto(&t, None)
                .unwrap_err()
                .contains("holds 1 elements")
        );
        let t = proto(tensor_proto::DataType::Float, &[1 << 40, 1 << 40]);
        assert!(from_proto(&t, None).unwrap_err().contains("more than"));
        let t = proto(tensor_proto::DataType::Float, &[-1]);
        assert!(from_proto(&t, None).is_err());
        let t = proto(tensor_proto::DataType::String, &[1]);
        assert_eq!(
            from_proto(&t, None).unwrap_err(),
            "unsupported element type string"
        );
    }

    #[test]
    fn external_data_stays_in_the_model_folder() {
        let dir = std::env::temp_dir().join(format!("qweave-ext-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("w.bin"), [0u8, 0, 128, 63, 0, 0, 0, 64]).unwrap();
        let mut t = proto(tensor_proto::DataType::Float, &[1]);
        t.data_location = Some(tensor_proto::DataLocation::External as i32);
        let entry = |k: &str, v: &str| crate::proto::StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        t.external_data = vec![
            entry("location", "w.bin"),
            entry("offset", "4"),
            entry("length", "4"),
        ];
        assert_eq!(
            from_proto(&t, Some(&dir)).unwrap().data,
            HostData::F32(vec![2.0])
        );
        t.external_data[0] = entry("location", "../w.bin");
        assert!(
            from_proto(&t, Some(&dir))
                .unwrap_err()
                .contains("outside the model's folder")
        );
        t.external_data[0] = entry("location", "/etc/passwd");
        assert!(
            from_proto(&t, Some(&dir))
                .unwrap_err()
                .contains("outside the model's folder")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn proto_round_trip() {
        let t = HostTensor {
            dtype: DType::Int {
                signed: true,
                bits: 4,
            },
            dims: vec![3],
            data: HostData::Int(vec![-8, 7, -1]),
        };
        assert_eq!(from_proto(&to_proto(&t, "x"), None).unwrap(), t);
        let t = HostTensor {
            dtype: DType::Int {
                signed: false,
                bits: 16,
            },
            dims: vec![2],
            data: HostData::Int(vec![65535, 3]),
        };
        assert_eq!(from_proto(&to_proto(&t, "x"), None).unwrap(), t);
    }
}
