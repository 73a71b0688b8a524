//! The error Go's `regexp/syntax.Parse(re, syntax.Perl)` reports for an
//! invalid regex, worded and cut as Go does (`error parsing regexp: <code>:
//! `<fragment>``), for the messages Loki returns.
//!
//! This follows Go's parser (`src/regexp/syntax/parse.go`, Go 1.26) far
//! enough to find its first error and the fragment it quotes: the whole
//! regex for a missing or unexpected parenthesis, the class from `[` to the
//! end for a missing `]`, the escape for a bad escape, the operators for a
//! bad repetition, and so on. It is only asked once the `regex` crate has
//! rejected the regex; when Go would accept it (the engines differ in a few
//! places, such as capture names starting with a digit), it finds nothing
//! and the caller words the error itself.

/// Go's message for `re`, or `None` when Go's parser accepts it.
pub(crate) fn go_parse_error(re: &str) -> Option<String> {
    let (code, expr) = parse(re).err()?;
    Some(format!("error parsing regexp: {code}: `{expr}`"))
}

const MISSING_PAREN: &str = "missing closing )";
const UNEXPECTED_PAREN: &str = "unexpected )";
const MISSING_BRACKET: &str = "missing closing ]";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const INVALID_CHAR_RANGE: &str = "invalid character class range";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";

/// Go's `maxRepeat`.
const MAX_REPEAT: u64 = 1000;

type Error<'a> = (&'static str, &'a str);

/// What the parse stack holds, as far as errors go.
#[derive(Clone, Copy)]
enum Item {
    /// A parsed expression, with the largest product of `{n,m}` counts on a
    /// path through it (Go's `repeatIsValid` limits it to 1000).
    Re(u64),
    LeftParen,
    VerticalBar,
}

/// The rest of `s` after `t` (a suffix of `s`): `s[..len(s)-len(t)]`.
fn cut<'a>(s: &'a str, t: &str) -> &'a str {
    &s[..s.len() - t.len()]
}

fn next_rune(t: &str) -> (Option<char>, &str) {
    let mut it = t.chars();
    let c = it.next();
    (c, it.as_str())
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

struct Parser {
    stack: Vec<Item>,
}

impl Parser {
    fn push(&mut self) {
        self.stack.push(Item::Re(1));
    }

    /// Collapses the items above the topmost `(` or `|` into one.
    fn concat(&mut self) {
        let mut r = 1;
        while let Some(Item::Re(x)) = self.stack.last() {
            r = r.max(*x);
            self.stack.pop();
        }
        self.stack.push(Item::Re(r));
    }

    /// Collapses the alternatives above the topmost `(` into one.
    fn alternate(&mut self) {
        let mut r = 1;
        while let Some(item) = self.stack.last() {
            match item {
                Item::Re(x) => r = r.max(*x),
                Item::VerticalBar => {}
                Item::LeftParen => break,
            }
            self.stack.pop();
        }
        self.stack.push(Item::Re(r));
    }

    /// Go's `repeat`: `before` starts at the operator, `after` follows it.
    fn repeat<'a>(
        &mut self,
        min: i64,
        max: i64,
        counted: bool,
        before: &'a str,
        after: &'a str,
        last_repeat: &'a str,
    ) -> Result<&'a str, Error<'a>> {
        let after = after.strip_prefix('?').unwrap_or(after);
        if !last_repeat.is_empty() {
            return Err((INVALID_REPEAT_OP, cut(last_repeat, after)));
        }
        let Some(Item::Re(sub)) = self.stack.last().copied() else {
            return Err((MISSING_REPEAT_ARGUMENT, cut(before, after)));
        };
        let r = if counted {
            let m = if max == -1 { min } else { max };
            if m == 0 { 1 } else { sub.saturating_mul(m as u64) }
        } else {
            sub
        };
        self.stack.pop();
        self.stack.push(Item::Re(r));
        if counted && (min >= 2 || max >= 2) && r > MAX_REPEAT {
            return Err((INVALID_REPEAT_SIZE, cut(before, after)));
        }
        Ok(after)
    }
}

