//! Durations, byte sizes and numbers: parsing and printing them the way Loki
//! (Go) does, so that the canonical form of a query matches Loki's.

const NS_PER_MS: i64 = 1_000_000;

/// Parses a Prometheus duration (`5m`, `1h30m`, `2d`, `1w`, `1y`, `100ms`):
/// units from largest to smallest, no fractions, no sign. Returns
/// nanoseconds. Errors read like Prometheus' `model.ParseDuration`.
pub fn parse_prom_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_quote(s));
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    let mut last_pos = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let v: u128 = s[start..i].parse::<u64>().map_err(|_| invalid())? as u128;
        let ustart = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == ustart {
            return Err(invalid());
        }
        let unit = &s[ustart..i];
        let (pos, mult): (u32, i64) = match unit {
            "y" => (1, 365 * 24 * 3600 * 1_000_000_000),
            "w" => (2, 7 * 24 * 3600 * 1_000_000_000),
            "d" => (3, 24 * 3600 * 1_000_000_000),
            "h" => (4, 3600 * 1_000_000_000),
            "m" => (5, 60 * 1_000_000_000),
            "s" => (6, 1_000_000_000),
            "ms" => (7, NS_PER_MS),
            _ => return Err(format!("unknown unit {} in duration {}", go_quote(unit), go_quote(s))),
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        total += v * mult as u128;
        if total > i64::MAX as u128 {
            return Err("duration out of range".into());
        }
    }
    Ok(total as i64)
}

/// Parses a Go duration (`1.5s`, `-5m`, `300ms`, `2h45m`, `10us`).
/// Returns nanoseconds.
pub fn parse_go_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &rest[..i];
        let mut frac_part = "";
        if i < b.len() && b[i] == b'.' {
            let fs = i + 1;
            let mut j = fs;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            frac_part = &rest[fs..j];
            i = j;
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let us = i;
        let mut j = i;
        while j < b.len() && b[j] != b'.' && !b[j].is_ascii_digit() {
            j += 1;
        }
        if j == us {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let unit = &rest[us..j];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!("time: unknown unit {} in duration {}", go_quote(unit), go_quote(orig)));
            }
        };
        let num: f64 = format!("{}.{}", if int_part.is_empty() { "0" } else { int_part }, frac_part)
            .parse()
            .map_err(|_| invalid())?;
        total += num * mult;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
        rest = &rest[j..];
    }
    let v = total as i64;
    Ok(if neg { -v } else { v })
}

/// Loki's duration rule: Prometheus syntax first, then Go syntax.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    parse_prom_duration(s).or_else(|_| parse_go_duration(s))
}

/// Parses a human byte size like `go-humanize`'s `ParseBytes`: `20MB`,
/// `1.5KiB`, `10 kb`, `3K`, `42`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let mut last = 0;
    let mut has_comma = false;
    for (i, c) in s.char_indices() {
        if !(c.is_ascii_digit() || c == '.' || c == ',') {
            break;
        }
        if c == ',' {
            has_comma = true;
        }
        last = i + c.len_utf8();
    }
    let mut num = s[..last].to_string();
    if has_comma {
        num = num.replace(',', "");
    }
    let f: f64 = num.parse().map_err(|_| format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(&num)))?;
    let extra = s[last..].trim().to_ascii_lowercase();
    let m: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * m;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(v as u64)
}

/// Prints a duration like Prometheus' `model.Duration.String()` (`5m`,
/// `1h30m`, `1d`, `2w`, `0s`), at millisecond precision.
pub fn fmt_prom_duration(ns: i64) -> String {
    let mut ms = ns / NS_PER_MS;
    if ms == 0 {
        return "0s".into();
    }
    let mut r = String::new();
    if ms < 0 {
        r.push('-');
        ms = -ms;
    }
    let units: [(&str, i64, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            r.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    r
}

/// Prints a duration like Go's `time.Duration.String()` (`5m0s`, `1.5s`,
/// `100ms`, `1h0m0s`, `0s`).
pub fn fmt_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "\u{b5}s")
        } else {
            (6, "ms")
        };
        out.push_str(&fmt_frac(u, prec));
        out.push_str(unit);
    } else {
        let secs_ns = u % 60_000_000_000;
        let mins_total = u / 60_000_000_000;
        let mut s = fmt_frac(secs_ns, 9);
        s.push('s');
        if mins_total > 0 {
            let h = mins_total / 60;
            let m = mins_total % 60;
            s = format!("{m}m{s}");
            if h > 0 {
                s = format!("{h}h{s}");
            }
        }
        out.push_str(&s);
    }
    if neg { format!("-{out}") } else { out }
}

