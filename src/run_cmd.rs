//! `qweave run`: execute a model with the reference interpreter on tensors from files.

use crate::{CmdResult, data_set, model_file};
use clap::Args;
use qweave_frontend::files::{self as tensor_io, Named};
use qweave_frontend::host::HostTensor;
use qweave_ir::{Data, ElemType, Tensor, TensorType};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub const LONG_ABOUT: &str = "Run a model with qweave's bit-accurate reference interpreter. \
Inputs come from .npy, .npz or ONNX TensorProto .pb files, matched to the model's inputs by name \
(npz keys, TensorProto names) or else in order. An input whose leading dimension is a multiple of \
the model's batch size runs as a data set, item by item, and the outputs are stacked. Float \
inputs stored as float64 are rounded to float32.";

#[derive(Args)]
pub struct RunArgs {
    /// The model: ONNX (.onnx) or a qweave program (.qir).
    pub model: PathBuf,

    /// Input tensor files (.npy, .npz or .pb); repeat or list several.
    #[arg(short = 'i', long = "input", value_name = "FILE", num_args = 1.., required = true)]
    pub inputs: Vec<PathBuf>,

    /// Where to write the outputs: .npy or .pb for one output, .npz for any number.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,

    /// Passes to run before executing, as `qweave ir -p` takes them (none by default: the
    /// model runs exactly as imported).
    #[arg(
        short = 'p',
        long = "passes",
        value_name = "PASSES",
        default_value = "",
        hide_default_value = true
    )]
    pub passes: String,

    /// The IR level to run: `onnx` runs the model as imported (the source format's
    /// semantics); `q` first lowers it to exact integer ops (the `lower` pipeline), the
    /// semantics the accelerator computes. `-p` passes run after the lowering.
    #[arg(long, value_enum, default_value = "onnx")]
    pub level: Level,
}

/// An IR level `qweave run` can execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// As imported.
    Onnx,
    /// Lowered to exact integers.
    Q,
}

pub fn run(args: &RunArgs) -> CmdResult {
    let spec = match (args.level, args.passes.is_empty()) {
        (Level::Onnx, _) => args.passes.clone(),
        (Level::Q, true) => "lower".to_string(),
        (Level::Q, false) => format!("lower,{}", args.passes),
    };
    let pipeline = qweave_passes::Pipeline::parse(&spec).map_err(|e| vec![e.to_string()])?;
    let mut graph = model_file::load(&args.model)?;
    let options = qweave_passes::PipelineOptions { verify_each: true };
    pipeline
        .run(&mut graph, options, |_, _| {})
        .map_err(|e| e.to_string().lines().map(String::from).collect::<Vec<_>>())?;
    let data = data_set::load(&graph, &args.inputs)?;
    let items = data.items;
    let start = Instant::now();
    let mut stacked: Vec<Vec<Tensor>> = vec![Vec::new(); graph.outputs.len()];
    for i in 0..items {
        let these = data.item(i);
        let outs = qweave_interp::run(&graph, &these).map_err(|e| {
            let at = if items > 1 {
                format!(" (item {i})")
            } else {
                String::new()
            };
            vec![format!("{}{at}: {e}", args.model.display())]
        })?;
        for (k, o) in outs.into_iter().enumerate() {
            stacked[k].push(o);
        }
    }
    let elapsed = start.elapsed();
    let mut named = Vec::with_capacity(stacked.len());
    for (k, parts) in stacked.into_iter().enumerate() {
        let name = graph.values[graph.outputs[k]]
            .name
            .clone()
            .unwrap_or_else(|| format!("output_{k}"));
        named.push(Named {
            name: Some(name),
            tensor: stack(&parts).map_err(|e| vec![e])?,
        });
    }
    tensor_io::write(&args.output, &named).map_err(|e| vec![e])?;
    let per_item = elapsed.as_secs_f64() * 1e3 / items as f64;
    let _ = writeln!(
        std::io::stderr(),
        "ran {items} item{} in {:.3} s ({per_item:.3} ms per item); wrote {}",
        if items == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

/// Concatenates per-item outputs along axis 0 (scalars are stacked into a new axis).
pub fn stack(parts: &[Tensor]) -> Result<HostTensor, String> {
    if parts.len() == 1 {
        return HostTensor::from_ir(&parts[0]);
    }
    let first = &parts[0].ty;
    let mut dims = first.shape.clone();
    if dims.is_empty() {
        dims.push(parts.len() as u64);
    } else {
        dims[0] *= parts.len() as u64;
    }
    let data = match first.elem {
        ElemType::F32 => Data::F32(
            parts
                .iter()
                .flat_map(|p| p.data.as_f32().unwrap_or_default().iter().copied())
                .collect(),
        ),
        _ => Data::Int(
            parts
                .iter()
                .flat_map(|p| p.data.as_int().unwrap_or_default().iter().copied())
                .collect(),
        ),
    };
    HostTensor::from_ir(&Tensor {
        ty: TensorType::new(dims, first.elem),
        data,
    })
}
