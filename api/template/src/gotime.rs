//! Go's `time.Time` as far as templates use it: layouts built from the reference time
//! `Mon Jan 2 15:04:05 MST 2006` for formatting and parsing, `Time.String()`, and
//! `time.ParseDuration`.
//!
//! The server's local zone (`time.Local`) is taken to be UTC, as in Loki's container images.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::OffsetName;

/// Unix seconds of Go's zero time, January 1, year 1, 00:00:00 UTC.
pub(crate) const ZERO_SECS: i64 = -62_135_596_800;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Loc {
    Utc,
    Tz(chrono_tz::Tz),
    /// A fixed zone as `time.FixedZone(name, offset)`.
    Fixed {
        name: String,
        offset: i32,
    },
}

impl Loc {
    /// Go's `time.LoadLocation`; "Local" is the server zone, taken as UTC.
    pub(crate) fn load(name: &str) -> Option<Loc> {
        match name {
            "" | "UTC" | "Local" => Some(Loc::Utc),
            _ => name.parse::<chrono_tz::Tz>().ok().map(Loc::Tz),
        }
    }

    /// Zone abbreviation and offset (seconds east of UTC) in effect at a Unix second.
    fn lookup(&self, secs: i64) -> (String, i32) {
        match self {
            Loc::Utc => ("UTC".to_string(), 0),
            Loc::Fixed { name, offset } => (name.clone(), *offset),
            Loc::Tz(tz) => match chrono::DateTime::from_timestamp(secs, 0) {
                Some(dt) => {
                    let off = tz.offset_from_utc_datetime(&dt.naive_utc());
                    let fix = off.fix().local_minus_utc();
                    let name = off.abbreviation().map(str::to_string).unwrap_or_else(|| numeric_zone(fix));
                    (name, fix)
                }
                None => ("UTC".to_string(), 0),
            },
        }
    }
}

