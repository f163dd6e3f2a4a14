//! Running one external tool step: the program located on the search path (or a
//! `MissingTool` error saying how to install it), its standard output and error captured
//! into a log file, progress shown on standard error while it runs (a spinner with the
//! step, the elapsed time and the log's latest line on a terminal; a `started` and a `done`
//! line otherwise; nothing when quiet), and a failure reported with the command line, the
//! exit status, the log's path and its last 30 lines.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The lines of the log a failing step's error carries.
const TAIL_LINES: usize = 30;

/// Where the tools' programs are looked for: the `PATH` of the process, or directories the
/// caller names (tools kept outside the `PATH`, and tests, which must not change the
/// process's environment).
#[derive(Clone, Debug, Default)]
pub struct Tools {
    dirs: Option<Vec<PathBuf>>,
}

impl Tools {
    /// Programs are looked for on the `PATH`, read when each step starts.
    pub fn on_path() -> Tools {
        Tools { dirs: None }
    }

    /// Programs are looked for in `dirs` only, in order.
    pub fn in_dirs(dirs: impl IntoIterator<Item = PathBuf>) -> Tools {
        Tools {
            dirs: Some(dirs.into_iter().collect()),
        }
    }

    fn search_dirs(&self) -> Vec<PathBuf> {
        match &self.dirs {
            Some(dirs) => dirs.clone(),
            None => std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }

    /// The executable file of `program`, or an error naming it, the Debian package that
    /// provides it and `scripts/hw-tools.sh`.
    pub fn locate(&self, program: &str) -> Result<PathBuf, Error> {
        let dirs = self.search_dirs();
        let found = dirs
            .iter()
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.join(program))
            .find(|p| is_executable(p));
        found.ok_or_else(|| Error::MissingTool {
            program: program.to_string(),
            package: debian_package(program),
            searched: if dirs.is_empty() {
                "an empty PATH".to_string()
            } else {
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            },
        })
    }
}

/// The Debian package that provides `program`, for the programs this crate runs.
pub fn debian_package(program: &str) -> Option<&'static str> {
    match program {
        "yosys" => Some("yosys"),
        "nextpnr-ice40" => Some("nextpnr-ice40"),
        "icepack" | "iceunpack" => Some("fpga-icestorm"),
        _ => None,
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// How one step went: its log and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRun {
    /// Everything the tool printed, standard output and error interleaved.
    pub log: PathBuf,
    /// Wall time from start to exit.
    pub duration: Duration,
}

/// One run of an external program.
pub(crate) struct Step<'a> {
    /// What the step is called in messages ("synthesis").
    pub(crate) name: &'a str,
    /// The program's name, looked up by [`Tools::locate`].
    pub(crate) program: &'a str,
    pub(crate) args: Vec<OsString>,
    /// The directory it runs in.
    pub(crate) dir: &'a Path,
    pub(crate) log: PathBuf,
    /// No output on standard error at all.
    pub(crate) quiet: bool,
}

impl Step<'_> {
    /// Runs the step to completion; an error unless it exits successfully.
    pub(crate) fn run(&self, tools: &Tools) -> Result<StepRun, Error> {
        let exe = tools.locate(self.program)?;
        let command = command_line(self.dir, &exe, &self.args);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let log = File::create(&self.log).map_err(io(&self.log))?;
        let log_err = log.try_clone().map_err(io(&self.log))?;
        let spawn_error = |source| Error::Spawn {
            step: self.name.to_string(),
            command: command.clone(),
            source,
        };
        let started = Instant::now();
        let mut child = Command::new(&exe)
            .args(&self.args)
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(spawn_error)?;
        let status = if !self.quiet && std::io::stderr().is_terminal() {
            self.spin(&mut child, started)
        } else {
            self.say("started");
            child.wait()
        }
        .map_err(spawn_error)?;
        let duration = started.elapsed();
        let secs = duration.as_secs_f64();
        if !status.success() {
            self.say(&format!("failed after {secs:.1} s"));
            return Err(Error::StepFailed {
                step: self.name.to_string(),
                command,
                status: status.to_string(),
                log: self.log.clone(),
                tail: tail_lines(&self.log, TAIL_LINES),
            });
        }
        self.say(&format!("done in {secs:.1} s"));
        Ok(StepRun {
            log: self.log.clone(),
            duration,
        })
    }

    /// Waits for `child` under a spinner showing the step, the elapsed time and the log's
    /// latest line.
    fn spin(&self, child: &mut Child, started: Instant) -> std::io::Result<ExitStatus> {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            .with_elapsed(started.elapsed());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} [{elapsed}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(self.name.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            bar.set_message(latest_line(&self.log));
            std::thread::sleep(Duration::from_millis(100));
        };
        bar.finish_and_clear();
        Ok(status)
    }

    /// `<step>: <what>` on standard error, unless quiet.
    #[allow(
        clippy::print_stderr,
        reason = "progress lines are this module's output"
    )]
    fn say(&self, what: &str) {
        if !self.quiet {
            eprintln!("{}: {what}", self.name);
        }
    }
}

/// `cd DIR && EXE ARGS...`, every word shell-quoted: the command as one can run it again.
fn command_line(dir: &Path, exe: &Path, args: &[OsString]) -> String {
    let mut words = vec![
        "cd".to_string(),
        shell_quote(dir.as_os_str()),
        "&&".to_string(),
        shell_quote(exe.as_os_str()),
    ];
    words.extend(args.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

/// `word` as a POSIX shell reads it back: bare when it is made of safe characters, else in
/// single quotes (non-UTF-8 bytes shown lossily).
pub(crate) fn shell_quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=:,+@%^".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The end of a file (at most `max` bytes) as text, lossily decoded, starting at a line
/// boundary; empty when it cannot be read.
fn read_end(path: &Path, max: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let start = len.saturating_sub(max);
        f.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        f.take(max).read_to_end(&mut bytes)?;
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if start > 0
            && let Some(nl) = text.find('\n')
        {
            text.drain(..=nl);
        }
        Ok(text)
    };
    read().unwrap_or_default()
}

/// The last `n` lines of the log at `path`.
pub(crate) fn tail_lines(path: &Path, n: usize) -> String {
    let text = read_end(path, 64 * 1024);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The log's latest non-blank line (after its last carriage return, so a tool redrawing a
/// line shows its latest state), without control characters.
fn latest_line(path: &Path) -> String {
    let text = read_end(path, 4096);
    let line = text
        .lines()
        .rev()
        .map(|l| l.rsplit('\r').next().unwrap_or(l).trim())
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests;
