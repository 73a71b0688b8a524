//! Go `text/template` as Loki's `line_format` and `label_format` stages use it.
//!
//! A template is parsed once ([`Template::parse`]) and rendered per log entry
//! ([`Template::render`]) against a [`Context`] that supplies the entry's labels, line and
//! timestamp. The data the template sees is Loki's: a `map[string]string` of all labels, with
//! Go's `missingkey=zero` option, so `{{ .missing }}` and `{{ index . "missing" }}` both
//! render as the empty string. `__line__` and `__timestamp__` are functions.
//!
//! The same engine runs Prometheus alert templates (alerting rules' labels and annotations)
//! through [`alert::AlertTemplate`], with Prometheus' data struct and function map instead of
//! Loki's. Each template is parsed with one function map; the other's functions are not
//! defined in it.
//!
//! # Why an own engine
//!
//! The only Rust port of Go templates, `gtmpl` (0.7.1), has had no release since 2021 and
//! models values as its own dynamic type without Go's typed function signatures, so Loki's
//! behaviour around argument types (`trunc (add 1 2) .x` is an error in Go because `add`
//! returns `int64` where `trunc` wants `int`), `missingkey=zero`, `{{break}}`/`{{continue}}`,
//! range over integers and bounded execution could not be expressed without patching it.
//! This crate is a small, self-contained engine instead: a lexer and parser that follow Go's
//! `text/template/parse`, and an evaluator that follows Go's `exec.go`, with Go-typed
//! function signatures for the Go builtins and for every function in Loki's `functionMap`
//! (Loki's own functions plus the sprig subset it registers).
//!
//! # Supported language
//!
//! Text and actions, comments, `{{-`/`-}}` trimming, `if`/`else if`/`else`, `with`/`else with`,
//! `range` (over lists and maps from `fromJson`, over integers, with `$i, $e :=`, `{{break}}`,
//! `{{continue}}`, `{{else}}`), variables (`$x := …`, `$x = …`, `$`), parenthesised pipelines,
//! pipes, field chains (`.a.b`, `$x.a`, `(fromJson .j).a`), string/raw-string/char/number/bool/nil
//! literals, `define`/`template`/`block`, and the methods `Unix`, `UnixMilli`, `UnixMicro`,
//! `UnixNano`, `Year`, `Month`, `Day`, `Hour`, `Minute`, `Second`, `Nanosecond`, `YearDay`,
//! `Weekday`, `Format`, `UTC`, `Local`, `String`, `IsZero`, `Add` on time values.
//!
//! # Functions
//!
//! Go builtins: `and or not len index slice print printf println html js urlquery eq ne lt le
//! gt ge call`. Loki: `__line__ __timestamp__ ToLower ToUpper Replace Trim TrimLeft TrimRight
//! TrimPrefix TrimSuffix TrimSpace regexReplaceAll regexReplaceAllLiteral count urldecode
//! urlencode bytes duration duration_seconds unixEpochMillis unixEpochNanos toDateInZone
//! unixToTime alignLeft alignRight` and the sprig functions `b64enc b64dec lower upper title
//! trunc substr contains hasPrefix hasSuffix indent nindent replace repeat trim trimAll
//! trimSuffix trimPrefix int float64 add sub mul div mod addf subf mulf divf max min maxf minf
//! ceil floor round fromJson date toDate now unixEpoch default`. Sprig functions Loki does not
//! register (such as `abbrev`) are parse errors, as in Loki.
//!
//! # Known differences from Loki
//!
//! - The server's local time zone is UTC (`date`, `toDate`, `now`, `__timestamp__`).
//! - `trunc` and `substr` count characters (Loki's own implementations) rather than bytes
//!   (sprig's), so they never split a UTF-8 sequence.
//! - Regular expressions use the `regex` crate: RE2 syntax as in Go, but `\d`, `\w`, `\s` and
//!   `\b` are Unicode-aware, and the texts of invalid-pattern errors are the crate's.
//! - Complex numbers and hexadecimal float literals are rejected.
//! - `{{ . }}`, `range .` and `len .` need [`Context::labels`]; contexts that do not list
//!   their labels make those an execution error.
//!
//! # Bounds
//!
//! Parse nesting is limited to 100 levels, execution depth to 200, one execution to a
//! million steps, every string value to [`MAX_STRING_BYTES`] and the output to
//! [`MAX_OUTPUT_BYTES`]; exceeding any of them is a [`TemplateError`]. Parsing and rendering
//! never panic.

pub mod alert;
mod exec;
mod fmt;
mod funcs;
mod gotime;
mod lex;
mod parse;
mod prom;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

