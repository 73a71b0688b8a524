//! `| line_format`, `| label_format` and `| decolorize`
//! (`pkg/logql/log/fmt.go`).
//!
//! Templates see every label (including `__error__` and
//! `__error_details__` when set), the current line through `__line__` and
//! the entry time through `__timestamp__`. A failing template sets
//! `__error__=TemplateFormatErr` with the error in `__error_details__` and
//! leaves the line (or the label) unchanged.

use std::sync::LazyLock;

use balsa_logql::LabelFmt;
use regex::Regex;

use super::labels::{ERROR_LABEL, LabelSet, Pairs};
use balsa_template::{Context, Template};

pub(crate) const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// What a template sees: the live labels, or a snapshot taken when a
/// `label_format` stage ran its first template.
enum View<'a> {
    Live(&'a LabelSet),
    Snapshot(&'a Pairs),
}

struct Ctx<'a> {
    view: View<'a>,
    line: &'a str,
    ts_ns: i64,
}

impl Context for Ctx<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        match &self.view {
            View::Live(l) => l.value_with_errors(name),
            View::Snapshot(p) => p.get(name),
        }
    }

    fn line(&self) -> &str {
        self.line
    }

    fn timestamp_ns(&self) -> i64 {
        self.ts_ns
    }

    fn labels(&self) -> Option<Vec<(&str, &str)>> {
        let mut out = Vec::new();
        match &self.view {
            View::Live(l) => l.for_each(|n, v| {
                // Later duplicates (the error fields) win, as in a Go map.
                out.retain(|(o, _): &(&str, &str)| *o != n);
                out.push((n, v));
            }),
            View::Snapshot(p) => out.extend(p.as_slice().iter().map(|(n, v)| (n.as_str(), v.as_str()))),
        }
        Some(out)
    }
}

/// Reused buffers of the formatting stages.
#[derive(Default)]
pub(crate) struct FormatScratch {
    value: String,
    snapshot: Pairs,
    details: String,
}

/// `| line_format "<template>"`.
pub(crate) struct LineFormat {
    tmpl: Template,
    /// `{{.name}}` alone: the label's value is copied as Loki does (through
    /// `Get`, so error labels are not seen there).
    simple_key: Option<String>,
}

impl LineFormat {
    pub(crate) fn compile(src: &str) -> Result<Self, String> {
        let tmpl = Template::parse(src).map_err(|e| format!("invalid line template: {e}"))?;
        Ok(Self { tmpl, simple_key: simple_key(src) })
    }

    /// Renders the new line into `out`; `false` (line unchanged) when the
    /// template fails.
    pub(crate) fn process(
        &self,
        line: &str,
        ts_ns: i64,
        labels: &mut LabelSet,
        out: &mut String,
        sc: &mut FormatScratch,
    ) -> bool {
        out.clear();
        if let Some(k) = &self.simple_key {
            out.push_str(labels.get(k).unwrap_or(""));
            return true;
        }
        let ctx = Ctx { view: View::Live(labels), line, ts_ns };
        match self.tmpl.render(&ctx, out) {
            Ok(()) => true,
            Err(e) => {
                use std::fmt::Write;
                sc.details.clear();
                let _ = write!(sc.details, "{e}");
                labels.set_error(TEMPLATE_ERR, &sc.details);
                false
            }
        }
    }
}

/// `{{.name}}` (optionally with spaces or trim markers) and nothing else.
fn simple_key(src: &str) -> Option<String> {
    let inner = src.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix("- ").unwrap_or(inner);
    let inner = inner.strip_suffix(" -").unwrap_or(inner);
    let name = inner.trim_matches([' ', '\t', '\n', '\r']).strip_prefix('.')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    (first.is_alphabetic() || first == '_')
        .then_some(())
        .filter(|_| chars.all(|c| c.is_alphanumeric() || c == '_'))
        .map(|_| name.to_string())
}

enum Fmt {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: Template },
}

/// `| label_format a=b, c="{{...}}"`.
pub(crate) struct LabelFormat {
    fmts: Vec<Fmt>,
    /// Whether assignments follow the first template: then templates read
    /// the labels as they were when the first template ran, as in Loki.
    snapshot: bool,
}

