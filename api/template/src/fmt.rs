//! The parts of Go's `fmt` and `strconv` that templates reach: `%v` printing of values,
//! `fmt.Sprint`/`Sprintln`/`Sprintf`, `strconv.Quote` and Go's float formatting.

use std::fmt::Write as _;

use crate::value::{IntTy, Value};
use crate::{Context, MAX_STRING_BYTES};

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control() || c.is_whitespace() || ('\u{e000}'..='\u{f8ff}').contains(&c) || c == '\u{ad}' || c == '\u{feff}')
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        push_quoted_char(&mut out, c, q, ascii_only);
    }
    out.push(q);
    out
}

fn push_quoted_char(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if ascii_only {
        if c.is_ascii() && is_go_print(c) {
            out.push(c);
            return;
        }
    } else if is_go_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `%#U` of a rune, e.g. `U+002D '-'`.
pub(crate) fn go_hash_u(c: char) -> String {
    if is_go_print(c) { format!("U+{:04X} '{}'", c as u32, c) } else { format!("U+{:04X}", c as u32) }
}

/// Digits of a float in Go's decimal form: `d` are the significant digits without trailing
/// zeros, `dp` the position of the decimal point.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// Parses Rust's `{:e}` output ("1.2345e3") into digits.
fn digits_from_exp(s: &str) -> Digits {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d == [b'0'] {
        return Digits { d: Vec::new(), dp: 0 };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest_digits(v: f64) -> Digits {
    digits_from_exp(&format!("{:e}", v.abs()))
}

/// An f64's exact decimal expansion never has more significant digits than
/// this, so larger precisions only add zeros (and Rust's formatter refuses
/// precisions above u16::MAX, which Go's 1e6 limit allows).
const MAX_EXACT_DIGITS: usize = 800;

fn precision_digits(v: f64, sig: usize) -> Digits {
    digits_from_exp(&format!("{:.*e}", sig.clamp(1, MAX_EXACT_DIGITS) - 1, v.abs()))
}

fn fmt_e(out: &mut String, d: &Digits, prec: i32, upper: bool) {
    out.push(if d.d.is_empty() { '0' } else { d.d[0] as char });
    if prec > 0 {
        out.push('.');
        let mut i = 1;
        let m = d.d.len().min(prec as usize + 1);
        while i < m {
            out.push(d.d[i] as char);
            i += 1;
        }
        while i <= prec as usize {
            out.push('0');
            i += 1;
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let mut exp = d.dp - 1;
    if d.d.is_empty() {
        exp = 0;
    }
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

fn fmt_f(out: &mut String, d: &Digits, prec: i32) {
    if d.dp > 0 {
        let m = (d.d.len() as i32).min(d.dp);
        for i in 0..m {
            out.push(d.d[i as usize] as char);
        }
        for _ in m..d.dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = d.dp + i;
            let ch = if j >= 0 && (j as usize) < d.d.len() { d.d[j as usize] as char } else { '0' };
            out.push(ch);
        }
    }
}

/// Go's `strconv.FormatFloat(v, verb, prec, 64)` for verbs e, E, f, F, g, G (prec -1: shortest).
pub(crate) fn format_float(v: f64, verb: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    match verb {
        'f' | 'F' => {
            if prec < 0 {
                let d = shortest_digits(a);
                let p = (d.d.len() as i32 - d.dp).max(0);
                fmt_f(&mut out, &d, p);
            } else {
                // f64 fractions end within 1074 digits; the rest are zeros.
                let exact = (prec as usize).min(1100);
                let _ = write!(out, "{:.*}", exact, a);
                out.extend(std::iter::repeat_n('0', prec as usize - exact));
            }
        }
        'e' | 'E' => {
            let (d, p) = if prec < 0 {
                let d = shortest_digits(a);
                let p = d.d.len() as i32 - 1;
                (d, p)
            } else {
                (precision_digits(a, prec as usize + 1), prec)
            };
            fmt_e(&mut out, &d, p.max(0), verb == 'E');
        }
        _ => {
            let shortest = prec < 0;
            let (d, mut p) = if shortest {
                let d = shortest_digits(a);
                let n = d.d.len() as i32;
                (d, n)
            } else {
                let p = if prec == 0 { 1 } else { prec };
                (precision_digits(a, p as usize), p)
            };
            let nd = d.d.len() as i32;
            let mut eprec = p;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&mut out, &d, (p - 1).max(0), verb == 'G');
            } else {
                if p > d.dp {
                    p = nd;
                }
                fmt_f(&mut out, &d, (p - d.dp).max(0));
            }
        }
    }
    out
}

/// `%v` of a float64.
pub(crate) fn float_v(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// Writes a value as Go's `fmt.Fprint` would (`%v`).
pub(crate) fn write_v(out: &mut String, v: &Value<'_>, ctx: &dyn Context) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i, _) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&float_v(*f)),
        Value::Str(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&t.go_string()),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e, ctx);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e, ctx);
            }
            out.push(']');
        }
        Value::Data => write_str_map(out, crate::sorted_labels(ctx)),
        Value::StrMap(m) => write_str_map(out, m.iter().map(|(k, v)| (*k, *v))),
        Value::Struct(st) => {
            out.push('{');
            for (i, (_, f)) in st.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, f, ctx);
            }
            out.push('}');
        }
        Value::Duration(d) => out.push_str(&crate::prom::duration_string(*d)),
    }
}

