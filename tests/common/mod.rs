//! Helpers shared by the end-to-end tests: finding fixture files, loading them, running the CLI.

#![allow(dead_code)]

use qweave_ir::sidecar::Sidecar;
use qweave_ir::{Parsed, parse};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.qir` file under `tests/` and `examples/`, sorted.
pub fn qir_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "qir") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("tests"), &mut files);
    walk(&root().join("examples"), &mut files);
    files.sort();
    files
}

/// The sidecar beside `qir`, if there is one.
pub fn sidecar_of(qir: &Path) -> Option<Sidecar> {
    let bytes = std::fs::read(qir.with_extension("qwb")).ok()?;
    Some(Sidecar::from_bytes(&bytes).expect("fixture sidecars are valid"))
}

/// Parses a fixture with its sidecar.
pub fn parse_file(qir: &Path) -> Result<Parsed, qweave_ir::ParseError> {
    let text = std::fs::read_to_string(qir).expect("fixtures are UTF-8");
    parse(&text, sidecar_of(qir).as_ref())
}

/// `path` relative to the repository root, with forward slashes.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The outcome of one CLI run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `qweave` binary in the repository root.
pub fn qweave(args: &[&str]) -> Run {
    qweave_env(args, &[])
}

/// Runs the `qweave` binary in the repository root with extra environment variables.
pub fn qweave_env(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_qweave"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .expect("the qweave binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the `qweave` binary with its Verilator models cached in the repository's `.cache`
/// (shared with the RTL tests' own models).
pub fn qweave_cached(args: &[&str]) -> Run {
    qweave_env(args, &[("QWEAVE_CACHE", &root().join(".cache"))])
}

/// The first `n` digits test images (`tests/models/digits_test.npz`), one `[1, 1, 8, 8]`
/// tensor each, and their labels.
pub fn digits(n: usize) -> (Vec<qweave_ir::Tensor>, Vec<i64>) {
    use qweave_frontend::files;
    use qweave_frontend::host::HostData;
    use qweave_ir::{Data, ElemType, Tensor, TensorType};
    let file = files::read(&root().join("tests/models/digits_test.npz")).unwrap();
    let get = |name: &str| {
        file.iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap()
    };
    let HostData::F32(px) = &get("x").tensor.data else {
        panic!("float images")
    };
    let HostData::Int(labels) = &get("labels").tensor.data else {
        panic!("integer labels")
    };
    let images = px
        .chunks_exact(64)
        .take(n)
        .map(|im| Tensor {
            ty: TensorType::new(vec![1, 1, 8, 8], ElemType::F32),
            data: Data::F32(im.into()),
        })
        .collect();
    (images, labels[..n].to_vec())
}

/// A small deterministic generator (xorshift64) for randomized tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// An integer in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// One of the values of `v`.
    pub fn pick(&mut self, v: qweave_hw::multiply::Values) -> i64 {
        let all = v.all();
        all[(self.next() % all.len() as u64) as usize]
    }
}

/// A fixture of `tests/models` imported and lowered to the q level.
pub fn lowered(model: &str) -> qweave_ir::Graph {
    let mut g = qweave_frontend::import_file(&root().join("tests/models").join(model))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let options = qweave_passes::PipelineOptions { verify_each: false };
    qweave_passes::Pipeline::parse("lower")
        .and_then(|p| p.run(&mut g, options, |_, _| {}))
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    g
}

/// The int8 ResNet-8 fixture's input image (`tests/models/bench_input.npz`).
pub fn resnet_input() -> qweave_ir::Tensor {
    let file = qweave_frontend::files::read(&root().join("tests/models/bench_input.npz")).unwrap();
    let x = file
        .iter()
        .find(|t| t.name.as_deref() == Some("x"))
        .unwrap();
    x.tensor.to_ir().unwrap()
}
