//! Benchmark: compile time and simulation speed of the accelerator flow, against the
//! interpreter and onnxruntime measured in the same run.
//!
//! For each model (the digits fixtures, the int8 ResNet-8 fixture, and the models `scripts/bench-compile.sh` prepares in
//! `.cache/bench/`: ResNet-50 and DenseNet-121 of the onnx 1.22 wheel's `light` set, softmax
//! cut off, after 8-bit post-training quantization on random calibration data), it measures:
//! - the time to import and lower the model, and to compile it for the `sim` target (median of
//!   `QWEAVE_BENCH_RUNS` compilations, default 3), with the modeled cycles, MACs per cycle and
//!   latency;
//! - the wall time of one simulated inference on the ISA simulator (exact values and timing),
//!   its simulated MACs per second, and the check that every layer equals the interpreter's;
//! - as references in the same run: the interpreter running the same q-level model, and
//!   onnxruntime (one thread) running the source ONNX model on the same input, with the time it
//!   takes to create its session (its own compilation).
//!
//! - the e-graph mapper on the ZU3EG (`xczu3eg`, 360 DSP48E2): the time to map and compile,
//!   the modeled cycles against the default mapping's on the same target, the array and DSP
//!   blocks it chose, and the check that the mapped program's every layer equals the
//!   interpreter's.
//!
//! A model the compiler refuses is reported with the error. Run it with
//! `scripts/bench-compile.sh` or `cargo bench --bench compile_and_simulate`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use qweave_backends::{execute, program};
use qweave_ir::{Data, ElemType, Graph, Tensor, TensorType};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Times onnxruntime on a model and an input `.npy`: prints `<session ms> <run ms>...`.
const ORT_SCRIPT: &str = r#"
import sys, time
import numpy as np
import onnxruntime as ort
model, data, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.load(data)
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
t = time.perf_counter_ns()
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
made = (time.perf_counter_ns() - t) / 1e6
name = sess.get_inputs()[0].name
sess.run(None, {name: x})
times = []
for _ in range(runs):
    t = time.perf_counter_ns()
    sess.run(None, {name: x})
    times.append((time.perf_counter_ns() - t) / 1e6)
print(made, *times)
"#;

struct Case {
    name: &'static str,
    /// The model qweave compiles (quantized).
    model: PathBuf,
    /// The model onnxruntime runs (the source, before quantization), if any.
    source: Option<PathBuf>,
    /// One input as `.npy`.
    input: PathBuf,
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn load(path: &Path) -> Result<Graph, String> {
    let mut g = match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => qweave_frontend::import_file(path).map_err(|e| e.to_string())?,
        _ => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let side = path.with_extension("qwb");
            let sidecar = if side.exists() {
                let bytes = std::fs::read(&side).map_err(|e| format!("{}: {e}", side.display()))?;
                Some(
                    qweave_ir::sidecar::Sidecar::from_bytes(&bytes)
                        .map_err(|e| format!("{}: {e}", side.display()))?,
                )
            } else {
                None
            };
            qweave_ir::parse(&text, sidecar.as_ref())
                .map_err(|e| format!("{}: {e}", path.display()))?
                .graph
        }
    };
    let options = qweave_passes::PipelineOptions { verify_each: false };
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| p.run(&mut g, options, |_, _| {}))
        .map_err(|e| e.to_string())?;
    Ok(g)
}

fn read_npy(path: &Path, ty: &TensorType) -> Result<Tensor, String> {
    let file = qweave_frontend::files::read(path)?;
    let t = file.first().ok_or("empty input file")?;
    let ir = t
        .tensor
        .to_ir()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let data = match (&ir.data, ty.elem) {
        (Data::F32(v), ElemType::F32) => Data::F32(v[..ty.numel()].into()),
        _ => return Err(format!("{}: not a float input", path.display())),
    };
    Ok(Tensor {
        ty: ty.clone(),
        data,
    })
}

