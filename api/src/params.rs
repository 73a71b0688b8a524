//! Request parameters the way Loki reads them (`pkg/loghttp/params.go`,
//! `query.go`): timestamps in RFC3339, float seconds or integer
//! (nano)seconds, steps in float seconds or Prometheus durations, `limit`,
//! `direction`, repeated `match[]`, and Loki's error texts (Go's `strconv`
//! messages included, since Loki passes them through).

use balsa_logql::units::{go_quote, parse_prom_duration};
use balsa_model::Direction;

use crate::error::{ApiError, ApiResult};

const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const DEFAULT_LIMIT: usize = 100;
pub const DEFAULT_SINCE_NS: i64 = 3600 * NANOS_PER_SEC;
/// Most points per series a range query may ask for (`errStepTooSmall`).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Query-string and form parameters, repeated keys kept, in the order of
/// Go's `Request.Form`: the form body's values, then the URL's. A single
/// value is the first one, as Go's `Form.Get` reads it.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form: Option<&[u8]>) -> Self {
        // Go's `Request.ParseForm`: the body's values come before the URL's.
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(f) = form {
            v.extend(form_urlencoded::parse(f).into_owned());
        }
        if let Some(q) = query {
            v.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Self(v)
    }

    /// The first value of `key` (Go's `Form.Get`), `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// The LogQL text; absent is the empty query (which fails to parse, as in Loki).
    pub fn query(&self) -> &str {
        self.get("query").unwrap_or("")
    }

    pub fn limit(&self) -> ApiResult<usize> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => {
                let n = parse_go_int(raw, "strconv.Atoi").map_err(ApiError::bad_request)?;
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

    /// `start`/`end`/`since` (`determineBounds`): end defaults to now, start
    /// to end (or now, when end is in the future) minus since (1h).
    pub fn bounds(&self, now_ns: i64) -> ApiResult<(i64, i64)> {
        let since = match self.get("since") {
            Some(s) => parse_prom_duration(s)
                .map_err(|e| ApiError::bad_request(format!("could not parse 'since' parameter: {e}")))?,
            None => DEFAULT_SINCE_NS,
        };
        let end = match self.get("end") {
            Some(raw) => parse_timestamp(raw)
                .map_err(|e| ApiError::bad_request(format!("could not parse 'end' parameter: {e}")))?,
            None => now_ns,
        };
        let start = match self.get("start") {
            Some(raw) => parse_timestamp(raw)
                .map_err(|e| ApiError::bad_request(format!("could not parse 'start' parameter: {e}")))?,
            None => end.min(now_ns).saturating_sub(since),
        };
        Ok((start, end))
    }

    /// The bounds of a range query; the end may not be before the start.
    pub fn range(&self, now_ns: i64) -> ApiResult<(i64, i64)> {
        let (start, end) = self.bounds(now_ns)?;
        if end < start {
            return Err(ApiError::bad_request("end timestamp must not be before or equal to start time"));
        }
        Ok((start, end))
    }

    /// `time` for instant queries, default now. Loki passes the parse error
    /// through as it is.
    pub fn instant(&self, now_ns: i64) -> ApiResult<i64> {
        match self.get("time") {
            Some(raw) => parse_timestamp(raw).map_err(ApiError::bad_request),
            None => Ok(now_ns),
        }
    }

    /// `step` in nanoseconds, default max(floor(range seconds / 250), 1) seconds,
    /// checked as Loki's `ParseRangeQuery` does: positive, and at most
    /// 11,000 steps over the range.
    pub fn step(&self, start: i64, end: i64) -> ApiResult<i64> {
        let step = match self.get("step") {
            Some(s) => parse_seconds_or_duration(s)?,
            None => default_step(start, end),
        };
        if step <= 0 {
            return Err(ApiError::bad_request(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::bad_request(
                "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
            ));
        }
        Ok(step)
    }

    /// `interval` of log queries in nanoseconds; 0 when absent.
    pub fn interval(&self) -> ApiResult<i64> {
        match self.get("interval") {
            Some(s) => {
                let interval = parse_seconds_or_duration(s)?;
                if interval < 0 {
                    return Err(ApiError::bad_request("interval must be >= 0"));
                }
                Ok(interval)
            }
            None => Ok(0),
        }
    }
}

/// `defaultQueryRangeStep`: max(floor(range seconds / 250), 1) seconds.
pub fn default_step(start: i64, end: i64) -> i64 {
    let secs = ((end - start) as f64 / NANOS_PER_SEC as f64 / 250.0).floor().max(1.0);
    secs as i64 * NANOS_PER_SEC
}

/// Loki's `parseTimestamp`: a value with a `.` that parses as a float is
/// seconds (the fraction rounded to milliseconds); otherwise an integer is
/// seconds when it has at most 10 characters, else nanoseconds; otherwise
/// RFC3339. The error is `strconv.ParseInt`'s, as Loki returns it.
pub fn parse_timestamp(raw: &str) -> Result<i64, String> {
    if raw.contains('.')
        && let Some(f) = parse_go_float(raw)
    {
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round() / 1000.0;
        return Ok((secs as i64).saturating_mul(NANOS_PER_SEC).saturating_add((frac * 1e9) as i64));
    }
    match parse_go_int(raw, "strconv.ParseInt") {
        Ok(n) if raw.len() <= 10 => Ok(n.saturating_mul(NANOS_PER_SEC)),
        Ok(n) => Ok(n),
        Err(e) => match chrono::DateTime::parse_from_rfc3339(raw) {
            Ok(dt) if raw.contains('T') => dt.timestamp_nanos_opt().ok_or(e),
            _ => Err(e),
        },
    }
}

/// Loki's `parseSecondsOrDuration`: float seconds, else a Prometheus
/// duration (no fractions, no sign). Nanoseconds.
pub fn parse_seconds_or_duration(raw: &str) -> ApiResult<i64> {
    if let Some(d) = parse_go_float(raw) {
        let ns = d * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(ApiError::bad_request(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(raw)
            )));
        }
        return Ok(ns as i64);
    }
    parse_prom_duration(raw)
        .map_err(|_| ApiError::bad_request(format!("cannot parse {} to a valid duration", go_quote(raw))))
}

