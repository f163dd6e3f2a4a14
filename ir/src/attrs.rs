//! Typed op attributes: the value kinds, the enums they use, and their text form.
//!
//! Each op's attributes are a plain Rust struct declared with [`attr_set!`]; the macro also
//! generates how the struct reads from and writes to the `{name = value, ...}` dictionary of
//! the text form. An attribute with a default is printed only when it differs from it.

use crate::float::{fmt_f32, parse_f32};
use crate::rounding::RoundingMode;
use crate::types::{ElemType, IntType};
use std::collections::BTreeMap;
use std::fmt;

/// An attribute value as written in the text form, before it is given a Rust type.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A numeric literal, kept as text so that it converts to `f32` without double rounding.
    Number(String),
    /// A bare word: `true`, `false`, or an enum case such as `half_even`.
    Word(String),
    /// An element type: `f32`, `i8`, `bipolar` or a quantized type.
    Type(ElemType),
    /// `[v, v, ...]`.
    List(Vec<AttrValue>),
}

/// Conversion of one attribute value to and from its Rust type.
pub trait AttrKind: Sized + PartialEq {
    /// Reads the value.
    fn from_attr(v: &AttrValue) -> Result<Self, String>;
    /// Writes the value; `ty` names element types (the printer's aliases).
    fn write_attr(&self, out: &mut String, ty: &dyn Fn(ElemType) -> String);
}

fn number(v: &AttrValue, what: &str) -> Result<String, String> {
    match v {
        AttrValue::Number(s) => Ok(s.clone()),
        other => Err(format!("expected {what}, found {}", describe(other))),
    }
}

fn describe(v: &AttrValue) -> String {
    match v {
        AttrValue::Number(s) => format!("number {s}"),
        AttrValue::Word(w) => format!("'{w}'"),
        AttrValue::Type(_) => "a type".into(),
        AttrValue::List(_) => "a list".into(),
    }
}

impl AttrKind for i64 {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        let s = number(v, "an integer")?;
        s.parse()
            .map_err(|_| format!("'{s}' is not an integer in the 64-bit signed range"))
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(&self.to_string());
    }
}

impl AttrKind for u64 {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        let s = number(v, "a non-negative integer")?;
        s.parse()
            .map_err(|_| format!("'{s}' is not a non-negative 64-bit integer"))
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(&self.to_string());
    }
}

impl AttrKind for f32 {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        let s = number(v, "a float")?;
        parse_f32(&s).ok_or_else(|| format!("'{s}' is not a float"))
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(&fmt_f32(*self));
    }
}

impl AttrKind for bool {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        match v {
            AttrValue::Word(w) if w == "true" => Ok(true),
            AttrValue::Word(w) if w == "false" => Ok(false),
            other => Err(format!("expected true or false, found {}", describe(other))),
        }
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl AttrKind for ElemType {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        match v {
            AttrValue::Type(t) => Ok(*t),
            other => Err(format!(
                "expected an element type, found {}",
                describe(other)
            )),
        }
    }
    fn write_attr(&self, out: &mut String, ty: &dyn Fn(ElemType) -> String) {
        out.push_str(&ty(*self));
    }
}

impl AttrKind for IntType {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        match v {
            AttrValue::Type(ElemType::Int(t)) => Ok(*t),
            other => Err(format!(
                "expected an integer type, found {}",
                describe(other)
            )),
        }
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(&self.to_string());
    }
}

impl<T: AttrKind> AttrKind for Vec<T> {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        match v {
            AttrValue::List(items) => items.iter().map(T::from_attr).collect(),
            other => Err(format!("expected a list, found {}", describe(other))),
        }
    }
    fn write_attr(&self, out: &mut String, ty: &dyn Fn(ElemType) -> String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item.write_attr(out, ty);
        }
        out.push(']');
    }
}

/// Declares an enum attribute whose cases are written as bare words.
macro_rules! word_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $case:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $case,)* }

        impl $name {
            /// The word used in the text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$case => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AttrKind for $name {
            fn from_attr(v: &AttrValue) -> Result<Self, String> {
                match v {
                    $(AttrValue::Word(w) if w == $text => Ok($name::$case),)*
                    other => Err(format!(
                        "expected one of {}, found {}",
                        [$($text),*].join(", "),
                        describe(other)
                    )),
                }
            }
            fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
                out.push_str(self.as_str());
            }
        }
    };
}

impl AttrKind for RoundingMode {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        match v {
            AttrValue::Word(w) => w.parse(),
            other => Err(format!(
                "expected a rounding mode, found {}",
                describe(other)
            )),
        }
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        out.push_str(self.as_str());
    }
}

