//! `| logfmt [--strict] [--keep-empty] [a="b", c]`: a hand-rolled scanner
//! with the behaviour and error texts of Loki's `logfmt.Decoder`
//! (`pkg/logql/log/logfmt/decode.go`): invalid pairs are skipped unless
//! `--strict`, where scanning stops at the first one and
//! `__error__=LogfmtParserErr` is set with the position in the details.

use super::json::{has_error_rune, replace_error_runes, short_escape};
use super::labels::{DUPLICATE_SUFFIX, ERROR_LABEL, LabelSet, append_sanitized, may_be_plain_hint};

pub(crate) const LOGFMT_ERR: &str = "LogfmtParserErr";

/// A scanning error: 1-based byte position and message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SyntaxError {
    pos: usize,
    msg: &'static str,
    byte: u8,
}

impl SyntaxError {
    fn write(&self, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        let _ = write!(out, "logfmt syntax error at pos {} : ", self.pos);
        match self.msg {
            "" => {
                // Go's %q of a byte.
                let _ = match self.byte {
                    b'"' => write!(out, "unexpected '\"'"),
                    b'\'' => write!(out, "unexpected '\\''"),
                    b'\\' => write!(out, "unexpected '\\\\'"),
                    c => write!(out, "unexpected '{}'", c as char),
                };
            }
            m => out.push_str(m),
        }
    }
}

/// A key holding U+FFFD is invalid (Go's `utf8.RuneError` check).
fn bad_key(k: &str) -> bool {
    !k.is_ascii() && has_error_rune(k)
}

/// Bytes that end a key or an unquoted value: `=`, `"` and everything up to
/// and including the space.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i <= b' ' as usize {
        t[i] = true;
        i += 1;
    }
    t[b'=' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// The scanner state over one line.
pub(crate) struct Decoder<'a> {
    line: &'a str,
    pos: usize,
    err: Option<SyntaxError>,
}

/// One scanned pair: the key, and the value (unquoted into `buf` when it
/// had escapes).
enum Val {
    Empty,
    Slice(usize, usize),
    Buf,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(line: &'a str) -> Self {
        Self { line, pos: 0, err: None }
    }

    fn eol(&self) -> bool {
        self.pos >= self.line.len()
    }

    fn unexpected(&mut self, c: u8) {
        self.err = Some(SyntaxError { pos: self.pos + 1, msg: "", byte: c });
    }

    fn syntax(&mut self, msg: &'static str) {
        self.err = Some(SyntaxError { pos: self.pos + 1, msg, byte: 0 });
    }

    /// Skips to the next white space after an error.
    fn skip_value(&mut self) -> Option<(usize, usize, Val)> {
        let b = self.line.as_bytes();
        match b[self.pos..].iter().position(|&c| c <= b' ') {
            Some(p) => self.pos += p,
            None => self.pos = b.len(),
        }
        None
    }

