//! Reading and writing `.qir` files with their `.qwb` sidecars, and locating errors in them.

use qweave_ir::sidecar::Sidecar;
use qweave_ir::verify::Location;
use qweave_ir::{Graph, Parsed, SourceMap, VerifyError, parse, print_with_sidecar, verify};
use std::fs;
use std::path::{Path, PathBuf};

/// The sidecar path of a `.qir` path: the same path with extension `.qwb`.
pub fn sidecar_path(qir: &Path) -> PathBuf {
    qir.with_extension("qwb")
}

/// Reads, parses and verifies a `.qir` file (and its sidecar, when present). Errors are
/// `file:line:col: message` lines, one per problem.
pub fn load(path: &Path) -> Result<Graph, Vec<String>> {
    let shown = path.display();
    if path.extension().and_then(|e| e.to_str()) != Some("qir") {
        return Err(vec![format!("{shown}: expected a .qir program")]);
    }
    let text = fs::read(path).map_err(|e| vec![format!("cannot read {shown}: {e}")])?;
    let text = String::from_utf8(text).map_err(|e| {
        vec![format!(
            "{shown}: the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )]
    })?;
    let side = sidecar_path(path);
    let sidecar = match fs::read(&side) {
        Ok(bytes) => Some(
            Sidecar::from_bytes(&bytes).map_err(|e| vec![format!("{}: {e}", side.display())])?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(vec![format!("cannot read {}: {e}", side.display())]),
    };
    let Parsed { graph, spans } =
        parse(&text, sidecar.as_ref()).map_err(|e| vec![format!("{shown}:{e}")])?;
    verify(&graph).map_err(|errors| locate(&shown.to_string(), &spans, &errors))?;
    Ok(graph)
}

fn locate(file: &str, spans: &SourceMap, errors: &[VerifyError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let pos = match e.location {
                Location::Graph => Some(spans.graph),
                Location::Input(i) => spans.inputs.get(i).copied(),
                Location::Output(i) => spans.outputs.get(i).copied(),
                Location::Op(op) => *spans.ops.get(op),
            };
            match pos {
                Some(p) => format!("{file}:{p}: {}", e.message),
                None => format!("{file}: {}", e.message),
            }
        })
        .collect()
}

/// Writes `graph` to `path` and its large constants to the sidecar beside it. Both files are
/// written to temporary names first and renamed into place, so a failure leaves no
/// half-written output; a stale sidecar is removed when the graph needs none.
pub fn write(graph: &Graph, path: &Path) -> Result<(), Vec<String>> {
    if path.extension().and_then(|e| e.to_str()) != Some("qir") {
        return Err(vec![format!(
            "{}: the output must be a .qir file",
            path.display()
        )]);
    }
    let (text, sidecar) = print_with_sidecar(graph);
    let side = sidecar_path(path);
    let io = |p: &Path, e: std::io::Error| vec![format!("cannot write {}: {e}", p.display())];
    let tmp = |p: &Path| {
        p.with_extension(format!(
            "{}.tmp",
            p.extension().and_then(|e| e.to_str()).unwrap_or("")
        ))
    };
    let (tmp_qir, tmp_qwb) = (tmp(path), tmp(&side));
    let result = (|| {
        fs::write(&tmp_qir, text).map_err(|e| io(&tmp_qir, e))?;
        if !sidecar.is_empty() {
            fs::write(&tmp_qwb, sidecar.to_bytes()).map_err(|e| io(&tmp_qwb, e))?;
            fs::rename(&tmp_qwb, &side).map_err(|e| io(&side, e))?;
        } else if side.exists() {
            fs::remove_file(&side).map_err(|e| io(&side, e))?;
        }
        fs::rename(&tmp_qir, path).map_err(|e| io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_qir);
        let _ = fs::remove_file(&tmp_qwb);
    }
    result
}
