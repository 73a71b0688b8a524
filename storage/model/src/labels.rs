//! Label sets: sorted by name, printed in Loki's canonical form
//! `{a="1", b="2"}` (values quoted like Go's `strconv.Quote`).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelPair {
    pub name: String,
    pub value: String,
}

/// A label set sorted by name. Names are unique once validated; `Labels`
/// itself does not reject duplicates so that validation can report them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<LabelPair>);

impl Labels {
    /// Builds a label set, sorting by name (stable, so duplicates keep order).
    pub fn new(mut pairs: Vec<LabelPair>) -> Self {
        pairs.sort_by(|a, b| a.name.cmp(&b.name));
        Self(pairs)
    }

    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Self::new(pairs.into_iter().map(|(n, v)| LabelPair { name: n.into(), value: v.into() }).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|p| p.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// Sets `name` to `value`, replacing an existing value.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|p| p.name.as_str().cmp(name)) {
            Ok(i) => self.0[i].value = value.to_string(),
            Err(i) => self.0.insert(i, LabelPair { name: name.to_string(), value: value.to_string() }),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.binary_search_by(|p| p.name.as_str().cmp(name)).ok().map(|i| self.0.remove(i).value)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &LabelPair> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn pairs(&self) -> &[LabelPair] {
        &self.0
    }

    pub fn into_pairs(self) -> Vec<LabelPair> {
        self.0
    }

    /// Loki's canonical label string, e.g. `{app="x", env="prod"}`.
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&p.name)?;
            f.write_str("=")?;
            write_go_quoted(f, &p.value)?;
        }
        f.write_str("}")
    }
}

/// Writes `s` quoted the way Go's `strconv.Quote` does for printable text.
pub fn write_go_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{07}' => f.write_str("\\a")?,
            '\u{08}' => f.write_str("\\b")?,
            '\u{0c}' => f.write_str("\\f")?,
            '\u{0b}' => f.write_str("\\v")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_sorted_and_quoted() {
        let l = Labels::from_pairs([("job", "te\"st"), ("app", "a\nb")]);
        assert_eq!(l.canonical(), r#"{app="a\nb", job="te\"st"}"#);
        assert_eq!(Labels::default().canonical(), "{}");
    }

    #[test]
    fn set_get_remove() {
        let mut l = Labels::from_pairs([("b", "2")]);
        l.set("a", "1");
        l.set("b", "3");
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.remove("a"), Some("1".into()));
        assert_eq!(l.canonical(), r#"{b="3"}"#);
    }
}
