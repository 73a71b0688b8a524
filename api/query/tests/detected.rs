//! `balsa_query::detected` against Loki 3.7.6's own test cases, as tables.
//! Each table names the Go test its rows come from; rows marked "Go" are
//! facts of Go's parsers (`strconv`, `time.ParseDuration`, go-humanize)
//! that `determineType` relies on.

use balsa_logql::parse_log_expr;
use balsa_model::{Direction, Entry, LabelPair, Labels, MemStreams, StreamReader};
use balsa_query::LogQuery;
use balsa_query::detected::{
    DetectedField, FieldType, detected_field_values, detected_fields, detected_labels, determine_type, humanize_bytes,
    labels_of_series, should_reject_label,
};

const T: &str = "fake";
const S: i64 = 1_000_000_000;

fn labels(s: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(s.iter().copied())
}

fn with_sm(ts: i64, line: &str, sm: &[(&str, &str)]) -> Entry {
    let mut e = Entry::new(ts, line);
    e.structured_metadata = sm.iter().map(|(n, v)| LabelPair { name: n.to_string(), value: v.to_string() }).collect();
    e
}

fn query<'a>(expr: &'a balsa_logql::LogExpr, line_limit: usize) -> LogQuery<'a> {
    LogQuery {
        tenant: T,
        expr,
        start_ns: 0,
        end_ns: 1_000 * S,
        limit: line_limit,
        direction: Direction::Backward,
        interval_ns: 0,
        deadline: None,
    }
}

fn fields(m: &MemStreams, q: &str, line_limit: usize, limit: usize) -> Vec<DetectedField> {
    let expr = parse_log_expr(q).unwrap();
    detected_fields(&[m as &dyn StreamReader], &query(&expr, line_limit), limit).unwrap()
}

fn values(m: &MemStreams, q: &str, limit: usize, name: &str) -> Vec<String> {
    let expr = parse_log_expr(q).unwrap();
    detected_field_values(&[m as &dyn StreamReader], &query(&expr, 1000), limit, name).unwrap()
}

fn field<'a>(fs: &'a [DetectedField], name: &str) -> &'a DetectedField {
    fs.iter().find(|f| f.label == name).unwrap_or_else(|| panic!("no field {name} in {fs:?}"))
}

#[test]
fn type_inference() {
    use FieldType::*;
    let table: &[(&str, FieldType, &str)] = &[
        // TestQuerier_DetectedFields "correctly identifies different field types" (mock logfmt line).
        ("line 1", String, "detected_fields_test.go message"),
        ("2", Int, "detected_fields_test.go count"),
        ("20MB", Bytes, "detected_fields_test.go bytes"),
        ("512ms", Duration, "detected_fields_test.go duration"),
        ("20.000000", Float, "detected_fields_test.go percent"),
        ("true", Boolean, "detected_fields_test.go even"),
        // TestNestedJSONFieldDetection.
        ("123", Int, "TestNestedJSONFieldDetection user_id"),
        ("1.0", Float, "TestNestedJSONFieldDetection app_version"),
        ("45.6", Float, "TestNestedJSONFieldDetection app_metrics_cpu"),
        ("1.5GB", Bytes, "TestNestedJSONFieldDetection app_metrics_memory"),
        ("false", Boolean, "TestNestedJSONFieldDetection user_settings_notifications"),
        ("dark", String, "TestNestedJSONFieldDetection user_settings_theme"),
        // Go: the order of determineType's parsers decides.
        ("1", Int, "Go: ParseInt before ParseBool"),
        ("-7", Int, "Go: ParseInt takes a sign"),
        ("99999999999999999999", Float, "Go: out of int64 range, still a float"),
        ("1e3", Float, "Go: ParseFloat"),
        ("NaN", Float, "Go: ParseFloat accepts NaN and Inf"),
        ("-Inf", Float, "Go: ParseFloat"),
        ("1e400", String, "Go: ParseFloat's range error"),
        ("T", Boolean, "Go: ParseBool"),
        ("False", Boolean, "Go: ParseBool"),
        ("yes", String, "Go: ParseBool refuses yes"),
        ("5m", Duration, "Go: ParseDuration before ParseBytes"),
        ("1h30m", Duration, "Go: ParseDuration"),
        ("1.5µs", Duration, "Go: ParseDuration"),
        ("10 KiB", Bytes, "go-humanize ParseBytes"),
        ("1,000", Bytes, "go-humanize ParseBytes drops commas"),
        ("5MB", Bytes, "go-humanize ParseBytes"),
        ("", String, "Go: every parser refuses the empty string"),
        ("1_000", String, "Go: no underscores in base 10"),
    ];
    for (value, want, source) in table {
        assert_eq!(determine_type(value), *want, "{value:?} ({source})");
    }
}

