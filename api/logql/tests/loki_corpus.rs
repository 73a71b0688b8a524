//! Conformance corpus: facts taken from the test cases of Loki v3.7.6's
//! `pkg/logql/syntax` (see `tests/loki/README.md`), run through Balsa's
//! parser, canonical printer and pretty printer. Every failing case is
//! reported at once; cases listed in the README's `KNOWN_DIFFERENCES` are
//! expected to differ (and must still differ, so the list stays true).

use std::path::Path;

use balsa_logql::{parse_expr, parse_matchers, pretty_with_width};

mod loki_runner;
use loki_runner::Case;

/// Checks one case against Balsa; `Err` describes the mismatch.
fn check(case: &Case) -> Result<(), String> {
    let get = |k: &str| case.get(k).map(String::as_str).ok_or_else(|| format!("case has no `{k}`"));
    let query = get("query")?;
    let kind = get("kind")?;
    let parsed = parse_expr(query);
    let canonical_is_stable = |e: &balsa_logql::Expr| -> Result<(), String> {
        let s = e.to_string();
        match parse_expr(&s) {
            Ok(again) if &again == e => Ok(()),
            Ok(again) => Err(format!("canonical form {s} parses to another tree, printed {again}")),
            Err(err) => Err(format!("canonical form {s} does not parse: {err}")),
        }
    };
    match kind {
        "ok" | "roundtrip" => canonical_is_stable(&parsed.map_err(|e| format!("want ok, got error: {e}"))?),
        "string" => {
            let e = parsed.map_err(|e| format!("want {}, got error: {e}", get("want").unwrap_or("?")))?;
            let (got, want) = (e.to_string(), get("want")?);
            if got != want {
                return Err(format!("want: {want}\n    got:  {got}"));
            }
            canonical_is_stable(&e)
        }
        "error" | "error_contains" => {
            let want = get("want")?;
            match parsed {
                Ok(e) => Err(format!("want error {want:?}, parsed as {e}")),
                Err(e) if kind == "error" && e.to_string() != want => Err(format!("want: {want}\n    got:  {e}")),
                Err(e) if kind == "error_contains" && !e.to_string().contains(want) => {
                    Err(format!("want an error containing: {want}\n    got: {e}"))
                }
                Err(_) => Ok(()),
            }
        }
        "matchers_ok" => parse_matchers(query).map(|_| ()).map_err(|e| format!("want ok, got {e}")),
        "matchers_error" => match parse_matchers(query) {
            Ok(_) => Err("want an error, got matchers".into()),
            Err(_) => Ok(()),
        },
        "pretty" => {
            let e = parsed.map_err(|e| format!("want ok, got error: {e}"))?;
            let width: usize = get("width")?.parse().map_err(|e| format!("width: {e}"))?;
            let (got, want) = (pretty_with_width(&e, width), get("want")?);
            if got != want {
                return Err(format!("--- want:\n{want}\n--- got:\n{got}"));
            }
            match parse_expr(&got) {
                Ok(again) if again == e => Ok(()),
                Ok(_) => Err(format!("pretty form parses to another tree:\n{got}")),
                Err(err) => Err(format!("pretty form does not parse: {err}\n{got}")),
            }
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn loki_syntax_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki");
    loki_runner::run("syntax", &dir, check, |c| format!("query: {}", c.get("query").map(String::as_str).unwrap_or("")));
}
