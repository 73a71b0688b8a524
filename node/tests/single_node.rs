//! A real `balsa` process: push and query through HTTP, durability across
//! kill -9, bad input, tenancy, shutdown.

mod common;

use std::io::Write;

use common::reqwest::blocking_client as client;
use common::{Balsa, enc, now_ns};
use serde_json::json;

fn push_json(b: &Balsa, body: serde_json::Value) -> common::reqwest::Resp {
    client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

fn query_range(b: &Balsa, q: &str, extra: &str) -> serde_json::Value {
    // A repeated parameter's first value counts, as in Loki: the default limit only when none is given.
    let limit = if extra.contains("limit=") { "" } else { "&limit=1000" };
    let r = client().get(b.url(&format!("/loki/api/v1/query_range?query={}{limit}{extra}", enc(q)))).send().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json()
}

fn lines_of(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push(e[1].as_str().unwrap().to_string());
        }
    }
    out
}

#[test]
fn seed_curl_push_then_query_by_discovered_service_name() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    // The Loki Helm chart's example push: label job=test, no service_name.
    let ts = now_ns().to_string();
    let r = push_json(&b, json!({"streams": [{"stream": {"job": "test"}, "values": [[ts, "fobar"]]}]}));
    assert_eq!(r.status(), 204, "{}", r.text());
    let v = query_range(&b, r#"{service_name="test"}"#, "");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    assert_eq!(lines_of(&v), vec!["fobar"]);
    // Loki 3 adds detected_level as structured metadata, which joins the labels.
    assert_eq!(
        v["data"]["result"][0]["stream"],
        json!({"detected_level": "unknown", "job": "test", "service_name": "test"})
    );
    // The header is ignored when auth is off.
    let r = client()
        .get(b.url(&format!("/loki/api/v1/query_range?query={}", enc(r#"{job="test"}"#))))
        .header("X-Scope-OrgID", "foo")
        .send()
        .unwrap();
    assert_eq!(lines_of(&r.json()), vec!["fobar"]);
}

#[test]
fn grafana_save_and_test_gets_two() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let r = client()
        .get(b.url("/loki/api/v1/query?direction=backward&query=vector%281%29%2Bvector%281%29&time=4000000000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["value"][1], "2");
    assert_eq!(result[0]["metric"], json!({}));
}

#[test]
fn protobuf_snappy_push_with_structured_metadata_round_trips() {
    use balsa_push::logproto;
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let ts = now_ns();
    let req = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: r#"{app="proto", env="dev"}"#.into(),
            entries: vec![logproto::EntryAdapter {
                timestamp: Some(logproto::Timestamp::from_nanos(ts)),
                line: "hello from protobuf".into(),
                structured_metadata: vec![logproto::LabelPairAdapter {
                    name: "trace_id".into(),
                    value: "abc123".into(),
                }],
                parsed: vec![],
            }],
            hash: 0,
        }],
        ..Default::default()
    };
    let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());
    // Grafana 11+: categorized labels.
    let r = client()
        .get(b.url(&format!("/loki/api/v1/query_range?query={}", enc(r#"{app="proto"}"#))))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .send()
        .unwrap();
    let v = r.json();
    assert_eq!(v["data"]["encodingFlags"], json!(["categorize-labels"]));
    let s = &v["data"]["result"][0];
    assert_eq!(s["stream"], json!({"app": "proto", "env": "dev", "service_name": "proto"}));
    assert_eq!(
        s["values"][0],
        json!([ts.to_string(), "hello from protobuf", {"structuredMetadata": {"detected_level": "unknown", "trace_id": "abc123"}}])
    );
    // Plain form: metadata folded into the stream labels.
    let v = query_range(&b, r#"{app="proto"} |= "protobuf""#, "");
    assert_eq!(v["data"]["result"][0]["stream"]["trace_id"], "abc123");
}

#[test]
fn acknowledged_lines_survive_kill_9_and_restart_without_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Balsa::start(&dir.path().join("n"), &["-ingester.chunk_target_size=4KB"]);
    let base = now_ns() - 60_000_000_000;
    let mut expected = Vec::new();
    for batch in 0..40 {
        let values: Vec<serde_json::Value> = (0..25)
            .map(|i| {
                let n = batch * 25 + i;
                expected.push(format!("line {n:05} {}", "payload ".repeat(8)));
                json!([(base + n as i64 * 1_000_000).to_string(), expected.last().unwrap()])
            })
            .collect();
        let stream = format!("s{}", batch % 4);
        let r = push_json(&b, json!({"streams": [{"stream": {"app": "durable", "s": stream}, "values": values}]}));
        assert_eq!(r.status(), 204, "{}", r.text());
    }
    b.kill9();
    b.spawn();
    let ready_after = b.wait_ready(std::time::Duration::from_secs(30));
    let v = query_range(&b, r#"{app="durable"}"#, &format!("&limit=5000&direction=forward&start={}", base - 1));
    let mut got = lines_of(&v);
    got.sort();
    expected.sort();
    assert_eq!(got.len(), expected.len(), "every acknowledged line must come back");
    assert_eq!(got, expected);
    // Restart cost does not grow with lines: no line-by-line replay. A
    // generous bound that a per-line replay of 1000 lines would not explain
    // alone, but the real check is the absence of a replay phase in the log.
    assert!(!b.log_text().contains("replay"), "no WAL replay may happen");
    eprintln!("ready {ready_after:?} after restart");
}

#[test]
fn bad_input_gets_loki_errors_and_the_process_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Balsa::start(&dir.path().join("n"), &["-distributor.max_decompressed_size=1MB"]);
    let ts = now_ns().to_string();
    let r = push_json(&b, json!({"streams": [{"stream": {"app": "keep"}, "values": [[ts, "before the storm"]]}]}));
    assert_eq!(r.status(), 204);

    let post = |ct: &str, ce: Option<&str>, body: Vec<u8>| {
        let mut req = client().post(b.url("/loki/api/v1/push")).header("content-type", ct);
        if let Some(ce) = ce {
            req = req.header("content-encoding", ce);
        }
        req.body(body).send().unwrap()
    };
    // Truncated protobuf inside valid snappy.
    let r = post("application/x-protobuf", None, snap::raw::Encoder::new().compress_vec(&[0x0a, 0x50, 0x0a]).unwrap());
    assert_eq!(r.status(), 400, "{}", r.text());
    // Not snappy at all.
    let r = post("application/x-protobuf", None, b"definitely not snappy".to_vec());
    assert_eq!(r.status(), 400, "{}", r.text());
    // A gzip bomb: 50 MB of zeros in a small body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..50 {
        gz.write_all(&zeros).unwrap();
    }
    let r = post("application/json", Some("gzip"), gz.finish().unwrap());
    assert_eq!(r.status(), 413, "{}", r.text());
    // Invalid JSON.
    let r = post("application/json", None, b"{\"streams\": [".to_vec());
    assert_eq!(r.status(), 400, "{}", r.text());
    // Numeric timestamp.
    let r = push_json(&b, json!({"streams": [{"stream": {"app": "x"}, "values": [[1, "a"]]}]}));
    assert_eq!(r.status(), 400, "{}", r.text());
    // Invalid label name.
    let r = push_json(&b, json!({"streams": [{"stream": {"0bad": "x"}, "values": [[ts, "a"]]}]}));
    assert_eq!(r.status(), 400, "{}", r.text());
    // Too long a line (default 256KB).
    let long = "x".repeat(300 * 1024);
    let r = push_json(&b, json!({"streams": [{"stream": {"app": "x"}, "values": [[ts, long]]}]}));
    assert_eq!(r.status(), 400);
    assert!(r.text().contains("Max entry size"), "{}", r.text());
    // Unsupported encoding.
    let r = post("application/json", Some("br"), b"{}".to_vec());
    assert_eq!(r.status(), 400);
    // Bad LogQL.
    let r = client().get(b.url(&format!("/loki/api/v1/query_range?query={}", enc("{app=")))).send().unwrap();
    assert_eq!(r.status(), 400, "{}", r.text());

    assert!(b.is_running(), "bad input must not stop the process");
    let v = query_range(&b, r#"{app="keep"}"#, "");
    assert_eq!(lines_of(&v), vec!["before the storm"]);
}

#[test]
fn auth_enabled_requires_a_tenant_and_isolates_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &["-auth_enabled=true"]);
    let ts = now_ns().to_string();
    let body = json!({"streams": [{"stream": {"app": "t"}, "values": [[ts, "tenant line"]]}]}).to_string();
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().starts_with("no org id"), "{}", r.text());
    assert!(r.text().contains("X-Scope-OrgID"));
    let r = client()
        .post(b.url("/loki/api/v1/push"))
        .header("content-type", "application/json")
        .header("X-Scope-OrgID", "team-a")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());
    let q = format!("/loki/api/v1/query_range?query={}", enc(r#"{app="t"}"#));
    assert_eq!(client().get(b.url(&q)).send().unwrap().status(), 401);
    let a = client().get(b.url(&q)).header("X-Scope-OrgID", "team-a").send().unwrap().json();
    assert_eq!(lines_of(&a), vec!["tenant line"]);
    let other = client().get(b.url(&q)).header("X-Scope-OrgID", "team-b").send().unwrap().json();
    assert!(lines_of(&other).is_empty());
}

#[test]
fn labels_values_and_series_honour_the_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let now = now_ns();
    let old = now - 3 * 3600 * 1_000_000_000i64;
    let r = push_json(
        &b,
        json!({"streams": [
            {"stream": {"app": "web", "env": "prod"}, "values": [[now.to_string(), "new"]]},
            {"stream": {"app": "db", "region": "eu"}, "values": [[old.to_string(), "old"]]}
        ]}),
    );
    assert_eq!(r.status(), 204, "{}", r.text());
    let get = |p: &str| client().get(b.url(p)).send().unwrap().json();
    // Default range is the last hour: only the new stream.
    assert_eq!(get("/loki/api/v1/labels")["data"], json!(["app", "env", "service_name"]));
    let start = old - 1_000_000_000;
    let all = get(&format!("/loki/api/v1/labels?start={start}"));
    assert_eq!(all["data"], json!(["app", "env", "region", "service_name"]));
    assert_eq!(get(&format!("/loki/api/v1/label/app/values?start={start}"))["data"], json!(["db", "web"]));
    assert_eq!(
        get(&format!("/loki/api/v1/label/app/values?start={start}&query={}", enc(r#"{env="prod"}"#)))["data"],
        json!(["web"])
    );
    let s = get(&format!("/loki/api/v1/series?start={start}&match[]={}", enc(r#"{app=~"d.*"}"#)));
    assert_eq!(s["data"], json!([{"app": "db", "region": "eu", "service_name": "db"}]));
}

#[test]
fn log_queries_filter_limit_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let base = now_ns() - 10_000_000_000;
    let values: Vec<_> = (0..20)
        .map(|i| {
            json!([
                (base + i * 1_000_000).to_string(),
                format!("level={} n={i}", if i % 2 == 0 { "error" } else { "info" })
            ])
        })
        .collect();
    assert_eq!(
        push_json(&b, json!({"streams": [{"stream": {"namespace": "argocd"}, "values": values}]})).status(),
        204
    );
    let v = query_range(&b, r#"{namespace="argocd"} |= "level=error""#, "");
    assert_eq!(lines_of(&v).len(), 10);
    assert!(lines_of(&v)[0].ends_with("n=18"), "backward is newest first: {:?}", lines_of(&v));
    let v = query_range(&b, r#"{namespace="argocd"} |= "level=error" != "n=0""#, "&direction=forward&limit=3");
    assert_eq!(lines_of(&v), vec!["level=error n=2", "level=error n=4", "level=error n=6"]);
    // detected_level (structured metadata, as in Loki 3) splits the stream by level.
    let v = query_range(&b, r#"{namespace=~"argo.*"} |~ "n=1[0-2]$""#, "&direction=forward");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 2, "{v}");
    let mut by_time: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().iter())
        .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_str().unwrap().to_string()))
        .collect();
    by_time.sort();
    let lines: Vec<&str> = by_time.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(lines, vec!["level=error n=10", "level=info n=11", "level=error n=12"]);
    // Log queries are not instant queries.
    let r =
        client().get(b.url(&format!("/loki/api/v1/query?query={}", enc(r#"{namespace="argocd"}"#)))).send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn sigterm_stops_cleanly_and_data_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Balsa::start(&dir.path().join("n"), &[]);
    let ts = now_ns().to_string();
    assert_eq!(push_json(&b, json!({"streams": [{"stream": {"app": "t"}, "values": [[ts, "kept"]]}]})).status(), 204);
    let status = b.terminate();
    assert!(status.success(), "exit status {status}: {}", b.log_text());
    b.spawn();
    b.wait_ready(std::time::Duration::from_secs(30));
    assert_eq!(lines_of(&query_range(&b, r#"{app="t"}"#, "")), vec!["kept"]);
}

#[test]
fn unknown_config_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("balsa.yaml");
    std::fs::write(&cfg, "server:\n  http_listen_prot: 3100\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balsa"))
        .arg(format!("-config.file={}", cfg.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.http_listen_prot"), "{err}");
}

#[test]
fn shard_count_cannot_change_for_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n");
    let mut b = Balsa::start(&data, &["-cluster.shards=4"]);
    b.terminate();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balsa"))
        .arg(format!("-common.path_prefix={}", data.display()))
        .arg("-cluster.shards=8")
        .arg(format!("-server.http_listen_port={}", common::free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn operations_endpoints_report_metrics_config_and_build() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &["-limits_config.max_line_size=128KB"]);
    let ts = now_ns().to_string();
    assert_eq!(
        push_json(&b, json!({"streams": [{"stream": {"app": "m"}, "values": [[ts, "counted"]]}]})).status(),
        204
    );
    let r = client().get(b.url("/ready")).send().unwrap();
    assert_eq!((r.status(), r.text().trim().to_string()), (200, "ready".to_string()));

    let metrics = client().get(b.url("/metrics")).send().unwrap().text();
    for needle in [
        "loki_distributor_lines_received_total{tenant=\"fake\"} 1",
        "loki_distributor_bytes_received_total{tenant=\"fake\"}",
        "loki_request_duration_seconds_bucket{method=\"POST\",route=\"loki_api_v1_push\",status_code=\"204\"",
        "balsa_raft_commit_seconds_bucket",
        "balsa_wal_fsync_seconds_bucket",
        "balsa_rocksdb_size_bytes{cf=\"raft_log\"}",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }

    let config = client().get(b.url("/config")).send().unwrap().text();
    assert!(config.contains("max_line_size: 128KB"), "{config}");
    assert!(config.contains("http_listen_port"), "{config}");
    let diffs = client().get(b.url("/config?mode=diffs")).send().unwrap().text();
    assert!(diffs.contains("max_line_size: 128KB") && !diffs.contains("chunk_target_size"), "{diffs}");
    assert_eq!(client().get(b.url("/config?mode=nope")).send().unwrap().status(), 400);

    let info = client().get(b.url("/loki/api/v1/status/buildinfo")).send().unwrap().json();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    for key in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(info.get(key).is_some(), "buildinfo lacks {key}");
    }
}

#[test]
fn queries_accept_post_forms_since_and_legacy_push() {
    let dir = tempfile::tempdir().unwrap();
    let b = Balsa::start(&dir.path().join("n"), &[]);
    let now = now_ns();
    let two_hours_ago = now - 2 * 3600 * 1_000_000_000i64;
    let r = push_json(
        &b,
        json!({"streams": [{"stream": {"app": "form"}, "values": [[two_hours_ago.to_string(), "old"], [now.to_string(), "new"]]}]}),
    );
    assert_eq!(r.status(), 204, "{}", r.text());
    // Legacy /api/prom/push JSON with an RFC3339 timestamp.
    let rfc = chrono_like_rfc3339(now - 1_000_000);
    let legacy = json!({"streams": [{"labels": "{app=\"form\"}", "entries": [{"ts": rfc, "line": "legacy"}]}]});
    let r = client()
        .post(b.url("/api/prom/push"))
        .header("content-type", "application/json")
        .body(legacy.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text());
    // POST form body, default range (1h): the two recent lines.
    let r = client()
        .post(b.url("/loki/api/v1/query_range"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("query={}&direction=forward", enc(r#"{app="form"}"#)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(lines_of(&r.json()), vec!["legacy", "new"]);
    // since=3h reaches the old line; RFC3339 start works too.
    assert_eq!(
        lines_of(&query_range(&b, r#"{app="form"}"#, "&since=3h&direction=forward")),
        vec!["old", "legacy", "new"]
    );
    let start = chrono_like_rfc3339(two_hours_ago - 1_000_000_000);
    assert_eq!(lines_of(&query_range(&b, r#"{app="form"}"#, &format!("&start={}", enc(&start)))).len(), 3);
    // Float seconds.
    let secs = format!("{:.3}", (two_hours_ago - 1_000_000_000) as f64 / 1e9);
    assert_eq!(lines_of(&query_range(&b, r#"{app="form"}"#, &format!("&start={secs}"))).len(), 3);
    // Limits and directions are checked like Loki.
    let r = client()
        .get(b.url(&format!("/loki/api/v1/query_range?query={}&limit=6000", enc(r#"{app="form"}"#))))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().contains("max entries limit per query exceeded"), "{}", r.text());
    let r = client()
        .get(b.url(&format!("/loki/api/v1/query_range?query={}&direction=up", enc(r#"{app="form"}"#))))
        .send()
        .unwrap();
    assert_eq!((r.status(), r.text().trim().to_string()), (400, "invalid direction 'up'".to_string()));
}

/// RFC3339 with nanoseconds, UTC, without pulling a date crate into tests.
fn chrono_like_rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Writes `text` to `path` atomically (write aside, rename), as a ConfigMap
/// update does, so a reload never reads a half-written file.
fn replace_file(path: &std::path::Path, text: &str) {
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

#[test]
fn runtime_config_overrides_tenant_limits_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime.yaml");
    replace_file(&runtime, "overrides:\n  fake:\n    max_entries_limit_per_query: 5\n");
    let file = format!("-runtime_config.file={}", runtime.display());
    let b = Balsa::start(&dir.path().join("n"), &[&file, "-runtime-config.reload-period=1s"]);
    let ts = now_ns().to_string();
    let r = push_json(&b, json!({"streams": [{"stream": {"app": "ovr"}, "values": [[ts, "line"]]}]}));
    assert_eq!(r.status(), 204, "{}", r.text());
    let query = |limit: usize| {
        client()
            .get(b.url(&format!("/loki/api/v1/query_range?query={}&limit={limit}", enc(r#"{app="ovr"}"#))))
            .send()
            .unwrap()
    };
    let refused = |limit: usize, max: usize| {
        format!("max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})")
    };
    let r = query(10);
    assert_eq!((r.status(), r.text().trim().to_string()), (400, refused(10, 5)));
    let r = query(5);
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(lines_of(&r.json()), vec!["line"]);

    // A bad file is logged and the overrides in force stay.
    replace_file(&runtime, "overrides:\n  fake:\n    max_entries_limit: 20\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !b.log_text().contains("failed to reload runtime config") {
        assert!(std::time::Instant::now() < deadline, "no reload error logged: {}", b.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(b.log_text().contains("overrides.fake.max_entries_limit"), "{}", b.log_text());
    let r = query(10);
    assert_eq!((r.status(), r.text().trim().to_string()), (400, refused(10, 5)));
    let metrics = client().get(b.url("/metrics")).send().unwrap().text();
    assert!(metrics.contains("loki_runtime_config_last_reload_successful{config=\"loki\"} 0"), "{metrics}");

    // A good file takes effect within a reload period or two.
    replace_file(&runtime, "overrides:\n  fake:\n    max_entries_limit_per_query: 20\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = query(10);
        if r.status() == 200 {
            assert_eq!(lines_of(&r.json()), vec!["line"]);
            break;
        }
        assert_eq!((r.status(), r.text().trim().to_string()), (400, refused(10, 5)));
        assert!(std::time::Instant::now() < deadline, "the new override never took effect: {}", b.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = query(30);
    assert_eq!((r.status(), r.text().trim().to_string()), (400, refused(30, 20)));

    // At start, a bad file is an error naming the problem.
    replace_file(&runtime, "overrides:\n  fake:\n    max_entries_limit_per_query: many\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balsa"))
        .arg(&file)
        .arg(format!("-common.path_prefix={}", dir.path().join("other").display()))
        .arg(format!("-server.http_listen_port={}", common::free_port()))
        .arg(format!("-server.grpc_listen_port={}", common::free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("overrides.fake.max_entries_limit_per_query"), "{err}");
    assert!(err.contains(&runtime.display().to_string()), "{err}");
}
