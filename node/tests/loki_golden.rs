//! Golden answers from a real Grafana Loki, checked without Loki.
//!
//! `node/tests/loki_golden/regen.py` asked Loki 3.7.6 every request of
//! `loki_golden/requests.txt` and every case of `api/tests/corpus/cases/*.txt`
//! over the same two datasets and wrote its answers to `loki_golden/golden/`.
//! This test starts one real `balsa` from the same config file, pushes the
//! same datasets over HTTP, asks the same requests and compares: status,
//! then the JSON body structurally (`data.stats` ignored, numbers as floats
//! within a relative 1e-9, the streams of a `streams` result in a canonical
//! order, series in the order given), or for an error, that Balsa's body
//! holds Loki's error text. Cases listed as known differences in
//! `loki_golden/README.md` are skipped by name (and fail if they match).
//! Every mismatch is reported in one run.
//!
//! `GOLDEN_FILTER=substr` asks only the requests whose name contains substr.

mod common;
#[path = "../../api/tests/json_compare/mod.rs"]
mod json_compare;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::reqwest::blocking_client as client;
use common::{Balsa, enc};
use json_compare::{diff, same, truncate};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("loki_golden")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("api").join("tests").join("corpus")
}

// ---------------------------------------------------------------- requests

#[derive(Debug, Clone, PartialEq)]
struct Request {
    name: String,
    method: String,
    endpoint: String,
    tenant: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Request {
    fn new(name: &str) -> Self {
        Request {
            name: name.to_string(),
            method: "GET".into(),
            endpoint: String::new(),
            tenant: "fake".into(),
            params: vec![],
            headers: vec![],
        }
    }

    /// The request as `regen.py` records it in a golden file.
    fn record(&self) -> Value {
        let pairs = |v: &[(String, String)]| Value::Array(v.iter().map(|(k, v)| serde_json::json!([k, v])).collect());
        serde_json::json!({
            "method": self.method,
            "path": format!("/loki/api/v1/{}", self.endpoint),
            "tenant": self.tenant,
            "params": pairs(&self.params),
            "headers": pairs(&self.headers),
        })
    }
}

/// The request format of `requests.txt` and of the corpus cases (whose
/// `status` and expectation after `---` are ignored); the same rules as
/// `regen.py`'s `parse_requests`.
fn parse_requests(source: &str, text: &str) -> Vec<Request> {
    let mut out: Vec<Request> = Vec::new();
    let mut cur: Option<Request> = None;
    let mut in_body = false;
    let finish = |c: Option<Request>, out: &mut Vec<Request>| {
        if let Some(c) = c {
            assert!(!c.endpoint.is_empty(), "{source}: {}: no endpoint", c.name);
            out.push(c);
        }
    };
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with("### group:") {
            finish(cur.take(), &mut out);
            in_body = false;
            continue;
        }
        if let Some(name) = raw.strip_prefix("=== ") {
            finish(cur.take(), &mut out);
            cur = Some(Request::new(name.trim()));
            in_body = false;
            continue;
        }
        let t = raw.trim();
        let Some(c) = cur.as_mut() else {
            assert!(t.is_empty() || t.starts_with('#'), "{source}:{}: text before the first `=== name`", i + 1);
            continue;
        };
        if in_body || t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t == "---" {
            in_body = true;
            continue;
        }
        let (k, v) = raw.split_once(':').unwrap_or_else(|| panic!("{source}:{}: expected `key: value`", i + 1));
        let (k, v) = (k.trim(), v.trim_start());
        match k {
            "endpoint" => c.endpoint = v.trim().to_string(),
            "tenant" => c.tenant = v.trim().to_string(),
            "method" => c.method = v.trim().to_uppercase(),
            "header" => c.headers.push(match v.split_once('=') {
                Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
                None => ("X-Loki-Response-Encoding-Flags".to_string(), v.trim().to_string()),
            }),
            "status" => {}
            _ => c.params.push((k.to_string(), v.to_string())),
        }
    }
    finish(cur.take(), &mut out);
    out
}

fn load_requests() -> Vec<Request> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join("cases"))
        .expect("corpus cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files.push(golden_dir().join("requests.txt"));
    let mut all = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        all.extend(parse_requests(&f.display().to_string(), &text));
    }
    all
}

// ---------------------------------------------------------------- goldens

struct Golden {
    request: Value,
    status: u16,
    /// The JSON body, or the error text.
    answer: Result<Value, String>,
}

fn load_goldens() -> (BTreeMap<String, Golden>, String) {
    let dir = golden_dir().join("golden");
    let mut out = BTreeMap::new();
    let mut generated_by = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e} (run regen.py, see README.md)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        generated_by = doc["generated_by"].as_str().unwrap_or_default().to_string();
        for c in doc["cases"].as_array().expect("cases") {
            let answer = match c.get("body") {
                Some(b) => Ok(b.clone()),
                None => Err(c["error"].as_str().unwrap_or_default().to_string()),
            };
            let name = c["name"].as_str().expect("name").to_string();
            let g =
                Golden { request: c["request"].clone(), status: c["status"].as_u64().expect("status") as u16, answer };
            assert!(out.insert(name.clone(), g).is_none(), "{}: duplicate golden {name}", f.display());
        }
    }
    (out, generated_by)
}

