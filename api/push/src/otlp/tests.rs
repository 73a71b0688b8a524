//! The mapping, table-driven. Unless a case says otherwise, its expected
//! values are those of Loki v3.7.6's `pkg/loghttp/push/otlp_test.go` (the
//! test and case named in each row), translated from pdata builders to data.

use balsa_model::{LabelPair, PushRequest};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::*;

const NOW: u64 = 1_700_000_000_123_456_789;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Value::StringValue(v.into())) })
}
fn val(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}
fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue { key: k.into(), value: v, ..Default::default() }
}
fn map(pairs: Vec<KeyValue>) -> Option<AnyValue> {
    val(Value::KvlistValue(KeyValueList { values: pairs }))
}
fn record(body: &str) -> LogRecord {
    LogRecord { time_unix_nano: NOW, body: s(body), ..Default::default() }
}
fn request(
    resource: Vec<KeyValue>,
    scope: Option<InstrumentationScope>,
    records: Vec<LogRecord>,
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_logs: vec![ScopeLogs { scope, log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}
fn md(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|(n, v)| LabelPair { name: n.to_string(), value: v.to_string() }).collect()
}
fn discover() -> Vec<String> {
    crate::LimitsConfig::default().discover_service_name
}
fn map_default(req: &ExportLogsServiceRequest) -> PushRequest {
    to_push_request(req, &OtlpConfig::default(), &discover(), 42).unwrap().request
}
/// (labels, line, metadata) of every entry, in order.
fn flat(p: &PushRequest) -> Vec<(String, String, Vec<LabelPair>)> {
    p.streams
        .iter()
        .flat_map(|s| {
            s.entries.iter().map(move |e| (s.labels.canonical(), e.line.clone(), e.structured_metadata.clone()))
        })
        .collect()
}

#[test]
fn streams_labels_and_metadata() {
    let scope = |name: &str, attrs: Vec<KeyValue>| {
        Some(InstrumentationScope { name: name.into(), attributes: attrs, ..Default::default() })
    };
    type Case = (&'static str, ExportLogsServiceRequest, Vec<(&'static str, &'static str, Vec<LabelPair>)>);
    let cases: Vec<Case> = vec![
        // TestOTLPToLokiPushRequest "no logs" / "resource with no logs": nothing to push.
        ("no logs", ExportLogsServiceRequest::default(), vec![]),
        ("resource with no logs", request(vec![kv("service.name", s("service-1"))], None, vec![]), vec![]),
        (
            "resource with a log entry",
            request(vec![kv("service.name", s("service-1"))], None, vec![record("test body")]),
            vec![(r#"{service_name="service-1"}"#, "test body", vec![])],
        ),
        (
            "no resource attributes defined",
            request(vec![], None, vec![record("test body")]),
            vec![(r#"{service_name="unknown_service"}"#, "test body", vec![])],
        ),
        (
            "service.name not defined in resource attributes",
            request(vec![kv("service.namespace", s("foo"))], None, vec![record("test body")]),
            vec![(r#"{service_name="unknown_service", service_namespace="foo"}"#, "test body", vec![])],
        ),
        (
            "resource attributes and scope attributes stored as structured metadata",
            request(
                vec![kv("service.name", s("service-1")), kv("service.image", s("loki"))],
                scope("fizz", vec![kv("op", s("buzz"))]),
                vec![record("test body - 0"), record("test body - 1")],
            ),
            vec![
                (
                    r#"{service_name="service-1"}"#,
                    "test body - 0",
                    md(&[("service_image", "loki"), ("op", "buzz"), ("scope_name", "fizz")]),
                ),
                (
                    r#"{service_name="service-1"}"#,
                    "test body - 1",
                    md(&[("service_image", "loki"), ("op", "buzz"), ("scope_name", "fizz")]),
                ),
            ],
        ),
        (
            "attributes with nested data",
            request(
                vec![kv("service.name", s("service-1")), kv("resource.nested", map(vec![kv("foo", s("bar"))]))],
                scope("fizz", vec![kv("scope.nested", map(vec![kv("foo", s("bar"))]))]),
                vec![LogRecord {
                    attributes: vec![kv("log.nested", map(vec![kv("foo", s("bar - 0"))]))],
                    ..record("test body - 0")
                }],
            ),
            vec![(
                r#"{service_name="service-1"}"#,
                "test body - 0",
                md(&[
                    ("log_nested_foo", "bar - 0"),
                    ("resource_nested_foo", "bar"),
                    ("scope_nested_foo", "bar"),
                    ("scope_name", "fizz"),
                ]),
            )],
        ),
        // Balsa's own cases, from otlp.go's discovery loop: the first index
        // label named in discover_service_name fills service_name.
        (
            "service_name discovered from an index label",
            request(vec![kv("k8s.namespace.name", s("ns")), kv("k8s.job.name", s("backup"))], None, vec![record("x")]),
            vec![(r#"{k8s_job_name="backup", k8s_namespace_name="ns", service_name="backup"}"#, "x", vec![])],
        ),
        (
            "default index labels",
            request(
                vec![
                    kv("service.name", s("api")),
                    kv("deployment.environment", s("prod")),
                    kv("k8s.pod.name", s("api-1")),
                    kv("host.name", s("h1")),
                ],
                None,
                vec![record("x")],
            ),
            vec![(
                r#"{deployment_environment="prod", k8s_pod_name="api-1", service_name="api"}"#,
                "x",
                md(&[("host_name", "h1")]),
            )],
        ),
    ];
    for (name, req, want) in cases {
        let got = map_default(&req);
        let want: Vec<(String, String, Vec<LabelPair>)> =
            want.into_iter().map(|(l, line, m)| (l.to_string(), line.to_string(), m)).collect();
        assert_eq!(flat(&got), want, "{name}");
        // Whatever the JSON or protobuf transport, the same request.
        let bytes = req.encode_to_vec();
        assert_eq!(decode(Some("application/x-protobuf"), None, &bytes, 1 << 20).unwrap(), req, "{name}");
    }
}

#[test]
fn custom_otlp_config() {
    // TestOTLPToLokiPushRequest "custom otlp config" (Loki passes the config
    // without its defaults; here service.name is an index label either way).
    let cfg: OtlpConfig = serde_yaml_ng::from_str(
        r#"
resource_attributes:
  attributes_config:
    - action: index_label
      attributes: [pod.name]
    - action: index_label
      regex: service.*
    - action: drop
      regex: drop.*
    - action: structured_metadata
      attributes: [resource.nested]
scope_attributes:
  - action: drop
    attributes: [drop.function]
log_attributes:
  - action: structured_metadata
    regex: .*_id
  - action: drop
    regex: .*
"#,
    )
    .unwrap();
    cfg.validate().unwrap();
    let rec = |i: usize| LogRecord {
        attributes: vec![
            kv("user_id", s("u1")),
            kv("order_id", s("o1")),
            kv("drop.log.nested", map(vec![kv("foo", s(&format!("bar - {i}")))])),
        ],
        ..record(&format!("test body - {i}"))
    };
    let req = request(
        vec![
            kv("service.name", s("service-1")),
            kv("pod.name", s("service-1-abc")),
            kv("pod.ip", s("10.200.200.200")),
            kv("drop.service.addr", s("192.168.0.1")),
            kv("drop.service.version", s("v1")),
            kv("resource.nested", map(vec![kv("foo", s("bar"))])),
        ],
        Some(InstrumentationScope {
            name: "fizz".into(),
            attributes: vec![kv("drop.function", s("login")), kv("scope.nested", map(vec![kv("foo", s("bar"))]))],
            ..Default::default()
        }),
        vec![rec(0), rec(1)],
    );
    let got = to_push_request(&req, &cfg, &discover(), 0).unwrap().request;
    let want_md = md(&[
        ("user_id", "u1"),
        ("order_id", "o1"),
        ("pod_ip", "10.200.200.200"),
        ("resource_nested_foo", "bar"),
        ("scope_nested_foo", "bar"),
        ("scope_name", "fizz"),
    ]);
    let labels = r#"{pod_name="service-1-abc", service_name="service-1"}"#.to_string();
    assert_eq!(
        flat(&got),
        vec![
            (labels.clone(), "test body - 0".to_string(), want_md.clone()),
            (labels, "test body - 1".to_string(), want_md)
        ]
    );
}

#[test]
fn log_record_fields() {
    // TestOTLPLogToPushEntry "all the values set".
    let rec = LogRecord {
        time_unix_nano: NOW,
        observed_time_unix_nano: NOW + 1,
        severity_number: 5,
        severity_text: "debug".into(),
        body: s("log body"),
        attributes: vec![kv("foo", s("bar"))],
        dropped_attributes_count: 1,
        flags: 1,
        trace_id: vec![0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78],
        span_id: vec![0x12, 0x23, 0xAD, 0x12, 0x23, 0xAD, 0x12, 0x23],
        ..Default::default()
    };
    let (labels, e) = record_to_entry(&rec, &OtlpConfig::default(), 0).unwrap();
    assert!(labels.is_empty());
    assert_eq!(e.ts_ns, NOW as i64);
    assert_eq!(e.line, "log body");
    assert_eq!(
        e.structured_metadata,
        md(&[
            ("foo", "bar"),
            ("observed_timestamp", &(NOW + 1).to_string()),
            ("severity_number", "5"),
            ("severity_text", "debug"),
            ("dropped_attributes_count", "1"),
            ("flags", "1"),
            ("trace_id", "12345678123456781234567812345678"),
            ("span_id", "1223ad1223ad1223"),
        ])
    );
    // "only body and timestamp set": no metadata at all.
    let (_, e) = record_to_entry(&record("log body"), &OtlpConfig::default(), 0).unwrap();
    assert!(e.structured_metadata.is_empty());
    // timestampFromLogRecord: observed time, then now (otlp.go).
    let obs = LogRecord { observed_time_unix_nano: 7, ..Default::default() };
    let (_, e) = record_to_entry(&obs, &OtlpConfig::default(), 99).unwrap();
    assert_eq!((e.ts_ns, e.structured_metadata.len()), (7, 0));
    let (_, e) = record_to_entry(&LogRecord::default(), &OtlpConfig::default(), 99).unwrap();
    assert_eq!((e.ts_ns, e.line.as_str()), (99, ""));
    // severity_text_as_label (otlp.go: a label, and still metadata).
    let cfg = OtlpConfig { severity_text_as_label: true, ..Default::default() };
    let sev = LogRecord { severity_text: "WARN".into(), ..record("x") };
    let (labels, e) = record_to_entry(&sev, &cfg, 0).unwrap();
    assert_eq!(labels.get("severity_text").map(String::as_str), Some("WARN"));
    assert_eq!(e.structured_metadata, md(&[("severity_text", "WARN")]));
}

#[test]
#[allow(clippy::approx_constant)] // Loki's test value
fn attributes_to_labels() {
    // TestAttributesToLabels "with attributes" and "attributes with special chars".
    let arr = |v: Vec<Option<AnyValue>>| {
        val(Value::ArrayValue(ArrayValue { values: v.into_iter().map(|x| x.unwrap_or_default()).collect() }))
    };
    let cases: Vec<(KeyValue, Vec<(&str, &str)>)> = vec![
        (kv("empty", None), vec![("empty", "")]),
        (kv("str", s("val")), vec![("str", "val")]),
        (kv("int", val(Value::IntValue(1))), vec![("int", "1")]),
        (kv("double", val(Value::DoubleValue(3.14))), vec![("double", "3.14")]),
        (kv("bool", val(Value::BoolValue(true))), vec![("bool", "true")]),
        (kv("bytes", val(Value::BytesValue(vec![1, 2, 3]))), vec![("bytes", "AQID")]),
        (
            kv("slice", arr(vec![val(Value::IntValue(1)), arr(vec![s("foo")]), map(vec![kv("fizz", s("buzz"))])])),
            vec![("slice", r#"[1,["foo"],{"fizz":"buzz"}]"#)],
        ),
        (
            kv("nested", map(vec![kv("foo", s("bar")), kv("more", map(vec![kv("key", s("val"))]))])),
            vec![("nested_foo", "bar"), ("nested_more_key", "val")],
        ),
        (kv("st.r", s("val")), vec![("st_r", "val")]),
        (
            kv("nest*ed", map(vec![kv("fo@o", s("bar")), kv("m$ore", map(vec![kv("k_ey", s("val"))]))])),
            vec![("nest_ed_fo_o", "bar"), ("nest_ed_m_ore_k_ey", "val")],
        ),
    ];
    for (attr, want) in cases {
        assert_eq!(attribute_to_labels(&attr, "").unwrap(), md(&want), "{}", attr.key);
    }
}

#[test]
fn label_names_like_otlptranslator() {
    // otlptranslator v1.0.0 LabelNamer{}.Build (label_namer_test.go, strconv.go).
    let cases = [
        ("http.method", Ok("http_method")),
        ("123invalid", Ok("key_123invalid")),
        ("__reserved__", Ok("__reserved__")),
        ("__a.b__", Ok("__a_b__")),
        ("a__b", Ok("a_b")),
        ("_x", Ok("_x")),
        ("é", Err(())),
        ("a-é-b", Ok("a_b")),
        ("", Err(())),
        ("...", Err(())),
    ];
    for (input, want) in cases {
        assert_eq!(label_name(input).map_err(|_| ()), want.map(String::from), "{input:?}");
    }
}

#[test]
fn values_as_pdata_renders_them() {
    // pdata Value.AsString / float64AsString, and Go's encoding/json.
    let cases: Vec<(Option<AnyValue>, &str)> = vec![
        (None, ""),
        (val(Value::DoubleValue(1e21)), "1e+21"),
        (val(Value::DoubleValue(1.5e-7)), "1.5e-7"),
        (val(Value::DoubleValue(100.0)), "100"),
        (val(Value::DoubleValue(f64::NAN)), "NaN"),
        (val(Value::DoubleValue(f64::NEG_INFINITY)), "-Infinity"),
        (val(Value::IntValue(-3)), "-3"),
        (val(Value::BytesValue(b"hello".to_vec())), "aGVsbG8="),
        (map(vec![kv("b", s("<&>\n\u{2028}")), kv("a", None), kv("b", s("last"))]), r#"{"a":null,"b":"last"}"#),
        (map(vec![kv("q", s("\"\\\u{1}<>"))]), r#"{"q":"\"\\\u0001<>"}"#),
        (map(vec![kv("nan", val(Value::DoubleValue(f64::NAN)))]), ""),
        (
            map(vec![kv("f", val(Value::DoubleValue(0.5))), kv("b", val(Value::BytesValue(vec![0xff])))]),
            r#"{"b":"/w==","f":0.5}"#,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(render::value_as_string(v.as_ref()), want, "{v:?}");
    }
}

#[test]
fn log_attributes_as_index_labels() {
    // TestOTLPLogAttributesAsIndexLabels: entries with an indexed log
    // attribute go to a stream with the resource labels plus theirs.
    let cfg: OtlpConfig =
        serde_yaml_ng::from_str("log_attributes:\n  - action: index_label\n    attributes: [log.source]\n").unwrap();
    let req = request(
        vec![kv("service.name", s("svc"))],
        None,
        vec![
            LogRecord { attributes: vec![kv("log.source", s("db")), kv("other", s("o"))], ..record("a") },
            record("b"),
        ],
    );
    let got = to_push_request(&req, &cfg, &discover(), 0).unwrap().request;
    assert_eq!(
        flat(&got),
        vec![
            (r#"{log_source="db", service_name="svc"}"#.to_string(), "a".to_string(), md(&[("other", "o")])),
            (r#"{service_name="svc"}"#.to_string(), "b".to_string(), vec![]),
        ]
    );
}

#[test]
fn service_name_not_indexed_turns_discovery_off() {
    // otlp.go: hasServiceName is true for a non-empty service.name whatever
    // its action, so no service_name label and no unknown_service.
    let cfg: OtlpConfig = serde_yaml_ng::from_str(
        "resource_attributes:\n  ignore_defaults: true\n  attributes_config:\n    - action: index_label\n      attributes: [team]\n",
    )
    .unwrap();
    let req = request(vec![kv("service.name", s("svc")), kv("team", s("t"))], None, vec![record("x")]);
    let got = to_push_request(&req, &cfg, &discover(), 0).unwrap();
    assert!(got.skip_service_name_discovery);
    assert_eq!(
        flat(&got.request),
        vec![(r#"{team="t"}"#.to_string(), "x".to_string(), md(&[("service_name", "svc")]))]
    );
    // No discovery list: no service_name at all (otlp.go shouldDiscoverServiceName).
    let req = request(vec![kv("team", s("t"))], None, vec![record("x")]);
    let got = to_push_request(&req, &OtlpConfig::default(), &[], 0).unwrap();
    assert_eq!(flat(&got.request), vec![(r#"{}"#.to_string(), "x".to_string(), md(&[("team", "t")]))]);
}

#[test]
fn config_errors_are_loki_s() {
    // otlp_config_test.go: action, attributes/regex checks; Validate.
    for (yaml, want) in [
        (
            "resource_attributes:\n  attributes_config:\n    - action: foo\n      attributes: [a]\n",
            "unsupported action",
        ),
        ("resource_attributes:\n  attributes_config:\n    - action: drop\n", "attributes or regex must be set"),
        (
            "resource_attributes:\n  attributes_config:\n    - action: drop\n      attributes: [a]\n      regex: b\n",
            "only one of attributes or regex must be set",
        ),
        ("log_attributes:\n  - action: drop\n    regex: '('\n", "invalid regex"),
        ("severity_text_as_labels: true\n", "unknown field"),
    ] {
        let err = serde_yaml_ng::from_str::<OtlpConfig>(yaml).unwrap_err().to_string();
        assert!(err.contains(want), "{yaml}: {err}");
    }
    let cfg: OtlpConfig =
        serde_yaml_ng::from_str("scope_attributes:\n  - action: index_label\n    attributes: [a]\n").unwrap();
    assert_eq!(
        cfg.validate(),
        Err(("otlp_config.scope_attributes", "index_label action is only supported for resource_attributes"))
    );
    // An absent action is structured_metadata; regexes are anchored.
    let cfg: OtlpConfig =
        serde_yaml_ng::from_str("log_attributes:\n  - regex: 'a.'\n  - action: drop\n    regex: '.*'\n").unwrap();
    assert_eq!(cfg.log_action("ab"), Action::StructuredMetadata);
    assert_eq!(cfg.log_action("abc"), Action::Drop);
    // Round trip through YAML (the runtime overrides rebuild limits that way).
    let again: OtlpConfig = serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(again, cfg);
    let limits: crate::LimitsConfig =
        serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&crate::LimitsConfig::default()).unwrap()).unwrap();
    assert_eq!(limits, crate::LimitsConfig::default());
}

#[test]
fn json_bodies() {
    // OTLP/JSON: camelCase, hex ids, int64 as strings or numbers, enums as numbers.
    let body = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"json-svc"}},
        {"key":"pid","value":{"intValue":"1234"}},
        {"key":"n","value":{"intValue":5}}]},
      "scopeLogs":[{"scope":{"name":"lib","version":"1.0"},"logRecords":[
        {"timeUnixNano":"1700000000000000001","observedTimeUnixNano":1700000000000000002,
         "severityNumber":17,"severityText":"ERROR","body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"hi"}}]}},
         "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1,"unknownField":true}]}]}]}"#;
    let req = decode(Some("application/json"), None, body.as_bytes(), 1 << 20).unwrap();
    let got = to_push_request(&req, &OtlpConfig::default(), &discover(), 0).unwrap().request;
    assert_eq!(got.streams.len(), 1);
    assert_eq!(got.streams[0].labels.canonical(), r#"{service_name="json-svc"}"#);
    let e = &got.streams[0].entries[0];
    assert_eq!(e.ts_ns, 1_700_000_000_000_000_001);
    assert_eq!(e.line, r#"{"msg":"hi"}"#);
    assert_eq!(
        e.structured_metadata,
        md(&[
            ("observed_timestamp", "1700000000000000002"),
            ("severity_number", "17"),
            ("severity_text", "ERROR"),
            ("flags", "1"),
            ("trace_id", "5b8efff798038103d269b633813fc60c"),
            ("span_id", "eee19b7ec3c1b174"),
            ("pid", "1234"),
            ("n", "5"),
            ("scope_name", "lib"),
            ("scope_version", "1.0"),
        ])
    );
    // What pdata's JSON decoder also takes: proto field names, nulls, enum
    // names, an empty arrayValue.
    let loose = r#"{"resource_logs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"loose"}}]},
      "scope_logs":[{"scope":null,"log_records":[{"time_unix_nano":"5","severity_number":"SEVERITY_NUMBER_WARN2",
      "attributes":null,"body":{"arrayValue":{}},"span_id":"eee19b7ec3c1b174"}]}]}]}"#;
    let got = decode(Some("application/json"), None, loose.as_bytes(), 1 << 20).unwrap();
    let got = to_push_request(&got, &OtlpConfig::default(), &discover(), 0).unwrap().request;
    assert_eq!(
        flat(&got),
        vec![(
            r#"{service_name="loose"}"#.to_string(),
            "[]".to_string(),
            md(&[("severity_number", "14"), ("span_id", "eee19b7ec3c1b174")])
        )]
    );
    assert_eq!(got.streams[0].entries[0].ts_ns, 5);
    // gzip of the same body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(decode(Some("application/json; charset=utf-8"), Some("gzip"), &gz, 1 << 20).unwrap(), req);
    // Decompressed size bound: 413.
    assert_eq!(decode(Some("application/json"), Some("gzip"), &gz, 100).unwrap_err().status(), 413);
}

#[test]
fn malformed_bodies_are_400s_without_panics() {
    let good = request(vec![kv("service.name", s("x"))], None, vec![record("y")]).encode_to_vec();
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Vec<u8>, &'a str);
    let mut cases: Vec<Case> = vec![
        (Some("application/x-protobuf"), None, b"\xff\xff\xff".to_vec(), "invalid OTLP protobuf body"),
        (Some("application/x-protobuf"), None, good[..good.len() - 3].to_vec(), "invalid OTLP protobuf body"),
        (Some("application/json"), None, b"{\"resourceLogs\": [".to_vec(), "invalid OTLP JSON body"),
        (
            Some("application/json"),
            None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#.to_vec(),
            "invalid OTLP JSON body",
        ),
        (
            Some("application/json"),
            None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#.to_vec(),
            "invalid OTLP JSON body",
        ),
        (
            Some("application/json"),
            None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"abcd"}]}]}]}"#.to_vec(),
            "invalid OTLP JSON body: unmarshal: invalid TraceID length",
        ),
        (
            Some("application/x-protobuf"),
            None,
            request(vec![], None, vec![LogRecord { span_id: vec![1; 7], ..record("x") }]).encode_to_vec(),
            "invalid OTLP protobuf body: unmarshal: invalid SpanID length",
        ),
        (Some("text/plain"), None, good.clone(), "content type: text/plain is not supported"),
        (None, None, good.clone(), "content type:  is not supported"),
        (Some("application/x-protobuf"), Some("gzip"), good.clone(), "gzip: invalid compressed body"),
        (Some("application/x-protobuf"), Some("br"), good.clone(), "unsupported content encoding br"),
    ];
    // Every truncation of a valid body: decoded or refused, never a panic.
    for n in 0..good.len() {
        let _ = decode(Some("application/x-protobuf"), None, &good[..n], 1 << 20);
    }
    for (ct, enc, body, want) in cases.drain(..) {
        let err = decode(ct, enc, &body, 1 << 20).unwrap_err();
        assert_eq!(err.status(), 400, "{want}");
        assert!(err.body().contains(want), "{want}: {}", err.body());
    }
    // An attribute name the label namer refuses fails the request (otlp.go).
    let req = request(vec![kv("", s("v"))], None, vec![record("x")]);
    let err = to_push_request(&req, &OtlpConfig::default(), &discover(), 0).unwrap_err();
    assert_eq!((err.status(), err.body()), (400, "symbolizer lookup: label name is empty".to_string()));
    // The error body is a google.rpc.Status with code 0 (push.go OTLPError).
    let st = Status::decode(&error_body("boom")[..]).unwrap();
    assert_eq!((st.code, st.message.as_str()), (0, "boom"));
}

#[test]
fn resources_with_the_same_labels_share_a_stream() {
    // otlp.go keys streams by their label string: two resources (and two
    // scopes) with the same index labels give one stream, entries in order.
    let mut req = request(vec![kv("service.name", s("a")), kv("host.name", s("h1"))], None, vec![record("1")]);
    let mut second = request(vec![kv("service.name", s("a")), kv("host.name", s("h2"))], None, vec![record("2")]);
    second.resource_logs[0].scope_logs.push(ScopeLogs { log_records: vec![record("3")], ..Default::default() });
    req.resource_logs.append(&mut second.resource_logs);
    req.resource_logs.push(request(vec![kv("service.name", s("b"))], None, vec![record("4")]).resource_logs.remove(0));
    let got = map_default(&req);
    assert_eq!(got.streams.len(), 2);
    assert_eq!(got.streams[0].labels.canonical(), r#"{service_name="a"}"#);
    let lines: Vec<&str> = got.streams[0].entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["1", "2", "3"]);
    assert_eq!(got.streams[0].entries[2].structured_metadata, md(&[("host_name", "h2")]));
    assert_eq!(got.streams[1].labels.canonical(), r#"{service_name="b"}"#);
}
