//! Query execution against in-memory shards (`MemStreams`).

use balsa_logql::{parse_log_expr, parse_matchers, parse_sample_expr};
use balsa_model::{
    Direction, Entry, LabelPair, Labels, LineHint, MemStreams, ReadError, Skipped, StreamId, StreamReader, StreamRef,
};
use balsa_query::*;

const T: &str = "fake";

fn labels(s: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(s.iter().copied())
}

fn e(ts: i64, line: &str) -> Entry {
    Entry::new(ts, line)
}

fn run(readers: &[&dyn StreamReader], q: &str, start: i64, end: i64, limit: usize, dir: Direction) -> LogQueryResult {
    let expr = parse_log_expr(q).unwrap();
    run_log_query(
        readers,
        &LogQuery {
            tenant: T,
            expr: &expr,
            start_ns: start,
            end_ns: end,
            limit,
            direction: dir,
            interval_ns: 0,
            deadline: None,
        },
    )
    .unwrap()
}

/// (labels canonical, lines) per stream.
fn shape(r: &LogQueryResult) -> Vec<(String, Vec<String>)> {
    r.streams.iter().map(|s| (s.labels.canonical(), s.entries.iter().map(|e| e.line.clone()).collect())).collect()
}

fn selection_fixture() -> MemStreams {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "app")]), [e(1, "from app")]);
    m.push(T, labels(&[("app", "ap")]), [e(1, "from ap")]);
    m.push(T, labels(&[("app", "api"), ("env", "prod")]), [e(1, "from api")]);
    m.push(T, labels(&[("app", "web"), ("env", "dev")]), [e(1, "from web")]);
    m.push("other", labels(&[("app", "ap")]), [e(1, "other tenant")]);
    m
}

fn selected(m: &MemStreams, q: &str) -> Vec<String> {
    let r = run(&[m], q, 0, 10, 100, Direction::Forward);
    r.streams.iter().map(|s| s.labels.get("app").unwrap().to_string()).collect()
}

