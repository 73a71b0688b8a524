//! A Loki user's config starts Balsa unchanged: Loki's example configs and
//! configs in the style users post (node/tests/loki_configs/, sources named in
//! its README) pass `-verify-config`, then start a real node that serves a
//! push and a query and says what it ignored.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::reqwest::blocking_client as client;
use common::{Balsa, Moto, enc, free_port, now_ns};
use serde_yaml_ng::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki_configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "expected Loki's example configs and the seed configs in {}", dir.display());
    files
}

fn balsa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_balsa")).args(args).output().unwrap()
}

fn at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, k| v.get(*k))
}

fn non_empty(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

#[test]
fn every_loki_config_passes_verify_config() {
    for file in fixtures() {
        let out = balsa(&["-verify-config", &format!("-config.file={}", file.display())]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}{stdout}", file.display());
        assert!(stdout.contains("config is valid"), "{}: {stdout}", file.display());
        assert!(stdout.contains("ignored ("), "{} ignores nothing? {stdout}", file.display());
    }
}

#[test]
fn verify_config_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "server:\n  http_listen_port: 3100\n  grpc_server_max_concurent_streams: 10\n").unwrap();
    let out = balsa(&["-verify-config", &format!("-config.file={}", bad.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown config key \"server.grpc_server_max_concurent_streams\""), "{stderr}");
    assert!(stderr.contains("did you mean \"grpc_server_max_concurrent_streams\"?"), "{stderr}");

    // A valid config is checked without opening anything: no data directory appears.
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "server:\n  grpc_server_max_concurrent_streams: 10\n").unwrap();
    let data = dir.path().join("data");
    let prefix = format!("-common.path_prefix={}", data.display());
    let out = balsa(&["-verify-config", &format!("-config.file={}", good.display()), &prefix]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ignored (server tuning Balsa does not expose): server.grpc_server_max_concurrent_streams"),
        "{stdout}"
    );
    assert!(!data.exists(), "-verify-config opened the data directory");
}

/// Starts a node with `file` unchanged, overriding only what cannot work on a
/// test machine: ports, the data directory, a runtime-config file the chart
/// would mount, and an S3 endpoint (moto) when the config names a bucket.
fn start_with(file: &Path, dir: &Path, moto: &mut Option<Moto>) -> Balsa {
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut extra = vec![format!("-config.file={}", file.display())];
    if non_empty(at(&doc, &["runtime_config", "file"])) {
        extra.push("-runtime_config.file=".into());
    }
    let ruler_dirs = [&["ruler", "storage", "local", "directory"][..], &["ruler_storage", "local", "directory"]];
    for path in ruler_dirs {
        if non_empty(at(&doc, path)) {
            extra.push(format!("-{}={}", path.join("."), dir.join("rules").display()));
        }
    }
    let bucket = non_empty(at(&doc, &["storage_config", "aws", "bucketnames"]))
        || non_empty(at(&doc, &["common", "storage", "s3", "bucketnames"]));
    if bucket {
        let port = moto.get_or_insert_with(Moto::start).port;
        extra.extend([
            format!("-storage_config.aws.endpoint=127.0.0.1:{port}"),
            "-storage_config.aws.insecure=true".into(),
            "-storage_config.aws.s3forcepathstyle=true".into(),
            "-storage_config.aws.access_key_id=testing".into(),
            "-storage_config.aws.secret_access_key=testing".into(),
        ]);
    }
    let mut b = Balsa::new(&dir.join("data"), free_port(), free_port(), &extra);
    b.spawn();
    b.wait_ready(Duration::from_secs(60));
    b
}

#[test]
fn every_loki_config_starts_a_node_that_serves_push_and_query() {
    let mut moto = None;
    for file in fixtures() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let mut b = start_with(&file, dir.path(), &mut moto);
        let ts = now_ns();
        let body = serde_json::json!({"streams": [{"stream": {"app": name}, "values": [[ts.to_string(), format!("hello from {name}")]]}]});
        let r = client()
            .post(b.url("/loki/api/v1/push"))
            .header("content-type", "application/json")
            .header("X-Scope-OrgID", "team-a")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "{name}: {}", r.text());
        let q = format!("{{app=\"{name}\"}}");
        let url = format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}",
            enc(&q),
            ts - 1_000_000_000,
            ts + 1_000_000_000
        );
        let r = client().get(b.url(&url)).header("X-Scope-OrgID", "team-a").send().unwrap();
        assert_eq!(r.status(), 200, "{name}: {}", r.text());
        let v = r.json();
        assert_eq!(v["data"]["result"][0]["values"][0][1], format!("hello from {name}"), "{name}: {v}");

        let ignored = client().get(b.url("/config?mode=ignored")).send().unwrap().text();
        assert_ne!(ignored.trim(), "{}", "{name} ignores nothing?");
        let log = b.log_text();
        assert!(log.contains("ignoring loki config keys"), "{name}: {log}");
        assert!(b.terminate().success(), "{name}: {}", b.log_text());
    }
}

#[test]
fn loki_local_config_reports_its_ignored_keys_by_reason() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/loki_configs/loki-local-config.yaml");
    let dir = tempfile::tempdir().unwrap();
    let b = start_with(&file, dir.path(), &mut None);
    let text = client().get(b.url("/config?mode=ignored")).send().unwrap().text();
    let ignored: Value = serde_yaml_ng::from_str(&text).unwrap();
    let keys = |reason_part: &str| -> Vec<String> {
        let m = ignored.as_mapping().unwrap();
        m.iter()
            .filter(|(k, _)| k.as_str().unwrap().contains(reason_part))
            .flat_map(|(_, v)| v.as_sequence().unwrap().iter().map(|s| s.as_str().unwrap().to_string()))
            .collect()
    };
    // The keys that made Balsa refuse this file before it knew Loki's reference.
    assert!(keys("server tuning").contains(&"server.grpc_server_max_concurrent_streams".to_string()), "{text}");
    assert!(keys("quorum").contains(&"common.replication_factor".to_string()), "{text}");
    assert!(keys("hash ring").contains(&"common.ring".to_string()), "{text}");
    assert!(keys("storage format").contains(&"schema_config".to_string()), "{text}");
    assert!(keys("query frontend").contains(&"frontend".to_string()), "{text}");
}
