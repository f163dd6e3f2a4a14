//! `qweave quantize`: post-training quantization of a float model into a QDQ `.qir`.

use crate::{CmdResult, data_set, model_file, qir_file};
use clap::Args;
use qweave_passes::ptq::{BitRules, Calibration, PtqOptions};
use qweave_passes::{Pipeline, PipelineOptions};
use std::io::Write;
use std::path::PathBuf;

pub const LONG_ABOUT: &str = "Quantize a float model after training. The model runs on the \
calibration inputs with the reference interpreter; every activation gets a range from them and \
a width from the bit rules, every conv, gemm and matmul its integer weights. The result is a \
.qir program in QDQ form (integer weights behind dequantize_linear, quantize_linear and \
dequantize_linear on every activation): `qweave run` runs it, `--level q` in exact integers.";

#[derive(Args)]
pub struct QuantizeArgs {
    /// The float model: ONNX (.onnx) or a qweave program (.qir).
    pub model: PathBuf,

    /// Calibration inputs (.npz, .npy or .pb), matched to the model's inputs as `qweave run`
    /// matches them; the leading dimension holds the items.
    #[arg(long = "data", value_name = "FILE", num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,

    /// Widths per layer: `KEY=BITS,...` with KEY `default`, `first`, `last` (the first and last
    /// layer with weights) or a node name, and BITS `N` or `wNaM` (1 to 8; 1-bit weights are
    /// bipolar). A layer's `a` is the width of the activations it reads.
    #[arg(long, value_name = "RULES", default_value = "default=8")]
    pub bits: String,

    /// How activation ranges are chosen: the observed min and max, a percentile of the
    /// values (`--percentile`), or the range with the least mean-square quantization error
    /// (which also searches each weight channel's clipping).
    #[arg(long, value_enum, default_value = "minmax")]
    pub calibration: Method,

    /// The percentile for `--calibration percentile`.
    #[arg(long, value_name = "P", default_value_t = 99.99)]
    pub percentile: f64,

    /// One weight scale per output channel (default: one per tensor).
    #[arg(long)]
    pub per_channel: bool,

    /// Leave biases as they are (by default each conv, gemm and matmul bias absorbs the mean
    /// output shift its quantized weights cause, measured with the calibration inputs).
    #[arg(long)]
    pub no_bias_correction: bool,

    /// Where to write the quantized program (.qir, large constants in a .qwb beside it).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// A calibration method on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Observed minimum and maximum.
    Minmax,
    /// A percentile of the observed values.
    Percentile,
    /// Least mean-square quantization error.
    Mse,
}

pub fn run(args: &QuantizeArgs) -> CmdResult {
    let bits = BitRules::parse(&args.bits).map_err(|e| vec![e])?;
    if !(50.0..=100.0).contains(&args.percentile) {
        return Err(vec![format!(
            "--percentile {} is outside 50 to 100",
            args.percentile
        )]);
    }
    let calibration = match args.calibration {
        Method::Minmax => Calibration::MinMax,
        Method::Percentile => Calibration::Percentile(args.percentile),
        Method::Mse => Calibration::Mse,
    };
    let graph = model_file::load(&args.model)?;
    let data = data_set::load(&graph, &args.data)?;
    let items: Vec<_> = (0..data.items).map(|i| data.item(i)).collect();
    let options = PtqOptions {
        bits,
        calibration,
        per_channel: args.per_channel,
        bias_correction: !args.no_bias_correction,
    };
    let q = qweave_passes::ptq::quantize(&graph, &items, &options)
        .map_err(|e| vec![format!("{}: {e}", args.model.display())])?;

    // Check that the result lowers to integers before writing it.
    let mut lowered = q.graph.clone();
    let lower = Pipeline::parse("lower").map_err(|e| vec![e.to_string()])?;
    lower
        .run(
            &mut lowered,
            PipelineOptions { verify_each: true },
            |_, _| {},
        )
        .map_err(|e| vec![format!("the quantized model does not lower: {e}")])?;
    let left: Vec<String> = qweave_passes::unlowered_ops(&lowered)
        .into_iter()
        .map(|op| &lowered.ops[op])
        .map(|d| format!("{} ({})", d.kind.name(), d.source.as_deref().unwrap_or("?")))
        .collect();

    qir_file::write(&q.graph, &args.output)?;
    let mut out = std::io::stderr();
    let _ = writeln!(
        out,
        "calibrated on {} item{}; {:<24} {:>4} {:>7}",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        "layer",
        "bits",
        "scales"
    );
    for w in &q.weights {
        let _ = writeln!(
            out,
            "  weights {:<24} {:>4} {:>7}  {}",
            w.layer, w.bits, w.scales, w.op
        );
    }
    for a in &q.activations {
        let p = a.params;
        let _ = writeln!(
            out,
            "  activation {:<21} {:>4}  range [{:.4}, {:.4}] scale {:.6} zero point {}",
            a.name, p.storage, a.range.0, a.range.1, p.scale, p.zero_point
        );
    }
    if left.is_empty() {
        let _ = writeln!(out, "lowers to exact integer ops throughout");
    } else {
        let _ = writeln!(
            out,
            "warning: {} op(s) stay float after lowering: {}",
            left.len(),
            left.join(", ")
        );
    }
    let _ = writeln!(out, "wrote {}", args.output.display());
    Ok(())
}