fn bench() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runs = std::env::var("QWEAVE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let bench = root.join(".cache/bench");
    let models = root.join("tests/models");
    let mut cases = vec![
        Case {
            name: "digits_qdq",
            model: models.join("digits_qdq.onnx"),
            source: Some(models.join("digits_float.onnx")),
            input: bench.join("digits_x.npy"),
        },
        Case {
            name: "digits_w4a4",
            model: models.join("digits_w4a4.onnx"),
            source: None,
            input: bench.join("digits_x.npy"),
        },
        Case {
            name: "digits_w1a1",
            model: models.join("digits_w1a1.onnx"),
            source: None,
            input: bench.join("digits_x.npy"),
        },
    ];
    cases.push(Case {
        name: "resnet8 (int8 QOperator)",
        model: models.join("bench_resnet_qop.onnx"),
        source: Some(models.join("bench_resnet_qop.onnx")),
        input: bench.join("resnet8_x.npy"),
    });
    for (name, stem) in [("resnet50", "resnet50"), ("densenet121", "densenet121")] {
        cases.push(Case {
            name,
            model: bench.join(format!("{stem}_w8a8.qir")),
            source: Some(bench.join(format!("{stem}.onnx"))),
            input: bench.join(format!("{stem}_x.npy")),
        });
    }
    let hw = qweave_hw::Target::Sim.preset();
    let python = root.join(".cache/venv/bin/python");
    println!(
        "target sim: {}x{} array at {} MHz; {runs} compilations per model, one simulated image\n",
        hw.rows, hw.cols, hw.clock_mhz
    );
    for case in &cases {
        if !case.model.exists() || !case.input.exists() {
            println!(
                "{}: {} missing; run scripts/bench-compile.sh first\n",
                case.name,
                case.model.display()
            );
            continue;
        }
        let t = Instant::now();
        let g = load(&case.model)?;
        let lowered = secs(t.elapsed());
        let mut compile_times = Vec::new();
        let mut compiled = None;
        for _ in 0..runs {
            let t = Instant::now();
            match program::compile(&g, &hw) {
                Ok(c) => compiled = Some(c),
                Err(e) => {
                    println!(
                        "{}: import and lower {lowered:.2} s; not compiled: {e}\n",
                        case.name
                    );
                    break;
                }
            }
            compile_times.push(secs(t.elapsed()));
        }
        let Some(c) = compiled else { continue };
        let compile = median(compile_times);
        let t = Instant::now();
        let timing = qweave_sim::time(&hw, &c.program).map_err(|e| e.to_string())?;
        let timed = secs(t.elapsed());
        let x = [read_npy(&case.input, g.ty(g.inputs[0]))?];
        let t = Instant::now();
        let s = execute::simulate(&c, &g, &hw, &x).map_err(|e| format!("{}: {e}", case.name))?;
        let simulated = secs(t.elapsed());
        let t = Instant::now();
        let want = qweave_interp::run(&g, &x).map_err(|e| e.to_string())?;
        let interpreted = secs(t.elapsed());
        execute::check(&c, &g, &x, &s.run.dram).map_err(|e| format!("{}: {e}", case.name))?;
        if s.outputs != want {
            return Err(format!(
                "{}: the outputs differ from the interpreter's",
                case.name
            ));
        }
        let macs = s.run.macs as f64;
        println!(
            "{}: {} layers, {} instructions; import and lower {:.1} ms, compile {:.1} ms, timing model {:.1} ms",
            case.name,
            c.layers.len(),
            c.program.len(),
            lowered * 1e3,
            compile * 1e3,
            timed * 1e3
        );
        println!(
            "  modeled: {} cycles, {:.2} M MACs, {:.2} MACs per cycle ({:.0}% of the w8a8 peak), {:.2} ms at {} MHz",
            timing.cycles,
            macs / 1e6,
            macs / timing.cycles as f64,
            100.0 * macs / timing.cycles as f64 / f64::from(hw.rows * hw.cols),
            timing.cycles as f64 / f64::from(hw.clock_mhz) / 1e3,
            hw.clock_mhz
        );
        println!(
            "  simulated in {:.1} ms: {:.1} M simulated MACs/s, every layer equal to the interpreter's; interpreter {:.1} ms ({:.1} MMAC/s), simulator/interpreter time {:.1}x",
            simulated * 1e3,
            macs / simulated / 1e6,
            interpreted * 1e3,
            macs / interpreted / 1e6,
            simulated / interpreted
        );
        if let (Some(src), true) = (&case.source, python.exists()) {
            let out = Command::new(&python)
                .args(["-c", ORT_SCRIPT])
                .arg(src)
                .arg(&case.input)
                .arg(runs.max(3).to_string())
                .output()
                .map_err(|e| format!("{}: {e}", python.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "onnxruntime on {}: {}",
                    src.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let nums: Vec<f64> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let session = nums[0] / 1e3;
            let run = median(nums[1..].to_vec()) / 1e3;
            println!(
                "  onnxruntime (the source model, 1 thread): session {:.1} ms, run {:.2} ms ({:.0} MMAC/s); qweave compile/session {:.2}x, simulator/onnxruntime time {:.0}x",
                session * 1e3,
                run * 1e3,
                macs / run / 1e6,
                compile / session,
                simulated / run
            );
        }
        mapped(case.name, &g, &x)?;
        println!();
    }
    Ok(())
}

/// The e-graph mapping on the ZU3EG against the default mapping there.
fn mapped(name: &str, g: &Graph, x: &[Tensor]) -> Result<(), String> {
    use qweave_backends::mapping;
    let target = qweave_hw::Target::Xczu3eg;
    let hw = target.preset();
    let default = match program::compile(g, &hw) {
        Ok(c) => {
            qweave_sim::time(&hw, &c.program)
                .map_err(|e| e.to_string())?
                .cycles
        }
        Err(e) => {
            println!("  xczu3eg: not compiled: {e}");
            return Ok(());
        }
    };
    let t = Instant::now();
    let m = mapping::map(g, &hw, target, &mapping::Limits::default())
        .map_err(|e| format!("{name}: {e}"))?;
    let c = program::compile_with(g, &m.hw, &m.bindings).map_err(|e| format!("{name}: {e}"))?;
    let took = secs(t.elapsed());
    let cycles = qweave_sim::time(&m.hw, &c.program)
        .map_err(|e| e.to_string())?
        .cycles;
    let r = qweave_hw::estimate(&m.hw, target).map_err(|e| e.to_string())?;
    let s = execute::simulate(&c, g, &m.hw, x).map_err(|e| format!("{name}: {e}"))?;
    execute::check(&c, g, x, &s.run.dram).map_err(|e| format!("{name}: mapped: {e}"))?;
    println!(
        "  e-graph mapping on xczu3eg: mapped and compiled in {took:.2} s ({} e-nodes, {} timed tiles); {} cycles against {default} with the default mapping ({:.2}x); {}x{} array, {} of 360 DSP, {} LUTs; every layer equal to the interpreter's",
        m.search.nodes,
        m.search.timed,
        cycles,
        default as f64 / cycles as f64,
        m.hw.rows,
        m.hw.cols,
        r.dsp,
        r.lut
    );
    Ok(())
}
