//! Benchmark: qweave's reference interpreter against onnxruntime on the int8 ResNet-8 model.
//!
//! Runs `tests/models/bench_resnet_qop.onnx` (a QOperator model: QuantizeLinear, QLinearConv,
//! QLinearAdd, QLinearGlobalAveragePool, QGemm, DequantizeLinear; 12,501,632 MACs per image)
//! on the `x` of `tests/models/bench_input.npz` with [`qweave_interp::run`], checks that the
//! result equals the recorded onnxruntime `logits` bit for bit, and times it against
//! onnxruntime on the same input (single-threaded: one intra-op and one inter-op thread, default
//! graph optimizations) through `.cache/venv/bin/python`. The two take turns in five rounds, so
//! that a slow phase of a shared machine affects both; the report gives each engine's median
//! and minimum time per image, its GMAC/s, and the ratios.
//!
//! Run it with `scripts/bench-interp.sh` (which creates the Python venv first) or
//! `cargo bench --bench interp_vs_onnxruntime`. Environment variables:
//! - `QWEAVE_BENCH_RUNS`: timed runs of each engine (default 500);
//! - `QWEAVE_BENCH_PROFILE=1`: also print the time of every op of one run (the slowest first).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use qweave_interp::eval_op;
use qweave_ir::{Graph, HandleMap, Tensor, TensorType, ValueData};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// mimalloc keeps freed pages for reuse: with the system allocator every large tensor is a
/// fresh `mmap`, and the page faults of filling it cost more than the kernels themselves.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Multiply-accumulates of one image (the convolutions and the dense layer).
const MACS: f64 = 12_501_632.0;
const WARMUP: usize = 30;
/// Turns each engine takes.
const ROUNDS: usize = 5;

/// Times `onnxruntime` on `x` of the npz and checks its output against `logits`. Prints
/// `<equal> <ms of run 1> <ms of run 2> ...`.
const ORT_SCRIPT: &str = r#"
import sys, time
import numpy as np
import onnxruntime as ort
model, data, runs, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
z = np.load(data)
x, want = z["x"], z["logits"]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
for _ in range(warmup):
    y = sess.run(None, {name: x})[0]
times = []
for _ in range(runs):
    t = time.perf_counter_ns()
    y = sess.run(None, {name: x})[0]
    times.append(time.perf_counter_ns() - t)
equal = y.dtype == want.dtype and y.shape == want.shape and y.tobytes() == want.tobytes()
print(int(equal), *(t / 1e6 for t in times))
"#;

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("tests/models/bench_resnet_qop.onnx");
    let data = root.join("tests/models/bench_input.npz");
    let runs = std::env::var("QWEAVE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(500);

    let graph = qweave_frontend::import_file(&model).map_err(|e| e.to_string())?;
    let (x, want) = read_input(&data)?;
    let input = graph
        .inputs
        .first()
        .map(|&v| &graph.values[v].ty)
        .ok_or("the model has no input")?;
    if x.ty != *input {
        return Err(format!("x is {}, the model takes {input}", x.ty));
    }
    let inputs = [x];

    let run = || qweave_interp::run(&graph, &inputs).map_err(|e| e.to_string());
    for _ in 0..WARMUP {
        run()?;
    }
    let out = run()?;
    let got = out.first().ok_or("the model has no output")?;
    if got.data != want.data || got.ty.shape != want.ty.shape {
        return Err("qweave's logits differ from onnxruntime's recorded logits".into());
    }
    if std::env::var_os("QWEAVE_BENCH_PROFILE").is_some() {
        profile(&graph, &inputs)?;
    }
    let python = root.join(".cache/venv/bin/python");
    let ort_available = python.exists();

    // The engines take turns, so that a slow phase of a shared machine affects both.
    let per_round = runs.div_ceil(ROUNDS);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut ort_equal = true;
    for _ in 0..ROUNDS {
        for _ in 0..per_round {
            let t = Instant::now();
            run()?;
            ours.push(ms(t.elapsed()));
        }
        if ort_available {
            let (equal, times) = onnxruntime(&python, &model, &data, per_round)?;
            ort_equal &= equal;
            theirs.extend(times);
        }
    }
    let ours = Stats::of(&mut ours);
    println!(
        "qweave:      {:8.3} ms/image median ({:.3} min, {} runs), {:.2} GMAC/s; \
         output equals the recorded onnxruntime logits bit for bit",
        ours.median,
        ours.min,
        ours.count,
        MACS / (ours.median * 1e6)
    );
    if !ort_available {
        println!(
            "onnxruntime: skipped: {} is missing; create it with scripts/python-env.sh \
             (or run scripts/bench-interp.sh)",
            python.display()
        );
        return Ok(());
    }
    let theirs = Stats::of(&mut theirs);
    println!(
        "onnxruntime: {:8.3} ms/image median ({:.3} min, {} runs, 1 thread), {:.2} GMAC/s; \
         output {} the recorded logits",
        theirs.median,
        theirs.min,
        theirs.count,
        MACS / (theirs.median * 1e6),
        if ort_equal { "equals" } else { "DIFFERS FROM" }
    );
    println!(
        "ratio qweave/onnxruntime: {:.2}x (median), {:.2}x (min)",
        ours.median / theirs.median,
        ours.min / theirs.min
    );
    Ok(())
}

