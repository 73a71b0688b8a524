//! Parser for stream label strings such as `{app="x", env="prod"}`, as Loki's
//! `syntax.ParseLabels` (Prometheus `ParseMetric`) accepts them:
//! an optional metric name (becomes `__name__`), then `{name="value", ...}`
//! with `=` only, an optional trailing comma, names `[a-zA-Z_][a-zA-Z0-9_]*`
//! and values quoted with `"` (Go escapes), `'` or backticks (raw).
//! Labels with an empty value are dropped, as Loki's label builder does.
//! Duplicate names are kept so that validation can report them.

use balsa_model::{LabelPair, Labels};

use crate::error::PushError;

/// Parses `input`; on failure returns Loki's
/// `Error parsing labels '<input>' with error: <reason>` (400).
pub fn parse_labels(input: &str) -> Result<Labels, PushError> {
    parse_label_pairs(input)
        .map(|pairs| Labels::new(pairs.into_iter().filter(|p| !p.value.is_empty()).collect()))
        .map_err(|reason| PushError::InvalidLabels { labels: input.to_string(), reason })
}

/// Whether `name` is a valid (classic) Prometheus label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, msg: impl std::fmt::Display) -> String {
        // Prometheus prints `line:col: parse error: msg`, col 1-based.
        let line = 1 + self.s[..self.pos.min(self.s.len())].matches('\n').count();
        let line_start = self.s[..self.pos.min(self.s.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
        format!("{}:{}: parse error: {}", line, self.pos - line_start + 1, msg)
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn ident(&mut self, metric: bool) -> Option<&'a str> {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() {
            let b = bytes[i];
            let ok = b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':') || (i > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        self.pos = i;
        Some(&self.s[start..i])
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("character {}", quote_char(c)),
        }
    }

    fn quoted(&mut self) -> Result<String, String> {
        let Some(q) = self.peek() else { return Err(self.err("unexpected end of input, expected label value")) };
        if q != '"' && q != '\'' && q != '`' {
            return Err(self.err(format!("unexpected {}, expected label value", self.describe_next())));
        }
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                self.pos = start;
                return Err(self.err("unterminated quoted string"));
            };
            if c == q {
                return Ok(out);
            }
            if q == '`' {
                out.push(c);
                continue;
            }
            if c == '\n' {
                self.pos = start;
                return Err(self.err("unterminated quoted string"));
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let esc_at = self.pos;
            let Some(e) = self.bump() else {
                self.pos = start;
                return Err(self.err("unterminated quoted string"));
            };
            let simple = match e {
                'a' => Some('\u{07}'),
                'b' => Some('\u{08}'),
                'f' => Some('\u{0c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{0b}'),
                '\\' => Some('\\'),
                '"' if q == '"' => Some('"'),
                '\'' if q == '\'' => Some('\''),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                continue;
            }
            let (digits, radix) = match e {
                'x' => (2, 16),
                'u' => (4, 16),
                'U' => (8, 16),
                '0'..='7' => (3, 8),
                _ => {
                    self.pos = esc_at;
                    return Err(self.err("invalid escape sequence in quoted string"));
                }
            };
            let num_start = if radix == 8 { esc_at } else { self.pos };
            let end = num_start + digits;
            let text = self.s.get(num_start..end).filter(|t| t.chars().all(|c| c.is_digit(radix)));
            let Some(text) = text else {
                self.pos = esc_at;
                return Err(self.err("invalid escape sequence in quoted string"));
            };
            let v = u32::from_str_radix(text, radix).unwrap_or(u32::MAX);
            self.pos = end;
            if e == 'x' || radix == 8 {
                // A Go byte escape: only ASCII keeps the string valid UTF-8.
                if v > 0x7f {
                    self.pos = esc_at;
                    return Err(self.err("invalid UTF-8 byte escape in quoted string"));
                }
                out.push(v as u8 as char);
            } else {
                match char::from_u32(v) {
                    Some(ch) => out.push(ch),
                    None => {
                        self.pos = esc_at;
                        return Err(self.err("invalid unicode escape in quoted string"));
                    }
                }
            }
        }
    }
}

fn quote_char(c: char) -> String {
    format!("{c:?}")
}

