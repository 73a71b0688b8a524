//! Parse errors, rendered like Loki's `logqlmodel.ParseError`.

use std::fmt;

/// A query that does not parse or does not validate.
///
/// Syntax errors carry the 1-based line and column of the offending token
/// (`parse error at line 1, col 5: syntax error: unexpected IDENTIFIER`);
/// errors found after parsing (validation) have no position and render as
/// `parse error : <message>`, as in Loki. A few of Loki's errors are plain
/// errors rather than `ParseError`s (`only label matchers are supported`):
/// they render as the message alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub msg: String,
    pub line: u32,
    pub col: u32,
    /// Rendered without the `parse error` prefix.
    pub plain: bool,
}

impl ParseError {
    pub fn new(msg: impl Into<String>, line: u32, col: u32) -> Self {
        Self { msg: msg.into(), line, col, plain: false }
    }

    /// An error without a position (semantic validation).
    pub fn semantic(msg: impl Into<String>) -> Self {
        Self::new(msg, 0, 0)
    }

    /// An error Loki does not wrap as a parse error (shown as `msg` alone).
    pub fn plain(msg: impl Into<String>) -> Self {
        Self { plain: true, ..Self::semantic(msg) }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.plain {
            f.write_str(&self.msg)
        } else if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(f, "parse error at line {}, col {}: {}", self.line, self.col, self.msg)
        }
    }
}

impl std::error::Error for ParseError {}
