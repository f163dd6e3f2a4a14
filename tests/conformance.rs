//! ONNX backend conformance: every case of onnx 1.22.0's backend test data (node, simple,
//! pytorch-converted, pytorch-operator, light), and the onnxruntime-computed cases of
//! `tests/ort_cases` (suite "ort"), whose model imports is run with the reference
//! interpreter and compared with the reference outputs — integer outputs bit for bit, float
//! outputs within ONNX's own tolerance (|got - want| <= atol + rtol * |want|, rtol 1e-3 and atol
//! 1e-7, with the light models' per-model rtol). Cases listed in
//! `tests/conformance/passing.txt` must pass; the list only grows. The data is fetched by
//! `scripts/fetch-onnx-tests.sh` into `.cache/onnx-backend` (or `QWEAVE_ONNX_TESTS`). Set
//! `QWEAVE_BLESS=1` to add newly passing cases to the list.

// Measurements are printed for the record (run with --nocapture to see them).
#![allow(clippy::print_stdout)]

mod common;

use prost::Message;
use qweave_frontend::host::{HostData, HostTensor, from_proto};
use qweave_frontend::proto::TensorProto;
use qweave_frontend::{ImportError, ImportOptions, import_file, import_file_with};
use qweave_ir::{Data, Tensor, TensorType};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

const SUITES: [&str; 6] = [
    "node",
    "simple",
    "pytorch-converted",
    "pytorch-operator",
    "light",
    "ort",
];

#[derive(Debug)]
enum Outcome {
    Pass,
    Unsupported,
    Fail(String),
}

fn data_root() -> PathBuf {
    std::env::var_os("QWEAVE_ONNX_TESTS")
        .map_or_else(|| common::root().join(".cache/onnx-backend"), PathBuf::from)
}

fn read_pb(path: &Path) -> Result<HostTensor, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let proto = TensorProto::decode(&bytes[..]).map_err(|e| e.to_string())?;
    from_proto(&proto, None)
}

/// onnx's input for the light models: `arange(n).reshape(shape) / n` as float32.
fn light_input(ty: &TensorType) -> Tensor {
    let n = ty.numel();
    let data: Vec<f32> = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
    Tensor {
        ty: ty.clone(),
        data: Data::F32(data.into()),
    }
}

fn to_input(t: &HostTensor, ty: &TensorType) -> Result<Tensor, String> {
    let data = match (&t.data, ty.elem.is_float()) {
        (HostData::F32(v), true) => Data::F32(v.clone().into()),
        (HostData::Int(v), false) => Data::Int(v.clone().into()),
        _ => return Err(format!("input {} does not fit {ty}", t.dtype_name())),
    };
    if t.dims != ty.shape {
        return Err(format!(
            "input shape {:?} differs from the model's {:?}",
            t.dims, ty.shape
        ));
    }
    Tensor::new(ty.clone(), data)
}

fn compare(got: &Tensor, want: &HostTensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.ty.shape != want.dims {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.ty.shape, want.dims
        ));
    }
    match (&got.data, &want.data) {
        (Data::Int(g), HostData::Int(w)) => match g.iter().zip(w).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(format!("element {i} is {}, expected {}", g[i], w[i])),
        },
        (Data::F32(g), _) => {
            let w = want.to_f64();
            for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
                let a = f64::from(a);
                let same_nan = a.is_nan() && b.is_nan();
                if !same_nan && (a - b).abs() > atol + rtol * b.abs() && a != b {
                    return Err(format!("element {i} is {a}, expected {b}"));
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "{} output, expected {}",
            got.ty.elem,
            want.dtype_name()
        )),
    }
}

/// The model's non-initializer graph inputs, in order.
fn graph_inputs(model: &Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(model).map_err(|e| e.to_string())?;
    let m = qweave_frontend::proto::ModelProto::decode(&bytes[..]).map_err(|e| e.to_string())?;
    let g = m.graph.unwrap_or_default();
    let inits: BTreeSet<&str> = g.initializer.iter().map(TensorProto::name).collect();
    Ok(g.input
        .iter()
        .filter(|i| !inits.contains(i.name()))
        .map(|i| i.name().to_string())
        .collect())
}

