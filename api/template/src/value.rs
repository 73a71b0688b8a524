//! Run-time values. They model the Go types a Loki template can meet: the label map
//! (`map[string]string`), strings, Go `int`/`int64`, `float64`, `bool`, `time.Time`, and the
//! `map[string]interface{}` / `[]interface{}` / nil values that `fromJson` produces; and those
//! of Prometheus' alert templates: the data struct, its `map[string]string` label maps and
//! `*time.Duration`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::gotime::GoTime;

/// The Go integer type a value carries (Go refuses an `int64` where an `int` is expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntTy {
    Int,
    Int64,
    Uint8,
}

#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    /// A nil interface value (Go's invalid `reflect.Value` after unwrapping).
    Nil,
    Bool(bool),
    Int(i64, IntTy),
    Float(f64),
    Str(Cow<'a, str>),
    Time(GoTime),
    List(Rc<Vec<Value<'a>>>),
    Map(Rc<BTreeMap<String, Value<'a>>>),
    /// The template's data: the `map[string]string` of all labels.
    Data,
    /// A `map[string]string` the caller gives whole (alert labels), by key.
    StrMap(Rc<BTreeMap<&'a str, &'a str>>),
    /// A Go struct value (the alert template data).
    Struct(Rc<GoStruct<'a>>),
    /// A `*time.Duration` (Prometheus' `toDuration`), in nanoseconds.
    Duration(i64),
}

/// A struct: its Go type (`reflect.Type.String()`) and exported fields in declaration order.
#[derive(Debug)]
pub(crate) struct GoStruct<'a> {
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, Value<'a>)>,
}

impl<'a> GoStruct<'a> {
    pub(crate) fn field(&self, name: &str) -> Option<&Value<'a>> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl<'a> Value<'a> {
    pub(crate) fn int(v: i64) -> Self {
        Value::Int(v, IntTy::Int)
    }

    pub(crate) fn int64(v: i64) -> Self {
        Value::Int(v, IntTy::Int64)
    }

    pub(crate) fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Value::Str(s.into())
    }

    /// Go's `reflect.Type.String()` of the value.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_, IntTy::Int) => "int",
            Value::Int(_, IntTy::Int64) => "int64",
            Value::Int(_, IntTy::Uint8) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Data | Value::StrMap(_) => "map[string]string",
            Value::Struct(s) => s.type_name,
            Value::Duration(_) => "*time.Duration",
        }
    }

    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

/// Converts a decoded JSON document to a value the way `encoding/json` decodes into `interface{}`.
pub(crate) fn from_json(v: serde_json::Value) -> Value<'static> {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(Cow::Owned(s)),
        serde_json::Value::Array(a) => Value::List(Rc::new(a.into_iter().map(from_json).collect())),
        serde_json::Value::Object(o) => Value::Map(Rc::new(o.into_iter().map(|(k, v)| (k, from_json(v))).collect())),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, base prefixes `0x`/`0o`/`0b`/`0`,
/// underscores between digits.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_go_uint(body)?;
    if neg {
        if u > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
pub(crate) fn parse_go_uint(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (base, digits, prefixed) = if b[0] == b'0' && b.len() >= 2 {
        match b[1].to_ascii_lowercase() {
            b'x' => (16, &s[2..], true),
            b'o' => (8, &s[2..], true),
            b'b' => (2, &s[2..], true),
            _ => (8, &s[1..], true),
        }
    } else {
        (10, s, false)
    };
    if digits.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        // "0x" alone is invalid; "0" was handled by the non-prefixed path.
        return if prefixed && base == 8 && s == "0" { Some(0) } else { None };
    }
    u64::from_str_radix(&clean, base).ok()
}

/// Go's `underscoreOK`: underscores must separate digits (a base prefix counts as a digit).
pub(crate) fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'-' | b'+') = b.first() {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (hex floats are not supported).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let clean: Cow<'_, str> = if s.contains('_') {
        if !underscore_ok(s) {
            return None;
        }
        Cow::Owned(s.replace('_', ""))
    } else {
        Cow::Borrowed(s)
    };
    let t = clean.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return clean.parse::<f64>().ok();
    }
    // Rust accepts a few spellings Go does not; only allow digits, one dot and an exponent.
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    clean.parse::<f64>().ok()
}

/// cast's `trimZeroDecimal`: "3.00" -> "3".
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    let mut i = b.len();
    while i > 0 {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
                return s;
            }
            b'0' => found_zero = true,
            _ => return s,
        }
        i -= 1;
    }
    s
}

/// Go's `int64(f)` on amd64.
pub(crate) fn f64_to_i64(f: f64) -> i64 {
    if f.is_nan() {
        return i64::MIN;
    }
    // Go's conversion of an out-of-range float is implementation defined; amd64 yields MinInt64.
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        return i64::MIN;
    }
    f as i64
}

/// sprig's `toInt64` (spf13/cast `ToInt64`, errors become 0).
pub(crate) fn to_int64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i, _) => *i,
        Value::Float(f) => f64_to_i64(*f),
        Value::Bool(b) => *b as i64,
        Value::Str(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// sprig's `toFloat64` (spf13/cast `ToFloat64`, errors become 0).
pub(crate) fn to_float64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i, _) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) if *b => 1.0,
        Value::Str(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// sprig's `empty`, used by `default`.
pub(crate) fn is_empty(v: &Value<'_>, label_count: Option<usize>) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i, _) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::Str(s) => s.is_empty(),
        Value::Time(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Data => label_count == Some(0),
        Value::StrMap(m) => m.is_empty(),
        Value::Struct(_) | Value::Duration(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-0x1F"), Some(-31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("1__0"), None);
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("0x"), None);
        assert_eq!(parse_go_int("9223372036854775808"), None);
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("3.5"), None);
    }

    #[test]
    fn casts() {
        assert_eq!(to_int64(&Value::str("3.00")), 3);
        assert_eq!(to_int64(&Value::str("3.5")), 0);
        assert_eq!(to_int64(&Value::Float(3.9)), 3);
        assert_eq!(to_float64(&Value::str("2.5")), 2.5);
        assert_eq!(to_float64(&Value::str("x")), 0.0);
    }
}
