//! LogQL conformance corpus: every case in `tests/corpus/cases/*.txt` runs
//! through the real router over the fixed dataset `tests/corpus/dataset.json`,
//! once with every stream in one reader and once with the streams spread over
//! four readers (shards). Expected results were written from Loki's documented
//! semantics, never from Balsa's output. See `tests/corpus/README.md`.
//!
//! All mismatches are collected and reported together by one failing test.
//! `CORPUS_FILTER=substr` runs only cases whose name contains `substr`.

mod json_compare;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use balsa_api::testing::{StaticBackend, app_state};
use balsa_model::{Entry, LabelPair, Labels, MemStreams, StreamReader};
use balsa_push::LimitsConfig;
use http_body_util::BodyExt;
use json_compare::{diff, same, truncate};
use serde_json::Value;
use tower::ServiceExt;

const TENANT: &str = "fake";
const SHARDS: u32 = 4;
/// The clock of the test server: 2024-01-01T01:00:00Z (no case depends on it).
const NOW_NS: i64 = 1_704_070_800_000_000_000;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

// ---------------------------------------------------------------- dataset

struct Stream {
    labels: Labels,
    entries: Vec<Entry>,
}

/// Loads the dataset, which is a Loki push body in JSON:
/// `{"streams":[{"stream":{..},"values":[["<ns>","<line>",{<metadata>}?], ..]}]}`.
fn load_dataset() -> Vec<Stream> {
    let path = corpus_dir().join("dataset.json");
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    let mut out = Vec::new();
    for s in doc["streams"].as_array().expect("dataset: streams array") {
        let labels = Labels::from_pairs(
            s["stream"]
                .as_object()
                .expect("dataset: stream object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("dataset: label value string").to_string())),
        );
        let mut entries = Vec::new();
        for v in s["values"].as_array().expect("dataset: values array") {
            let ts: i64 = v[0].as_str().expect("dataset: ts string").parse().expect("dataset: ts integer");
            let line = v[1].as_str().expect("dataset: line string").to_string();
            let structured_metadata = match v.get(2) {
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| LabelPair { name: k.clone(), value: v.as_str().expect("metadata string").into() })
                    .collect(),
                _ => Vec::new(),
            };
            entries.push(Entry { ts_ns: ts, line, structured_metadata });
        }
        out.push(Stream { labels, entries });
    }
    out
}

fn single_reader(streams: &[Stream]) -> Vec<Arc<dyn StreamReader>> {
    let mut m = MemStreams::new();
    for s in streams {
        m.push(TENANT, s.labels.clone(), s.entries.clone());
    }
    vec![Arc::new(m)]
}

fn sharded_readers(streams: &[Stream]) -> Vec<Arc<dyn StreamReader>> {
    let mut shards: Vec<MemStreams> = (0..SHARDS).map(|_| MemStreams::new()).collect();
    let mut used = vec![0usize; SHARDS as usize];
    for s in streams {
        let shard = balsa_model::shard_of(TENANT, &s.labels, SHARDS) as usize;
        used[shard] += 1;
        shards[shard].push(TENANT, s.labels.clone(), s.entries.clone());
    }
    assert!(
        used.iter().filter(|n| **n > 0).count() >= 2,
        "the dataset must spread over several shards to test the distributed path: {used:?}"
    );
    shards.into_iter().map(|m| Arc::new(m) as Arc<dyn StreamReader>).collect()
}

// ---------------------------------------------------------------- cases

#[derive(Debug, Default)]
struct Case {
    file: String,
    line: usize,
    name: String,
    doubts: Vec<String>,
    endpoint: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    status: u16,
    /// JSON `data` (2xx) or a substring of the error body (otherwise).
    expect: String,
}

const PARAM_KEYS: &[&str] = &["query", "start", "end", "step", "time", "limit", "direction", "since", "interval"];

