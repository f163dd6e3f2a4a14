//! The `.qir` text form: printer, parser, and the positions that errors point at.

pub mod lexer;
mod parser;
pub mod printer;

use crate::arena::HandleMap;
use crate::graph::OpData;
pub use lexer::Pos;
pub use parser::parse;
pub use printer::{Names, print, print_with_sidecar};
use std::fmt;

/// Constants with at most this many elements print inline as `dense<[...]>`.
pub const INLINE_LIMIT: usize = 16;

/// A syntax or name-resolution error at a position.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// Where.
    pub pos: Pos,
    /// What was wrong or expected.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Where each part of a parsed graph was written.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// The `graph` keyword.
    pub graph: Pos,
    /// Each graph input.
    pub inputs: Vec<Pos>,
    /// Each returned value.
    pub outputs: Vec<Pos>,
    /// The start of each op's statement.
    pub ops: HandleMap<OpData, Option<Pos>>,
}

/// A parsed graph with its positions.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The graph.
    pub graph: crate::graph::Graph,
    /// Positions for error messages.
    pub spans: SourceMap,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify;

    const SAMPLE: &str = r#"// a comment
!act = quant<u8, scale = 0.0235, zp = 128>
!w = quant<i8, axis = 0, scale = [0.5, 0.25]>
graph @sample(%x: tensor<1x1x4x4xf32>, %"input/2": tensor<2xf32>) -> (tensor<1x2x4x4xi32>, tensor<2xf32>) {
  %q = onnx.quantize_linear %x {out = !act} : tensor<1x1x4x4x!act> loc("quant \"in\"")
  %w = const splat<1> : tensor<2x1x3x3x!w>
  %b = const dense<[-5, 7]> : tensor<2xi32>
  %0 = q.conv %q, %w, %b {strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], acc = i32} : tensor<1x2x4x4xi32>
  %1 = onnx.clip %"input/2" {min = -inf, max = 6.0} : tensor<2xf32>
  return %0, %1
}
"#;

    #[test]
    fn print_parse_print_is_identity() {
        let parsed = parse(SAMPLE, None).unwrap();
        verify(&parsed.graph).unwrap();
        let once = print(&parsed.graph);
        let twice = print(&parse(&once, None).unwrap().graph);
        assert_eq!(once, twice);
        insta::assert_snapshot!(once);
    }

    #[test]
    fn errors_are_located() {
        let e = parse(
            "graph @g() -> () {\n  %0 = onnx.cnv : tensor<f32>\n  return\n}\n",
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "2:8: unknown op 'onnx.cnv' (did you mean 'onnx.conv'?)"
        );
        let e = parse("graph @g() -> (tensor<f32>) {\n  return %y\n}", None).unwrap_err();
        assert_eq!(e.to_string(), "2:10: use of undefined value %y");
        let e = parse("graph @g(%x: tensor<2x3>) -> () {", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:23: expected an element type, found number 3"
        );
    }
}
