//! Tokens of the `.qir` text form, produced on demand with their line and column.

use std::fmt;

/// A line:column position, both counted from 1 (columns in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `%name`, `%"any name"` (named) or `%12` (numbered, `numbered` true).
    Value { name: String, numbered: bool },
    /// `@name` or `@"any name"`.
    At(String),
    /// `!name`.
    Bang(String),
    /// A word: letters, digits, `_` and `.`, not starting with a digit.
    Ident(String),
    /// A numeric literal: an optional `-`, then a digit and letters, digits, `.`, or a sign
    /// after an exponent; or `-inf`.
    Number(String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// One of `( ) { } [ ] < > , = :`.
    Punct(char),
    /// `->`.
    Arrow,
    /// End of input.
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Value {
                name,
                numbered: true,
            } => write!(f, "value %{name}"),
            Tok::Value { name, .. } => {
                write!(f, "value %{}", super::printer::ident_or_quoted(name))
            }
            Tok::At(n) => write!(f, "'@{n}'"),
            Tok::Bang(n) => write!(f, "'!{n}'"),
            Tok::Ident(n) => write!(f, "'{n}'"),
            Tok::Number(n) => write!(f, "number {n}"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Punct(c) => write!(f, "'{c}'"),
            Tok::Arrow => f.write_str("'->'"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// A lexing failure.
pub type LexError = (Pos, String);

/// A cursor over the source that yields tokens.
pub struct Lexer<'a> {
    src: &'a str,
    offset: usize,
    pos: Pos,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            offset: 0,
            pos: Pos { line: 1, col: 1 },
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.offset..]
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn eat_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.offset;
        while self.peek_char().is_some_and(&f) {
            self.bump();
        }
        &self.src[start..self.offset]
    }

    /// Skips whitespace and `//` comments.
    pub fn skip_trivia(&mut self) {
        loop {
            self.eat_while(char::is_whitespace);
            if self.rest().starts_with("//") {
                self.eat_while(|c| c != '\n');
            } else {
                return;
            }
        }
    }

    /// The position of the next token.
    pub fn pos(&mut self) -> Pos {
        self.skip_trivia();
        self.pos
    }

    /// Reads the dimension prefix `d0xd1x...x` of a tensor type (each dimension followed by
    /// `x`), leaving the element type. Returns each dimension with its position.
    pub fn dims(&mut self) -> Result<Vec<(Pos, u64)>, LexError> {
        self.skip_trivia();
        let mut dims = Vec::new();
        loop {
            let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || self.rest().as_bytes().get(digits) != Some(&b'x') {
                return Ok(dims);
            }
            let pos = self.pos;
            let text = self.eat_while(|c| c.is_ascii_digit());
            self.bump();
            let d = text
                .parse::<u64>()
                .map_err(|_| (pos, format!("dimension {text} is too large")))?;
            dims.push((pos, d));
        }
    }

    /// The next token and its position.
    pub fn next_token(&mut self) -> Result<(Pos, Tok), LexError> {
        self.skip_trivia();
        let pos = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok((pos, Tok::Eof));
        };
        let tok = match c {
            '%' | '@' => {
                self.bump();
                let (name, numbered) = match self.peek_char() {
                    Some('"') => (self.string(pos)?, false),
                    Some(d) if d.is_ascii_digit() && c == '%' => {
                        (self.eat_while(|c| c.is_ascii_digit()).to_string(), true)
                    }
                    Some(s) if is_ident_start(s) => {
                        (self.eat_while(is_ident_char).to_string(), false)
                    }
                    _ => return Err((pos, format!("expected a name after '{c}'"))),
                };
                if c == '%' {
                    Tok::Value { name, numbered }
                } else {
                    Tok::At(name)
                }
            }
            '!' => {
                self.bump();
                if !self.peek_char().is_some_and(is_ident_start) {
                    return Err((pos, "expected a type alias name after '!'".into()));
                }
                Tok::Bang(self.eat_while(is_ident_char).to_string())
            }
            '"' => Tok::Str(self.string(pos)?),
            '-' if self.rest().starts_with("->") => {
                self.bump();
                self.bump();
                Tok::Arrow
            }
            '-' if self.rest().starts_with("-inf") => {
                for _ in 0..4 {
                    self.bump();
                }
                Tok::Number("-inf".into())
            }
            '-' | '0'..='9' => Tok::Number(self.number(pos)?),
            c if is_ident_start(c) => Tok::Ident(self.eat_while(is_ident_char).to_string()),
            '(' | ')' | '{' | '}' | '[' | ']' | '<' | '>' | ',' | '=' | ':' => {
                self.bump();
                Tok::Punct(c)
            }
            other => return Err((pos, format!("unexpected character {other:?}"))),
        };
        Ok((pos, tok))
    }

    fn number(&mut self, pos: Pos) -> Result<String, LexError> {
        let start = self.offset;
        if self.peek_char() == Some('-') {
            self.bump();
        }
        if !self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            return Err((pos, "expected a digit after '-'".into()));
        }
        let mut prev = ' ';
        while let Some(c) = self.peek_char() {
            let sign_after_exponent = (c == '+' || c == '-') && (prev == 'e' || prev == 'E');
            if !(c.is_ascii_alphanumeric() || c == '.' || sign_after_exponent) {
                break;
            }
            prev = c;
            self.bump();
        }
        Ok(self.src[start..self.offset].to_string())
    }

    fn string(&mut self, pos: Pos) -> Result<String, LexError> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err((pos, "unterminated string".into())),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        let body = if self.peek_char() == Some('{') {
                            self.bump();
                            let hex = self.eat_while(|c| c.is_ascii_hexdigit());
                            (self.bump() == Some('}')).then_some(hex)
                        } else {
                            None
                        };
                        let c = body
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32);
                        out.push(c.ok_or((pos, "malformed \\u{...} escape".to_string()))?);
                    }
                    _ => {
                        return Err((
                            pos,
                            "unknown escape in string (use \\\" \\\\ \\n \\t or \\u{...})".into(),
                        ));
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }
}

