//! A small YAML emitter that prints what Go's `yaml.v3` `Marshal` prints for
//! Loki's rules API (`pkg/ruler/base/api.go` `marshalAndSend`).
//!
//! Facts reproduced from yaml.v3 (`encode.go`, `emitterc.go`, `resolve.go`,
//! `sorter.go`, as vendored in Loki):
//! - 4-space indentation; a block sequence under a mapping key is indented
//!   (`rules:\n    - record: x`); a mapping inside a sequence item starts after
//!   `- `; every other nesting rounds the indentation up to the next multiple
//!   of 4 (so a rule's `labels` sit at column 8 under an item at column 6).
//! - Strings: plain when the text would read back as the same string
//!   (not `null`, `true`, a number, a timestamp, YAML 1.1 booleans such as
//!   `yes`/`off`, base-60 floats) and libyaml allows it (no leading indicator
//!   such as `{`, no `: ` or ` #`, no leading/trailing space); else single
//!   quoted when possible; else double quoted with escapes. Strings with a
//!   newline are literal block scalars (`|`, `|-`, `|+`, with an indentation
//!   indicator when they start with a space or a newline) unless they have
//!   trailing spaces, a space before a newline, or unprintable characters
//!   (then double quoted). Unprintable includes tabs and characters outside
//!   the Basic Multilingual Plane (emoji), which yaml.v3 escapes (`\U0001F525`).
//!   One deliberate difference: a block scalar that starts with a space or a
//!   newline needs an indentation indicator, and yaml.v3 always writes `4`,
//!   which does not read back when the content is not 4 columns right of its
//!   parent (any rule's `expr` or annotation); Balsa writes the real offset.
//! - No line folding (yaml.v3 sets no width).
//! - Map keys sorted in yaml.v3's "natural" order (`a2` before `a10`).
//! - Empty sequences and maps print in flow style (`[]`, `{}`).

mod resolve;

use resolve::can_use_plain;

/// A YAML node to emit.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// A Go string: its style is chosen as yaml.v3 chooses it.
    Str(String),
    /// A Go integer, printed plain.
    Int(String),
    /// A mapping whose entries are already in output order.
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

impl Node {
    /// A Go `map[string]string`: entries in yaml.v3's key order.
    pub(crate) fn string_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a String)>) -> Node {
        let entries: Vec<(String, Node)> =
            entries.into_iter().map(|(k, v)| (k.clone(), Node::Str(v.clone()))).collect();
        Node::Map(sort_map_entries(entries))
    }
}

/// Sorts entries by yaml.v3's key order (`sorter.go` `keyList.Less`). An
/// insertion sort: it never panics, whatever the comparison does.
pub(crate) fn sort_map_entries<T>(mut entries: Vec<(String, T)>) -> Vec<(String, T)> {
    for i in 1..entries.len() {
        let mut j = i;
        while j > 0 && key_less(&entries[j].0, &entries[j - 1].0) {
            entries.swap(j, j - 1);
            j -= 1;
        }
    }
    entries
}

/// yaml.v3's `keyList.Less` for two string keys: runs of digits compare as
/// numbers, letters sort before other characters except right after a digit.
pub(crate) fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let digit = |c: char| c.is_ascii_digit();
    let mut digits = false;
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            digits = digit(ar[i]);
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// Prints one document, as `yaml.Marshal` does.
pub(crate) fn to_string(root: &Node) -> String {
    let mut e = Emitter { out: String::new(), column: 0, indention: true, whitespace: true, open_ended: false };
    e.node(root, Ctx::Root, -1);
    // Document end: finish the last line.
    e.write_indent(0);
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent(0);
    }
    e.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    /// The value of a block mapping entry.
    MapValue,
    /// An item of a block sequence.
    SeqItem,
    MapKey,
}

const BEST_INDENT: i64 = 4;

struct Emitter {
    out: String,
    column: i64,
    /// Only indentation (or `- `) so far on this line.
    indention: bool,
    /// The last character written was whitespace.
    whitespace: bool,
    /// A `|+` block scalar ended the output so far.
    open_ended: bool,
}

/// `yaml_emitter_increase_indent`: the indentation of a node's content,
/// given the indentation of its parent and where it sits.
fn child_indent(parent: i64, ctx: Ctx) -> i64 {
    if parent < 0 {
        return 0;
    }
    match ctx {
        Ctx::SeqItem => parent + 2,
        _ => BEST_INDENT * ((parent + BEST_INDENT) / BEST_INDENT),
    }
}