fn numeric_zone(offset: i32) -> String {
    let (sign, o) = if offset < 0 { ('-', -offset) } else { ('+', offset) };
    if o % 3600 == 0 { format!("{sign}{:02}", o / 3600) } else { format!("{sign}{:02}{:02}", o / 3600, (o / 60) % 60) }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GoTime {
    pub secs: i64,
    pub nsec: u32,
    pub loc: Loc,
}

const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Broken-down civil time in the value's zone.
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub nsec: u32,
    pub weekday: usize,
    pub yday: u32,
    pub zone: String,
    pub offset: i32,
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian), valid for any i64 year range we use.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 => {
            if is_leap(year) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl GoTime {
    pub(crate) fn zero() -> GoTime {
        GoTime { secs: ZERO_SECS, nsec: 0, loc: Loc::Utc }
    }

    /// `time.Unix(0, ns)` in the local (UTC) zone.
    pub(crate) fn from_unix_nanos(ns: i64) -> GoTime {
        GoTime { secs: ns.div_euclid(1_000_000_000), nsec: ns.rem_euclid(1_000_000_000) as u32, loc: Loc::Utc }
    }

    pub(crate) fn from_unix(secs: i64, nsec: i64) -> GoTime {
        let extra = nsec.div_euclid(1_000_000_000);
        GoTime { secs: secs.saturating_add(extra), nsec: nsec.rem_euclid(1_000_000_000) as u32, loc: Loc::Utc }
    }

    pub(crate) fn now() -> GoTime {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        GoTime { secs: d.as_secs() as i64, nsec: d.subsec_nanos(), loc: Loc::Utc }
    }

    /// Go's `Time.Add(d)` (seconds saturate instead of overflowing).
    pub(crate) fn add_nanos(&self, d: i64) -> GoTime {
        let nsec = self.nsec as i64 + d % 1_000_000_000;
        let secs = self.secs.saturating_add(d / 1_000_000_000).saturating_add(nsec.div_euclid(1_000_000_000));
        GoTime { secs, nsec: nsec.rem_euclid(1_000_000_000) as u32, loc: self.loc.clone() }
    }

    pub(crate) fn in_loc(&self, loc: Loc) -> GoTime {
        GoTime { secs: self.secs, nsec: self.nsec, loc }
    }

    pub(crate) fn unix_milli(&self) -> i64 {
        self.secs.wrapping_mul(1000).wrapping_add((self.nsec / 1_000_000) as i64)
    }

    pub(crate) fn unix_micro(&self) -> i64 {
        self.secs.wrapping_mul(1_000_000).wrapping_add((self.nsec / 1000) as i64)
    }

    pub(crate) fn unix_nano(&self) -> i64 {
        self.secs.wrapping_mul(1_000_000_000).wrapping_add(self.nsec as i64)
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.secs == ZERO_SECS && self.nsec == 0
    }

    pub(crate) fn civil(&self) -> Civil {
        let (zone, offset) = self.loc.lookup(self.secs);
        let local = self.secs.saturating_add(offset as i64);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as usize;
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            min: (sod / 60) % 60,
            sec: sod % 60,
            nsec: self.nsec,
            weekday,
            yday,
            zone,
            offset,
        }
    }

    /// Go's `Time.String()` (without the monotonic clock reading).
    pub(crate) fn go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    pub(crate) fn month_name(&self) -> &'static str {
        LONG_MONTHS[(self.civil().month - 1) as usize]
    }

    pub(crate) fn weekday_name(&self) -> &'static str {
        LONG_DAYS[self.civil().weekday]
    }

    /// Go's `Time.Format(layout)`.
    pub(crate) fn format(&self, layout: &str) -> String {
        let c = self.civil();
        let mut b = String::with_capacity(layout.len() + 10);
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, std, suffix) = next_std_chunk(rest);
            b.push_str(prefix);
            let Some(std) = std else { break };
            rest = suffix;
            match std {
                Std::Year => pad(&mut b, c.year.rem_euclid(100), 2),
                Std::LongYear => pad(&mut b, c.year, 4),
                Std::Month => b.push_str(&LONG_MONTHS[(c.month - 1) as usize][..3]),
                Std::LongMonth => b.push_str(LONG_MONTHS[(c.month - 1) as usize]),
                Std::NumMonth => pad(&mut b, c.month as i64, 0),
                Std::ZeroMonth => pad(&mut b, c.month as i64, 2),
                Std::WeekDay => b.push_str(&LONG_DAYS[c.weekday][..3]),
                Std::LongWeekDay => b.push_str(LONG_DAYS[c.weekday]),
                Std::Day => pad(&mut b, c.day as i64, 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    pad(&mut b, c.day as i64, 0)
                }
                Std::ZeroDay => pad(&mut b, c.day as i64, 2),
                Std::UnderYearDay => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    pad(&mut b, c.yday as i64, 0)
                }
                Std::ZeroYearDay => pad(&mut b, c.yday as i64, 3),
                Std::Hour => pad(&mut b, c.hour as i64, 2),
                Std::Hour12 | Std::ZeroHour12 => {
                    let mut hr = c.hour % 12;
                    if hr == 0 {
                        hr = 12;
                    }
                    pad(&mut b, hr as i64, if std == Std::ZeroHour12 { 2 } else { 0 })
                }
                Std::Minute => pad(&mut b, c.min as i64, 0),
                Std::ZeroMinute => pad(&mut b, c.min as i64, 2),
                Std::Second => pad(&mut b, c.sec as i64, 0),
                Std::ZeroSecond => pad(&mut b, c.sec as i64, 2),
                Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::Tz(tz) => {
                    if tz.iso && c.offset == 0 {
                        b.push('Z');
                    } else {
                        let mut zone = c.offset / 60;
                        let mut abs = c.offset;
                        if zone < 0 {
                            b.push('-');
                            zone = -zone;
                            abs = -abs;
                        } else {
                            b.push('+');
                        }
                        pad(&mut b, (zone / 60) as i64, 2);
                        if tz.colon {
                            b.push(':');
                        }
                        if !tz.short {
                            pad(&mut b, (zone % 60) as i64, 2);
                        }
                        if tz.seconds {
                            if tz.colon {
                                b.push(':');
                            }
                            pad(&mut b, (abs % 60) as i64, 2);
                        }
                    }
                }
                Std::ZoneName => {
                    if !c.zone.is_empty() {
                        b.push_str(&c.zone);
                    } else {
                        let mut zone = c.offset / 60;
                        if zone < 0 {
                            b.push('-');
                            zone = -zone;
                        } else {
                            b.push('+');
                        }
                        pad(&mut b, (zone / 60) as i64, 2);
                        pad(&mut b, (zone % 60) as i64, 2);
                    }
                }
                Std::Frac { sep, digits, trim } => {
                    if trim && (digits == 0 || c.nsec == 0) {
                        continue;
                    }
                    let mut s = format!("{:09}", c.nsec);
                    s.truncate(digits.min(9));
                    if trim {
                        while s.ends_with('0') {
                            s.pop();
                        }
                        if s.is_empty() {
                            continue;
                        }
                    }
                    b.push(sep);
                    b.push_str(&s);
                }
            }
        }
        b
    }
}