/// Imports `model` specialized to one data set: its shapes for every input, its values for
/// inputs the IR cannot hold (int64 shapes) or that qweave needs at compile time. Returns the
/// graph and, in graph-input order, the data for the inputs that remain inputs.
fn specialize(
    model: &Path,
    data: &[(String, HostTensor)],
) -> Result<(qweave_ir::Graph, Vec<HostTensor>), ImportError> {
    let mut options = ImportOptions::default();
    for (name, t) in data {
        if t.dtype.ir_elem().is_none() {
            options.constants.insert(name.clone(), t.clone());
        } else {
            options.shapes.insert(name.clone(), t.dims.clone());
        }
    }
    // Each attempt may reveal further inputs that must be constants; bind until none is new.
    let graph = loop {
        match import_file_with(model, &options) {
            Err(ImportError::NeedsConstants { inputs, problems }) => {
                let before = options.constants.len();
                for name in inputs {
                    if let Some((_, t)) = data.iter().find(|(n, _)| *n == name) {
                        options.constants.insert(name, t.clone());
                    }
                }
                if options.constants.len() == before {
                    return Err(ImportError::NeedsConstants {
                        inputs: vec![],
                        problems,
                    });
                }
            }
            other => break other?,
        }
    };
    let remaining = data
        .iter()
        .filter(|(n, _)| !options.constants.contains_key(n))
        .map(|(_, t)| t.clone())
        .collect();
    Ok((graph, remaining))
}

fn run_case(dir: &Path, suite: &str) -> Outcome {
    let light = suite == "light";
    let model = if light {
        dir.to_path_buf()
    } else {
        dir.join("model.onnx")
    };
    let rtol = match dir.file_name().and_then(|n| n.to_str()) {
        Some(n) if n.contains("densenet121") => 2e-3,
        _ => 1e-3,
    };
    let check = |graph: &qweave_ir::Graph,
                 inputs: Vec<Tensor>,
                 want: &[HostTensor]|
     -> Result<(), String> {
        let got = qweave_interp::run(graph, &inputs).map_err(|e| format!("run: {e}"))?;
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            compare(g, w, rtol, 1e-7).map_err(|e| format!("output {k}: {e}"))?;
        }
        Ok(())
    };
    let import_failure = |e: ImportError| match e {
        ImportError::Unsupported(_) => Outcome::Unsupported,
        e => Outcome::Fail(format!(
            "import: {}",
            e.to_string()
                .lines()
                .take(2)
                .collect::<Vec<_>>()
                .join(" / ")
        )),
    };
    if light {
        let graph = match import_file(&model) {
            Ok(g) => g,
            Err(e) => return import_failure(e),
        };
        let inputs = graph
            .inputs
            .iter()
            .map(|&v| light_input(graph.ty(v)))
            .collect();
        let stem = model.with_extension("");
        let outs = (0..graph.outputs.len())
            .map(|k| read_pb(&PathBuf::from(format!("{}_output_{k}.pb", stem.display()))));
        return match outs.collect::<Result<Vec<_>, _>>() {
            Ok(want) => check(&graph, inputs, &want).map_or_else(Outcome::Fail, |()| Outcome::Pass),
            Err(e) => Outcome::Fail(format!("reference: {e}")),
        };
    }
    let names = match graph_inputs(&model) {
        Ok(n) => n,
        Err(e) => return Outcome::Fail(format!("model: {e}")),
    };
    for set in 0.. {
        let sd = dir.join(format!("test_data_set_{set}"));
        if !sd.is_dir() {
            return if set == 0 {
                Outcome::Fail("no test data".into())
            } else {
                Outcome::Pass
            };
        }
        let data = names
            .iter()
            .enumerate()
            .map(|(i, n)| read_pb(&sd.join(format!("input_{i}.pb"))).map(|t| (n.clone(), t)))
            .collect::<Result<Vec<_>, _>>();
        let data = match data {
            Ok(d) => d,
            Err(e) => return Outcome::Fail(format!("input: {e}")),
        };
        let (graph, remaining) = match specialize(&model, &data) {
            Ok(r) => r,
            Err(e) => return import_failure(e),
        };
        let inputs = graph
            .inputs
            .iter()
            .zip(&remaining)
            .map(|(&v, t)| to_input(t, graph.ty(v)))
            .collect::<Result<Vec<_>, _>>();
        let inputs = match inputs {
            Ok(i) => i,
            Err(e) => return Outcome::Fail(format!("input: {e}")),
        };
        let want = (0..graph.outputs.len())
            .map(|k| read_pb(&sd.join(format!("output_{k}.pb"))))
            .collect::<Result<Vec<_>, _>>();
        match want {
            Ok(w) => {
                if let Err(e) = check(&graph, inputs, &w) {
                    return Outcome::Fail(e);
                }
            }
            Err(e) => return Outcome::Fail(format!("reference: {e}")),
        }
    }
    unreachable!("the loop returns")
}