/// Largest string a function may produce (bigger results are an execution error).
pub const MAX_STRING_BYTES: usize = 4 << 20;
/// Largest output one render may append.
pub const MAX_OUTPUT_BYTES: usize = 4 << 20;

pub(crate) const NOT_LISTABLE: &str = "the labels cannot be listed in this context";

/// The data a template renders against: one log entry.
pub trait Context {
    /// `.name`: the value of a label (stream label, structured metadata or parsed label); None when absent.
    fn label(&self, name: &str) -> Option<&str>;
    /// `__line__`
    fn line(&self) -> &str;
    /// `__timestamp__` (Unix ns); templates see it as a time value (e.g. `{{ __timestamp__ | date "2006-01-02" }}`, `{{ __timestamp__ | unixEpoch }}`).
    fn timestamp_ns(&self) -> i64;
    /// All labels as (name, value) pairs, for templates that use the whole map
    /// (`{{ . }}`, `range .`, `len .`). `None` (the default) makes those an execution error.
    fn labels(&self) -> Option<Vec<(&str, &str)>> {
        None
    }
}

/// A parse or execution error, worded like Go's (`template: line:1: function "foo" not defined`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    message: String,
}

impl TemplateError {
    pub(crate) fn new(message: String) -> Self {
        TemplateError { message }
    }

    /// The error text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A parsed template. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct Template {
    inner: Arc<exec::Inner>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("src", &self.inner.src).finish()
    }
}

impl Template {
    /// Parses a template named "line" (the name Loki gives `line_format` templates; it appears
    /// in error messages).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Self::parse_named("line", src)
    }

    /// Parses a template with the name used in error messages (Loki uses "label" for
    /// `label_format`).
    pub fn parse_named(name: &str, src: &str) -> Result<Template, TemplateError> {
        Self::parse_dialect(name, src, funcs::Dialect::Loki)
    }

    /// Parses with a dialect's function map.
    pub(crate) fn parse_dialect(name: &str, src: &str, dialect: funcs::Dialect) -> Result<Template, TemplateError> {
        let parsed = parse::parse(name, src, dialect).map_err(|e| TemplateError::new(e.0))?;
        let mut regexes = HashMap::new();
        collect_regexes(&parsed.root, &mut regexes);
        for list in parsed.defines.values() {
            collect_regexes(list, &mut regexes);
        }
        Ok(Template {
            inner: Arc::new(exec::Inner {
                name: name.to_string(),
                src: src.to_string(),
                root: parsed.root,
                defines: parsed.defines,
                regexes,
            }),
        })
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.inner.src
    }

    /// Renders into `out` (appends). On error nothing is appended.
    pub fn render(&self, ctx: &dyn Context, out: &mut String) -> Result<(), TemplateError> {
        exec::execute(&self.inner, ctx, value::Value::Data, None, out)
    }

    /// Renders into a new string.
    pub fn render_to_string(&self, ctx: &dyn Context) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.render(ctx, &mut out)?;
        Ok(out)
    }
}

pub(crate) fn sorted_labels(ctx: &dyn Context) -> Vec<(&str, &str)> {
    let mut l = ctx.labels().unwrap_or_default();
    l.sort_unstable();
    l
}

/// Precompiles regular expressions given as literal first arguments of the regex functions.
fn collect_regexes(list: &[parse::Node], out: &mut HashMap<String, regex::Regex>) {
    use parse::{ArgKind, Node, Pipe};
    fn pipe(p: &Pipe, out: &mut HashMap<String, regex::Regex>) {
        for c in &p.cmds {
            if let (Some(ArgKind::Func(f)), Some(ArgKind::Str(s))) =
                (c.args.first().map(|a| &a.kind), c.args.get(1).map(|a| &a.kind))
                && f.takes_regex()
                && !out.contains_key(s)
                && let Ok(re) = funcs::compile_regex(s)
            {
                out.insert(s.clone(), re);
            }
            for a in &c.args {
                arg(a, out);
            }
        }
    }
    fn arg(a: &parse::Arg, out: &mut HashMap<String, regex::Regex>) {
        match &a.kind {
            ArgKind::Pipe(p) => pipe(p, out),
            ArgKind::Chain(b, _) => arg(b, out),
            _ => {}
        }
    }
    for n in list {
        match n {
            Node::Action(p) => pipe(p, out),
            Node::If(b) | Node::With(b) | Node::Range(b) => {
                pipe(&b.pipe, out);
                collect_regexes(&b.list, out);
                if let Some(e) = &b.else_list {
                    collect_regexes(e, out);
                }
            }
            Node::Template { pipe: Some(p), .. } => pipe(p, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn template_is_send_sync_clone() {
        assert_send_sync_clone::<Template>();
    }
}