/// Go's `appendInt(b, x, width)`: zero-padded to `width` digits, sign first.
fn pad(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    let s = x.unsigned_abs().to_string();
    for _ in s.len()..width {
        b.push('0');
    }
    b.push_str(&s);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TzStd {
    iso: bool,
    colon: bool,
    short: bool,
    seconds: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz(TzStd),
    ZoneName,
    Frac { sep: char, digits: usize, trim: bool },
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(|c| c.is_ascii_lowercase())
}

/// Go's `nextStdChunk`: splits the layout into literal prefix, element and rest.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let found: Option<(Std, usize)> = match c {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if !starts_with_lower(&layout[i + 3..]) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if b.len() >= i + 3 => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        Some((Std::LongWeekDay, 6))
                    } else if !starts_with_lower(&layout[i + 3..]) {
                        Some((Std::WeekDay, 3))
                    } else {
                        None
                    }
                } else if at(i, "MST") {
                    Some((Std::ZoneName, 3))
                } else {
                    None
                }
            }
            b'0' if b.len() >= i + 2 && (b'1'..=b'6').contains(&b[i + 1]) => {
                let std = match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                };
                Some((std, 2))
            }
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' => {
                if b.len() >= i + 2 && b[i + 1] == b'5' {
                    Some((Std::Hour, 2))
                } else {
                    Some((Std::NumMonth, 1))
                }
            }
            b'2' => {
                if at(i, "2006") {
                    Some((Std::LongYear, 4))
                } else {
                    Some((Std::Day, 1))
                }
            }
            b'_' => {
                if b.len() >= i + 2 && b[i + 1] == b'2' {
                    if at(i + 1, "2006") {
                        // "_2006" is a literal underscore followed by the long year.
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    Some((Std::UnderDay, 2))
                } else if at(i, "__2") {
                    Some((Std::UnderYearDay, 3))
                } else {
                    None
                }
            }
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if b.len() >= i + 2 && b[i + 1] == b'M' => Some((Std::PM, 2)),
            b'p' if b.len() >= i + 2 && b[i + 1] == b'm' => Some((Std::Pm, 2)),
            b'-' => {
                let t = |colon, short, seconds| Std::Tz(TzStd { iso: false, colon, short, seconds });
                if at(i, "-070000") {
                    Some((t(false, false, true), 7))
                } else if at(i, "-07:00:00") {
                    Some((t(true, false, true), 9))
                } else if at(i, "-0700") {
                    Some((t(false, false, false), 5))
                } else if at(i, "-07:00") {
                    Some((t(true, false, false), 6))
                } else if at(i, "-07") {
                    Some((t(false, true, false), 3))
                } else {
                    None
                }
            }
            b'Z' => {
                let t = |colon, short, seconds| Std::Tz(TzStd { iso: true, colon, short, seconds });
                if at(i, "Z070000") {
                    Some((t(false, false, true), 7))
                } else if at(i, "Z07:00:00") {
                    Some((t(true, false, true), 9))
                } else if at(i, "Z0700") {
                    Some((t(false, false, false), 5))
                } else if at(i, "Z07:00") {
                    Some((t(true, false, false), 6))
                } else if at(i, "Z07") {
                    Some((t(false, true, false), 3))
                } else {
                    None
                }
            }
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if !(j < b.len() && b[j].is_ascii_digit()) {
                    Some((Std::Frac { sep: c as char, digits: j - (i + 1), trim: ch == b'9' }, j - i))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
        // Advance by one character (layouts may contain non-ASCII text).
        i += layout[i..].chars().next().map_or(1, char::len_utf8);
    }
    (layout, None, "")
}