fn parse(s: &str) -> Result<(), Error<'_>> {
    let mut p = Parser { stack: Vec::new() };
    let mut t = s;
    let mut last_repeat = "";
    while !t.is_empty() {
        let mut repeat = "";
        let b = t.as_bytes();
        match b[0] {
            b'(' if b.get(1) == Some(&b'?') => t = perl_flags(&mut p, t)?,
            b'(' => {
                p.stack.push(Item::LeftParen);
                t = &t[1..];
            }
            b'|' => {
                p.concat();
                p.stack.push(Item::VerticalBar);
                t = &t[1..];
            }
            b')' => {
                p.concat();
                p.alternate();
                let n = p.stack.len();
                if n < 2 || !matches!(p.stack[n - 2], Item::LeftParen) {
                    return Err((UNEXPECTED_PAREN, s));
                }
                let top = p.stack[n - 1];
                p.stack.truncate(n - 2);
                p.stack.push(top);
                t = &t[1..];
            }
            b'^' | b'$' | b'.' => {
                p.push();
                t = &t[1..];
            }
            b'[' => {
                t = class(t)?;
                p.push();
            }
            b'*' | b'+' | b'?' => {
                let before = t;
                t = p.repeat(0, 0, false, before, &t[1..], last_repeat)?;
                repeat = before;
            }
            b'{' => {
                let before = t;
                match parse_repeat(t) {
                    None => {
                        p.push();
                        t = &t[1..];
                    }
                    Some((min, max, after)) => {
                        if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                            return Err((INVALID_REPEAT_SIZE, cut(before, after)));
                        }
                        t = p.repeat(min, max, true, before, after, last_repeat)?;
                        repeat = before;
                    }
                }
            }
            b'\\' => match b.get(1) {
                Some(b'A' | b'b' | b'B' | b'z') => {
                    p.push();
                    t = &t[2..];
                }
                Some(b'C') => return Err((INVALID_ESCAPE, &t[..2])),
                Some(b'Q') => {
                    let (lit, rest) = t[2..].split_once("\\E").unwrap_or((&t[2..], ""));
                    if !lit.is_empty() {
                        p.push();
                    }
                    t = rest;
                }
                Some(b'p' | b'P') => {
                    t = unicode_class(t)?;
                    p.push();
                }
                Some(b'd' | b's' | b'w' | b'D' | b'S' | b'W') => {
                    t = &t[2..];
                    p.push();
                }
                _ => {
                    t = escape(t)?;
                    p.push();
                }
            },
            _ => {
                t = next_rune(t).1;
                p.push();
            }
        }
        last_repeat = repeat;
    }
    p.concat();
    p.alternate();
    if p.stack.len() != 1 {
        return Err((MISSING_PAREN, s));
    }
    Ok(())
}

