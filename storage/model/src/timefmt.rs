//! Time formatting the way Loki's Go code prints timestamps in error bodies
//! (always UTC, as a Loki server running in UTC prints them).

use chrono::{DateTime, SecondsFormat, Utc};

fn to_utc(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// Go `t.Format(time.RFC3339)`: `2024-01-02T03:04:05Z` (seconds precision).
pub fn rfc3339(ns: i64) -> String {
    to_utc(ns).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Go `t.String()`: `2024-01-02 03:04:05.5 +0000 UTC` (fraction trimmed).
pub fn go_time_string(ns: i64) -> String {
    let t = to_utc(ns);
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = ns.rem_euclid(1_000_000_000);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Parses an RFC3339 timestamp with optional fraction (Go's `time.Time`
/// JSON form) into Unix nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok()?.timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let ns = 1_700_000_000_500_000_000;
        assert_eq!(rfc3339(ns), "2023-11-14T22:13:20Z");
        assert_eq!(go_time_string(ns), "2023-11-14 22:13:20.5 +0000 UTC");
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(parse_rfc3339("2020-09-02T11:08:03.346240+03:00"), Some(1_599_034_083_346_240_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(ns));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