/// Escapes a string for the text form (the inverse of the lexer's string reading).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let (_, t) = lx.next_token().unwrap();
            if t == Tok::Eof {
                return out;
            }
            out.push(t);
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("%x %12 %\"a/b\" @g !q0 onnx.conv -1.5e-3 -inf -> { } // note"),
            [
                Tok::Value {
                    name: "x".into(),
                    numbered: false
                },
                Tok::Value {
                    name: "12".into(),
                    numbered: true
                },
                Tok::Value {
                    name: "a/b".into(),
                    numbered: false
                },
                Tok::At("g".into()),
                Tok::Bang("q0".into()),
                Tok::Ident("onnx.conv".into()),
                Tok::Number("-1.5e-3".into()),
                Tok::Number("-inf".into()),
                Tok::Arrow,
                Tok::Punct('{'),
                Tok::Punct('}'),
            ]
        );
    }

    #[test]
    fn dims_and_positions() {
        let mut lx = Lexer::new("\n  1x3x8xf32>");
        let dims: Vec<u64> = lx.dims().unwrap().into_iter().map(|(_, d)| d).collect();
        assert_eq!(dims, [1, 3, 8]);
        assert_eq!(
            lx.next_token().unwrap(),
            (Pos { line: 2, col: 9 }, Tok::Ident("f32".into()))
        );
        assert!(Lexer::new("99999999999999999999999x").dims().is_err());
    }

    #[test]
    fn strings_round_trip() {
        let s = "a\"b\\c\nd\u{1}é";
        let escaped = escape(s);
        assert_eq!(toks(&escaped), [Tok::Str(s.into())]);
        assert!(Lexer::new("\"open").next_token().is_err());
    }
}
