//! Conversions of label values to numbers, with Go's semantics and error
//! texts (Loki reports them in `__error_details__`): `strconv.ParseFloat`,
//! `time.ParseDuration` and go-humanize's `ParseBytes`.

use balsa_logql::units;

/// `strconv.ParseFloat(v, 64)`.
pub(crate) fn parse_float(v: &str) -> Result<f64, String> {
    let t = v.strip_prefix('+').unwrap_or(v);
    let plain = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && t.bytes().any(|b| b.is_ascii_digit());
    // Label filters parse a value per line: no allocation on this path.
    let special = !plain
        && ["inf", "infinity", "nan"].iter().any(|w| t.trim_start_matches('-').eq_ignore_ascii_case(w))
        && !(t.starts_with('-') && t[1..].eq_ignore_ascii_case("nan"));
    if (plain || special)
        && let Ok(f) = v.parse::<f64>()
    {
        return Ok(f);
    }
    Err(format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(v)))
}

/// `time.ParseDuration(v)`, in seconds.
pub(crate) fn parse_duration_seconds(v: &str) -> Result<f64, String> {
    parse_go_duration_ns(v).map(|ns| {
        let (sec, nsec) = (ns / 1_000_000_000, ns % 1_000_000_000);
        sec as f64 + nsec as f64 / 1e9
    })
}

/// `time.ParseDuration(v)` in nanoseconds, with Go's error texts.
pub(crate) fn parse_go_duration_ns(v: &str) -> Result<i64, String> {
    units::parse_go_duration(v)
}

/// go-humanize `ParseBytes`: `1.5KB` = 1500, `2KiB` = 2048, `10 mb`.
pub(crate) fn parse_bytes(s: &str) -> Result<f64, String> {
    units::parse_bytes(s).map(|v| v as f64)
}

/// Go's `strconv.Quote` for the cases error messages meet.
pub(crate) fn go_quote(s: &str) -> String {
    units::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        let table: &[(&str, Result<f64, &str>)] = &[
            ("1", Ok(1.0)),
            ("-2.5", Ok(-2.5)),
            ("+3", Ok(3.0)),
            ("1e3", Ok(1000.0)),
            (".5", Ok(0.5)),
            ("Inf", Ok(f64::INFINITY)),
            ("-inf", Ok(f64::NEG_INFINITY)),
            ("abc", Err(r#"strconv.ParseFloat: parsing "abc": invalid syntax"#)),
            ("12ms", Err(r#"strconv.ParseFloat: parsing "12ms": invalid syntax"#)),
            ("", Err(r#"strconv.ParseFloat: parsing "": invalid syntax"#)),
        ];
        for (input, want) in table {
            assert_eq!(parse_float(input), want.map_err(|e| e.to_string()), "{input}");
        }
        assert!(parse_float("NaN").unwrap().is_nan());
    }

    #[test]
    fn durations() {
        let table: &[(&str, Result<f64, &str>)] = &[
            ("1s", Ok(1.0)),
            ("250ms", Ok(0.25)),
            ("1h30m", Ok(5400.0)),
            ("1.5s", Ok(1.5)),
            ("-2m", Ok(-120.0)),
            ("3us", Ok(0.000003)),
            ("3µs", Ok(0.000003)),
            ("0", Ok(0.0)),
            ("10", Err(r#"time: missing unit in duration "10""#)),
            ("5d", Err(r#"time: unknown unit "d" in duration "5d""#)),
            ("abc", Err(r#"time: invalid duration "abc""#)),
            ("", Err(r#"time: invalid duration """#)),
        ];
        for (input, want) in table {
            assert_eq!(parse_duration_seconds(input), want.map_err(|e| e.to_string()), "{input}");
        }
    }

    #[test]
    fn bytes() {
        let table: &[(&str, Result<f64, &str>)] = &[
            ("42", Ok(42.0)),
            ("1.5KB", Ok(1500.0)),
            ("2KiB", Ok(2048.0)),
            ("10 mb", Ok(10_000_000.0)),
            ("1,000B", Ok(1000.0)),
            ("3GB", Ok(3e9)),
            ("5xb", Err("unhandled size name: xb")),
            ("KB", Err(r#"strconv.ParseFloat: parsing "": invalid syntax"#)),
        ];
        for (input, want) in table {
            assert_eq!(parse_bytes(input), want.map_err(|e| e.to_string()), "{input}");
        }
    }
}
