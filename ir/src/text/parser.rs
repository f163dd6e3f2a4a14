//! Parses the `.qir` text form into a graph plus a map from ops back to source positions.
//!
//! Syntax errors stop at the first one, with its line:column and what was expected. Names
//! are resolved after the whole graph is read, so a use before its definition parses and is
//! then reported by the verifier as a dependency-order violation at the using op.

use super::lexer::{Lexer, Pos, Tok};
use super::{ParseError, Parsed, SourceMap};
use crate::attrs::{AttrReader, AttrValue};
use crate::data::Data;
use crate::float::parse_f32;
use crate::graph::{Graph, Op, Value};
use crate::ops::OpKind;
use crate::quant::{Quant, QuantType};
use crate::sidecar::{BlobHash, Sidecar, decode};
use crate::types::{ElemType, IntType, Storage, TensorType};
use std::collections::{BTreeMap, HashMap};

/// Lists in attributes and constants may nest this deep.
const MAX_NESTING: usize = 16;

type Result<T> = std::result::Result<T, ParseError>;

fn err<T>(pos: Pos, message: impl Into<String>) -> Result<T> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

/// A value reference as written: its name and whether it was the numbered form.
type Key = (String, bool);

struct Parser<'a> {
    lx: Lexer<'a>,
    peeked: Option<(Pos, Tok)>,
    aliases: HashMap<String, ElemType>,
    sidecar: Option<&'a Sidecar>,
    graph: Graph,
    spans: SourceMap,
    defs: HashMap<Key, (Value, Pos)>,
    pending: Vec<(Op, Vec<(Key, Pos)>)>,
}

/// Parses `src`, looking large constants up in `sidecar`.
pub fn parse(src: &str, sidecar: Option<&Sidecar>) -> Result<Parsed> {
    let mut p = Parser {
        lx: Lexer::new(src),
        peeked: None,
        aliases: HashMap::new(),
        sidecar,
        graph: Graph::new(""),
        spans: SourceMap::default(),
        defs: HashMap::new(),
        pending: Vec::new(),
    };
    p.file()?;
    Ok(Parsed {
        graph: p.graph,
        spans: p.spans,
    })
}

fn key_text((name, numbered): &Key) -> String {
    if *numbered {
        format!("%{name}")
    } else {
        format!("%{}", super::printer::ident_or_quoted(name))
    }
}