/// Go's `parsePerlFlags`: `(?i)`, `(?i:`, `(?P<name>`, `(?<name>`.
fn perl_flags<'a>(p: &mut Parser, s: &'a str) -> Result<&'a str, Error<'a>> {
    let b = s.as_bytes();
    let with_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
    let with_name = b.len() > 3 && b[2] == b'<';
    if with_p || with_name {
        let start = if with_p { 4 } else { 3 };
        let Some(end) = s.find('>') else {
            return Err((INVALID_NAMED_CAPTURE, s));
        };
        let name = &s[start..end];
        if name.is_empty() || !name.chars().all(|c| c == '_' || is_alnum(c)) {
            return Err((INVALID_NAMED_CAPTURE, &s[..end + 1]));
        }
        p.stack.push(Item::LeftParen);
        return Ok(&s[end + 1..]);
    }
    let mut t = &s[2..];
    let mut negated = false;
    let mut saw_flag = false;
    while let (Some(c), rest) = next_rune(t) {
        t = rest;
        match c {
            'i' | 'm' | 's' | 'U' => saw_flag = true,
            '-' if !negated => {
                negated = true;
                saw_flag = false;
            }
            ':' | ')' if !negated || saw_flag => {
                if c == ':' {
                    p.stack.push(Item::LeftParen);
                }
                return Ok(t);
            }
            _ => break,
        }
    }
    Err((INVALID_PERL_OP, cut(s, t)))
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` at the start of `s`: (min, max
/// (-1 for none), rest); `None` when it is no repetition (`{` is literal).
/// Numbers of 9 digits or more give min = -1.
fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_int(s)?;
    let max;
    let s = match s.strip_prefix(',') {
        None => {
            max = min;
            s
        }
        Some(s) if s.starts_with('}') => {
            max = -1;
            s
        }
        Some(s) => {
            let (m, s) = parse_int(s)?;
            if m < 0 {
                min = -1;
            }
            max = m;
            s
        }
    };
    let rest = s.strip_prefix('}')?;
    Some((min, max, rest))
}

/// Go's `parseInt`: digits without leading zeros; -1 when too big.
fn parse_int(s: &str) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut v: i64 = 0;
    for &c in &b[..n] {
        if v >= 100_000_000 {
            v = -1;
            break;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some((v, &s[n..]))
}

/// Go's `parseEscape` on `s` (starting at `\`): the rest after the escape.
fn escape(s: &str) -> Result<&str, Error<'_>> {
    let t = &s[1..];
    let (Some(c), mut t) = next_rune(t) else {
        return Err((TRAILING_BACKSLASH, ""));
    };
    let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
    match c {
        c if c.is_ascii() && !is_alnum(c) => return Ok(t),
        '1'..='7' if !t.starts_with(|d: char| ('0'..='7').contains(&d)) => {}
        '0'..='7' => {
            for _ in 1..3 {
                match t.strip_prefix(|d: char| ('0'..='7').contains(&d)) {
                    Some(rest) => t = rest,
                    None => break,
                }
            }
            return Ok(t);
        }
        'x' if !t.is_empty() => {
            let (c, rest) = next_rune(t);
            t = rest;
            if c == Some('{') {
                let mut digits = 0;
                let mut value: u32 = 0;
                loop {
                    let (c, rest) = next_rune(t);
                    let Some(c) = c else { break };
                    t = rest;
                    if c == '}' {
                        if digits == 0 {
                            break;
                        }
                        return Ok(t);
                    }
                    let Some(v) = c.to_digit(16) else { break };
                    value = value.saturating_mul(16).saturating_add(v);
                    if value > 0x10FFFF {
                        break;
                    }
                    digits += 1;
                }
            } else {
                let (c2, rest) = next_rune(t);
                t = rest;
                if hex(c).is_some() && hex(c2).is_some() {
                    return Ok(t);
                }
            }
        }
        'a' | 'f' | 'n' | 'r' | 't' | 'v' => return Ok(t),
        _ => {}
    }
    Err((INVALID_ESCAPE, cut(s, t)))
}

/// Go's `parseUnicodeClass` on `s` (starting at `\p` or `\P`). Whether a
/// name exists is asked of the `regex` crate (which knows Go's names and
/// more).
fn unicode_class(s: &str) -> Result<&str, Error<'_>> {
    let (c, t) = next_rune(&s[2..]);
    let (seq, name, rest) = if c != Some('{') {
        let seq = cut(s, t);
        (seq, &seq[2..], t)
    } else {
        let Some(end) = s.find('}') else {
            return Err((INVALID_CHAR_RANGE, s));
        };
        (&s[..end + 1], &s[3..end], &s[end + 1..])
    };
    let name = name.strip_prefix('^').unwrap_or(name);
    let known = !name.is_empty()
        && !name.contains(['}', '\\'])
        && (name == "Any" || regex::Regex::new(&format!("\\p{{{name}}}")).is_ok());
    if !known {
        return Err((INVALID_CHAR_RANGE, seq));
    }
    Ok(rest)
}

/// Go's POSIX class names (`[:alpha:]`, negated `[:^alpha:]`).
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];

/// Go's `parseClass` on `s` (starting at `[`): the rest after the `]`.
fn class(s: &str) -> Result<&str, Error<'_>> {
    let mut t = &s[1..];
    if let Some(rest) = t.strip_prefix('^') {
        t = rest;
    }
    let mut first = true;
    while t.is_empty() || !t.starts_with(']') || first {
        first = false;
        // POSIX [:alnum:]
        if t.len() > 2
            && t.starts_with("[:")
            && let Some(i) = t[2..].find(":]")
        {
            let name = &t[..i + 4];
            let inner = &name[2..name.len() - 2];
            if !POSIX_CLASSES.contains(&inner.strip_prefix('^').unwrap_or(inner)) {
                return Err((INVALID_CHAR_RANGE, name));
            }
            t = &t[i + 4..];
            continue;
        }
        let b = t.as_bytes();
        if b.len() >= 2 && b[0] == b'\\' {
            match b[1] {
                b'p' | b'P' => {
                    t = unicode_class(t)?;
                    continue;
                }
                b'd' | b's' | b'w' | b'D' | b'S' | b'W' => {
                    t = &t[2..];
                    continue;
                }
                _ => {}
            }
        }
        let rng = t;
        let lo;
        (lo, t) = class_char(t, s)?;
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let hi;
            (hi, t) = class_char(&t[1..], s)?;
            if hi < lo {
                return Err((INVALID_CHAR_RANGE, cut(rng, t)));
            }
        }
    }
    Ok(&t[1..])
}

/// Go's `parseClassChar`: one character (maybe escaped) of a class, as a
/// code point for range checks.
fn class_char<'a>(t: &'a str, whole: &'a str) -> Result<(u32, &'a str), Error<'a>> {
    let (Some(c), rest) = next_rune(t) else {
        return Err((MISSING_BRACKET, whole));
    };
    if c != '\\' {
        return Ok((c as u32, rest));
    }
    let after = escape(t)?;
    Ok((escaped_value(cut(t, after)), after))
}

/// The code point of a valid escape (`\n`, `\x41`, `\x{263a}`, `\101`, `\.`).
fn escaped_value(e: &str) -> u32 {
    let body = &e[1..];
    let c = body.chars().next().unwrap_or('\0');
    match c {
        'a' => 7,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        'x' => {
            let h = body[1..].trim_start_matches('{').trim_end_matches('}');
            u32::from_str_radix(h, 16).unwrap_or(0)
        }
        '0'..='7' => u32::from_str_radix(body, 8).unwrap_or(0),
        c => c as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_messages() {
        let cases = [
            ("(", "missing closing ): `(`"),
            ("(a|b", "missing closing ): `(a|b`"),
            ("^(?:()$", "missing closing ): `^(?:()$`"),
            ("a)", "unexpected ): `a)`"),
            ("(a))", "unexpected ): `(a))`"),
            ("[a", "missing closing ]: `[a`"),
            ("x[a-", "missing closing ]: `[a-`"),
            ("x[]", "missing closing ]: `[]`"),
            ("[^", "missing closing ]: `[^`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            (r"[\x7a-a]", r"invalid character class range: `\x7a-a`"),
            ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            (r"\p{Foo}", r"invalid character class range: `\p{Foo}`"),
            (r"a\p{Han", r"invalid character class range: `\p{Han`"),
            (r"\pX", r"invalid character class range: `\pX`"),
            (r"\q", r"invalid escape sequence: `\q`"),
            (r"[\q]", r"invalid escape sequence: `\q`"),
            (r"\8", r"invalid escape sequence: `\8`"),
            (r"\1", r"invalid escape sequence: `\1`"),
            (r"\xZZ", r"invalid escape sequence: `\xZZ`"),
            (r"\x{zz}", r"invalid escape sequence: `\x{z`"),
            (r"\x{}", r"invalid escape sequence: `\x{}`"),
            (r"\C", r"invalid escape sequence: `\C`"),
            ("a\\", "trailing backslash at end of expression: ``"),
            ("a**", "invalid nested repetition operator: `**`"),
            ("a*?+", "invalid nested repetition operator: `*?+`"),
            ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            ("*a", "missing argument to repetition operator: `*`"),
            ("a|*", "missing argument to repetition operator: `*`"),
            ("(+)", "missing argument to repetition operator: `+`"),
            ("(?i)??", "missing argument to repetition operator: `??`"),
            ("{2}", "missing argument to repetition operator: `{2}`"),
            ("a{1001}", "invalid repeat count: `{1001}`"),
            ("a{3,2}", "invalid repeat count: `{3,2}`"),
            ("(a{500}){3}", "invalid repeat count: `{3}`"),
            ("(?z)", "invalid or unsupported Perl syntax: `(?z`"),
            ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
            ("(?", "invalid or unsupported Perl syntax: `(?`"),
            ("(?-)", "invalid or unsupported Perl syntax: `(?-)`"),
            ("(?P=n)", "invalid or unsupported Perl syntax: `(?P`"),
            ("(?P<>a)", "invalid named capture: `(?P<>`"),
            ("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`"),
            ("(?<a", "invalid named capture: `(?<a`"),
            (r"\Q\E*", "missing argument to repetition operator: `*`"),
        ];
        for (re, want) in cases {
            assert_eq!(go_parse_error(re).as_deref(), Some(format!("error parsing regexp: {want}").as_str()), "{re}");
        }
        for ok in [
            "a|b",
            "(?i)abc",
            "(?P<name>x)(?<n2>y)",
            r"\d+\.\w*\s?",
            "a{2,}b{,3}c{01}",
            r"[\]a-z\-]",
            "[]a]",
            r"\x41\x{263a}\101\.",
            r"\pL\p{Greek}\P{^Lu}",
            "[[:alpha:][:^digit:]]",
            r"\Qa(b\E",
            "^*$",
            "(?i:a)*",
            "()*",
            "a{2}{,3}",
            "(a{10}){100}",
            "(?U)(?-i:x)",
            r"\Q\E",
        ] {
            assert_eq!(go_parse_error(ok), None, "{ok}");
        }
    }
}
