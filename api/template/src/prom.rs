//! Prometheus' template functions as its alert templates have them: `template/template.go`
//! (`NewTemplateExpander`) and the helpers it uses from `prometheus/common`
//! (`helpers/templates`, `model.ParseDuration`), Go's `net.SplitHostPort`,
//! `time.Duration.String` and `x/text/cases` title casing.

use std::borrow::Cow;
use std::rc::Rc;

use crate::fmt::{float_v, format_float, quote};
use crate::funcs::{self, CallEnv, Func};
use crate::gotime::GoTime;
use crate::value::{self, IntTy, Value};

/// What `query` fails with: the template crate has no query engine.
pub(crate) const QUERY_UNSUPPORTED: &str = "query is not supported in alert templates (no query engine here)";

/// Go's message for a method call on a nil `*sample`.
const NIL_DEREFERENCE: &str = "runtime error: invalid memory address or nil pointer dereference";

fn s<'b>(v: &'b Value<'_>) -> &'b str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn owned<'a>(s: String) -> Value<'a> {
    Value::Str(Cow::Owned(s))
}

/// Calls a Prometheus function or a `time.Duration` method with arguments already converted
/// to its parameter types.
pub(crate) fn call<'a>(env: &CallEnv<'a, '_>, f: Func, a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let alert = env.alert.copied().unwrap_or_default();
    let arg = |k: usize| a.get(k).unwrap_or(&Value::Nil);
    let dur = match arg(0) {
        Value::Duration(d) => *d,
        _ => 0,
    };
    Ok(match f {
        Func::PQuery => return Err(QUERY_UNSUPPORTED.to_string()),
        // `query` never returns, so the query-result functions only ever see nil.
        Func::PFirst => return Err("first() called on vector with no elements".to_string()),
        Func::PLabel | Func::PValue | Func::PStrvalue => return Err(NIL_DEREFERENCE.to_string()),
        Func::PSortByLabel => Value::Nil,
        Func::PArgs => Value::Map(Rc::new(a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect())),
        Func::PReReplaceAll => {
            let pattern = s(arg(0));
            // regexp.MustCompile panics; text/template reports the panic's text.
            let re = env.regex(pattern).map_err(|e| format!("regexp: Compile({}): {e}", regexp_quote(pattern)))?;
            owned(funcs::bounded_replace(&re, s(arg(2)), s(arg(1)), false)?)
        }
        Func::PSafeHtml => owned(s(arg(0)).to_string()),
        Func::PMatch => Value::Bool(env.regex(s(arg(0)))?.is_match(s(arg(1)))),
        Func::PTitle => owned(title(s(arg(0)))),
        Func::PToUpper => owned(funcs::to_upper(s(arg(0)))),
        Func::PToLower => owned(funcs::to_lower(s(arg(0)))),
        Func::PGraphLink => owned(format!("/graph?g0.expr={}&g0.tab=0", funcs::query_escape(s(arg(0))))),
        Func::PTableLink => owned(format!("/graph?g0.expr={}&g0.tab=1", funcs::query_escape(s(arg(0))))),
        Func::PStripPort => owned(strip_port(s(arg(0))).to_string()),
        Func::PStripDomain => owned(strip_domain(s(arg(0)))),
        Func::PHumanize => owned(humanize(to_float(arg(0))?)),
        Func::PHumanize1024 => owned(humanize1024(to_float(arg(0))?)),
        Func::PHumanizeDuration => owned(humanize_duration(to_float(arg(0))?)),
        Func::PHumanizePercentage => owned(format!("{}%", g4(to_float(arg(0))? * 100.0))),
        Func::PHumanizeTimestamp => {
            let v = to_float(arg(0))?;
            if !v.is_finite() { owned(g4(v)) } else { owned(float_to_time(v)?.go_string()) }
        }
        Func::PToTime => Value::Time(float_to_time(to_float(arg(0))?)?),
        Func::PToDuration => Value::Duration(value::f64_to_i64(to_float(arg(0))? * 1e9)),
        Func::PNow => Value::Float(alert.eval_time_ms as f64 / 1000.0),
        Func::PPathPrefix => owned(path_prefix(alert.external_url)),
        Func::PExternalUrl => Value::Str(Cow::Borrowed(alert.external_url)),
        Func::PParseDuration => Value::Float(parse_duration_allow_negative(s(arg(0)))? as f64 / 1e9),
        Func::PUrlQueryEscape => owned(funcs::query_escape(s(arg(0)))),
        Func::DString => owned(duration_string(dur)),
        Func::DHours => Value::Float(split_float(dur, 3_600_000_000_000)),
        Func::DMinutes => Value::Float(split_float(dur, 60_000_000_000)),
        Func::DSeconds => Value::Float(split_float(dur, 1_000_000_000)),
        Func::DMilliseconds => Value::int64(dur / 1_000_000),
        Func::DMicroseconds => Value::int64(dur / 1000),
        Func::DNanoseconds => Value::int64(dur),
        _ => return Err(format!("{} is not a Prometheus template function", f.name())),
    })
}

