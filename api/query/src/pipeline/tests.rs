//! Data-driven tests of the pipeline stages. Most cases come from Loki's
//! documentation and `pkg/logql/log/*_test.go`; each runs a query's
//! pipeline on one entry and compares the resulting line and labels.

use balsa_model::{Entry, LabelPair, Labels};

use super::*;

type Pairs<'a> = &'a [(&'a str, &'a str)];

/// Runs the pipeline of `q` on one entry of a stream; the line and the
/// canonical labels, or `None` when the entry is filtered out.
fn run(q: &str, stream: Pairs, sm: Pairs, line: &str) -> Option<(String, String)> {
    let expr = balsa_logql::parse_log_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let p = Pipeline::compile(&expr.stages).unwrap_or_else(|e| panic!("{q}: {e}"));
    let labels = Labels::from_pairs(stream.iter().copied());
    let mut sp = p.for_stream(&labels);
    let mut entry = Entry::new(1_700_000_000_123_456_789, line);
    entry.structured_metadata = sm.iter().map(|(n, v)| LabelPair { name: (*n).into(), value: (*v).into() }).collect();
    let out = sp.process(&entry).map(|r| (r.line.to_string(), r.labels.to_labels().canonical()));
    // A second run on the same stream pipeline gives the same result (no
    // state leaks between entries).
    let again = sp.process(&entry).map(|r| (r.line.to_string(), r.labels.to_labels().canonical()));
    assert_eq!(out, again, "{q}: second run differs");
    // The `| json | <label filter>` shortcut never changes a result.
    let mut plain = Pipeline::compile(&expr.stages).unwrap();
    plain.prefilter = None;
    let mut sp = plain.for_stream(&labels);
    let unoptimized = sp.process(&entry).map(|r| (r.line.to_string(), r.labels.to_labels().canonical()));
    assert_eq!(out, unoptimized, "{q} on {line:?}: the json prefilter changed the result");
    // Storage may skip what the line hint rules out: never a line that passes.
    if out.is_some() {
        assert!(p.line_hint().may_contain(line.as_bytes()), "{q}: the line hint rules out {line:?}, which passes");
    }
    out
}

