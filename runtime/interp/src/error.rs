//! The interpreter's errors: evaluating one op ([`EvalError`]) and running a graph ([`RunError`]).

use qweave_ir::TensorType;

/// Why one op could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An operand's data does not match its type (or its type is malformed).
    #[error("operand {index} is invalid: {message}")]
    Operand {
        /// Position of the operand.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The operand types or the attributes are not valid for the op (the shape inference's
    /// verdict).
    #[error("invalid operands or attributes: {0}")]
    Invalid(String),
    /// The declared result types are not the ones the op computes.
    #[error("the declared result types [{declared}] differ from the inferred [{inferred}]")]
    ResultTypes {
        /// The declared types, comma separated.
        declared: String,
        /// The inferred types, comma separated.
        inferred: String,
    },
    /// An operand holds a value the op cannot accept (a QONNX bit width that is not an integer
    /// in 1..=32, a `q.lut` index outside the table).
    #[error("invalid operand value: {0}")]
    Value(String),
    /// A result failed its own type check; this is a bug in the interpreter.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a graph could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The number of input tensors differs from the number of graph inputs.
    #[error("the graph takes {expected} inputs, but {found} were given")]
    InputCount {
        /// Number of graph inputs.
        expected: usize,
        /// Number of tensors given.
        found: usize,
    },
    /// An input tensor has another type than the graph input.
    #[error("input {index} ({name}) must be {expected}, found {found}")]
    InputType {
        /// Position of the input.
        index: usize,
        /// The input's name (`%x`, or `#index` when unnamed).
        name: String,
        /// The graph input's type.
        expected: TensorType,
        /// The given tensor's type.
        found: TensorType,
    },
    /// An input tensor's data does not match its type.
    #[error("input {index} ({name}): {message}")]
    InputData {
        /// Position of the input.
        index: usize,
        /// The input's name (`%x`, or `#index` when unnamed).
        name: String,
        /// What is wrong with the data.
        message: String,
    },
    /// Evaluating an op failed.
    #[error("op `{op}`{}: {error}", node_suffix(.node))]
    Op {
        /// The op's name (`onnx.conv`).
        op: &'static str,
        /// The source node the op came from, if known.
        node: Option<String>,
        /// What went wrong.
        error: EvalError,
    },
    /// The graph is malformed (an operand or output that is never computed, a handle out of
    /// range); a verified graph never is.
    #[error("malformed graph: {0}")]
    Malformed(String),
}

fn node_suffix(node: &Option<String>) -> String {
    match node {
        Some(n) => format!(" (node {n:?})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_errors_name_the_op_and_node() {
        let e = RunError::Op {
            op: "onnx.conv",
            node: Some("conv1".into()),
            error: EvalError::Value("bad".into()),
        };
        assert_eq!(
            e.to_string(),
            "op `onnx.conv` (node \"conv1\"): invalid operand value: bad"
        );
        let e = RunError::Op {
            op: "onnx.relu",
            node: None,
            error: EvalError::Invalid("x".into()),
        };
        assert_eq!(
            e.to_string(),
            "op `onnx.relu`: invalid operands or attributes: x"
        );
    }
}
