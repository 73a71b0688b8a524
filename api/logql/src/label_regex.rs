//! Loki's simplification of regex label filters (`| name=~"re"`,
//! `pkg/logql/log/filter.go`: `NewLabelFilter`, `parseRegexpFilter` and
//! `RegexSimplifier` with `isLabel`).
//!
//! Loki parses the regex with Go's `regexp/syntax` and, when its tree is
//! made of literals, `.*`, `.+`, groups and alternations only, replaces it
//! with string filters. These do not always mean what the regex means:
//! a literal alone must equal the value, but a literal next to `.*` only
//! has to be *contained* in it, so `method=~"E.*"` keeps `GET`, and
//! `bar|buzz` (which Go factors into `b(?:ar|uzz)`) keeps `foobar`. Other
//! regexes are matched anchored, `^(?:re)$`. The printer uses the same
//! analysis: Loki prints a label filter whose regex was not simplified with
//! backticks.
//!
//! [`simplify_label_regex`] rebuilds the parts of Go's parse tree that the
//! simplifier looks at (literal merging, capture groups, `(?i)`, and the
//! factoring of alternations: common literal prefixes, runs of one-character
//! branches merged into a class, empty branches) and runs Loki's rules on it.
//! Any other construct (classes, escapes like `\d`, anchors, other
//! repetitions) makes the whole regex non-simplifiable, as it does in Loki.

/// A label regex Loki replaces with string filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelRegex {
    /// Matches every value (`.*`, the empty regex).
    True,
    /// Matches non-empty values (`.+`).
    Exists,
    /// The value equals the text (ASCII and Unicode case folded when `fold`).
    Equal {
        text: String,
        fold: bool,
    },
    /// The value contains the text.
    Contains {
        text: String,
        fold: bool,
    },
    Or(Box<LabelRegex>, Box<LabelRegex>),
}

impl LabelRegex {
    /// Whether `value` passes (for `=~`; `!~` negates).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            LabelRegex::True => true,
            LabelRegex::Exists => !value.is_empty(),
            LabelRegex::Equal { text, fold: false } => value == text,
            LabelRegex::Equal { text, fold: true } => {
                value.len() == text.len() && value.to_lowercase() == text.to_lowercase()
            }
            LabelRegex::Contains { text, fold: false } => value.contains(text.as_str()),
            LabelRegex::Contains { text, fold: true } => value.to_lowercase().contains(&text.to_lowercase()),
            LabelRegex::Or(a, b) => a.matches(value) || b.matches(value),
        }
    }
}

/// What Loki turns the label regex `re` into, or `None` when it keeps the
/// regex (matched as `^(?:re)$`).
pub fn simplify_label_regex(re: &str) -> Option<LabelRegex> {
    let mut p = Parser { chars: re.chars().collect(), pos: 0, fold: false };
    let node = p.alternation()?;
    if p.pos != p.chars.len() {
        return None;
    }
    simplify(node)
}

/// The part of Go's `syntax.Regexp` the simplifier sees.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Lit(Vec<char>, bool),
    /// `.*` (the flag is the case folding in force, which Go records).
    Star(bool),
    /// `.+`
    Plus,
    Empty,
    Capture(Box<Node>),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    /// A character class (Go merges one-character branches into one).
    Class,
}

impl Node {
    fn fold(&self) -> bool {
        matches!(self, Node::Lit(_, true) | Node::Star(true))
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    fold: bool,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars[self.pos.min(self.chars.len())..].iter().take(n).copied().eq(s.chars()) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// `a|b|...` up to `)` or the end.
    fn alternation(&mut self) -> Option<Node> {
        let mut subs = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            subs.push(self.concat()?);
        }
        Some(collapse_alt(subs))
    }

