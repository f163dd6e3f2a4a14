//! One ONNX node as an importer sees it: its name, opset, inputs and typed attributes.

use crate::host::{HostTensor, from_proto};
use crate::proto::{AttributeProto, NodeProto, attribute_proto::AttributeType};

/// A node being imported.
pub struct Node<'a> {
    /// The node.
    pub proto: &'a NodeProto,
    /// Its name, or `OpType_index` when the model gives none.
    pub name: String,
    /// The operator set version of the node's domain.
    pub opset: i64,
}

impl<'a> Node<'a> {
    /// The op type (`Conv`).
    pub fn op_type(&self) -> &str {
        self.proto.op_type()
    }

    /// The name of input `i`, unless absent (missing or the empty string).
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.proto
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Number of inputs written (absent trailing inputs included).
    pub fn num_inputs(&self) -> usize {
        self.proto.input.len()
    }

    fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.proto.attribute.iter().find(|a| a.name() == name)
    }

    /// True when the attribute is present.
    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    fn kind(a: &AttributeProto) -> Option<AttributeType> {
        a.r#type
            .and_then(|t| AttributeType::try_from(t).ok())
            .filter(|t| *t != AttributeType::Undefined)
    }

    fn wrong(&self, name: &str, want: &str) -> String {
        format!("attribute '{name}' must be {want}")
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a)
                if matches!(Self::kind(a), None | Some(AttributeType::Int)) && a.i.is_some() =>
            {
                Ok(a.i)
            }
            Some(_) => Err(self.wrong(name, "an integer")),
        }
    }

    /// An integer attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A float attribute.
    pub fn float(&self, name: &str) -> Result<Option<f32>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a)
                if matches!(Self::kind(a), None | Some(AttributeType::Float)) && a.f.is_some() =>
            {
                Ok(a.f)
            }
            Some(_) => Err(self.wrong(name, "a float")),
        }
    }

    /// A float attribute with a default.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, String> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    /// A string attribute.
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a)
                if matches!(Self::kind(a), None | Some(AttributeType::String)) && a.s.is_some() =>
            {
                let bytes = a.s.clone().unwrap_or_default();
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| self.wrong(name, "UTF-8 text"))
            }
            Some(_) => Err(self.wrong(name, "a string")),
        }
    }

    /// A string attribute with a default.
    pub fn string_or(&self, name: &str, default: &str) -> Result<String, String> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// An integer-list attribute.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) if matches!(Self::kind(a), None | Some(AttributeType::Ints)) => {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => Err(self.wrong(name, "a list of integers")),
        }
    }

    /// A float-list attribute.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) if matches!(Self::kind(a), None | Some(AttributeType::Floats)) => {
                Ok(Some(a.floats.clone()))
            }
            Some(_) => Err(self.wrong(name, "a list of floats")),
        }
    }

    /// A tensor attribute.
    pub fn tensor(&self, name: &str) -> Result<Option<HostTensor>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => match &a.t {
                Some(t) => from_proto(t, None)
                    .map(Some)
                    .map_err(|e| format!("attribute '{name}': {e}")),
                None => Err(self.wrong(name, "a tensor")),
            },
        }
    }
}
