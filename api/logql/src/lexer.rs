//! The lexer: turns a query into tokens the way Loki's lexer (Go's
//! `text/scanner` plus LogQL rules) does. Keywords are case-insensitive;
//! function names are keywords only when followed by `(` (or by
//! `by (`/`without (`); a number directly followed by a unit is a duration
//! (`5m`, `1.5s`) or a byte size (`20MB`); `[...]` is a range.

use crate::ast::{RangeOp, UnwrapConv, VectorOp};
use crate::units::{parse_bytes, parse_duration, parse_prom_duration};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum T {
    Ident(String),
    Str(String),
    Number(String),
    Duration(i64),
    Bytes(u64),
    Range(i64),
    Flag(String),
    // punctuation
    Comma,
    Dot,
    LBrace,
    RBrace,
    Eq,
    Neq,
    Re,
    Nre,
    Npa,
    PipeExact,
    PipeMatch,
    PipePattern,
    Pipe,
    LParen,
    RParen,
    RBracket,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    // keywords
    By,
    Without,
    Bool,
    Offset,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Or,
    And,
    Unless,
    Json,
    Regexp,
    Logfmt,
    Unpack,
    Pattern,
    LabelFmt,
    LineFmt,
    Decolorize,
    Drop,
    Keep,
    Unwrap,
    // function tokens
    RangeFn(RangeOp),
    VectorFn(VectorOp),
    VectorLit,
    LabelReplace,
    Conv(UnwrapConv),
    Ip,
    Eof,
    /// A lexical error; lexing stops here.
    Error(String),
}