word_enum! {
    /// How `pad` fills the new border.
    pub enum PadMode {
        /// With a constant value.
        Constant = "constant",
        /// With the mirror image of the inside, not repeating the edge.
        Reflect = "reflect",
        /// By repeating the edge element.
        Edge = "edge",
    }
}

word_enum! {
    /// ONNX Resize's `coordinate_transformation_mode`: where an output index samples the input.
    /// `x_in = f(x_out)`, with `scale` the attribute's scale and `len_in`, `len_out` the
    /// lengths of the axis.
    pub enum CoordMode {
        /// `(x_out + 0.5) / scale - 0.5`.
        HalfPixel = "half_pixel",
        /// Like half_pixel, but 0 when `len_out` is 1.
        PytorchHalfPixel = "pytorch_half_pixel",
        /// `x_out / scale`.
        Asymmetric = "asymmetric",
        /// `x_out * (len_in - 1) / (len_out - 1)`, 0 when `len_out` is 1.
        AlignCorners = "align_corners",
        /// `(x_out + 0.5) / scale`.
        TfHalfPixelForNn = "tf_half_pixel_for_nn",
    }
}

word_enum! {
    /// ONNX Resize's `nearest_mode`: how a fractional input coordinate picks an element.
    pub enum NearestMode {
        /// Nearest, ties down.
        RoundPreferFloor = "round_prefer_floor",
        /// Nearest, ties up.
        RoundPreferCeil = "round_prefer_ceil",
        /// Toward -infinity.
        Floor = "floor",
        /// Toward +infinity.
        Ceil = "ceil",
    }
}

/// A scalar attribute whose kind follows the tensor it applies to: a float for `f32`
/// tensors, an integer (the stored value) for integer tensors.
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    /// A float value.
    F32(f32),
    /// An integer value.
    Int(i64),
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Scalar::F32(a), Scalar::F32(b)) => a.to_bits() == b.to_bits(),
            (Scalar::Int(a), Scalar::Int(b)) => a == b,
            _ => false,
        }
    }
}

impl AttrKind for Scalar {
    fn from_attr(v: &AttrValue) -> Result<Self, String> {
        let s = number(v, "a number")?;
        let looks_float = s.contains(['.', 'e', 'E', 'x', 'n', 'i']);
        if looks_float {
            parse_f32(&s)
                .map(Scalar::F32)
                .ok_or_else(|| format!("'{s}' is not a float"))
        } else {
            s.parse()
                .map(Scalar::Int)
                .map_err(|_| format!("'{s}' is not an integer"))
        }
    }
    fn write_attr(&self, out: &mut String, _: &dyn Fn(ElemType) -> String) {
        match self {
            Scalar::F32(x) => out.push_str(&fmt_f32(*x)),
            Scalar::Int(i) => out.push_str(&i.to_string()),
        }
    }
}

/// An error reading attributes: which attribute (if one) and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrError {
    /// The attribute at fault, or `None` when the problem is the dictionary as a whole.
    pub attr: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// The attribute dictionary of one op being read; every entry must be consumed.
pub struct AttrReader {
    entries: BTreeMap<String, AttrValue>,
}

impl AttrReader {
    /// A reader over the given entries.
    pub fn new(entries: BTreeMap<String, AttrValue>) -> Self {
        AttrReader { entries }
    }

    /// Takes and converts attribute `name`; `default` applies when it is absent.
    pub fn take<T: AttrKind>(&mut self, name: &str, default: Option<T>) -> Result<T, AttrError> {
        match self.entries.remove(name) {
            Some(v) => T::from_attr(&v).map_err(|message| AttrError {
                attr: Some(name.to_string()),
                message,
            }),
            None => default.ok_or_else(|| AttrError {
                attr: None,
                message: format!("missing attribute '{name}'"),
            }),
        }
    }

    /// Fails on any attribute nobody took; `known` lists the op's attributes.
    pub fn finish(self, op: &str, known: &[&str]) -> Result<(), AttrError> {
        match self.entries.into_keys().next() {
            None => Ok(()),
            Some(name) => {
                let expected = if known.is_empty() {
                    format!("{op} takes none")
                } else {
                    format!("expected {}", known.join(", "))
                };
                Err(AttrError {
                    message: format!("unknown attribute '{name}' ({expected})"),
                    attr: Some(name),
                })
            }
        }
    }
}

/// Collects `name = value` pairs while printing an op.
pub struct AttrWriter<'a> {
    items: Vec<String>,
    ty: &'a dyn Fn(ElemType) -> String,
}