/// `time.Duration.Hours`/`Minutes`/`Seconds`: whole units plus the remainder's fraction.
fn split_float(d: i64, unit: i64) -> f64 {
    (d / unit) as f64 + (d % unit) as f64 / unit as f64
}

/// `fmt.Sprintf("%.4g", v)`.
fn g4(v: f64) -> String {
    format_float(v, 'g', 4)
}

/// prometheus/common's `ConvertToFloat`.
fn to_float(v: &Value<'_>) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i, IntTy::Int | IntTy::Int64) => Ok(*i as f64),
        Value::Str(s) => match value::parse_go_float(s) {
            Some(f) if f.is_infinite() && !s.to_ascii_lowercase().contains("inf") => {
                Err(format!("strconv.ParseFloat: parsing {}: value out of range", quote(s)))
            }
            Some(f) => Ok(f),
            None => Err(format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(s))),
        },
        v => Err(format!("can't convert {} to float", v.type_name())),
    }
}

/// `humanize`: SI prefixes, four significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// `humanize1024`: binary prefixes for values above 1 in magnitude.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// prometheus/common's `HumanizeDuration` (seconds in).
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let duration = value::f64_to_i64(v);
        let seconds = duration.wrapping_rem(60);
        let minutes = duration.wrapping_div(60).wrapping_rem(60);
        let hours = duration.wrapping_div(3600).wrapping_rem(24);
        let days = duration.wrapping_div(86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus' `floatToTime`: Unix seconds to a UTC time, kept to milliseconds (through
/// `model.TimeFromUnixNano`).
pub(crate) fn float_to_time(v: f64) -> Result<GoTime, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".to_string());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            float_v(v)
        ));
    }
    let ms = value::f64_to_i64(ns) / 1_000_000;
    Ok(GoTime::from_unix(ms / 1000, (ms % 1000) * 1_000_000))
}

/// prometheus/common's `model.ParseDurationAllowNegative`, in nanoseconds.
pub(crate) fn parse_duration_allow_negative(s: &str) -> Result<i64, String> {
    match s.strip_prefix('-') {
        Some(rest) => parse_model_duration(rest).map(|d| -d),
        None => parse_model_duration(s),
    }
}