fn cut_space(s: &str) -> &str {
    s.trim_start_matches(' ')
}

/// Go's `skip`: match the layout's literal text, treating runs of spaces loosely.
fn skip<'v>(mut value: &'v str, mut prefix: &str) -> Option<&'v str> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = cut_space(prefix);
            value = cut_space(value);
            continue;
        }
        let pc = prefix.chars().next()?;
        let vc = value.chars().next()?;
        if pc != vc {
            return None;
        }
        prefix = &prefix[pc.len_utf8()..];
        value = &value[vc.len_utf8()..];
    }
    Some(value)
}

fn is_digit_at(s: &str, i: usize) -> bool {
    s.as_bytes().get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    if !is_digit_at(s, 0) {
        return None;
    }
    if !is_digit_at(s, 1) {
        if fixed {
            return None;
        }
        return Some(((s.as_bytes()[0] - b'0') as i64, &s[1..]));
    }
    let b = s.as_bytes();
    Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit_at(s, i) {
        n = n * 10 + (s.as_bytes()[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

fn atoi(s: &str) -> Option<i64> {
    let (neg, d) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = d.parse().ok()?;
    Some(if neg { -v } else { v })
}

fn lookup_name<'v>(tab: &[&str], val: &'v str, short: bool) -> Option<(usize, &'v str)> {
    for (i, name) in tab.iter().enumerate() {
        let name = if short { &name[..3] } else { name };
        if val.len() >= name.len() && val.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some((i, &val[name.len()..]));
        }
    }
    None
}

fn parse_nanoseconds(value: &str, nbytes: usize) -> Option<u32> {
    let b = value.as_bytes();
    if b.is_empty() || !(b[0] == b'.' || b[0] == b',') {
        return None;
    }
    let nbytes = nbytes.min(10);
    let digits = value.get(1..nbytes)?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut ns: u32 = digits.parse().ok()?;
    for _ in digits.len()..9 {
        ns *= 10;
    }
    Some(ns)
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn parse_time_zone(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if value.starts_with("ChST") || value.starts_with("MeST") {
        return Some(4);
    }
    if value.starts_with("GMT") {
        return Some(parse_gmt(value));
    }
    if b[0] == b'+' || b[0] == b'-' {
        let n = parse_signed_offset(value);
        return if n > 0 { Some(n) } else { None };
    }
    let n_upper = b.iter().take(6).take_while(|c| c.is_ascii_uppercase()).count();
    match n_upper {
        5 if b[4] == b'T' => Some(5),
        4 if b[3] == b'T' || value.starts_with("WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

fn parse_gmt(value: &str) -> usize {
    let rest = &value[3..];
    if rest.is_empty() {
        return 3;
    }
    let n = parse_signed_offset(rest);
    if n == 0 { 3 } else { 3 + n }
}

fn parse_signed_offset(value: &str) -> usize {
    let b = value.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-') {
        return 0;
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 2 {
        return 0;
    }
    let Ok(x) = value[1..1 + digits].parse::<i64>() else { return 0 };
    if x > 24 {
        return 0;
    }
    1 + digits
}

/// Go's `time.ParseInLocation(layout, value, loc)`. Returns `None` on any parse error
/// (callers in sprig and Loki discard the error text).
pub(crate) fn parse_in_location(layout: &str, value: &str, loc: &Loc) -> Option<GoTime> {
    let mut layout = layout;
    let mut value = value;
    let mut pm_set = false;
    let mut am_set = false;
    let mut year: i64 = 0;
    let mut month: i64 = -1;
    let mut day: i64 = -1;
    let mut yday: i64 = -1;
    let mut hour: i64 = 0;
    let mut min: i64 = 0;
    let mut sec: i64 = 0;
    let mut nsec: u32 = 0;
    let mut utc = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name = String::new();

    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        value = skip(value, prefix)?;
        let Some(std) = std else {
            if !value.is_empty() {
                return None;
            }
            break;
        };
        layout = suffix;
        match std {
            Std::Year => {
                if value.len() < 2 {
                    return None;
                }
                let p = value.get(..2)?;
                year = atoi(p)?;
                value = &value[2..];
                if year >= 69 {
                    year += 1900;
                } else {
                    year += 2000;
                }
            }
            Std::LongYear => {
                if value.len() < 4 || !is_digit_at(value, 0) {
                    return None;
                }
                year = atoi(value.get(..4)?)?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let (m, rest) = lookup_name(&LONG_MONTHS, value, std == Std::Month)?;
                month = m as i64 + 1;
                value = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&m) {
                    return None;
                }
                month = m;
                value = rest;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let (_, rest) = lookup_name(&LONG_DAYS, value, std == Std::WeekDay)?;
                value = rest;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                let (d, rest) = getnum(value, std == Std::ZeroDay)?;
                day = d;
                value = rest;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.starts_with(' ') {
                        value = &value[1..];
                    }
                }
                let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
                if !(1..=366).contains(&d) {
                    return None;
                }
                yday = d;
                value = rest;
            }
            Std::Hour => {
                let (h, rest) = getnum(value, false)?;
                if !(0..24).contains(&h) {
                    return None;
                }
                hour = h;
                value = rest;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                if !(0..=12).contains(&h) {
                    return None;
                }
                hour = h;
                value = rest;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                if !(0..60).contains(&m) {
                    return None;
                }
                min = m;
                value = rest;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
                if !(0..60).contains(&s) {
                    return None;
                }
                sec = s;
                value = rest;
                // A fractional second in the value but not in the layout.
                let vb = value.as_bytes();
                if vb.len() >= 2 && (vb[0] == b'.' || vb[0] == b',') && vb[1].is_ascii_digit() {
                    let (_, next, _) = next_std_chunk(layout);
                    if !matches!(next, Some(Std::Frac { .. })) {
                        let mut n = 2;
                        while n < vb.len() && vb[n].is_ascii_digit() {
                            n += 1;
                        }
                        nsec = parse_nanoseconds(value, n)?;
                        value = &value[n..];
                    }
                }
            }
            Std::PM => {
                let p = value.get(..2)?;
                match p {
                    "PM" => pm_set = true,
                    "AM" => am_set = true,
                    _ => return None,
                }
                value = &value[2..];
            }
            Std::Pm => {
                let p = value.get(..2)?;
                match p {
                    "pm" => pm_set = true,
                    "am" => am_set = true,
                    _ => return None,
                }
                value = &value[2..];
            }
            Std::Tz(tz) => {
                if tz.iso && value.starts_with('Z') {
                    value = &value[1..];
                    utc = true;
                    continue;
                }
                let len = match (tz.colon, tz.short, tz.seconds) {
                    (true, _, true) => 9,
                    (true, _, false) => 6,
                    (false, true, _) => 3,
                    (false, false, true) => 7,
                    (false, false, false) => 5,
                };
                let vb = value.as_bytes();
                if vb.len() < len || !vb[..len].is_ascii() {
                    return None;
                }
                let (sign, hh, mm, ss) = match len {
                    9 if vb[3] == b':' && vb[6] == b':' => (&value[..1], &value[1..3], &value[4..6], &value[7..9]),
                    6 if vb[3] == b':' => (&value[..1], &value[1..3], &value[4..6], "00"),
                    3 => (&value[..1], &value[1..3], "00", "00"),
                    7 => (&value[..1], &value[1..3], &value[3..5], &value[5..7]),
                    5 => (&value[..1], &value[1..3], &value[3..5], "00"),
                    _ => return None,
                };
                let h = atoi(hh).filter(|v| *v >= 0)?;
                let m = atoi(mm).filter(|v| *v >= 0)?;
                let s = atoi(ss).filter(|v| *v >= 0)?;
                if h > 24 || m > 60 || s > 60 {
                    return None;
                }
                let mut off = ((h * 60 + m) * 60 + s) as i32;
                match sign {
                    "+" => {}
                    "-" => off = -off,
                    _ => return None,
                }
                zone_offset = Some(off);
                value = &value[len..];
            }
            Std::ZoneName => {
                if value.starts_with("UTC") {
                    utc = true;
                    value = &value[3..];
                    continue;
                }
                let n = parse_time_zone(value)?;
                zone_name = value.get(..n)?.to_string();
                value = &value[n..];
            }
            Std::Frac { digits, trim: false, .. } => {
                let ndigit = 1 + digits;
                if value.len() < ndigit {
                    return None;
                }
                nsec = parse_nanoseconds(value, ndigit)?;
                value = value.get(ndigit..)?;
            }
            Std::Frac { trim: true, .. } => {
                let vb = value.as_bytes();
                if vb.len() < 2 || !(vb[0] == b'.' || vb[0] == b',') || !vb[1].is_ascii_digit() {
                    continue;
                }
                let mut i = 0;
                while i + 1 < vb.len() && vb[i + 1].is_ascii_digit() {
                    i += 1;
                }
                nsec = parse_nanoseconds(value, 1 + i)?;
                value = &value[1 + i..];
            }
        }
    }
    if pm_set && hour < 12 {
        hour += 12;
    } else if am_set && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (m, d) = if is_leap(year) {
            if yday == 31 + 29 { (2, 29) } else { month_day_of_non_leap(if yday > 31 + 29 { yday - 1 } else { yday }) }
        } else {
            if yday > 365 {
                return None;
            }
            month_day_of_non_leap(yday)
        };
        if (month >= 0 && month != m) || (day >= 0 && day != d) {
            return None;
        }
        month = m;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month as u32, year) as i64 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let civil_secs = days * 86_400 + hour * 3600 + min * 60 + sec;

    if utc {
        return Some(GoTime { secs: civil_secs, nsec, loc: Loc::Utc });
    }
    if let Some(off) = zone_offset {
        let secs = civil_secs - off as i64;
        let (name, loc_off) = loc.lookup(secs);
        if loc_off == off && (zone_name.is_empty() || name == zone_name) {
            return Some(GoTime { secs, nsec, loc: loc.clone() });
        }
        return Some(GoTime { secs, nsec, loc: Loc::Fixed { name: zone_name, offset: off } });
    }
    if !zone_name.is_empty() {
        // Use the location's offset when it uses that abbreviation at this time.
        for guess in [civil_secs, civil_secs - loc.lookup(civil_secs).1 as i64] {
            let (name, off) = loc.lookup(guess);
            if name == zone_name {
                return Some(GoTime { secs: civil_secs - off as i64, nsec, loc: loc.clone() });
            }
        }
        let mut offset = 0;
        if zone_name.len() > 3 && zone_name.starts_with("GMT") {
            offset = atoi(&zone_name[3..]).unwrap_or(0) as i32 * 3600;
        }
        return Some(GoTime { secs: civil_secs - offset as i64, nsec, loc: Loc::Fixed { name: zone_name, offset } });
    }
    // No zone in the value: the civil time is in `loc`.
    let secs = match loc {
        Loc::Utc => civil_secs,
        Loc::Fixed { offset, .. } => civil_secs - *offset as i64,
        Loc::Tz(tz) => {
            let naive = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
                .and_then(|d| d.and_hms_opt(hour as u32, min as u32, sec as u32));
            match naive.map(|n| tz.from_local_datetime(&n)) {
                Some(chrono::LocalResult::Single(dt)) => dt.timestamp(),
                Some(chrono::LocalResult::Ambiguous(a, _)) => a.timestamp(),
                _ => civil_secs - loc.lookup(civil_secs).1 as i64,
            }
        }
    };
    Some(GoTime { secs, nsec, loc: loc.clone() })
}

fn month_day_of_non_leap(yday: i64) -> (i64, i64) {
    let mut d = yday;
    for m in 1..=12u32 {
        let n = days_in(m, 1970) as i64;
        if d <= n {
            return (m as i64, d);
        }
        d -= n;
    }
    (12, 31)
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", crate::fmt::quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Leading integer.
        let n_int = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..n_int] {
            v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u64)).ok_or_else(invalid)?;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        s = &s[n_int..];
        let pre = n_int > 0;
        let mut post = false;
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        if s.starts_with('.') {
            s = &s[1..];
            let n_frac = s.bytes().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for c in s[..n_frac].bytes() {
                if overflow {
                    continue;
                }
                if f > (1 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + (c - b'0') as u64;
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = n_frac > 0;
            s = &s[n_frac..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let n_unit = s.bytes().take_while(|&c| c != b'.' && !c.is_ascii_digit()).count();
        if n_unit == 0 {
            return Err(format!("time: missing unit in duration {}", crate::fmt::quote(orig)));
        }
        let u = &s[..n_unit];
        s = &s[n_unit..];
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::fmt::quote(u),
                    crate::fmt::quote(orig)
                ));
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(d as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64, nsec: u32) -> GoTime {
        GoTime { secs, nsec, loc: Loc::Utc }
    }

    #[test]
    fn formats_reference_layouts() {
        let x = t(1_136_214_245, 123_456_789); // 2006-01-02T15:04:05Z
        assert_eq!(x.format("2006-01-02T15:04:05Z07:00"), "2006-01-02T15:04:05Z");
        assert_eq!(x.format("Mon Jan _2 15:04:05 MST 2006"), "Mon Jan  2 15:04:05 UTC 2006");
        assert_eq!(x.format("02/01/06 03:04:05.000 PM -0700"), "02/01/06 03:04:05.123 PM +0000");
        assert_eq!(x.format(".999999999"), ".123456789");
        assert_eq!(x.go_string(), "2006-01-02 15:04:05.123456789 +0000 UTC");
        assert_eq!(GoTime::zero().go_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn parses() {
        let p = parse_in_location("2006-01-02", "2021-11-02", &Loc::Utc).unwrap();
        assert_eq!(p.secs, 1_635_811_200);
        let p = parse_in_location("2006-01-02T15:04:05Z07:00", "2021-11-02T10:00:00+02:00", &Loc::Utc).unwrap();
        assert_eq!(p.secs, 1_635_811_200 + 8 * 3600);
        assert_eq!(p.go_string(), "2021-11-02 10:00:00 +0200 +0200");
        assert!(parse_in_location("2006-01-02", "2021-02-30", &Loc::Utc).is_none());
        assert!(parse_in_location("2006-01-02", "2021-11-02x", &Loc::Utc).is_none());
        let p = parse_in_location("2006-01-02 15:04", "2021-07-01 12:00", &Loc::load("Europe/Paris").unwrap()).unwrap();
        assert_eq!(p.go_string(), "2021-07-01 12:00:00 +0200 CEST");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("-2ms"), Ok(-2_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1"), Err("time: missing unit in duration \"1\"".to_string()));
        assert_eq!(parse_duration("1x"), Err("time: unknown unit \"x\" in duration \"1x\"".to_string()));
        assert_eq!(parse_duration(""), Err("time: invalid duration \"\"".to_string()));
    }
}
