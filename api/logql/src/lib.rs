//! LogQL syntax for Balsa: a hand-written lexer and parser producing a typed
//! AST, a printer for Loki's canonical form, and Loki-style parse errors.
//! There is no execution code here (see `balsa-query`).
//!
//! # Contents
//! - [`parse_expr`] (and [`parse_log_expr`], [`parse_sample_expr`],
//!   [`parse_matchers`]): query text → [`Expr`], validated as Loki does
//!   (a selector needs a matcher that does not match the empty string).
//! - [`ast`]: the tree: [`LogExpr`] (selector + pipeline [`Stage`]s) and
//!   [`SampleExpr`] (range/vector aggregations, binary operations, literals,
//!   `vector()`, `label_replace()`).
//! - `Display` on every node prints Loki's canonical `String()` form.
//! - [`pretty`]: Loki's `syntax.Prettify` (multi-line, 100 columns), as
//!   served by `/loki/api/v1/format_query`.
//! - [`Matcher`]: label matchers with compiled, anchored regexes.
//! - [`ParseError`]: `parse error at line 1, col 5: syntax error: unexpected
//!   IDENTIFIER`, or `parse error : <message>` for validation errors.
//! - [`label_regex`]: how Loki simplifies regex label filters (`E.*` is
//!   "contains E"), which decides how they match and print.
//! - [`pattern`]: the `<_>`/`<name>` pattern syntax of `|>` and `| pattern`.
//! - [`units`]: durations, byte sizes and floats, parsed and printed like Go.
//!
//! Parsing never panics and is bounded: inputs of [`MAX_INPUT_SIZE`] bytes
//! or more are rejected (as in Loki) and nesting deeper than [`MAX_DEPTH`]
//! is an error.
//!
//! # Known differences from Loki
//! - Error messages name the unexpected token; the list of expected tokens
//!   that goyacc appends is given only in the common places where it is
//!   known (selectors, line filters, groupings, `offset`, `vector()`,
//!   `label_replace()`).
//! - Where Loki's printer loses information, Balsa prints a form that reads
//!   back as the same query: bytes filters that the rounded SI form would
//!   change (`1KiB`, not `1.0kB`), `vector()` values needing more than six
//!   decimals, `ignoring () group_left`; see also [`pretty`].
//! - The experimental `variants(...) of (...)` syntax is not supported.
//! - Regexes use the `regex` crate (RE2 syntax); `\d`, `\w`, `\s` are
//!   Unicode-aware there, ASCII-only in Go. A regex both reject is reported
//!   with Go's message (`error parsing regexp: missing closing ): `(``).
//!   The few the crate rejects and Go accepts keep the crate's reason.

pub mod ast;
pub mod error;
mod go_regex;
pub mod label_regex;
mod lexer;
pub mod matcher;
mod parser;
pub mod pattern;
pub mod pretty;
mod print;
pub mod units;

pub use ast::*;
pub use error::ParseError;
pub use matcher::{MatchOp, Matcher};
pub use parser::{
    MAX_DEPTH, MAX_INPUT_SIZE, parse_expr, parse_log_expr, parse_matchers, parse_sample_expr, parse_unvalidated,
};
pub use pretty::{pretty, pretty_with_width};
