//! Constants: Constant and ConstantOfShape, kept on the host until an op needs them.

use super::{host_shape, op, unsigned};
use crate::context::{Ctx, Outputs, Val};
use crate::host::{DType, HostData, HostTensor, checked_numel};
use crate::node::Node;
use crate::registry::{Domain::Onnx, OpDef, any};
use std::rc::Rc;

/// The constant importers.
pub const OPS: &[OpDef] = &[
    op(Onnx, "Constant", constant, check_constant),
    op(Onnx, "ConstantOfShape", constant_of_shape, any),
];

fn check_constant(node: &Node<'_>) -> Result<(), String> {
    for unsupported in ["sparse_value", "value_string", "value_strings"] {
        if node.has(unsupported) {
            return Err(format!("a Constant with '{unsupported}' is not supported"));
        }
    }
    Ok(())
}

fn constant(_: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let t = if let Some(t) = node.tensor("value")? {
        t
    } else if let Some(v) = node.float("value_float")? {
        HostTensor {
            dtype: DType::F32,
            dims: vec![],
            data: HostData::F32(vec![v]),
        }
    } else if let Some(v) = node.floats("value_floats")? {
        HostTensor {
            dtype: DType::F32,
            dims: vec![v.len() as u64],
            data: HostData::F32(v),
        }
    } else if let Some(v) = node.int("value_int")? {
        HostTensor::i64s(vec![], vec![v])
    } else if let Some(v) = node.ints("value_ints")? {
        HostTensor::i64s(vec![v.len() as u64], v)
    } else {
        return Err("a Constant needs a value attribute".into());
    };
    Ok(vec![Val::Host(Rc::new(t))])
}

fn constant_of_shape(ctx: &mut Ctx, node: &Node<'_>) -> Result<Outputs, String> {
    let dims = host_shape(ctx, node, 0, "the shape")?;
    let n = checked_numel(&dims)?;
    let dims = unsigned(&dims, "the shape")?;
    let value = node.tensor("value")?.unwrap_or(HostTensor {
        dtype: DType::F32,
        dims: vec![1],
        data: HostData::F32(vec![0.0]),
    });
    if value.len() != 1 {
        return Err("the fill value must hold one element".into());
    }
    let data = match &value.data {
        HostData::F32(v) => HostData::F32(vec![v[0]; n]),
        HostData::F64(v) => HostData::F64(vec![v[0]; n]),
        HostData::Int(v) => HostData::Int(vec![v[0]; n]),
    };
    Ok(vec![Val::Host(Rc::new(HostTensor {
        dtype: value.dtype,
        dims,
        data,
    }))])
}
