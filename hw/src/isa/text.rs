//! The text form of a program (`program.s`): one instruction per line, `mnemonic @layer
//! field=value ... [pop=prev,next] [push=prev,next]`, `#` starting a comment.

use super::fields::{Kind, Visitor};
use super::{Deps, Instr, IsaError, MNEMONICS, Op};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One instruction's line, without a newline.
pub fn print_one(i: &Instr) -> String {
    struct Printer(String);
    impl Visitor for Printer {
        fn field(&mut self, name: &'static str, kind: Kind, v: &mut i64) -> Result<(), IsaError> {
            let _ = match kind {
                Kind::Enum(names) => {
                    let text = usize::try_from(*v).ok().and_then(|i| names.get(i));
                    write!(self.0, " {name}={}", text.unwrap_or(&"?"))
                }
                _ => write!(self.0, " {name}={v}"),
            };
            Ok(())
        }
    }
    let mut p = Printer(format!("{} @{}", i.op.mnemonic(), i.layer));
    let mut op = i.op;
    // Printing never fails: every value of a well-typed op is in range.
    let _ = op.visit(&mut p);
    let d = i.deps;
    for (verb, prev, next) in [
        ("pop", d.pop_prev, d.pop_next),
        ("push", d.push_prev, d.push_next),
    ] {
        let sides: Vec<&str> = [(prev, "prev"), (next, "next")]
            .iter()
            .filter(|s| s.0)
            .map(|s| s.1)
            .collect();
        if !sides.is_empty() {
            let _ = write!(p.0, " {verb}={}", sides.join(","));
        }
    }
    p.0
}

/// A program's text; with `layer_names`, a comment names each layer where it starts.
pub fn print(program: &[Instr], layer_names: &[String]) -> String {
    let mut out = String::new();
    let mut last = None;
    for i in program {
        if last != Some(i.layer) {
            if let Some(name) = layer_names.get(usize::from(i.layer)) {
                let _ = writeln!(out, "# layer {}: {name}", i.layer);
            }
            last = Some(i.layer);
        }
        out.push_str(&print_one(i));
        out.push('\n');
    }
    out
}

/// Assembles a program's text.
pub fn parse(text: &str) -> Result<Vec<Instr>, IsaError> {
    let mut program = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let i = parse_line(line).map_err(|message| IsaError::Text {
            line: n + 1,
            message,
        })?;
        program.push(i);
    }
    Ok(program)
}

fn parse_line(line: &str) -> Result<Instr, String> {
    let mut words = line.split_whitespace();
    let mnemonic = words.next().unwrap_or("");
    let opcode = MNEMONICS
        .iter()
        .position(|&m| m == mnemonic)
        .ok_or_else(|| {
            format!(
                "unknown instruction '{mnemonic}' (one of {})",
                MNEMONICS.join(", ")
            )
        })?;
    let mut op = Op::zeroed(opcode as u8 + 1).ok_or("unknown opcode")?;
    let mut layer = None;
    let mut deps = Deps::default();
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    for w in words {
        if let Some(l) = w.strip_prefix('@') {
            let v = l
                .parse::<u16>()
                .map_err(|_| format!("layer '{l}' is not 0 to 65535"))?;
            if layer.replace(v).is_some() {
                return Err("two layers given".into());
            }
            continue;
        }
        let (key, value) = w
            .split_once('=')
            .ok_or_else(|| format!("'{w}' is not field=value"))?;
        if key == "pop" || key == "push" {
            for side in value.split(',') {
                let flag = match (key, side) {
                    ("pop", "prev") => &mut deps.pop_prev,
                    ("pop", "next") => &mut deps.pop_next,
                    ("push", "prev") => &mut deps.push_prev,
                    ("push", "next") => &mut deps.push_next,
                    _ => return Err(format!("{key}={value}: the sides are prev and next")),
                };
                *flag = true;
            }
        } else if values.insert(key, value).is_some() {
            return Err(format!("field '{key}' given twice"));
        }
    }
    struct Taker<'a>(BTreeMap<&'a str, &'a str>);
    impl Visitor for Taker<'_> {
        fn field(&mut self, name: &'static str, kind: Kind, v: &mut i64) -> Result<(), IsaError> {
            let err = |message: String| IsaError::Text { line: 0, message };
            let text = self
                .0
                .remove(name)
                .ok_or_else(|| err(format!("field '{name}' is missing")))?;
            *v = match kind {
                Kind::Enum(names) => names
                    .iter()
                    .position(|&n| n == text)
                    .ok_or_else(|| err(format!("{name}={text}: one of {}", names.join(", "))))?
                    as i64,
                _ => parse_int(text)
                    .ok_or_else(|| err(format!("{name}={text} is not an integer")))?,
            };
            let (lo, hi) = kind.range();
            if *v < lo || *v > hi {
                return Err(err(format!("{name}={text} is outside {lo}..={hi}")));
            }
            Ok(())
        }
    }
    let mut t = Taker(values);
    op.visit(&mut t).map_err(|e| match e {
        IsaError::Text { message, .. } => message,
        other => other.to_string(),
    })?;
    if let Some(extra) = t.0.keys().next() {
        return Err(format!("{mnemonic} has no field '{extra}'"));
    }
    let i = Instr {
        deps,
        layer: layer.ok_or("the layer (@N) is missing")?,
        op,
    };
    i.check_deps().map_err(|e| e.to_string())?;
    Ok(i)
}

/// A decimal (optionally negative) or `0x` hexadecimal integer.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let magnitude = match digits.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_assemble_and_print_back() {
        let src = "# a comment\n\
            load @2 buf=inp fmt=signed bits=8 pad_top=1 pad_bottom=1 pad_left=1 pad_right=1 \
            sram=0 dram=0x40 z=1 y=8 x=8 zs=64 ys=8 xs=1 offset=-128 fill=0 bit=0 push=next\n\
            \n\
            end @2 pop=prev # done\n";
        let p = parse(src).unwrap();
        assert_eq!(p.len(), 2);
        let Op::Load(l) = p[0].op else {
            panic!("{:?}", p[0])
        };
        assert_eq!((l.dram, l.offset, l.pad_top), (64, -128, 1));
        assert!(p[0].deps.push_next && p[1].deps.pop_prev);
        let text = print(&p, &["a".into(), "b".into(), "conv1".into()]);
        assert!(
            text.starts_with("# layer 2: conv1\nload @2 buf=inp"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), p);
    }

    #[test]
    fn bad_lines_say_what_and_where() {
        let cases = [
            ("jump @0", "unknown instruction 'jump'"),
            ("end", "layer (@N) is missing"),
            ("end @0 x=1", "no field 'x'"),
            (
                "config @0 w=8 a=8 wfmt=signed afmt=signed",
                "'acc_bits' is missing",
            ),
            (
                "config @0 w=8 a=8 wfmt=odd afmt=signed acc_bits=32",
                "one of signed, unsigned, bipolar",
            ),
            (
                "config @0 w=256 a=8 wfmt=signed afmt=signed acc_bits=32",
                "outside 0..=255",
            ),
            ("end @0 pop=up", "sides are prev and next"),
            (
                "store @0 sram=0 dram=0 fmt=signed bits=8 z=1 y=1 x=1 zs=0 ys=0 xs=1 bit=0 push=next",
                "no next neighbour",
            ),
            ("end @0 @1", "two layers"),
        ];
        for (line, want) in cases {
            let e = parse(&format!("\n{line}\n")).unwrap_err().to_string();
            assert!(e.starts_with("line 2: ") && e.contains(want), "{line}: {e}");
        }
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
    }
}