fn cases(root: &Path) -> Vec<(String, PathBuf, &'static str)> {
    let mut out = Vec::new();
    for suite in SUITES {
        // "ort": onnxruntime-computed cases of the QLinear family, committed in tests/ort_cases.
        let dir = if suite == "ort" {
            common::root().join("tests/ort_cases")
        } else {
            root.join(suite)
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let is_case = if suite == "light" {
                name.ends_with(".onnx")
            } else {
                p.join("model.onnx").is_file()
            };
            if is_case {
                out.push((
                    format!("{suite}/{}", name.trim_end_matches(".onnx")),
                    p,
                    suite,
                ));
            }
        }
    }
    out
}

#[test]
fn onnx_backend_conformance() {
    let root = data_root();
    assert!(
        root.join("node").is_dir(),
        "ONNX backend test data is missing at {}: run scripts/fetch-onnx-tests.sh",
        root.display()
    );
    let list_path = common::root().join("tests/conformance/passing.txt");
    let listed: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let all = cases(&root);
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, dir, suite)) = all.get(i) else {
                        break;
                    };
                    let outcome = run_case(dir, suite);
                    results
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push((name.clone(), outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("workers are done");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let passing: BTreeSet<String> = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Pass))
        .map(|(n, _)| n.clone())
        .collect();
    let mut summary = String::new();
    for suite in SUITES {
        let of = |f: &dyn Fn(&Outcome) -> bool| {
            results
                .iter()
                .filter(|(n, o)| n.starts_with(&format!("{suite}/")) && f(o))
                .count()
        };
        summary.push_str(&format!(
            "{suite:>18}: {:>4} cases, {:>4} pass, {:>4} unsupported, {:>4} fail\n",
            of(&|_| true),
            of(&|o| matches!(o, Outcome::Pass)),
            of(&|o| matches!(o, Outcome::Unsupported)),
            of(&|o| matches!(o, Outcome::Fail(_)))
        ));
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(n, o)| match o {
            Outcome::Fail(e) => Some(format!("{n}: {e}")),
            _ => None,
        })
        .collect();
    std::fs::create_dir_all(common::root().join("target")).ok();
    let report = format!("{summary}\nfailures:\n{}\n", failures.join("\n"));
    std::fs::write(
        common::root().join("target/conformance-report.txt"),
        &report,
    )
    .ok();
    let newly: Vec<&String> = passing.difference(&listed).collect();
    if std::env::var_os("QWEAVE_BLESS").is_some() && !newly.is_empty() {
        let mut all: BTreeSet<String> = listed.clone();
        all.extend(passing.iter().cloned());
        let header = "# ONNX backend cases (onnx 1.22.0) that qweave's interpreter passes: integer outputs\n\
                      # bit-exact, float outputs within |d| <= 1e-7 + rtol*|want| (rtol 1e-3; 2e-3 for\n\
                      # densenet121). tests/conformance.rs fails when a listed case fails. Only add lines.\n";
        let body: Vec<&str> = all.iter().map(String::as_str).collect();
        std::fs::write(&list_path, format!("{header}{}\n", body.join("\n")))
            .expect("the list is writable");
    }
    let regressed: Vec<String> = listed
        .iter()
        .filter(|n| !passing.contains(*n))
        .map(|n| {
            let why = results
                .iter()
                .find(|(r, _)| r == n)
                .map_or("case not found".to_string(), |(_, o)| format!("{o:?}"));
            format!("  {n}: {why}")
        })
        .collect();
    println!(
        "{summary}{} listed, {} newly passing (QWEAVE_BLESS=1 adds them)",
        listed.len(),
        newly.len()
    );
    assert!(
        regressed.is_empty(),
        "listed conformance cases no longer pass:\n{}",
        regressed.join("\n")
    );
}