impl Emitter {
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn write_indent(&mut self, indent: i64) {
        let indent = indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    /// Emits `node`, whose parent has indentation `parent`.
    fn node(&mut self, node: &Node, ctx: Ctx, parent: i64) {
        match node {
            Node::Str(s) => self.scalar(s, scalar_style(s, ctx == Ctx::MapKey), parent, child_indent(parent, ctx)),
            Node::Int(s) => self.scalar(s, Style::Plain, parent, child_indent(parent, ctx)),
            Node::Map(entries) if entries.is_empty() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Node::Seq(items) if items.is_empty() => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Node::Map(entries) => {
                let indent = child_indent(parent, ctx);
                for (k, v) in entries {
                    self.write_indent(indent);
                    self.node(&Node::Str(k.clone()), Ctx::MapKey, indent);
                    self.write_indicator(":", false, false, false);
                    self.node(v, Ctx::MapValue, indent);
                }
            }
            Node::Seq(items) => {
                let indent = child_indent(parent, ctx);
                for item in items {
                    self.write_indent(indent);
                    self.write_indicator("-", true, false, true);
                    self.node(item, Ctx::SeqItem, indent);
                }
            }
        }
    }

    fn scalar(&mut self, s: &str, style: Style, parent: i64, indent: i64) {
        match style {
            Style::Plain => self.plain(s, indent),
            Style::Single => self.single_quoted(s, indent),
            Style::Double => self.double_quoted(s),
            Style::Literal => self.literal(s, indent, indent - parent.max(0)),
        }
    }

    fn plain(&mut self, s: &str, indent: i64) {
        if !s.is_empty() && !self.whitespace {
            self.put(' ');
        }
        // Plain scalars never hold a line break (see `analyze`), so `indent`
        // only matters for the breaks yaml.v3 would fold at a line width it
        // does not set.
        let _ = indent;
        for c in s.chars() {
            self.put(c);
        }
        if !s.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    fn single_quoted(&mut self, s: &str, indent: i64) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in s.chars() {
            if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, s: &str) {
        self.write_indicator("\"", true, false, false);
        for c in s.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{07}' => Some('a'),
                    '\u{08}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{0b}' => Some('v'),
                    '\u{0c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(e) => self.put(e),
                    None => {
                        let v = c as u32;
                        let (prefix, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(prefix);
                        for ch in format!("{v:0width$X}").chars() {
                            self.put(ch);
                        }
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// A literal block scalar whose content sits at `indent`, `relative`
    /// columns right of its parent.
    fn literal(&mut self, s: &str, indent: i64, relative: i64) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints. yaml.v3 always writes its indentation (4) as
        // the indicator, which is wrong (the YAML does not read back) where
        // the content is not 4 columns right of the parent: in a mapping
        // inside a sequence item (6 → 8), or directly in a sequence item.
        // Balsa writes the true offset, the same digit wherever yaml.v3's
        // output is valid.
        let chars: Vec<char> = s.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&relative.to_string(), false, false, false);
        }
        self.open_ended = false;
        let chomp = match chars.len() {
            0 => Some('-'),
            n if !is_break(chars[n - 1]) => Some('-'),
            1 => Some('+'),
            n if is_break(chars[n - 2]) => Some('+'),
            _ => None,
        };
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
            if c == '+' {
                self.open_ended = true;
            }
        }
        self.put_break();
        self.whitespace = true;
        let mut breaks = true;
        for c in chars {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
            self.indention = true;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// libyaml's `is_printable` (which, working on UTF-8 bytes, calls every
/// character outside the Basic Multilingual Plane unprintable).
fn is_printable(c: char) -> bool {
    let v = c as u32;
    c == '\n'
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// `yaml_emitter_analyze_scalar` (block context only).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= n || is_blank(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank(c) || is_break(c) || c == '\0';
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The style yaml.v3 prints a Go string in (`encode.go` `stringv`, then
/// `yaml_emitter_select_scalar_style`).
pub(crate) fn scalar_style(s: &str, simple_key: bool) -> Style {
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_follow_yaml_v3() {
        let cases = [
            ("up_rule", Style::Plain),
            ("up{}", Style::Plain),
            ("sum(up{}) > 1", Style::Plain),
            (r#"sum(rate({app="foo"}[5m])) by (job)"#, Style::Plain),
            (r#"{app="foo"} |= "x""#, Style::Single),
            ("{{ $labels.job }} is down", Style::Single),
            ("it's {{ $value }}", Style::Plain),
            ("a: b", Style::Single),
            ("a:b", Style::Plain),
            ("a #b", Style::Single),
            ("a#b", Style::Plain),
            ("- x", Style::Single),
            ("-x", Style::Plain),
            (" lead", Style::Single),
            ("trail ", Style::Single),
            ("", Style::Double),
            ("true", Style::Double),
            ("yes", Style::Double),
            ("Off", Style::Double),
            ("null", Style::Double),
            ("~", Style::Double),
            ("123", Style::Double),
            ("1_000", Style::Double),
            ("0x1F", Style::Double),
            ("08", Style::Double),
            ("1.5", Style::Double),
            ("1e3", Style::Double),
            ("1e999", Style::Plain),
            (".5", Style::Double),
            ("1:30", Style::Double),
            ("2024-01-02", Style::Double),
            ("2024-02-30", Style::Plain),
            ("2024-01-02T03:04:05Z", Style::Double),
            ("1m", Style::Plain),
            ("15s", Style::Plain),
            ("tab\there", Style::Double),
            ("fire 🔥", Style::Double),
            ("café", Style::Plain),
            ("line1\nline2", Style::Literal),
            ("line1\nline2\n", Style::Literal),
            ("trailing \nspace", Style::Double),
            ("line1\nline2 ", Style::Double),
            ("---", Style::Single),
            ("---x", Style::Single),
        ];
        for (s, want) in cases {
            assert_eq!(scalar_style(s, false), want, "{s:?}");
        }
        assert_eq!(scalar_style("a\nb", true), Style::Double);
    }

    #[test]
    fn double_quoted_escapes() {
        let out = to_string(&Node::Map(vec![("k".into(), Node::Str("fire 🔥\t\"x\"\\".into()))]));
        assert_eq!(out, "k: \"fire \\U0001F525\\t\\\"x\\\"\\\\\"\n");
        let out = to_string(&Node::Map(vec![("k".into(), Node::Str("a \nb".into()))]));
        assert_eq!(out, "k: \"a \\nb\"\n");
    }

    #[test]
    fn literal_blocks() {
        let doc = |s: &str| to_string(&Node::Map(vec![("k".into(), Node::Str(s.into()))]));
        assert_eq!(doc("a\nb"), "k: |-\n    a\n    b\n");
        assert_eq!(doc("a\n\n  b\n"), "k: |\n    a\n\n      b\n");
        assert_eq!(doc("a\n\n"), "k: |+\n    a\n\n...\n");
        assert_eq!(doc("\na"), "k: |4-\n\n    a\n");
        assert_eq!(doc(" a\nb"), "k: |4-\n     a\n    b\n");
        // Content 2 columns right of its mapping (inside a sequence item):
        // yaml.v3 writes `|4-` there, which does not read back.
        let nested = Node::Seq(vec![Node::Map(vec![("expr".into(), Node::Str("\nx".into()))])]);
        assert_eq!(to_string(&nested), "- expr: |2-\n\n    x\n");
    }

    #[test]
    fn single_quotes_double_inner_quotes() {
        let out = to_string(&Node::Map(vec![("k".into(), Node::Str("{{ 'x' }}".into()))]));
        assert_eq!(out, "k: '{{ ''x'' }}'\n");
    }

    #[test]
    fn empty_collections_are_flow() {
        assert_eq!(to_string(&Node::Map(vec![])), "{}\n");
        assert_eq!(to_string(&Node::Map(vec![("rules".into(), Node::Seq(vec![]))])), "rules: []\n");
    }

    /// Cases from yaml.v3's own `encode_test.go`.
    #[test]
    fn matches_yaml_v3_encode_tests() {
        let str_map = |k: &str, v: &str| Node::Map(vec![(k.into(), Node::Str(v.into()))]);
        let seq = |items: &[&str]| Node::Seq(items.iter().map(|s| Node::Str(s.to_string())).collect());
        assert_eq!(to_string(&str_map("v", "")), "v: \"\"\n");
        assert_eq!(to_string(&str_map("a", "-")), "a: '-'\n");
        assert_eq!(to_string(&Node::Map(vec![("v".into(), seq(&["A", "B"]))])), "v:\n    - A\n    - B\n");
        assert_eq!(
            to_string(&Node::Map(vec![("v".into(), seq(&["A", "B\nC"]))])),
            "v:\n    - A\n    - |-\n      B\n      C\n"
        );
        let nested = Node::Seq(vec![
            Node::Str("A".into()),
            Node::Int("1".into()),
            Node::Map(vec![("B".into(), Node::Seq(vec![Node::Int("2".into()), Node::Int("3".into())]))]),
        ]);
        assert_eq!(
            to_string(&Node::Map(vec![("v".into(), nested)])),
            "v:\n    - A\n    - 1\n    - B:\n        - 2\n        - 3\n"
        );
        let maps_in_seq = Node::Map(vec![(
            "a".into(),
            Node::Map(vec![(
                "b".into(),
                Node::Seq(vec![Node::Map(vec![
                    ("c".into(), Node::Int("1".into())),
                    ("d".into(), Node::Int("2".into())),
                ])]),
            )]),
        )]);
        assert_eq!(to_string(&maps_in_seq), "a:\n    b:\n        - c: 1\n          d: 2\n");
        assert_eq!(to_string(&str_map("a", "\tB\n\tC\n")), "a: |\n    \tB\n    \tC\n");
        let long = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 1234567890 ";
        assert_eq!(to_string(&str_map("a", long)), format!("a: '{long}'\n"));
        assert_eq!(to_string(&str_map("a", "\0")), "a: \"\\0\"\n");
    }

    #[test]
    fn key_order_is_natural() {
        let keys = ["a10", "a2", "b", "A", "_x", "a1", "a01", "1", "10", "9", "ns-2", "ns-10", "ns_1"];
        let sorted: Vec<String> =
            sort_map_entries(keys.iter().map(|k| (k.to_string(), ())).collect()).into_iter().map(|(k, _)| k).collect();
        assert_eq!(sorted, ["_x", "1", "9", "10", "A", "a1", "a01", "a2", "a10", "b", "ns-2", "ns-10", "ns_1"]);
    }
}