    fn concat(&mut self) -> Option<Node> {
        let mut subs: Vec<Node> = Vec::new();
        let outer_fold = self.fold;
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '(' => {
                    self.pos += 1;
                    let node = if self.eat("?P<") || self.eat("?<") {
                        while self.peek()? != '>' {
                            self.pos += 1;
                        }
                        self.pos += 1;
                        Some(true)
                    } else if self.peek() == Some('?') {
                        self.pos += 1;
                        // flags: (?i) (?-i) (?i:...) (?:...)
                        let mut on = true;
                        let mut fold = self.fold;
                        loop {
                            match self.peek()? {
                                'i' => fold = on,
                                '-' => on = false,
                                'm' | 'U' => {}
                                ':' => {
                                    self.pos += 1;
                                    break;
                                }
                                ')' => {
                                    self.pos += 1;
                                    self.fold = fold;
                                    break;
                                }
                                _ => return None,
                            }
                            self.pos += 1;
                        }
                        if self.chars[self.pos - 1] == ')' {
                            None
                        } else {
                            let saved = self.fold;
                            self.fold = fold;
                            let inner = self.alternation()?;
                            self.fold = saved;
                            if self.peek()? != ')' {
                                return None;
                            }
                            self.pos += 1;
                            self.check_no_repeat()?;
                            push(&mut subs, inner);
                            continue;
                        }
                    } else {
                        Some(true)
                    };
                    if node.is_some() {
                        let saved = self.fold;
                        let inner = self.alternation()?;
                        self.fold = saved;
                        if self.peek()? != ')' {
                            return None;
                        }
                        self.pos += 1;
                        self.check_no_repeat()?;
                        push(&mut subs, Node::Capture(Box::new(inner)));
                    }
                }
                '.' => {
                    self.pos += 1;
                    let node = match self.peek() {
                        Some('*') => Node::Star(self.fold),
                        Some('+') => Node::Plus,
                        _ => return None,
                    };
                    self.pos += 1;
                    self.eat("?"); // lazy: the same to the simplifier
                    self.check_no_repeat()?;
                    push(&mut subs, node);
                }
                '[' | '^' | '$' | '*' | '+' | '?' | '{' => return None,
                '\\' => {
                    let e = *self.chars.get(self.pos + 1)?;
                    if e.is_ascii_alphanumeric() {
                        return None;
                    }
                    self.pos += 2;
                    self.literal(&mut subs, e)?;
                }
                _ => {
                    self.pos += 1;
                    self.literal(&mut subs, c)?;
                }
            }
        }
        // A flag group `(?i)` lasts to the end of the enclosing group.
        let _ = outer_fold;
        Some(match subs.len() {
            0 => Node::Empty,
            1 => subs.pop().unwrap(),
            _ => Node::Concat(subs),
        })
    }

    /// A literal character, unless a repetition follows it.
    fn literal(&mut self, subs: &mut Vec<Node>, c: char) -> Option<()> {
        self.check_no_repeat()?;
        push(subs, Node::Lit(vec![c], self.fold));
        Some(())
    }

    /// Repetitions of anything but `.` are not simplified.
    fn check_no_repeat(&self) -> Option<()> {
        match self.peek() {
            Some('*' | '+' | '?') => None,
            Some('{')
                if self.chars[self.pos..]
                    .iter()
                    .skip(1)
                    .take_while(|c| **c != '}')
                    .all(|c| c.is_ascii_digit() || *c == ',') =>
            {
                None
            }
            _ => Some(()),
        }
    }
}

/// Appends to a concatenation as Go does: adjacent literals with the same
/// case folding merge, nested concatenations flatten.
fn push(subs: &mut Vec<Node>, node: Node) {
    match node {
        Node::Concat(inner) => {
            for n in inner {
                push(subs, n);
            }
        }
        Node::Lit(chars, fold) => match subs.last_mut() {
            Some(Node::Lit(prev, f)) if *f == fold => prev.extend(chars),
            _ => subs.push(Node::Lit(chars, fold)),
        },
        Node::Empty => {}
        other => subs.push(other),
    }
}