impl<'a> AttrWriter<'a> {
    /// A writer naming element types with `ty`.
    pub fn new(ty: &'a dyn Fn(ElemType) -> String) -> Self {
        AttrWriter {
            items: Vec::new(),
            ty,
        }
    }

    /// Writes `name = value` unless `value` equals `default`.
    pub fn field<T: AttrKind>(&mut self, name: &str, value: &T, default: Option<&T>) {
        if default == Some(value) {
            return;
        }
        let mut s = format!("{name} = ");
        value.write_attr(&mut s, self.ty);
        self.items.push(s);
    }

    /// ` {a = 1, b = 2}`, or nothing when every attribute had its default.
    pub fn finish(self) -> String {
        if self.items.is_empty() {
            String::new()
        } else {
            format!(" {{{}}}", self.items.join(", "))
        }
    }
}

/// The attributes of one op kind: read from and written to the text form.
pub trait AttrSet: Sized {
    /// Attribute names, in print order.
    const NAMES: &'static [&'static str];
    /// Reads every attribute, applying defaults.
    fn read(r: &mut AttrReader) -> Result<Self, AttrError>;
    /// Writes the attributes that differ from their defaults.
    fn write(&self, w: &mut AttrWriter<'_>);
}

macro_rules! default_of {
    () => {
        None
    };
    ($e:expr) => {
        Some($e)
    };
}

/// Declares an attribute struct: `pub struct X { /// doc \n pub field: Type [= default], }`.
macro_rules! attr_set {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* pub $field:ident : $ty:ty $(= $default:expr)?,)*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty,)* }

        impl $crate::attrs::AttrSet for $name {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
            fn read(r: &mut $crate::attrs::AttrReader) -> Result<Self, $crate::attrs::AttrError> {
                Ok($name { $($field: r.take(stringify!($field), $crate::attrs::default_of!($($default)?))?,)* })
            }
            fn write(&self, w: &mut $crate::attrs::AttrWriter<'_>) {
                $(
                    let default: Option<$ty> = $crate::attrs::default_of!($($default)?);
                    w.field(stringify!($field), &self.$field, default.as_ref());
                )*
            }
        }
    };
}

pub(crate) use {attr_set, default_of};

#[cfg(test)]
mod tests {
    use super::*;

    attr_set! {
        /// A test set.
        pub struct Demo {
            /// Required.
            pub sizes: Vec<u64>,
            /// Defaulted.
            pub alpha: f32 = 0.5,
            /// An enum.
            pub mode: PadMode = PadMode::Constant,
        }
    }

    fn reader(pairs: &[(&str, AttrValue)]) -> AttrReader {
        AttrReader::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn num(s: &str) -> AttrValue {
        AttrValue::Number(s.into())
    }

    #[test]
    fn reads_with_defaults_and_writes_only_changes() {
        let mut r = reader(&[("sizes", AttrValue::List(vec![num("1"), num("2")]))]);
        let d = Demo::read(&mut r).unwrap();
        r.finish("demo", Demo::NAMES).unwrap();
        assert_eq!(
            d,
            Demo {
                sizes: vec![1, 2],
                alpha: 0.5,
                mode: PadMode::Constant
            }
        );
        let namer = |t: ElemType| t.to_string();
        let mut w = AttrWriter::new(&namer);
        Demo {
            alpha: 0.25,
            mode: PadMode::Edge,
            ..d
        }
        .write(&mut w);
        assert_eq!(w.finish(), " {sizes = [1, 2], alpha = 0.25, mode = edge}");
    }

    #[test]
    fn reports_missing_unknown_and_mistyped() {
        let mut r = reader(&[]);
        assert_eq!(
            Demo::read(&mut r).unwrap_err().message,
            "missing attribute 'sizes'"
        );
        let mut r = reader(&[("sizes", AttrValue::List(vec![])), ("beta", num("1"))]);
        Demo::read(&mut r).unwrap();
        let e = r.finish("demo", Demo::NAMES).unwrap_err();
        assert_eq!(
            e.message,
            "unknown attribute 'beta' (expected sizes, alpha, mode)"
        );
        let mut r = reader(&[("sizes", num("-1"))]);
        assert_eq!(
            Demo::read(&mut r).unwrap_err().attr.as_deref(),
            Some("sizes")
        );
        let mut r = reader(&[
            ("sizes", AttrValue::List(vec![])),
            ("mode", AttrValue::Word("wrap".into())),
        ]);
        let e = Demo::read(&mut r).unwrap_err();
        assert_eq!(
            e.message,
            "expected one of constant, reflect, edge, found 'wrap'"
        );
    }
}