/// Which lines the line hint of `q` rules out (storage may skip them).
#[test]
fn line_hints_come_from_positive_filters_on_the_stored_line() {
    // (query, line, whether the hint lets the line through)
    let cases = [
        (r#"{a="b"}"#, "anything", true),
        (r#"{a="b"} |= "needle""#, "hay", false),
        (r#"{a="b"} |= "needle""#, "a needle here", true),
        (r#"{a="b"} |= "needle""#, "NEEDLE", false),
        (r#"{a="b"} |= "x" or "y""#, "y only", true),
        (r#"{a="b"} |= "x" or "y""#, "neither", false),
        (r#"{a="b"} |= "x" |= "z""#, "x but not the other", false),
        (r#"{a="b"} |= "x" |= "z""#, "x and z", true),
        // Regexes give the literals every match starts with, when few, else
        // themselves when they do not look around their match.
        (r#"{a="b"} |~ "needle""#, "hay", false),
        (r#"{a="b"} |~ "err(or)?|warn""#, "a warning", true),
        (r#"{a="b"} |~ "err(or)?|warn""#, "an ERROR", false),
        (r#"{a="b"} |~ "x+y""#, "xxy", true),
        (r#"{a="b"} |~ "x+y""#, "y", false),
        (r#"{a="b"} |~ "(?i)needle""#, "hay", false),
        (r#"{a="b"} |~ "(?i)needle""#, "a NeeDle", true),
        (r#"{a="b"} |~ "(?i)\\bneedle""#, "hay", true),
        (r#"{a="b"} |~ "a*""#, "hay", true),
        (r#"{a="b"} |~ ".*needle""#, "hay", false),
        (r#"{a="b"} |~ ".*needle""#, "needles", true),
        (r#"{a="b"} |= "x" or "y" |~ "z""#, "y z", true),
        // Patterns: their longest literal.
        (r#"{a="b"} |> "<_> needle <_>""#, "hay", false),
        (r#"{a="b"} |> "<_> needle <_>""#, "x needle y", true),
        (r#"{a="b"} |> "<_>""#, "hay", true),
        // Negative and ip filters give no hint.
        (r#"{a="b"} != "x""#, "x", true),
        (r#"{a="b"} !~ "x""#, "x", true),
        (r#"{a="b"} |= ip("10.0.0.1")"#, "hay", true),
        (r#"{a="b"} |= "x" or ip("10.0.0.1")"#, "hay", true),
        // Filters after parsers still see the stored line ...
        (r#"{a="b"} | json | level="error" |= "needle""#, "hay", false),
        (r#"{a="b"} | logfmt | drop x |= "needle""#, "hay", false),
        // ... but not after a stage that rewrites it.
        (r#"{a="b"} | line_format "needle" |= "needle""#, "hay", true),
        (r#"{a="b"} | unpack |= "needle""#, "hay", true),
        // Loki runs a filter after `decolorize` before it (reorderStages).
        (r#"{a="b"} | decolorize |= "needle""#, "hay", false),
        (r#"{a="b"} | decolorize | x="y" |= "needle""#, "hay", true),
        (r#"{a="b"} |= "x" | line_format "needle" |= "needle""#, "hay", false),
    ];
    for (q, line, through) in cases {
        let expr = balsa_logql::parse_log_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let hint = Pipeline::compile(&expr.stages).unwrap().line_hint();
        assert_eq!(hint.may_contain(line.as_bytes()), through, "{q} on {line:?}");
    }
}

#[test]
fn json_prefilter_is_invisible() {
    let queries = [
        r#"{a="b"} | json | status >= 500"#,
        r#"{a="b"} | json | status >= 500 | level="error""#,
        r#"{a="b"} | json | resp_status = 500 or status_extracted = "x""#,
        r#"{a="b"} |= "x" | json | status > 1 | line_format "{{.msg}}""#,
        r#"{a="b"} | json | duration > 1s"#,
        r#"{a="b"} | json | size > 1KB"#,
        r#"{a="b"} | json | addr = ip("10.0.0.0/8")"#,
    ];
    let lines = [
        r#"{"status":503,"level":"error","msg":"x"}"#,
        r#"{"status":200,"level":"error","msg":"x"}"#,
        r#"{"status":"oops","msg":"x"}"#,
        r#"{"resp":{"status":500},"msg":"x"}"#,
        r#"{"status":503,"msg":"x""#,
        r#"{"status":503 "msg":"x"}"#,
        r#"not json x"#,
        r#"{"duration":"2s","size":"2KB","addr":"10.1.2.3","msg":"x"}"#,
        r#"{"duration":"bad","size":"bad","addr":"nope","msg":"x"}"#,
        r#"{"msg":"x"}"#,
    ];
    for q in &queries[..3] {
        let expr = balsa_logql::parse_log_expr(q).unwrap();
        assert!(Pipeline::compile(&expr.stages).unwrap().prefilter.is_some(), "{q} takes the shortcut");
    }
    let expr = balsa_logql::parse_log_expr(r#"{a="b"} | json | __error__="""#).unwrap();
    assert!(Pipeline::compile(&expr.stages).unwrap().prefilter.is_none(), "filters on errors see every label");
    let streams: [Pairs; 2] = [&[("a", "b")], &[("a", "b"), ("status", "999")]];
    for q in queries {
        for line in lines {
            for stream in streams {
                for sm in [&[][..], &[("status", "501")][..]] {
                    // `run` compares with and without the shortcut.
                    run(q, stream, sm, line);
                }
            }
        }
    }
}

/// The shortcut is invisible under metric parser hints too (only the
/// required labels, parsing that stops once they are extracted).
#[test]
fn json_prefilter_is_invisible_with_metric_hints() {
    let queries = [
        r#"{a="b"} | json | status >= 500"#,
        r#"{a="b"} | json | status >= 500 | level="error""#,
        r#"{a="b"} | json | level="error" or status > 1"#,
    ];
    let lines = [
        r#"{"status":503,"level":"error","msg":"x"}"#,
        r#"{"status":200,"level":"error","msg":"x", "rest": broken"#,
        r#"{"level":"error","status":503,"nested":{"bad" 1}}"#,
        r#"{"nested":{"bad" 1},"status":503}"#,
        r#"{"status":"oops","msg":"x"}"#,
        r#"not json x"#,
    ];
    let groupings: [(&[&str], bool); 4] = [(&["level"], false), (&["status", "msg"], false), (&[], false), (&[], true)];
    for q in queries {
        let expr = balsa_logql::parse_log_expr(q).unwrap();
        for (groups, no_labels) in groupings {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            let hinted = || {
                Pipeline::compile(&expr.stages)
                    .unwrap()
                    .with_metric_hints(&expr.stages, &groups, false, no_labels, None)
                    .unwrap()
            };
            for line in lines {
                let entry = Entry::new(1, line);
                let labels = Labels::from_pairs([("a", "b")]);
                let p = hinted();
                let mut sp = p.for_stream(&labels);
                let with = sp.process(&entry).map(|r| r.labels.to_labels().canonical());
                let mut p = hinted();
                p.prefilter = None;
                let mut sp = p.for_stream(&labels);
                let without = sp.process(&entry).map(|r| r.labels.to_labels().canonical());
                assert_eq!(with, without, "{q} by {groups:?} on {line:?}");
            }
        }
    }
}

/// Loki's `ShouldContinueParsingLine`: the first single-label filter on a
/// label runs as soon as a parser sets it, wherever it stands in the
/// pipeline, and drops the entry there.
#[test]
fn single_label_filters_run_when_their_label_is_parsed() {
    // Before the parser: on the value the parser sets.
    dropped(r#"{a="b"} | level!="x" | logfmt"#, &[], "level=x");
    check(r#"{a="b"} | level!="x" | logfmt"#, &[], "level=y", r#"{level="y"}"#);
    // Before a parse error; a filter that matches everything is no filter.
    dropped(r#"{a="b"} | json | status > 400"#, &[], r#"{"status":200, "x": bad"#);
    dropped(r#"{a="b"} | json | status=~".*" | status > 400"#, &[], r#"{"status":200, "x": bad"#);
    check(
        r#"{a="b"} | json | status > 400 or status < 300"#,
        &[],
        r#"{"status":200, "x": bad"#,
        r#"{__error__="JSONParserErr", __error_details__="Unknown value type", status="200"}"#,
    );
    dropped(r#"{a="b"} | regexp "(?P<l>[a-z]+)" | label_format l="x" | l="x""#, &[], "y");
    dropped(r#"{a="b"} | pattern "<l> <_>" | label_format l="x" | l="x""#, &[], "y z");
    dropped(r#"{a="b"} | logfmt --strict | __error__="" | drop __error__"#, &[], "a=\"b");
}

/// Expects the entry to pass with `labels` (canonical form); the line is
/// expected unchanged.
#[track_caller]
fn check(q: &str, stream: Pairs, line: &str, labels: &str) {
    check_full(q, stream, &[], line, Some((line, labels)));
}

#[track_caller]
fn check_line(q: &str, stream: Pairs, line: &str, want_line: &str, labels: &str) {
    check_full(q, stream, &[], line, Some((want_line, labels)));
}

#[track_caller]
fn check_full(q: &str, stream: Pairs, sm: Pairs, line: &str, want: Option<(&str, &str)>) {
    let got = run(q, stream, sm, line);
    let want = want.map(|(l, s)| (l.to_string(), s.to_string()));
    assert_eq!(got, want, "query {q} on line {line:?}");
}

#[track_caller]
fn dropped(q: &str, stream: Pairs, line: &str) {
    check_full(q, stream, &[], line, None);
}

fn compile_err(q: &str) -> String {
    let expr = balsa_logql::parse_log_expr(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    match Pipeline::compile(&expr.stages) {
        Ok(_) => panic!("{q}: compiled"),
        Err(e) => e.to_string(),
    }
}

const S: &str = r#"{a="b"}"#;

#[test]
fn line_filters() {
    let l = |q: &str, line: &str| run(&format!("{S} {q}"), &[("a", "b")], &[], line).is_some();
    assert!(l(r#"|= "foo""#, "a foo b"));
    assert!(!l(r#"|= "foo""#, "a fo b"));
    assert!(l(r#"!= "foo""#, "bar"));
    assert!(l(r#"|~ "(?i)ERROR""#, "an error"));
    assert!(!l(r#"!~ "err.r""#, "an error"));
    assert!(l(r#"|= "foo" or "bar""#, "bar"));
    assert!(!l(r#"!= "foo" or "bar""#, "bar"));
    assert!(l(r#"!= "foo" or "bar""#, "baz"));
    assert!(l(r#"|= "foo" |= "bar""#, "foobar"));
    assert!(!l(r#"|= "foo" |= "bar""#, "foo"));
    assert!(l(r#"|> "<_> bar <_>""#, "foo bar baz"));
    assert!(!l(r#"|> "<_> bar""#, "foo bar baz"));
    assert!(l(r#"|> "<_> baz""#, "foo bar baz"));
    assert!(l(r#"!> "<_> bar""#, "foo bar baz"));
    assert!(l(r#"|= ip("10.0.0.0/8")"#, "client 10.1.2.3 connected"));
    assert!(!l(r#"|= ip("10.0.0.0/8")"#, "client 11.1.2.3 connected"));
    assert!(l(r#"!= ip("10.0.0.0/8")"#, "client 11.1.2.3 connected"));
    assert!(l(r#"| a="b" | __error__="""#, "anything"));
    assert!(!l(r#"| a="c" or a=~"z.*""#, "anything"));
    // a line filter after line_format sees the new line
    assert!(l(r#"| line_format "{{.a}}" |= "b""#, "x"));
    assert!(!l(r#"| line_format "{{.a}}" |= "x""#, "x"));
}

#[test]
fn json_parser() {
    let q = r#"{a="b"} | json"#;
    check(
        q,
        &[],
        r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}"#,
        r#"{app="foo", namespace="prod", pod_deployment_ref="foobar", pod_uuid="foo"}"#,
    );
    check(q, &[], r#"{"counter":1, "price": {"_net_":5.56909}}"#, r#"{counter="1", price__net_="5.56909"}"#);
    check(q, &[], r#"{" ": {"foo":"bar"}}"#, r#"{foo="bar"}"#);
    check(q, &[], r#"{" ": {" ":"bar"}}"#, r#"{="bar"}"#);
    check(q, &[], r#"{"": {"":"bar"}}"#, r#"{="bar"}"#);
    check(
        q,
        &[],
        r#"{"counter":1,"foo":"foo\\\"bar", "price": {"_net_":5.56909}}"#,
        r#"{counter="1", foo="foo\\\"bar", price__net_="5.56909"}"#,
    );
    check(
        q,
        &[],
        r#"{"counter":1,"foo":"�", "price": {"_net_":5.56909}}"#,
        r#"{counter="1", foo=" ", price__net_="5.56909"}"#,
    );
    check(q, &[], r#"{"counter":1, "price": {"net_":["10","20"]}}"#, r#"{counter="1"}"#);
    check(q, &[], r#"{"cou-nter":1}"#, r#"{cou_nter="1"}"#);
    check(
        q,
        &[],
        "{n}",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check(
        q,
        &[("app", "bar")],
        r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}},"next":{"err":false}}"#,
        r#"{app="bar", app_extracted="foo", namespace="prod", next_err="false", pod_deployment_ref="foobar", pod_uuid="foo"}"#,
    );
    // Loki's documentation example
    check(
        q,
        &[],
        r#"{"protocol":"HTTP/2.0","servers":["129.0.1.1","10.2.1.3"],"request":{"time":"6.032","method":"GET","host":"foo.grafana.net","size":"55","headers":{"Accept":"*/*","User-Agent":"curl/7.68.0"}},"response":{"status":401,"size":"228","latency_seconds":"6.031"}}"#,
        r#"{protocol="HTTP/2.0", request_headers_Accept="*/*", request_headers_User_Agent="curl/7.68.0", request_host="foo.grafana.net", request_method="GET", request_size="55", request_time="6.032", response_latency_seconds="6.031", response_size="228", response_status="401"}"#,
    );
    check(q, &[], r#"{ "a.b": {"c": "d"}, "e": "f" }"#, r#"{a_b_c="d", e="f"}"#);
    // nulls and arrays are skipped; digits get a leading underscore
    check(q, &[], r#"{"n":null,"1x":"y","o":{"2":"z"}}"#, r#"{_1x="y", o__2="z"}"#);
    // labels before an error are kept
    check(
        q,
        &[],
        r#"{"a":"1", "b": tru}"#,
        r#"{__error__="JSONParserErr", __error_details__="Unknown value type", a="1"}"#,
    );
    check(
        q,
        &[],
        "not json",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check(
        q,
        &[],
        "",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check(q, &[], r#"{"a":"x\u00e9\n"} trailing"#, "{a=\"xé\\n\"}");
    check(q, &[], r#"{"t":true,"f":false}"#, r#"{f="false", t="true"}"#);
    // A repeated key keeps its first value, as in Loki.
    check(q, &[], r#"{"a":"1","a":"2"}"#, r#"{a="1"}"#);
    check(q, &[], r#"{"bad":"\x"}"#, r#"{bad=""}"#);
}

const JSON_LINE: &str = r#"{"app":"foo","field with space":"value","field with ÜFT8👌":"value","null_field":null,"bool_field":false,"namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar", "params": [1,2,3,"string_value"]}}}"#;

#[test]
fn json_expressions() {
    let c = |params: &str, stream: Pairs, line: &str, want: &str| {
        check(&format!("{S} | json {params}"), stream, line, want);
    };
    c("app", &[], JSON_LINE, r#"{app="foo"}"#);
    c(r#"test="[\"field with space\"]""#, &[], JSON_LINE, r#"{test="value"}"#);
    c("app, namespace", &[], JSON_LINE, r#"{app="foo", namespace="prod"}"#);
    c(r#"utf8="[\"field with ÜFT8👌\"]""#, &[], JSON_LINE, r#"{utf8="value"}"#);
    c(r#"uuid="pod.uuid""#, &[], JSON_LINE, r#"{uuid="foo"}"#);
    c(r#"uuid="pod[\"uuid\"]""#, &[], JSON_LINE, r#"{uuid="foo"}"#);
    c(r#"uuid="[\"pod\"][\"uuid\"]""#, &[], JSON_LINE, r#"{uuid="foo"}"#);
    c(r#"uuid="[\"pod\"].uuid""#, &[], JSON_LINE, r#"{uuid="foo"}"#);
    c(r#"param="pod.deployment.params[0]""#, &[], JSON_LINE, r#"{param="1"}"#);
    c(r#"undefined="pod[\"\"]""#, &[], JSON_LINE, r#"{undefined=""}"#);
    c(r#"param="pod.deployment.params[\"\"]""#, &[], JSON_LINE, r#"{param=""}"#);
    c(r#"param="pod.deployment.params[3]""#, &[], JSON_LINE, r#"{param="string_value"}"#);
    c(r#"params="pod.deployment.params""#, &[], JSON_LINE, r#"{params="[1,2,3,\"string_value\"]"}"#);
    c(
        r#"deployment="pod.deployment""#,
        &[],
        JSON_LINE,
        r#"{deployment="{\"ref\":\"foobar\", \"params\": [1,2,3,\"string_value\"]}"}"#,
    );
    c(r#"nope="pod.nope""#, &[], JSON_LINE, r#"{nope=""}"#);
    c(r#"nf="null_field""#, &[], JSON_LINE, r#"{nf=""}"#);
    c(r#"b="bool_field""#, &[], JSON_LINE, r#"{b="false"}"#);
    c(r#"uuid="pod.uuid""#, &[("uuid", "bar")], JSON_LINE, r#"{uuid="bar", uuid_extracted="foo"}"#);
    c(r#"request_size="request.size.invalid""#, &[("uuid", "bar")], JSON_LINE, r#"{request_size="", uuid="bar"}"#);
    c(r#"uuid="pod.uuid""#, &[], "{}", r#"{uuid=""}"#);
    c(r#"uuid="will.not.work""#, &[("foo", "bar")], JSON_LINE, r#"{foo="bar", uuid=""}"#);
    c(r#"uuid="will.not.work""#, &[("foo", "bar")], "invalid json", r#"{__error__="JSONParserErr", foo="bar"}"#);
    c(r#"uuid="will.not.work""#, &[("foo", "bar")], "", r#"{foo="bar"}"#);
    c(
        "app",
        &[("foo", "bar")],
        r#"{"app":"{ \"key\": \"value\", \"key2\":\"value2\"}"}"#,
        r#"{app="{ \"key\": \"value\", \"key2\":\"value2\"}", foo="bar"}"#,
    );
    c(
        "app",
        &[("foo", "bar")],
        r#"{"app":{"name":"great \"loki\""}"#,
        r#"{app="{\"name\":\"great \\\"loki\\\"\"}", foo="bar"}"#,
    );
    c(
        "app",
        &[("foo", "bar")],
        r#"{"app":"{\"name\":\"great \\\"loki\\\"\"}"}"#,
        r#"{app="{\"name\":\"great \\\"loki\\\"\"}", foo="bar"}"#,
    );
    // Loki's documentation example
    let doc = r#"{"protocol":"HTTP/2.0","servers":["129.0.1.1","10.2.1.3"],"request":{"time":"6.032","method":"GET","host":"foo.grafana.net","size":"55","headers":{"Accept":"*/*","User-Agent":"curl/7.68.0"}},"response":{"status":401,"size":"228","latency_seconds":"6.031"}}"#;
    c(
        r#"first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
        &[],
        doc,
        r#"{first_server="129.0.1.1", ua="curl/7.68.0"}"#,
    );
    c(
        r#"server_list="servers", headers="request.headers""#,
        &[],
        doc,
        r#"{headers="{\"Accept\":\"*/*\",\"User-Agent\":\"curl/7.68.0\"}", server_list="[\"129.0.1.1\",\"10.2.1.3\"]"}"#,
    );
    c("servers", &[], doc, r#"{servers="[\"129.0.1.1\",\"10.2.1.3\"]"}"#);
    // an invalid value at the path is an error
    c("a", &[], r#"{"a": tru}"#, r#"{__error__="JSONParserErr", __error_details__="Unknown value type", a=""}"#);
    assert_eq!(
        compile_err(r#"{a="b"} | json app="field with space""#),
        "parse error : stage '| json app=\"field with space\"' : cannot parse expression [field with space]: syntax error: unexpected FIELD"
    );
    assert!(
        compile_err(r#"{a="b"} | json app="pod..uuid""#).ends_with("syntax error: unexpected DOT, expecting FIELD")
    );
}

#[test]
fn logfmt_parser() {
    // (line, stream, non-strict labels, strict labels)
    let cases: &[(&str, Pairs, &str, &str)] = &[
        (
            "foobar====wqe=sdad1r",
            &[("foo", "bar")],
            r#"{foo="bar"}"#,
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 8 : unexpected '='", foo="bar"}"#,
        ),
        ("buzz=foo bar=�f", &[], r#"{bar=" f", buzz="foo"}"#, r#"{bar=" f", buzz="foo"}"#),
        ("buzz bar=foo", &[("foo", "bar")], r#"{bar="foo", foo="bar"}"#, r#"{bar="foo", foo="bar"}"#),
        (
            r#"foobar="foo bar""#,
            &[("foo", "bar")],
            r#"{foo="bar", foobar="foo bar"}"#,
            r#"{foo="bar", foobar="foo bar"}"#,
        ),
        (
            r#"foobar="foo\nbar\tbaz""#,
            &[("a", "b")],
            r#"{a="b", foobar="foo\nbar\tbaz"}"#,
            r#"{a="b", foobar="foo\nbar\tbaz"}"#,
        ),
        (
            "foobar=\"foo\nbar\tbaz\"",
            &[("a", "b")],
            r#"{a="b", foobar="foo\nbar\tbaz"}"#,
            r#"{a="b", foobar="foo\nbar\tbaz"}"#,
        ),
        (
            r#"foobar="foo ba\\r baz""#,
            &[("a", "b")],
            r#"{a="b", foobar="foo ba\\r baz"}"#,
            r#"{a="b", foobar="foo ba\\r baz"}"#,
        ),
        (
            "foobar=\"foo bar\nb\\\\az\"",
            &[("a", "b")],
            r#"{a="b", foobar="foo bar\nb\\az"}"#,
            r#"{a="b", foobar="foo bar\nb\\az"}"#,
        ),
        (
            r#"foobar="foo bar" latency=10ms"#,
            &[("foo", "bar")],
            r#"{foo="bar", foobar="foo bar", latency="10ms"}"#,
            r#"{foo="bar", foobar="foo bar", latency="10ms"}"#,
        ),
        (
            // A repeated key keeps its first value, as in Loki.
            r#"foobar="foo bar" foobar=10ms"#,
            &[("foo", "bar")],
            r#"{foo="bar", foobar="foo bar"}"#,
            r#"{foo="bar", foobar="foo bar"}"#,
        ),
        (
            r#"foo="foo bar" foobar=10ms"#,
            &[("foo", "bar")],
            r#"{foo="bar", foo_extracted="foo bar", foobar="10ms"}"#,
            r#"{foo="bar", foo_extracted="foo bar", foobar="10ms"}"#,
        ),
        (
            r#"foo="foo bar" foo.bar=10ms test-dash=foo"#,
            &[("foo", "bar")],
            r#"{foo="bar", foo_bar="10ms", foo_extracted="foo bar", test_dash="foo"}"#,
            r#"{foo="bar", foo_bar="10ms", foo_extracted="foo bar", test_dash="foo"}"#,
        ),
        ("", &[("foo", "bar")], r#"{foo="bar"}"#, r#"{foo="bar"}"#),
        (
            r#"foo="foo bar" =notkey bar=10ms"#,
            &[("foo", "bar")],
            r#"{bar="10ms", foo="bar", foo_extracted="foo bar"}"#,
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 15 : unexpected '='", foo="bar", foo_extracted="foo bar"}"#,
        ),
        (
            r#"foo="foo bar" b�r=10ms"#,
            &[("foo", "bar")],
            r#"{foo="bar", foo_extracted="foo bar"}"#,
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 20 : invalid key", foo="bar", foo_extracted="foo bar"}"#,
        ),
        (
            r#"foo="foo bar" bu"zz=10ms"#,
            &[("foo", "bar")],
            r#"{foo="bar", foo_extracted="foo bar"}"#,
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 17 : unexpected '\"'", foo="bar", foo_extracted="foo bar"}"#,
        ),
        (
            r#"bar=bu=zz foo="foo bar""#,
            &[("foo", "bar")],
            r#"{foo="bar", foo_extracted="foo bar"}"#,
            r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 7 : unexpected '='", foo="bar"}"#,
        ),
    ];
    for (line, stream, plain, strict) in cases {
        check(r#"{a="b"} | logfmt"#, stream, line, plain);
        check(r#"{a="b"} | logfmt --strict"#, stream, line, strict);
    }
    // Loki's documentation example
    check(
        r#"{a="b"} | logfmt"#,
        &[],
        r#"at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200"#,
        r#"{at="info", fwd="124.133.124.161", host="grafana.net", method="GET", path="/", service="8ms", status="200"}"#,
    );
    check(
        r#"{a="b"} | logfmt host, fwd_ip="fwd""#,
        &[],
        r#"at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200"#,
        r#"{fwd_ip="124.133.124.161", host="grafana.net"}"#,
    );
}

#[test]
fn logfmt_keep_empty() {
    for strict in ["", " --strict"] {
        let plain = format!(r#"{{a="b"}} | logfmt{strict}"#);
        let keep = format!(r#"{{a="b"}} | logfmt{strict} --keep-empty"#);
        check(&plain, &[("foo", "bar")], "foo bar=buzz", r#"{bar="buzz", foo="bar"}"#);
        check(&keep, &[("foo", "bar")], "foo bar=buzz", r#"{bar="buzz", foo="bar", foo_extracted=""}"#);
        check(&plain, &[("foo", "bar")], "foo=b�r bar=buzz", r#"{bar="buzz", foo="bar", foo_extracted="b r"}"#);
        check(&keep, &[("foo", "bar")], "foo=b�r bar=buzz", r#"{bar="buzz", foo="bar", foo_extracted="b r"}"#);
    }
}

#[test]
fn logfmt_expressions() {
    let line = r#"app=foo level=error spaces="value with ÜFT8👌" ts=2021-02-12T19:18:10.037940878Z"#;
    let c = |params: &str, stream: Pairs, want: &str| check(&format!("{S} | logfmt {params}"), stream, line, want);
    c("app", &[], r#"{app="foo"}"#);
    c("app, level, ts", &[], r#"{app="foo", level="error", ts="2021-02-12T19:18:10.037940878Z"}"#);
    c(r#"test="level""#, &[], r#"{test="error"}"#);
    c(
        r#"app, lvl="level", timestamp="ts""#,
        &[],
        r#"{app="foo", lvl="error", timestamp="2021-02-12T19:18:10.037940878Z"}"#,
    );
    c("spaces", &[], r#"{spaces="value with ÜFT8👌"}"#);
    c("nope", &[], r#"{nope=""}"#);
    c("app", &[("ap", "bar")], r#"{ap="bar", app="foo"}"#);
    c("app", &[("app", "bar")], r#"{app="bar", app_extracted="foo"}"#);
    c(r#"lvl="level""#, &[("level", "debug")], r#"{level="debug", lvl="error"}"#);
    check(
        r#"{a="b"} | logfmt --strict lvl="level""#,
        &[],
        "level=info x=\"broken",
        r#"{__error__="LogfmtParserErr", __error_details__="logfmt syntax error at pos 21 : unterminated quoted value", lvl="info"}"#,
    );
    assert!(compile_err(r#"{a="b"} | logfmt app="field with space""#).ends_with("syntax error: unexpected KEY"));
}

#[test]
fn regexp_parser() {
    let c = |re: &str, stream: Pairs, line: &str, want: &str| {
        check(&format!("{S} | regexp `{re}`"), stream, line, want);
    };
    c("(?P<foo>foo|bar)buzz", &[("app", "foo")], "blah", r#"{app="foo"}"#);
    c("(?P<foo>.*)buzz", &[("app", "bar")], "matchebuzz barbuzz", r#"{app="bar", foo="matchebuzz bar"}"#);
    c("(?P<bar>bar)buzz", &[("bar", "foo")], "barbuzz", r#"{bar="foo", bar_extracted="bar"}"#);
    c(
        r"status=(?P<status>\w+),latency=(?P<latency>\w+)(ms|ns)",
        &[("app", "foo")],
        "status=200,latency=500ms",
        r#"{app="foo", latency="500", status="200"}"#,
    );
    // Loki's documentation example
    c(
        r"(?P<method>\w+) (?P<path>[\w|/]+) \((?P<status>\d+?)\) (?P<duration>.*)",
        &[],
        "POST /api/prom/api/v1/query_range (200) 1.5s",
        r#"{duration="1.5s", method="POST", path="/api/prom/api/v1/query_range", status="200"}"#,
    );
    // a group that takes no part sets an empty label
    c("(?P<a>x)|(?P<b>y)", &[], "y", r#"{a="", b="y"}"#);
}

#[test]
fn pattern_parser() {
    let c = |p: &str, stream: Pairs, line: &str, want: &str| {
        check(&format!("{S} | pattern `{p}`"), stream, line, want);
    };
    c(
        r#"<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>"#,
        &[("foo", "bar")],
        r#"127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
        r#"{foo="bar", ip="127.0.0.1", method="GET", path="/apache_pb.gif", size="2326", status="200", user="frank", userid="user-identifier"}"#,
    );
    c(
        r#"<_> msg="<method> <path> (<status>) <duration>""#,
        &[("method", "bar")],
        r#"level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 traceID=7fbb92fd0eb9c65d msg="POST /loki/api/v1/push (204) 1.238734ms""#,
        r#"{duration="1.238734ms", method="bar", method_extracted="POST", path="/loki/api/v1/push", status="204"}"#,
    );
    c(r#"foo <f>""#, &[("method", "bar")], "bar", r#"{method="bar"}"#);
    // Loki's documentation example
    c(
        r#"<ip> - - <_> "<method> <uri> <_>" <status> <size> <_> "<agent>" <_>"#,
        &[],
        r#"0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 "-" "Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" """#,
        r#"{agent="Go-http-client/2.0", ip="0.191.12.2", method="GET", size="2", status="200", uri="/api/plugins/versioncheck"}"#,
    );
    // a missing literal gives the rest of the line to the capture
    c("<a> x <b>", &[], "one two", r#"{a="one two"}"#);
}

#[test]
fn unpack_parser() {
    let q = r#"{a="b"} | unpack"#;
    check_line(
        q,
        &[("cluster", "us-central1")],
        r#"{"bar":1,"app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}}"#,
        "some message",
        r#"{app="foo", cluster="us-central1", namespace="prod"}"#,
    );
    check(
        q,
        &[],
        r#""app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}"#,
        r#"{__error__="JSONParserErr", __error_details__="expecting json object(6), but it is not"}"#,
    );
    check(q, &[("cluster", "us-central1")], "", r#"{cluster="us-central1"}"#);
    check(
        q,
        &[("cluster", "us-central1")],
        r#"["foo","bar"]"#,
        r#"{__error__="JSONParserErr", __error_details__="expecting json object(6), but it is not", cluster="us-central1"}"#,
    );
    check_line(
        q,
        &[("cluster", "us-central1"), ("app", "bar")],
        r#"{"bar":1,"app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}}"#,
        "some message",
        r#"{app="bar", app_extracted="foo", cluster="us-central1", namespace="prod"}"#,
    );
    check(
        q,
        &[("app", "bar"), ("cluster", "us-central1")],
        r#"{"bar":1,"app":"foo","namespace":"prod","pod":{"uid":"1"}}"#,
        r#"{app="bar", cluster="us-central1"}"#,
    );
    check_line(
        q,
        &[("app", "bar"), ("cluster", "us-central1")],
        r#"{"_entry":"I0303 17:49:45.976518    1526 kubelet_getters.go:178] \"Pod status updated\" pod=\"openshift-etcd/etcd-ip-10-0-150-50.us-east-2.compute.internal\" status=Running"}"#,
        r#"I0303 17:49:45.976518    1526 kubelet_getters.go:178] "Pod status updated" pod="openshift-etcd/etcd-ip-10-0-150-50.us-east-2.compute.internal" status=Running"#,
        r#"{app="bar", cluster="us-central1"}"#,
    );
    check_line(
        q,
        &[("foo", "bar")],
        r#"{"foo.bar":"10ms","test-dash":"foo","_entry":"some message"}"#,
        "some message",
        r#"{foo="bar", foo_bar="10ms", test_dash="foo"}"#,
    );
    // the unpacked line feeds the next parser
    check_line(
        r#"{a="b"} | unpack | logfmt"#,
        &[],
        r#"{"container":"myapp","_entry":"level=info msg=hi"}"#,
        "level=info msg=hi",
        r#"{container="myapp", level="info", msg="hi"}"#,
    );
}

#[test]
fn extracted_names_collide_once() {
    // Structured metadata colliding with a stream label is renamed too.
    check_full(
        r#"{a="b"}"#,
        &[("app", "x")],
        &[("app", "sm"), ("trace", "t")],
        "l",
        Some(("l", r#"{app="x", app_extracted="sm", trace="t"}"#)),
    );
    // A parsed key that is a structured metadata label is renamed, as in
    // Loki (`HasInCategory(key, StructuredMetadataLabel)`).
    check_full(
        r#"{a="b"} | logfmt"#,
        &[],
        &[("level", "sm")],
        "level=info",
        Some(("level=info", r#"{level="sm", level_extracted="info"}"#)),
    );
    // label_format still replaces structured metadata.
    check_full(r#"{a="b"} | label_format level="x""#, &[], &[("level", "sm")], "l", Some(("l", r#"{level="x"}"#)));
    // A later parser does not overwrite what an earlier one extracted...
    check(r#"{a="b"} | logfmt | regexp "(?P<level>\\d)""#, &[], "level=info x=1", r#"{level="info", x="1"}"#);
    check(r#"{a="b"} | regexp "(?P<a>\\d)" | json"#, &[], r#"{"a":"x","n":"7"}"#, r#"{a="7", n="7"}"#);
    // ... but label_format does.
    check(r#"{a="b"} | logfmt | label_format level="x""#, &[], "level=info", r#"{level="x"}"#);
}

#[test]
fn label_filters() {
    let st: Pairs = &[("foo", "5"), ("bar", "1s")];
    let p = |f: &str, stream: Pairs| run(&format!("{S} | {f}"), stream, &[], "l").is_some();
    assert!(p("foo == 5 and bar == 1s", st));
    assert!(p("foo = 5, bar = 1s", st));
    assert!(!p("foo == 6 and bar == 1s", st));
    assert!(!p("foo == 5 and bar == 2s", st));
    assert!(p(r#"foo="5" bar==1s"#, st));
    assert!(p("foo == 5 and bar == 42kB", &[("foo", "5"), ("bar", "42kB")]));
    let st: Pairs = &[("duration", "2s"), ("status", "200"), ("method", "GET")];
    assert!(p(r#"(duration > 1s or status != 200) and method != "POST""#, st));
    let st: Pairs = &[("duration", "2s"), ("status", "200"), ("method", "POST")];
    assert!(!p(r#"(duration > 1s or status != 200) and method != "POST""#, st));
    assert!(!p(r#"(duration > 3s or status != 200) and method != "POST""#, st));
    assert!(p(r#"duration > 3s or status == 200 and method = "POST""#, st));
    assert!(p(r#"duration >= 2s, status <= 200, status < 201, status > 199.5, status >= -1"#, st));
    for (want, label) in [
        (42u64, "42B"),
        (42_000, "42kB"),
        (42_000_000, "42MB"),
        (42_000_000_000, "42GB"),
        (42 * 1024, "42KiB"),
        (42 * 1024 * 1024, "42MiB"),
        (42 * 1024 * 1024 * 1024, "42GiB"),
    ] {
        let q = format!("{S} | bar <= {label} | bar >= {label} | bar == {want}B");
        assert!(run(&q, &[("bar", label)], &[], "l").is_some(), "{label}");
    }
    // missing labels drop the line for typed filters, match "" for strings
    assert!(!p("nope > 1", &[]));
    assert!(!p("nope > 1s", &[]));
    assert!(!p("nope > 1KB", &[]));
    assert!(p(r#"nope="""#, &[]));
    assert!(!p(r#"nope!="""#, &[]));
    // ip()
    assert!(p(r#"addr = ip("10.0.0.0/8")"#, &[("addr", "10.1.2.3")]));
    assert!(!p(r#"addr = ip("10.0.0.0/8")"#, &[("addr", "11.1.2.3")]));
    assert!(p(r#"addr != ip("10.0.0.0/8")"#, &[("addr", "11.1.2.3")]));
    assert!(!p(r#"addr = ip("10.0.0.0/8")"#, &[]));
    // regex matchers are anchored
    assert!(p(r#"foo=~"ba.""#, &[("foo", "bar")]));
    assert!(!p(r#"foo=~"ba""#, &[("foo", "bar")]));
    assert!(p(r#"foo!~"ba""#, &[("foo", "bar")]));
}

#[test]
fn label_filter_conversion_errors() {
    check(
        r#"{a="b"} | status > 100"#,
        &[("status", "abc")],
        "l",
        r#"{__error__="LabelFilterErr", __error_details__="strconv.ParseFloat: parsing \"abc\": invalid syntax", status="abc"}"#,
    );
    check(
        r#"{a="b"} | d > 1s"#,
        &[("d", "abc")],
        "l",
        r#"{__error__="LabelFilterErr", __error_details__="time: invalid duration \"abc\"", d="abc"}"#,
    );
    check(
        r#"{a="b"} | s > 1KB"#,
        &[("s", "12 parsecs")],
        "l",
        r#"{__error__="LabelFilterErr", __error_details__="unhandled size name: parsecs", s="12 parsecs"}"#,
    );
    // an existing error is kept, and typed filters then let the line through
    check(
        r#"{a="b"} | json | n > 5"#,
        &[],
        r#"{"n":"x"}"#,
        r#"{__error__="LabelFilterErr", __error_details__="strconv.ParseFloat: parsing \"x\": invalid syntax", n="x"}"#,
    );
    check(
        r#"{a="b"} | json | n > 5"#,
        &[],
        r#"{"n":"x", bad}"#,
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol", n="x"}"#,
    );
    // errors can be filtered by string matchers only
    dropped(r#"{a="b"} | json | __error__="""#, &[], "not json");
    check(
        r#"{a="b"} | json | __error__!="""#,
        &[],
        "{",
        r#"{__error__="JSONParserErr", __error_details__="Malformed JSON error"}"#,
    );
    dropped(r#"{a="b"} | json | __error__!~".+""#, &[], "x");
    check(
        r#"{a="b"} | json | __error__="JSONParserErr" | ip > 1"#,
        &[("ip", "1.2.3.4")],
        "x",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol", ip="1.2.3.4"}"#,
    );
    // Loki's pipeline error example: drop the error labels
    check(
        r#"{a="b"} | json | drop __error__, __error_details__"#,
        &[("job", "varlogs")],
        "INFO GET / loki.net 200",
        r#"{job="varlogs"}"#,
    );
}

#[test]
fn line_and_label_format() {
    check_line(
        r#"{a="b"} | logfmt | line_format "{{.query}} {{.duration}}""#,
        &[],
        r#"query="sum(rate(x[1m]))" duration=1.5s"#,
        "sum(rate(x[1m])) 1.5s",
        r#"{duration="1.5s", query="sum(rate(x[1m]))"}"#,
    );
    check_line(r#"{a="b"} | line_format "{{.missing}}""#, &[("a", "b")], "x", "", r#"{a="b"}"#);
    // Loki's documentation example (math functions)
    check_line(
        r#"{a="b"} | logfmt | line_format "{{.ip}} {{.status}} {{div .duration 1000}}""#,
        &[],
        "ip=1.1.1.1 status=200 duration=3000",
        "1.1.1.1 200 3",
        r#"{duration="3000", ip="1.1.1.1", status="200"}"#,
    );
    check_line(
        r#"{a="b"} | line_format `{{ __timestamp__ | date "2006-01-02" }} {{ ToUpper .a }} {{ len . }}`"#,
        &[("a", "b")],
        "x",
        "2023-11-14 B 1",
        r#"{a="b"}"#,
    );
    check(
        r#"{a="b"} | label_format both=`{{.status}} {{.method}}`"#,
        &[("status", "200"), ("method", "GET")],
        "l",
        r#"{both="200 GET", method="GET", status="200"}"#,
    );
    check_line(r#"{a="b"} | line_format "[{{__line__}}]""#, &[], "x", "[x]", "{}");
    check_line(
        r#"{a="b"} | json | line_format "{{.__error__}}|{{.__error_details__}}|""#,
        &[],
        "x",
        "JSONParserErr|Value looks like object, but can't find closing '}' symbol|",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    // rename drops the source; templates keep it
    check(r#"{a="b"} | label_format dst=src"#, &[("src", "v")], "l", r#"{dst="v"}"#);
    check(r#"{a="b"} | label_format dst="{{.src}}""#, &[("src", "v")], "l", r#"{dst="v", src="v"}"#);
    check(r#"{a="b"} | label_format dst=nope"#, &[("src", "v")], "l", r#"{src="v"}"#);
    check(r#"{a="b"} | label_format src="x{{.src}}""#, &[("src", "v")], "l", r#"{src="xv"}"#);
    // templates read the labels as they were at the first template
    check(r#"{a="b"} | label_format x="1", y="{{.x}}""#, &[("c", "d")], "l", r#"{c="d", x="1", y=""}"#);
    // (Loki re-reads the labels when there were none at all)
    check(r#"{a="b"} | label_format x="1", y="{{.x}}""#, &[], "l", r#"{x="1", y="1"}"#);
    check(r#"{a="b"} | label_format x="1" | label_format y="{{.x}}""#, &[], "l", r#"{x="1", y="1"}"#);
    check(r#"{a="b"} | label_format x=src, y="{{.x}}""#, &[("src", "v")], "l", r#"{x="v", y="v"}"#);
    // structured metadata and stream labels are template inputs too
    check_full(
        r#"{a="b"} | label_format t="{{.trace}}-{{.app}}""#,
        &[("app", "x")],
        &[("trace", "t1")],
        "l",
        Some(("l", r#"{app="x", t="t1-x", trace="t1"}"#)),
    );
    // errors
    let line_err =
        run(r#"{a="b"} | line_format `{{ regexReplaceAll "(" .a "y" }}`"#, &[("a", "b")], &[], "keep me").unwrap();
    assert_eq!(line_err.0, "keep me");
    assert!(
        line_err.1.starts_with(r#"{__error__="TemplateFormatErr", __error_details__="template: line:1:"#),
        "{}",
        line_err.1
    );
    let label_err =
        run(r#"{a="b"} | label_format x=`{{ regexReplaceAll "(" .a "y" }}`"#, &[("a", "b")], &[], "l").unwrap();
    assert!(
        label_err.1.starts_with(r#"{__error__="TemplateFormatErr", __error_details__="template: label:1:"#),
        "{}",
        label_err.1
    );
    assert!(!label_err.1.contains("x="), "the label is not set: {}", label_err.1);
    assert!(
        compile_err(r#"{a="b"} | label_format foo=bar, foo="new""#)
            .ends_with("multiple label name 'foo' not allowed in a single format operation")
    );
    assert!(compile_err(r#"{a="b"} | label_format __error__="x""#).ends_with("__error__ cannot be formatted"));
    assert!(compile_err(r#"{a="b"} | line_format "{{nope x}}""#).contains("invalid line template: "));
    assert!(compile_err(r#"{a="b"} | label_format a="{{nope x}}""#).contains("invalid template for label 'a': "));
}

#[test]
fn drop_and_keep() {
    let line = r#"{"level": "info", "method": "GET", "path": "/", "host": "grafana.net", "status": "200"}"#;
    check(r#"{a="b"} | json | drop level, method="GET""#, &[], line, r#"{host="grafana.net", path="/", status="200"}"#);
    check(
        r#"{a="b"} | json | drop level, method="POST""#,
        &[],
        line,
        r#"{host="grafana.net", method="GET", path="/", status="200"}"#,
    );
    let some = r#"{"app": "some-api-service", "level": "info", "method": "GET", "path": "/", "host": "grafana.net", "status": "200"}"#;
    let other = r#"{"app": "other-service", "level": "info", "method": "GET", "path": "/", "host": "grafana.net", "status": "200"}"#;
    let q = r#"{a="b"} | json | drop level, path, app=~"some-api.*""#;
    check(q, &[("job", "varlogs")], some, r#"{host="grafana.net", job="varlogs", method="GET", status="200"}"#);
    check(
        q,
        &[("job", "varlogs")],
        other,
        r#"{app="other-service", host="grafana.net", job="varlogs", method="GET", status="200"}"#,
    );
    // keep (stream labels are dropped too; errors stay)
    let post = r#"{"level": "info", "method": "POST", "path": "/", "host": "grafana.net", "status": "200"}"#;
    let q = r#"{a="b"} | json | keep level, method="GET""#;
    check(q, &[("job", "varlogs")], line, r#"{level="info", method="GET"}"#);
    check(q, &[("job", "varlogs")], post, r#"{level="info"}"#);
    let q = r#"{a="b"} | json | keep level, tenant, app=~"some-api.*""#;
    check(q, &[("job", "varlogs")], some, r#"{app="some-api-service", level="info"}"#);
    check(q, &[("job", "varlogs")], other, r#"{level="info"}"#);
    check(
        r#"{a="b"} | json | keep x"#,
        &[("job", "varlogs")],
        "nope",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check_full(
        r#"{a="b"} | keep trace"#,
        &[("job", "j")],
        &[("trace", "t"), ("span", "s")],
        "l",
        Some(("l", r#"{trace="t"}"#)),
    );
    // drop of error labels by matcher
    check(
        r#"{a="b"} | json | drop __error__="JSONParserErr""#,
        &[],
        "x",
        r#"{__error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check(
        r#"{a="b"} | json | drop __error__="other""#,
        &[],
        "x",
        r#"{__error__="JSONParserErr", __error_details__="Value looks like object, but can't find closing '}' symbol"}"#,
    );
    check(r#"{a="b"} | drop a"#, &[("a", "b"), ("c", "d")], "l", r#"{c="d"}"#);
    // a dropped label can be extracted again (with the suffix)
    check(r#"{a="b"} | drop a | logfmt"#, &[("a", "b")], "a=1", r#"{a_extracted="1"}"#);
}

#[test]
fn decolorize() {
    check_line(r#"{a="b"} | decolorize"#, &[], "\x1b[31mred\x1b[0m text", "red text", "{}");
    check_line(r#"{a="b"} | decolorize"#, &[], "plain", "plain", "{}");
    // Loki moves the filter in front of `decolorize` (reorderStages): it
    // sees the coloured line.
    dropped(r#"{a="b"} | decolorize |= "red text""#, &[], "\x1b[1;31mred\x1b[0m text");
    check_line(r#"{a="b"} | decolorize |= "31mred""#, &[], "\x1b[1;31mred\x1b[0m text", "red text", "{}");
    // ... but not past a label filter, `line_format` or `unpack`.
    check_line(
        r#"{a="b"} | decolorize | a="b" |= "red text""#,
        &[("a", "b")],
        "\x1b[1;31mred\x1b[0m text",
        "red text",
        r#"{a="b"}"#,
    );
    check_line(
        r#"{a="b"} | decolorize | line_format "{{__line__}}" |= "red text""#,
        &[],
        "\x1b[31mred\x1b[0m text",
        "red text",
        "{}",
    );
}

#[test]
fn loki_stage_order() {
    let order = |q: &str| {
        let expr = balsa_logql::parse_log_expr(q).unwrap();
        super::loki_order(&expr.stages).iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ")
    };
    // Filters move in front of parsers and label-only stages ...
    assert_eq!(
        order(r#"{a="b"} | json | decolorize |= "x" | drop y | label_format z=w != "v""#),
        r#"|= "x" != "v" | json | decolorize | drop y | label_format z=w"#
    );
    // ... up to a label filter, and not past `line_format` or `unpack`.
    assert_eq!(
        order(r#"{a="b"} | logfmt | l="1" | regexp "(?P<r>.)" |= "x" | line_format "{{.r}}" |= "y" | unpack |~ "z""#),
        r#"| logfmt | l="1" |= "x" | regexp "(?P<r>.)" | line_format "{{.r}}" |= "y" | unpack |~ "z""#
    );
    assert_eq!(order(r#"{a="b"} | pattern "<x>" | keep x |= "a" |= "b""#), r#"|= "a" |= "b" | pattern "<x>" | keep x"#);
}

#[test]
fn ordering_and_noop() {
    let stages = |q: &str| balsa_logql::parse_log_expr(q).unwrap().stages;
    assert!(Pipeline::compile(&stages(r#"{a="b"}"#)).unwrap().is_noop());
    assert!(!Pipeline::compile(&stages(r#"{a="b"} | drop __error__"#)).unwrap().is_noop());
    // a filter before the parser sees no parsed labels
    dropped(r#"{a="b"} | level="info" | logfmt"#, &[], "level=info");
    check(r#"{a="b"} | logfmt | level="info""#, &[], "level=info", r#"{level="info"}"#);
    dropped(r#"{a="b"} | logfmt | level="info" |= "nope""#, &[], "level=info");
}

#[test]
fn compile_errors() {
    let err = compile_err(r#"{a="b"} |~ "(""#);
    assert!(err.starts_with("parse error : stage '|~ \"(\"' : error parsing regexp:"), "{err}");
    assert!(compile_err(r#"{a="b"} |> "<a> x""#).contains("named captures are not allowed"));
    assert!(compile_err(r#"{a="b"} |~ ip("1.2.3.4")"#).contains("ip: invalid operation"));
    assert!(compile_err(r#"{a="b"} | x = ip("nope")"#).contains("ip: invalid pattern"));
}

#[test]
fn categories() {
    let expr = balsa_logql::parse_log_expr(r#"{a="b"} | logfmt | label_format y=x | drop app"#).unwrap();
    let p = Pipeline::compile(&expr.stages).unwrap();
    let mut sp = p.for_stream(&Labels::from_pairs([("app", "a"), ("env", "e")]));
    let mut e = Entry::new(1, "x=1 env=2 bad");
    e.structured_metadata = vec![LabelPair { name: "trace".into(), value: "t".into() }];
    let r = sp.process(&e).unwrap();
    assert_eq!(r.labels.stream().canonical(), r#"{env="e"}"#);
    assert_eq!(r.labels.structured_metadata(), vec![LabelPair { name: "trace".into(), value: "t".into() }]);
    let parsed: Vec<String> = r.labels.parsed().iter().map(|p| format!("{}={}", p.name, p.value)).collect();
    assert_eq!(parsed, ["env_extracted=2", "y=1"]);
    assert_eq!(r.labels.to_labels().canonical(), r#"{env="e", env_extracted="2", trace="t", y="1"}"#);
    r.labels.set_error("SampleExtractionErr", "boom");
    assert!(r.labels.has_error());
    assert_eq!(r.labels.get("y"), Some("1"));
}

/// Throughput check: `cargo test --release -p balsa-query --lib throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let logfmt_line = r#"level=info ts=2020-12-14T21:25:20.947307459Z caller=metrics.go:83 org_id=29 traceID=c80e691e8db08e2 latency=fast query="sum by (object_name) (rate(({container=\"metrictank\", cluster=\"hm-us-east2\"} |= \"PANIC\")[5m]))" query_type=metric range_type=range length=5m0s step=15s duration=322.623724ms status=200 throughput=1.2GB total_bytes=375MB"#;
    let json_line = r#"{"proxy_protocol_addr": "","remote_addr": "3.112.221.14","remote_user": "","upstream_addr": "10.12.15.234:5000","the_real_ip": "3.112.221.14","timestamp": "2020-12-11T16:20:07+00:00","protocol": "HTTP/1.1","upstream_name": "hosted-grafana-hosted-grafana-api-80","request": {"id": "c8eacb6053552c0cd1ae443bc660e140","time": "0.001","method" : "GET","host": "hg-api-qa-us-central1.grafana.net","uri": "/","size" : "128","user_agent": "worldping-api-","referer": ""},"response": {"status": 200,"upstream_status": "200","size": "1155","size_sent": "265","latency_seconds": "0.001"}}"#;
    let labels = Labels::from_pairs([
        ("cluster", "qa"),
        ("namespace", "loki"),
        ("job", "loki/querier"),
        ("pod", "querier-7745855568-blq6t"),
    ]);
    for (q, line) in [
        (r#"{a="b"} |= "metrictank""#, logfmt_line),
        (r#"{a="b"} |= "nomatch" or "other""#, logfmt_line),
        (r#"{a="b"} |~ "PANIC.*5m""#, logfmt_line),
        (r#"{a="b"} | logfmt"#, logfmt_line),
        (r#"{a="b"} | logfmt | status >= 200 | duration > 100ms"#, logfmt_line),
        (r#"{a="b"} | json"#, json_line),
        (r#"{a="b"} | json | response_status=200"#, json_line),
        (r#"{a="b"} | json method="request.method", status="response.status""#, json_line),
        (r#"{a="b"} | pattern `<_> caller=<caller> <_>`"#, logfmt_line),
        (r#"{a="b"} | regexp `caller=(?P<caller>\S+)`"#, logfmt_line),
    ] {
        if std::env::var("BENCH_FILTER").is_ok_and(|f| !q.contains(&f)) {
            continue;
        }
        let expr = balsa_logql::parse_log_expr(q).unwrap();
        let p = Pipeline::compile(&expr.stages).unwrap();
        let mut sp = p.for_stream(&labels);
        let entries: Vec<Entry> = (0..1000).map(|i| Entry::new(i, line)).collect();
        // CPU time of this thread (the machine may be shared), in seconds.
        let cpu = || -> f64 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / 100.0
        };
        let cpu0 = cpu();
        let start = std::time::Instant::now();
        let mut bytes = 0usize;
        let mut kept = 0usize;
        while start.elapsed().as_millis() < 500 {
            for e in &entries {
                bytes += e.line.len();
                if let Some(r) = sp.process(e) {
                    kept += r.labels.hash() as usize & 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu_secs = (cpu() - cpu0).max(0.01);
        println!(
            "{:>8.0} MB/s wall {:>8.0} MB/s cpu  {q}  ({kept})",
            bytes as f64 / secs / 1e6,
            bytes as f64 / cpu_secs / 1e6
        );
    }
}

/// Parsing with plain-name hints gives exactly the hinted labels (and the
/// same error) that a full parse gives.
#[test]
fn json_hints_extract_what_a_full_parse_would() {
    let lines = [
        r#"{"status":503,"level":"error","msg":"x"}"#,
        r#"{" status ":503,"level ":"warn"}"#,
        r#"{"resp":{"status":500},"status":"top"}"#,
        r#"{"1status":1,"stätus":2,"status":3}"#,
        r#"{"a":{"b":{"level":"deep"}},"level":"top","x":[1,2]}"#,
        r#"{"status":503,"nested":{"bad":}"#,
        r#"{"nested":{"status":1 "x":2},"status":4}"#,
        r#"{"status":"a\"b","level":true}"#,
        r#"not json"#,
        r#"{"st\u0061tus":7}"#,
    ];
    let hints: std::sync::Arc<[String]> = vec!["status".to_string(), "level".to_string()].into();
    for stream in [Labels::from_pairs([("a", "b")]), Labels::from_pairs([("a", "b"), ("level", "s")])] {
        for line in lines {
            let mut full = LabelSet::new(&stream);
            json::parse_all(line, &mut full, &mut json::JsonScratch::default());
            let mut hinted = LabelSet::new(&stream);
            hinted.set_hints(labels::Hints { names: Some(std::sync::Arc::clone(&hints)), ..Default::default() });
            json::parse_all(line, &mut hinted, &mut json::JsonScratch::default());
            assert_eq!(hinted.error(), full.error(), "{line}");
            for name in ["status", "level", "level_extracted", "resp_status", "a_b_level"] {
                let want = if hint_allowed(&hints, name) { full.get(name) } else { None };
                assert_eq!(hinted.get(name).filter(|_| hint_allowed(&hints, name)), want, "{line}: {name}");
            }
        }
    }
}

fn hint_allowed(hints: &[String], name: &str) -> bool {
    hints.iter().any(|h| h == name)
}

/// The same for logfmt: keys that sanitize or trim into a hint, duplicates
/// of stream labels, and errors.
#[test]
fn logfmt_hints_extract_what_a_full_parse_would() {
    let lines = [
        "level=error status=503 msg=x",
        "\u{a0}level=trimmed status =x",
        "1status=1 stätus=2 status=3 level-x=4",
        "level=\"quoted \\\" value\" status=",
        "msg=\"unterminated level=x",
        "=bad level=after status=500",
        "level status=200 level=second",
    ];
    let hints: std::sync::Arc<[String]> = vec!["status".to_string(), "level".to_string()].into();
    for strict in [false, true] {
        let parser = logfmt::Logfmt { strict, keep_empty: true };
        for stream in [Labels::from_pairs([("a", "b")]), Labels::from_pairs([("a", "b"), ("level", "s")])] {
            for line in lines {
                let mut full = LabelSet::new(&stream);
                parser.process(line, &mut full, &mut logfmt::LogfmtScratch::default());
                let mut hinted = LabelSet::new(&stream);
                hinted.set_hints(labels::Hints { names: Some(std::sync::Arc::clone(&hints)), ..Default::default() });
                parser.process(line, &mut hinted, &mut logfmt::LogfmtScratch::default());
                assert_eq!(hinted.error(), full.error(), "{line}");
                assert_eq!(hinted.error_details(), full.error_details(), "{line}");
                for name in ["status", "level", "level_extracted", "_1status", "level_x", "st_tus"] {
                    let want = if hint_allowed(&hints, name) { full.get(name) } else { None };
                    assert_eq!(hinted.get(name).filter(|_| hint_allowed(&hints, name)), want, "{line}: {name}");
                }
            }
        }
    }
}

/// Regex label filters run as Loki runs them (`NewStringLabelFilter`): the
/// regex is replaced by string filters when Loki's simplifier can, and a
/// literal next to `.*` then only has to be contained in the value.
#[test]
fn regex_label_filters_match_as_loki() {
    let q = r#"{a="b"} | logfmt | method=~"E.*""#;
    check(q, &[], "method=GET", r#"{method="GET"}"#);
    check_full(q, &[], &[], "method=POST", None);
    // Structured metadata labels take the same filters.
    let q = r#"{a="b"} | trace=~"E.*""#;
    check_full(q, &[], &[("trace", "GET")], "l", Some(("l", r#"{trace="GET"}"#)));
    check_full(q, &[], &[("trace", "POST")], "l", None);
    // Go factors `bar|buzz` into `b(?:ar|uzz)`: contains either.
    check(r#"{a="b"} | logfmt | x=~"bar|buzz""#, &[], "x=foobar", r#"{x="foobar"}"#);
    // A literal alone must be equal; alternatives of literals too.
    check_full(r#"{a="b"} | logfmt | x=~"foo|bar""#, &[], &[], "x=foobar", None);
    check(r#"{a="b"} | logfmt | x=~"foo|bar""#, &[], "x=bar", r#"{x="bar"}"#);
    check(r#"{a="b"} | logfmt | x=~"(?i)hello""#, &[], "x=HeLLo", r#"{x="HeLLo"}"#);
    // Other regexes are anchored.
    check_full(r#"{a="b"} | logfmt | x=~"\\w+""#, &[], &[], "x=a-b", None);
    check(r#"{a="b"} | logfmt | x=~"\\w+""#, &[], "x=ab", r#"{x="ab"}"#);
    check_full(r#"{a="b"} | logfmt | x!~"E.*""#, &[], &[], "x=GET", None);
    // `.*` keeps everything, `.+` any non-empty value.
    check(r#"{a="b"} | x=~".*""#, &[], "l", "{}");
    check_full(r#"{a="b"} | x=~".+""#, &[], &[], "l", None);
}
