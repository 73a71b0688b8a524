//! `index/stats`, `index/volume` and `index/volume_range` through the real
//! router. The expected bodies are what Loki 3.7.6 (`-target=all`, the same
//! entries pushed) answered, recorded below with its request times; where
//! Balsa differs on purpose the comment says why.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use balsa_api::testing::{StaticBackend, app_state};
use balsa_model::read::ChunkStats;
use balsa_model::{Entry, Labels, MemChunks, MemStreams, StreamReader};
use balsa_push::LimitsConfig;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const S: i64 = 1_000_000_000;
/// When the entries were pushed to Loki (the first entry's time, seconds).
const T0: i64 = 1_796_488_791;
/// When Loki was asked: the server clock of these tests.
const NOW_NS: i64 = 1_796_489_395_055_000_000;

/// One chunk per stream, as Loki's ingester held them: `app=x,env=prod`
/// got "hello world", "second line here", "third" at T0, T0+60 s, T0+120 s;
/// `app=x,env=dev` "dev line" at T0 and "dev line two" (with metadata
/// trace=abc) at T0+300 s; `app=y,env=prod,pod=p1` "yy" at T0+10 s. Loki
/// sized those chunks 77, 73 and 31 bytes (lines, 8 bytes per structured
/// metadata pair, its `detected_level=unknown`, and the chunk's symbol table).
fn loki_chunks() -> MemChunks {
    let chunk = |from: i64, to: i64, entries: u64, bytes: u64| ChunkStats {
        min_ts: (T0 + from) * S,
        max_ts: (T0 + to) * S,
        entries,
        bytes,
    };
    let labels = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
    let mut m = MemChunks::new();
    m.push("fake", labels(&[("app", "x"), ("env", "prod"), ("service_name", "x")]), [chunk(0, 120, 3, 77)]);
    m.push("fake", labels(&[("app", "x"), ("env", "dev"), ("service_name", "x")]), [chunk(0, 300, 2, 73)]);
    m.push(
        "fake",
        labels(&[("app", "y"), ("env", "prod"), ("pod", "p1"), ("service_name", "y")]),
        [chunk(10, 10, 1, 31)],
    );
    m
}

async fn call(readers: Vec<Arc<dyn StreamReader>>, req: Request<Body>) -> (StatusCode, String, String) {
    let st = app_state(Arc::new(StaticBackend::new(readers)), LimitsConfig::default(), NOW_NS);
    let resp = balsa_api::router(st).oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&body).into_owned())
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn get(path: &str, params: &[(&str, &str)]) -> (StatusCode, String, String) {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let uri = format!("/loki/api/v1/index/{path}?{}", q.join("&"));
    call(vec![Arc::new(loki_chunks())], Request::get(uri).body(Body::empty()).unwrap()).await
}

/// `data.result` of a volume answer, after checking the envelope.
fn result_of(body: &str, result_type: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "success", "{body}");
    assert_eq!(v["data"]["resultType"], result_type, "{body}");
    assert_eq!(v["data"]["stats"]["summary"]["totalEntriesReturned"], v["data"]["result"].as_array().unwrap().len());
    v["data"]["result"].clone()
}

