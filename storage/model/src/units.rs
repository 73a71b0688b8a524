//! Config value types spelled the way Loki spells them: durations such as
//! `2h`, `1h30m`, `7d`, `500ms` and byte sizes such as `256KB`, `1.5MB`, `4MiB`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Prometheus/Loki syntax (`1y`, `2w`, `7d`, `2h`, `30m`, `10s`,
/// `500ms`, and combinations such as `1h30m`). A bare number means seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("invalid duration {0:?}: use e.g. 500ms, 30s, 5m, 2h, 7d")]
    Duration(String),
    #[error("invalid size {0:?}: use e.g. 512KB, 1.5MB, 4MiB")]
    Size(String),
}

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Self(StdDuration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Self(StdDuration::from_millis(ms))
    }
    pub fn as_nanos_i64(&self) -> i64 {
        i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)
    }
}

impl FromStr for Duration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Duration(s.to_string());
        let t = s.trim();
        if t.is_empty() {
            return Err(err());
        }
        if t == "0" {
            return Ok(Self(StdDuration::ZERO));
        }
        if let Ok(secs) = t.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Ok(Self(StdDuration::from_secs_f64(secs)));
            }
            return Err(err());
        }
        let mut total: u128 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(err)?;
            if digits == 0 {
                return Err(err());
            }
            let number: f64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let nanos_per: f64 = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "d" => 86400e9,
                "w" => 7.0 * 86400e9,
                "y" => 365.0 * 86400e9,
                _ => return Err(err()),
            };
            total = total.saturating_add((number * nanos_per) as u128);
            rest = &rest[unit_len..];
        }
        Ok(Self(StdDuration::from_nanos(u64::try_from(total).map_err(|_| err())?)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if !nanos.is_multiple_of(1_000_000) {
            return write!(f, "{}ns", nanos);
        }
        // Prometheus' `model.Duration.String`: years and weeks only when
        // they divide the whole (90d rather than 12w6d).
        let mut ms = (nanos / 1_000_000) as u64;
        let units = [
            ("y", 31_536_000_000u64, true),
            ("w", 604_800_000, true),
            ("d", 86_400_000, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1000, false),
        ];
        for (unit, size, exact) in units {
            if exact && !ms.is_multiple_of(size) {
                continue;
            }
            if ms >= size {
                write!(f, "{}{}", ms / size, unit)?;
                ms %= size;
            }
        }
        if ms > 0 {
            write!(f, "{}ms", ms)?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = StringOrNumber::deserialize(d)?;
        raw.0.parse().map_err(serde::de::Error::custom)
    }
}

/// A byte size (`256KB`, `1.5MB`, `4MiB`, or a plain number of bytes). As in
/// Loki's `flagext.ByteSize`, `KB`/`MB`/`GB` are powers of 1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }
    pub fn as_usize(&self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Size(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
        let number: f64 = t[..split].parse().map_err(|_| err())?;
        if !number.is_finite() || number < 0.0 {
            return Err(err());
        }
        let multiplier: f64 = match t[split..].trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024.0f64.powi(4),
            _ => return Err(err()),
        };
        Ok(Self((number * multiplier) as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{}", self.0 / size, unit);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = StringOrNumber::deserialize(d)?;
        raw.0.parse().map_err(serde::de::Error::custom)
    }
}

/// Accepts `5m` as well as `300` in YAML.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("2h", 7_200_000),
            ("1h30m", 5_400_000),
            ("7d", 7 * 86_400_000),
            ("500ms", 500),
            ("90", 90_000),
            ("1.5s", 1500),
        ];
        for (text, ms) in cases {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.0.as_millis() as u64, ms, "{text}");
        }
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::from_secs(7 * 86400).to_string(), "1w");
        // Prometheus prints weeks and years only when exact (Loki's /config shows 30d1h).
        assert_eq!(Duration::from_secs(721 * 3600).to_string(), "30d1h");
        assert_eq!(Duration::from_secs(90 * 86400).to_string(), "90d");
        assert_eq!(Duration::from_secs(365 * 86400).to_string(), "1y");
        assert_eq!(Duration::from_secs(14 * 86400).to_string(), "2w");
        assert!("5x".parse::<Duration>().is_err());
        assert!("h".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!("256KB".parse::<ByteSize>().unwrap(), ByteSize::kib(256));
        assert_eq!("1.5MB".parse::<ByteSize>().unwrap(), ByteSize(1_572_864));
        assert_eq!("4MiB".parse::<ByteSize>().unwrap(), ByteSize::mib(4));
        assert_eq!("1000".parse::<ByteSize>().unwrap(), ByteSize(1000));
        assert_eq!(ByteSize::kib(256).to_string(), "256KB");
        assert!("12XB".parse::<ByteSize>().is_err());
    }
}