/// Median, minimum and number of timings (in ms).
struct Stats {
    median: f64,
    min: f64,
    count: usize,
}

impl Stats {
    fn of(times: &mut [f64]) -> Stats {
        times.sort_by(f64::total_cmp);
        Stats {
            median: times.get(times.len() / 2).copied().unwrap_or(f64::NAN),
            min: times.first().copied().unwrap_or(f64::NAN),
            count: times.len(),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `x` and the reference `logits` of the npz, as IR tensors.
fn read_input(path: &Path) -> Result<(Tensor, Tensor), String> {
    let named = qweave_frontend::files::read(path)?;
    let find = |name: &str| {
        named
            .iter()
            .find(|n| n.name.as_deref() == Some(name))
            .ok_or_else(|| format!("{} has no array '{name}'", path.display()))
            .and_then(|n| n.tensor.to_ir())
    };
    Ok((find("x")?, find("logits")?))
}

/// Runs onnxruntime through Python for `runs` timed runs (after [`WARMUP`] untimed ones);
/// returns whether its output equals the recorded logits and the time of every run in ms.
fn onnxruntime(
    python: &PathBuf,
    model: &Path,
    data: &Path,
    runs: usize,
) -> Result<(bool, Vec<f64>), String> {
    let out = Command::new(python)
        .arg("-c")
        .arg(ORT_SCRIPT)
        .arg(model)
        .arg(data)
        .arg(runs.to_string())
        .arg(WARMUP.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the onnxruntime timing script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let bad = || format!("unexpected output of the timing script: {text}");
    let mut fields = text.split_whitespace();
    let equal = fields.next().ok_or_else(bad)? == "1";
    let times = fields
        .map(|f| f.parse::<f64>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    if times.len() != runs {
        return Err(bad());
    }
    Ok((equal, times))
}

/// Evaluates the graph op by op (as [`qweave_interp::run`] does, without freeing values) and
/// prints the median time of every op over a few repetitions, the slowest first.
fn profile(graph: &Graph, inputs: &[Tensor]) -> Result<(), String> {
    const REPS: usize = 50;
    let mut values: HandleMap<ValueData, Option<Tensor>> = HandleMap::new();
    for (&v, t) in graph.inputs.iter().zip(inputs) {
        values.insert(v, Some(t.clone()));
    }
    let mut rows = Vec::new();
    for &op in &graph.order {
        let data = &graph.ops[op];
        let operands: Vec<&Tensor> = data
            .operands
            .iter()
            .map(|&v| values.get(v).as_ref().ok_or("operand without a value"))
            .collect::<Result<_, _>>()?;
        let types: Vec<TensorType> = data
            .results
            .iter()
            .map(|&r| graph.values[r].ty.clone())
            .collect();
        let mut times = Vec::with_capacity(REPS);
        let mut outcome = None;
        for _ in 0..REPS {
            let t = Instant::now();
            outcome = Some(eval_op(&data.kind, &operands, &types).map_err(|e| e.to_string())?);
            times.push(t.elapsed());
        }
        times.sort();
        let name = data.source.clone().unwrap_or_default();
        rows.push((times[REPS / 2], data.kind.name(), name));
        let outcome = outcome.ok_or("no outcome")?;
        for (&r, t) in data.results.iter().zip(outcome.outputs) {
            values.insert(r, Some(t));
        }
    }
    let total: Duration = rows.iter().map(|r| r.0).sum();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    println!("per-op median times (sum {:.3} ms):", ms(total));
    for (t, kind, name) in rows {
        if t.as_nanos() > 0 {
            println!("  {:8.4} ms  {kind:<40} {name}", ms(t));
        }
    }
    Ok(())
}