#[tokio::test]
async fn index_stats_is_a_bare_object_in_lokis_field_order() {
    // Loki 3.7.6 answered {"streams":0,..} while the entries were only in its
    // ingester, and {"streams":2,"chunks":2,"bytes":0,"entries":5} once they
    // were flushed: its TSDB index rounds each chunk to whole KiB. Balsa
    // counts the bytes themselves.
    let (status, ct, body) = get("stats", &[("query", r#"{app="x"}"#)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(body, "{\"streams\":2,\"chunks\":2,\"bytes\":150,\"entries\":5}\n");

    // POST with a form body.
    let req = Request::post("/loki/api/v1/index/stats")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("query={}", enc(r#"{app=~".+"}"#))))
        .unwrap();
    let (status, _, body) = call(vec![Arc::new(loki_chunks())], req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"streams\":3,\"chunks\":3,\"bytes\":181,\"entries\":6}\n"));

    // Half of the dev chunk's 300 s (the prod chunk ends before): 36.5
    // bytes and 1 entry, truncated as Loki's `ChunkStats.AddChunk` does.
    let (_, _, body) = get(
        "stats",
        &[("query", r#"{env="dev"}"#), ("start", &(T0 + 150).to_string()), ("end", &(T0 + 400).to_string())],
    )
    .await;
    assert_eq!(body, "{\"streams\":1,\"chunks\":1,\"bytes\":36,\"entries\":1}\n");
}

#[tokio::test]
async fn index_stats_over_readers_without_chunk_metadata() {
    // MemStreams counts the entries in range as one chunk per stream; each
    // stream is in one reader, and the readers add up.
    let mut a = MemStreams::new();
    let mut b = MemStreams::new();
    a.push("fake", Labels::from_pairs([("app", "a")]), (0..4).map(|i| Entry::new(NOW_NS - i * S, "abcd")));
    b.push("fake", Labels::from_pairs([("app", "b")]), [Entry::new(NOW_NS - 10 * S, "0123456789")]);
    b.push("other", Labels::from_pairs([("app", "b")]), [Entry::new(NOW_NS - 10 * S, "not this tenant")]);
    let uri = format!("/loki/api/v1/index/stats?query={}&end={}", enc(r#"{app=~"a|b"}"#), NOW_NS + 1);
    let (status, _, body) = call(vec![Arc::new(a), Arc::new(b)], Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"streams\":2,\"chunks\":2,\"bytes\":26,\"entries\":5}\n"));
}

#[tokio::test]
async fn volume_answers_lokis_vector() {
    // Loki 3.7.6, GET /loki/api/v1/index/volume?query={app="x"} at NOW.
    let (status, ct, body) = get("volume", &[("query", r#"{app="x"}"#)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(result_of(&body, "vector"), json!([{"metric":{"app":"x"},"value":[1796489395.055,"150"]}]));

    // query={} (match anything): every label of each series.
    let (_, _, body) = get("volume", &[("query", "{}")]).await;
    assert_eq!(
        result_of(&body, "vector"),
        json!([
            {"metric":{"app":"x","env":"prod","service_name":"x"},"value":[1796489395.055,"77"]},
            {"metric":{"app":"x","env":"dev","service_name":"x"},"value":[1796489395.055,"73"]},
            {"metric":{"app":"y","env":"prod","pod":"p1","service_name":"y"},"value":[1796489395.055,"31"]}
        ])
    );

    // aggregateBy=labels: one result per label name, equal volumes by name.
    let (_, _, body) = get("volume", &[("query", r#"{app=~".+"}"#), ("aggregateBy", "labels")]).await;
    assert_eq!(
        result_of(&body, "vector"),
        json!([
            {"metric":{"app":""},"value":[1796489395.055,"181"]},
            {"metric":{"env":""},"value":[1796489395.055,"181"]},
            {"metric":{"service_name":""},"value":[1796489395.055,"181"]},
            {"metric":{"pod":""},"value":[1796489395.055,"31"]}
        ])
    );

    // targetLabels: the streams must carry them; `{app="x"}` has no pod.
    let (_, _, body) = get("volume", &[("query", r#"{app="x"}"#), ("targetLabels", "env,pod")]).await;
    assert_eq!(result_of(&body, "vector"), json!([]));
    let (_, _, body) = get("volume", &[("query", "{}"), ("targetLabels", "env,pod")]).await;
    assert_eq!(result_of(&body, "vector"), json!([{"metric":{"env":"prod","pod":"p1"},"value":[1796489395.055,"31"]}]));
    let (_, _, body) = get("volume", &[("query", "{}"), ("targetLabels", "env"), ("aggregateBy", "labels")]).await;
    assert_eq!(result_of(&body, "vector"), json!([{"metric":{"env":""},"value":[1796489395.055,"181"]}]));

    // limit keeps the largest.
    let (_, _, body) = get("volume", &[("query", "{}"), ("limit", "1")]).await;
    assert_eq!(
        result_of(&body, "vector"),
        json!([{"metric":{"app":"x","env":"prod","service_name":"x"},"value":[1796489395.055,"77"]}])
    );
}

#[tokio::test]
async fn volume_range_answers_lokis_matrix() {
    // Loki 3.7.6, GET /loki/api/v1/index/volume_range?query={app=~".+"}&step=300
    // at NOW: buckets end 1 ms before each multiple of 300 s, and chunks
    // count in proportion to their time in each bucket.
    let (status, _, body) = get("volume_range", &[("query", r#"{app=~".+"}"#), ("step", "300")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        result_of(&body, "matrix"),
        json!([
            {"metric":{"app":"y"},"values":[[1796489099.999,"31"]]},
            {"metric":{"app":"x"},"values":[[1796488799.999,"6"],[1796489099.999,"141"]]}
        ])
    );
    // One point per result is a vector, each point at its bucket's end.
    let (_, _, body) = get("volume_range", &[("query", r#"{app="y"}"#), ("step", "300")]).await;
    assert_eq!(result_of(&body, "vector"), json!([{"metric":{"app":"y"},"value":[1796489099.999,"31"]}]));
}

#[tokio::test]
async fn errors_are_lokis() {
    // Each text and status as Loki 3.7.6 answered.
    let need_matcher = "parse error : queries require at least one regexp or equality matcher that does not have \
                        an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but \
                        app=~\".+\" will\n";
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("stats", &[("query", "{}")], need_matcher),
        ("stats", &[], "parse error : syntax error: unexpected $end\n"),
        ("stats", &[("query", r#"{app="x"} |= "a""#)], "only label matchers are supported\n"),
        ("stats", &[("query", r#"sum(rate({app="x"}[1m]))"#)], "only label matchers are supported\n"),
        (
            "stats",
            &[("query", r#"{app="x"}"#), ("start", "100"), ("end", "50")],
            "end timestamp must not be before or equal to start time\n",
        ),
        (
            "stats",
            &[("query", r#"{app="x"}"#), ("step", "0")],
            "zero or negative query resolution step widths are not accepted. Try a positive integer\n",
        ),
        ("stats", &[("query", r#"{app="x"}"#), ("limit", "0")], "limit must be a positive value\n"),
        ("volume", &[("query", r#"{app="x"} |= "a""#)], "only label matchers are supported\n"),
        ("volume", &[], "parse error : syntax error: unexpected $end\n"),
        ("volume", &[("query", "{ }")], need_matcher),
        ("volume", &[("query", r#"{app=~".*"}"#)], need_matcher),
        ("volume", &[("query", r#"{app="x"}"#), ("limit", "-1")], "limit must be a positive value\n"),
        ("volume", &[("query", r#"{app="x"}"#), ("aggregateBy", "foo")], "invalid aggregation option\n"),
        ("volume", &[("query", r#"{app="x"}"#), ("direction", "xyz")], "invalid direction 'xyz'\n"),
        (
            "volume_range",
            &[("query", r#"{app="x"}"#), ("step", "0")],
            "zero or negative query resolution step widths are not accepted. Try a positive integer\n",
        ),
        (
            "volume_range",
            &[("query", r#"{app="x"}"#), ("step", "0.01")],
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter\n",
        ),
    ];
    for (path, params, want) in cases {
        let (status, _, body) = get(path, params).await;
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, *want), "{path} {params:?}");
    }
    // `limit=0` is the default for volumes (Loki's `volumeLimit`).
    let (status, _, _) = get("volume", &[("query", r#"{app="x"}"#), ("limit", "0")]).await;
    assert_eq!(status, StatusCode::OK);
}