#[test]
fn label_relevance() {
    // TestQuerier_DetectedLabels, querier_test.go.
    let table: &[(&[&str], bool, &str)] = &[
        (&["1", "2", "3", "4"], true, "all-ints"),
        (&["1.2", "2.3", "3.4", "4.5"], true, "all-floats"),
        (
            &[
                "751e8ee6-b377-4b2e-b7b5-5508fbe980ef",
                "6b7e2663-8ecb-42e1-8bdc-0c5de70185b3",
                "2e1e67ff-be4f-47b8-aee1-5d67ff1ddabf",
                "c95b2d62-74ed-4ed7-a8a1-eb72fc67946e",
            ],
            true,
            "all-uuids",
        ),
        (&["0", "1"], false, "boolean-ints"),
        (&["true", "false"], false, "boolean-bools"),
        (&["TRUE", "FALSE"], false, "boolean-bools-uppercase"),
        (&["751e8ee6-b377-4b2e-b7b5-5508fbe980ef"], true, "single-id"),
        (&["6", "7"], true, "non-boolean-ints"),
        (&["val1", "val2"], false, "storeLabel"),
        (&["abc", "def", "ghi"], false, "ingesterLabel"),
        (&[], true, "label is not present when the values are nil"),
        // shouldRejectLabel: one non-ID value keeps the label.
        (&["1", "2", "x"], false, "shouldRejectLabel"),
    ];
    for (vals, reject, source) in table {
        assert_eq!(should_reject_label(vals), *reject, "{vals:?} ({source})");
    }
}

#[test]
fn detected_labels_keep_static_labels_and_count_values() {
    // TestQuerier_DetectedLabels "static labels are always returned no matter
    // their cardinality or value types", and the combined-response case.
    let many: Vec<String> = (0..60).map(|i| format!("a{i}")).collect();
    let mut series = Vec::new();
    for (i, ns) in many.iter().enumerate() {
        let pod = ((i % 4) + 1).to_string();
        series.push(labels(&[("cluster", "val1"), ("namespace", ns), ("pod", &pod), ("id", &i.to_string())]));
    }
    series.push(labels(&[("ingesterLabel", "abc")]));
    series.push(labels(&[("ingesterLabel", "def")]));
    series.push(labels(&[("ingesterLabel", "ghi")]));
    let got: Vec<(String, u64)> = labels_of_series(&series).into_iter().map(|l| (l.label, l.cardinality)).collect();
    let want = [("cluster", 1), ("ingesterLabel", 3), ("namespace", 60), ("pod", 4)];
    assert_eq!(got, want.map(|(l, c)| (l.to_string(), c)), "id (all numbers) is left out");
}