    /// Scans the next pair: `Some((key_start, key_end, value))`, or `None`
    /// at the end or on an error (see `err`). A key without `=` has an
    /// empty value.
    fn scan(&mut self, buf: &mut String) -> Option<(usize, usize, Val)> {
        let b = self.line.as_bytes();
        // Garbage: skip to the first byte above ' '.
        match b[self.pos..].iter().position(|&c| c > b' ') {
            Some(p) => self.pos += p,
            None => {
                self.pos = b.len();
                return None;
            }
        }
        let start = self.pos;
        let mut key_end = None;
        while self.pos < b.len() {
            while self.pos < b.len() && !STOP[b[self.pos] as usize] {
                self.pos += 1;
            }
            let Some(&c) = b.get(self.pos) else { break };
            if c == b'=' {
                if self.pos == start {
                    self.unexpected(c);
                    return self.skip_value();
                }
                if bad_key(&self.line[start..self.pos]) {
                    self.syntax("invalid key");
                    return self.skip_value();
                }
                key_end = Some(self.pos);
                break;
            } else if c == b'"' {
                self.unexpected(c);
                return self.skip_value();
            } else if c <= b' ' {
                if bad_key(&self.line[start..self.pos]) {
                    self.syntax("invalid key");
                    return None;
                }
                return Some((start, self.pos, Val::Empty));
            }
            self.pos += 1;
        }
        let Some(key_end) = key_end else {
            if bad_key(&self.line[start..]) {
                self.syntax("invalid key");
                return None;
            }
            return Some((start, b.len(), Val::Empty));
        };
        // Equal sign.
        self.pos += 1;
        if self.pos >= b.len() {
            return Some((start, key_end, Val::Empty));
        }
        let c = b[self.pos];
        if c <= b' ' {
            return Some((start, key_end, Val::Empty));
        }
        if c == b'"' {
            return self.quoted(start, key_end, buf);
        }
        let vstart = self.pos;
        while self.pos < b.len() {
            while self.pos < b.len() && !STOP[b[self.pos] as usize] {
                self.pos += 1;
            }
            let Some(&c) = b.get(self.pos) else { break };
            if c == b'=' || c == b'"' {
                self.unexpected(c);
                return self.skip_value();
            }
            if c <= b' ' {
                break;
            }
            self.pos += 1;
        }
        Some((start, key_end, Val::Slice(vstart, self.pos)))
    }

    fn quoted(&mut self, key_start: usize, key_end: usize, buf: &mut String) -> Option<(usize, usize, Val)> {
        let b = self.line.as_bytes();
        let start = self.pos;
        let mut has_esc = false;
        let mut i = self.pos + 1;
        while let Some(p) = b.get(i..).and_then(|rest| memchr::memchr2(b'"', b'\\', rest)) {
            i += p;
            if b[i] == b'\\' {
                // The escaped byte is skipped, whatever it is.
                has_esc = true;
                i += 2;
                continue;
            }
            self.pos = i + 1;
            if has_esc {
                if !unquote(&self.line[start + 1..i], buf) {
                    self.syntax("invalid quoted value");
                    return None;
                }
                return Some((key_start, key_end, Val::Buf));
            }
            return Some((key_start, key_end, Val::Slice(start + 1, i)));
        }
        self.pos = b.len();
        self.syntax("unterminated quoted value");
        None
    }
}

/// go-logfmt's `unquoteBytes` of the text between the quotes, into `out`.
fn unquote(s: &str, out: &mut String) -> bool {
    out.clear();
    let b = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                out.push_str(&s[last..i]);
                let Some(&e) = b.get(i + 1) else { return false };
                let step = match e {
                    b'\'' => {
                        out.push('\'');
                        2
                    }
                    b'u' => {
                        let Some(r) = u4(&b[i..]) else { return false };
                        if (0xD800..0xE000).contains(&r) {
                            if let Some(r2) = u4(&b[i + 6..])
                                && (0xD800..0xDC00).contains(&r)
                                && (0xDC00..0xE000).contains(&r2)
                            {
                                let c = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                                12
                            } else {
                                out.push('\u{FFFD}');
                                6
                            }
                        } else {
                            out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                            6
                        }
                    }
                    _ => {
                        let Some(c) = short_escape(e) else { return false };
                        out.push(c);
                        2
                    }
                };
                i += step;
                last = i;
            }
            b'"' => return false,
            _ => i += 1,
        }
    }
    out.push_str(&s[last..]);
    true
}

/// `\uXXXX` at the start of `b`.
fn u4(b: &[u8]) -> Option<u32> {
    if b.len() < 6 || b[0] != b'\\' || b[1] != b'u' {
        return None;
    }
    b[2..6].iter().try_fold(0u32, |acc, &c| Some(acc << 4 | (c as char).to_digit(16)?))
}