#[test]
fn selection_with_all_matcher_operators() {
    let m = selection_fixture();
    assert_eq!(selected(&m, r#"{app="ap"}"#), ["ap"]);
    assert_eq!(selected(&m, r#"{app=~"ap"}"#), ["ap"], "regex must be anchored");
    assert_eq!(selected(&m, r#"{app=~"ap.*"}"#), ["ap", "api", "app"]);
    assert_eq!(selected(&m, r#"{app=~"ap|web"}"#), ["ap", "web"]);
    assert_eq!(selected(&m, r#"{app!="ap", env=~".+"}"#), ["api", "web"]);
    assert_eq!(selected(&m, r#"{app!~"ap.*", app=~".+"}"#), ["web"]);
    assert_eq!(selected(&m, r#"{app=~".+", env!~"pr.*"}"#), ["ap", "app", "web"], "missing label matches as empty");
    assert_eq!(selected(&m, r#"{app=~"(?i)WEB"}"#), ["web"]);
    assert!(selected(&m, r#"{app="nope"}"#).is_empty());
}

#[test]
fn line_filters_and_stats() {
    let mut m = MemStreams::new();
    m.push(
        T,
        labels(&[("app", "x")]),
        [
            e(1, "level=info msg=started"),
            e(2, "level=error msg=boom"),
            e(3, "level=ERROR msg=loud"),
            e(4, "level=warn msg=disk client=10.0.0.7"),
            e(5, "GET /api 200"),
        ],
    );
    let lines = |q: &str| -> Vec<String> {
        let r = run(&[&m], q, 0, 100, 100, Direction::Forward);
        r.streams.iter().flat_map(|s| s.entries.iter().map(|e| e.line.clone())).collect()
    };
    assert_eq!(lines(r#"{app="x"} |= "level=error""#), ["level=error msg=boom"]);
    assert_eq!(lines(r#"{app="x"} |~ "(?i)level=error""#), ["level=error msg=boom", "level=ERROR msg=loud"]);
    assert_eq!(lines(r#"{app="x"} != "level""#), ["GET /api 200"]);
    assert_eq!(lines(r#"{app="x"} !~ "level=(info|warn)" |= "msg""#), ["level=error msg=boom", "level=ERROR msg=loud"]);
    assert_eq!(
        lines(r#"{app="x"} |= "boom" or "disk""#),
        ["level=error msg=boom", "level=warn msg=disk client=10.0.0.7"]
    );
    assert_eq!(lines(r#"{app="x"} != "level" or "boom""#), ["GET /api 200"]);
    assert_eq!(lines(r#"{app="x"} |> "<_> /api <_>""#), ["GET /api 200"]);
    assert_eq!(lines(r#"{app="x"} !> "level=<_> msg=<_>""#), ["GET /api 200"]);
    assert_eq!(lines(r#"{app="x"} |= ip("10.0.0.0/24")"#), ["level=warn msg=disk client=10.0.0.7"]);
    assert_eq!(lines(r#"{app="x"} | app="x" |= "GET""#), ["GET /api 200"]);
    assert!(lines(r#"{app="x"} | app!="x""#).is_empty());

    let r = run(&[&m], r#"{app="x"} |= "level""#, 0, 100, 2, Direction::Forward);
    assert_eq!(r.stats.streams_matched, 1);
    assert_eq!(r.stats.lines_processed, 2, "reading stops once the stream has `limit` matches");
    assert_eq!(r.stats.entries_returned, 2);
    let r = run(&[&m], r#"{app="x"} |= "nothing""#, 0, 100, 2, Direction::Forward);
    assert_eq!(r.stats.lines_processed, 5);
    assert_eq!(r.stats.bytes_processed, m_bytes(&m));
    assert!(r.streams.is_empty());
}

fn m_bytes(m: &MemStreams) -> u64 {
    let mut total = 0;
    for s in m.streams(T, i64::MIN, i64::MAX, &mut |_| true).unwrap() {
        m.entries(T, s.id, i64::MIN, i64::MAX, Direction::Forward, &mut |e| {
            total += e.size() as u64;
            true
        })
        .unwrap();
    }
    total
}

fn two_shards() -> (MemStreams, MemStreams) {
    let mut a = MemStreams::new();
    let mut b = MemStreams::new();
    a.push(T, labels(&[("app", "a")]), [e(10, "a10"), e(30, "a30"), e(50, "a50"), e(70, "a70")]);
    b.push(T, labels(&[("app", "b")]), [e(20, "b20"), e(40, "b40"), e(50, "b50"), e(60, "b60")]);
    b.push(T, labels(&[("app", "c"), ("x", "y")]), [e(5, "c5")]);
    (a, b)
}

#[test]
fn merge_with_limit_and_direction_across_readers() {
    let (a, b) = two_shards();
    let readers: [&dyn StreamReader; 2] = [&a, &b];
    let q = r#"{app=~"a|b"}"#;

    let r = run(&readers, q, 0, 100, 3, Direction::Backward);
    assert_eq!(
        shape(&r),
        vec![(r#"{app="a"}"#.into(), vec!["a70".into()]), (r#"{app="b"}"#.into(), vec!["b60".into(), "b50".into()])]
    );
    assert_eq!(r.stats.entries_returned, 3);

    let r = run(&readers, q, 0, 100, 4, Direction::Forward);
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="a"}"#.into(), vec!["a10".into(), "a30".into()]),
            (r#"{app="b"}"#.into(), vec!["b20".into(), "b40".into()])
        ]
    );

    // ties at ts=50 are broken by stream labels: forward a before b
    let r = run(&readers, q, 50, 51, 1, Direction::Forward);
    assert_eq!(shape(&r), vec![(r#"{app="a"}"#.into(), vec!["a50".into()])]);
    // ... and backward b before a
    let r = run(&readers, q, 50, 51, 1, Direction::Backward);
    assert_eq!(shape(&r), vec![(r#"{app="b"}"#.into(), vec!["b50".into()])]);

    // start inclusive, end exclusive
    let r = run(&readers, q, 30, 60, 100, Direction::Forward);
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="a"}"#.into(), vec!["a30".into(), "a50".into()]),
            (r#"{app="b"}"#.into(), vec!["b40".into(), "b50".into()])
        ]
    );

    // limit 0 = unlimited; all three streams with a broader selector
    let r = run(&readers, r#"{app=~".+"}"#, 0, 100, 0, Direction::Backward);
    assert_eq!(r.stats.entries_returned, 9);
    assert_eq!(r.streams.len(), 3);
    assert_eq!(r.streams[0].entries.iter().map(|e| e.ts_ns).collect::<Vec<_>>(), [70, 50, 30, 10]);

    // empty range
    assert!(run(&readers, q, 50, 50, 10, Direction::Forward).streams.is_empty());
}

#[test]
fn replicas_are_merged_and_deduplicated() {
    let (a, _) = two_shards();
    let copy = a.clone();
    let readers: [&dyn StreamReader; 2] = [&a, &copy];
    let r = run(&readers, r#"{app="a"}"#, 0, 100, 100, Direction::Forward);
    assert_eq!(shape(&r), vec![(r#"{app="a"}"#.into(), vec!["a10".into(), "a30".into(), "a50".into(), "a70".into()])]);
}

#[test]
fn structured_metadata_stays_attached() {
    let mut m = MemStreams::new();
    let mut entry = e(1, "hello");
    entry.structured_metadata = vec![LabelPair { name: "trace_id".into(), value: "abc".into() }];
    m.push(T, labels(&[("app", "x")]), [entry.clone(), e(2, "bye")]);
    let r = run(&[&m], r#"{app="x"}"#, 0, 10, 10, Direction::Forward);
    // Result streams are keyed by all labels, structured metadata included.
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="x"}"#.into(), vec!["bye".into()]),
            (r#"{app="x", trace_id="abc"}"#.into(), vec!["hello".into()]),
        ]
    );
    assert_eq!(r.streams[1].entries[0], LogEntry::from_entry(&entry));
    assert_eq!(r.streams[1].entries[0].stream_labels(&r.streams[1].labels), labels(&[("app", "x")]));
    // label filters see structured metadata
    let r = run(&[&m], r#"{app="x"} | trace_id="abc""#, 0, 10, 10, Direction::Forward);
    assert_eq!(r.streams.len(), 1);
    assert_eq!(r.streams[0].entries, vec![LogEntry::from_entry(&entry)]);
}

fn sm(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect()
}

#[test]
fn parsers_split_streams_by_final_labels() {
    let mut m = MemStreams::new();
    m.push(
        T,
        labels(&[("app", "x")]),
        [
            e(1, "level=info msg=a"),
            e(2, "level=error msg=b"),
            e(3, "level=info msg=c"),
            e(4, "not logfmt at all"),
            e(5, "level=error msg=e"),
        ],
    );
    let r = run(&[&m], r#"{app="x"} | logfmt | drop msg"#, 0, 10, 100, Direction::Forward);
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="x"}"#.into(), vec!["not logfmt at all".into()]),
            (r#"{app="x", level="error"}"#.into(), vec!["level=error msg=b".into(), "level=error msg=e".into()]),
            (r#"{app="x", level="info"}"#.into(), vec!["level=info msg=a".into(), "level=info msg=c".into()]),
        ]
    );
    assert_eq!(r.stats.lines_processed, 5);
    assert_eq!(r.stats.post_filter_lines, 5);
    let e2 = &r.streams[1].entries[0];
    assert_eq!(e2.parsed, sm(&[("level", "error")]));
    assert!(e2.structured_metadata.is_empty());
    assert_eq!(e2.stream_labels(&r.streams[1].labels), labels(&[("app", "x")]));

    // The limit counts entries across result streams, newest first.
    let r = run(&[&m], r#"{app="x"} | logfmt | drop msg"#, 0, 10, 2, Direction::Backward);
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="x"}"#.into(), vec!["not logfmt at all".into()]),
            (r#"{app="x", level="error"}"#.into(), vec!["level=error msg=e".into()]),
        ]
    );
    assert_eq!(r.stats.entries_returned, 2);

    // Filters on extracted labels, and line_format rewriting the line.
    let r = run(
        &[&m],
        r#"{app="x"} | logfmt | level="error" | line_format "{{.msg}}!" | label_format lvl=level"#,
        0,
        10,
        100,
        Direction::Forward,
    );
    assert_eq!(
        shape(&r),
        vec![
            (r#"{app="x", lvl="error", msg="b"}"#.into(), vec!["b!".into()]),
            (r#"{app="x", lvl="error", msg="e"}"#.into(), vec!["e!".into()])
        ]
    );
    assert_eq!(r.stats.post_filter_lines, 2);

    // Parse errors keep the line and label it.
    let r = run(&[&m], r#"{app="x"} | json | __error__!="""#, 0, 10, 100, Direction::Forward);
    assert_eq!(r.streams.len(), 1);
    assert_eq!(r.streams[0].entries.len(), 5);
    assert_eq!(
        r.streams[0].labels.canonical(),
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol", app="x"}"#
    );
    assert_eq!(r.streams[0].entries[0].parsed.len(), 2);
}

#[test]
fn structured_metadata_through_the_pipeline() {
    let mut m = MemStreams::new();
    let mut a = e(1, "level=info");
    a.structured_metadata = sm(&[("trace_id", "t1"), ("app", "shadow")]);
    let mut b = e(2, "level=warn");
    b.structured_metadata = sm(&[("trace_id", "t2")]);
    m.push(T, labels(&[("app", "x")]), [a, b]);
    let r = run(&[&m], r#"{app="x"} | logfmt | trace_id=~"t.""#, 0, 10, 100, Direction::Forward);
    assert_eq!(
        r.streams.iter().map(|s| s.labels.canonical()).collect::<Vec<_>>(),
        [
            r#"{app="x", app_extracted="shadow", level="info", trace_id="t1"}"#,
            r#"{app="x", level="warn", trace_id="t2"}"#,
        ]
    );
    let first = &r.streams[0].entries[0];
    assert_eq!(first.structured_metadata, sm(&[("app_extracted", "shadow"), ("trace_id", "t1")]));
    assert_eq!(first.parsed, sm(&[("level", "info")]));
    // keep applies to structured metadata and stream labels alike
    let r = run(&[&m], r#"{app="x"} | keep trace_id"#, 0, 10, 100, Direction::Forward);
    assert_eq!(
        r.streams.iter().map(|s| s.labels.canonical()).collect::<Vec<_>>(),
        [r#"{trace_id="t1"}"#, r#"{trace_id="t2"}"#]
    );
    assert_eq!(r.streams[0].entries[0].stream_labels(&r.streams[0].labels), Labels::default());
}

#[test]
fn replicas_are_deduplicated_after_the_pipeline() {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "x")]), [e(1, r#"{"a":"1"}"#), e(2, r#"{"a":"2"}"#)]);
    let copy = m.clone();
    let readers: [&dyn StreamReader; 2] = [&m, &copy];
    let r = run(&readers, r#"{app="x"} | json | line_format "{{.a}}""#, 0, 10, 100, Direction::Forward);
    assert_eq!(
        shape(&r),
        vec![(r#"{a="1", app="x"}"#.into(), vec!["1".into()]), (r#"{a="2", app="x"}"#.into(), vec!["2".into()])]
    );
    assert_eq!(r.stats.entries_returned, 2);
}

#[test]
fn bad_pipelines() {
    let m = MemStreams::new();
    for (q, msg) in [
        (r#"{app="x"} |~ "[""#, "parse error : stage '|~ \"[\"' : error parsing regexp: "),
        (r#"{app="x"} | label_format a=b, a="x""#, "multiple label name 'a' not allowed in a single format operation"),
        (
            r#"{app="x"} | json a="b..c""#,
            "cannot parse expression [b..c]: syntax error: unexpected DOT, expecting FIELD",
        ),
    ] {
        let expr = parse_log_expr(q).unwrap();
        let err = run_log_query(
            &[&m],
            &LogQuery {
                tenant: T,
                expr: &expr,
                start_ns: 0,
                end_ns: 1,
                limit: 1,
                direction: Direction::Forward,
                interval_ns: 0,
                deadline: None,
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadQuery, "{q}");
        assert_eq!(err.http_status(), 400);
        assert!(err.to_string().contains(msg), "{q}: {err}");
    }
}

struct Broken;

impl StreamReader for Broken {
    fn streams(
        &self,
        _: &str,
        _: i64,
        _: i64,
        _: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        Err(ReadError::new("disk on fire"))
    }

    fn entries_hinted(
        &self,
        _: &str,
        _: StreamId,
        _: i64,
        _: i64,
        _: Direction,
        _: &LineHint,
        _: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Skipped, ReadError> {
        Err(ReadError::new("disk on fire"))
    }
}

#[test]
fn log_queries_stop_at_their_deadline() {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "x")]), (0..10_000).map(|i| e(i, "a line")));
    let expr = parse_log_expr(r#"{app="x"} |= "absent""#).unwrap();
    let q = |deadline| LogQuery {
        tenant: T,
        expr: &expr,
        start_ns: 0,
        end_ns: 10_000,
        limit: 100,
        direction: Direction::Forward,
        interval_ns: 0,
        deadline,
    };
    // MemStreams skips what the hint rules out; a negative filter gives none,
    // so every line is visited (and the clock looked at while visiting).
    let scan = parse_log_expr(r#"{app="x"} != "a line""#).unwrap();
    let scan_q = |deadline| LogQuery { expr: &scan, ..q(deadline) };
    let past = Some(std::time::Instant::now());
    for query in [q(past), scan_q(past)] {
        let err = run_log_query(&[&m], &query).unwrap_err();
        assert_eq!(err, QueryError::Timeout, "{}", query.expr);
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }
    let later = Some(std::time::Instant::now() + std::time::Duration::from_secs(3600));
    let r = run_log_query(&[&m], &scan_q(later)).unwrap();
    assert_eq!(r.stats.lines_processed, 10_000, "a far deadline changes nothing");
}

#[test]
fn storage_errors_are_500() {
    let expr = parse_log_expr(r#"{app="x"}"#).unwrap();
    let err = run_log_query(
        &[&Broken],
        &LogQuery {
            tenant: T,
            expr: &expr,
            start_ns: 0,
            end_ns: 1,
            limit: 1,
            direction: Direction::Forward,
            interval_ns: 0,
            deadline: None,
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert_eq!(err.http_status(), 500);
    assert!(label_names(&[&Broken], T, 0, 1, &[]).is_err());
}

#[test]
fn label_and_series_queries_honour_time_ranges() {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "old"), ("team", "a")]), [e(10, "x")]);
    m.push(T, labels(&[("app", "new"), ("zone", "eu")]), [e(100, "y")]);
    let mut n = MemStreams::new();
    n.push(T, labels(&[("app", "new"), ("zone", "us"), ("team", "b")]), [e(110, "z")]);
    n.push("other", labels(&[("secret", "s")]), [e(100, "w")]);
    let readers: [&dyn StreamReader; 2] = [&m, &n];

    assert_eq!(label_names(&readers, T, 0, 1000, &[]).unwrap(), ["app", "team", "zone"]);
    assert_eq!(label_names(&readers, T, 50, 1000, &[]).unwrap(), ["app", "team", "zone"]);
    assert_eq!(label_names(&readers, T, 0, 50, &[]).unwrap(), ["app", "team"]);
    assert_eq!(label_names(&readers, T, 105, 1000, &[]).unwrap(), ["app", "team", "zone"]);
    let sel = parse_matchers(r#"{zone="eu"}"#).unwrap();
    assert_eq!(label_names(&readers, T, 0, 1000, &sel).unwrap(), ["app", "zone"]);

    assert_eq!(label_values(&readers, T, "app", 0, 1000, &[]).unwrap(), ["new", "old"]);
    assert_eq!(label_values(&readers, T, "app", 50, 1000, &[]).unwrap(), ["new"]);
    assert_eq!(label_values(&readers, T, "zone", 0, 1000, &[]).unwrap(), ["eu", "us"]);
    assert_eq!(label_values(&readers, T, "team", 0, 105, &[]).unwrap(), ["a"]);
    assert_eq!(label_values(&readers, T, "zone", 0, 1000, &parse_matchers(r#"{team="b"}"#).unwrap()).unwrap(), ["us"]);
    assert!(label_values(&readers, T, "nope", 0, 1000, &[]).unwrap().is_empty());

    let groups = vec![parse_matchers(r#"{app="new"}"#).unwrap(), parse_matchers(r#"{team=~"a|b"}"#).unwrap()];
    let got: Vec<String> = series(&readers, T, 0, 1000, &groups).unwrap().iter().map(Labels::canonical).collect();
    assert_eq!(got, [r#"{app="new", team="b", zone="us"}"#, r#"{app="new", zone="eu"}"#, r#"{app="old", team="a"}"#]);
    let got: Vec<String> = series(&readers, T, 0, 50, &groups).unwrap().iter().map(Labels::canonical).collect();
    assert_eq!(got, [r#"{app="old", team="a"}"#]);
    // the same stream on two readers is listed once
    let got = series(&[&m, &m], T, 0, 1000, &groups).unwrap();
    assert_eq!(got.len(), 2);
}

fn instant(q: &str) -> Result<InstantValue, QueryError> {
    let m = MemStreams::new();
    let expr = parse_sample_expr(q).unwrap();
    eval_instant(&[&m], &MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() }, 4_000_000_000)
        .map(|r| r.0)
}

fn vector(items: &[(&[(&str, &str)], f64)]) -> InstantValue {
    InstantValue::Vector(items.iter().map(|(l, v)| Sample { labels: labels(l), value: *v }).collect())
}

#[test]
fn grafana_health_check_and_literals() {
    assert_eq!(instant("vector(1)+vector(1)").unwrap(), vector(&[(&[], 2.0)]));
    assert_eq!(instant("1+1").unwrap(), InstantValue::Scalar(2.0));
    assert_eq!(instant("vector(3) * 2 - 1").unwrap(), vector(&[(&[], 5.0)]));
    assert_eq!(instant("10 / vector(4)").unwrap(), vector(&[(&[], 2.5)]));
    assert_eq!(instant("vector(1) > 2").unwrap(), vector(&[]));
    assert_eq!(instant("vector(3) > 2").unwrap(), vector(&[(&[], 3.0)]));
    assert_eq!(instant("vector(1) > bool 2").unwrap(), vector(&[(&[], 0.0)]));
    assert_eq!(instant("vector(1) == vector(1)").unwrap(), vector(&[(&[], 1.0)]));
    assert_eq!(instant("vector(1) and vector(2)").unwrap(), vector(&[(&[], 1.0)]));
    assert_eq!(instant("vector(1) unless vector(2)").unwrap(), vector(&[]));
    assert_eq!(instant("vector(1) or vector(2)").unwrap(), vector(&[(&[], 1.0)]));
    assert_eq!(instant("sum(vector(1) + vector(2))").unwrap(), vector(&[(&[], 3.0)]));
    assert_eq!(instant("count(vector(7))").unwrap(), vector(&[(&[], 1.0)]));
    assert_eq!(instant("topk(1, vector(7))").unwrap(), vector(&[(&[], 7.0)]));
    assert_eq!(instant("sort_desc(vector(7))").unwrap(), vector(&[(&[], 7.0)]));

    let m = MemStreams::new();
    let expr = parse_sample_expr("vector(1)+vector(1)").unwrap();
    let q = MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() };
    let (range, _) = eval_range(&[&m], &q, 0, 2_000_000_000, 1_000_000_000).unwrap();
    let points = vec![(0, 2.0), (1_000_000_000, 2.0), (2_000_000_000, 2.0)];
    assert_eq!(range, vec![Series { labels: Labels::default(), points }]);
    let expr = parse_sample_expr("1").unwrap();
    assert!(
        eval_range(&[&m], &MetricQuery { tenant: T, expr: &expr, limits: EvalLimits::default() }, 0, 1, 0).is_err()
    );
}

#[test]
fn interval_thins_entries_across_streams() {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "a")]), (0..10).map(|i| e(i * 10, &format!("a{i}"))));
    m.push(T, labels(&[("app", "b")]), [e(25, "b25"), e(31, "b31")]);
    let expr = parse_log_expr(r#"{app=~"a|b"}"#).unwrap();
    let run = |dir, interval_ns, limit| {
        let q = LogQuery {
            tenant: T,
            expr: &expr,
            start_ns: 0,
            end_ns: 1000,
            limit,
            direction: dir,
            interval_ns,
            deadline: None,
        };
        let r = run_log_query(&[&m], &q).unwrap();
        let mut ts: Vec<i64> = r.streams.iter().flat_map(|s| s.entries.iter().map(|e| e.ts_ns)).collect();
        ts.sort();
        ts
    };
    // Forward: 0, then the first entry at or after 0+25 (b25), then >= 50, >= 75 → 80.
    assert_eq!(run(Direction::Forward, 25, 100), [0, 25, 50, 80]);
    // Backward from 90: <= 65 → 60, <= 35 → 31, <= 6 → 0.
    assert_eq!(run(Direction::Backward, 25, 100), [0, 31, 60, 90]);
    // The limit counts returned entries only.
    assert_eq!(run(Direction::Forward, 25, 2), [0, 25]);
    assert_eq!(run(Direction::Forward, 0, 3), [0, 10, 20]);
}
