//! Prometheus' `model.Duration`: what rule files spell `interval`, `for`,
//! `keep_firing_for` and `query_offset` with [prometheus/common
//! `model/time.go` `ParseDuration`, `Duration.String`].
//!
//! `balsa_model::units::Duration` is Loki's config spelling and differs on
//! both sides: it accepts bare numbers (`90`), fractions (`1.5s`) and units in
//! any order, and prints `90d` as `12w6d` and `365d` as `52w1d`. Rule files
//! must reject what Prometheus rejects and print what Loki prints, so rules
//! use this type.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in Prometheus' syntax: `[0-9]+` followed by a unit
/// (`y`, `w`, `d`, `h`, `m`, `s`, `ms`), units from the largest down, each at
/// most once (`1h30m`, `1d`, `500ms`); or `0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub StdDuration);

impl PromDuration {
    pub const ZERO: PromDuration = PromDuration(StdDuration::ZERO);

    pub const fn from_secs(s: u64) -> Self {
        Self(StdDuration::from_secs(s))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Self(StdDuration::from_millis(ms))
    }

    /// Whole milliseconds (saturating).
    pub fn as_millis_i64(&self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000_000_000),
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// Prometheus' parse errors, with Go's texts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration string")]
    Empty,
    #[error("not a valid duration string: {}", super::go_quote(.0))]
    Invalid(String),
    #[error("unknown unit {} in duration {}", super::go_quote(.0), super::go_quote(.1))]
    UnknownUnit(String, String),
    #[error("duration out of range")]
    OutOfRange,
}

impl FromStr for PromDuration {
    type Err = DurationError;

    fn from_str(orig: &str) -> Result<Self, DurationError> {
        match orig {
            "0" => return Ok(Self::ZERO),
            "" => return Err(DurationError::Empty),
            _ => {}
        }
        let invalid = || DurationError::Invalid(orig.to_string());
        let mut s = orig.as_bytes();
        let mut total: u64 = 0;
        let mut last_pos = 0usize;
        while !s.is_empty() {
            if !s[0].is_ascii_digit() {
                return Err(invalid());
            }
            let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
            // Go's ParseUint fails on overflow: the whole string is then invalid.
            let v: u64 = std::str::from_utf8(&s[..digits]).ok().and_then(|d| d.parse().ok()).ok_or_else(invalid)?;
            s = &s[digits..];
            let unit_len = s.iter().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(invalid());
            }
            let unit = String::from_utf8_lossy(&s[..unit_len]).into_owned();
            s = &s[unit_len..];
            let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(DurationError::UnknownUnit(unit, orig.to_string()));
            };
            let pos = pos + 1;
            if pos <= last_pos {
                return Err(invalid());
            }
            last_pos = pos;
            let mult = UNITS[pos - 1].1;
            if v > (1u64 << 63) / mult {
                return Err(DurationError::OutOfRange);
            }
            total = total.checked_add(v * mult).ok_or(DurationError::OutOfRange)?;
            if total > i64::MAX as u64 {
                return Err(DurationError::OutOfRange);
            }
        }
        Ok(Self(StdDuration::from_nanos(total)))
    }
}

impl fmt::Display for PromDuration {
    /// `Duration.String()`: whole milliseconds; years and weeks only when they
    /// divide what is left (`90d`, not `12w6d`); `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        let units: [(&str, u64, bool); 7] = [
            ("y", 365 * 86_400_000, true),
            ("w", 7 * 86_400_000, true),
            ("d", 86_400_000, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1000, false),
            ("ms", 1, false),
        ];
        for (unit, mult, exact) in units {
            if exact && !ms.is_multiple_of(mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    /// Reads the scalar's text (YAML `for: 0` is the text `0`, as in Go,
    /// where `UnmarshalYAML` reads a string) and parses it.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PromDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PromDuration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PromDuration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PromDuration, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_prometheus() {
        let ok = [
            ("0", 0u64),
            ("0s", 0),
            ("500ms", 500),
            ("30s", 30_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("1y2w3d4h5m6s7ms", 31_536_000_000 + 2 * 604_800_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6007),
        ];
        for (text, ms) in ok {
            let d: PromDuration = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(d.0.as_millis() as u64, ms, "{text}");
        }
        let bad = [
            ("", "empty duration string"),
            ("5", r#"not a valid duration string: "5""#),
            ("1.5s", r#"unknown unit "." in duration "1.5s""#),
            ("30m1h", r#"not a valid duration string: "30m1h""#),
            ("1m1m", r#"not a valid duration string: "1m1m""#),
            ("-1m", r#"not a valid duration string: "-1m""#),
            ("m", r#"not a valid duration string: "m""#),
            ("5x", r#"unknown unit "x" in duration "5x""#),
            ("1 m", r#"unknown unit " m" in duration "1 m""#),
            ("300y", "duration out of range"),
            ("99999999999999999999s", r#"not a valid duration string: "99999999999999999999s""#),
        ];
        for (text, msg) in bad {
            let e = text.parse::<PromDuration>().unwrap_err();
            assert_eq!(e.to_string(), msg, "{text}");
        }
    }

    #[test]
    fn prints_like_prometheus() {
        let cases = [
            (0u64, "0s"),
            (500, "500ms"),
            (15_000, "15s"),
            (60_000, "1m"),
            (5_400_000, "1h30m"),
            (86_400_000, "1d"),
            (7 * 86_400_000, "1w"),
            (14 * 86_400_000, "2w"),
            (90 * 86_400_000, "90d"),
            (365 * 86_400_000, "1y"),
            (366 * 86_400_000, "366d"),
            (3_600_000 + 1, "1h1ms"),
        ];
        for (ms, text) in cases {
            assert_eq!(PromDuration::from_millis(ms).to_string(), text, "{ms}");
            assert_eq!(text.parse::<PromDuration>().unwrap(), PromDuration::from_millis(ms), "{text}");
        }
    }
}