/// Case names of the known-differences table of README.md: rows whose first
/// cell is a backquoted name.
fn known_differences() -> BTreeSet<String> {
    let text = std::fs::read_to_string(golden_dir().join("README.md")).expect("loki_golden/README.md");
    let mut in_section = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            in_section = line.to_lowercase().contains("known differences");
            continue;
        }
        if in_section && let Some(rest) = line.strip_prefix("| `") {
            out.insert(rest.split('`').next().unwrap_or_default().to_string());
        }
    }
    out
}

// ---------------------------------------------------------------- balsa

/// The config regen.py gives Loki, with its placeholders filled in; the
/// harness's flags then set the real ports and data directory.
fn render_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(golden_dir().join("loki.yaml")).expect("loki.yaml");
    let text = text
        .replace("__DATA_DIR__", &dir.join("data").display().to_string())
        .replace("__HTTP_PORT__", "3100")
        .replace("__GRPC_PORT__", "9095");
    let path = dir.join("loki.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn push_datasets(b: &Balsa) -> usize {
    let mut lines = 0;
    for (tenant, path) in [("fake", corpus_dir().join("dataset.json")), ("shop", golden_dir().join("shop.json"))] {
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let doc: Value = serde_json::from_slice(&body).unwrap();
        lines +=
            doc["streams"].as_array().unwrap().iter().map(|s| s["values"].as_array().unwrap().len()).sum::<usize>();
        let r = client()
            .post(b.url("/loki/api/v1/push"))
            .header("X-Scope-OrgID", tenant)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "push {} as {tenant}: {}", path.display(), r.text());
    }
    lines
}

struct Outcome {
    status: u16,
    body: String,
}

fn ask(b: &Balsa, r: &Request) -> Outcome {
    let query: Vec<String> = r.params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    let query = query.join("&");
    let path = format!("/loki/api/v1/{}", r.endpoint);
    let mut req = if r.method == "POST" {
        client().post(b.url(&path)).header("content-type", "application/x-www-form-urlencoded").body(query)
    } else if query.is_empty() {
        client().get(b.url(&path))
    } else {
        client().get(b.url(&format!("{path}?{query}")))
    };
    if r.tenant != "-" {
        req = req.header("X-Scope-OrgID", &r.tenant);
    }
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{}: {e}", r.name));
    Outcome { status: resp.status(), body: resp.text() }
}

// ---------------------------------------------------------------- comparing

/// Numbers as f64, `data.stats` dropped, and orders that carry no meaning
/// made canonical: the streams of a `streams` result, the label sets of
/// `/series` (Loki lists them in its index's fingerprint order), and
/// vector samples of equal value (Loki's `sort`/`topk` heaps leave ties in
/// no particular order), which are ordered by labels.
fn normalize(v: &Value, endpoint: &str) -> Value {
    fn numbers(v: &Value) -> Value {
        match v {
            Value::Number(n) => n.as_f64().map(|f| serde_json::json!(f)).unwrap_or_else(|| v.clone()),
            Value::Array(a) => Value::Array(a.iter().map(numbers).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), numbers(v))).collect()),
            other => other.clone(),
        }
    }
    let mut v = numbers(v);
    if let Some(Value::Object(data)) = v.get_mut("data") {
        data.remove("stats");
        if data.get("resultType").and_then(Value::as_str) == Some("streams")
            && let Some(Value::Array(streams)) = data.get_mut("result")
        {
            streams.sort_by_key(|s| s.get("stream").map(|l| l.to_string()).unwrap_or_default());
        }
        if data.get("resultType").and_then(Value::as_str) == Some("vector")
            && let Some(Value::Array(samples)) = data.get_mut("result")
        {
            let value = |s: &Value| s["value"][1].as_str().unwrap_or_default().to_string();
            let mut i = 0;
            while i < samples.len() {
                let mut j = i + 1;
                while j < samples.len() && value(&samples[j]) == value(&samples[i]) {
                    j += 1;
                }
                samples[i..j].sort_by_key(|s| s["metric"].to_string());
                i = j;
            }
        }
    }
    if endpoint == "series"
        && let Some(Value::Array(series)) = v.get_mut("data")
    {
        series.sort_by_key(|s| s.to_string());
    }
    v
}

