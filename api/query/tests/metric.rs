//! Metric query execution against in-memory shards: range aggregations,
//! vector aggregations, binary operations, limits, and the distributed
//! merge (data spread over several readers gives the single-reader answer).

use balsa_logql::parse_sample_expr;
use balsa_model::{Entry, LabelPair, Labels, MemStreams, StreamReader};
use balsa_query::*;

const T: &str = "fake";
const S: i64 = 1_000_000_000;

fn labels(s: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(s.iter().copied())
}

fn e(ts_s: i64, line: &str) -> Entry {
    Entry::new(ts_s * S, line)
}

/// app=a: a line every 10s from 10s to 100s ("level=info" or "level=error"),
/// app=b: 3 lines, app=c (env=dev): 1 line with structured metadata.
fn dataset() -> Vec<(Labels, Vec<Entry>)> {
    let mut a = Vec::new();
    for i in 1..=10 {
        let level = if i % 3 == 0 { "error" } else { "info" };
        a.push(e(i * 10, &format!("level={level} latency={}ms n={i}", i * 5)));
    }
    let b = vec![e(15, "b one"), e(25, "b two"), e(95, "b three")];
    let mut c = e(50, "c only");
    c.structured_metadata.push(LabelPair { name: "trace".into(), value: "t1".into() });
    vec![
        (labels(&[("app", "a"), ("env", "prod")]), a),
        (labels(&[("app", "b"), ("env", "prod")]), b),
        (labels(&[("app", "c"), ("env", "dev")]), vec![c]),
    ]
}

fn one_reader() -> MemStreams {
    let mut m = MemStreams::new();
    for (l, es) in dataset() {
        m.push(T, l, es);
    }
    m
}

/// Every stream in its own reader, and app=a split over two readers by time
/// (as replicas of different shards never hold the same stream, the split
/// by stream is the realistic one; the split by time checks merging).
fn many_readers() -> Vec<MemStreams> {
    let mut out = Vec::new();
    for (l, es) in dataset() {
        let mut m = MemStreams::new();
        m.push(T, l, es);
        out.push(m);
    }
    out
}

fn range_q(
    readers: &[&dyn StreamReader],
    q: &str,
    start_s: i64,
    end_s: i64,
    step_s: i64,
) -> Result<Vec<Series>, QueryError> {
    let expr = parse_sample_expr(q).unwrap();
    let mq = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() };
    eval_range(readers, &mq, start_s * S, end_s * S, step_s * S).map(|r| r.0)
}

fn instant_q(readers: &[&dyn StreamReader], q: &str, at_s: i64) -> Result<InstantValue, QueryError> {
    let expr = parse_sample_expr(q).unwrap();
    let mq = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() };
    eval_instant(readers, &mq, at_s * S).map(|r| r.0)
}

/// `{labels} => [(t_s, v), ...]` per series, for compact assertions.
fn shape(series: &[Series]) -> Vec<(String, Vec<(i64, f64)>)> {
    series.iter().map(|s| (s.labels.canonical(), s.points.iter().map(|(t, v)| (t / S, *v)).collect())).collect()
}

fn vector(v: InstantValue) -> Vec<(String, f64)> {
    match v {
        InstantValue::Vector(s) => s.into_iter().map(|s| (s.labels.canonical(), s.value)).collect(),
        InstantValue::Scalar(x) => panic!("expected a vector, got scalar {x}"),
    }
}

/// Runs `q` over one reader and over many, asserting both agree.
fn both(q: &str, start_s: i64, end_s: i64, step_s: i64) -> Vec<(String, Vec<(i64, f64)>)> {
    let one = one_reader();
    let single = range_q(&[&one], q, start_s, end_s, step_s).unwrap();
    let many = many_readers();
    let refs: Vec<&dyn StreamReader> = many.iter().map(|m| m as &dyn StreamReader).collect();
    let distributed = range_q(&refs, q, start_s, end_s, step_s).unwrap();
    assert_eq!(single, distributed, "distributed result differs for {q}");
    shape(&single)
}