fn write_str_map<'s>(out: &mut String, pairs: impl IntoIterator<Item = (&'s str, &'s str)>) {
    out.push_str("map[");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push(']');
}

pub(crate) fn to_v(v: &Value<'_>, ctx: &dyn Context) -> String {
    let mut s = String::new();
    write_v(&mut s, v, ctx);
    s
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[Value<'_>], ctx: &dyn Context) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(&mut out, a, ctx);
        prev_string = is_string;
        if out.len() > MAX_STRING_BYTES {
            break;
        }
    }
    out
}

/// Go's `fmt.Sprintln`.
pub(crate) fn sprintln(args: &[Value<'_>], ctx: &dyn Context) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a, ctx);
        if out.len() > MAX_STRING_BYTES {
            return out;
        }
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    sharp: bool,
    zero: bool,
    plus: bool,
    minus: bool,
    space: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Parses a decimal number in a format string; `None` on overflow past 1e6 (Go's `tooLarge`).
fn parse_num(f: &[u8], mut i: usize) -> (Option<usize>, usize, bool) {
    let start = i;
    let mut num: usize = 0;
    while i < f.len() && f[i].is_ascii_digit() {
        if num > 1_000_000 {
            return (None, f.len(), true);
        }
        num = num * 10 + (f[i] - b'0') as usize;
        i += 1;
    }
    if i == start { (None, i, false) } else { (Some(num), i, false) }
}

struct Printer<'c> {
    buf: String,
    ctx: &'c dyn Context,
}

impl Printer<'_> {
    fn write_padding(&mut self, n: usize, fl: &Flags) {
        let c = if fl.zero && !fl.minus { '0' } else { ' ' };
        for _ in 0..n {
            self.buf.push(c);
        }
    }

    /// Go's `fmt.pad`: pads to the width, counted in runes.
    fn pad(&mut self, s: &str, fl: &Flags) {
        let Some(w) = fl.wid else {
            self.buf.push_str(s);
            return;
        };
        let n = s.chars().count();
        if n >= w {
            self.buf.push_str(s);
            return;
        }
        if fl.minus {
            self.buf.push_str(s);
            for _ in 0..w - n {
                self.buf.push(' ');
            }
        } else {
            self.write_padding(w - n, fl);
            self.buf.push_str(s);
        }
    }

    /// A `map[string]string`, keys in order.
    fn str_map<'s>(&mut self, pairs: impl IntoIterator<Item = (&'s str, &'s str)>, verb: char, fl: &Flags) {
        self.buf.push_str("map[");
        for (i, (k, e)) in pairs.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(' ');
            }
            self.fmt_string(k, verb, fl);
            self.buf.push(':');
            self.fmt_string(e, verb, fl);
        }
        self.buf.push(']');
    }

    fn bad_verb(&mut self, verb: char, v: &Value<'_>, fl: &Flags) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Value::Nil => self.buf.push_str("<nil>"),
            _ => {
                self.buf.push_str(v.type_name());
                self.buf.push('=');
                let mut f2 = *fl;
                f2.sharp_v = false;
                self.print_arg(v, 'v', &f2, true);
            }
        }
        self.buf.push(')');
    }

    fn fmt_string(&mut self, s: &str, verb: char, fl: &Flags) -> bool {
        match verb {
            'v' if fl.sharp_v => self.pad(&quote(&truncate_runes(s, fl.prec)), fl),
            'v' | 's' => {
                let t: String;
                let s = match fl.prec {
                    Some(p) => {
                        t = s.chars().take(p).collect();
                        t.as_str()
                    }
                    None => s,
                };
                self.pad(s, fl);
            }
            'x' | 'X' => {
                let bytes = s.as_bytes();
                let bytes = match fl.prec {
                    Some(p) if p < bytes.len() => &bytes[..p],
                    _ => bytes,
                };
                let mut h = String::with_capacity(bytes.len() * 3);
                for (i, b) in bytes.iter().enumerate() {
                    if fl.space && i > 0 {
                        h.push(' ');
                    }
                    if fl.sharp && (fl.space || i == 0) {
                        h.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        let _ = write!(h, "{b:02x}");
                    } else {
                        let _ = write!(h, "{b:02X}");
                    }
                }
                self.pad(&h, fl);
            }
            'q' => {
                let t: String;
                let s = match fl.prec {
                    Some(p) => {
                        t = s.chars().take(p).collect();
                        t.as_str()
                    }
                    None => s,
                };
                if fl.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || !c.is_control()) {
                    self.pad(&format!("`{s}`"), fl);
                } else {
                    self.pad(&quote_with(s, '"', fl.plus), fl);
                }
            }
            _ => return false,
        }
        true
    }

    fn fmt_integer(&mut self, v: i64, unsigned: bool, verb: char, fl: &Flags) -> bool {
        let (base, upper) = match verb {
            'v' | 'd' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            'c' => {
                let c = char::from_u32(v as u32).filter(|_| (0..=0x10ffff).contains(&v)).unwrap_or('\u{fffd}');
                self.pad(&c.to_string(), fl);
                return true;
            }
            'q' => {
                let c = char::from_u32(v as u32).filter(|_| (0..=0x10ffff).contains(&v)).unwrap_or('\u{fffd}');
                let mut s = String::from('\'');
                push_quoted_char(&mut s, c, '\'', fl.plus);
                s.push('\'');
                self.pad(&s, fl);
                return true;
            }
            'U' => {
                let mut s = format!("U+{:04X}", v);
                if fl.sharp
                    && let Some(c) = char::from_u32(v as u32).filter(|c| is_go_print(*c))
                {
                    s.push_str(&format!(" '{c}'"));
                }
                self.pad(&s, fl);
                return true;
            }
            _ => return false,
        };
        let negative = !unsigned && v < 0;
        let u = if negative { (v as i128).unsigned_abs() } else { v as u64 as u128 };
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if upper => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => format!("{u}"),
        };
        let mut prec = 0usize;
        let mut zero_pad_via_prec = false;
        if let Some(p) = fl.prec {
            if p == 0 && u == 0 {
                let mut f2 = *fl;
                f2.zero = false;
                let w = fl.wid.unwrap_or(0);
                self.write_padding(w, &f2);
                return true;
            }
            prec = p;
        } else if fl.zero && !fl.minus && fl.wid.is_some() {
            prec = fl.wid.unwrap_or(0);
            if negative || fl.plus || fl.space {
                prec = prec.saturating_sub(1);
            }
            zero_pad_via_prec = true;
        }
        let _ = zero_pad_via_prec;
        if digits.len() < prec {
            digits = format!("{}{}", "0".repeat(prec - digits.len()), digits);
        }
        let mut prefix = String::new();
        if fl.sharp {
            match base {
                2 => prefix.push_str("0b"),
                8 if !digits.starts_with('0') => {
                    prefix.push('0');
                }
                16 => prefix.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix = "0o".to_string();
        }
        let sign = if negative {
            "-"
        } else if fl.plus {
            "+"
        } else if fl.space {
            " "
        } else {
            ""
        };
        let s = format!("{sign}{prefix}{digits}");
        let mut f2 = *fl;
        f2.zero = false;
        self.pad(&s, &f2);
        true
    }

    fn fmt_float(&mut self, v: f64, verb: char, fl: &Flags) -> bool {
        let (fverb, default_prec) = match verb {
            'v' => ('g', -1),
            'g' | 'G' => (verb, -1),
            'e' | 'E' | 'f' | 'F' => (verb, 6),
            _ => return false,
        };
        let prec = fl.prec.map(|p| p as i32).unwrap_or(default_prec);
        let mut num = format_float(v, fverb, prec);
        if !(num.starts_with('-') || num.starts_with('+')) {
            num.insert(0, '+');
        }
        if fl.space && num.starts_with('+') && !fl.plus {
            num.replace_range(0..1, " ");
        }
        let b1 = num.as_bytes().get(1).copied();
        if b1 == Some(b'I') || b1 == Some(b'N') {
            let mut f2 = *fl;
            f2.zero = false;
            if b1 == Some(b'N') && !fl.space && !fl.plus {
                num.remove(0);
            }
            self.pad(&num, &f2);
            return true;
        }
        if fl.plus || !num.starts_with('+') {
            if let Some(w) = fl.wid
                && fl.zero
                && !fl.minus
                && w > num.len()
            {
                self.buf.push_str(&num[..1]);
                let f2 = *fl;
                self.write_padding(w - num.len(), &f2);
                self.buf.push_str(&num[1..]);
                return true;
            }
            self.pad(&num, fl);
            return true;
        }
        self.pad(&num[1..], fl);
        true
    }

    fn print_arg(&mut self, v: &Value<'_>, verb: char, fl: &Flags, erroring: bool) {
        if let Value::Nil = v {
            match verb {
                'T' | 'v' => self.pad("<nil>", fl),
                _ => self.bad_verb(verb, v, fl),
            }
            return;
        }
        if verb == 'T' {
            self.pad(v.type_name(), fl);
            return;
        }
        let ok = match v {
            Value::Bool(b) => match verb {
                't' | 'v' => {
                    self.pad(if *b { "true" } else { "false" }, fl);
                    true
                }
                _ => false,
            },
            Value::Int(i, ty) => {
                if fl.sharp_v && verb == 'v' && *ty == IntTy::Uint8 {
                    self.buf.push_str(&format!("0x{:x}", i));
                    true
                } else {
                    self.fmt_integer(*i, *ty == IntTy::Uint8, verb, fl)
                }
            }
            Value::Float(f) => self.fmt_float(*f, verb, fl),
            Value::Str(s) => self.fmt_string(s, verb, fl),
            Value::Time(t) => {
                if !erroring && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
                    self.fmt_string(&t.go_string(), verb, fl)
                } else {
                    false
                }
            }
            Value::List(l) => {
                self.buf.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_arg(e, verb, fl, erroring);
                }
                self.buf.push(']');
                true
            }
            Value::Map(m) => {
                self.buf.push_str("map[");
                for (i, (k, e)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.fmt_string(k, verb, fl);
                    self.buf.push(':');
                    self.print_arg(e, verb, fl, erroring);
                }
                self.buf.push(']');
                true
            }
            Value::Data => {
                self.str_map(crate::sorted_labels(self.ctx), verb, fl);
                true
            }
            Value::StrMap(m) => {
                self.str_map(m.iter().map(|(k, v)| (*k, *v)), verb, fl);
                true
            }
            Value::Struct(st) => {
                self.buf.push('{');
                for (i, (_, f)) in st.fields.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(' ');
                    }
                    self.print_arg(f, verb, fl, erroring);
                }
                self.buf.push('}');
                true
            }
            Value::Duration(d) => {
                // A pointer to a Stringer: the verbs that print strings call String().
                if !erroring && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
                    self.fmt_string(&crate::prom::duration_string(*d), verb, fl)
                } else {
                    false
                }
            }
            Value::Nil => unreachable_nil(),
        };
        if !ok {
            self.bad_verb(verb, v, fl);
        }
    }
}