/// Reused buffers of the logfmt stages.
#[derive(Default)]
pub(crate) struct LogfmtScratch {
    name: String,
    value: String,
    details: String,
}

/// `| logfmt` without parameters.
pub(crate) struct Logfmt {
    pub(crate) strict: bool,
    pub(crate) keep_empty: bool,
}

impl Logfmt {
    /// Returns `false` when the entry is dropped (a label filter failed while
    /// parsing, see [`LabelSet::should_continue`]). With parser hints, as
    /// Loki's `LogfmtParser`: nothing is parsed when no label is needed, and
    /// parsing stops once every required label is extracted.
    pub(crate) fn process(&self, line: &str, labels: &mut LabelSet, sc: &mut LogfmtScratch) -> bool {
        if labels.no_labels() {
            return true;
        }
        let plain_hints = labels.plain_hints();
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            let Some((ks, ke, val)) = dec.scan(&mut sc.value) else {
                if self.strict {
                    break;
                }
                continue;
            };
            if plain_hints.as_ref().is_some_and(|h| !may_be_plain_hint(h, &line[ks..ke])) {
                continue;
            }
            sc.name.clear();
            append_sanitized(&mut sc.name, &line[ks..ke]);
            if sc.name.is_empty() {
                continue;
            }
            if labels.collides(&sc.name) {
                sc.name.push_str(DUPLICATE_SUFFIX);
            }
            if !labels.should_extract(&sc.name) {
                continue;
            }
            match val {
                Val::Empty => sc.value.clear(),
                Val::Slice(a, b) => {
                    sc.value.clear();
                    sc.value.push_str(&line[a..b]);
                }
                Val::Buf => {}
            }
            replace_error_runes(&mut sc.value);
            if !self.keep_empty && sc.value.is_empty() {
                continue;
            }
            labels.set_parsed(&sc.name, &sc.value);
            if !labels.should_continue(&sc.name) {
                return false;
            }
            if labels.all_required_extracted() {
                break;
            }
        }
        if self.strict
            && let Some(e) = &dec.err
        {
            e.write(&mut sc.details);
            labels.parser_error(LOGFMT_ERR, Some(&sc.details));
            return labels.should_continue(ERROR_LABEL);
        }
        true
    }
}

/// `| logfmt a="b", c`: only the named keys, renamed.
pub(crate) struct LogfmtExprs {
    pub(crate) strict: bool,
    /// (label name, logfmt key)
    exprs: Vec<(String, String)>,
}

impl LogfmtExprs {
    pub(crate) fn compile(strict: bool, params: &[balsa_logql::LabelExtraction]) -> Result<Self, String> {
        let mut exprs = Vec::new();
        for p in params {
            let key = parse_logfmt_expr(&p.expr).map_err(|e| format!("cannot parse expression [{}]: {e}", p.expr))?;
            // Later parameters for the same label replace earlier ones.
            exprs.retain(|(n, _): &(String, String)| n != &p.name);
            exprs.push((p.name.clone(), key));
        }
        Ok(Self { strict, exprs })
    }

