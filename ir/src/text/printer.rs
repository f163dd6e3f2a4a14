//! Prints a graph in the `.qir` text form.

use super::INLINE_LIMIT;
use super::lexer::escape;
use crate::arena::HandleMap;
use crate::attrs::AttrWriter;
use crate::data::Data;
use crate::float::fmt_f32;
use crate::graph::{Graph, Op, Value, ValueData};
use crate::quant::Quant;
use crate::sidecar::{BlobHash, Sidecar, encode};
use crate::types::{ElemType, TensorType};
use std::cell::RefCell;
use std::fmt::Write;

/// `name` when it is a plain identifier (a letter or `_`, then letters, digits, `_`, `.`),
/// otherwise the quoted, escaped string.
pub fn ident_or_quoted(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if plain {
        name.to_string()
    } else {
        escape(name)
    }
}

/// The printed names of a graph's values: `%name` for named values, `%N` for the others,
/// numbered in order of definition. The verifier uses the same names in its messages.
pub struct Names {
    names: HandleMap<ValueData, Option<String>>,
}

impl Names {
    /// Names every input and every result of a scheduled op.
    pub fn new(g: &Graph) -> Self {
        let mut names: HandleMap<ValueData, Option<String>> = HandleMap::new();
        let mut next = 0usize;
        let defined = g.inputs.iter().copied().chain(
            g.scheduled()
                .flat_map(|op| g.ops[op].results.iter().copied()),
        );
        for v in defined {
            if !g.values.contains(v) || names.get(v).is_some() {
                continue;
            }
            let text = match &g.values[v].name {
                Some(n) => format!("%{}", ident_or_quoted(n)),
                None => {
                    next += 1;
                    format!("%{}", next - 1)
                }
            };
            names.insert(v, Some(text));
        }
        Names { names }
    }

    /// The printed name of `v`; values no input or scheduled op defines show their handle.
    pub fn value(&self, v: Value) -> String {
        self.names
            .get(v)
            .clone()
            .unwrap_or_else(|| format!("%<undefined {v:?}>"))
    }
}

/// Names quantized types `!q0`, `!q1`, ... in order of first use.
#[derive(Default)]
struct TypeNames {
    order: RefCell<Vec<Quant>>,
}

impl TypeNames {
    fn elem(&self, e: ElemType) -> String {
        match e {
            ElemType::Quant(q) => {
                let mut order = self.order.borrow_mut();
                let i = order.iter().position(|&x| x == q).unwrap_or_else(|| {
                    order.push(q);
                    order.len() - 1
                });
                format!("!q{i}")
            }
            other => other.to_string(),
        }
    }

    fn tensor(&self, t: &TensorType) -> String {
        let mut s = String::from("tensor<");
        for d in &t.shape {
            let _ = write!(s, "{d}x");
        }
        s.push_str(&self.elem(t.elem));
        s.push('>');
        s
    }
}

/// Prints `g`; large constants appear as `blob<hash>` without their data.
pub fn print(g: &Graph) -> String {
    print_impl(g, None)
}

/// Prints `g` and collects the data of its large constants into a sidecar.
pub fn print_with_sidecar(g: &Graph) -> (String, Sidecar) {
    let mut sidecar = Sidecar::new();
    let text = print_impl(g, Some(&mut sidecar));
    (text, sidecar)
}

fn const_text(data: &Data, ty: &TensorType, sidecar: Option<&mut Sidecar>) -> String {
    let (n, all_equal, first) = match data {
        Data::F32(v) => (
            v.len(),
            splat(v.iter().map(|x| x.to_bits())),
            v.first().map(|&x| fmt_f32(x)),
        ),
        Data::Int(v) => (
            v.len(),
            splat(v.iter().copied()),
            v.first().map(i64::to_string),
        ),
    };
    if n >= 2 && all_equal {
        return format!("splat<{}>", first.unwrap_or_default());
    }
    if n > INLINE_LIMIT {
        return blob(data, ty, sidecar);
    }
    let elems: Vec<String> = match data {
        Data::F32(v) => v.iter().map(|&x| fmt_f32(x)).collect(),
        Data::Int(v) => v.iter().map(i64::to_string).collect(),
    };
    if ty.rank() == 0 && elems.len() == 1 {
        format!("dense<{}>", elems[0])
    } else {
        format!("dense<[{}]>", elems.join(", "))
    }
}

