//! A small JSON reader for the cases: objects, lists, strings, integers, booleans and null
//! (`make_ort_cases.py` writes no fractional numbers), so that the test needs no JSON crate.

use std::collections::BTreeMap;

/// A parsed JSON value (the subset `make_ort_cases.py` writes: no fractional numbers).
#[derive(Debug)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// A small recursive-descent JSON parser.
pub struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            text: text.as_bytes(),
            pos: 0,
        };
        let v = p.value()?;
        p.skip_space();
        if p.pos != p.text.len() {
            return Err(format!("trailing text at byte {}", p.pos));
        }
        Ok(v)
    }

    fn skip_space(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", b as char, self.pos))
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.text[self.pos..].starts_with(w.as_bytes()) {
            self.pos += w.len();
            Ok(v)
        } else {
            Err(format!("unexpected text at byte {}", self.pos))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(map));
                }
                loop {
                    let Json::Str(key) = self.value()? else {
                        return Err(format!("expected a key at byte {}", self.pos));
                    };
                    self.expect(b':')?;
                    map.insert(key, self.value()?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        _ => {
                            self.expect(b'}')?;
                            return Ok(Json::Object(map));
                        }
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::List(items));
                }
                loop {
                    items.push(self.value()?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        _ => {
                            self.expect(b']')?;
                            return Ok(Json::List(items));
                        }
                    }
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let start = self.pos;
                if self.text[self.pos] == b'-' {
                    self.pos += 1;
                }
                while self.pos < self.text.len() && self.text[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
                digits
                    .parse()
                    .map(Json::Int)
                    .map_err(|_| format!("bad integer at byte {start}"))
            }
            None => Err("unexpected end of text".into()),
        }
    }

    fn string(&mut self) -> Result<Json, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let b = *self
                .text
                .get(self.pos)
                .ok_or("unterminated string".to_string())?;
            self.pos += 1;
            match b {
                b'"' => return Ok(Json::Str(out)),
                b'\\' => {
                    let e = *self.text.get(self.pos).ok_or("bad escape".to_string())?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hex = self.text.get(self.pos..self.pos + 4).ok_or("bad escape")?;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16)
                                    .map_err(|_| "bad \\u escape".to_string())?;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.pos += 4;
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    // Multi-byte UTF-8 sequences are copied byte by byte.
                    let start = self.pos - 1;
                    let len = match b {
                        0xf0.. => 4,
                        0xe0.. => 3,
                        0xc0.. => 2,
                        _ => 1,
                    };
                    let chunk = self.text.get(start..start + len).ok_or("bad UTF-8")?;
                    out.push_str(std::str::from_utf8(chunk).map_err(|e| e.to_string())?);
                    self.pos = start + len;
                }
            }
        }
    }
}

impl Json {
    pub fn get(&self, key: &str) -> Result<&Json, String> {
        match self {
            Json::Object(m) => m.get(key).ok_or_else(|| format!("missing '{key}'")),
            _ => Err(format!("'{key}' looked up in a non-object")),
        }
    }

    pub fn str(&self) -> Result<&str, String> {
        match self {
            Json::Str(s) => Ok(s),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    pub fn int(&self) -> Result<i64, String> {
        match self {
            Json::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }

    pub fn list(&self) -> Result<&[Json], String> {
        match self {
            Json::List(v) => Ok(v),
            other => Err(format!("expected a list, found {other:?}")),
        }
    }

    pub fn boolean(&self) -> Result<bool, String> {
        match self {
            Json::Bool(b) => Ok(*b),
            other => Err(format!("expected true or false, found {other:?}")),
        }
    }

    pub fn ints(&self) -> Result<Vec<i64>, String> {
        self.list()?.iter().map(Json::int).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_reader_handles_the_case_format() {
        let j = Parser::parse(r#"{"a": [1, -2, {"b": "x\"y\u0041"}], "c": true, "d": null}"#)
            .expect("valid JSON");
        assert_eq!(j.get("a").and_then(Json::list).map(<[Json]>::len), Ok(3));
        assert_eq!(
            j.get("a")
                .and_then(|a| a.list()?[2].get("b")?.str().map(String::from)),
            Ok("x\"yA".to_string())
        );
        assert_eq!(j.get("c").and_then(Json::boolean), Ok(true));
        assert!(matches!(j.get("d"), Ok(Json::Null)));
        assert!(Parser::parse("[1, 2").is_err());
        assert!(Parser::parse("{\"a\" 1}").is_err());
    }
}
