//! Driving Verilator: linting SystemVerilog, building a model from it and a C++ testbench
//! into a cache directory keyed by a hash of every input (so a model is built once per
//! design, and threads or processes that want the same model at once wait for one build),
//! and running the model with text on its standard input.
//!
//! A failing tool is an error that shows its command line and the tail of its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// SystemVerilog sources, by file name.
pub type Sources<'a> = &'a [(&'a str, String)];

/// The Verilator on this machine.
#[derive(Clone, Debug)]
pub struct Verilator {
    exe: PathBuf,
    /// `verilator --version`.
    pub version: String,
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd`, returning its standard output, or an error with the command line and the tail
/// of what it printed.
fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let line = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {line}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{what} failed ({}): {line}\n{}",
        out.status,
        tail(&format!("{stdout}{stderr}"), 30)
    ))
}

impl Verilator {
    /// Finds `verilator` on the `PATH`, or says how to install it.
    pub fn find() -> Result<Verilator, String> {
        let exe = PathBuf::from("verilator");
        let version = Command::new(&exe)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .ok_or(
                "verilator is not installed; run scripts/hw-tools.sh (it installs the Debian \
                 package) or put verilator 5 on the PATH",
            )?;
        Ok(Verilator { exe, version })
    }

    /// Writes `sources` into `dir` and returns their paths.
    fn write(dir: &Path, sources: Sources<'_>) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        sources
            .iter()
            .map(|(name, text)| {
                let p = dir.join(name);
                std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok(p)
            })
            .collect()
    }

    /// `verilator --lint-only -Wall` on `sources` with `top` as the top module: `Ok` when it
    /// reports nothing.
    pub fn lint(&self, scratch: &Path, top: &str, sources: Sources<'_>) -> Result<(), String> {
        let files = Self::write(scratch, sources)?;
        run(
            Command::new(&self.exe)
                .args(["--lint-only", "-Wall", "--top-module", top])
                .args(&files),
            "verilator --lint-only",
        )
        .map(|_| ())
    }

    /// Builds (or finds in `cache`) the model of `top` from `sources` and the C++ `testbench`
    /// (which defines `main`), with extra Verilator `flags` (`--trace`, `-CFLAGS -D...`).
    pub fn build(
        &self,
        cache: &Path,
        top: &str,
        sources: Sources<'_>,
        testbench: &str,
        flags: &[String],
    ) -> Result<Model, String> {
        let mut h = blake3::Hasher::new();
        let flag_text = flags.join("\n");
        for part in [self.version.as_str(), top, testbench, flag_text.as_str()] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for (name, text) in sources {
            h.update(name.as_bytes());
            h.update(&[0]);
            h.update(text.as_bytes());
            h.update(&[0]);
        }
        let key = h.finalize().to_hex();
        let dir = cache.join(format!("{top}-{}", &key[..16]));
        let exe = dir.join("obj").join("model");
        if exe.is_file() {
            return Ok(Model { exe });
        }
        // one build at a time in this process: threads wanting the same model wait for it
        static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _turn = BUILDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // and one process at a time per model: another `qweave` (or test binary) building it
        // holds this file's lock until its model is in place
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        let lock_path = cache.join(format!(".{top}-{}.lock", &key[..16]));
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        if exe.is_file() {
            return Ok(Model { exe });
        }
        // build beside the final place under a name of this process's own, so an interrupted
        // or concurrent build is never taken for a model
        let building = cache.join(format!(
            ".{top}-{}.building-{}",
            &key[..16],
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&building);
        let mut files = Self::write(&building.join("src"), sources)?;
        let tb = building.join("src").join("testbench.cpp");
        std::fs::write(&tb, testbench).map_err(|e| format!("{}: {e}", tb.display()))?;
        files.push(tb);
        run(
            Command::new(&self.exe)
                .args([
                    "--cc",
                    "--exe",
                    "--build",
                    "-j",
                    "2",
                    "-O2",
                    "--top-module",
                    top,
                ])
                .args(flags)
                .arg("-Mdir")
                .arg(building.join("obj"))
                .args(["-o", "model"])
                .args(&files),
            "verilator --build",
        )?;
        if exe.is_file() {
            // another process finished the same model first
            let _ = std::fs::remove_dir_all(&building);
            return Ok(Model { exe });
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&building, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Model { exe })
    }
}

/// A built Verilator model.
#[derive(Clone, Debug)]
pub struct Model {
    exe: PathBuf,
}

impl Model {
    /// Runs the model with `input` on its standard input; returns its standard output.
    pub fn run(&self, input: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = self.start(Stdio::piped())?;
        let mut stdin = child.stdin.take().ok_or("the model's standard input")?;
        let text = input.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", self.exe.display()))?;
        let _ = writer.join();
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}",
                self.exe.display(),
                out.status,
                tail(&String::from_utf8_lossy(&out.stderr), 30)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The model's process, its standard input and output piped, its standard error `stderr`.
    fn start(&self, stderr: Stdio) -> Result<std::process::Child, String> {
        Command::new(&self.exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.exe.display()))
    }

    /// Starts the model with `input` on its standard input (then closed) and leaves it
    /// running; its standard error goes where this process's does.
    pub fn spawn(&self, input: &str) -> Result<Running, String> {
        use std::io::Write;
        let mut child = self.start(Stdio::inherit())?;
        let mut stdin = child.stdin.take().ok_or("the model's standard input")?;
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{}: {e}", self.exe.display()))?;
        drop(stdin);
        let stdout = child.stdout.take().ok_or("the model's standard output")?;
        Ok(Running {
            child,
            stdout: std::io::BufReader::new(stdout),
            exe: self.exe.clone(),
        })
    }
}

/// A model left running: its standard output is read a line at a time, and the process is
/// ended when this is dropped.
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    exe: PathBuf,
}

impl Running {
    /// The next line the model prints (without its end), or an error once it has ended.
    pub fn line(&mut self) -> Result<String, String> {
        use std::io::BufRead;
        let mut text = String::new();
        let n = self
            .stdout
            .read_line(&mut text)
            .map_err(|e| format!("{}: {e}", self.exe.display()))?;
        if n == 0 {
            let status = self.child.wait().map_err(|e| e.to_string())?;
            return Err(format!("{} ended ({status})", self.exe.display()));
        }
        Ok(text.trim_end().to_string())
    }

    /// Waits for the model to end by itself.
    pub fn wait(&mut self) -> Result<std::process::ExitStatus, String> {
        self.child
            .wait()
            .map_err(|e| format!("{}: {e}", self.exe.display()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