/// Go's `strconv.ParseInt(s, 10, 64)` (and `Atoi`), with its error text
/// (`strconv.ParseInt: parsing "x": invalid syntax`).
fn parse_go_int(raw: &str, func: &str) -> Result<i64, String> {
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{func}: parsing {}: invalid syntax", go_quote(raw)));
    }
    raw.parse::<i64>().map_err(|_| format!("{func}: parsing {}: value out of range", go_quote(raw)))
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms (and `inf`/`nan`).
fn parse_go_float(raw: &str) -> Option<f64> {
    let body = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let special = ["inf", "infinity", "nan"].iter().any(|w| body.eq_ignore_ascii_case(w));
    let decimal = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.');
    if !special && !decimal {
        return None;
    }
    raw.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_the_body_comes_first() {
        let p = Params::parse(Some("limit=1&limit=2&query=url"), Some(b"query=body&step=5"));
        assert_eq!(p.get("limit"), Some("1"));
        assert_eq!(p.get("query"), Some("body"));
        assert_eq!(p.get("step"), Some("5"));
        assert_eq!(p.all("query"), ["body", "url"]);
        // An empty first value is absent, as Go's "" is.
        assert_eq!(Params::parse(Some("limit=&limit=5"), None).get("limit"), None);
    }

    #[test]
    fn timestamps_in_every_loki_format() {
        let cases = [
            ("2025-11-18T05:30:32.464Z", 1_763_443_832_464_000_000),
            ("2025-11-18T05:30:32Z", 1_763_443_832_000_000_000),
            ("1763443832", 1_763_443_832_000_000_000),
            ("1763443832.464", 1_763_443_832_464_000_000),
            ("1763443832.4646", 1_763_443_832_465_000_000),
            ("1763443832464000000", 1_763_443_832_464_000_000),
            ("4000000000", 4_000_000_000_000_000_000),
            // More than 10 characters: nanoseconds.
            ("10000000000", 10_000_000_000),
            ("0", 0),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_timestamp(raw).unwrap(), want, "{raw}");
        }
        assert_eq!(
            parse_timestamp("yesterday").unwrap_err(),
            r#"strconv.ParseInt: parsing "yesterday": invalid syntax"#
        );
        assert_eq!(
            parse_timestamp("99999999999999999999").unwrap_err(),
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#
        );
        assert!(parse_timestamp("NaN.0").is_err());
        assert!(parse_timestamp("2024-01-01 00:00:00Z").is_err());
    }

    #[test]
    fn steps_are_float_seconds_or_prometheus_durations() {
        let ok = |s: &str| parse_seconds_or_duration(s).unwrap();
        assert_eq!(ok("5m"), 300 * NANOS_PER_SEC);
        assert_eq!(ok("15"), 15 * NANOS_PER_SEC);
        assert_eq!(ok("1.5"), 1_500_000_000);
        assert_eq!(ok("1500ms"), 1_500_000_000);
        assert_eq!(ok("2m30s"), 150 * NANOS_PER_SEC);
        let err = |s: &str| parse_seconds_or_duration(s).unwrap_err().message;
        assert_eq!(err("soon"), r#"cannot parse "soon" to a valid duration"#);
        // Prometheus durations have no fractions and no sign.
        assert_eq!(err("0.5s"), r#"cannot parse "0.5s" to a valid duration"#);
        assert_eq!(err("-60s"), r#"cannot parse "-60s" to a valid duration"#);
        assert_eq!(err("1e300"), r#"cannot parse "1e300" to a valid duration. It overflows int64"#);
    }

    #[test]
    fn range_defaults_and_limits() {
        let now = 10_000 * NANOS_PER_SEC;
        let p = Params::parse(Some("query=x"), None);
        assert_eq!(p.range(now).unwrap(), (now - DEFAULT_SINCE_NS, now));
        let p = Params::parse(Some("since=10m&end=9000"), None);
        assert_eq!(p.range(now).unwrap(), (8400 * NANOS_PER_SEC, 9000 * NANOS_PER_SEC));
        assert_eq!(
            Params::parse(Some("start=noon"), None).range(now).unwrap_err().message,
            r#"could not parse 'start' parameter: strconv.ParseInt: parsing "noon": invalid syntax"#
        );
        assert_eq!(
            Params::parse(Some("since=1.5h"), None).range(now).unwrap_err().message,
            r#"could not parse 'since' parameter: unknown unit "." in duration "1.5h""#
        );
        assert_eq!(
            Params::parse(Some("time=soon"), None).instant(now).unwrap_err().message,
            r#"strconv.ParseInt: parsing "soon": invalid syntax"#
        );
        assert_eq!(Params::parse(Some("limit=0"), None).limit().unwrap_err().message, "limit must be a positive value");
        assert_eq!(
            Params::parse(Some("limit=many"), None).limit().unwrap_err().message,
            r#"strconv.Atoi: parsing "many": invalid syntax"#
        );
        assert_eq!(Params::parse(Some("direction=FORWARD"), None).direction().unwrap(), Direction::Forward);
        assert_eq!(
            Params::parse(Some("direction=up"), None).direction().unwrap_err().message,
            "invalid direction 'up'"
        );
        let p = Params::parse(Some("match[]=a&match[]=b&query=url"), Some(b"query=%7Ba%3D%22b%22%7D"));
        assert_eq!(p.all("match[]"), vec!["a", "b"]);
        assert_eq!(p.get("query"), Some("{a=\"b\"}"), "the form body takes precedence, as in Go's Request.Form");
        assert_eq!(default_step(0, 1000 * NANOS_PER_SEC), 4 * NANOS_PER_SEC);
        assert_eq!(default_step(0, 10 * NANOS_PER_SEC), NANOS_PER_SEC);
        let p = Params::parse(Some("step=0.01"), None);
        assert!(p.step(0, 600 * NANOS_PER_SEC).unwrap_err().message.starts_with("exceeded maximum resolution"));
        assert!(Params::parse(Some("step=0"), None).step(0, 1).unwrap_err().message.starts_with("zero or negative"));
    }
}
