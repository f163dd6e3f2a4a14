//! Data sets of model inputs from tensor files: matched to the model's inputs by name or in
//! order, and split into items along the leading dimension.

use qweave_frontend::files::{self as tensor_io, Named};
use qweave_frontend::host::{HostData, HostTensor};
use qweave_ir::{Data, Graph, Tensor, TensorType};
use std::path::PathBuf;

/// The model's inputs over a data set: whole tensors, each holding `items` items.
pub struct DataSet {
    /// One tensor per model input, with `items` times its leading dimension.
    pub inputs: Vec<Tensor>,
    /// Number of items.
    pub items: u64,
}

impl DataSet {
    /// The model inputs of item `i`.
    pub fn item(&self, i: u64) -> Vec<Tensor> {
        self.inputs.iter().map(|t| item(t, i, self.items)).collect()
    }
}

/// Reads `paths` (.npy, .npz, .pb) and matches the tensors to the inputs of `graph`.
pub fn load(graph: &Graph, paths: &[PathBuf]) -> Result<DataSet, Vec<String>> {
    let mut given = Vec::new();
    for path in paths {
        given.extend(tensor_io::read(path).map_err(|e| vec![e])?);
    }
    let pairs = match_inputs(graph, given).map_err(|e| vec![e])?;
    let mut inputs = Vec::with_capacity(pairs.len());
    let mut items = None;
    for (i, (name, t)) in pairs.iter().enumerate() {
        let (tensor, n) = to_input(t, graph.ty(graph.inputs[i]), &format!("input '{name}'"))
            .map_err(|e| vec![e])?;
        match items {
            Some(k) if k != n => {
                return Err(vec![format!(
                    "input '{name}' holds {n} items but an earlier input holds {k}"
                )]);
            }
            _ => items = Some(n),
        }
        inputs.push(tensor);
    }
    Ok(DataSet {
        inputs,
        items: items.unwrap_or(1),
    })
}

/// Converts a host tensor to model input `index` of type `ty`, allowing a leading dimension
/// that is a multiple of the model's; returns the tensor and the number of items.
fn to_input(t: &HostTensor, ty: &TensorType, what: &str) -> Result<(Tensor, u64), String> {
    let items = match (t.dims.split_first(), ty.shape.split_first()) {
        (Some((&n, rest)), Some((&b, want))) if rest == want && b > 0 && n % b == 0 && n > 0 => {
            n / b
        }
        (None, None) => 1,
        _ => {
            return Err(format!(
                "{what} has shape {:?}, but the model expects {:?} (or a multiple of its leading dimension)",
                t.dims, ty.shape
            ));
        }
    };
    let data = match (&t.data, ty.elem.is_float()) {
        (HostData::F32(v), true) => Data::F32(v.clone().into()),
        (HostData::F64(v), true) => Data::F32(v.iter().map(|&x| x as f32).collect()),
        (HostData::Int(v), false) => Data::Int(v.clone().into()),
        _ => {
            return Err(format!(
                "{what} is {}, but the model expects {}",
                t.dtype_name(),
                ty.elem
            ));
        }
    };
    let full = TensorType::new(t.dims.clone(), ty.elem);
    let tensor = Tensor::new(full, data).map_err(|e| format!("{what}: {e}"))?;
    Ok((tensor, items))
}

/// Item `i` of `items` equal slices along axis 0.
fn item(t: &Tensor, i: u64, items: u64) -> Tensor {
    let mut shape = t.ty.shape.clone();
    if shape.is_empty() {
        return t.clone();
    }
    shape[0] /= items;
    let len = t.ty.numel() / items as usize;
    let range = i as usize * len..(i as usize + 1) * len;
    let data = match &t.data {
        Data::F32(v) => Data::F32(v[range].into()),
        Data::Int(v) => Data::Int(v[range].into()),
    };
    Tensor {
        ty: TensorType::new(shape, t.ty.elem),
        data,
    }
}

fn input_name(g: &Graph, i: usize) -> String {
    g.values[g.inputs[i]]
        .name
        .clone()
        .unwrap_or_else(|| format!("input {i}"))
}

/// Pairs the given tensors with the model's inputs: by name when every input is named in
/// them, else in order.
fn match_inputs(g: &Graph, given: Vec<Named>) -> Result<Vec<(String, HostTensor)>, String> {
    let names: Vec<String> = (0..g.inputs.len()).map(|i| input_name(g, i)).collect();
    let by_name = names
        .iter()
        .all(|n| given.iter().any(|t| t.name.as_deref() == Some(n)));
    if by_name {
        return Ok(names
            .into_iter()
            .map(|n| {
                let t = given
                    .iter()
                    .find(|t| t.name.as_deref() == Some(&n))
                    .expect("checked")
                    .tensor
                    .clone();
                (n, t)
            })
            .collect());
    }
    if given.len() != names.len() {
        let got: Vec<String> = given
            .iter()
            .map(|t| t.name.clone().unwrap_or_else(|| "(unnamed)".into()))
            .collect();
        return Err(format!(
            "the model takes {} inputs ({}) but {} tensors were given ({})",
            names.len(),
            names.join(", "),
            got.len(),
            got.join(", ")
        ));
    }
    Ok(names
        .into_iter()
        .zip(given)
        .map(|(n, t)| (n, t.tensor))
        .collect())
}