fn truncate_runes(s: &str, prec: Option<usize>) -> std::borrow::Cow<'_, str> {
    match prec {
        Some(p) => s.chars().take(p).collect::<String>().into(),
        None => s.into(),
    }
}

fn unreachable_nil() -> bool {
    false
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value<'_>], ctx: &dyn Context) -> String {
    let mut p = Printer { buf: String::with_capacity(format.len() + 16), ctx };
    let f = format.as_bytes();
    let end = f.len();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        if p.buf.len() > MAX_STRING_BYTES {
            // The caller rejects the oversized result; stop growing it.
            return p.buf;
        }
        let lasti = i;
        while i < end && f[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.buf.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        let mut fl = Flags::default();
        while i < end {
            match f[i] {
                b'#' => fl.sharp = true,
                b'0' => fl.zero = !fl.minus,
                b'+' => fl.plus = true,
                b'-' => {
                    fl.minus = true;
                    fl.zero = false;
                }
                b' ' => fl.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut good_arg_num = true;
        // Explicit argument index: [n].
        let mut after_index = false;
        let arg_number = |i: &mut usize, arg_num: &mut usize, good: &mut bool, reord: &mut bool| -> bool {
            if *i >= end || f[*i] != b'[' {
                return false;
            }
            *reord = true;
            let mut j = *i + 1;
            while j < end && f[j] != b']' {
                j += 1;
            }
            if j >= end {
                *good = false;
                *i = end;
                return false;
            }
            let n = std::str::from_utf8(&f[*i + 1..j]).ok().and_then(|s| s.parse::<usize>().ok());
            match n {
                Some(n) if n >= 1 && n <= args.len() => {
                    *arg_num = n - 1;
                    *i = j + 1;
                    true
                }
                _ => {
                    *good = false;
                    *i = j + 1;
                    true
                }
            }
        };
        after_index = arg_number(&mut i, &mut arg_num, &mut good_arg_num, &mut reordered) || after_index;
        // Width.
        if i < end && f[i] == b'*' {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(w, _)) if w.unsigned_abs() <= 1_000_000 => {
                    let w = *w;
                    if w < 0 {
                        fl.minus = true;
                        fl.zero = false;
                    }
                    fl.wid = Some(w.unsigned_abs() as usize);
                }
                _ => p.buf.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
            after_index = false;
        } else {
            let (w, ni, overflow) = parse_num(f, i);
            i = ni;
            if overflow {
                p.buf.push_str("%!(NOVERB)");
                break;
            }
            fl.wid = w;
            if after_index && fl.wid.is_some() {
                good_arg_num = false;
            }
        }
        // Precision.
        if i + 1 < end && f[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            after_index = arg_number(&mut i, &mut arg_num, &mut good_arg_num, &mut reordered);
            if i < end && f[i] == b'*' {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(pr, _)) if *pr >= 0 && *pr <= 1_000_000 => fl.prec = Some(*pr as usize),
                    Some(Value::Int(pr, _)) if *pr < 0 => fl.prec = None,
                    _ => p.buf.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
                after_index = false;
            } else {
                let (pr, ni, overflow) = parse_num(f, i);
                i = ni;
                if overflow {
                    p.buf.push_str("%!(NOVERB)");
                    break;
                }
                fl.prec = Some(pr.unwrap_or(0));
            }
        } else if i < end && f[i] == b'.' {
            // A trailing '.' right before the end: Go treats it as the verb.
        }
        if !after_index {
            after_index = arg_number(&mut i, &mut arg_num, &mut good_arg_num, &mut reordered);
        }
        let _ = after_index;
        if i >= end {
            p.buf.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            p.buf.push('%');
            continue;
        }
        if !good_arg_num {
            p.buf.push_str("%!");
            p.buf.push(verb);
            p.buf.push_str("(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            p.buf.push_str("%!");
            p.buf.push(verb);
            p.buf.push_str("(MISSING)");
            continue;
        };
        if verb == 'v' {
            fl.sharp_v = fl.sharp;
            fl.sharp = false;
            fl.plus = false;
        }
        p.print_arg(arg, verb, &fl, false);
        arg_num += 1;
    }
    if !reordered && arg_num < args.len() {
        p.buf.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            if a.is_nil() {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(a.type_name());
                p.buf.push('=');
                p.print_arg(a, 'v', &Flags::default(), false);
            }
        }
        p.buf.push(')');
    }
    p.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(float_v(1e6), "1e+06");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1234567.0), "1.234567e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(3.5), "3.5");
        assert_eq!(float_v(-0.0), "-0");
        assert_eq!(float_v(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1.23456, 'f', 2), "1.23");
        assert_eq!(format_float(123456.0, 'e', 6), "1.234560e+05");
        assert_eq!(format_float(100.0, 'g', 3), "100");
        assert_eq!(format_float(1234.0, 'g', 3), "1.23e+03");
        // Precisions beyond what Rust's formatter takes (found by fuzzing).
        let f = format_float(6.5, 'f', 104_159);
        assert_eq!(f.len(), 2 + 104_159);
        assert!(f.starts_with("6.5000") && f.ends_with('0'));
        let e = format_float(6.14159, 'e', 104_159);
        assert!(e.starts_with("6.1415899999") && e.ends_with("0e+00"), "{}", &e[..20]);
        assert_eq!(format_float(6.5, 'g', 104_159), "6.5");
    }

    #[test]
    fn odd_formats_do_not_panic() {
        struct C;
        impl Context for C {
            fn label(&self, _: &str) -> Option<&str> {
                None
            }
            fn line(&self) -> &str {
                ""
            }
            fn timestamp_ns(&self) -> i64 {
                0
            }
        }
        let args = [Value::int(3), Value::str("é"), Value::Float(1.5), Value::Nil, Value::Bool(true)];
        let pieces = [
            "%", "é", "[", "]", "2", "*", ".", "-", "+", "#", "0", " ", "d", "s", "v", "x", "q", "c", "U", "e", "g",
            "f", "T", "99",
        ];
        let mut n = 0u64;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let f = format!("{a}{b}{c}{d}");
                        n += sprintf(&f, &args, &C).len() as u64;
                        n += sprintf(&f, &args[..1], &C).len() as u64;
                    }
                }
            }
        }
        assert!(n > 0);
        assert_eq!(sprintf("%é|%[9]d|%.é", &args, &C), "%!é(int=3)|%!d(BADINDEX)|%!é(string=)");
        assert_eq!(sprintf("%.2v|%d", &args[1..3], &C), "é|%!d(float64=1.5)");
        assert_eq!(sprintf("%d", &args[..2], &C), "3%!(EXTRA string=é)");
    }

    #[test]
    fn quotes() {
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quote("é\u{1}"), "\"é\\x01\"");
    }
}
