//! `| json`, `| json a="x.y[0]"` and `| unpack`.
//!
//! The scanner follows the `jsonparser` library Loki uses
//! (`grafana/jsonparser`): it walks objects without building a tree, is
//! lenient in the same places (numbers are not validated, text after the
//! closing brace is ignored) and reports the same error texts, which Loki
//! puts in `__error_details__`. Labels found before an error are kept.

use memchr::memchr;

use super::labels::{DUPLICATE_SUFFIX, LabelSet, append_sanitized, may_be_plain_hint};

pub(crate) const JSON_ERR: &str = "JSONParserErr";
/// `_entry`: the packed line of `| unpack`.
const PACKED_ENTRY_KEY: &str = "_entry";
/// Objects nested deeper than this are not flattened (bounded recursion).
const MAX_DEPTH: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    MalformedJson,
    MalformedString,
    MalformedArray,
    MalformedObject,
    UnknownValueType,
    MalformedStringEscape,
    /// `| unpack` on a line that does not start with `{`.
    NotAnObject,
}

impl JsonError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            JsonError::MalformedJson => "Malformed JSON error",
            JsonError::MalformedString => "Value is string, but can't find closing '\"' symbol",
            JsonError::MalformedArray => "Value is array, but can't find closing ']' symbol",
            JsonError::MalformedObject => "Value looks like object, but can't find closing '}' symbol",
            JsonError::UnknownValueType => "Unknown value type",
            JsonError::MalformedStringEscape => "Encountered an invalid escape sequence in a string",
            JsonError::NotAnObject => "expecting json object(6), but it is not",
        }
    }
}

// ---------------------------------------------------------------- scanner

fn next_token(b: &[u8]) -> Option<usize> {
    match b.first() {
        // Compact JSON: the token is right here.
        Some(c) if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') => Some(0),
        _ => b.iter().position(|c| !matches!(c, b' ' | b'\n' | b'\r' | b'\t')),
    }
}

fn token_end(b: &[u8]) -> usize {
    b.iter().position(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']')).unwrap_or(b.len())
}

/// `b` starts after an opening quote: the offset just past the closing
/// quote, and whether the string contains a backslash.
fn string_end(b: &[u8]) -> (Option<usize>, bool) {
    // Most strings are plain: the first quote or backslash decides.
    let i = super::scan::quote_or_backslash(b);
    match b.get(i) {
        Some(b'"') => (Some(i + 1), false),
        Some(_) => string_end_slow(b),
        None => (None, false),
    }
}

fn string_end_slow(b: &[u8]) -> (Option<usize>, bool) {
    let mut escaped = false;
    let mut from = 0;
    while let Some(p) = memchr::memchr2(b'"', b'\\', &b[from..]) {
        let i = from + p;
        if b[i] == b'\\' {
            escaped = true;
            from = i + 1;
            continue;
        }
        if !escaped {
            return (Some(i + 1), false);
        }
        // Count the backslashes right before the quote.
        let run = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if run % 2 == 0 {
            return (Some(i + 1), true);
        }
        from = i + 1;
    }
    (None, escaped)
}

