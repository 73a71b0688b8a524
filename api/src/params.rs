//! Request parameters the way Loki reads them (`pkg/loghttp/params.go`):
//! timestamps in RFC3339, float seconds or integer (nano)seconds, Prometheus
//! durations, `limit`, `direction`, repeated `match[]`.

use balsa_model::Direction;
use balsa_model::units::Duration;

use crate::error::{ApiError, ApiResult};

const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const DEFAULT_LIMIT: usize = 100;
pub const DEFAULT_SINCE_NS: i64 = 3600 * NANOS_PER_SEC;

/// Query-string and form parameters, in order, repeated keys kept.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form: Option<&[u8]>) -> Self {
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(q) = query {
            v.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        if let Some(f) = form {
            v.extend(form_urlencoded::parse(f).into_owned());
        }
        Self(v)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn query(&self) -> ApiResult<&str> {
        self.get("query").ok_or_else(|| ApiError::bad_request("query parameter is required"))
    }

    pub fn limit(&self) -> ApiResult<usize> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => {
                let n: i64 = raw.parse().map_err(|_| ApiError::bad_request(format!("invalid limit '{raw}'")))?;
                if n <= 0 {
                    return Err(ApiError::bad_request("limit must be a positive value"));
                }
                Ok(n as usize)
            }
        }
    }

    pub fn direction(&self) -> ApiResult<Direction> {
        match self.get("direction") {
            None => Ok(Direction::Backward),
            Some(d) if d.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
            Some(d) if d.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
            Some(d) => Err(ApiError::bad_request(format!("invalid direction '{d}'"))),
        }
    }

    fn time(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key).map(parse_timestamp).transpose()
    }

    /// `start`/`end`/`since`: end defaults to now, start to end − since (1h).
    pub fn range(&self, now_ns: i64) -> ApiResult<(i64, i64)> {
        let end = self.time("end")?.unwrap_or(now_ns);
        let since = match self.get("since") {
            Some(s) => parse_duration_ns(s)?,
            None => DEFAULT_SINCE_NS,
        };
        let start = match self.time("start")? {
            Some(s) => s,
            None => end.min(now_ns).saturating_sub(since),
        };
        if end < start {
            return Err(ApiError::bad_request("end timestamp must not be before or equal to start time"));
        }
        Ok((start, end))
    }

    /// `time` for instant queries, default now.
    pub fn instant(&self, now_ns: i64) -> ApiResult<i64> {
        Ok(self.time("time")?.unwrap_or(now_ns))
    }

    /// `step` (or `interval`) in nanoseconds; default max(range/250, 1s).
    pub fn step(&self, start: i64, end: i64) -> ApiResult<i64> {
        match self.get("step") {
            Some(s) => {
                let step = parse_duration_ns(s)?;
                if step <= 0 {
                    return Err(ApiError::bad_request(
                        "zero or negative query resolution step widths are not accepted. Try a positive integer",
                    ));
                }
                Ok(step)
            }
            None => Ok(default_step(start, end)),
        }
    }
}

impl Params {
    /// `interval` of log queries in nanoseconds; 0 when absent.
    pub fn interval(&self) -> ApiResult<i64> {
        match self.get("interval") {
            Some(s) => {
                let interval = parse_duration_ns(s)?;
                if interval < 0 {
                    return Err(ApiError::bad_request("interval must not be negative"));
                }
                Ok(interval)
            }
            None => Ok(0),
        }
    }
}

pub fn default_step(start: i64, end: i64) -> i64 {
    (((end - start) / NANOS_PER_SEC) / 250).max(1) * NANOS_PER_SEC
}

/// Loki's timestamp rules: RFC3339(Nano); a number with a `.` is float
/// seconds when its integer part has ≤ 10 digits' worth (≤ 1e10), else
/// nanoseconds; a plain integer ≤ 1e10 is seconds, else nanoseconds.
pub fn parse_timestamp(raw: &str) -> ApiResult<i64> {
    let bad = || ApiError::bad_request(format!("invalid timestamp '{raw}'"));
    let s = raw.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt().ok_or_else(bad);
    }
    if s.contains('.') {
        let f: f64 = s.parse().map_err(|_| bad())?;
        if !f.is_finite() {
            return Err(bad());
        }
        let int_part = f.trunc();
        if int_part.abs() <= 1e10 {
            let ms = (f * 1000.0).round() as i64;
            return ms.checked_mul(1_000_000).ok_or_else(bad);
        }
        return Ok(f as i64);
    }
    let n: i64 = s.parse().map_err(|_| bad())?;
    if n.abs() <= 10_000_000_000 {
        return n.checked_mul(NANOS_PER_SEC).ok_or_else(bad);
    }
    Ok(n)
}

/// A Prometheus duration (`5m`, `1h30m`) or float seconds (`15`, `1.5`).
pub fn parse_duration_ns(raw: &str) -> ApiResult<i64> {
    let s = raw.trim();
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Ok((f * 1e9) as i64);
    }
    s.parse::<Duration>()
        .map(|d| d.as_nanos_i64())
        .map_err(|_| ApiError::bad_request(format!("invalid duration '{raw}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_loki_format() {
        let cases = [
            ("2025-11-18T05:30:32.464Z", 1_763_443_832_464_000_000),
            ("2025-11-18T05:30:32Z", 1_763_443_832_000_000_000),
            ("1763443832", 1_763_443_832_000_000_000),
            ("1763443832.464", 1_763_443_832_464_000_000),
            ("1763443832464000000", 1_763_443_832_464_000_000),
            ("4000000000", 4_000_000_000_000_000_000),
            ("0", 0),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_timestamp(raw).unwrap(), want, "{raw}");
        }
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("NaN.0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("5m").unwrap(), 300 * NANOS_PER_SEC);
        assert_eq!(parse_duration_ns("15").unwrap(), 15 * NANOS_PER_SEC);
        assert_eq!(parse_duration_ns("1500ms").unwrap(), 1_500_000_000);
        assert!(parse_duration_ns("soon").is_err());
    }

    #[test]
    fn range_defaults_and_limits() {
        let now = 10_000 * NANOS_PER_SEC;
        let p = Params::parse(Some("query=x"), None);
        assert_eq!(p.range(now).unwrap(), (now - DEFAULT_SINCE_NS, now));
        let p = Params::parse(Some("since=10m&end=9000"), None);
        assert_eq!(p.range(now).unwrap(), (8400 * NANOS_PER_SEC, 9000 * NANOS_PER_SEC));
        assert_eq!(Params::parse(Some("limit=0"), None).limit().unwrap_err().message, "limit must be a positive value");
        assert_eq!(Params::parse(Some("direction=FORWARD"), None).direction().unwrap(), Direction::Forward);
        assert_eq!(
            Params::parse(Some("direction=up"), None).direction().unwrap_err().message,
            "invalid direction 'up'"
        );
        let p = Params::parse(Some("match[]=a&match[]=b"), Some(b"query=%7Ba%3D%22b%22%7D"));
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
        assert_eq!(p.get("query"), Some("{a=\"b\"}"));
        assert_eq!(default_step(0, 1000 * NANOS_PER_SEC), 4 * NANOS_PER_SEC);
    }
}