fn splat<T: PartialEq>(mut it: impl Iterator<Item = T>) -> bool {
    match it.next() {
        Some(first) => it.all(|x| x == first),
        None => false,
    }
}

fn blob(data: &Data, ty: &TensorType, sidecar: Option<&mut Sidecar>) -> String {
    let bytes = encode(data, ty.elem);
    let hash = match sidecar {
        Some(s) => s.insert(bytes),
        None => BlobHash::of(&bytes),
    };
    format!("blob<{hash}>")
}

fn print_impl(g: &Graph, mut sidecar: Option<&mut Sidecar>) -> String {
    let names = Names::new(g);
    let types = TypeNames::default();
    let mut body = String::new();
    let inputs: Vec<String> = g
        .inputs
        .iter()
        .map(|&v| format!("{}: {}", names.value(v), types.tensor(&g.values[v].ty)))
        .collect();
    let outputs: Vec<String> = g
        .outputs
        .iter()
        .map(|&v| {
            if g.values.contains(v) {
                types.tensor(&g.values[v].ty)
            } else {
                "<undefined>".into()
            }
        })
        .collect();
    let _ = writeln!(
        body,
        "graph @{}({}) -> ({}) {{",
        ident_or_quoted(&g.name),
        inputs.join(", "),
        outputs.join(", ")
    );
    for op in g.scheduled() {
        body.push_str("  ");
        body.push_str(&op_line(g, op, &names, &types, sidecar.as_deref_mut()));
        body.push('\n');
    }
    let outs: Vec<String> = g.outputs.iter().map(|&v| names.value(v)).collect();
    if outs.is_empty() {
        body.push_str("  return\n}\n");
    } else {
        let _ = writeln!(body, "  return {}\n}}", outs.join(", "));
    }
    let mut text = String::new();
    for (i, q) in types.order.borrow().iter().enumerate() {
        let _ = writeln!(text, "!q{i} = {}", q.get());
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text + &body
}

fn op_line(
    g: &Graph,
    op: Op,
    names: &Names,
    types: &TypeNames,
    sidecar: Option<&mut Sidecar>,
) -> String {
    let data = &g.ops[op];
    let mut line = String::new();
    let results: Vec<String> = data.results.iter().map(|&v| names.value(v)).collect();
    if !results.is_empty() {
        let _ = write!(line, "{} = ", results.join(", "));
    }
    line.push_str(data.kind.name());
    let result_types: Vec<String> = data
        .results
        .iter()
        .map(|&v| {
            if g.values.contains(v) {
                types.tensor(&g.values[v].ty)
            } else {
                "<undefined>".into()
            }
        })
        .collect();
    if let Some(d) = data.kind.as_const() {
        let ty = data
            .results
            .first()
            .filter(|&&v| g.values.contains(v))
            .map(|&v| &g.values[v].ty);
        let fallback = TensorType::new(vec![d.len() as u64], ElemType::F32);
        let _ = write!(line, " {}", const_text(d, ty.unwrap_or(&fallback), sidecar));
    } else {
        let operands: Vec<String> = data.operands.iter().map(|&v| names.value(v)).collect();
        if !operands.is_empty() {
            let _ = write!(line, " {}", operands.join(", "));
        }
        let namer = |e: ElemType| types.elem(e);
        let mut w = AttrWriter::new(&namer);
        data.kind.write_attrs(&mut w);
        line.push_str(&w.finish());
    }
    let _ = write!(line, " : {}", result_types.join(", "));
    if let Some(src) = &data.source {
        let _ = write!(line, " loc({})", escape(src));
    }
    line
}
