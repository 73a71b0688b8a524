//! Expected levels are facts from Loki v3.7.6's
//! `pkg/distributor/field_detection_test.go` (Test_detectLogLevelFromLogEntry,
//! TestGetLevelUsingJsonParser, Test_detectLevelFromLogLine), unless a case
//! names another source.

use super::*;

fn defaults() -> Vec<String> {
    DEFAULT_LEVEL_FIELDS.iter().map(|s| s.to_string()).collect()
}

fn detect(stream: &[(&str, &str)], metadata: &[(&str, &str)], line: &str) -> Vec<(String, String)> {
    let fields = defaults();
    let generic = GenericFields::default();
    let d = FieldDetector { levels: true, level_fields: &fields, json_max_depth: 2, generic: &generic };
    let labels = Labels::new(stream.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect());
    let mut e = Entry::new(1, line);
    e.structured_metadata = metadata.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect();
    d.apply(&labels, &mut e);
    e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect()
}

fn level_of(line: &str) -> String {
    let sm = detect(&[("app", "x")], &[], line);
    sm.into_iter().find(|(n, _)| n == DETECTED_LEVEL).map(|(_, v)| v).unwrap()
}

#[test]
fn level_from_line() {
    let cases = [
        ("foo", "unknown"),
        ("this is a warning log", "warn"),
        ("this is a debug message", "debug"),
        ("this is a DEBUG message", "debug"),
        ("debug: something happened", "debug"),
        ("this is a critical message", "critical"),
        ("CRITICAL: something happened", "critical"),
        ("[info] this is an info message", "info"),
        ("[WARNING] this is a warning message", "warn"),
        ("[err] this is an error message", "error"),
        ("[ERR] this is an error message", "error"),
        (
            r#"{"foo":"bar","msg":"message with keyword error but it should not get picked up","level":"critical"}"#,
            "critical",
        ),
        (
            r#"{"FOO":"bar","MSG":"message with keyword error but it should not get picked up","LEVEL":"Critical"}"#,
            "critical",
        ),
        (
            r#"{"foo":"bar","msg":"message with keyword warn but it should not get picked up","SEVERITY":"FATAL"}"#,
            "fatal",
        ),
        (r#"{"foo":"bar","msg":"message with keyword warn but it should not get picked up","level":"ERR"}"#, "error"),
        (r#"{"foo":"bar","msg":"message with keyword INFO get picked up"}"#, "info"),
        (r#"foo=bar msg="message with info and not level should get picked up""#, "info"),
        (r#"foo=bar msg="message with keyword error but it should not get picked up" level=warn"#, "warn"),
        (r#"foo=bar msg="message with keyword error but it should not get picked up" level=Trace"#, "trace"),
        (r#"foo=bar msg="message with keyword but it should not get picked up" level=NA"#, "unknown"),
        (r#"Foo=bar MSG="Message with keyword but it should not get picked up" Severity=critical"#, "critical"),
        (r#"FOO=bar MSG="message with keyword error but it should not get picked up" LEVEL=inFO"#, "info"),
        (r#"FOO=bar MSG="message that should qualify to unknown when there is no level defined" LEVEL=Inf"#, "info"),
        (r#"FOO=bar MSG="x" LEVEL=Information"#, "info"),
        // Test_detectLevelFromLogLine: word boundaries
        ("this is a terror attack", "unknown"),
        ("there were multiple errors", "unknown"),
        ("error123 occurred", "unknown"),
        ("errorCode is invalid", "unknown"),
        ("debugging the issue", "unknown"),
        ("informative message", "unknown"),
        ("warnings issued", "unknown"),
        ("tracer bullet", "unknown"),
        ("", "unknown"),
        (r#"{"message": "error occurred"}"#, "error"),
        (r#"{"error": "something"}"#, "error"),
        (r#"{"errorCode": 123}"#, "unknown"),
        (r#"msg="error occurred""#, "error"),
        ("2024-01-01T10:00:00Z fatal: connection failed", "fatal"),
        ("(warn) something happened", "warn"),
        ("error, something happened", "error"),
        ("info! something happened", "info"),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(line, want)| {
            let got = level_of(line);
            (got != *want).then(|| format!("{line:?}: want {want}, got {got}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_depth_and_order() {
    let level = |json: &str, fields: &[&str], depth: i64| {
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        json_level(json, &fields, depth).unwrap_or_default()
    };
    assert_eq!(level(r#"{"level":"error","msg":"x"}"#, &["level"], 0), "error");
    assert_eq!(level(r#"{"log":{"level":"info"}}"#, &["level"], 0), "info");
    assert_eq!(level(r#"{"a":{"b":{"level":"warn"}}}"#, &["level"], 0), "warn");
    assert_eq!(level(r#"{"a":{"b":{"level":"warn"}}}"#, &["level"], 2), "");
    assert_eq!(level(r#"{"level":"error","severity":"info"}"#, &["level", "severity"], 0), "error");
    assert_eq!(level(r#"{"severity":"info","level":"error"}"#, &["level", "severity"], 0), "info");
    assert_eq!(level(r#"{"a":{"level":"error"},"level":"info"}"#, &["level"], 0), "error");
    assert_eq!(level(r#"{"tags":["level"],"level":"info"}"#, &["level"], 0), "info");
    assert_eq!(level(r#"{"level":5,"severity":"warn"}"#, &["level", "severity"], 0), "warn");
    assert_eq!(level(r#"{"msg":"x"}"#, &["level"], 0), "");
    assert_eq!(level(r#"{invalid"#, &["level"], 0), "");
    assert_eq!(level(r#"{"level":"info","n":{"level":"error"}}"#, &["level"], 1), "info");
    assert_eq!(level(r#"{"n":{"level":"error"}}"#, &["level"], 1), "");
}

#[test]
fn sources_in_order() {
    // An existing detected_level is normalized, not duplicated.
    assert_eq!(
        detect(&[("app", "x")], &[("detected_level", "WARNING")], "error"),
        [("detected_level".into(), "warn".into())]
    );
    // A stream label named in log_level_fields.
    assert_eq!(level(&[("level", "Err")], &[], "info line"), "error");
    assert_eq!(level(&[("level", "NOTICE")], &[], "info line"), "NOTICE");
    // A metadata pair, then OTLP's severity number, then the line.
    assert_eq!(level(&[], &[("severity", "dbg")], "error"), "debug");
    assert_eq!(level(&[], &[("severity_number", "7")], "error"), "debug");
    assert_eq!(level(&[], &[("severity_number", "foo")], "error"), "info");
    assert_eq!(level(&[], &[("severity_number", "0")], "error"), "unknown");
    assert_eq!(level(&[], &[("severity_number", "22")], "info"), "fatal");

    fn level(stream: &[(&str, &str)], sm: &[(&str, &str)], line: &str) -> String {
        let mut stream = stream.to_vec();
        stream.push(("app", "x"));
        stream.sort();
        detect(&stream, sm, line).into_iter().find(|(n, _)| n == DETECTED_LEVEL).unwrap().1
    }
}

#[test]
fn generic_fields() {
    // Cases of Loki's Test_DetectGenericFields (its detector configuration, its inputs).
    let fields = defaults();
    let hints = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let generic = GenericFields {
        fields: [
            ("trace_id".to_string(), hints(&["trace_id"])),
            ("org_id".to_string(), hints(&["org_id", "user_id", "tenant_id"])),
            ("product_id".to_string(), hints(&["product.id"])),
        ]
        .into_iter()
        .collect(),
    };
    let d = FieldDetector { levels: false, level_fields: &fields, json_max_depth: 2, generic: &generic };
    let pairs = |p: &[(&str, &str)]| -> Vec<LabelPair> {
        p.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect()
    };
    let run = |stream: &[(&str, &str)], sm: &[(&str, &str)], line: &str| {
        let mut e = Entry::new(1, line);
        e.structured_metadata = pairs(sm);
        let given = e.structured_metadata.len();
        d.apply(&Labels::new(pairs(stream)), &mut e);
        let mut added: Vec<String> =
            e.structured_metadata[given..].iter().map(|p| format!("{}={}", p.name, p.value)).collect();
        added.sort();
        added
    };
    let env = [("env", "prod")];
    assert!(run(&env, &[], "log line does not match").is_empty());
    assert_eq!(
        run(&[("tenant_id", "fake"), ("trace_id", "8c5f2ecbade6f01d")], &[], "log line does not match"),
        ["org_id=fake", "trace_id=8c5f2ecbade6f01d"]
    );
    assert_eq!(
        run(&env, &[("trace_id", "8c5f2ecbade6f01d"), ("user_id", "fake")], "log line does not match"),
        ["org_id=fake", "trace_id=8c5f2ecbade6f01d"]
    );
    assert_eq!(
        run(&env, &[], r#"msg="this log line matches" trace_id="8c5f2ecbade6f01d" org_id=fake duration=1h"#),
        ["org_id=fake", "trace_id=8c5f2ecbade6f01d"]
    );
    assert_eq!(
        run(&env, &[], r#"msg="this log line matches" tenant_id="fake_a" org_id=fake_b duration=1h"#),
        ["org_id=fake_b"]
    );
    assert_eq!(
        run(&env, &[], r#"{"msg": "m", "trace_id": "8c5f2ecbade6f01d", "org_id": "fake", "duration": "1s"}"#),
        ["org_id=fake", "trace_id=8c5f2ecbade6f01d"]
    );
    assert_eq!(
        run(&env, &[], r#"{"msg": "m", "tenant_id": "fake_a", "org_id": "fake_b", "duration": "1s"}"#),
        ["org_id=fake_b"]
    );
    assert_eq!(
        run(&env, &[], r#"{"product": {"details": "product details", "id": "P2024/01"}}"#),
        ["product_id=P2024/01"]
    );
}

#[test]
fn logfmt_scanner() {
    let pairs: Vec<_> = LogfmtPairs::new(r#"a=1 b="two words" c d= e="esc\"aped""#).collect();
    let want = [("a", "1"), ("b", "two words"), ("c", ""), ("d", ""), ("e", "esc\"aped")];
    assert_eq!(pairs, want.map(|(k, v)| (k.to_string(), v.to_string())));
}
