//! Fuzz-style robustness of the text form: every truncation of every fixture, thousands of
//! deterministic byte mutations and random token soups must parse to a graph or to a located
//! error — never panic — and whatever parses and verifies must round-trip exactly.

mod common;

use qweave_ir::{parse, print, verify};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// xorshift64*: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Parses, verifies and re-prints `text`; panics (with the input) on any inconsistency.
fn check(text: &str, sidecar: Option<&qweave_ir::sidecar::Sidecar>) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(parsed) = parse(text, sidecar) {
            if let Err(e) = parse(text, sidecar) {
                panic!("parsing is not deterministic: {e}");
            }
            if verify(&parsed.graph).is_ok() {
                let once = print(&parsed.graph);
                let again = parse(&once, sidecar).expect("printed valid IR parses");
                assert_eq!(print(&again.graph), once, "valid IR does not round-trip");
            }
        }
    }));
    if let Err(e) = result {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(ToString::to_string));
        panic!("input made the IR panic ({msg:?}):\n-----\n{text}\n-----");
    }
}

#[test]
fn truncated_files() {
    for path in common::qir_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let sidecar = common::sidecar_of(&path);
        for (cut, _) in text.char_indices() {
            check(&text[..cut], sidecar.as_ref());
        }
    }
}

#[test]
fn mutated_files() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet: Vec<u8> = b"%@!<>[]{}(),=:x-.0123456789eafiqu\"\\ \n/".to_vec();
    for path in common::qir_files() {
        let original = std::fs::read(&path).unwrap();
        let sidecar = common::sidecar_of(&path);
        for _ in 0..300 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                match rng.below(5) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes[at] = alphabet[rng.below(alphabet.len())],
                    2 => {
                        bytes.remove(at.min(bytes.len().saturating_sub(1)));
                    }
                    3 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => {
                        let end = (at + rng.below(40)).min(bytes.len());
                        let chunk = bytes[at..end].to_vec();
                        let to = rng.below(bytes.len());
                        bytes.splice(to..to, chunk);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if let Ok(text) = String::from_utf8(bytes) {
                check(&text, sidecar.as_ref());
            }
        }
    }
}

#[test]
fn token_soup() {
    let tokens = [
        "graph",
        "@g",
        "(",
        ")",
        "->",
        "{",
        "}",
        "return",
        "%x",
        "%0",
        "%\"a b\"",
        ":",
        ",",
        "=",
        "tensor<1x2xf32>",
        "tensor<",
        ">",
        "4x",
        "f32",
        "i8",
        "u4",
        "bipolar",
        "!q0",
        "quant<u8, scale = 0.5>",
        "const",
        "dense<[1, 2]>",
        "splat<0>",
        "blob<00>",
        "onnx.relu",
        "onnx.conv",
        "q.requantize",
        "reshape",
        "{shape = [2]}",
        "[",
        "]",
        "loc(\"n\")",
        "1",
        "-3",
        "0.5",
        "1e40",
        "inf",
        "nan",
        "\n",
        "!q0 = quant<i8, axis = 0, scale = [1.0]>",
    ];
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let n = 1 + rng.below(40);
        let text: Vec<&str> = (0..n).map(|_| tokens[rng.below(tokens.len())]).collect();
        check(&text.join(" "), None);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!(
        "graph @g() -> () {{\n  %0 = reshape %0 {{shape = {}1{}}} : tensor<f32>\n  return\n}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = parse(&deep, None).unwrap_err();
    assert!(e.message.contains("nest"), "{e}");
}