fn parse_cases(file: &str, text: &str) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    let mut in_body = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        if let Some(name) = raw.strip_prefix("=== ") {
            if let Some(c) = cur.take() {
                cases.push(finish(c)?);
            }
            cur = Some(Case { file: file.into(), line: lineno, name: name.trim().into(), ..Default::default() });
            in_body = false;
            continue;
        }
        let Some(c) = cur.as_mut() else {
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            return Err(format!("{file}:{lineno}: text before the first `=== name` line"));
        };
        if in_body {
            c.expect.push_str(raw);
            c.expect.push('\n');
            continue;
        }
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(d) = t.strip_prefix("# doubt:") {
            c.doubts.push(d.trim().to_string());
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        if t == "---" {
            in_body = true;
            continue;
        }
        let Some((k, v)) = raw.split_once(':') else {
            return Err(format!("{file}:{lineno}: expected `key: value`, got {raw:?}"));
        };
        let (k, v) = (k.trim(), v.trim_start().to_string());
        match k {
            "endpoint" => c.endpoint = v,
            "status" => c.status = v.trim().parse().map_err(|_| format!("{file}:{lineno}: bad status {v:?}"))?,
            "header" => {
                let (hk, hv) = match v.split_once('=') {
                    Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
                    None => ("X-Loki-Response-Encoding-Flags".to_string(), v.trim().to_string()),
                };
                c.headers.push((hk, hv));
            }
            _ if PARAM_KEYS.contains(&k) => c.params.push((k.to_string(), v)),
            _ => return Err(format!("{file}:{lineno}: unknown key {k:?}")),
        }
    }
    if let Some(c) = cur.take() {
        cases.push(finish(c)?);
    }
    Ok(cases)
}

fn finish(mut c: Case) -> Result<Case, String> {
    let at = format!("{}:{} ({})", c.file, c.line, c.name);
    if c.endpoint != "query_range" && c.endpoint != "query" {
        return Err(format!("{at}: endpoint must be query_range or query, got {:?}", c.endpoint));
    }
    if c.status == 0 {
        return Err(format!("{at}: missing status"));
    }
    c.expect = c.expect.trim().to_string();
    if (200..300).contains(&c.status) {
        serde_json::from_str::<Value>(&c.expect).map_err(|e| format!("{at}: expected data is not JSON: {e}"))?;
    } else if c.expect.is_empty() {
        return Err(format!("{at}: an error case needs an expected message substring after `---`"));
    }
    Ok(c)
}