    pub(crate) fn process(&self, line: &str, labels: &mut LabelSet, sc: &mut LogfmtScratch) {
        if labels.no_labels() {
            return;
        }
        for (id, _) in &self.exprs {
            if !labels.collides(id) {
                labels.set_parsed(id, "");
            }
        }
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            let Some((ks, ke, val)) = dec.scan(&mut sc.value) else {
                if self.strict {
                    break;
                }
                continue;
            };
            sc.name.clear();
            append_sanitized(&mut sc.name, &line[ks..ke]);
            if sc.name.is_empty() {
                continue;
            }
            let always = self.exprs.iter().any(|(n, _)| *n == sc.name);
            if !always && !labels.should_extract(&sc.name) {
                continue;
            }
            // The label a key maps to (or the key itself, as Loki does).
            let id = match self.exprs.iter().find(|(_, k)| *k == sc.name) {
                Some((id, _)) => id.as_str(),
                None => sc.name.as_str(),
            };
            if !self.exprs.iter().any(|(n, _)| n == id) {
                continue;
            }
            let mut key = id.to_string();
            if labels.collides(&key) {
                key.push_str(DUPLICATE_SUFFIX);
                // Loki stops at a colliding key it need not extract (again).
                if !labels.should_extract(&key) {
                    break;
                }
            }
            match val {
                Val::Empty => sc.value.clear(),
                Val::Slice(a, b) => {
                    sc.value.clear();
                    sc.value.push_str(&line[a..b]);
                }
                Val::Buf => {}
            }
            if !sc.value.is_ascii() && has_error_rune(&sc.value) {
                sc.value.clear();
            }
            labels.set_parsed(&key, &sc.value);
            if labels.all_required_extracted() {
                break;
            }
        }
        if self.strict
            && let Some(e) = &dec.err
        {
            e.write(&mut sc.details);
            labels.parser_error(LOGFMT_ERR, Some(&sc.details));
        }
    }
}

/// A `| logfmt` parameter: a single key (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn parse_logfmt_expr(s: &str) -> Result<String, String> {
    let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n'));
    let mut chars = t.chars();
    match chars.next() {
        None => Err("syntax error: unexpected $end, expecting KEY".into()),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            let end = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(t.len());
            let rest = t[end..].trim_start_matches([' ', '\t', '\n']);
            match rest.chars().next() {
                None => Ok(t[..end].to_string()),
                Some(c) if c.is_ascii_alphabetic() || c == '_' => Err("syntax error: unexpected KEY".into()),
                Some(c) => Err(format!("unexpected char {c}")),
            }
        }
        Some(c) => Err(format!("unexpected char {c}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(line: &str) -> (Vec<(String, Option<String>)>, Option<String>) {
        let mut dec = Decoder::new(line);
        let mut buf = String::new();
        let mut out = Vec::new();
        let mut first_err = None;
        while !dec.eol() {
            match dec.scan(&mut buf) {
                Some((a, b, v)) => out.push((
                    line[a..b].to_string(),
                    match v {
                        Val::Empty => None,
                        Val::Slice(x, y) => Some(line[x..y].to_string()),
                        Val::Buf => Some(buf.clone()),
                    },
                )),
                None => {
                    if first_err.is_none()
                        && let Some(e) = &dec.err
                    {
                        let mut s = String::new();
                        e.write(&mut s);
                        first_err = Some(s);
                    }
                }
            }
        }
        (out, first_err)
    }

    #[test]
    fn decoder() {
        let (pairs, err) = scan_all(r#"a=1 b="x y" c d= e="q\"\u00e9""#);
        assert_eq!(
            pairs,
            vec![
                ("a".into(), Some("1".into())),
                ("b".into(), Some("x y".into())),
                ("c".into(), None),
                ("d".into(), None),
                ("e".into(), Some("q\"é".into())),
            ]
        );
        assert!(err.is_none());
        assert_eq!(scan_all("foobar====wqe=sdad1r").1.unwrap(), "logfmt syntax error at pos 8 : unexpected '='");
        assert_eq!(
            scan_all(r#"a="unterminated"#).1.unwrap(),
            "logfmt syntax error at pos 16 : unterminated quoted value"
        );
        assert_eq!(scan_all(r#"a="\x""#).1.unwrap(), "logfmt syntax error at pos 7 : invalid quoted value");
        assert_eq!(scan_all(r#"bu"zz=1"#).1.unwrap(), r#"logfmt syntax error at pos 3 : unexpected '"'"#);
        assert_eq!(parse_logfmt_expr(" a_1 ").unwrap(), "a_1");
        assert_eq!(parse_logfmt_expr("field with space").unwrap_err(), "syntax error: unexpected KEY");
        assert!(parse_logfmt_expr("a.b").is_err());
    }
}