/// `b` starts at `open`: the offset just past the matching `close`.
fn block_end(b: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let (se, _) = string_end(&b[i + 1..]);
            i += se?;
        } else if c == open {
            level += 1;
        } else if c == close {
            level = level.saturating_sub(1);
            if level == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// A value found by [`get`]: `start..end` is its text (strings without
/// their quotes), `next` the offset just past it.
#[derive(Clone, Copy, Debug)]
struct Value {
    start: usize,
    end: usize,
    kind: Kind,
    next: usize,
}

/// jsonparser's `Get` without keys: the value at the start of `b`.
fn get(b: &[u8]) -> Result<Value, JsonError> {
    let off = next_token(b).ok_or(JsonError::MalformedJson)?;
    match b[off] {
        b'"' => {
            let (se, _) = string_end(&b[off + 1..]);
            let end = off + 1 + se.ok_or(JsonError::MalformedString)?;
            Ok(Value { start: off + 1, end: end - 1, kind: Kind::String, next: end })
        }
        b'[' => {
            let end = off + block_end(&b[off..], b'[', b']').ok_or(JsonError::MalformedArray)?;
            Ok(Value { start: off, end, kind: Kind::Array, next: end })
        }
        b'{' => {
            let end = off + block_end(&b[off..], b'{', b'}').ok_or(JsonError::MalformedObject)?;
            Ok(Value { start: off, end, kind: Kind::Object, next: end })
        }
        c => {
            let end = off + token_end(&b[off..]);
            let text = &b[off..end];
            let kind = match c {
                b't' | b'f' if text == b"true" || text == b"false" => Kind::Boolean,
                b'u' | b'n' if text == b"null" => Kind::Null,
                b'0'..=b'9' | b'-' => Kind::Number,
                _ => return Err(JsonError::UnknownValueType),
            };
            Ok(Value { start: off, end, kind, next: end })
        }
    }
}

/// What an object-walk callback wants next.
enum Flow {
    Continue,
    Stop,
}

/// jsonparser's `ObjectEach`: calls `f(key, value text, kind)` for every
/// member of the object at the start of `s`, in order. Keys are unescaped.
/// When a value is invalid, `f` sees the error (with its key) and the walk
/// then fails with it.
fn object_each<'s>(
    s: &'s str,
    mut f: impl FnMut(&str, Result<(&'s str, Kind), JsonError>) -> Result<Flow, JsonError>,
) -> Result<(), JsonError> {
    let b = s.as_bytes();
    let mut off = next_token(b).ok_or(JsonError::MalformedObject)?;
    if b[off] != b'{' {
        return Err(JsonError::MalformedObject);
    }
    off += 1;
    off += next_token(&b[off..]).ok_or(JsonError::MalformedJson)?;
    if b[off] == b'}' {
        return Ok(());
    }
    let mut key_buf = String::new();
    while off < b.len() {
        match b[off] {
            b'"' => off += 1,
            b'}' => return Ok(()),
            _ => return Err(JsonError::MalformedObject),
        }
        let (se, escaped) = string_end(&b[off..]);
        let se = se.ok_or(JsonError::MalformedJson)?;
        let raw_key = s.get(off..off + se - 1).unwrap_or("");
        off += se;
        let key = if escaped {
            unescape(raw_key, &mut key_buf).map_err(|_| JsonError::MalformedStringEscape)?;
            key_buf.as_str()
        } else {
            raw_key
        };
        off += next_token(&b[off..]).ok_or(JsonError::MalformedJson)?;
        if b[off] != b':' {
            return Err(JsonError::MalformedJson);
        }
        off += 1;
        let v = match get(&b[off..]) {
            Ok(v) => v,
            Err(e) => {
                f(key, Err(e))?;
                return Err(e);
            }
        };
        let text = s.get(off + v.start..off + v.end).unwrap_or("");
        if let Flow::Stop = f(key, Ok((text, v.kind)))? {
            return Ok(());
        }
        off += v.next;
        off += next_token(&b[off..]).ok_or(JsonError::MalformedArray)?;
        match b[off] {
            b'}' => return Ok(()),
            b',' => off += 1,
            _ => return Err(JsonError::MalformedObject),
        }
        off += next_token(&b[off..]).ok_or(JsonError::MalformedArray)?;
    }
    Err(JsonError::MalformedObject)
}

/// The `n`-th element of the array at the start of `s`.
fn array_nth(s: &str, n: usize) -> Option<Result<(&str, Kind), JsonError>> {
    let b = s.as_bytes();
    let mut off = next_token(b)?;
    if b[off] != b'[' {
        return None;
    }
    off += 1;
    let mut idx = 0;
    loop {
        off += next_token(&b[off..])?;
        if b[off] == b']' {
            return None;
        }
        let v = match get(&b[off..]) {
            Ok(v) => v,
            Err(e) => return if idx == n { Some(Err(e)) } else { None },
        };
        if idx == n {
            return Some(Ok((s.get(off + v.start..off + v.end).unwrap_or(""), v.kind)));
        }
        idx += 1;
        off += v.next;
        off += next_token(&b[off..])?;
        match b[off] {
            b',' => off += 1,
            _ => return None,
        }
    }
}

/// The character of a one-letter escape shared by JSON and logfmt strings
/// (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`).
pub(crate) fn short_escape(e: u8) -> Option<char> {
    Some(match e {
        b'"' | b'\\' | b'/' => e as char,
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

fn hex(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// `\uXXXX` at the start of `b` (the `\u` is not checked, as in jsonparser).
fn u4(b: &[u8]) -> Option<u32> {
    if b.len() < 6 {
        return None;
    }
    Some(hex(b[2])? << 12 | hex(b[3])? << 8 | hex(b[4])? << 4 | hex(b[5])?)
}

/// jsonparser's `Unescape` into `out` (cleared first).
pub(crate) fn unescape(s: &str, out: &mut String) -> Result<(), ()> {
    out.clear();
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while let Some(p) = memchr(b'\\', &b[i..]) {
        let p = i + p;
        out.push_str(s.get(last..p).ok_or(())?);
        let esc = *b.get(p + 1).ok_or(())?;
        let consumed = match esc {
            b'u' => {
                let r = u4(&b[p..]).ok_or(())?;
                if !(0xD800..=0xDFFF).contains(&r) {
                    out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                    6
                } else {
                    let r2 = u4(&b[p + 6..]).ok_or(())?;
                    if r2 < 0xDC00 {
                        return Err(());
                    }
                    let c = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    12
                }
            }
            _ => {
                out.push(short_escape(esc).ok_or(())?);
                2
            }
        };
        i = p + consumed;
        last = i;
    }
    out.push_str(s.get(last..).ok_or(())?);
    Ok(())
}

/// Loki's `unescapeJSONString`: unescapes (empty on failure) and replaces
/// U+FFFD with a space.
fn unescape_value(s: &str, out: &mut String) {
    if memchr(b'\\', s.as_bytes()).is_none() {
        out.clear();
        out.push_str(s);
    } else if unescape(s, out).is_err() {
        out.clear();
    }
    replace_error_runes(out);
}

/// Replaces every U+FFFD with a space, as Loki does for extracted values.
pub(crate) fn replace_error_runes(s: &mut String) {
    if !s.is_ascii() && has_error_rune(s) {
        *s = s.replace('\u{FFFD}', " ");
    }
}

/// Whether `s` contains U+FFFD (UTF-8 `EF BF BD`).
pub(crate) fn has_error_rune(s: &str) -> bool {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr(0xEF, &b[from..]) {
        let i = from + i;
        if b.get(i + 1) == Some(&0xBF) && b.get(i + 2) == Some(&0xBD) {
            return true;
        }
        from = i + 1;
    }
    false
}

// ---------------------------------------------------------------- JSON paths

/// Where each label `| json` takes from `line` comes from, as Loki's JSON
/// parser records it with `captureJSONPath` (for `detected_fields`'
/// `jsonPath`): `(label name, raw keys from the top)`. A top-level key's
/// path is the key itself; nested paths have `_extracted` trimmed from each
/// part. `collides` says which names get `_extracted` (stream labels).
/// Later occurrences of a name come later. Nothing on a malformed line.
pub(crate) fn label_paths(line: &str, collides: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut keys = Vec::new();
    if walk_paths(line, 0, &mut String::new(), &mut keys, collides, &mut out).is_err() {
        out.clear();
    }
    out
}

fn walk_paths(
    data: &str,
    depth: usize,
    prefix: &mut String,
    keys: &mut Vec<String>,
    collides: &dyn Fn(&str) -> bool,
    out: &mut Vec<(String, Vec<String>)>,
) -> Result<(), JsonError> {
    object_each(data, |key, value| {
        let Ok((value, kind)) = value else {
            return Ok(Flow::Continue);
        };
        match kind {
            Kind::Object if depth + 1 < MAX_DEPTH => {
                let len = prefix.len();
                push_key(prefix, key);
                keys.push(key.to_string());
                let r = walk_paths(value, depth + 1, prefix, keys, collides, out);
                keys.pop();
                prefix.truncate(len);
                r?;
            }
            Kind::String | Kind::Number | Kind::Boolean => {
                let mut name = prefix.clone();
                push_key(&mut name, key);
                if depth > 0 || !name.is_empty() {
                    let dup = collides(&name);
                    if dup {
                        name.push_str(DUPLICATE_SUFFIX);
                    }
                    let path = if depth == 0 {
                        vec![key.to_string()]
                    } else {
                        let trim = |k: &str| k.strip_suffix(DUPLICATE_SUFFIX).unwrap_or(k).to_string();
                        let last = if dup { key.to_string() } else { trim(key) };
                        keys.iter().map(|k| trim(k)).chain([last]).collect()
                    };
                    out.push((name, path));
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    })
}

// ---------------------------------------------------------------- | json

/// Reused buffers of the JSON stages.
#[derive(Default)]
pub(crate) struct JsonScratch {
    prefix: String,
    name: String,
    value: String,
    pairs: Vec<(String, String)>,
}

/// Why a `| json` walk stopped early (Loki's `errFoundAllLabels` and
/// `errLabelDoesNotMatch`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    No,
    /// Every required label is extracted: the rest of the line is not read.
    FoundAll,
    /// A filter on a label just extracted failed: the entry is dropped.
    NoMatch,
}

/// `| json`: every member, nested objects flattened with `_`, arrays and
/// nulls skipped. Returns `false` when the entry is dropped (a label filter
/// failed while parsing, see [`LabelSet::should_continue`]).
///
/// With parser hints, as Loki's `JSONParser`: nothing is parsed when no
/// label is needed ([`LabelSet::no_labels`]), nested objects that cannot
/// hold a required label are skipped, and the walk ends once every
/// required label is extracted (errors further on are then not seen).
pub(crate) fn parse_all(line: &str, labels: &mut LabelSet, sc: &mut JsonScratch) -> bool {
    if labels.no_labels() {
        return true;
    }
    sc.prefix.clear();
    // With hints that are plain names (no `_`), only a top-level key whose
    // sanitized form is exactly a hint can be extracted: other names need
    // not be built at all.
    let simple = labels.plain_hints();
    let mut stop = Stop::No;
    if let Err(e) = flatten(line, 0, labels, sc, simple.as_deref(), &mut stop) {
        labels.parser_error(JSON_ERR, Some(e.message()));
        return true;
    }
    stop != Stop::NoMatch
}

/// Appends a key to a flattened name as Loki does: sanitized, joined with
/// `_`, keys that sanitize to nothing left out.
fn push_key(name: &mut String, key: &str) {
    let len = name.len();
    if !name.is_empty() {
        name.push('_');
    }
    let at = name.len();
    append_sanitized(name, key);
    if name.len() == at {
        name.truncate(len);
    }
}

fn flatten(
    data: &str,
    depth: usize,
    labels: &mut LabelSet,
    sc: &mut JsonScratch,
    simple: Option<&[String]>,
    stop: &mut Stop,
) -> Result<(), JsonError> {
    object_each(data, |key, value| {
        let Ok((value, kind)) = value else {
            return Ok(Flow::Continue);
        };
        let mut no_match = false;
        match kind {
            Kind::Object => {
                if depth + 1 >= MAX_DEPTH {
                    return Ok(Flow::Continue);
                }
                let len = sc.prefix.len();
                let walk = if labels.prunes_objects() {
                    push_key(&mut sc.prefix, key);
                    labels.should_extract_prefix(&sc.prefix)
                } else {
                    if simple.is_none() {
                        push_key(&mut sc.prefix, key);
                    }
                    true
                };
                let r = if walk { flatten(value, depth + 1, labels, sc, simple, stop) } else { Ok(()) };
                sc.prefix.truncate(len);
                r?;
                // Loki checks for all required labels after values only.
                return Ok(if *stop == Stop::No { Flow::Continue } else { Flow::Stop });
            }
            Kind::String | Kind::Number | Kind::Boolean
                if simple.is_some_and(|hints| depth > 0 || !may_be_plain_hint(hints, key)) =>
            {
                // Its name cannot be a hint.
            }
            Kind::String | Kind::Number | Kind::Boolean => {
                sc.name.clear();
                sc.name.push_str(&sc.prefix);
                push_key(&mut sc.name, key);
                // A top-level key that sanitizes to nothing is skipped; a
                // nested one takes the name of its parents (even when empty).
                if depth > 0 || !sc.name.is_empty() {
                    if labels.collides(&sc.name) {
                        sc.name.push_str(DUPLICATE_SUFFIX);
                    }
                    if labels.should_extract(&sc.name) {
                        match kind {
                            Kind::String => unescape_value(value, &mut sc.value),
                            Kind::Boolean => {
                                sc.value.clear();
                                sc.value.push_str(if value == "true" { "true" } else { "false" });
                            }
                            _ => {
                                sc.value.clear();
                                sc.value.push_str(value);
                            }
                        }
                        labels.set_parsed(&sc.name, &sc.value);
                        no_match = !labels.should_continue(&sc.name);
                    }
                }
            }
            Kind::Array | Kind::Null => {}
        }
        // As in Loki, having every required label wins over a failed filter.
        if labels.all_required_extracted() {
            *stop = Stop::FoundAll;
            return Ok(Flow::Stop);
        }
        if no_match {
            *stop = Stop::NoMatch;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })
}

/// One element of a `| json a="x.y[0]"` path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathElem {
    Key(String),
    Index(usize),
}

/// `| json name="path", ...`.
pub(crate) struct JsonExprs {
    exprs: Vec<(String, Vec<PathElem>)>,
}

impl JsonExprs {
    pub(crate) fn compile(params: &[balsa_logql::LabelExtraction]) -> Result<Self, String> {
        let mut exprs = Vec::with_capacity(params.len());
        for p in params {
            let path = parse_json_path(&p.expr).map_err(|e| format!("cannot parse expression [{}]: {e}", p.expr))?;
            exprs.push((p.name.clone(), path));
        }
        Ok(Self { exprs })
    }

    pub(crate) fn process(&self, line: &str, labels: &mut LabelSet, sc: &mut JsonScratch) {
        let Some(&first) = line.as_bytes().first() else {
            return;
        };
        if labels.no_labels() {
            return;
        }
        if !matches!(first, b'"' | b'{' | b'[') {
            labels.parser_error(JSON_ERR, None);
            return;
        }
        let mut matched = 0;
        for (id, path) in &self.exprs {
            match lookup(line, path) {
                None => {}
                Some(Err(e)) => labels.parser_error(JSON_ERR, Some(e.message())),
                Some(Ok((text, kind))) => {
                    match kind {
                        Kind::Null => sc.value.clear(),
                        Kind::Object => {
                            sc.value.clear();
                            sc.value.push_str(text);
                        }
                        _ => unescape_value(text, &mut sc.value),
                    }
                    sc.name.clear();
                    sc.name.push_str(id);
                    if labels.collides(id) {
                        sc.name.push_str(DUPLICATE_SUFFIX);
                    }
                    labels.set_parsed(&sc.name, &sc.value);
                    matched += 1;
                }
            }
        }
        if matched < self.exprs.len() {
            for (id, _) in &self.exprs {
                if labels.get(id).is_none() {
                    labels.set_parsed(id, "");
                }
            }
        }
    }
}

/// The value at `path` in `data`: `None` when absent (or when the JSON is
/// too malformed to get there), an error when the value itself is invalid.
fn lookup<'a>(data: &'a str, path: &[PathElem]) -> Option<Result<(&'a str, Kind), JsonError>> {
    let mut cur: (&'a str, Kind) = (data, Kind::Object);
    for (i, elem) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let found = match elem {
            PathElem::Key(k) => {
                let mut found: Option<Result<(&'a str, Kind), JsonError>> = None;
                let _ = object_each(cur.0, |key, value| {
                    if key == k {
                        found = Some(value);
                        return Ok(Flow::Stop);
                    }
                    Ok(Flow::Continue)
                });
                found
            }
            PathElem::Index(n) => array_nth(cur.0, *n),
        };
        match found? {
            Ok(v) => cur = v,
            Err(e) => return if last { Some(Err(e)) } else { None },
        }
    }
    // Strings are returned without quotes; everything else is raw text.
    Some(Ok(cur))
}

/// Parses a `| json` parameter path: `a.b`, `a["b c"]`, `["a"].b`, `a[0]`.
/// Errors read like Loki's (goyacc) messages.
pub(crate) fn parse_json_path(s: &str) -> Result<Vec<PathElem>, String> {
    #[derive(Debug, PartialEq)]
    enum Tok {
        Field(String),
        Str(String),
        Index(usize),
        Lsb,
        Rsb,
        Dot,
        End,
    }
    fn name(t: &Tok) -> &'static str {
        match t {
            Tok::Field(_) => "FIELD",
            Tok::Str(_) => "STRING",
            Tok::Index(_) => "INDEX",
            Tok::Lsb => "LSB",
            Tok::Rsb => "RSB",
            Tok::Dot => "DOT",
            Tok::End => "$end",
        }
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut lex_err: Option<String> = None;
    let mut toks = Vec::new();
    while lex_err.is_none() {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\n') {
            i += 1;
        }
        let Some(&c) = chars.get(i) else { break };
        if c == '\0' {
            break;
        }
        i += 1;
        match c {
            '0'..='9' => {
                let start = i - 1;
                let mut j = start;
                while j < chars.len() && !matches!(chars[j], ' ' | '\t' | '\n' | '.' | ']') {
                    if !chars[j].is_ascii_digit() {
                        lex_err = Some(format!("non-integer value: {}", chars[j]));
                        break;
                    }
                    j += 1;
                }
                if lex_err.is_some() {
                    break;
                }
                if chars.get(j) == Some(&'.') {
                    lex_err = Some("cannot use float as array index".into());
                    break;
                }
                let digits: String = chars[start..j].iter().collect();
                match digits.parse::<usize>() {
                    Ok(n) => toks.push(Tok::Index(n)),
                    Err(e) => {
                        lex_err = Some(format!("strconv.Atoi: parsing {digits:?}: {e}"));
                        break;
                    }
                }
                i = j;
            }
            '[' => toks.push(Tok::Lsb),
            ']' => toks.push(Tok::Rsb),
            '.' => toks.push(Tok::Dot),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i - 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Field(chars[start..i].iter().collect()));
            }
            '"' => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], '"' | ']' | '\0') {
                    i += 1;
                }
                toks.push(Tok::Str(chars[start..i].iter().collect()));
                if i < chars.len() && chars[i] != '\0' {
                    i += 1;
                }
            }
            c => lex_err = Some(format!("unexpected char {c}")),
        }
    }
    toks.push(Tok::End);
    let syntax = |t: &Tok, expecting: &str| {
        if expecting.is_empty() {
            format!("syntax error: unexpected {}", name(t))
        } else {
            format!("syntax error: unexpected {}, expecting {expecting}", name(t))
        }
    };
    let mut path = Vec::new();
    let mut it = toks.into_iter().peekable();
    let mut first = true;
    loop {
        let t = it.next().unwrap_or(Tok::End);
        match t {
            Tok::End if !first => break,
            Tok::Field(f) if first => path.push(PathElem::Key(f)),
            Tok::Dot if !first => match it.next().unwrap_or(Tok::End) {
                Tok::Field(f) => path.push(PathElem::Key(f)),
                other => return Err(syntax(&other, "FIELD")),
            },
            Tok::Lsb => {
                match it.next().unwrap_or(Tok::End) {
                    Tok::Str(k) => path.push(PathElem::Key(k)),
                    Tok::Index(n) => path.push(PathElem::Index(n)),
                    other => return Err(syntax(&other, "STRING or INDEX")),
                }
                match it.next().unwrap_or(Tok::End) {
                    Tok::Rsb => {}
                    other => return Err(syntax(&other, "RSB")),
                }
            }
            other if first => return Err(syntax(&other, "LSB or FIELD")),
            other => return Err(syntax(&other, "")),
        }
        first = false;
    }
    match lex_err {
        Some(e) => Err(e),
        None => Ok(path),
    }
}

// ---------------------------------------------------------------- | unpack

/// What `| unpack` did to an entry.
pub(crate) enum Unpacked {
    /// The line stays as it is.
    Same,
    /// `_entry` replaced the line (in `new_line`).
    Replaced,
    /// A label filter failed on an unpacked label: the entry is dropped.
    Dropped,
}

/// `| unpack`: string members become labels and `_entry` replaces the line,
/// but only when `_entry` is present. Does nothing when no label is needed
/// (Loki's `NoLabels()`), not even replace the line.
pub(crate) fn unpack(line: &str, labels: &mut LabelSet, sc: &mut JsonScratch, new_line: &mut String) -> Unpacked {
    let Some(&first) = line.as_bytes().first() else {
        return Unpacked::Same;
    };
    if labels.no_labels() {
        return Unpacked::Same;
    }
    if first != b'{' {
        labels.parser_error(JSON_ERR, Some(JsonError::NotAnObject.message()));
        return Unpacked::Same;
    }
    let mut n = 0;
    let mut packed = false;
    let JsonScratch { name, value, pairs, .. } = sc;
    let r = object_each(line, |key, v| {
        let Ok((text, Kind::String)) = v else {
            return Ok(Flow::Continue);
        };
        if key == PACKED_ENTRY_KEY {
            unescape(text, new_line).map_err(|_| JsonError::MalformedStringEscape)?;
            packed = true;
            return Ok(Flow::Continue);
        }
        name.clear();
        name.push_str(key);
        if labels.collides(key) {
            name.push_str(DUPLICATE_SUFFIX);
        }
        if !labels.should_extract(name) {
            return Ok(Flow::Continue);
        }
        if n == pairs.len() {
            pairs.push((String::new(), String::new()));
        }
        let (pn, pv) = &mut pairs[n];
        pn.clear();
        append_sanitized(pn, name);
        unescape_value(text, value);
        pv.clear();
        pv.push_str(value);
        n += 1;
        Ok(Flow::Continue)
    });
    if let Err(e) = r {
        labels.parser_error(JSON_ERR, Some(e.message()));
        return Unpacked::Same;
    }
    if !packed {
        return Unpacked::Same;
    }
    for (k, v) in &pairs[..n] {
        labels.set_parsed(k, v);
        if !labels.should_continue(k) {
            return Unpacked::Dropped;
        }
    }
    Unpacked::Replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        use PathElem::*;
        let k = |s: &str| Key(s.to_string());
        assert_eq!(parse_json_path("a.b").unwrap(), vec![k("a"), k("b")]);
        assert_eq!(parse_json_path(r#"a["b c"][0]"#).unwrap(), vec![k("a"), k("b c"), Index(0)]);
        assert_eq!(parse_json_path(r#"["pod"].uuid"#).unwrap(), vec![k("pod"), k("uuid")]);
        assert_eq!(parse_json_path(r#"["field with ÜFT8👌"]"#).unwrap(), vec![k("field with ÜFT8👌")]);
        assert_eq!(parse_json_path("field with space").unwrap_err(), "syntax error: unexpected FIELD");
        assert_eq!(
            parse_json_path(r#""pod"]"#).unwrap_err(),
            "syntax error: unexpected STRING, expecting LSB or FIELD"
        );
        assert_eq!(parse_json_path(r#"["pod""#).unwrap_err(), "syntax error: unexpected $end, expecting RSB");
        assert_eq!(parse_json_path(r#"["pod""uuid"]"#).unwrap_err(), "syntax error: unexpected STRING, expecting RSB");
        assert_eq!(parse_json_path("pod..uuid").unwrap_err(), "syntax error: unexpected DOT, expecting FIELD");
        assert!(parse_json_path("").is_err());
        assert!(parse_json_path("a[1.5]").is_err());
    }

    #[test]
    fn unescaping() {
        let mut o = String::new();
        unescape(r#"a\"b\\c\/d\n\u00e9\ud83d\ude00"#, &mut o).unwrap();
        assert_eq!(o, "a\"b\\c/d\né😀");
        assert!(unescape(r"\x", &mut o).is_err());
        assert!(unescape(r"\u12", &mut o).is_err());
        assert!(unescape(r"\ud800", &mut o).is_err());
        assert!(unescape("\\", &mut o).is_err());
    }

    #[test]
    fn scanner_is_lenient_like_jsonparser() {
        let mut seen = Vec::new();
        object_each(r#" {"a": 12abc, "b" :"x\"y", "c": [1, {"d": 2}], "e": {"f": null}} trailing"#, |k, v| {
            let (v, kind) = v?;
            seen.push((k.to_string(), v.to_string(), kind));
            Ok(Flow::Continue)
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("a".into(), "12abc".into(), Kind::Number),
                ("b".into(), r#"x\"y"#.into(), Kind::String),
                ("c".into(), r#"[1, {"d": 2}]"#.into(), Kind::Array),
                ("e".into(), r#"{"f": null}"#.into(), Kind::Object),
            ]
        );
        let err = |s: &str| object_each(s, |_, _| Ok(Flow::Continue)).unwrap_err();
        assert_eq!(err("{n}"), JsonError::MalformedObject);
        assert_eq!(err(""), JsonError::MalformedObject);
        assert_eq!(err("{"), JsonError::MalformedJson);
        assert_eq!(err(r#"{"a":1"#), JsonError::MalformedArray);
        assert_eq!(err(r#"{"a":tru}"#), JsonError::UnknownValueType);
        assert_eq!(err(r#"{"a":"x}"#), JsonError::MalformedString);
        assert_eq!(err(r#"{"a":{"b":1}"#), JsonError::MalformedArray);
        assert_eq!(err(r#"{"a":{"b":1}"#), JsonError::MalformedArray);
        assert_eq!(err(r#"{"a" 1}"#), JsonError::MalformedJson);
        assert_eq!(err(r#"{"\x":1}"#), JsonError::MalformedStringEscape);
        assert_eq!(array_nth("[1, \"a\", {}]", 1).unwrap().unwrap(), ("a", Kind::String));
        assert!(array_nth("[1]", 3).is_none());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = 100_000;
        let line = format!("{}\"k\":1{}", "{\"a\":".repeat(depth) + "{", "}".repeat(depth + 1));
        let mut l = LabelSet::new(&balsa_model::Labels::default());
        parse_all(&line, &mut l, &mut JsonScratch::default());
        assert!(!l.has_error());
    }
}