fn parse_label_pairs(input: &str) -> Result<Vec<LabelPair>, String> {
    let mut c = Cursor { s: input, pos: 0 };
    let mut pairs = Vec::new();
    c.skip_ws();
    if c.peek().is_none() {
        return Err(c.err("unexpected end of input"));
    }
    if c.peek() != Some('{') {
        match c.ident(true) {
            Some(name) => pairs.push(LabelPair { name: "__name__".into(), value: name.to_string() }),
            None => return Err(c.err(format!("unexpected {}", c.describe_next()))),
        }
        c.skip_ws();
        if c.peek().is_none() {
            return Ok(pairs);
        }
    }
    if c.bump() != Some('{') {
        return Err(c.err("unexpected character, expected '{'"));
    }
    loop {
        c.skip_ws();
        match c.peek() {
            None => return Err(c.err("unexpected end of input inside braces")),
            Some('}') => {
                c.bump();
                break;
            }
            _ => {}
        }
        let Some(name) = c.ident(false) else {
            return Err(c.err(format!("unexpected {} inside braces, expected label name", c.describe_next())));
        };
        c.skip_ws();
        if c.peek() != Some('=') {
            return Err(c.err(format!("unexpected {} inside braces, expected \"=\"", c.describe_next())));
        }
        c.bump();
        if matches!(c.peek(), Some('~')) {
            return Err(c.err("unexpected \"=~\" in label set, expected \"=\""));
        }
        c.skip_ws();
        let value = c.quoted()?;
        pairs.push(LabelPair { name: name.to_string(), value });
        c.skip_ws();
        match c.peek() {
            Some(',') => {
                c.bump();
            }
            Some('}') => {}
            None => return Err(c.err("unexpected end of input inside braces")),
            Some(_) => {
                return Err(c.err(format!("unexpected {} inside braces, expected \",\" or \"}}\"", c.describe_next())));
            }
        }
    }
    c.skip_ws();
    if c.peek().is_some() {
        return Err(c.err(format!("unexpected {} after label set", c.describe_next())));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_label_strings() {
        let cases: &[(&str, &str)] = &[
            (r#"{app="x", env="p"}"#, r#"{app="x", env="p"}"#),
            (r#"{env="p",app="x",}"#, r#"{app="x", env="p"}"#),
            (r#"  { a = "1" }  "#, r#"{a="1"}"#),
            (r#"{a="x\"y\\z\n\t\u00e9\x41\101"}"#, r#"{a="x\"y\\z\n\téAA"}"#),
            (r#"{a='single', b=`raw\n`}"#, r#"{a="single", b="raw\\n"}"#),
            (r#"{a="", b="2"}"#, r#"{b="2"}"#),
            (r#"{}"#, "{}"),
            (r#"metric{a="1"}"#, r#"{__name__="metric", a="1"}"#),
            (r#"{_x9="ü"}"#, r#"{_x9="ü"}"#),
            (r#"{a="1", a="2"}"#, r#"{a="1", a="2"}"#),
        ];
        for (input, want) in cases {
            let got = parse_labels(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.canonical(), *want, "{input}");
        }
    }

    #[test]
    fn rejects_invalid_label_strings() {
        let cases = [
            "",
            "{",
            "{a}",
            r#"{a="1""#,
            r#"{a="1" b="2"}"#,
            r#"{1a="x"}"#,
            r#"{a-b="x"}"#,
            r#"{a!="x"}"#,
            r#"{a=~"x"}"#,
            r#"{a=x}"#,
            r#"{a="\q"}"#,
            r#"{a="\xff"}"#,
            r#"{a="1"} trailing"#,
            r#"{a="unterminated}"#,
            r#"{a="1",,}"#,
        ];
        for input in cases {
            let err = parse_labels(input).expect_err(input);
            assert_eq!(err.status(), 400);
            let body = err.body();
            assert!(body.starts_with(&format!("Error parsing labels '{input}' with error: 1:")), "{body}");
        }
    }

    #[test]
    fn label_name_validity() {
        for ok in ["a", "_", "A_1", "__name__"] {
            assert!(is_valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é", "a b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
    }
}