#[test]
fn detected_labels_read_only_the_selected_streams_of_the_tenant() {
    let mut m = MemStreams::new();
    m.push(T, labels(&[("app", "a"), ("env", "prod")]), [Entry::new(5 * S, "x")]);
    m.push(T, labels(&[("app", "b"), ("env", "dev")]), [Entry::new(5 * S, "x")]);
    m.push(T, labels(&[("app", "c"), ("env", "old")]), [Entry::new(500 * S, "x")]);
    m.push("other", labels(&[("app", "z"), ("secret", "s")]), [Entry::new(5 * S, "x")]);
    let run = |sel: &str, end: i64| {
        let matchers = if sel.is_empty() { Vec::new() } else { balsa_logql::parse_matchers(sel).unwrap() };
        detected_labels(&[&m as &dyn StreamReader], T, 0, end, &matchers)
            .unwrap()
            .into_iter()
            .map(|l| format!("{}={}", l.label, l.cardinality))
            .collect::<Vec<_>>()
    };
    assert_eq!(run("", 1000 * S), ["app=3", "env=3"]);
    assert_eq!(run("", 10 * S), ["app=2", "env=2"], "streams without data in range are left out");
    assert_eq!(run(r#"{env="prod"}"#, 1000 * S), ["app=1", "env=1"]);
}

/// Loki's `mockLogfmtStreamWithLabelsAndStructuredMetadata(1, n, lbls)`: line
/// i (n down to 1) at i seconds; metadata `constant` and `variable=value<i>`
/// (Loki's mock gives every entry all n `variable` values; one per entry
/// gives the same count).
fn mock_logfmt(m: &mut MemStreams, n: i64, stream: &[(&str, &str)], sm: bool) {
    let entries: Vec<Entry> = (1..=n)
        .map(|i| {
            let line = format!(
                r#"message="line {i}" count={i} fake=true bytes={}MB duration={}ms percent={:.6} even={} name=bar"#,
                i * 10,
                i * 256,
                (i * 10) as f32,
                i % 2 == 0
            );
            let variable = format!("value{i}");
            let meta: Vec<(&str, &str)> =
                if sm { vec![("constant", "constant"), ("variable", variable.as_str())] } else { Vec::new() };
            with_sm(i * S, &line, &meta)
        })
        .collect();
    m.push(T, labels(stream), entries);
}

#[test]
fn detected_fields_of_lokis_mock_streams() {
    // TestQuerier_DetectedFields, detected_fields_test.go: query
    // `{type="test"} | logfmt | json`, line and field limits 1000.
    let q = r#"{type="test"} | logfmt | json"#;
    let card =
        |fs: &[DetectedField]| -> Vec<(String, u64)> { fs.iter().map(|f| (f.label.clone(), f.cardinality)).collect() };

    // "returns detected fields from queried logs": 8 fields.
    let mut m = MemStreams::new();
    mock_logfmt(&mut m, 5, &[("type", "test"), ("name", "foo")], false);
    let fs = fields(&m, q, 1000, 1000);
    let want = [
        ("bytes", 5),
        ("count", 5),
        ("duration", 5),
        ("even", 2),
        ("fake", 1),
        ("message", 5),
        ("name_extracted", 1),
        ("percent", 5),
    ];
    assert_eq!(card(&fs), want.map(|(l, c)| (l.to_string(), c)));

    // "correctly identifies different field types" (2 lines).
    let mut m = MemStreams::new();
    mock_logfmt(&mut m, 2, &[("type", "test"), ("name", "foo")], false);
    let fs = fields(&m, q, 1000, 1000);
    for (name, kind) in [
        ("message", FieldType::String),
        ("count", FieldType::Int),
        ("bytes", FieldType::Bytes),
        ("duration", FieldType::Duration),
        ("percent", FieldType::Float),
        ("even", FieldType::Boolean),
        ("name_extracted", FieldType::String),
    ] {
        assert_eq!(field(&fs, name).kind, kind, "{name}");
        assert_eq!(field(&fs, name).parsers.as_deref(), Some(&["logfmt".to_string()][..]), "{name}");
        assert_eq!(field(&fs, name).json_path, None, "{name}");
    }

    // "returns detected fields with structured metadata from queried logs":
    // 10 fields; metadata has no parser ("correctly identifies parser to use
    // with logfmt and structured metadata").
    let mut m = MemStreams::new();
    mock_logfmt(&mut m, 5, &[("type", "test"), ("name", "bob")], true);
    let fs = fields(&m, q, 1000, 1000);
    assert_eq!(fs.len(), 10);
    assert_eq!(field(&fs, "variable").cardinality, 5);
    assert_eq!(field(&fs, "constant").cardinality, 1);
    assert_eq!(field(&fs, "constant").parsers, None);
    assert_eq!(field(&fs, "variable").parsers, None);
    assert_eq!(field(&fs, "name_extracted").cardinality, 1);

    // The field limit keeps the first fields found.
    assert_eq!(fields(&m, q, 1000, 3).len(), 3);
    // The line limit keeps the newest lines: 2 lines, 2 counts.
    assert_eq!(field(&fields(&m, q, 2, 1000), "count").cardinality, 2);
}

#[test]
fn detected_fields_without_parsers_in_the_query() {
    // Test_parseDetectedFields "when no parsers are supplied": a logfmt
    // stream and a JSON stream with `detected_level` metadata.
    let mut m = MemStreams::new();
    let ruler = [
        "ts=2024-09-05T15:36:38.757788067Z caller=grpc_logging.go:66 tenant=2419 level=info method=/cortex.Ingester/Push duration=19.098s msg=gRPC",
        "ts=2024-09-05T15:36:38.698375619Z caller=grpc_logging.go:66 tenant=29 level=info method=/cortex.Ingester/Push duration=5.471s msg=gRPC",
        "ts=2024-09-05T15:36:38.629424175Z caller=grpc_logging.go:66 tenant=2919 level=info method=/cortex.Ingester/Push duration=29.234s msg=gRPC",
    ];
    let nginx = [
        r#"{"host":"100.117.38.203", "user-identifier":"nader3722", "datetime":"05/Sep/2024:16:13:56 +0000", "method": "PATCH", "request": "/api/loki/v1/push", "protocol":"HTTP/2.0", "status":200, "bytes":9664, "referer": "https://www.seniorbleeding-edge.net/exploit/robust/whiteboard"}"#,
        r#"{"host":"66.134.9.30", "user-identifier":"-", "datetime":"05/Sep/2024:16:13:55 +0000", "method": "DELETE", "request": "/api/mimir/v1/push", "protocol":"HTTP/1.1", "status":200, "bytes":18688, "referer": "https://www.districtiterate.biz/synergistic/next-generation/extend"}"#,
        r#"{"host":"66.134.9.30", "user-identifier":"-", "datetime":"05/Sep/2024:16:13:55 +0000", "method": "GET", "request": "/api/loki/v1/label/names", "protocol":"HTTP/1.1", "status":200, "bytes":9314, "referer": "https://www.dynamicimplement.info/enterprise/distributed/incentivize/strategic"}"#,
    ];
    // "correctly applies _extracted for multiple streams": tenant, caller
    // and host are stream labels too.
    m.push(
        T,
        labels(&[
            ("cluster", "us-east-1"),
            ("namespace", "mimir-dev"),
            ("pod", "mimir-ruler-nfb37"),
            ("service_name", "mimir-ruler"),
            ("tenant", "42"),
            ("caller", "inside-the-house"),
        ]),
        ruler.iter().enumerate().map(|(i, l)| with_sm((i as i64 + 1) * S, l, &[("detected_level", "info")])),
    );
    m.push(
        T,
        labels(&[
            ("cluster", "eu-west-1"),
            ("level", "debug"),
            ("namespace", "gateway"),
            ("pod", "nginx-json-oghco"),
            ("service_name", "nginx-json"),
            ("host", "localhost"),
        ]),
        nginx.iter().enumerate().map(|(i, l)| with_sm((i as i64 + 1) * S, l, &[("detected_level", "debug")])),
    );
    let fs = fields(&m, r#"{cluster=~".+"}"#, 1000, 20);
    let parsers = |name: &str| field(&fs, name).parsers.clone();
    for name in ["ts", "caller_extracted", "tenant_extracted", "level", "duration", "msg"] {
        assert_eq!(parsers(name), Some(vec!["logfmt".to_string()]), "{name}");
    }
    for name in ["host_extracted", "user_identifier", "datetime", "request", "protocol", "status", "bytes", "referer"] {
        assert_eq!(parsers(name), Some(vec!["json".to_string()]), "{name}");
    }
    // `method` is in both; the logfmt stream sorts first.
    assert_eq!(parsers("method"), Some(vec!["logfmt".to_string(), "json".to_string()]));
    assert_eq!(parsers("detected_level"), None);
    assert_eq!(field(&fs, "detected_level").cardinality, 2);
    assert_eq!(field(&fs, "host_extracted").json_path, Some(vec!["host".to_string()]));
    assert_eq!(field(&fs, "user_identifier").json_path, Some(vec!["user-identifier".to_string()]));
    // A field found by both parsers keeps the path of the last JSON line.
    assert_eq!(field(&fs, "method").json_path, Some(vec!["method".to_string()]));
    assert_eq!(field(&fs, "status").kind, FieldType::Int);
    assert_eq!(field(&fs, "duration").kind, FieldType::Duration);
    assert_eq!(field(&fs, "tenant_extracted").kind, FieldType::Int);
    assert_eq!(field(&fs, "tenant_extracted").cardinality, 3);
}

#[test]
fn nested_json_fields_and_their_paths() {
    // TestNestedJSONFieldDetection, both cases (the second has trailing
    // commas, which Loki's lenient JSON parser accepts).
    let lines = [
        r#"{"user":{"id":123,"name":"alice","settings":{"theme":"dark","notifications":true}},"app":{"version":"1.0","metrics":{"cpu":45.6,"memory":"1.5GB"}}}"#,
        r#"{"user":{"id":456,"name":"bob","settings":{"theme":"light","notifications":false}},"app":{"version":"1.0","metrics":{"cpu":32.1,"memory":"2.0GB"}}}"#,
        r#"{
        "user":{ "id":123, "name":"alice", "settings":{ "theme":"dark", "notifications":true, } },
        "app-id": "abc", "app_name": "foo",
        "app": { "terrible/key/name": "four", },
        "other.bad.key.name": "three",
        "key with spaces": "space",
        "nested key with spaces": { "nest": "thermostat", }
      }"#,
    ];
    let mut m = MemStreams::new();
    let stream = labels(&[("cluster", "test-cluster"), ("job", "json-test")]);
    m.push(T, stream, lines.iter().enumerate().map(|(i, l)| Entry::new((i as i64 + 1) * S, *l)));
    let fs = fields(&m, r#"{job="json-test"}"#, 1000, 100);
    let table: &[(&str, FieldType, &[&str])] = &[
        ("user_id", FieldType::Int, &["user", "id"]),
        ("user_name", FieldType::String, &["user", "name"]),
        ("user_settings_theme", FieldType::String, &["user", "settings", "theme"]),
        ("user_settings_notifications", FieldType::Boolean, &["user", "settings", "notifications"]),
        ("app_version", FieldType::Float, &["app", "version"]),
        ("app_metrics_cpu", FieldType::Float, &["app", "metrics", "cpu"]),
        ("app_metrics_memory", FieldType::Bytes, &["app", "metrics", "memory"]),
        ("app_id", FieldType::String, &["app-id"]),
        ("app_name", FieldType::String, &["app_name"]),
        ("app_terrible_key_name", FieldType::String, &["app", "terrible/key/name"]),
        ("other_bad_key_name", FieldType::String, &["other.bad.key.name"]),
        ("key_with_spaces", FieldType::String, &["key with spaces"]),
        ("nested_key_with_spaces_nest", FieldType::String, &["nested key with spaces", "nest"]),
    ];
    for (name, kind, path) in table {
        let f = field(&fs, name);
        assert_eq!(f.kind, *kind, "{name}");
        assert_eq!(f.json_path.as_deref(), Some(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]), "{name}");
    }
}

#[test]
fn field_values() {
    // TestQuerier_DetectedFields "returns values for a detected fields" and
    // "... enforcing the limit and removing duplicates".
    let mut m = MemStreams::new();
    mock_logfmt(&mut m, 5, &[("type", "test"), ("name", "bob")], true);
    let q = r#"{type="test"} | logfmt | json"#;
    assert_eq!(values(&m, q, 1000, "message"), ["line 1", "line 2", "line 3", "line 4", "line 5"]);
    assert_eq!(values(&m, q, 3, "message").len(), 3);
    assert_eq!(values(&m, q, 3, "name"), Vec::<String>::new(), "name is a stream label: its field is name_extracted");
    assert_eq!(values(&m, q, 3, "name_extracted"), ["bar"]);
    assert_eq!(values(&m, q, 1000, "variable").len(), 5, "structured metadata values");

    // "correctly formats bytes values for detected fields".
    let mut m = MemStreams::new();
    let lines = [
        "ts=2024-09-05T15:36:38.757788067Z caller=metrics.go:66 tenant=2419 level=info bytes=1024",
        r#"ts=2024-09-05T15:36:38.698375619Z caller=grpc_logging.go:66 tenant=29 level=info bytes="1024 MB""#,
        "ts=2024-09-05T15:36:38.629424175Z caller=grpc_logging.go:66 tenant=2919 level=info bytes=1024KB",
    ];
    m.push(
        T,
        labels(&[("cluster", "us-east-1"), ("namespace", "mimir-dev")]),
        lines.iter().enumerate().map(|(i, l)| with_sm((i as i64 + 1) * S, l, &[("detected_level", "info")])),
    );
    let q = r#"{cluster="us-east-1"} | logfmt"#;
    assert_eq!(values(&m, q, 3, "bytes"), ["1.0GB", "1.0MB", "1024"]);
    assert_eq!(values(&m, q, 3, "tenant"), ["2419", "29", "2919"]);
}

#[test]
fn humanized_bytes() {
    // go-humanize's Bytes (SI), as Loki prints byte values.
    let table: &[(u64, &str)] = &[
        (0, "0B"),
        (9, "9B"),
        (512, "512B"),
        (1024, "1.0kB"),
        (1_024_000, "1.0MB"),
        (1_024_000_000, "1.0GB"),
        (5_000_000, "5.0MB"),
        (15_500_000, "16MB"),
        (82_854_982, "83MB"),
    ];
    for (n, want) in table {
        assert_eq!(humanize_bytes(*n), *want, "{n}");
    }
}