/// Go's `collapse(subs, OpAlternate)`: flattens nested alternations and
/// factors the branches.
fn collapse_alt(subs: Vec<Node>) -> Node {
    let mut flat = Vec::new();
    for s in subs {
        match s {
            Node::Alt(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    let mut out = factor(flat);
    if out.len() == 1 { out.pop().unwrap() } else { Node::Alt(out) }
}

fn leading_string(n: &Node) -> Option<(&[char], bool)> {
    let n = match n {
        Node::Concat(subs) if !subs.is_empty() => &subs[0],
        other => other,
    };
    match n {
        Node::Lit(chars, fold) => Some((chars, *fold)),
        _ => None,
    }
}

fn remove_leading_string(n: Node, len: usize) -> Node {
    match n {
        Node::Concat(mut subs) if !subs.is_empty() => {
            let first = remove_leading_string(subs.remove(0), len);
            if first != Node::Empty {
                subs.insert(0, first);
            }
            match subs.len() {
                0 => Node::Empty,
                1 => subs.pop().unwrap(),
                _ => Node::Concat(subs),
            }
        }
        Node::Lit(chars, fold) => {
            if chars.len() == len {
                Node::Empty
            } else {
                Node::Lit(chars[len..].to_vec(), fold)
            }
        }
        other => other,
    }
}

/// Go's `parser.factor` for the node kinds kept here.
fn factor(subs: Vec<Node>) -> Vec<Node> {
    if subs.len() < 2 {
        return subs;
    }
    // Round 1: common literal prefixes.
    let mut out: Vec<Node> = Vec::new();
    let mut run: Vec<Node> = Vec::new();
    let mut prefix: Vec<char> = Vec::new();
    let mut prefix_fold = false;
    let flush = |run: &mut Vec<Node>, prefix: &[char], fold: bool, out: &mut Vec<Node>| {
        if run.len() == 1 {
            out.push(run.pop().unwrap());
        } else if run.len() > 1 {
            let suffixes: Vec<Node> = run.drain(..).map(|n| remove_leading_string(n, prefix.len())).collect();
            let suffix = collapse_alt(suffixes);
            out.push(Node::Concat(vec![Node::Lit(prefix.to_vec(), fold), suffix]));
        }
    };
    for sub in subs {
        let lead = leading_string(&sub).map(|(c, f)| (c.to_vec(), f));
        if let Some((chars, fold)) = &lead
            && !run.is_empty()
            && *fold == prefix_fold
        {
            let same = prefix.iter().zip(chars).take_while(|(a, b)| a == b).count();
            if same > 0 {
                prefix.truncate(same);
                run.push(sub);
                continue;
            }
        }
        flush(&mut run, &prefix, prefix_fold, &mut out);
        match lead {
            Some((chars, fold)) => {
                prefix = chars;
                prefix_fold = fold;
            }
            None => {
                prefix.clear();
                prefix_fold = false;
            }
        }
        run.push(sub);
    }
    flush(&mut run, &prefix, prefix_fold, &mut out);
    // Round 3: runs of one-character branches become a class (which the
    // simplifier does not take); round 4: runs of empty branches become one.
    let one_char = |n: &Node| matches!(n, Node::Lit(c, _) if c.len() == 1);
    let mut result: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < out.len() {
        let mut j = i;
        while j < out.len() && one_char(&out[j]) {
            j += 1;
        }
        if j - i >= 2 {
            result.push(Node::Class);
            i = j;
            continue;
        }
        if out[i] == Node::Empty && result.last() == Some(&Node::Empty) {
            i += 1;
            continue;
        }
        result.push(out[i].clone());
        i += 1;
    }
    result
}

fn clear_capture(mut n: Node) -> Node {
    while let Node::Capture(inner) = n {
        n = *inner;
    }
    n
}

fn or(curr: Option<LabelRegex>, f: LabelRegex) -> LabelRegex {
    match curr {
        None => f,
        Some(c) => LabelRegex::Or(Box::new(c), Box::new(f)),
    }
}

/// Loki's `RegexSimplifier.Simplify` with `isLabel`.
fn simplify(n: Node) -> Option<LabelRegex> {
    match n {
        Node::Class => None,
        Node::Alt(subs) => {
            let mut f: Option<LabelRegex> = None;
            for s in subs {
                f = Some(or(f, simplify(clear_capture(s))?));
            }
            f
        }
        Node::Concat(subs) => simplify_concat(subs, None),
        Node::Capture(inner) => simplify(*inner),
        Node::Lit(chars, fold) => Some(LabelRegex::Equal { text: chars.into_iter().collect(), fold }),
        Node::Star(_) | Node::Empty => Some(LabelRegex::True),
        Node::Plus => Some(LabelRegex::Exists),
    }
}

fn simplify_concat(subs: Vec<Node>, base: Option<String>) -> Option<LabelRegex> {
    let subs: Vec<Node> = subs.into_iter().map(clear_capture).filter(|s| *s != Node::Empty).collect();
    if subs.len() > 3 {
        return None;
    }
    let mut base = base;
    let mut curr: Option<LabelRegex> = None;
    let mut literals = 0;
    let mut base_fold = false;
    for sub in subs {
        match sub {
            Node::Lit(chars, fold) => {
                if literals != 0 {
                    return None;
                }
                literals += 1;
                base.get_or_insert_with(String::new).extend(chars);
                base_fold = fold;
            }
            Node::Alt(alts) if base.is_some() => {
                curr = Some(simplify_concat_alternate(alts, base.as_deref().unwrap_or(""), curr, base_fold)?);
            }
            Node::Star(_) => {}
            _ => return None,
        }
    }
    if curr.is_some() {
        return curr;
    }
    base.map(|text| LabelRegex::Contains { text, fold: base_fold })
}

fn simplify_concat_alternate(
    alts: Vec<Node>,
    literal: &str,
    mut curr: Option<LabelRegex>,
    base_fold: bool,
) -> Option<LabelRegex> {
    for alt in alts {
        if !base_fold && alt.fold() {
            return None;
        }
        let f = match alt {
            Node::Empty | Node::Star(_) => LabelRegex::Contains { text: literal.to_string(), fold: base_fold },
            Node::Lit(chars, _) => {
                let mut text = literal.to_string();
                text.extend(chars);
                LabelRegex::Contains { text, fold: base_fold }
            }
            Node::Concat(subs) => simplify_concat(subs, Some(literal.to_string()))?,
            _ => return None,
        };
        curr = Some(or(curr, f));
    }
    curr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &str) -> LabelRegex {
        LabelRegex::Contains { text: t.into(), fold: false }
    }
    fn e(t: &str) -> LabelRegex {
        LabelRegex::Equal { text: t.into(), fold: false }
    }
    fn or(a: LabelRegex, b: LabelRegex) -> LabelRegex {
        LabelRegex::Or(Box::new(a), Box::new(b))
    }

    #[test]
    fn simplifications_follow_loki() {
        assert_eq!(simplify_label_regex("foo"), Some(e("foo")));
        assert_eq!(simplify_label_regex("(foo)"), Some(e("foo")));
        assert_eq!(simplify_label_regex("foo|bar"), Some(or(e("foo"), e("bar"))));
        assert_eq!(simplify_label_regex("E.*"), Some(c("E")));
        assert_eq!(simplify_label_regex(".*foo"), Some(c("foo")));
        assert_eq!(simplify_label_regex(".*foo.*"), Some(c("foo")));
        // Go factors `bar|buzz` into `b(?:ar|uzz)`: a concatenation.
        assert_eq!(simplify_label_regex("bar|buzz"), Some(or(c("bar"), c("buzz"))));
        assert_eq!(simplify_label_regex("f|foo|foobar").map(|f| f.matches("xfoox")), Some(true));
        assert_eq!(simplify_label_regex(".*"), Some(LabelRegex::True));
        assert_eq!(simplify_label_regex(""), Some(LabelRegex::True));
        assert_eq!(simplify_label_regex(".+"), Some(LabelRegex::Exists));
        assert_eq!(simplify_label_regex("(?i)hello"), Some(LabelRegex::Equal { text: "hello".into(), fold: true }));
        // Not simplified: matched as an anchored regex.
        for re in ["a|b", "x(?:a|b)", "\\w.*", "[a-z]+", "foo.+", "^foo", "a*", ".*foo.*bar", "(foo)bar.*", "(?s).*"] {
            assert_eq!(simplify_label_regex(re), None, "{re}");
        }
        assert_eq!(simplify_label_regex("x(?:ab|cd)"), Some(or(c("xab"), c("xcd"))));
        assert_eq!(simplify_label_regex("\\.foo"), Some(e(".foo")));
    }
}
