//! Loading a model for any command: an ONNX file through the importer, or a `.qir` program.

use qweave_ir::Graph;
use std::path::Path;

/// Reads `path` as an ONNX model (`.onnx`) or a qweave program (`.qir` with its sidecar).
pub fn load(path: &Path) -> Result<Graph, Vec<String>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => qweave_frontend::import_file(path).map_err(|e| {
            let text = e.to_string();
            let mut lines = text.lines();
            let first = format!("{}: {}", path.display(), lines.next().unwrap_or_default());
            std::iter::once(first)
                .chain(lines.map(|l| l.trim_start().to_string()))
                .collect()
        }),
        Some("qir") => crate::qir_file::load(path),
        _ => Err(vec![format!(
            "{}: expected an ONNX model (.onnx) or a qweave program (.qir)",
            path.display()
        )]),
    }
}
