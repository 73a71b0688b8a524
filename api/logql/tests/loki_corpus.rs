//! Conformance corpus: facts taken from the test cases of Loki v3.7.6's
//! `pkg/logql/syntax` (see `tests/loki/README.md`), run through Balsa's
//! parser, canonical printer and pretty printer. Every failing case is
//! reported at once; cases listed in the README's `KNOWN_DIFFERENCES` are
//! expected to differ (and must still differ, so the list stays true).

use std::collections::BTreeMap;
use std::path::Path;

use balsa_logql::{parse_expr, parse_matchers, pretty_with_width};

/// One `[[case]]` table of a corpus file.
type Case = BTreeMap<String, String>;

/// Reads a corpus file: its `[[case]]` tables, every value as text.
fn read_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(toml::Value::Array(cases)) = doc.remove("case") else { return Vec::new() };
    cases
        .into_iter()
        .map(|case| match case {
            toml::Value::Table(t) => t
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            other => panic!("{}: a case is not a table: {other}", path.display()),
        })
        .collect()
}

/// Case ids of `KNOWN_DIFFERENCES` in the README: lines `- \`file:id\` ...`.
fn known_differences(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let section = text.split("## KNOWN_DIFFERENCES").nth(1).unwrap_or("");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `").and_then(|l| l.split_once('`')).map(|(id, _)| id.to_string()))
        .collect()
}

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
    let known = known_differences(&dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let (mut total, mut passed, mut failures, mut stale) = (0, 0, Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for case in read_cases(file) {
            total += 1;
            let id = format!("{name}:{}", case.get("id").map(String::as_str).unwrap_or("?"));
            let result = check(&case);
            let is_known = known.contains(&id);
            seen.push(id.clone());
            match (result, is_known) {
                (Ok(()), false) => passed += 1,
                (Ok(()), true) => stale.push(id),
                (Err(_), true) => {}
                (Err(e), false) => failures.push(format!(
                    "{id} ({})\n    query: {}\n    {e}",
                    case.get("src").map(String::as_str).unwrap_or(""),
                    case.get("query").map(String::as_str).unwrap_or("")
                )),
            }
        }
    }
    let unknown: Vec<_> = known.iter().filter(|k| !seen.contains(k)).collect();
    assert!(total > 0, "no corpus case was read");
    eprintln!("loki syntax corpus: {passed} of {total} cases pass, {} known differences", known.len());
    assert!(unknown.is_empty(), "KNOWN_DIFFERENCES names cases that do not exist: {unknown:?}");
    assert!(stale.is_empty(), "cases listed in KNOWN_DIFFERENCES now pass (remove them): {stale:?}");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}