#[test]
fn count_over_time_windows_are_left_open_right_closed() {
    // Steps 20, 40: (0,20] holds a@10,20 ; (20,40] holds a@30,40.
    let got = both(r#"count_over_time({app="a"}[20s])"#, 20, 40, 20);
    assert_eq!(got, vec![(r#"{app="a", env="prod"}"#.into(), vec![(20, 2.0), (40, 2.0)])]);
    // Steps with nothing in their window have no point: b@15 is in (10,20], b@95 in (90,100].
    let got = both(r#"count_over_time({app="b"}[10s])"#, 20, 100, 20);
    assert_eq!(got, vec![(r#"{app="b", env="prod"}"#.into(), vec![(20, 1.0), (100, 1.0)])]);
}

#[test]
fn rate_and_bytes() {
    let got = both(r#"rate({app="b"}[30s])"#, 30, 30, 1);
    assert_eq!(got, vec![(r#"{app="b", env="prod"}"#.into(), vec![(30, 2.0 / 30.0)])]);
    let got = both(r#"bytes_over_time({app="b"}[100s])"#, 100, 100, 1);
    assert_eq!(
        got,
        vec![(
            r#"{app="b", env="prod"}"#.into(),
            vec![(100, ("b one".len() + "b two".len() + "b three".len()) as f64)]
        )]
    );
    let got = both(r#"bytes_rate({app="b"}[10s])"#, 20, 20, 1);
    assert_eq!(got, vec![(r#"{app="b", env="prod"}"#.into(), vec![(20, 5.0 / 10.0)])]);
}

#[test]
fn structured_metadata_splits_series() {
    let got = both(r#"count_over_time({app="c"}[1m])"#, 60, 60, 1);
    assert_eq!(got, vec![(r#"{app="c", env="dev", trace="t1"}"#.into(), vec![(60, 1.0)])]);
}

#[test]
fn offset_moves_the_window_back() {
    // At 100 with offset 50: (20, 50] → a@30,40,50.
    let got = both(r#"count_over_time({app="a"}[30s] offset 50s)"#, 100, 100, 1);
    assert_eq!(got, vec![(r#"{app="a", env="prod"}"#.into(), vec![(100, 3.0)])]);
}

#[test]
fn sum_by_groups_and_pushes_down() {
    let got = both(r#"sum by (env) (count_over_time({env=~".+"}[100s]))"#, 100, 100, 1);
    assert_eq!(got, vec![(r#"{env="dev"}"#.into(), vec![(100, 1.0)]), (r#"{env="prod"}"#.into(), vec![(100, 13.0)])]);
    let got = both(r#"sum(rate({env="prod"}[100s]))"#, 100, 100, 1);
    assert_eq!(got, vec![("{}".into(), vec![(100, 13.0 / 100.0)])]);
    let got = both(r#"count without (app) (count_over_time({env=~".+"}[100s]))"#, 100, 100, 1);
    assert_eq!(
        got,
        vec![(r#"{env="dev", trace="t1"}"#.into(), vec![(100, 1.0)]), (r#"{env="prod"}"#.into(), vec![(100, 2.0)])]
    );
}

#[test]
fn vector_aggregations() {
    let one = one_reader();
    let q = |s: &str| vector(instant_q(&[&one], s, 100).unwrap());
    let counts = r#"count_over_time({env=~".+"}[100s])"#;
    assert_eq!(q(&format!("max({counts})")), vec![("{}".into(), 10.0)]);
    assert_eq!(q(&format!("min({counts})")), vec![("{}".into(), 1.0)]);
    assert_eq!(q(&format!("avg({counts})")), vec![("{}".into(), 14.0 / 3.0)]);
    assert_eq!(q(&format!("count({counts})")), vec![("{}".into(), 3.0)]);
    let var = {
        let m = 14.0 / 3.0;
        ((10.0f64 - m).powi(2) + (3.0f64 - m).powi(2) + (1.0f64 - m).powi(2)) / 3.0
    };
    let got = q(&format!("stdvar({counts})"))[0].1;
    assert!((got - var).abs() < 1e-9, "{got} vs {var}");
    assert_eq!(
        q(&format!("topk(2, {counts})")),
        vec![(r#"{app="a", env="prod"}"#.into(), 10.0), (r#"{app="b", env="prod"}"#.into(), 3.0)]
    );
    assert_eq!(q(&format!("bottomk(1, {counts})")), vec![(r#"{app="c", env="dev", trace="t1"}"#.into(), 1.0)]);
    // sort_desc keeps its order in an instant vector; everything else is sorted by labels.
    let sorted: Vec<f64> = q(&format!("sort_desc({counts})")).into_iter().map(|s| s.1).collect();
    assert_eq!(sorted, [10.0, 3.0, 1.0]);
    let sorted: Vec<f64> = q(&format!("sort({counts})")).into_iter().map(|s| s.1).collect();
    assert_eq!(sorted, [1.0, 3.0, 10.0]);
    // approx_topk is topk, computed exactly (Loki estimates it), for instant queries only.
    for k in [1, 2, 5] {
        assert_eq!(q(&format!("approx_topk({k}, {counts})")), q(&format!("topk({k}, {counts})")));
    }
    assert_eq!(q(&format!("approx_topk(1, {counts})")), vec![(r#"{app="a", env="prod"}"#.into(), 10.0)]);
    assert_eq!(
        q(&format!("approx_topk(2, sum by (env) ({counts}))")),
        vec![(r#"{env="dev"}"#.into(), 1.0), (r#"{env="prod"}"#.into(), 13.0)]
    );
    let err = range_q(&[&one], &format!("approx_topk(1, {counts})"), 0, 100, 10).unwrap_err();
    assert_eq!(err.message(), "count min sketches are only supported on instant queries");
}

#[test]
fn binary_operations_and_matching() {
    let one = one_reader();
    let q = |s: &str| vector(instant_q(&[&one], s, 100).unwrap());
    let a = r#"count_over_time({app="a"}[100s])"#;
    let b = r#"count_over_time({app="b"}[100s])"#;
    assert_eq!(q(&format!("{a} * 2")), vec![(r#"{app="a", env="prod"}"#.into(), 20.0)]);
    assert_eq!(q(&format!("2 - {a}")), vec![(r#"{app="a", env="prod"}"#.into(), -8.0)]);
    // Comparison filters keep the vector's value, with bool they give 0/1.
    assert_eq!(q(&format!("{a} > 5")), vec![(r#"{app="a", env="prod"}"#.into(), 10.0)]);
    assert_eq!(q(&format!("5 < {a}")), vec![(r#"{app="a", env="prod"}"#.into(), 10.0)]);
    assert!(q(&format!("{a} > 50")).is_empty());
    assert_eq!(q(&format!("{a} > bool 50")), vec![(r#"{app="a", env="prod"}"#.into(), 0.0)]);
    // No shared label set: no match; with on(env) they match one-to-one.
    assert!(q(&format!("{a} / {b}")).is_empty());
    assert_eq!(q(&format!("{a} / on (env) {b}")), vec![(r#"{env="prod"}"#.into(), 10.0 / 3.0)]);
    assert_eq!(q(&format!("{a} + ignoring (app) {b}")), vec![(r#"{env="prod"}"#.into(), 13.0)]);
    // group_left keeps the many side's labels and copies included ones.
    let many = r#"count_over_time({env="prod"}[100s])"#;
    let one_side = r#"sum by (env) (count_over_time({env="prod"}[100s]))"#;
    assert_eq!(
        q(&format!("{many} / on (env) group_left {one_side}")),
        vec![(r#"{app="a", env="prod"}"#.into(), 10.0 / 13.0), (r#"{app="b", env="prod"}"#.into(), 3.0 / 13.0)]
    );
    // Vector matching conflicts are not client errors in Loki (pkg/util/server/error.go): a 500 with the text.
    let err = instant_q(&[&one], &format!("{many} / on (env) {one_side}"), 100).unwrap_err();
    assert_eq!(
        err.message(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    assert_eq!((err.kind(), err.http_status()), (ErrorKind::Execution, 500));
    let err = instant_q(&[&one], &format!("{one_side} / on (env) {many}"), 100).unwrap_err();
    assert!(err.message().starts_with("found duplicate series on the right hand-side;many-to-many"), "{err}");
    assert_eq!(err.http_status(), 500);
    // Set operators.
    assert_eq!(q(&format!("{a} and on (env) {b}")), vec![(r#"{app="a", env="prod"}"#.into(), 10.0)]);
    assert!(q(&format!("{a} unless on (env) {b}")).is_empty());
    assert_eq!(q(&format!("{a} or {b}")).len(), 2);
    assert_eq!(q("vector(1) + vector(1)"), vec![("{}".into(), 2.0)]);
}

#[test]
fn label_replace_and_absent() {
    let one = one_reader();
    let got = vector(
        instant_q(&[&one], r#"label_replace(count_over_time({app="b"}[100s]), "svc", "x-$1", "app", "(.*)")"#, 100)
            .unwrap(),
    );
    assert_eq!(got, vec![(r#"{app="b", env="prod", svc="x-b"}"#.into(), 3.0)]);
    let got = both(r#"absent_over_time({app="b", env=~"p.*"}[10s])"#, 10, 40, 10);
    // b has lines at 15 and 25: absent at 10 and 40 only.
    assert_eq!(got, vec![(r#"{app="b"}"#.into(), vec![(10, 1.0), (40, 1.0)])]);
    assert!(both(r#"absent_over_time({app="a"}[100s])"#, 100, 100, 1).is_empty());
}

#[test]
fn scalars_and_range_results() {
    let one = one_reader();
    assert_eq!(instant_q(&[&one], "2 * 3", 100).unwrap(), InstantValue::Scalar(6.0));
    let got = shape(&range_q(&[&one], "vector(2)", 0, 20, 10).unwrap());
    assert_eq!(got, vec![("{}".into(), vec![(0, 2.0), (10, 2.0), (20, 2.0)])]);
}

#[test]
fn limits() {
    let one = one_reader();
    let expr = parse_sample_expr(r#"count_over_time({env=~".+"}[100s])"#).unwrap();
    let mq = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits { max_series: 2, deadline: None } };
    let err = eval_range(&[&one], &mq, 100 * S, 100 * S, S).unwrap_err();
    assert_eq!(err, QueryError::Limit("maximum of series (2) reached for a single query".into()));
    assert_eq!(err.http_status(), 400);
    let err = eval_instant(&[&one], &mq, 100 * S).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Limit);
    let past = std::time::Instant::now() - std::time::Duration::from_secs(1);
    let mq = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits { max_series: 0, deadline: Some(past) } };
    let err = eval_range(&[&one], &mq, 0, 100 * S, S).unwrap_err();
    assert_eq!(err, QueryError::Timeout);
    assert_eq!(err.http_status(), 504);
    let err = range_q(&[&one], r#"count_over_time({app="a"}[1m])"#, 0, 20_000, 1).unwrap_err();
    assert!(err.message().starts_with("exceeded maximum resolution of 11,000 points"), "{err}");
}

#[test]
fn parsers_extract_what_grouping_and_filters_need() {
    // Only `level` is grouped on, but the filter reads `latency`: parser hints
    // must still extract it (i*5ms > 20ms for i = 5..=10; errors at i = 6, 9).
    let got = both(r#"sum by (level) (count_over_time({app="a"} | logfmt | latency > 20ms [100s]))"#, 100, 100, 1);
    assert_eq!(
        got,
        vec![(r#"{level="error"}"#.into(), vec![(100, 2.0)]), (r#"{level="info"}"#.into(), vec![(100, 4.0)])]
    );
    let got = both(r#"sum by (level) (count_over_time({app="a"} | logfmt [100s]))"#, 100, 100, 1);
    assert_eq!(
        got,
        vec![(r#"{level="error"}"#.into(), vec![(100, 3.0)]), (r#"{level="info"}"#.into(), vec![(100, 7.0)])]
    );
    // Unwrapped label and `by` inside the range aggregation.
    let got = both(r#"max_over_time({app="a"} | logfmt | unwrap n [100s]) by (level)"#, 100, 100, 1);
    assert_eq!(
        got,
        vec![(r#"{level="error"}"#.into(), vec![(100, 9.0)]), (r#"{level="info"}"#.into(), vec![(100, 10.0)])]
    );
    // Template fields are required labels too. 5, 15, 25, 35, 45ms contain "5ms"; errors at 15 and 45.
    let got = both(
        r#"sum by (level) (count_over_time({app="a"} | logfmt | line_format "{{.latency}}" |= "5ms" [100s]))"#,
        100,
        100,
        1,
    );
    assert_eq!(
        got,
        vec![(r#"{level="error"}"#.into(), vec![(100, 2.0)]), (r#"{level="info"}"#.into(), vec![(100, 3.0)])]
    );
}

/// Loki's parser hints (`pkg/logql/log/parser_hints_test.go`, `Test_ParserHints`,
/// on its lines): what parsers extract, or skip, depends on what the query
/// needs, which shows in results and in errors.
#[test]
fn parser_hints_as_loki() {
    // Loki's test line: not valid JSON (`"foo",}`), which jsonparser accepts.
    const JSON_LINE: &str = r#"{
	"remote_user": "foo",
	"upstream_addr": "10.0.0.1:80",
	"protocol": "HTTP/2.0",
    "cluster": "us-east-west",
	"request": {
		"time": "30.001",
		"method": "POST",
		"host": "foo.grafana.net",
		"uri": "/rpc/v2/stage",
		"size": "101"
	},
	"response": {
		"status": 204,
		"latency_seconds": "30.001"
	},
  "message": {
    "message": "foo",
  }
}"#;
    const PACKED_LINE: &str = r#"{
		"remote_user": "foo",
		"upstream_addr": "10.0.0.1:80",
		"protocol": "HTTP/2.0",
		"cluster": "us-east-west",
		"_entry":"foo"
	}"#;
    let run = |q: &str, lines: &[&str]| -> Result<Vec<(String, f64)>, QueryError> {
        let mut m = MemStreams::new();
        let entries: Vec<Entry> = lines.iter().enumerate().map(|(i, l)| e(10 + i as i64, l)).collect();
        m.push(T, labels(&[("app", "nginx"), ("cluster", "us-central-west")]), entries);
        instant_q(&[&m], q, 60).map(vector)
    };
    let one = |labels: &str, v: f64| Ok(vec![(labels.to_string(), v)]);
    assert_eq!(
        run(
            r#"sum by (request_host,app) (count_over_time({app="nginx"} | json | __error__="" | response_status = 204 [1m]))"#,
            &[JSON_LINE]
        ),
        one(r#"{app="nginx", request_host="foo.grafana.net"}"#, 1.0)
    );
    assert_eq!(
        run(
            r#"sum(sum_over_time({app="nginx"} | json | response_status = 204 | unwrap response_latency_seconds [1m]))"#,
            &[JSON_LINE]
        ),
        one("{}", 30.001)
    );
    assert_eq!(
        run(
            r#"sum by (org_id,app) (sum_over_time({app="nginx"} | logfmt | org_id=3677 | unwrap Ingester_TotalReached [1m]))"#,
            &[
                "ts=2021-02-02T14:35:05.983992774Z caller=spanlogger.go:79 org_id=3677 traceID=2e5c7234b8640997 Ingester.TotalReached=15"
            ]
        ),
        one(r#"{app="nginx", org_id="3677"}"#, 15.0)
    );
    assert_eq!(
        run(r#"sum(count_over_time({app="nginx"} | json | nonexistant_field="foo" [1m]))"#, &[JSON_LINE]),
        Ok(vec![])
    );
    assert_eq!(
        run(r#"sum by (cluster_extracted) (count_over_time({app="nginx"} | unpack [1m]))"#, &[PACKED_LINE]),
        one(r#"{cluster_extracted="us-east-west"}"#, 1.0)
    );
    assert_eq!(
        run(
            r#"sum by (message_message,app) (count_over_time({app="nginx"} | json | response_status = 204 and remote_user = "foo" [1m]))"#,
            &[JSON_LINE]
        ),
        one(r#"{app="nginx", message_message="foo"}"#, 1.0)
    );

    // No label needed (`sum` pushed down without grouping, `by ()`,
    // `absent_over_time`; `drop` and `keep` need none): `json`, `logfmt`, `pattern` and `unpack` do not
    // run, so lines they cannot read raise no error ...
    let bad = ["not json", r#"{"a": tru}"#, JSON_LINE];
    assert_eq!(run(r#"sum(count_over_time({app="nginx"} | json [1m]))"#, &bad), one("{}", 3.0));
    assert_eq!(run(r#"sum(count_over_time({app="nginx"} | json | drop a | keep b [1m]))"#, &bad), one("{}", 3.0));
    assert_eq!(run(r#"sum(count_over_time({app="nginx"} | json | line_format "x" [1m]))"#, &bad), one("{}", 3.0));
    assert_eq!(run(r#"sum(count_over_time({app="nginx"} | logfmt --strict [1m]))"#, &["a=\"b"]), one("{}", 1.0));
    assert_eq!(run(r#"absent_over_time({app="nginx"} | json [1m])"#, &bad), Ok(vec![]));
    // ... and `unpack` does not replace the line with `_entry`.
    assert_eq!(
        run(r#"sum(bytes_over_time({app="nginx"} | unpack [1m]))"#, &[PACKED_LINE]),
        one("{}", PACKED_LINE.len() as f64)
    );
    // Without the push-down every label is extracted: the error fails the query.
    assert!(run(r#"count_over_time({app="nginx"} | json [1m])"#, &bad).is_err());
    assert!(run(r#"max(count_over_time({app="nginx"} | json [1m]))"#, &bad).is_err());
    // A template field is required: parsing runs.
    assert!(run(r#"sum(count_over_time({app="nginx"} | json | line_format "{{.a}}" [1m]))"#, &bad).is_err());

    // Parsing stops once every required label is extracted: a broken rest
    // of the line, or a nested object no required label starts with, is
    // never read.
    let lines = [r#"{"level":"info", "x": broken"#, r#"{"x": {"y" 1}, "level": "warn"}"#];
    assert_eq!(
        run(r#"sum by (level) (count_over_time({app="nginx"} | json [1m]))"#, &lines),
        Ok(vec![(r#"{level="info"}"#.into(), 1.0), (r#"{level="warn"}"#.into(), 1.0)])
    );
    assert_eq!(
        run(r#"sum by (level) (count_over_time({app="nginx"} | logfmt --strict [1m]))"#, &["level=info msg=\"broken"]),
        one(r#"{level="info"}"#, 1.0)
    );
    assert!(run(r#"sum by (x_y) (count_over_time({app="nginx"} | json [1m]))"#, &lines).is_err());

    // `__error__` among the required labels makes parser errors results.
    assert_eq!(
        run(r#"sum by (__error__) (count_over_time({app="nginx"} | json [1m]))"#, &["not json", r#"{"a":1}"#]),
        Ok(vec![("{}".into(), 1.0), (r#"{__error__="JSONParserErr"}"#.into(), 1.0)])
    );
}

#[test]
fn lines_storage_skips_on_a_line_hint_still_count_as_processed() {
    let m = one_reader();
    let stats = |q: &str| {
        let expr = parse_sample_expr(q).unwrap();
        let mq = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() };
        eval_range(&[&m], &mq, 100 * S, 100 * S, S).unwrap().1
    };
    // MemStreams leaves out every line the hint rules out; app=a has 10
    // lines in (0s, 100s], 3 of them errors.
    let all = stats(r#"count_over_time({app="a"} [100s])"#);
    let hinted = stats(r#"count_over_time({app="a"} |= "level=error" [100s])"#);
    assert_eq!(all.lines_processed, 10);
    assert_eq!((hinted.lines_processed, hinted.bytes_processed), (all.lines_processed, all.bytes_processed));
    assert_eq!(
        vector(instant_q(&[&m], r#"sum(count_over_time({app="a"} |= "level=error" [100s]))"#, 100).unwrap()),
        [("{}".to_string(), 3.0)]
    );
}
