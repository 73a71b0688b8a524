mod common;

use balsa_model::units::{ByteSize, Duration};
use balsa_model::{Entry, LabelPair, Labels, PushRequest, StreamPush};
use balsa_push::{LimitsConfig, PushError, Validator, decode};

const NOW: i64 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z
const SEC: i64 = 1_000_000_000;

fn stream(labels: &[(&str, &str)], entries: Vec<Entry>) -> StreamPush {
    StreamPush { labels: Labels::from_pairs(labels.iter().copied()), entries }
}

fn req(streams: Vec<StreamPush>) -> PushRequest {
    PushRequest { streams }
}

fn with_sm(line: &str, pairs: &[(&str, &str)]) -> Entry {
    Entry {
        ts_ns: NOW,
        line: line.into(),
        structured_metadata: pairs
            .iter()
            .map(|(n, v)| LabelPair { name: n.to_string(), value: v.to_string() })
            .collect(),
    }
}

fn no_discovery() -> LimitsConfig {
    LimitsConfig { discover_service_name: vec![], ..LimitsConfig::default() }
}

/// One stream, one entry: the expected error body (None = accepted).
#[test]
fn single_rejection_messages_table() {
    let defaults = LimitsConfig::default();
    let many_labels: Vec<(String, String)> = (0..16).map(|i| (format!("l{i:02}"), "v".to_string())).collect();
    let many: Vec<(&str, &str)> = many_labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let long_name = "n".repeat(1025);
    let long_value = "v".repeat(2049);
    let sm_big = "x".repeat(64 * 1024);
    let sm_many: Vec<(String, String)> = (0..129).map(|i| (format!("k{i}"), "v".into())).collect();
    let sm_many_ref: Vec<(&str, &str)> = sm_many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();

    type Case<'a> = (&'a str, LimitsConfig, StreamPush, Option<String>);
    let cases: Vec<Case> = vec![
        ("ok", defaults.clone(), stream(&[("app", "a")], vec![Entry::new(NOW, "x")]), None),
        (
            "no labels (discovery disabled)",
            no_discovery(),
            stream(&[], vec![Entry::new(NOW, "x")]),
            Some("error at least one label pair is required per stream".into()),
        ),
        (
            "too many labels",
            defaults.clone(),
            stream(&many, vec![Entry::new(NOW, "x")]),
            Some(format!(
                "entry for stream '{}' has 16 label names; limit 15",
                Labels::from_pairs(many.iter().copied().chain([("service_name", "unknown_service")])).canonical()
            )),
        ),
        (
            "15 labels plus discovered service_name is fine",
            defaults.clone(),
            stream(&many[..15], vec![Entry::new(NOW, "x")]),
            None,
        ),
        (
            "label name too long",
            no_discovery(),
            stream(&[(&long_name, "v")], vec![Entry::new(NOW, "x")]),
            Some(format!("stream '{{{long_name}=\"v\"}}' has label name too long: '{long_name}'")),
        ),
        (
            "label value too long",
            no_discovery(),
            stream(&[("a", &long_value)], vec![Entry::new(NOW, "x")]),
            Some(format!("stream '{{a=\"{long_value}\"}}' has label value too long: '{long_value}'")),
        ),
        (
            "duplicate label",
            no_discovery(),
            stream(&[("a", "1"), ("a", "2")], vec![Entry::new(NOW, "x")]),
            Some(r#"stream '{a="1", a="2"}' has duplicate label name: 'a'"#.into()),
        ),
        (
            "invalid label name",
            no_discovery(),
            stream(&[("a.b", "1")], vec![Entry::new(NOW, "x")]),
            Some(r#"Error parsing labels '{a.b="1"}' with error: invalid label name "a.b""#.into()),
        ),
        (
            "too old",
            no_discovery(),
            stream(&[("a", "1")], vec![Entry::new(NOW - 8 * 86400 * SEC, "x")]),
            Some(r#"entry for stream '{a="1"}' has timestamp too old: 2023-11-06T22:13:20Z, oldest acceptable timestamp is: 2023-11-07T22:13:20Z"#.into()),
        ),
        (
            "old accepted when reject_old_samples is off",
            LimitsConfig { reject_old_samples: false, ..no_discovery() },
            stream(&[("a", "1")], vec![Entry::new(0, "x")]),
            None,
        ),
        (
            "too new",
            no_discovery(),
            stream(&[("a", "1")], vec![Entry::new(NOW + 11 * 60 * SEC, "x")]),
            Some(r#"entry for stream '{a="1"}' has timestamp too new: 2023-11-14T22:24:20Z"#.into()),
        ),
        ("within grace period", no_discovery(), stream(&[("a", "1")], vec![Entry::new(NOW + 9 * 60 * SEC, "x")]), None),
        (
            "line too long",
            LimitsConfig { max_line_size: ByteSize(10), ..no_discovery() },
            stream(&[("a", "1")], vec![Entry::new(NOW, "12345678901")]),
            Some(r#"Max entry size '10' bytes exceeded for stream '{a="1"}' while adding an entry with length '11' bytes"#.into()),
        ),
        (
            "line too long but truncated",
            LimitsConfig { max_line_size: ByteSize(10), max_line_size_truncate: true, ..no_discovery() },
            stream(&[("a", "1")], vec![Entry::new(NOW, "12345678901")]),
            None,
        ),
        (
            "structured metadata disallowed",
            LimitsConfig { allow_structured_metadata: false, ..no_discovery() },
            stream(&[("a", "1")], vec![with_sm("x", &[("k", "v")])]),
            Some("stream '{a=\"1\"}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it.".into()),
        ),
        (
            "structured metadata too large",
            no_discovery(),
            stream(&[("a", "1")], vec![with_sm("x", &[("k", &sm_big)])]),
            Some("stream '{a=\"1\"}' has structured metadata too large: '65537' bytes, limit: '65536' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it.".into()),
        ),
        (
            "too many structured metadata",
            no_discovery(),
            stream(&[("a", "1")], vec![with_sm("x", &sm_many_ref)]),
            Some("stream '{a=\"1\"}' has too many structured metadata labels: '129', limit: '128'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.".into()),
        ),
        (
            "aggregated metric streams skip label checks",
            LimitsConfig { max_label_names_per_series: 1, ..LimitsConfig::default() },
            stream(&[("__aggregated_metric__", "x"), ("b", "1"), ("c", "2")], vec![Entry::new(NOW, "x")]),
            None,
        ),
    ];
    for (name, limits, s, want) in cases {
        let out = Validator::new(limits).validate("t", req(vec![s]), NOW);
        match want {
            None => {
                assert_eq!(out.error, None, "{name}");
                assert_eq!(out.accepted.line_count(), 1, "{name}");
            }
            Some(body) => {
                let err = out.error.clone().unwrap_or_else(|| panic!("{name}: accepted"));
                assert_eq!(err.status(), 400, "{name}");
                assert_eq!(err.body(), body, "{name}");
                assert_eq!(out.accepted.line_count(), 0, "{name}");
                assert_eq!(out.discarded_lines, 1, "{name}");
            }
        }
    }
}

#[test]
fn truncation_shortens_the_line() {
    let limits = LimitsConfig { max_line_size: ByteSize(4), max_line_size_truncate: true, ..no_discovery() };
    let out =
        Validator::new(limits).validate("t", req(vec![stream(&[("a", "1")], vec![Entry::new(NOW, "abcdefgh")])]), NOW);
    assert_eq!(out.accepted.streams[0].entries[0].line, "abcd");
}

#[test]
fn partial_request_keeps_valid_entries_and_groups_errors() {
    let limits = LimitsConfig { max_line_size: ByteSize(5), ..no_discovery() };
    let r = req(vec![
        stream(
            &[("a", "1")],
            vec![
                Entry::new(NOW, "ok"),
                Entry::new(NOW, "too long"),
                Entry::new(NOW, "also too long"),
                Entry::new(NOW + SEC, "ok2"),
            ],
        ),
        stream(&[], vec![Entry::new(NOW, "no labels")]),
        stream(&[("b", "2")], vec![Entry::new(NOW, "fine")]),
        stream(&[("c", "3")], vec![]),
    ]);
    let out = Validator::new(limits).validate("t", r, NOW);
    assert_eq!(out.accepted.line_count(), 3);
    assert_eq!(out.accepted.streams.len(), 2);
    assert_eq!(out.discarded_lines, 3);
    assert_eq!(out.discarded_bytes, "too long".len() + "also too long".len() + "no labels".len());
    let err = out.error.unwrap();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.body(),
        "1 errors like: Max entry size '5' bytes exceeded for stream '{a=\"1\"}' while adding an entry with length '8' bytes; \
         1 errors like: Max entry size '5' bytes exceeded for stream '{a=\"1\"}' while adding an entry with length '13' bytes; \
         1 errors like: error at least one label pair is required per stream"
    );

    // Identical messages are counted.
    let limits = LimitsConfig { max_line_size: ByteSize(1), ..no_discovery() };
    let out = Validator::new(limits).validate(
        "t",
        req(vec![stream(&[("a", "1")], vec![Entry::new(NOW, "xx"), Entry::new(NOW, "yy")])]),
        NOW,
    );
    assert_eq!(
        out.error.unwrap().body(),
        "2 errors like: Max entry size '1' bytes exceeded for stream '{a=\"1\"}' while adding an entry with length '2' bytes"
    );
}

#[test]
fn streams_with_identical_labels_are_merged_after_discovery() {
    let r = req(vec![
        stream(&[("job", "x")], vec![Entry::new(NOW, "1")]),
        stream(&[("app", "z")], vec![Entry::new(NOW, "2")]),
        // Same label set once service_name is discovered.
        stream(&[("job", "x"), ("service_name", "x")], vec![Entry::new(NOW, "3")]),
        stream(&[("job", "x")], vec![Entry::new(NOW, "4")]),
    ]);
    let out = Validator::new(LimitsConfig::default()).validate("t", r, NOW);
    assert_eq!(out.error, None);
    assert_eq!(out.accepted.streams.len(), 2);
    assert_eq!(out.accepted.streams[0].labels.canonical(), r#"{job="x", service_name="x"}"#);
    let lines: Vec<&str> = out.accepted.streams[0].entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["1", "3", "4"]);
    assert_eq!(out.accepted.streams[1].labels.canonical(), r#"{app="z", service_name="z"}"#);
}

#[test]
fn service_name_discovery_through_validation() {
    let cases: Vec<(&[(&str, &str)], &str)> = vec![
        (&[("job", "test")], r#"{job="test", service_name="test"}"#),
        (&[("service", ""), ("app", "web"), ("job", "j")], r#"{app="web", job="j", service_name="web"}"#),
        (&[("k8s_job_name", "kj"), ("component", "c")], r#"{component="c", k8s_job_name="kj", service_name="c"}"#),
        (&[("foo", "bar")], r#"{foo="bar", service_name="unknown_service"}"#),
        (&[("service_name", "mine"), ("app", "a")], r#"{app="a", service_name="mine"}"#),
        (&[("__aggregated_metric__", "m")], r#"{__aggregated_metric__="m"}"#),
    ];
    for (labels, want) in cases {
        let out = Validator::new(LimitsConfig::default()).validate(
            "t",
            req(vec![stream(labels, vec![Entry::new(NOW, "x")])]),
            NOW,
        );
        assert_eq!(out.error, None, "{labels:?}");
        assert_eq!(out.accepted.streams[0].labels.canonical(), want);
    }
    // Empty list disables discovery.
    let out = Validator::new(no_discovery()).validate(
        "t",
        req(vec![stream(&[("job", "x")], vec![Entry::new(NOW, "x")])]),
        NOW,
    );
    assert_eq!(out.accepted.streams[0].labels.canonical(), r#"{job="x"}"#);
    // Custom list order.
    let limits = LimitsConfig { discover_service_name: vec!["job".into(), "app".into()], ..LimitsConfig::default() };
    let out = Validator::new(limits).validate(
        "t",
        req(vec![stream(&[("job", "j"), ("app", "a")], vec![Entry::new(NOW, "x")])]),
        NOW,
    );
    assert_eq!(out.accepted.streams[0].labels.get("service_name"), Some("j"));
}

#[test]
fn decoded_json_through_validation_with_gzip() {
    let body = format!(
        r#"{{"streams":[{{"stream":{{"job":"test"}},"values":[["{NOW}","ok",{{"trace.id":"t"}}],["{}","old"]]}}]}}"#,
        NOW - 30 * 86400 * SEC
    );
    let decoded = decode(Some("application/json"), Some("gzip"), &common::gzip(body.as_bytes()), common::MB).unwrap();
    let out = Validator::new(LimitsConfig::default()).validate("t", decoded, NOW);
    assert_eq!(out.accepted.line_count(), 1);
    let e = &out.accepted.streams[0].entries[0];
    // The name normalized as Loki does; then Loki 3's detected_level (no level in "ok").
    assert_eq!(
        e.structured_metadata,
        vec![
            LabelPair { name: "trace_id".into(), value: "t".into() },
            LabelPair { name: "detected_level".into(), value: "unknown".into() }
        ]
    );
    let err = out.error.unwrap();
    assert!(matches!(err, PushError::Validation(_)));
    assert!(
        err.body().starts_with(
            r#"entry for stream '{job="test", service_name="test"}' has timestamp too old: 2023-10-15T22:13:20Z"#
        ),
        "{}",
        err.body()
    );
}

#[test]
fn custom_max_age() {
    let limits = LimitsConfig { reject_old_samples_max_age: Duration::from_secs(3600), ..no_discovery() };
    let v = Validator::new(limits);
    let ok = v.validate("t", req(vec![stream(&[("a", "1")], vec![Entry::new(NOW - 3599 * SEC, "x")])]), NOW);
    assert_eq!(ok.error, None);
    let bad = v.validate("t", req(vec![stream(&[("a", "1")], vec![Entry::new(NOW - 3601 * SEC, "x")])]), NOW);
    assert!(bad.error.is_some());
}

#[test]
fn each_tenant_is_validated_against_its_own_overrides() {
    let overrides = std::sync::Arc::new(balsa_push::Overrides::new(no_discovery()));
    let docs = [(
        "runtime.yaml".to_string(),
        "overrides:\n  small:\n    max_line_size: 4\n  oldies:\n    reject_old_samples: false\n".to_string(),
    )];
    overrides.set(balsa_push::parse_runtime_config(&docs, overrides.defaults()).unwrap());
    let v = Validator::with_overrides(overrides);
    let push = || {
        req(vec![stream(&[("a", "1")], vec![Entry::new(NOW, "abcdefgh"), Entry::new(NOW - 30 * 86400 * SEC, "old")])])
    };
    // Defaults: the line fits, the old entry is refused.
    let out = v.validate("other", push(), NOW);
    assert_eq!(out.accepted.line_count(), 1);
    assert!(out.error.unwrap().body().contains("timestamp too old"));
    // max_line_size 4 for `small` only; the other limits stay the defaults.
    let out = v.validate("small", push(), NOW);
    assert_eq!(out.accepted.line_count(), 0);
    let body = out.error.unwrap().body();
    assert!(body.contains("Max entry size '4' bytes exceeded"), "{body}");
    assert!(body.contains("timestamp too old"), "{body}");
    // `oldies` accepts old samples.
    let out = v.validate("oldies", push(), NOW);
    assert_eq!(out.accepted.line_count(), 2, "{:?}", out.error);
    assert_eq!(v.limits_for("small").max_line_size, ByteSize(4));
    assert_eq!(v.limits().max_line_size, LimitsConfig::default().max_line_size);
}
