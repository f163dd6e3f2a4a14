//! `qweave analyze`: the bit-accurate accuracy analysis of a model over a data set, written as
//! `report.json` and `report.html`.

use crate::{CmdResult, data_set, model_file};
use clap::Args;
use qweave_analyze::{FloatRef, Inputs};
use qweave_frontend::files;
use qweave_frontend::host::HostData;
use qweave_passes::{Pipeline, PipelineOptions};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LONG_ABOUT: &str = "Run a model over a data set in three semantics and compare them \
tensor by tensor: the float reference (the model with its activation quantizers removed, or the \
model given with --float), the source format's quantized semantics (the model as imported) and \
the hardware-integer semantics (the q level after `lower`). Writes report.json (schema in \
docs/analyze.md) and report.html (tables and charts, viewable offline) into the output folder \
and prints the top-1 of each semantics and the tensors where source and hardware differ.";

#[derive(Args)]
pub struct AnalyzeArgs {
    /// The model: ONNX (.onnx) or a qweave program (.qir).
    pub model: PathBuf,

    /// Input data (.npz, .npy or .pb), matched to the model's inputs as `qweave run` matches
    /// them; the leading dimension holds the items.
    #[arg(long = "data", value_name = "FILE", num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,

    /// Class labels, one integer per item (.npy, or .npz with a `labels` array); without
    /// them top-1 is agreement with the float reference.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,

    /// A float model to use as the reference instead of the model with its quantizers
    /// removed; tensors are matched by name.
    #[arg(long = "float", value_name = "MODEL")]
    pub float: Option<PathBuf>,

    /// The folder to write report.json and report.html into (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

pub fn run(args: &AnalyzeArgs) -> CmdResult {
    let source = model_file::load(&args.model)?;
    let data = data_set::load(&source, &args.data)?;
    let items: Vec<_> = (0..data.items).map(|i| data.item(i)).collect();
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path).map_err(|e| vec![e])?),
        None => None,
    };
    let mut hw = source.clone();
    let lower = Pipeline::parse("lower").map_err(|e| vec![e.to_string()])?;
    lower
        .run(&mut hw, PipelineOptions { verify_each: true }, |_, _| {})
        .map_err(|e| vec![format!("{}: lowering: {e}", args.model.display())])?;
    let stripped = qweave_analyze::strip(&source);
    let float = match (&args.float, stripped) {
        (Some(path), stripped) => {
            let graph = model_file::load(path)?;
            let by_name: HashMap<String, qweave_ir::Value> = graph
                .values
                .iter()
                .filter_map(|(v, d)| d.name.clone().map(|n| (n, v)))
                .collect();
            // A removed quantizer stands for the float tensor it quantized: same name there.
            let aliases = stripped
                .map(|s| {
                    s.aliases
                        .iter()
                        .filter_map(|(n, &v)| {
                            let float_name = s.graph.values[v].name.as_ref()?;
                            Some((n.clone(), *by_name.get(float_name)?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(FloatRef {
                graph,
                aliases,
                description: format!("{} (given with --float)", path.display()),
            })
        }
        (None, Some(s)) if s.removed > 0 => Some(FloatRef {
            graph: s.graph,
            aliases: s.aliases,
            description: "the model with its activation quantizers removed (weights keep their quantized values)".into(),
        }),
        (None, Some(s)) => Some(FloatRef {
            graph: s.graph,
            aliases: s.aliases,
            description: "the model itself (it has no quantizers)".into(),
        }),
        (None, None) => None,
    };
    let model = args.model.file_name().map_or_else(
        || args.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let inputs = Inputs {
        model,
        source: &source,
        hw: &hw,
        float,
        items: &items,
        labels: labels.as_deref(),
    };
    let report = qweave_analyze::analyze(&inputs)
        .map_err(|e| vec![format!("{}: {e}", args.model.display())])?;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| vec![format!("cannot encode the report: {e}")])?;
    std::fs::create_dir_all(&args.output)
        .map_err(|e| vec![format!("cannot create {}: {e}", args.output.display())])?;
    write_atomic(&args.output.join("report.json"), json.as_bytes())?;
    write_atomic(
        &args.output.join("report.html"),
        qweave_analyze::html(&report).as_bytes(),
    )?;

    let mut out = std::io::stderr();
    let top1 = |name: &str| {
        report
            .semantics
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.top1)
            .map_or("-".to_string(), |t| format!("{:.2}", t * 100.0))
    };
    let _ = writeln!(
        out,
        "top-1 ({}) over {} items: float {}, source {}, hw {}",
        report.accuracy_basis,
        report.items,
        top1("float"),
        top1("source"),
        top1("hw")
    );
    for l in &report.layers {
        if l.differ > 0 || l.hw.acc_overflow_rate > 0.0 {
            let _ = writeln!(
                out,
                "  {:<32} {:<16} differ {:>6} (this layer alone {:>6}) of {}; acc overflow {:.3} %",
                l.tensor,
                l.node,
                l.differ,
                l.differ_local,
                l.elements,
                l.hw.acc_overflow_rate * 100.0
            );
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(
        out,
        "wrote {}/report.json and report.html",
        args.output.display()
    );
    Ok(())
}

/// Integer labels from a .npy, or the `labels` array (or only array) of a .npz.
pub(crate) fn read_labels(path: &Path) -> Result<Vec<i64>, String> {
    let tensors = files::read(path)?;
    let pick = match tensors.iter().find(|t| t.name.as_deref() == Some("labels")) {
        Some(t) => t,
        None if tensors.len() == 1 => &tensors[0],
        None => {
            return Err(format!(
                "{}: holds several arrays and none is called 'labels'",
                path.display()
            ));
        }
    };
    match &pick.tensor.data {
        HostData::Int(v) => Ok(v.to_vec()),
        _ => Err(format!(
            "{}: labels must be integers, found {}",
            path.display(),
            pick.tensor.dtype_name()
        )),
    }
}

/// Writes `bytes` to `path` through a temporary file, so a failure leaves no partial file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Vec<String>> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            vec![format!("cannot write {}: {e}", path.display())]
        })
}