fn int_type_word(word: &str) -> Option<std::result::Result<IntType, String>> {
    let signed = match word.as_bytes().first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let digits = &word[1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match digits.parse::<u8>() {
        Ok(bits) if (1..=32).contains(&bits) => Ok(IntType { signed, bits }),
        _ => Err(format!("integer width {digits} is outside 1..=32")),
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<&Tok> {
        if self.peeked.is_none() {
            let t = self
                .lx
                .next_token()
                .map_err(|(pos, message)| ParseError { pos, message })?;
            self.peeked = Some(t);
        }
        Ok(&self.peeked.as_ref().expect("just filled").1)
    }

    fn next(&mut self) -> Result<(Pos, Tok)> {
        self.peek()?;
        Ok(self.peeked.take().expect("just filled"))
    }

    fn pos(&mut self) -> Result<Pos> {
        self.peek()?;
        Ok(self.peeked.as_ref().expect("just filled").0)
    }

    fn expected<T>(&mut self, what: &str) -> Result<T> {
        let (pos, tok) = self.next()?;
        err(pos, format!("expected {what}, found {tok}"))
    }

    fn punct(&mut self, c: char) -> Result<Pos> {
        if *self.peek()? == Tok::Punct(c) {
            Ok(self.next()?.0)
        } else {
            self.expected(&format!("'{c}'"))
        }
    }

    fn eat_punct(&mut self, c: char) -> Result<bool> {
        if *self.peek()? == Tok::Punct(c) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn keyword(&mut self, word: &str) -> Result<Pos> {
        match self.peek()? {
            Tok::Ident(w) if w == word => Ok(self.next()?.0),
            _ => self.expected(&format!("'{word}'")),
        }
    }

    fn file(&mut self) -> Result<()> {
        while let Tok::Bang(_) = self.peek()? {
            self.alias()?;
        }
        self.graph_def()?;
        match self.next()? {
            (_, Tok::Eof) => Ok(()),
            (pos, tok) => err(
                pos,
                format!("expected end of file after the graph, found {tok}"),
            ),
        }
    }

    fn alias(&mut self) -> Result<()> {
        let (pos, tok) = self.next()?;
        let Tok::Bang(name) = tok else {
            unreachable!("alias() is called on '!'")
        };
        self.punct('=')?;
        let ty = self.quant_type()?;
        if self.aliases.insert(name.clone(), ty).is_some() {
            return err(pos, format!("type alias !{name} is defined twice"));
        }
        Ok(())
    }

    fn storage(&mut self) -> Result<Storage> {
        let (pos, tok) = self.next()?;
        match &tok {
            Tok::Ident(w) if w == "bipolar" => Ok(Storage::Bipolar),
            Tok::Ident(w) => match int_type_word(w) {
                Some(Ok(t)) => Ok(Storage::Int(t)),
                Some(Err(e)) => err(pos, e),
                None => err(
                    pos,
                    format!("expected an integer type or bipolar, found {tok}"),
                ),
            },
            _ => err(
                pos,
                format!("expected an integer type or bipolar, found {tok}"),
            ),
        }
    }

    /// `quant<storage, [axis = n,] scale = s | [s...], [zp = z | [z...]]>`.
    fn quant_type(&mut self) -> Result<ElemType> {
        let pos = self.keyword("quant")?;
        self.punct('<')?;
        let storage = self.storage()?;
        let mut fields: BTreeMap<String, (Pos, AttrValue)> = BTreeMap::new();
        while self.eat_punct(',')? {
            let (fpos, tok) = self.next()?;
            let Tok::Ident(name) = tok else {
                return err(fpos, format!("expected axis, scale or zp, found {tok}"));
            };
            if !["axis", "scale", "zp"].contains(&name.as_str()) {
                return err(
                    fpos,
                    format!("unknown quantization field '{name}' (expected axis, scale or zp)"),
                );
            }
            self.punct('=')?;
            let value = self.attr_value(0)?;
            if fields.insert(name.clone(), (fpos, value)).is_some() {
                return err(fpos, format!("field '{name}' is given twice"));
            }
        }
        self.punct('>')?;
        let field = |name: &str| fields.get(name).map(|(p, v)| (*p, v.clone()));
        let to_err = |p: Pos, e: String| ParseError { pos: p, message: e };
        use crate::attrs::AttrKind;
        let (spos, scale) = field("scale").ok_or(ParseError {
            pos,
            message: "missing field 'scale'".into(),
        })?;
        let ty = match field("axis") {
            None => {
                let scale = f32::from_attr(&scale).map_err(|e| to_err(spos, e))?;
                let zp = match field("zp") {
                    Some((p, v)) => i64::from_attr(&v).map_err(|e| to_err(p, e))?,
                    None => 0,
                };
                QuantType::per_tensor(storage, scale, zp)
            }
            Some((apos, axis)) => {
                let axis = u64::from_attr(&axis).map_err(|e| to_err(apos, e))?;
                let scales = Vec::<f32>::from_attr(&scale).map_err(|e| to_err(spos, e))?;
                let zps = match field("zp") {
                    Some((p, v)) => Vec::<i64>::from_attr(&v).map_err(|e| to_err(p, e))?,
                    None => vec![0; scales.len()],
                };
                let axis = usize::try_from(axis)
                    .ok()
                    .filter(|&a| a < crate::types::MAX_RANK);
                let axis = axis.ok_or_else(|| to_err(apos, "the axis is out of range".into()))?;
                QuantType::per_axis(storage, axis, scales, zps)
            }
        };
        ty.check()
            .map_err(|e| to_err(pos, format!("invalid quantized type: {e}")))?;
        Ok(ElemType::Quant(Quant::intern(ty)))
    }

    fn elem_type(&mut self) -> Result<ElemType> {
        let pos = self.pos()?;
        match self.peek()?.clone() {
            Tok::Ident(w) if w == "quant" => self.quant_type(),
            Tok::Ident(w) => {
                self.next()?;
                match w.as_str() {
                    "f32" => Ok(ElemType::F32),
                    "bipolar" => Ok(ElemType::Bipolar),
                    _ => match int_type_word(&w) {
                        Some(Ok(t)) => Ok(ElemType::Int(t)),
                        Some(Err(e)) => err(pos, e),
                        None => err(pos, format!("expected an element type, found '{w}'")),
                    },
                }
            }
            Tok::Bang(name) => {
                self.next()?;
                match self.aliases.get(&name) {
                    Some(t) => Ok(*t),
                    None => err(pos, format!("unknown type alias !{name}")),
                }
            }
            _ => self.expected("an element type"),
        }
    }

    /// `tensor<d0xd1x...xelem>`.
    fn tensor_type(&mut self) -> Result<TensorType> {
        let pos = self.keyword("tensor")?;
        self.punct('<')?;
        // `<` was the buffered token, so the lexer now stands right before the dimensions.
        let dims = self
            .lx
            .dims()
            .map_err(|(pos, message)| ParseError { pos, message })?;
        let elem = self.elem_type()?;
        self.punct('>')?;
        let ty = TensorType::new(dims.into_iter().map(|(_, d)| d).collect::<Vec<_>>(), elem);
        ty.check().map_err(|e| ParseError {
            pos,
            message: format!("invalid type {ty}: {e}"),
        })?;
        Ok(ty)
    }

    fn value_ref(&mut self) -> Result<(Key, Pos)> {
        match self.next()? {
            (pos, Tok::Value { name, numbered }) => Ok(((name, numbered), pos)),
            (pos, tok) => err(pos, format!("expected a value (%name), found {tok}")),
        }
    }

    fn define(&mut self, key: Key, pos: Pos, v: Value) -> Result<()> {
        if let Some((_, first)) = self.defs.get(&key) {
            return err(
                pos,
                format!(
                    "value {} is defined twice (first at {first})",
                    key_text(&key)
                ),
            );
        }
        if !key.1 {
            self.graph.values[v].name = Some(key.0.clone());
        }
        self.defs.insert(key, (v, pos));
        Ok(())
    }

    fn graph_def(&mut self) -> Result<()> {
        self.spans.graph = self.keyword("graph")?;
        match self.next()? {
            (_, Tok::At(name)) => self.graph.name = name,
            (pos, tok) => return err(pos, format!("expected the graph name (@name), found {tok}")),
        }
        self.punct('(')?;
        if !self.eat_punct(')')? {
            loop {
                let (key, pos) = self.value_ref()?;
                self.punct(':')?;
                let ty = self.tensor_type()?;
                let v = self.graph.add_input(None, ty);
                self.define(key, pos, v)?;
                self.spans.inputs.push(pos);
                if !self.eat_punct(',')? {
                    break;
                }
            }
            self.punct(')')?;
        }
        match self.next()? {
            (_, Tok::Arrow) => {}
            (pos, tok) => {
                return err(
                    pos,
                    format!("expected '->' and the result types, found {tok}"),
                );
            }
        }
        self.punct('(')?;
        let mut signature = Vec::new();
        if !self.eat_punct(')')? {
            loop {
                let pos = self.pos()?;
                signature.push((pos, self.tensor_type()?));
                if !self.eat_punct(',')? {
                    break;
                }
            }
            self.punct(')')?;
        }
        self.punct('{')?;
        loop {
            match self.peek()? {
                Tok::Ident(w) if w == "return" => break,
                Tok::Value { .. } => self.statement()?,
                _ => return self.expected("an op (%result = ...) or 'return'"),
            }
        }
        let ret = self.keyword("return")?;
        let mut outputs = Vec::new();
        if matches!(self.peek()?, Tok::Value { .. }) {
            loop {
                outputs.push(self.value_ref()?);
                if !self.eat_punct(',')? {
                    break;
                }
            }
        }
        self.punct('}')?;
        self.resolve(ret, &signature, &outputs)
    }

    fn lookup(&self, key: &Key, pos: Pos) -> Result<Value> {
        match self.defs.get(key) {
            Some((v, _)) => Ok(*v),
            None => err(pos, format!("use of undefined value {}", key_text(key))),
        }
    }

    fn resolve(
        &mut self,
        ret: Pos,
        signature: &[(Pos, TensorType)],
        outputs: &[(Key, Pos)],
    ) -> Result<()> {
        for (op, refs) in std::mem::take(&mut self.pending) {
            let operands = refs
                .iter()
                .map(|(k, p)| self.lookup(k, *p))
                .collect::<Result<Vec<_>>>()?;
            self.graph.ops[op].operands = operands;
        }
        if outputs.len() != signature.len() {
            return err(
                ret,
                format!(
                    "return gives {} values but the signature declares {}",
                    outputs.len(),
                    signature.len()
                ),
            );
        }
        for ((key, pos), (_, declared)) in outputs.iter().zip(signature) {
            let v = self.lookup(key, *pos)?;
            if self.graph.values[v].ty != *declared {
                return err(
                    *pos,
                    format!(
                        "{} is {} but the signature declares {declared}",
                        key_text(key),
                        self.graph.values[v].ty
                    ),
                );
            }
            self.graph.outputs.push(v);
            self.spans.outputs.push(*pos);
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<()> {
        let start = self.pos()?;
        let mut results = vec![self.value_ref()?];
        while self.eat_punct(',')? {
            results.push(self.value_ref()?);
        }
        self.punct('=')?;
        let (name_pos, name) = match self.next()? {
            (p, Tok::Ident(n)) => (p, n),
            (p, tok) => return err(p, format!("expected an op name, found {tok}")),
        };
        let (kind, operands) = if name == "const" {
            (None, Vec::new())
        } else {
            let mut operands = Vec::new();
            if matches!(self.peek()?, Tok::Value { .. }) {
                loop {
                    operands.push(self.value_ref()?);
                    if !self.eat_punct(',')? {
                        break;
                    }
                }
            }
            (Some(self.op_kind(&name, name_pos)?), operands)
        };
        let const_syntax = if kind.is_none() {
            Some(self.const_syntax()?)
        } else {
            None
        };
        let colon = self.punct(':')?;
        let mut types = vec![self.tensor_type()?];
        while self.eat_punct(',')? {
            types.push(self.tensor_type()?);
        }
        if types.len() != results.len() {
            return err(
                colon,
                format!(
                    "{} results are named but {} types are given",
                    results.len(),
                    types.len()
                ),
            );
        }
        let kind = match (kind, const_syntax) {
            (Some(k), _) => k,
            (None, Some((pos, syntax))) => {
                if types.len() != 1 {
                    return err(colon, "a constant has exactly one result");
                }
                OpKind::Const(self.const_data(pos, syntax, &types[0])?)
            }
            (None, None) => unreachable!("const syntax is parsed for const"),
        };
        let loc = if matches!(self.peek()?, Tok::Ident(w) if w == "loc") {
            self.next()?;
            self.punct('(')?;
            let s = match self.next()? {
                (_, Tok::Str(s)) => s,
                (p, tok) => return err(p, format!("expected a quoted source name, found {tok}")),
            };
            self.punct(')')?;
            Some(s)
        } else {
            None
        };
        let op = self.graph.push_op(kind, Vec::new(), types, loc);
        *self.spans.ops.get_mut(op) = Some(start);
        let values = self.graph.ops[op].results.clone();
        for ((key, pos), v) in results.into_iter().zip(values) {
            self.define(key, pos, v)?;
        }
        self.pending.push((op, operands));
        Ok(())
    }

    fn op_kind(&mut self, name: &str, pos: Pos) -> Result<OpKind> {
        let mut attrs = BTreeMap::new();
        let mut attr_pos = HashMap::new();
        if self.eat_punct('{')? && !self.eat_punct('}')? {
            loop {
                let (apos, tok) = self.next()?;
                let Tok::Ident(aname) = tok else {
                    return err(apos, format!("expected an attribute name, found {tok}"));
                };
                self.punct('=')?;
                let value = self.attr_value(0)?;
                if attrs.insert(aname.clone(), value).is_some() {
                    return err(apos, format!("attribute '{aname}' is given twice"));
                }
                attr_pos.insert(aname, apos);
                if !self.eat_punct(',')? {
                    break;
                }
            }
            self.punct('}')?;
        }
        let mut reader = AttrReader::new(attrs);
        let Some(kind) = OpKind::from_name(name, &mut reader) else {
            let best = OpKind::NAMES
                .iter()
                .chain(&["const"])
                .min_by_key(|n| edit_distance(name, n));
            let hint = match best {
                Some(b) if edit_distance(name, b) <= 3 => format!(" (did you mean '{b}'?)"),
                _ => String::new(),
            };
            return err(pos, format!("unknown op '{name}'{hint}"));
        };
        let locate = |e: crate::attrs::AttrError| {
            let at = e
                .attr
                .as_ref()
                .and_then(|a| attr_pos.get(a))
                .copied()
                .unwrap_or(pos);
            let message = match &e.attr {
                Some(a) if !e.message.starts_with("unknown attribute") => {
                    format!("attribute '{a}' of {name}: {}", e.message)
                }
                _ => format!("{name}: {}", e.message),
            };
            ParseError { pos: at, message }
        };
        let kind = kind.map_err(locate)?;
        reader
            .finish(name, OpKind::attr_names(name))
            .map_err(locate)?;
        Ok(kind)
    }

    fn attr_value(&mut self, depth: usize) -> Result<AttrValue> {
        let pos = self.pos()?;
        if depth > MAX_NESTING {
            return err(pos, format!("lists nest more than {MAX_NESTING} deep"));
        }
        match self.peek()?.clone() {
            Tok::Number(n) => {
                self.next()?;
                Ok(AttrValue::Number(n))
            }
            Tok::Ident(w) if w == "inf" || w == "nan" => {
                self.next()?;
                Ok(AttrValue::Number(w))
            }
            Tok::Ident(w)
                if w == "quant" || w == "f32" || w == "bipolar" || int_type_word(&w).is_some() =>
            {
                Ok(AttrValue::Type(self.elem_type()?))
            }
            Tok::Bang(_) => Ok(AttrValue::Type(self.elem_type()?)),
            Tok::Ident(w) => {
                self.next()?;
                Ok(AttrValue::Word(w))
            }
            Tok::Punct('[') => {
                self.next()?;
                let mut items = Vec::new();
                if !self.eat_punct(']')? {
                    loop {
                        items.push(self.attr_value(depth + 1)?);
                        if !self.eat_punct(',')? {
                            break;
                        }
                    }
                    self.punct(']')?;
                }
                Ok(AttrValue::List(items))
            }
            _ => self.expected("an attribute value"),
        }
    }

    fn number_text(&mut self) -> Result<(Pos, String)> {
        match self.next()? {
            (p, Tok::Number(n)) => Ok((p, n)),
            (p, Tok::Ident(w)) if w == "inf" || w == "nan" => Ok((p, w)),
            (p, tok) => err(p, format!("expected a number, found {tok}")),
        }
    }

    /// `dense<v>`, `dense<[v, ...]>`, `splat<v>` or `blob<hash>`, read before the type.
    fn const_syntax(&mut self) -> Result<(Pos, ConstSyntax)> {
        let (pos, tok) = self.next()?;
        let Tok::Ident(form) = tok else {
            return err(
                pos,
                format!("expected dense<...>, splat<...> or blob<...>, found {tok}"),
            );
        };
        self.punct('<')?;
        let syntax = match form.as_str() {
            "dense" if self.eat_punct('[')? => {
                let mut items = Vec::new();
                if !self.eat_punct(']')? {
                    loop {
                        items.push(self.number_text()?);
                        if !self.eat_punct(',')? {
                            break;
                        }
                    }
                    self.punct(']')?;
                }
                ConstSyntax::Dense(items)
            }
            "dense" => ConstSyntax::Dense(vec![self.number_text()?]),
            "splat" => ConstSyntax::Splat(self.number_text()?),
            "blob" => {
                let (hpos, tok) = self.next()?;
                let text = match &tok {
                    Tok::Number(t) | Tok::Ident(t) => t.clone(),
                    _ => String::new(),
                };
                match BlobHash::parse(&text) {
                    Some(h) => ConstSyntax::Blob(hpos, h),
                    None => {
                        return err(
                            hpos,
                            format!("expected a 32-digit hex blob hash, found {tok}"),
                        );
                    }
                }
            }
            _ => {
                return err(
                    pos,
                    format!("expected dense<...>, splat<...> or blob<...>, found '{form}'"),
                );
            }
        };
        self.punct('>')?;
        Ok((pos, syntax))
    }

    fn const_data(&self, pos: Pos, syntax: ConstSyntax, ty: &TensorType) -> Result<Data> {
        let n = ty.numel();
        let element = |(p, text): &(Pos, String)| -> Result<Element> {
            if ty.elem.is_float() {
                parse_f32(text).map(Element::F).ok_or(ParseError {
                    pos: *p,
                    message: format!("'{text}' is not a float"),
                })
            } else {
                text.parse::<i64>().map(Element::I).map_err(|_| ParseError {
                    pos: *p,
                    message: format!("'{text}' is not an integer ({ty} holds integers)"),
                })
            }
        };
        let data = match syntax {
            ConstSyntax::Dense(items) => {
                if items.len() != n {
                    return err(
                        pos,
                        format!("{} elements given for {ty}, which has {n}", items.len()),
                    );
                }
                let elements = items.iter().map(element).collect::<Result<Vec<_>>>()?;
                if ty.elem.is_float() {
                    Data::F32(elements.iter().map(Element::float).collect())
                } else {
                    Data::Int(elements.iter().map(Element::int).collect())
                }
            }
            ConstSyntax::Splat(item) => match element(&item)? {
                Element::F(x) => Data::F32(vec![x; n].into()),
                Element::I(x) => Data::Int(vec![x; n].into()),
            },
            ConstSyntax::Blob(hpos, h) => {
                let Some(sidecar) = self.sidecar else {
                    return err(
                        hpos,
                        format!("blob<{h}> needs the sidecar (.qwb) file, which was not found"),
                    );
                };
                let Some(bytes) = sidecar.get(&h) else {
                    return err(hpos, format!("blob<{h}> is not in the sidecar (.qwb) file"));
                };
                return decode(bytes, ty).map_err(|e| ParseError {
                    pos: hpos,
                    message: format!("blob<{h}>: {e}"),
                });
            }
        };
        data.check(ty).map_err(|e| ParseError {
            pos,
            message: format!("constant does not fit its type: {e}"),
        })?;
        Ok(data)
    }
}

#[derive(Clone, Copy)]
enum Element {
    F(f32),
    I(i64),
}

impl Element {
    fn float(&self) -> f32 {
        match self {
            Element::F(x) => *x,
            Element::I(_) => unreachable!("float types parse float elements"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Element::I(x) => *x,
            Element::F(_) => unreachable!("integer types parse integer elements"),
        }
    }
}

enum ConstSyntax {
    Dense(Vec<(Pos, String)>),
    Splat((Pos, String)),
    Blob(Pos, BlobHash),
}
