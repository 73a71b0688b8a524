//! Fields Loki 3.x discovers at ingest and adds as structured metadata
//! (`pkg/distributor/field_detection.go`): `detected_level` for every
//! entry when `limits_config.discover_log_levels` is on (the default), and
//! the experimental `discover_generic_fields`.
//!
//! Where the level comes from, first match wins: an existing
//! `detected_level` (normalized in place); a stream label named in
//! `log_level_fields`; such a structured-metadata pair; OTLP's
//! `severity_number`; the line itself (a JSON field within
//! `log_level_from_json_max_depth`, a logfmt field, else the first level
//! word). A line with no level gets `unknown`.

use std::collections::BTreeMap;

use balsa_model::{Entry, LabelPair, Labels};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The structured-metadata name of the discovered level.
pub const DETECTED_LEVEL: &str = "detected_level";
/// OTLP's severity number, as Loki stores it in structured metadata.
pub const OTLP_SEVERITY_NUMBER: &str = "severity_number";

/// `limits_config.log_level_fields`' default (Loki's `DefaultAllowedLevelFields`).
pub const DEFAULT_LEVEL_FIELDS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

static DEFAULT_FIELDS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| DEFAULT_LEVEL_FIELDS.iter().map(|s| s.to_string()).collect());

/// `limits_config.discover_generic_fields`: structured-metadata name → the
/// label, metadata or line fields to take its value from, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenericFields {
    pub fields: BTreeMap<String, Vec<String>>,
}

/// Adds the discovered fields to `entry`'s structured metadata, as Loki's
/// distributor does after validating it.
pub struct FieldDetector<'a> {
    pub levels: bool,
    pub level_fields: &'a [String],
    pub json_max_depth: i64,
    pub generic: &'a GenericFields,
}

impl FieldDetector<'_> {
    pub fn apply(&self, stream: &Labels, entry: &mut Entry) {
        if self.levels {
            if let Some(level) = self.level(stream, entry) {
                entry.structured_metadata.push(LabelPair { name: DETECTED_LEVEL.into(), value: level });
            }
        }
        for (name, hints) in &self.generic.fields {
            if let Some(value) = generic_field(hints, stream, entry) {
                entry.structured_metadata.push(LabelPair { name: name.clone(), value });
            }
        }
    }

    /// The level to add, or `None` when the entry already has one (which is
    /// normalized in place).
    fn level(&self, stream: &Labels, entry: &mut Entry) -> Option<String> {
        if let Some(p) = entry.structured_metadata.iter_mut().find(|p| p.name == DETECTED_LEVEL) {
            if let Some(n) = normalize_level(&p.value) {
                p.value = n.to_string();
            }
            return None;
        }
        let fields = if self.level_fields.is_empty() { &DEFAULT_FIELDS[..] } else { self.level_fields };
        if let Some(v) = fields.iter().find_map(|f| stream.get(f)) {
            return Some(normalize_or_keep(v));
        }
        if let Some(v) = fields.iter().find_map(|f| metadata(&entry.structured_metadata, f)) {
            return Some(normalize_or_keep(v));
        }
        if let Some(number) = metadata(&entry.structured_metadata, OTLP_SEVERITY_NUMBER).filter(|v| !v.is_empty()) {
            return Some(otlp_level(number).to_string());
        }
        Some(level_from_line(&entry.line, fields, self.json_max_depth).to_string())
    }
}

fn metadata<'a>(pairs: &'a [LabelPair], name: &str) -> Option<&'a str> {
    pairs.iter().find(|p| p.name == name).map(|p| p.value.as_str())
}

/// Loki's `normalizeLogLevel`: a known spelling (any case) to its level.
pub fn normalize_level(v: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
    ];
    TABLE.iter().find(|(k, _)| k.eq_ignore_ascii_case(v)).map(|(_, l)| *l)
}

fn normalize_or_keep(v: &str) -> String {
    normalize_level(v).map_or_else(|| v.to_string(), str::to_string)
}

