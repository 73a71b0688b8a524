//! Conformance corpus: facts taken from the test cases of Loki v3.7.6's
//! `pkg/logql/log` (data in `api/query/tests/loki/*.toml`, described in the
//! README there), run through the real pipeline. Every failing case is
//! reported at once; cases listed in the README's `KNOWN_DIFFERENCES` are
//! expected to differ (and must still differ, so the list stays true).

use std::collections::BTreeMap;
use std::path::Path;

use balsa_model::{Entry, LabelPair, Labels};

use super::Pipeline;

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

/// `{a="1", b="2"}` (canonical label text) as pairs.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    if text == "{}" {
        return Ok(Vec::new());
    }
    match balsa_logql::parse_unvalidated(text).map_err(|e| format!("labels {text}: {e}"))? {
        balsa_logql::Expr::Log(l) => Ok(l.matchers.into_iter().map(|m| (m.name, m.value)).collect()),
        _ => Err(format!("labels {text}: not a selector")),
    }
}

/// The selector the corpus pipelines are put behind (only the pipeline is
/// compiled; stream labels come from the case).
const SELECTOR: &str = r#"{__corpus__="1"}"#;

/// Runs one case; `Err` describes how Balsa differs.
fn check(case: &Case) -> Result<(), String> {
    let get = |k: &str| case.get(k).map(String::as_str).ok_or_else(|| format!("case has no `{k}`"));
    let query = format!("{SELECTOR} {}", get("pipeline")?);
    let want = get("want")?;
    let compiled = balsa_logql::parse_log_expr(&query)
        .map_err(|e| e.to_string())
        .and_then(|expr| Pipeline::compile(&expr.stages).map_err(|e| e.to_string()));
    if want == "error" {
        return match compiled {
            Ok(_) => Err("want the stage rejected, it compiled".into()),
            Err(e) => match case.get("want_error") {
                Some(w) if !e.contains(w.as_str()) => Err(format!("want an error containing: {w}\n    got: {e}")),
                _ => Ok(()),
            },
        };
    }
    let mut pipeline = compiled.map_err(|e| format!("want {want}, got error: {e}"))?;
    let stream = Labels::from_pairs(
        parse_labels(case.get("labels").map(String::as_str).unwrap_or("{}"))?
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    );
    let mut entry =
        Entry::new(case.get("ts").map_or(Ok(0), |t| t.parse::<i64>()).map_err(|e| e.to_string())?, get("line")?);
    entry.structured_metadata = parse_labels(case.get("metadata").map(String::as_str).unwrap_or("{}"))?
        .into_iter()
        .map(|(name, value)| LabelPair { name, value })
        .collect();
    let preset = case.get("error").map(|e| (e.clone(), case.get("error_details").cloned().unwrap_or_default()));
    if preset.is_some() {
        // The `| json` shortcut re-reads labels; a preset error is a test device.
        pipeline.prefilter = None;
    }
    let mut sp = pipeline.for_stream(&stream);
    sp.preset_error = preset;
    let got = sp.process(&entry).map(|r| (r.line.to_string(), r.labels.to_labels().canonical()));
    match (want, got) {
        ("dropped", None) => Ok(()),
        ("dropped", Some((line, labels))) => Err(format!("want dropped, got kept: {line:?} {labels}")),
        ("kept", None) => Err("want kept, got dropped".into()),
        ("kept", Some((line, labels))) => {
            let mut errs = Vec::new();
            let want_line = case.get("want_line").map(String::as_str).unwrap_or(entry.line.as_str());
            if line != want_line {
                errs.push(format!("line: want {want_line:?}\n          got  {line:?}"));
            }
            if let Some(w) = case.get("want_labels")
                && labels != *w
            {
                errs.push(format!("labels: want {w}\n            got  {labels}"));
            }
            if errs.is_empty() { Ok(()) } else { Err(errs.join("\n    ")) }
        }
        (other, _) => Err(format!("unknown want {other}")),
    }
}

#[test]
fn loki_pipeline_corpus() {
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
                    "{id} ({})\n    pipeline: {}\n    line: {:?}\n    {e}",
                    case.get("src").map(String::as_str).unwrap_or(""),
                    case.get("pipeline").map(String::as_str).unwrap_or(""),
                    case.get("line").map(String::as_str).unwrap_or(""),
                )),
            }
        }
    }
    let unknown: Vec<_> = known.iter().filter(|k| !seen.contains(k)).collect();
    assert!(total > 0, "no corpus case was read");
    eprintln!("loki pipeline corpus: {passed} of {total} cases pass, {} known differences", known.len());
    assert!(unknown.is_empty(), "KNOWN_DIFFERENCES names cases that do not exist: {unknown:?}");
    assert!(stale.is_empty(), "cases listed in KNOWN_DIFFERENCES now pass (remove them): {stale:?}");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}
