//! Conformance corpus: facts taken from the test cases of Loki v3.7.6's
//! `pkg/logql/log` (data in `api/query/tests/loki/*.toml`, described in the
//! README there), run through the real pipeline. Every failing case is
//! reported at once; cases listed in the README's `KNOWN_DIFFERENCES` are
//! expected to differ (and must still differ, so the list stays true).

use std::path::Path;

use balsa_model::{Entry, LabelPair, Labels};

use super::Pipeline;

#[path = "../../../logql/tests/loki_runner/mod.rs"]
mod loki_runner;
use loki_runner::Case;

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
    loki_runner::run("pipeline", &dir, check, |c| {
        let get = |k: &str| c.get(k).map(String::as_str).unwrap_or("").to_string();
        format!("pipeline: {}\n    line: {:?}", get("pipeline"), get("line"))
    });
}
