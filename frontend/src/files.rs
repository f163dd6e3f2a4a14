//! Tensors in files: `.npy`, `.npz` (numpy) and `.pb` (ONNX TensorProto), chosen by extension.

use crate::host::{DType, HostData, HostTensor, from_proto, to_proto};
use crate::proto::TensorProto;
use npyz::WriterBuilder;
use prost::Message;
use std::io::{Read, Write};
use std::path::Path;

/// A tensor with the name it had in its file (npz key or TensorProto name), if any.
pub struct Named {
    /// The name.
    pub name: Option<String>,
    /// The tensor.
    pub tensor: HostTensor,
}

fn ext(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// Reads every tensor in `path`.
pub fn read(path: &Path) -> Result<Vec<Named>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    match ext(path) {
        "npy" => Ok(vec![Named {
            name: None,
            tensor: read_npy(&bytes).map_err(|e| format!("{shown}: {e}"))?,
        }]),
        "npz" => read_npz(&bytes).map_err(|e| format!("{shown}: {e}")),
        "pb" => {
            let t = TensorProto::decode(&bytes[..])
                .map_err(|e| format!("{shown}: not an ONNX TensorProto: {e}"))?;
            let name = t.name.clone().filter(|n| !n.is_empty());
            let tensor = from_proto(&t, path.parent()).map_err(|e| format!("{shown}: {e}"))?;
            Ok(vec![Named { name, tensor }])
        }
        _ => Err(format!("{shown}: tensor files must be .npy, .npz or .pb")),
    }
}

fn read_npy(bytes: &[u8]) -> Result<HostTensor, String> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| format!("not a .npy file: {e}"))?;
    if npy.order() == npyz::Order::Fortran {
        return Err(
            "Fortran-ordered arrays are not supported (save with np.ascontiguousarray)".into(),
        );
    }
    let dims = npy.shape().to_vec();
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err("structured arrays are not supported".into());
    };
    let size = ts.size_field();
    let bad = |e: std::io::Error| format!("cannot read the data: {e}");
    let int = |signed, bits| DType::Int { signed, bits };
    let (dtype, data) = match (ts.type_char(), size) {
        (npyz::TypeChar::Float, 4) => (
            DType::F32,
            HostData::F32(npy.into_vec::<f32>().map_err(bad)?),
        ),
        (npyz::TypeChar::Float, 8) => (
            DType::F64,
            HostData::F64(npy.into_vec::<f64>().map_err(bad)?),
        ),
        (npyz::TypeChar::Bool, 1) => (
            DType::Bool,
            HostData::Int(
                npy.into_vec::<bool>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Int, 1) => (
            int(true, 8),
            HostData::Int(
                npy.into_vec::<i8>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Int, 2) => (
            int(true, 16),
            HostData::Int(
                npy.into_vec::<i16>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Int, 4) => (
            int(true, 32),
            HostData::Int(
                npy.into_vec::<i32>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Int, 8) => (
            int(true, 64),
            HostData::Int(npy.into_vec::<i64>().map_err(bad)?),
        ),
        (npyz::TypeChar::Uint, 1) => (
            int(false, 8),
            HostData::Int(
                npy.into_vec::<u8>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Uint, 2) => (
            int(false, 16),
            HostData::Int(
                npy.into_vec::<u16>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (npyz::TypeChar::Uint, 4) => (
            int(false, 32),
            HostData::Int(
                npy.into_vec::<u32>()
                    .map_err(bad)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
        ),
        (c, s) => return Err(format!("numpy type {c:?} of {s} bytes is not supported")),
    };
    Ok(HostTensor { dtype, dims, data })
}

fn read_npz(bytes: &[u8]) -> Result<Vec<Named>, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a .npz archive: {e}"))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut file = zip
            .by_index(i)
            .map_err(|e| format!("cannot read entry {i}: {e}"))?;
        let name = file
            .name()
            .strip_suffix(".npy")
            .unwrap_or(file.name())
            .to_string();
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        let tensor = read_npy(&data).map_err(|e| format!("array '{name}': {e}"))?;
        out.push(Named {
            name: Some(name),
            tensor,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn npy_bytes(t: &HostTensor) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let shape = t.dims.clone();
    let io = |e: std::io::Error| e.to_string();
    macro_rules! write_as {
        ($ty:ty, $iter:expr) => {{
            let mut w = npyz::WriteOptions::<$ty>::new()
                .default_dtype()
                .shape(&shape)
                .writer(&mut buf)
                .begin_nd()
                .map_err(io)?;
            w.extend($iter).map_err(io)?;
            w.finish().map_err(io)?;
        }};
    }
    match (&t.data, t.dtype) {
        (HostData::F32(v), _) => write_as!(f32, v.iter().copied()),
        (HostData::F64(v), _) => write_as!(f64, v.iter().copied()),
        (HostData::Int(v), DType::Bool) => write_as!(bool, v.iter().map(|&x| x != 0)),
        (
            HostData::Int(v),
            DType::Int {
                signed: true,
                bits: 0..=8,
            },
        ) => write_as!(i8, v.iter().map(|&x| x as i8)),
        (
            HostData::Int(v),
            DType::Int {
                signed: false,
                bits: 0..=8,
            },
        ) => write_as!(u8, v.iter().map(|&x| x as u8)),
        (
            HostData::Int(v),
            DType::Int {
                signed: true,
                bits: 9..=16,
            },
        ) => write_as!(i16, v.iter().map(|&x| x as i16)),
        (
            HostData::Int(v),
            DType::Int {
                signed: false,
                bits: 9..=16,
            },
        ) => write_as!(u16, v.iter().map(|&x| x as u16)),
        (
            HostData::Int(v),
            DType::Int {
                signed: true,
                bits: 17..=32,
            },
        ) => write_as!(i32, v.iter().map(|&x| x as i32)),
        (
            HostData::Int(v),
            DType::Int {
                signed: false,
                bits: 17..=32,
            },
        ) => write_as!(u32, v.iter().map(|&x| x as u32)),
        (HostData::Int(v), _) => write_as!(i64, v.iter().copied()),
    }
    Ok(buf)
}

/// Writes `tensors` to `path`: one tensor for `.npy` and `.pb`, any number (by name) for
/// `.npz`. The file is written under a temporary name and renamed into place.
pub fn write(path: &Path, tensors: &[Named]) -> Result<(), String> {
    let shown = path.display();
    let bytes = match ext(path) {
        "npy" | "pb" if tensors.len() != 1 => {
            return Err(format!(
                "{shown}: the model has {} outputs; write them to a .npz",
                tensors.len()
            ));
        }
        "npy" => npy_bytes(&tensors[0].tensor)?,
        "pb" => to_proto(
            &tensors[0].tensor,
            tensors[0].name.as_deref().unwrap_or("output"),
        )
        .encode_to_vec(),
        "npz" => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            for (i, t) in tensors.iter().enumerate() {
                let name = t.name.clone().unwrap_or_else(|| format!("arr_{i}"));
                zip.start_file(format!("{name}.npy"), options)
                    .map_err(|e| e.to_string())?;
                zip.write_all(&npy_bytes(&t.tensor)?)
                    .map_err(|e| e.to_string())?;
            }
            zip.finish().map_err(|e| e.to_string())?.into_inner()
        }
        _ => return Err(format!("{shown}: output files must be .npy, .npz or .pb")),
    };
    let tmp = path.with_extension(format!("{}.tmp", ext(path)));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {shown}: {e}")
        })
}
