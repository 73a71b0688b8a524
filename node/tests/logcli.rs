//! Loki's own command-line client against a real node. Documents the
//! commands a Loki user runs; needs `logcli` (built from Loki's repository,
//! see node/tests/loki_golden/README.md) on PATH or in `LOGCLI`, and says
//! SKIPPED loudly where it is missing.

mod common;

use std::process::Command;

use common::reqwest::blocking_client as client;
use common::{Balsa, now_ns};

fn logcli() -> Option<String> {
    if let Ok(path) = std::env::var("LOGCLI") {
        return Some(path);
    }
    let found = Command::new("logcli").arg("--version").output().is_ok_and(|o| o.status.success());
    found.then(|| "logcli".to_string())
}

fn run(bin: &str, b: &Balsa, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg(format!("--addr=http://127.0.0.1:{}", b.http_port))
        .arg("--org-id=fake")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "logcli {args:?} failed: {stderr}{stdout}");
    stdout
}

#[test]
fn logcli_query_labels_series_stats_volume() {
    let Some(bin) = logcli() else {
        eprintln!("SKIPPED: logcli not found (set LOGCLI=/path/to/logcli; see node/tests/loki_golden/README.md)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let now = now_ns();
    let values: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            serde_json::json!([
                (now - (20 - i) * 1_000_000_000).to_string(),
                format!("level=info msg=\"request {i}\" status={}", if i % 4 == 0 { 500 } else { 200 })
            ])
        })
        .collect();
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "shop", "env": "prod"}, "values": values},
        {"stream": {"app": "shop", "env": "dev"}, "values": [[(now - 5_000_000_000i64).to_string(), "level=warn msg=slow"]]},
    ]});
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());

    // logcli query: a log query, newest first, as JSON lines.
    let out = run(
        &bin,
        &b,
        &[
            "query",
            "--quiet",
            "--since=1h",
            "--limit=100",
            "--output=jsonl",
            r#"{app="shop", env="prod"} |= "status=500""#,
        ],
    );
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0]["line"], "level=info msg=\"request 16\" status=500", "{out}");

    // logcli query with a metric query: a range query.
    let out = run(
        &bin,
        &b,
        &["query", "--quiet", "--since=1h", "--output=jsonl", r#"sum by (env) (count_over_time({app="shop"}[1h]))"#],
    );
    assert!(out.contains("\"env\": \"prod\"") || out.contains("\"env\":\"prod\""), "{out}");

    // logcli instant-query.
    let out = run(
        &bin,
        &b,
        &["instant-query", "--quiet", r#"sum(count_over_time({app="shop"} | logfmt | status="500" [1h]))"#],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v[0]["value"][1], "5", "{out}");

    // logcli labels, and one label's values.
    let out = run(&bin, &b, &["labels", "--quiet", "--since=1h"]);
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names, ["app", "env", "service_name"], "{out}");
    let out = run(&bin, &b, &["labels", "--quiet", "--since=1h", "env"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["dev", "prod"], "{out}");

    // logcli series.
    let out = run(&bin, &b, &["series", "--quiet", "--since=1h", r#"{app="shop"}"#]);
    let mut series: Vec<&str> = out.lines().collect();
    series.sort();
    assert_eq!(
        series,
        [r#"{app="shop", env="dev", service_name="shop"}"#, r#"{app="shop", env="prod", service_name="shop"}"#],
        "{out}"
    );

    // logcli stats: index statistics of a selector.
    let out = run(&bin, &b, &["stats", "--quiet", "--since=1h", r#"{app="shop"}"#]);
    // logcli prints `{ bytes: 1.2kB chunks: 2 streams: 2 entries: 21 }`, one per line.
    let entries: u64 = field(&out, "entries:");
    let streams: u64 = field(&out, "streams:");
    assert_eq!((streams, entries), (2, 21), "{out}");

    // logcli volume: bytes per series of the selector's labels.
    let out = run(&bin, &b, &["volume", "--quiet", "--since=1h", r#"{app="shop"}"#]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v[0]["metric"], serde_json::json!({"app": "shop"}), "{out}");
    let bytes: u64 = v[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(bytes > 20 * 30, "{out}");
}

/// The number after `name` in logcli's stats output (`entries: 21`).
fn field(out: &str, name: &str) -> u64 {
    let at = out.find(name).unwrap_or_else(|| panic!("{name} in {out}")) + name.len();
    out[at..].split_whitespace().next().unwrap().trim_end_matches(',').parse().unwrap()
}