/// Whether Balsa's error body says Loki's error text. Where Loki's text
/// varies from run to run (the failing series a pipeline error names),
/// regen.py wrote `…`, which matches anything.
fn says_error(balsa: &str, loki: &str) -> bool {
    let mut rest = balsa;
    for part in loki.split('…') {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// None when Balsa's answer is Loki's; otherwise what differs.
fn compare(g: &Golden, endpoint: &str, out: &Outcome) -> Option<String> {
    let mut msg = String::new();
    if g.status != out.status {
        let _ = writeln!(msg, "  status: Loki {}, Balsa {}", g.status, out.status);
    }
    match &g.answer {
        Err(loki) => {
            if !says_error(&out.body, loki) {
                let _ = writeln!(msg, "  Loki:  {}", truncate(loki, 1000));
                let _ = writeln!(msg, "  Balsa: {}", truncate(out.body.trim(), 1000));
            }
        }
        Ok(loki) => match serde_json::from_str::<Value>(&out.body) {
            Err(_) => {
                let _ = writeln!(msg, "  Loki:  {}", truncate(&loki.to_string(), 1000));
                let _ = writeln!(msg, "  Balsa (not JSON): {}", truncate(out.body.trim(), 1000));
            }
            Ok(balsa) => {
                let (want, got) = (normalize(loki, endpoint), normalize(&balsa, endpoint));
                if !same(&want, &got) {
                    let mut diffs = Vec::new();
                    diff(&want, &got, ("Loki", "Balsa"), "body", &mut diffs);
                    for d in diffs.iter().take(15) {
                        let _ = writeln!(msg, "  {d}");
                    }
                    if diffs.len() > 15 {
                        let _ = writeln!(msg, "  ... {} more differences", diffs.len() - 15);
                    }
                }
            }
        },
    }
    (!msg.is_empty()).then_some(msg)
}

#[test]
fn balsa_answers_as_loki_does() {
    let started = Instant::now();
    let filter = std::env::var("GOLDEN_FILTER").ok().filter(|f| !f.is_empty());
    let requests = load_requests();
    let (goldens, generated_by) = load_goldens();
    let known = known_differences();

    // The goldens must answer exactly the requests the files ask.
    let mut stale = Vec::new();
    let names: BTreeSet<&str> = requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), requests.len(), "request names must be unique");
    for r in &requests {
        match goldens.get(&r.name) {
            None => stale.push(format!("{}: no golden answer", r.name)),
            Some(g) if g.request != r.record() => {
                stale.push(format!("{}: the request changed since the golden was made", r.name))
            }
            Some(_) => {}
        }
    }
    for name in goldens.keys() {
        if !names.contains(name.as_str()) {
            stale.push(format!("{name}: golden answer for a request no file asks"));
        }
    }
    for name in &known {
        if !names.contains(name.as_str()) {
            stale.push(format!("{name}: listed as a known difference in README.md but no file asks it"));
        }
    }
    assert!(
        stale.is_empty(),
        "goldens are out of date; rerun node/tests/loki_golden/regen.py (see README.md):\n{}",
        stale.join("\n")
    );

    let dir = tempfile::tempdir().unwrap();
    let config = render_config(dir.path());
    let b = Balsa::start(&dir.path().join("data"), &[&format!("-config.file={}", config.display())]);
    let lines = push_datasets(&b);

    let selected: Vec<&Request> =
        requests.iter().filter(|r| filter.as_ref().is_none_or(|f| r.name.contains(f.as_str()))).collect();
    assert!(!selected.is_empty(), "no request selected (GOLDEN_FILTER={filter:?})");

    // Ask in parallel; report in file order.
    let threads = 4;
    let outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (b, selected) = (&b, &selected);
                s.spawn(move || {
                    (t..selected.len()).step_by(threads).map(|i| (i, ask(b, selected[i]))).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Outcome)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(i, _)| *i);
        all
    });

    let mut failures = String::new();
    let (mut matched, mut skipped, mut failed) = (0, 0, 0);
    for (i, out) in &outcomes {
        let r = selected[*i];
        let g = &goldens[&r.name];
        let mismatch = compare(g, &r.endpoint, out);
        match (known.contains(&r.name), mismatch) {
            (false, None) => matched += 1,
            (true, Some(_)) => skipped += 1,
            (false, Some(m)) => {
                failed += 1;
                let _ = writeln!(failures, "--- {} ({} /loki/api/v1/{})", r.name, r.method, r.endpoint);
                for (k, v) in &r.params {
                    let _ = writeln!(failures, "  {k}: {}", truncate(v, 300));
                }
                failures.push_str(&m);
            }
            (true, None) => {
                failed += 1;
                let _ = writeln!(
                    failures,
                    "--- {}: listed as a known difference in README.md, but Balsa now answers as Loki does: \
                     remove it from the list",
                    r.name
                );
            }
        }
    }
    let summary = format!(
        "{} requests ({lines} lines pushed), goldens from {generated_by}: {matched} match, {skipped} known \
         differences skipped, {failed} fail; {:.1?}",
        selected.len(),
        started.elapsed()
    );
    eprintln!("{summary}");
    assert!(failed == 0, "Balsa differs from Loki:\n{failures}\n{summary}");
}