/// OTLP severity numbers 1–24 in bands of four (`plog.SeverityNumber`);
/// a number that does not parse is `info`, as in Loki.
fn otlp_level(number: &str) -> &'static str {
    match number.parse::<i64>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(n) if n < 0 => "trace",
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => "unknown",
    }
}

fn level_from_line(line: &str, fields: &[String], json_max_depth: i64) -> &'static str {
    let found = if is_json(line) {
        json_level(line, fields, json_max_depth)
    } else if line.contains('=') {
        logfmt_value(line, fields)
    } else {
        return level_word(line);
    };
    found.as_deref().and_then(normalize_level).unwrap_or_else(|| level_word(line))
}

/// First and last non-space characters are `{` and `}`.
fn is_json(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('{') && t.ends_with('}')
}

/// The earliest level word in the line, bounded on both sides as Loki's
/// `detectLevelFromLogLine` bounds it; `unknown` when there is none.
fn level_word(line: &str) -> &'static str {
    const WORDS: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("debug", "debug"),
        ("fatal", "fatal"),
        ("critical", "critical"),
        ("error", "error"),
        ("err", "error"),
        ("warning", "warn"),
        ("warn", "warn"),
        ("info", "info"),
    ];
    let lower = line.to_lowercase();
    let mut best = (lower.len(), "unknown");
    for (word, level) in WORDS {
        if let Some(pos) = bounded_index(&lower, word) {
            if pos < best.0 {
                best = (pos, level);
                if pos == 0 {
                    break;
                }
            }
        }
    }
    best.1
}

fn bounded_index(s: &str, word: &str) -> Option<usize> {
    let b = s.as_bytes();
    let left = |i: usize| i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'[' | b'(' | b'{' | b'"' | b'=');
    let right = |i: usize| {
        i >= b.len()
            || matches!(
                b[i],
                b' ' | b'\t' | b'\n' | b'[' | b']' | b'(' | b')' | b'{' | b'}' | b':' | b',' | b'!' | b'"' | b'='
            )
    };
    let mut from = 0;
    while let Some(p) = s[from..].find(word) {
        let at = from + p;
        if left(at) && right(at + word.len()) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The value of the first hint (in hint order) found among the line's
/// logfmt pairs, keys compared without case (Loki's `getValueUsingLogfmtParser`).
fn logfmt_value(line: &str, hints: &[String]) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for (key, value) in LogfmtPairs::new(line) {
        for (i, hint) in hints.iter().enumerate() {
            if best.as_ref().is_some_and(|(b, _)| *b <= i) {
                break;
            }
            if key.eq_ignore_ascii_case(hint) {
                if i == 0 {
                    return Some(value);
                }
                best = Some((i, value));
                break;
            }
        }
    }
    best.map(|(_, v)| v)
}

/// A go-logfmt style scanner: keys are runs of bytes above space other than
/// `=` and `"`; values are bare or double-quoted (with Go escapes). A pair it
/// cannot scan ends the scan, as go-logfmt's decoder stops on a syntax error.
struct LogfmtPairs<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> LogfmtPairs<'a> {
    fn new(line: &'a str) -> Self {
        Self { s: line.as_bytes(), i: 0 }
    }
}