/// `v / 10^prec` printed with trailing fractional zeros removed.
fn fmt_frac(v: u64, prec: u32) -> String {
    if prec == 0 {
        return v.to_string();
    }
    let p = 10u64.pow(prec);
    let int = v / p;
    let frac = v % p;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{:0width$}", frac, width = prec as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Prints bytes like `go-humanize`'s `Bytes` (SI units) without spaces,
/// as Loki prints bytes label filters: `20MB`, `1.0kB`, `5B`.
pub fn fmt_humanize_bytes(v: u64) -> String {
    if v < 10 {
        return format!("{v}B");
    }
    let sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((v as f64).ln() / 1000f64.ln()).floor();
    let idx = (e as usize).min(sizes.len() - 1);
    let val = ((v as f64) / 1000f64.powi(idx as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 { format!("{val:.1}{}", sizes[idx]) } else { format!("{val:.0}{}", sizes[idx]) }
}

/// Shortest decimal digits and decimal-point position of a finite, non-zero
/// float: `v = 0.d1d2d3... * 10^dp`.
fn shortest_digits(v: f64) -> (String, i32) {
    let s = format!("{:e}", v.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() { "0".to_string() } else { digits };
    (digits, exp + 1)
}

/// Prints a float like Go's `fmt.Sprint(float64)` / `strconv.FormatFloat(v,
/// 'g', -1, 64)`: `2`, `0.5`, `1e+06`, `1.5e-07`, `NaN`, `+Inf`.
pub fn fmt_float_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(v);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    } else {
        format!("{sign}{}", fixed_from_digits(&digits, dp))
    }
}

/// Prints a float like Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the
/// shortest exact decimal, never with an exponent.
pub fn fmt_float_f(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(v);
    format!("{sign}{}", fixed_from_digits(&digits, dp))
}

fn fixed_from_digits(digits: &str, dp: i32) -> String {
    let n = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= n {
        format!("{}{}", digits, "0".repeat((dp - n) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    }
}

/// Quotes like Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_prom_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_prom_duration("1h30m"), Ok(5_400_000_000_000));
        assert!(parse_prom_duration("30m1h").is_err());
        assert!(parse_prom_duration("1.5s").is_err());
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("-5m"), Ok(-300_000_000_000));
        assert_eq!(fmt_prom_duration(300_000_000_000), "5m");
        assert_eq!(fmt_prom_duration(5_400_000_000_000), "1h30m");
        assert_eq!(fmt_prom_duration(86_400_000_000_000), "1d");
        assert_eq!(fmt_prom_duration(7 * 86_400_000_000_000), "1w");
        assert_eq!(fmt_go_duration(300_000_000_000), "5m0s");
        assert_eq!(fmt_go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(fmt_go_duration(1_500_000_000), "1.5s");
        assert_eq!(fmt_go_duration(100_000_000), "100ms");
        assert_eq!(fmt_go_duration(-30_000_000_000), "-30s");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20MB"), Ok(20_000_000));
        assert_eq!(parse_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_bytes("5"), Ok(5));
        assert_eq!(fmt_humanize_bytes(20_000_000), "20MB");
        assert_eq!(fmt_humanize_bytes(1024), "1.0kB");
        assert_eq!(fmt_humanize_bytes(5), "5B");
    }

    #[test]
    fn floats() {
        assert_eq!(fmt_float_g(2.0), "2");
        assert_eq!(fmt_float_g(0.5), "0.5");
        assert_eq!(fmt_float_g(-1.25), "-1.25");
        assert_eq!(fmt_float_g(100000.0), "100000");
        assert_eq!(fmt_float_g(1e6), "1e+06");
        assert_eq!(fmt_float_g(1234567.0), "1.234567e+06");
        assert_eq!(fmt_float_g(0.0001), "0.0001");
        assert_eq!(fmt_float_g(0.00001), "1e-05");
        assert_eq!(fmt_float_g(f64::NAN), "NaN");
        assert_eq!(fmt_float_f(1e21), "1000000000000000000000");
        assert_eq!(fmt_float_f(0.99), "0.99");
        assert_eq!(fmt_float_f(200.0), "200");
    }
}