/// prometheus/common's `model.ParseDuration`: units y w d h m s ms, biggest first.
fn parse_model_duration(orig: &str) -> Result<i64, String> {
    match orig {
        "0" => return Ok(0),
        "" => return Err("empty duration string".to_string()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(orig));
    let mut s = orig;
    let mut dur: u64 = 0;
    let mut last_unit_pos = 0;
    while !s.is_empty() {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let v: u64 = s[..digits].parse().map_err(|_| invalid())?;
        s = &s[digits..];
        let unit_len = s.bytes().take_while(|c| !c.is_ascii_digit()).count();
        if unit_len == 0 {
            return Err(invalid());
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let (pos, mult): (u32, u64) = match unit {
            "ms" => (7, 1_000_000),
            "s" => (6, 1_000_000_000),
            "m" => (5, 60_000_000_000),
            "h" => (4, 3_600_000_000_000),
            "d" => (3, 86_400_000_000_000),
            "w" => (2, 604_800_000_000_000),
            "y" => (1, 31_536_000_000_000_000),
            _ => return Err(format!("unknown unit {} in duration {}", quote(unit), quote(orig))),
        };
        if pos <= last_unit_pos {
            return Err(invalid());
        }
        last_unit_pos = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".to_string());
        }
        dur += v * mult;
        if dur > i64::MAX as u64 {
            return Err("duration out of range".to_string());
        }
    }
    Ok(dur as i64)
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    // Built backwards, as Go does.
    let mut buf: Vec<u8> = Vec::with_capacity(32);
    let frac = |buf: &mut Vec<u8>, mut v: u64, prec: u32| -> u64 {
        let mut print = false;
        for _ in 0..prec {
            let digit = (v % 10) as u8;
            print = print || digit != 0;
            if print {
                buf.push(b'0' + digit);
            }
            v /= 10;
        }
        if print {
            buf.push(b'.');
        }
        v
    };
    let int = |buf: &mut Vec<u8>, v: u64| buf.extend(v.to_string().bytes().rev());
    if u < 1_000_000_000 {
        buf.push(b's');
        let prec = if u == 0 {
            return "0s".to_string();
        } else if u < 1000 {
            buf.push(b'n');
            0
        } else if u < 1_000_000 {
            buf.extend("µ".bytes().rev());
            3
        } else {
            buf.push(b'm');
            6
        };
        u = frac(&mut buf, u, prec);
        int(&mut buf, u);
    } else {
        buf.push(b's');
        u = frac(&mut buf, u, 9);
        int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push(b'm');
            int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push(b'h');
                int(&mut buf, u);
            }
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.reverse();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
pub(crate) fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            // "]" not followed by the last colon (or not followed by a colon at all).
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// `stripPort`: the host of "host:port", else the input.
pub(crate) fn strip_port(hostport: &str) -> &str {
    split_host_port(hostport).map_or(hostport, |(host, _)| host)
}

/// `stripDomain`: the first label of a host name, keeping a port; IP addresses unchanged.
pub(crate) fn strip_domain(hostport: &str) -> String {
    let (host, port) = split_host_port(hostport).unwrap_or((hostport, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hostport.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `Path` of the external URL as Go's `url.Parse` gives it (unescaped).
pub(crate) fn path_prefix(raw: &str) -> String {
    let mut rest = raw.split('#').next().unwrap_or("");
    let mut has_scheme = false;
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            rest = &rest[i + 1..];
            has_scheme = true;
        }
    }
    rest = rest.split('?').next().unwrap_or("");
    if has_scheme && !rest.starts_with('/') {
        // An opaque URL ("mailto:x") has no path.
        return String::new();
    }
    if let Some(authority) = rest.strip_prefix("//") {
        rest = authority.find('/').map_or("", |i| &authority[i..]);
    }
    path_unescape(rest).unwrap_or_else(|| rest.to_string())
}

/// Go's `url.PathUnescape`; `None` on a malformed escape.
fn path_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The quoting of Go's `regexp.MustCompile` panic: backquotes when possible.
fn regexp_quote(s: &str) -> String {
    let can_backquote = s.chars().all(|c| !((c < ' ' && c != '\t') || c == '`' || c == '\u{7f}' || c == '\u{feff}'));
    if can_backquote { format!("`{s}`") } else { quote(s) }
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first cased letter of each
/// word is title-cased, the rest is kept. Words break as in x/text's approximation of
/// Unicode word breaking: letters, digits, `_` and combining marks never break; `'`, `.`,
/// `:` (and their Unicode relatives) break only when two of them follow each other;
/// everything else breaks.
pub(crate) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let mut prev_mid = false;
    for c in s.chars() {
        let mid = is_mid(c);
        if prev_mid && mid {
            mid_word = false;
        }
        if is_cased(c) {
            if mid_word {
                out.push(c);
            } else {
                push_title(c, &mut out);
                mid_word = true;
            }
        } else {
            out.push(c);
            if is_break(c) {
                mid_word = false;
            }
        }
        prev_mid = mid;
    }
    out
}

fn is_cased(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase() || matches!(c, 'ǅ' | 'ǈ' | 'ǋ' | 'ǲ')
}

/// Word_Break MidLetter, MidNumLet and Single_Quote.
fn is_mid(c: char) -> bool {
    matches!(
        c,
        '\'' | '.'
            | ':'
            | '\u{b7}'
            | '\u{387}'
            | '\u{55f}'
            | '\u{5f4}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{2027}'
            | '\u{fe13}'
            | '\u{fe52}'
            | '\u{fe55}'
            | '\u{ff07}'
            | '\u{ff0e}'
            | '\u{ff1a}'
    )
}

fn is_break(c: char) -> bool {
    let ideograph_or_kana = matches!(c,
        '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}'
            | '\u{20000}'..='\u{3ffff}');
    let letter = c.is_alphanumeric() && !ideograph_or_kana;
    // ExtendNumLet, and the Extend/Format/ZWJ characters outside Alphabetic.
    let joiner = matches!(c,
        '_' | '\u{203f}' | '\u{2040}' | '\u{2054}' | '\u{fe33}' | '\u{fe34}' | '\u{fe4d}'..='\u{fe4f}' | '\u{ff3f}'
            | '\u{ad}' | '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}'
            | '\u{200c}' | '\u{200d}' | '\u{20d0}'..='\u{20ff}' | '\u{fe00}'..='\u{fe0f}' | '\u{fe20}'..='\u{fe2f}');
    !(letter || joiner || is_mid(c))
}

/// Unicode title-case mapping (full, as x/text applies it).
fn push_title(c: char, out: &mut String) {
    let special = match c {
        'Ǆ' | 'ǅ' | 'ǆ' => "ǅ",
        'Ǉ' | 'ǈ' | 'ǉ' => "ǈ",
        'Ǌ' | 'ǋ' | 'ǌ' => "ǋ",
        'Ǳ' | 'ǲ' | 'ǳ' => "ǲ",
        'ß' => "Ss",
        'ﬀ' => "Ff",
        'ﬁ' => "Fi",
        'ﬂ' => "Fl",
        'ﬃ' => "Ffi",
        'ﬄ' => "Ffl",
        'ﬅ' | 'ﬆ' => "St",
        'և' => "Եւ",
        'ŉ' => "ʼN",
        _ => {
            out.extend(c.to_uppercase());
            return;
        }
    };
    out.push_str(special);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(1_800_000_000_000), "30m0s");
        assert_eq!(duration_string(-1_800_000_000_000), "-30m0s");
        assert_eq!(duration_string(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(7), "7ns");
        assert_eq!(duration_string(i64::MIN), "-2562047h47m16.854775808s");
        assert_eq!(parse_duration_allow_negative("1h2m10ms"), Ok(3_720_010_000_000));
        assert_eq!(parse_duration_allow_negative("-1d"), Ok(-86_400_000_000_000));
        assert_eq!(parse_duration_allow_negative("0"), Ok(0));
        assert_eq!(parse_duration_allow_negative("1m1h"), Err(r#"not a valid duration string: "1m1h""#.to_string()));
        assert_eq!(parse_duration_allow_negative("1.5h"), Err(r#"unknown unit "." in duration "1.5h""#.to_string()));
        assert_eq!(parse_duration_allow_negative("-x"), Err(r#"not a valid duration string: "x""#.to_string()));
        assert_eq!(parse_duration_allow_negative(""), Err("empty duration string".to_string()));
        assert_eq!(parse_duration_allow_negative("300y"), Err("duration out of range".to_string()));
    }

    #[test]
    fn host_ports() {
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("[::1]"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("a]:1"), None);
        assert_eq!(split_host_port(""), None);
        assert_eq!(strip_domain("foo.example.com:80"), "foo:80");
    }

    #[test]
    fn paths() {
        assert_eq!(path_prefix("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(path_prefix("http://h/a%20b?x=1#f"), "/a b");
        assert_eq!(path_prefix("http://h"), "");
        assert_eq!(path_prefix(""), "");
        assert_eq!(path_prefix("/rel"), "/rel");
    }

    #[test]
    fn titles() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("hello-world foo_bar don't a.b 3rd x''y"), "Hello-World Foo_bar Don't A.b 3Rd X''Y");
        assert_eq!(title("ßa élan"), "Ssa Élan");
    }
}