impl Iterator for LogfmtPairs<'_> {
    type Item = (String, String);

    fn next(&mut self) -> Option<(String, String)> {
        let s = self.s;
        while self.i < s.len() && s[self.i] <= b' ' {
            self.i += 1;
        }
        if self.i >= s.len() {
            return None;
        }
        let start = self.i;
        while self.i < s.len() && s[self.i] > b' ' && s[self.i] != b'=' && s[self.i] != b'"' {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        let key = String::from_utf8_lossy(&s[start..self.i]).into_owned();
        if self.i >= s.len() || s[self.i] != b'=' {
            return Some((key, String::new()));
        }
        self.i += 1;
        if self.i < s.len() && s[self.i] == b'"' {
            let open = self.i;
            self.i += 1;
            while self.i < s.len() && s[self.i] != b'"' {
                if s[self.i] == b'\\' {
                    self.i += 1;
                }
                self.i += 1;
            }
            if self.i >= s.len() {
                return None;
            }
            self.i += 1;
            let quoted = std::str::from_utf8(&s[open..self.i]).ok()?;
            let value = serde_json::from_str::<String>(quoted).unwrap_or_else(|_| quoted[1..quoted.len() - 1].into());
            return Some((key, value));
        }
        let vstart = self.i;
        while self.i < s.len() && s[self.i] > b' ' {
            if s[self.i] == b'"' || s[self.i] == b'=' {
                return None;
            }
            self.i += 1;
        }
        Some((key, String::from_utf8_lossy(&s[vstart..self.i]).into_owned()))
    }
}

/// The first string value, in document order, whose key is a level field,
/// looking into nested objects down to `max_depth` levels (0 or less: no
/// limit), as Loki's `getLevelUsingJSONParser`.
fn json_level(line: &str, fields: &[String], max_depth: i64) -> Option<String> {
    let mut found = None;
    let seed = LevelSeek { fields, depth: 0, max_depth, found: &mut found };
    let mut de = serde_json::Deserializer::from_str(line);
    // A syntax error after the match, or the match itself ending the walk, are both fine.
    let _ = seed.deserialize(&mut de);
    found
}

struct LevelSeek<'a, 'f> {
    fields: &'a [String],
    depth: i64,
    max_depth: i64,
    found: &'f mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for LevelSeek<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeek<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a json value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.max_depth > 0 && self.depth >= self.max_depth {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        while let Some(key) = map.next_key::<String>()? {
            let is_level = self.fields.iter().any(|f| *f == key);
            let value: FieldValue = map.next_value_seed(FieldSeed {
                nested: LevelSeek {
                    fields: self.fields,
                    depth: self.depth + 1,
                    max_depth: self.max_depth,
                    found: &mut *self.found,
                },
            })?;
            if let FieldValue::Str(s) = value {
                if is_level {
                    *self.found = Some(s);
                    return Err(serde::de::Error::custom("key found"));
                }
            }
            if self.found.is_some() {
                return Err(serde::de::Error::custom("key found"));
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

enum FieldValue {
    Str(String),
    Other,
}

/// One object member's value: a string is returned, an object is searched.
struct FieldSeed<'a, 'f> {
    nested: LevelSeek<'a, 'f>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = FieldValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FieldValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_, '_> {
    type Value = FieldValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a json value")
    }
    fn visit_str<E>(self, v: &str) -> Result<FieldValue, E> {
        Ok(FieldValue::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<FieldValue, E> {
        Ok(FieldValue::Str(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldValue, A::Error> {
        self.nested.visit_map(map).map(|()| FieldValue::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }
    fn visit_unit<E>(self) -> Result<FieldValue, E> {
        Ok(FieldValue::Other)
    }
}

/// Loki's `extractGenericField`: a stream label, a metadata pair, then the
/// line (a JSON path `a.b` or a logfmt key).
fn generic_field(hints: &[String], stream: &Labels, entry: &Entry) -> Option<String> {
    if let Some(v) = hints.iter().find_map(|h| stream.get(h)) {
        return Some(v.to_string()).filter(|v| !v.is_empty());
    }
    if let Some(v) = hints.iter().find_map(|h| metadata(&entry.structured_metadata, h)) {
        return Some(v.to_string()).filter(|v| !v.is_empty());
    }
    let line = &entry.line;
    let v = if is_json(line) {
        let doc: serde_json::Value = serde_json::from_str(line).ok()?;
        hints.iter().find_map(|h| {
            let mut cur = &doc;
            for part in h.split('.') {
                cur = cur.get(part)?;
            }
            Some(match cur {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
    } else if line.contains('=') {
        logfmt_value(line, hints)
    } else {
        None
    };
    v.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests;
