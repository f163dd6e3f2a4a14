//! Op importers, one file per op family, each exporting its table `OPS`; and what they share.

pub mod activation;
pub mod arithmetic;
pub mod constant;
pub mod conv;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod qlinear;
pub mod qonnx;
pub mod quant;
pub mod shape;

use crate::context::Ctx;
use crate::host::HostTensor;
use crate::node::Node;
use crate::registry::{CheckFn, Domain, ImportFn, OpDef};

/// An entry of an `OPS` table.
pub const fn op(domain: Domain, name: &'static str, import: ImportFn, check: CheckFn) -> OpDef {
    OpDef {
        domain,
        name,
        import,
        check,
    }
}

/// A possibly negative axis normalized against `rank` (`-1` is the last axis).
pub fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if (-r..r).contains(&a) {
        Ok(a.rem_euclid(r.max(1)) as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

/// The integers of a constant input (shapes, axes, pads).
pub fn ints_of(t: &HostTensor, what: &str) -> Result<Vec<i64>, String> {
    t.as_ints()
        .map(<[i64]>::to_vec)
        .ok_or_else(|| format!("{what} must be an integer tensor, found {}", t.dtype_name()))
}

/// Non-negative integers as `u64`.
pub fn unsigned(v: &[i64], what: &str) -> Result<Vec<u64>, String> {
    v.iter()
        .map(|&x| u64::try_from(x).map_err(|_| format!("{what} must not be negative, found {v:?}")))
        .collect()
}

/// Window attributes of Conv and the pools, resolved against the input's spatial shape:
/// `(kernel, strides, pads, dilations)` with `auto_pad` turned into explicit pads.
#[derive(Debug)]
pub struct Window {
    /// Kernel size per spatial axis.
    pub kernel: Vec<u64>,
    /// Strides.
    pub strides: Vec<u64>,
    /// Begin pads then end pads.
    pub pads: Vec<u64>,
    /// Dilations.
    pub dilations: Vec<u64>,
}

/// Reads `strides`, `pads`, `dilations` and `auto_pad` for a window of size `kernel` over
/// `spatial` (ONNX's rules: SAME_UPPER puts the odd padding at the end, SAME_LOWER at the
/// begin; VALID pads nothing).
pub fn window(node: &Node<'_>, spatial: &[u64], kernel: Vec<u64>) -> Result<Window, String> {
    let k = spatial.len();
    if kernel.len() != k {
        return Err(format!(
            "the kernel has {} axes but the input has {k} spatial axes",
            kernel.len()
        ));
    }
    let list = |name: &str, len: usize, default: u64| -> Result<Vec<u64>, String> {
        match node.ints(name)? {
            None => Ok(vec![default; len]),
            Some(v) if v.is_empty() => Ok(vec![default; len]),
            Some(v) if v.len() == len => unsigned(&v, name),
            Some(v) => Err(format!("'{name}' has {} entries, expected {len}", v.len())),
        }
    };
    let strides = list("strides", k, 1)?;
    let dilations = list("dilations", k, 1)?;
    let auto_pad = node.string_or("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => list("pads", 2 * k, 0)?,
        "VALID" => vec![0; 2 * k],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = vec![0; 2 * k];
            for i in 0..k {
                if strides[i] == 0 {
                    return Err("strides must be positive".into());
                }
                let out = spatial[i].div_ceil(strides[i]);
                let needed = ((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1)
                    .saturating_sub(spatial[i]);
                let (small, large) = (needed / 2, needed - needed / 2);
                if auto_pad == "SAME_UPPER" {
                    (pads[i], pads[k + i]) = (small, large);
                } else {
                    (pads[i], pads[k + i]) = (large, small);
                }
            }
            pads
        }
        other => return Err(format!("auto_pad '{other}' is not an ONNX mode")),
    };
    Ok(Window {
        kernel,
        strides,
        pads,
        dilations,
    })
}

/// Pre-import check for ops with `auto_pad`.
pub fn check_auto_pad(node: &Node<'_>) -> Result<(), String> {
    match node.string_or("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" | "VALID" | "SAME_UPPER" | "SAME_LOWER" => Ok(()),
        other => Err(format!("auto_pad '{other}' is not an ONNX mode")),
    }
}

/// The shape input `i` of a node, as non-negative integers.
pub fn host_shape(ctx: &Ctx, node: &Node<'_>, i: usize, what: &str) -> Result<Vec<i64>, String> {
    let t = ctx.host(node, i)?;
    ints_of(&t, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AttributeProto, NodeProto, attribute_proto::AttributeType};

    fn node_with(attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: Some("Conv".into()),
            attribute: attrs,
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::Ints as i32),
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn string(name: &str, v: &str) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            r#type: Some(AttributeType::String as i32),
            s: Some(v.into()),
            ..Default::default()
        }
    }

    #[test]
    fn auto_pad_follows_onnx() {
        // 5 wide, kernel 3, stride 2: output 3 needs 2 pads; SAME_UPPER puts the odd one last.
        let p = node_with(vec![
            string("auto_pad", "SAME_UPPER"),
            ints("strides", &[2]),
        ]);
        let n = Node {
            proto: &p,
            name: "c".into(),
            opset: 13,
        };
        assert_eq!(window(&n, &[5], vec![3]).unwrap().pads, [1, 1]);
        let p = node_with(vec![
            string("auto_pad", "SAME_LOWER"),
            ints("strides", &[2]),
        ]);
        let n = Node {
            proto: &p,
            name: "c".into(),
            opset: 13,
        };
        assert_eq!(window(&n, &[6], vec![3]).unwrap().pads, [1, 0]);
        let p = node_with(vec![string("auto_pad", "VALID"), ints("pads", &[9, 9])]);
        let n = Node {
            proto: &p,
            name: "c".into(),
            opset: 13,
        };
        assert_eq!(window(&n, &[6], vec![3]).unwrap().pads, [0, 0]);
        let p = node_with(vec![ints("pads", &[1, 2, 3])]);
        let n = Node {
            proto: &p,
            name: "c".into(),
            opset: 13,
        };
        assert!(
            window(&n, &[6, 6], vec![3, 3])
                .unwrap_err()
                .contains("'pads' has 3 entries, expected 4")
        );
    }

    #[test]
    fn axes_and_attribute_types() {
        assert_eq!(axis(-1, 4), Ok(3));
        assert!(axis(4, 4).is_err());
        let p = node_with(vec![string("group", "two")]);
        let n = Node {
            proto: &p,
            name: "c".into(),
            opset: 13,
        };
        assert_eq!(
            n.int("group").unwrap_err(),
            "attribute 'group' must be an integer"
        );
        assert_eq!(Domain::parse("finn"), Some(Domain::Qonnx));
        assert_eq!(Domain::parse("com.example"), None);
    }
}
