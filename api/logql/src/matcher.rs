//! Label matchers (`name="v"`, `!=`, `=~`, `!~`) with their compiled regex.

use std::fmt;

use regex::Regex;

use crate::units::go_quote;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// A label matcher. Regex matchers hold a fully anchored regex compiled like
/// Prometheus does (`^(?s:<value>)$`, RE2 syntax), so `=~"ap"` does not
/// match `app`. A missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; fails only for regex matchers with an invalid regex
    /// (message like Go's `error parsing regexp: ...`).
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(compile_anchored(&value)?),
            _ => None,
        };
        Ok(Self { name: name.into(), op, value, re })
    }

    /// Whether `value` (the label's value, `""` if absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Neq => value != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::Nre => !self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the matcher accepts the empty string (and so also streams
    /// without the label). A selector needs at least one matcher for which
    /// this is false.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The compiled, anchored regex of `=~` / `!~` matchers.
    pub fn regex(&self) -> Option<&Regex> {
        self.re.as_ref()
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), go_quote(&self.value))
    }
}

/// Compiles `^(?s:<re>)$`, reporting errors like Go.
pub(crate) fn compile_anchored(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{re})$")).map_err(|e| regex_error(&e, re))
}

/// The message for a regex the `regex` crate rejected: Go's (`error parsing
/// regexp: missing closing ): `(``, see `go_regex`), or, when Go would
/// accept it, the crate's reason worded the same way. `re` is the text Loki
/// hands to Go (the raw value, or for `label_replace` the anchored regex).
pub fn regex_error(e: &regex::Error, re: &str) -> String {
    if let Some(go) = crate::go_regex::go_parse_error(re) {
        return go;
    }
    let detail = match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
            .unwrap_or_else(|| s.lines().last().unwrap_or("invalid regexp").trim().to_string()),
        regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
        _ => "invalid regexp".to_string(),
    };
    format!("error parsing regexp: {detail}: `{re}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchoring_and_empty() {
        let m = Matcher::new(MatchOp::Re, "app", "ap").unwrap();
        assert!(m.matches("ap"));
        assert!(!m.matches("app"));
        assert!(!m.matches_empty());
        assert!(Matcher::new(MatchOp::Re, "app", ".*").unwrap().matches_empty());
        assert!(Matcher::new(MatchOp::Nre, "app", "x").unwrap().matches_empty());
        assert!(!Matcher::new(MatchOp::Neq, "app", "").unwrap().matches_empty());
        assert!(Matcher::new(MatchOp::Re, "a", "(").unwrap_err().starts_with("error parsing regexp: "));
        assert!(Matcher::new(MatchOp::Re, "a", "a|b").unwrap().matches("b"));
    }
}
