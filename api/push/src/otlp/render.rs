//! How Loki turns OTLP values and attribute names into text: pdata's
//! `Value.AsString` (Go's JSON for maps and arrays) and otlptranslator's
//! `LabelNamer.Build` (v1.0.0, as Loki 3.7 vendors it).

use std::fmt::Write;

use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::error::go_quote;

/// pdata's `Value.AsString`: strings as they are, numbers and booleans as
/// Go formats them, bytes in standard base64, maps and arrays as compact
/// JSON (keys sorted, no HTML escaping), an empty value as "".
pub fn value_as_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => go_float(*f),
        Some(Value::BytesValue(b)) => base64(b),
        Some(Value::KvlistValue(_)) | Some(Value::ArrayValue(_)) => {
            let mut out = String::new();
            // Go's encoder fails on NaN and infinities and AsString then gives "".
            if write_json(&mut out, v.and_then(|v| v.value.as_ref())) { out } else { String::new() }
        }
    }
}

/// Writes `AsRaw()` of the value as Go's `encoding/json` would; false when
/// Go's encoder would fail (NaN or an infinity inside).
fn write_json(out: &mut String, v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => json_string(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(f)) => {
            if !f.is_finite() {
                return false;
            }
            out.push_str(&go_float(*f));
        }
        Some(Value::BytesValue(b)) => json_string(out, &base64(b)),
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_json(out, item.value.as_ref()) {
                    return false;
                }
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => {
            // A Go map: the last of duplicate keys wins, keys come out sorted.
            let mut map: std::collections::BTreeMap<&str, Option<&Value>> = Default::default();
            for p in &kv.values {
                map.insert(p.key.as_str(), p.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('{');
            for (i, (k, v)) in map.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                if !write_json(out, v) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

/// Go's JSON string encoding with HTML escaping off.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// pdata's `float64AsString` (ES6 number formatting, as Go's JSON encoder).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust prints 1e21 and 1.5e-7; Go prints 1e+21 and 1.5e-7.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Standard base64 with padding.
fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// otlptranslator's `LabelNamer{}.Build`: every run of characters other
/// than ASCII letters and digits becomes one `_` (`__x__` keeps its double
/// underscores), a leading digit gets `key_`; an empty name, or one left
/// with nothing but underscores, is an error.
pub fn label_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("label name is empty".into());
    }
    let (reserved, inner) = if name.len() >= 4 && name.starts_with("__") && name.ends_with("__") {
        (true, &name[2..name.len() - 2])
    } else {
        (false, name)
    };
    let mut b = String::with_capacity(name.len() + 4);
    let mut prev_underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            b.push(c);
            prev_underscore = false;
        } else if !prev_underscore {
            b.push('_');
            prev_underscore = true;
        }
    }
    let mut normalized = if reserved { format!("__{b}__") } else { b };
    if normalized.starts_with(|c: char| c.is_ascii_digit()) {
        normalized = format!("key_{normalized}");
    }
    if normalized.chars().all(|c| c == '_') {
        return Err(format!(
            "normalization for label name {} resulted in invalid name {}",
            go_quote(name),
            go_quote(&normalized)
        ));
    }
    Ok(normalized)
}