impl LabelFormat {
    pub(crate) fn compile(fmts: &[LabelFmt]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(fmts.len());
        for f in fmts {
            let dst = match f {
                LabelFmt::Rename { dst, .. } | LabelFmt::Template { dst, .. } => dst,
            };
            if dst == ERROR_LABEL {
                return Err(format!("{dst} cannot be formatted"));
            }
            if out.iter().any(|o: &Fmt| match o {
                Fmt::Rename { dst: d, .. } | Fmt::Template { dst: d, .. } => d == dst,
            }) {
                return Err(format!("multiple label name '{dst}' not allowed in a single format operation"));
            }
            out.push(match f {
                LabelFmt::Rename { dst, src } => Fmt::Rename { dst: dst.clone(), src: src.clone() },
                LabelFmt::Template { dst, template } => Fmt::Template {
                    dst: dst.clone(),
                    tmpl: Template::parse_named("label", template)
                        .map_err(|e| format!("invalid template for label '{dst}': {e}"))?,
                },
            });
        }
        let first_template = out.iter().position(|f| matches!(f, Fmt::Template { .. }));
        let snapshot = first_template.is_some_and(|i| i + 1 < out.len());
        Ok(Self { fmts: out, snapshot })
    }

    pub(crate) fn process(&self, line: &str, ts_ns: i64, labels: &mut LabelSet, sc: &mut FormatScratch) {
        let mut taken = false;
        for f in &self.fmts {
            match f {
                Fmt::Rename { dst, src } => {
                    let Some(v) = labels.get(src) else { continue };
                    sc.value.clear();
                    sc.value.push_str(v);
                    labels.set_parsed(dst, &sc.value);
                    labels.delete(src);
                }
                Fmt::Template { dst, tmpl } => {
                    if self.snapshot && !taken {
                        let FormatScratch { snapshot, .. } = sc;
                        snapshot.clear();
                        labels.for_each(|n, v| {
                            snapshot.set(n, v);
                        });
                        taken = snapshot.len() > 0;
                    }
                    sc.value.clear();
                    let r = {
                        let view = if self.snapshot { View::Snapshot(&sc.snapshot) } else { View::Live(labels) };
                        tmpl.render(&Ctx { view, line, ts_ns }, &mut sc.value)
                    };
                    match r {
                        Ok(()) => labels.set_parsed(dst, &sc.value),
                        Err(e) => {
                            use std::fmt::Write;
                            sc.details.clear();
                            let _ = write!(sc.details, "{e}");
                            labels.set_error(TEMPLATE_ERR, &sc.details);
                        }
                    }
                }
            }
        }
    }
}

/// ANSI escape sequences, as Loki's `ansiPattern` (from stripansi) finds
/// them.
static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[\x1B\x{9B}][\[\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x07)|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))",
    )
    .expect("static regex")
});

/// `| decolorize`: writes the line without ANSI sequences into `out`;
/// `false` when there was nothing to strip.
pub(crate) fn decolorize(line: &str, out: &mut String) -> bool {
    // ESC, or the first byte of U+009B in UTF-8.
    if memchr::memchr2(0x1b, 0xc2, line.as_bytes()).is_none() {
        return false;
    }
    match ANSI.replace_all(line, "") {
        std::borrow::Cow::Borrowed(_) => false,
        std::borrow::Cow::Owned(s) => {
            out.clear();
            out.push_str(&s);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_keys() {
        assert_eq!(simple_key("{{.message}}").as_deref(), Some("message"));
        assert_eq!(simple_key("{{ .message }}").as_deref(), Some("message"));
        assert_eq!(simple_key("{{- .msg -}}").as_deref(), Some("msg"));
        assert_eq!(simple_key("x {{.message}}"), None);
        assert_eq!(simple_key("{{.a}}{{.b}}"), None);
        assert_eq!(simple_key("{{.a.b}}"), None);
        assert_eq!(simple_key("{{ToUpper .a}}"), None);
    }

    #[test]
    fn ansi() {
        let mut out = String::new();
        assert!(decolorize("\x1b[31mred\x1b[0m plain \x1b[1;32mbold\x1b[m", &mut out));
        assert_eq!(out, "red plain bold");
        assert!(!decolorize("no colors here", &mut out));
        assert!(decolorize("a\u{9b}31mb", &mut out));
        assert_eq!(out, "ab");
        assert!(decolorize("\x1b]0;title\x07text", &mut out));
        assert_eq!(out, "text");
    }
}