impl T {
    /// The token's name in error messages, as goyacc names it for Loki.
    pub(crate) fn name(&self) -> String {
        let s = match self {
            T::Ident(_) => "IDENTIFIER",
            T::Str(_) => "STRING",
            T::Number(_) => "NUMBER",
            T::Duration(_) => "DURATION",
            T::Bytes(_) => "BYTES",
            T::Range(_) => "RANGE",
            T::Flag(_) => "PARSER_FLAG",
            T::Comma => ",",
            T::Dot => ".",
            T::LBrace => "{",
            T::RBrace => "}",
            T::Eq => "=",
            T::Neq => "!=",
            T::Re => "=~",
            T::Nre => "!~",
            T::Npa => "!>",
            T::PipeExact => "|=",
            T::PipeMatch => "|~",
            T::PipePattern => "|>",
            T::Pipe => "|",
            T::LParen => "(",
            T::RParen => ")",
            T::RBracket => "]",
            T::Add => "+",
            T::Sub => "-",
            T::Mul => "*",
            T::Div => "/",
            T::Mod => "%",
            T::Pow => "^",
            T::CmpEq => "==",
            T::Gt => ">",
            T::Gte => ">=",
            T::Lt => "<",
            T::Lte => "<=",
            T::By => "by",
            T::Without => "without",
            T::Bool => "bool",
            T::Offset => "offset",
            T::On => "on",
            T::Ignoring => "ignoring",
            T::GroupLeft => "group_left",
            T::GroupRight => "group_right",
            T::Or => "or",
            T::And => "and",
            T::Unless => "unless",
            T::Json => "json",
            T::Regexp => "regexp",
            T::Logfmt => "logfmt",
            T::Unpack => "unpack",
            T::Pattern => "pattern",
            T::LabelFmt => "label_format",
            T::LineFmt => "line_format",
            T::Decolorize => "decolorize",
            T::Drop => "drop",
            T::Keep => "keep",
            T::Unwrap => "unwrap",
            T::RangeFn(op) => return op.as_str().to_ascii_uppercase(),
            T::VectorFn(op) => return op.as_str().to_ascii_uppercase(),
            T::VectorLit => "VECTOR",
            T::LabelReplace => "label_replace",
            T::Conv(UnwrapConv::Bytes) => "BYTES_CONV",
            T::Conv(UnwrapConv::Duration) => "DURATION_CONV",
            T::Conv(UnwrapConv::DurationSeconds) => "DURATION_SECONDS_CONV",
            T::Ip => "ip",
            T::Eof => "$end",
            T::Error(_) => "error",
        };
        s.to_string()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub t: T,
    pub line: u32,
    pub col: u32,
}

fn keyword(lower: &str) -> Option<T> {
    Some(match lower {
        "by" => T::By,
        "without" => T::Without,
        "bool" => T::Bool,
        "offset" => T::Offset,
        "on" => T::On,
        "ignoring" => T::Ignoring,
        "group_left" => T::GroupLeft,
        "group_right" => T::GroupRight,
        "or" => T::Or,
        "and" => T::And,
        "unless" => T::Unless,
        "json" => T::Json,
        "regexp" => T::Regexp,
        "logfmt" => T::Logfmt,
        "unpack" => T::Unpack,
        "pattern" => T::Pattern,
        "label_format" => T::LabelFmt,
        "line_format" => T::LineFmt,
        "decolorize" => T::Decolorize,
        "drop" => T::Drop,
        "keep" => T::Keep,
        "unwrap" => T::Unwrap,
        _ => return None,
    })
}

fn function(lower: &str) -> Option<T> {
    if let Some(op) = RangeOp::ALL.iter().find(|o| o.as_str() == lower) {
        return Some(T::RangeFn(*op));
    }
    if let Some(op) = VectorOp::ALL.iter().find(|o| o.as_str() == lower) {
        return Some(T::VectorFn(*op));
    }
    Some(match lower {
        "vector" => T::VectorLit,
        "label_replace" => T::LabelReplace,
        "bytes" => T::Conv(UnwrapConv::Bytes),
        "duration" => T::Conv(UnwrapConv::Duration),
        "duration_seconds" => T::Conv(UnwrapConv::DurationSeconds),
        "ip" => T::Ip,
        _ => return None,
    })
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | '\u{b5}' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

struct Lexer {
    chars: Vec<char>,
    /// (line, col) of each char, plus one entry for the end of input.
    pos: Vec<(u32, u32)>,
    i: usize,
    /// Whether the last token was completed with Go's `Scanner.Next()` in
    /// Loki's lexer, which invalidates the token line (it becomes 0) but
    /// keeps the column: two-character operators, durations, byte sizes,
    /// parser flags and `[range]`s. Loki reports errors at such tokens as
    /// `line 0, col C`.
    next_used: bool,
}

impl Lexer {
    fn new(input: &str) -> Self {
        let chars: Vec<char> = input.chars().collect();
        let mut pos = Vec::with_capacity(chars.len() + 1);
        let (mut line, mut col) = (1u32, 1u32);
        for &c in &chars {
            pos.push((line, col));
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        pos.push((line, col));
        Self { chars, pos, i: 0, next_used: false }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// Skips whitespace and comments; `Err` for an unterminated `/* */`.
    fn skip_trivia(&mut self) -> Result<(), String> {
        loop {
            match self.at(self.i) {
                Some(c) if is_ws(c) => self.i += 1,
                Some('#') => {
                    while self.at(self.i).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                Some('/') if self.at(self.i + 1) == Some('/') => {
                    while self.at(self.i).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                Some('/') if self.at(self.i + 1) == Some('*') => {
                    self.i += 2;
                    loop {
                        match self.at(self.i) {
                            None => return Err("comment not terminated".into()),
                            Some('*') if self.at(self.i + 1) == Some('/') => {
                                self.i += 2;
                                break;
                            }
                            Some(_) => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Collects the run of non-space chars from `from` satisfying `ok`.
    fn run_from(&self, from: usize, ok: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        let mut j = from;
        while let Some(c) = self.at(j) {
            if is_ws(c) || !ok(c) {
                break;
            }
            s.push(c);
            j += 1;
        }
        s
    }

    /// Whether what follows position `j` makes the preceding word a function
    /// call: `(`, or `by (` / `without (`.
    fn is_function(&self, mut j: usize) -> bool {
        while self.at(j).is_some_and(is_ws) {
            j += 1;
        }
        if self.at(j) == Some('(') {
            return true;
        }
        for kw in ["by", "without"] {
            let n = kw.len();
            let word: String = (j..j + n).filter_map(|k| self.at(k)).collect();
            if word.to_ascii_lowercase() == kw {
                let mut k = j + n;
                while self.at(k).is_some_and(is_ws) {
                    k += 1;
                }
                return self.at(k) == Some('(');
            }
        }
        false
    }

    fn scan_number(&mut self) -> String {
        let start = self.i;
        let lower_next = self.at(self.i + 1).map(|c| c.to_ascii_lowercase());
        if self.at(self.i) == Some('0') && matches!(lower_next, Some('x' | 'o' | 'b')) {
            self.i += 2;
            while self.at(self.i).is_some_and(|c| c.is_ascii_hexdigit() || c == '_') {
                self.i += 1;
            }
        } else {
            while self.at(self.i).is_some_and(|c| c.is_ascii_digit() || c == '_') {
                self.i += 1;
            }
            if self.at(self.i) == Some('.') {
                self.i += 1;
                while self.at(self.i).is_some_and(|c| c.is_ascii_digit() || c == '_') {
                    self.i += 1;
                }
            }
            if matches!(self.at(self.i), Some('e' | 'E')) {
                let mut j = self.i + 1;
                if matches!(self.at(j), Some('+' | '-')) {
                    j += 1;
                }
                if self.at(j).is_some_and(|c| c.is_ascii_digit()) {
                    self.i = j;
                    while self.at(self.i).is_some_and(|c| c.is_ascii_digit() || c == '_') {
                        self.i += 1;
                    }
                }
            }
        }
        self.chars[start..self.i].iter().collect()
    }

    /// A Go double-quoted string starting at `self.i`.
    fn scan_string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match self.at(self.i) {
                None | Some('\n') => return Err("literal not terminated".into()),
                Some(c) => c,
            };
            self.i += 1;
            match c {
                '"' => break,
                '\\' => self.scan_escape(&mut out, '"')?,
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8 rune".to_string())
    }

    fn scan_escape(&mut self, out: &mut Vec<u8>, quote: char) -> Result<(), String> {
        let bad = || "invalid char escape".to_string();
        let c = self.at(self.i).ok_or_else(bad)?;
        self.i += 1;
        let simple = match c {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let digits = |lx: &mut Lexer, n: usize, radix: u32| -> Result<u32, String> {
            let mut v: u32 = 0;
            for _ in 0..n {
                let d = lx.at(lx.i).and_then(|c| c.to_digit(radix)).ok_or_else(bad)?;
                v = v * radix + d;
                lx.i += 1;
            }
            Ok(v)
        };
        match c {
            '0'..='7' => {
                self.i -= 1;
                let v = digits(self, 3, 8)?;
                if v > 255 {
                    return Err("invalid syntax".into());
                }
                out.push(v as u8);
            }
            'x' => out.push(digits(self, 2, 16)? as u8),
            'u' | 'U' => {
                let v = digits(self, if c == 'u' { 4 } else { 8 }, 16)?;
                let ch = char::from_u32(v).ok_or_else(|| "invalid syntax".to_string())?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    fn lex_one(&mut self) -> T {
        self.next_used = false;
        let t = self.lex_token();
        if matches!(
            t,
            T::Duration(_)
                | T::Bytes(_)
                | T::Range(_)
                | T::Flag(_)
                | T::Neq
                | T::Re
                | T::Nre
                | T::Npa
                | T::PipeExact
                | T::PipeMatch
                | T::PipePattern
                | T::CmpEq
                | T::Gte
                | T::Lte
        ) {
            self.next_used = true;
        }
        t
    }

    fn lex_token(&mut self) -> T {
        if let Err(e) = self.skip_trivia() {
            return T::Error(e);
        }
        let Some(c) = self.at(self.i) else {
            return T::Eof;
        };
        let next = self.at(self.i + 1);

        // numbers, durations and byte sizes
        if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let text = self.scan_number();
            if let Some(err) = go_number_error(&text) {
                return T::Error(err);
            }
            let dur = self.run_from(self.i, |c| c.is_numeric() || is_duration_rune(c) || c == '.');
            if !dur.is_empty()
                && let Ok(d) = parse_duration(&format!("{text}{dur}"))
            {
                self.i += dur.chars().count();
                return T::Duration(d);
            }
            let by = self.run_from(self.i, |c| c.is_numeric() || is_bytes_rune(c) || c == '.');
            if !by.is_empty()
                && let Ok(b) = parse_bytes(&format!("{text}{by}"))
            {
                self.i += by.chars().count();
                return T::Bytes(b);
            }
            return T::Number(text);
        }

        match c {
            '-' => {
                if next == Some('-') {
                    let flag = self.run_from(self.i + 1, |c| c.is_alphabetic() || c == '-');
                    let flag = format!("-{flag}");
                    if flag == "--strict" || flag == "--keep-empty" {
                        self.i += flag.chars().count();
                        return T::Flag(flag);
                    }
                }
                let dur = self.run_from(self.i + 1, |c| c.is_numeric() || is_duration_rune(c) || c == '.');
                if !dur.is_empty()
                    && let Ok(d) = parse_duration(&format!("-{dur}"))
                {
                    self.i += 1 + dur.chars().count();
                    return T::Duration(d);
                }
                self.i += 1;
                return T::Sub;
            }
            '"' => {
                return match self.scan_string() {
                    Ok(s) => T::Str(s),
                    Err(e) => T::Error(e),
                };
            }
            '`' => {
                self.i += 1;
                let mut s = String::new();
                loop {
                    match self.at(self.i) {
                        None => return T::Error("literal not terminated".into()),
                        Some('`') => {
                            self.i += 1;
                            break;
                        }
                        Some('\r') => self.i += 1,
                        Some(c) => {
                            s.push(c);
                            self.i += 1;
                        }
                    }
                }
                return T::Str(s);
            }
            '\'' => {
                self.i += 1;
                let mut n = 0;
                let mut sink = Vec::new();
                loop {
                    match self.at(self.i) {
                        None | Some('\n') => return T::Error("literal not terminated".into()),
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some('\\') => {
                            self.i += 1;
                            if let Err(e) = self.scan_escape(&mut sink, '\'') {
                                return T::Error(e);
                            }
                        }
                        Some(_) => self.i += 1,
                    }
                    n += 1;
                }
                if n != 1 {
                    return T::Error("invalid char literal".into());
                }
                return T::Ident("'".into());
            }
            '[' => {
                self.next_used = true;
                let mut j = self.i + 1;
                let mut s = String::new();
                while let Some(c) = self.at(j) {
                    if c == ']' {
                        self.i = j + 1;
                        return match parse_prom_duration(&s) {
                            Ok(d) => T::Range(d),
                            Err(e) => T::Error(e),
                        };
                    }
                    s.push(c);
                    j += 1;
                }
                return T::Error("missing closing ']' in duration".into());
            }
            _ => {}
        }

        // identifiers, keywords and function names
        if c == '_' || c.is_alphabetic() {
            let start = self.i;
            self.i += 1;
            while self.at(self.i).is_some_and(|c| c == '_' || c.is_alphanumeric()) {
                self.i += 1;
            }
            let text: String = self.chars[start..self.i].iter().collect();
            let lower = text.to_lowercase();
            if let Some(t) = function(&lower) {
                return if self.is_function(self.i) { t } else { T::Ident(text) };
            }
            if let Some(t) = keyword(&lower) {
                return t;
            }
            return T::Ident(text);
        }

        // operators
        let two = match (c, next) {
            ('!', Some('=')) => Some(T::Neq),
            ('=', Some('~')) => Some(T::Re),
            ('!', Some('~')) => Some(T::Nre),
            ('!', Some('>')) => Some(T::Npa),
            ('|', Some('=')) => Some(T::PipeExact),
            ('|', Some('~')) => Some(T::PipeMatch),
            ('|', Some('>')) => Some(T::PipePattern),
            ('=', Some('=')) => Some(T::CmpEq),
            ('>', Some('=')) => Some(T::Gte),
            ('<', Some('=')) => Some(T::Lte),
            _ => None,
        };
        if let Some(t) = two {
            self.i += 2;
            return t;
        }
        self.i += 1;
        match c {
            ',' => T::Comma,
            '.' => T::Dot,
            '{' => T::LBrace,
            '}' => T::RBrace,
            '=' => T::Eq,
            '|' => T::Pipe,
            '(' => T::LParen,
            ')' => T::RParen,
            ']' => T::RBracket,
            '+' => T::Add,
            '*' => T::Mul,
            '/' => T::Div,
            '%' => T::Mod,
            '^' => T::Pow,
            '>' => T::Gt,
            '<' => T::Lt,
            // Loki's lexer turns any other character into an identifier.
            c => T::Ident(c.to_string()),
        }
    }
}

/// The error Go's `text/scanner` reports for a malformed integer literal
/// (Loki fails the query on it): a base prefix without digits (`0b`, `0x`),
/// or a digit too large for the base (`0b12`, `08`).
fn go_number_error(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let (kind, digits, base) = if let Some(d) = lower.strip_prefix("0x") {
        ("hexadecimal", d, 16)
    } else if let Some(d) = lower.strip_prefix("0b") {
        ("binary", d, 2)
    } else if let Some(d) = lower.strip_prefix("0o") {
        ("octal", d, 8)
    } else if text.len() > 1 && text.starts_with('0') && text.chars().all(|c| c.is_ascii_digit() || c == '_') {
        ("octal", &lower[1..], 8)
    } else {
        return None;
    };
    if let Some(bad) = digits.chars().find(|c| *c != '_' && c.to_digit(base).is_none()) {
        return Some(format!("invalid digit '{bad}' in {kind} literal"));
    }
    let prefixed = lower.starts_with("0x") || lower.starts_with("0b") || lower.starts_with("0o");
    if prefixed && !digits.chars().any(|c| c.is_ascii_hexdigit()) {
        return Some(format!("{kind} literal has no digits"));
    }
    None
}

/// Tokenizes the whole input. The last token is `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Vec<Token> {
    let mut lx = Lexer::new(input);
    let mut out = Vec::new();
    loop {
        // position of the token: after skipping trivia
        let save = lx.i;
        let start = match lx.skip_trivia() {
            Ok(()) => lx.i,
            Err(_) => {
                // report at the start of the unterminated comment
                lx.i = save;
                while lx.at(lx.i).is_some_and(is_ws) {
                    lx.i += 1;
                }
                lx.i
            }
        };
        let (mut line, mut col) = lx.pos[start.min(lx.pos.len() - 1)];
        if lx.chars.is_empty() {
            // Go's scanner reports no position for an empty input.
            (line, col) = (0, 0);
        }
        let t = lx.lex_one();
        if lx.next_used {
            line = 0;
        }
        let stop = matches!(t, T::Eof | T::Error(_));
        out.push(Token { t, line, col });
        if stop {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<T> {
        lex(s).into_iter().map(|t| t.t).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds(r#"{a="b"} |= "x" [5m]"#),
            vec![
                T::LBrace,
                T::Ident("a".into()),
                T::Eq,
                T::Str("b".into()),
                T::RBrace,
                T::PipeExact,
                T::Str("x".into()),
                T::Range(300_000_000_000),
                T::Eof
            ]
        );
        assert_eq!(kinds("rate (")[0], T::RangeFn(RangeOp::Rate));
        assert_eq!(kinds("rate")[0], T::Ident("rate".into()));
        assert_eq!(kinds("SUM by (")[0], T::VectorFn(VectorOp::Sum));
        assert_eq!(kinds("5s")[0], T::Duration(5_000_000_000));
        assert_eq!(kinds("-5s")[0], T::Duration(-5_000_000_000));
        assert_eq!(kinds("20MB")[0], T::Bytes(20_000_000));
        assert_eq!(kinds("1-1"), vec![T::Number("1".into()), T::Sub, T::Number("1".into()), T::Eof]);
        assert_eq!(kinds("--strict")[0], T::Flag("--strict".into()));
        assert_eq!(kinds("# c\n1")[0], T::Number("1".into()));
        let t = lex("\n  x");
        assert_eq!((t[0].line, t[0].col), (2, 3));
        let t = lex("ab");
        assert_eq!((t[1].line, t[1].col), (1, 3));
    }
}
