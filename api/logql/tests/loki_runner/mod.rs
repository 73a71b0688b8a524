//! The runner both Loki corpora share (`api/logql/tests/loki_corpus.rs` and
//! `api/query/src/pipeline/loki_corpus.rs`, which includes this file by path):
//! reads every `*.toml` case file of a directory, checks each case, and
//! reports every failure at once. Cases listed under `## KNOWN_DIFFERENCES`
//! in the directory's README are expected to fail, and must still fail.

use std::collections::BTreeMap;
use std::path::Path;

/// One `[[case]]` table of a corpus file, every value as text.
pub type Case = BTreeMap<String, String>;

/// Reads a corpus file: its `[[case]]` tables, every value as text.
pub fn read_cases(path: &Path) -> Vec<Case> {
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

/// Runs every case of `dir` through `check`; a failure is reported with
/// `describe(case)` (the case's input) and the mismatch.
pub fn run(corpus: &str, dir: &Path, check: impl Fn(&Case) -> Result<(), String>, describe: impl Fn(&Case) -> String) {
    let known = known_differences(dir);
    let mut files: Vec<_> = std::fs::read_dir(dir)
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
                    "{id} ({})\n    {}\n    {e}",
                    case.get("src").map(String::as_str).unwrap_or(""),
                    describe(&case)
                )),
            }
        }
    }
    let unknown: Vec<_> = known.iter().filter(|k| !seen.contains(k)).collect();
    assert!(total > 0, "no corpus case was read");
    eprintln!("loki {corpus} corpus: {passed} of {total} cases pass, {} known differences", known.len());
    assert!(unknown.is_empty(), "KNOWN_DIFFERENCES names cases that do not exist: {unknown:?}");
    assert!(stale.is_empty(), "cases listed in KNOWN_DIFFERENCES now pass (remove them): {stale:?}");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
}