fn load_cases() -> Vec<Case> {
    let dir = corpus_dir().join("cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        match parse_cases(&name, &text) {
            Ok(cs) => all.extend(cs),
            Err(e) => errors.push(e),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &all {
        if !seen.insert(c.name.clone()) {
            errors.push(format!("{}:{}: duplicate case name {}", c.file, c.line, c.name));
        }
    }
    assert!(errors.is_empty(), "corpus files are malformed:\n{}", errors.join("\n"));
    all
}

// ---------------------------------------------------------------- running

struct Outcome {
    status: u16,
    body: String,
}

async fn run(app: &axum::Router, c: &Case) -> Outcome {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &c.params {
        q.append_pair(k, v);
    }
    let uri = format!("/loki/api/v1/{}?{}", c.endpoint, q.finish());
    let mut req = Request::builder().method("GET").uri(uri);
    for (k, v) in &c.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Body::empty()).expect("request");
    let resp = match app.clone().oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = resp.status();
    let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Outcome { status: status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// Numbers as f64 (Loki writes point times as floats), streams in a
/// canonical order (Loki's order of streams carries no meaning), `stats`
/// dropped.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map(|f| serde_json::json!(f)).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

fn normalize_data(data: &Value) -> Value {
    let mut d = normalize(data);
    if let Value::Object(o) = &mut d {
        o.remove("stats");
        if o.get("resultType").and_then(Value::as_str) == Some("streams")
            && let Some(Value::Array(streams)) = o.get_mut("result")
        {
            streams.sort_by_key(|s| s.get("stream").map(|l| l.to_string()).unwrap_or_default());
        }
    }
    d
}

/// What the response says, in the shape the case expects.
fn actual_repr(out: &Outcome) -> Result<Value, String> {
    if !(200..300).contains(&out.status) {
        return Err(out.body.trim().to_string());
    }
    let body: Value =
        serde_json::from_str(&out.body).map_err(|e| format!("response is not JSON ({e}): {}", out.body))?;
    if body["status"] != "success" {
        return Err(format!("status field is not \"success\": {}", out.body));
    }
    Ok(normalize_data(&body["data"]))
}

fn check(c: &Case, out: &Outcome) -> Option<String> {
    let mut msg = String::new();
    if out.status != c.status {
        let _ = writeln!(msg, "  status: expected {}, got {}", c.status, out.status);
        let _ = writeln!(msg, "  body: {}", truncate(out.body.trim(), 2000));
        return Some(msg);
    }
    if !(200..300).contains(&c.status) {
        if !out.body.contains(&c.expect) {
            let _ = writeln!(msg, "  error body does not contain {:?}", c.expect);
            let _ = writeln!(msg, "  body: {}", truncate(out.body.trim(), 2000));
            return Some(msg);
        }
        return None;
    }
    let want = normalize_data(&serde_json::from_str::<Value>(&c.expect).expect("validated at load"));
    match actual_repr(out) {
        Err(e) => {
            let _ = writeln!(msg, "  {e}");
            Some(msg)
        }
        Ok(got) if same(&want, &got) => None,
        Ok(got) => {
            let mut diffs = Vec::new();
            diff(&want, &got, ("expected", "got"), "data", &mut diffs);
            for d in diffs.iter().take(12) {
                let _ = writeln!(msg, "  {d}");
            }
            if diffs.len() > 12 {
                let _ = writeln!(msg, "  ... {} more differences", diffs.len() - 12);
            }
            let _ = writeln!(msg, "  expected: {}", truncate(&want.to_string(), 1500));
            let _ = writeln!(msg, "  actual:   {}", truncate(&got.to_string(), 1500));
            Some(msg)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logql_corpus() {
    let streams = load_dataset();
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    let filter = std::env::var("CORPUS_FILTER").ok().filter(|f| !f.is_empty());
    let cases: Vec<Case> =
        load_cases().into_iter().filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str()))).collect();
    assert!(!cases.is_empty(), "no case selected (CORPUS_FILTER={filter:?})");

    let app_of = |readers: Vec<Arc<dyn StreamReader>>| {
        let backend = Arc::new(StaticBackend::new(readers));
        balsa_api::router(app_state(backend, LimitsConfig::default(), NOW_NS))
    };
    let single = app_of(single_reader(&streams));
    let sharded = app_of(sharded_readers(&streams));

    let mut failures: Vec<String> = Vec::new();
    let mut passed = 0usize;
    for c in &cases {
        let one = run(&single, c).await;
        let four = run(&sharded, c).await;
        let mut report = String::new();
        if let Some(m) = check(c, &one) {
            let _ = write!(report, " [single reader]\n{m}");
        }
        if let Some(m) = check(c, &four) {
            let _ = write!(report, " [4 shards]\n{m}");
        }
        let (a, b) = (actual_repr(&one), actual_repr(&four));
        let equal = match (&a, &b) {
            (Ok(x), Ok(y)) => same(x, y),
            (x, y) => x == y,
        };
        if one.status != four.status || !equal {
            let _ = writeln!(report, " [distributed result differs from single-node result]");
        }
        if report.is_empty() {
            passed += 1;
        } else {
            let mut head = format!("--- {} ({}:{})", c.name, c.file, c.line);
            let query = c.params.iter().find(|(k, _)| k == "query").map(|(_, v)| v.as_str()).unwrap_or("");
            let _ = write!(head, "\n  query: {query}");
            for d in &c.doubts {
                let _ = write!(head, "\n  doubt: {d}");
            }
            failures.push(format!("{head}\n{report}"));
        }
    }
    eprintln!(
        "logql corpus: {} streams, {lines} lines; {passed} of {} cases pass in both layouts",
        streams.len(),
        cases.len()
    );
    if !failures.is_empty() {
        panic!(
            "{} of {} corpus cases fail:\n\n{}\n{} of {} corpus cases fail ({passed} pass)",
            failures.len(),
            cases.len(),
            failures.join("\n"),
            failures.len(),
            cases.len()
        );
    }
}
