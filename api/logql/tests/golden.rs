//! Golden table: each query maps to its canonical form (Loki's `String()`)
//! or to the exact error Loki-style rendering. `ERR:` = exact error,
//! `ERR^` = error starting with the given text.

use balsa_logql::{MAX_DEPTH, parse_expr};

fn check(query: &str, expected: &str) {
    let got = match parse_expr(query) {
        Ok(e) => e.to_string(),
        Err(e) => format!("ERR:{e}"),
    };
    if let Some(prefix) = expected.strip_prefix("ERR^") {
        assert!(
            got.starts_with(&format!("ERR:{prefix}")),
            "query: {query}\n  want prefix: ERR:{prefix}\n  got:         {got}"
        );
        return;
    }
    assert_eq!(got, expected, "query: {query}");
    // canonical output is a fixed point
    if !got.starts_with("ERR:") && !got.contains("NaN") {
        let again = parse_expr(&got).unwrap_or_else(|e| panic!("canonical form {got} does not reparse: {e}"));
        assert_eq!(again.to_string(), got, "canonical form is not stable for {query}");
    }
}

const NEED_MATCHER: &str = "ERR:parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

#[test]
fn user_queries() {
    let table = [
        (r#"{namespace="argocd"} |= "level=error""#, r#"{namespace="argocd"} |= "level=error""#),
        (
            r#"count_over_time({namespace="argocd"} |= "level=error" [5m]) > 9"#,
            r#"(count_over_time({namespace="argocd"} |= "level=error"[5m]) > 9)"#,
        ),
        ("vector(1)+vector(1)", "(vector(1.000000) + vector(1.000000))"),
        (
            r#"sum by (level, detected_level) (count_over_time({a="b"} | drop __error__[1m]))"#,
            r#"sum by (level,detected_level)(count_over_time({a="b"} | drop __error__[1m]))"#,
        ),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn selectors_and_line_filters() {
    let table = [
        (r#"{a="b", c!="d", e=~"f.*", g!~"h"}"#, r#"{a="b", c!="d", e=~"f.*", g!~"h"}"#),
        (r#"{ a = "b" }"#, r#"{a="b"}"#),
        ("{a=`\\d+`}", r#"{a="\\d+"}"#),
        (r#"{a="x\ty\u00e9"}"#, "{a=\"x\\ty\u{e9}\"}"),
        (r#"{a="b"} # a comment"#, r#"{a="b"}"#),
        (r#"{a="b"} |= "x" |~ "y" != "z" !~ "w""#, r#"{a="b"} |= "x" |~ "y" != "z" !~ "w""#),
        (r#"{a="b"} |= "x" or "y" or "z""#, r#"{a="b"} |= "x" or "y" or "z""#),
        (r#"{a="b"} != "x" or "y""#, r#"{a="b"} != "x" != "y""#),
        (r#"{a="b"} |~ "x" or "y" !~ "z" or "w""#, r#"{a="b"} |~ "x" or "y" !~ "z" !~ "w""#),
        (r#"{a="b"} |> "<_> level=error <_>" !> "debug""#, r#"{a="b"} |> "<_> level=error <_>" !> "debug""#),
        (r#"{a="b"} |= ip("192.168.0.0/24")"#, r#"{a="b"} |= ip("192.168.0.0/24")"#),
        (r#"{a="b"} != ip("::1")"#, r#"{a="b"} != ip("::1")"#),
        (r#"{a="b"} |= "x" or ip("10.0.0.1")"#, r#"{a="b"} |= "x" or ip("10.0.0.1")"#),
        (r#"{a="b"} |~ "(?i)error""#, r#"{a="b"} |~ "(?i)error""#),
        (r#"{a="b"} |= """#, r#"{a="b"} |= """#),
        (r#"({a="b"})"#, r#"{a="b"}"#),
        (r#"{a="b"} |= `c"d`"#, r#"{a="b"} |= "c\"d""#),
        (r#"{foo="bar", bar!="baz"} |= "" != ip("127.0.0.1")"#, r#"{foo="bar", bar!="baz"} |= "" != ip("127.0.0.1")"#),
        (r#"{é="ü"}"#, r#"{é="ü"}"#),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn pipelines() {
    let table = [
        (r#"{a="b"} | json"#, r#"{a="b"} | json"#),
        (r#"{a="b"} | json a="b.c", d"#, r#"{a="b"} | json a="b.c",d="d""#),
        (
            r#"{app="foo"} | json response_status="response.status.code", first_param="request.params[0]""#,
            r#"{app="foo"} | json response_status="response.status.code",first_param="request.params[0]""#,
        ),
        (r#"{a="b"} | logfmt"#, r#"{a="b"} | logfmt"#),
        (r#"{a="b"} | logfmt --strict --keep-empty"#, r#"{a="b"} | logfmt --strict --keep-empty"#),
        (r#"{a="b"} | logfmt --keep-empty --strict a="b", c"#, r#"{a="b"} | logfmt --strict --keep-empty a="b",c="c""#),
        (r#"{a="b"} | regexp "(?P<x>\\d+)""#, r#"{a="b"} | regexp "(?P<x>\\d+)""#),
        (r#"{a="b"} | pattern "<ip> - <_> <status>""#, r#"{a="b"} | pattern "<ip> - <_> <status>""#),
        (r#"{a="b"} | unpack"#, r#"{a="b"} | unpack"#),
        (r#"{a="b"} | line_format "{{.msg}}""#, r#"{a="b"} | line_format "{{.msg}}""#),
        (r#"{a="b"} | label_format a=b, c="{{.x}}""#, r#"{a="b"} | label_format a=b,c="{{.x}}""#),
        (r#"{a="b"} | drop a, b="v", c=~"d.*""#, r#"{a="b"} | drop a,b="v",c=~"d.*""#),
        (r#"{a="b"} | keep a, b"#, r#"{a="b"} | keep a,b"#),
        (r#"{a="b"} | decolorize"#, r#"{a="b"} | decolorize"#),
        (r#"{a="b"} | __error__="""#, r#"{a="b"} | __error__="""#),
        (r#"{a="b"} | json | __error__!="JSONParserErr""#, r#"{a="b"} | json | __error__!="JSONParserErr""#),
        (r#"{a="b"} | x > 10 | y == 2.5 | z != -1 | w<=+3"#, r#"{a="b"} | x>10 | y==2.5 | z!=-1 | w<=3"#),
        (r#"{a="b"} | status=200"#, r#"{a="b"} | status==200"#),
        (r#"{a="b"} | x >= 1.5e3"#, r#"{a="b"} | x>=1500"#),
        (r#"{a="b"} | d > 250ms | e >= 1m30s | f < 1.5s"#, r#"{a="b"} | d>250ms | e>=1m30s | f<1.5s"#),
        (r#"{a="b"} | size > 20MB | s2 <= 1KiB | s3 == 5B"#, r#"{a="b"} | size>20MB | s2<=1.0kB | s3==5B"#),
        (
            r#"{a="b"} | logfmt | level="error" and duration > 5s or size >= 20MB"#,
            r#"{a="b"} | logfmt | ( ( level="error" , duration>5s ) or size>=20MB )"#,
        ),
        (
            r#"{a="b"} | duration >= 20ms or method="GET" and size <= 20KB"#,
            r#"{a="b"} | ( duration>=20ms or ( method="GET" , size<=20kB ) )"#,
        ),
        (r#"{a="b"} | a="1", b="2" or c="3""#, r#"{a="b"} | ( a="1" , ( b="2" or c="3" ) )"#),
        (r#"{a="b"} | (a="1" or b="2") c="3""#, r#"{a="b"} | ( ( a="1" or b="2" ) , c="3" )"#),
        (r#"{a="b"} | a="1" b="2""#, r#"{a="b"} | ( a="1" , b="2" )"#),
        (
            r#"{a="b"} | addr=ip("10.0.0.0/8") | addr2 != ip("::1")"#,
            r#"{a="b"} | addr=ip("10.0.0.0/8") | addr2!=ip("::1")"#,
        ),
        (
            r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | regexp "(?P<foo>foo|bar)" | ( ( foo<5.01 , bar>20ms ) or foo="bar" ) | line_format "blip{{.boop}}bap" | label_format foo=bar,bar="blip{{.blop}}""#,
            r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | regexp "(?P<foo>foo|bar)" | ( ( foo<5.01 , bar>20ms ) or foo="bar" ) | line_format "blip{{.boop}}bap" | label_format foo=bar,bar="blip{{.blop}}""#,
        ),
        (
            r#"{a="b"} | json | rate > 5 | bytes > 1 | duration > 2"#,
            r#"{a="b"} | json | rate>5 | bytes>1 | duration>2"#,
        ),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn metric_queries() {
    let table = [
        (r#"rate({a="b"}[5m])"#, r#"rate({a="b"}[5m])"#),
        (r#"count_over_time({a="b"}[90s])"#, r#"count_over_time({a="b"}[1m30s])"#),
        (r#"bytes_rate({a="b"}[1h30m])"#, r#"bytes_rate({a="b"}[1h30m])"#),
        (r#"bytes_over_time({a="b"}[1d])"#, r#"bytes_over_time({a="b"}[1d])"#),
        (r#"absent_over_time({a="b"}[1w])"#, r#"absent_over_time({a="b"}[1w])"#),
        (r#"rate({a="b"}[5m] offset 1h)"#, r#"rate({a="b"}[5m] offset 1h0m0s)"#),
        (r#"rate({a="b"}[5m] offset -30s)"#, r#"rate({a="b"}[5m] offset -30s)"#),
        (r#"sum_over_time({a="b"} | unwrap x [5m])"#, r#"sum_over_time({a="b"} | unwrap x[5m])"#),
        (
            r#"avg_over_time({a="b"} | logfmt | unwrap duration(latency) | __error__="" [5m]) by (host)"#,
            r#"avg_over_time({a="b"} | logfmt | unwrap duration(latency) | __error__=""[5m]) by (host)"#,
        ),
        (
            r#"quantile_over_time(0.99, {a="b"} | unwrap bytes(size) [1m]) by (x)"#,
            r#"quantile_over_time(0.99,{a="b"} | unwrap bytes(size)[1m]) by (x)"#,
        ),
        (
            r#"max_over_time({a="b"} | unwrap duration_seconds(x) | x > 1 [5m]) without (y)"#,
            r#"max_over_time({a="b"} | unwrap duration_seconds(x) | x>1[5m]) without (y)"#,
        ),
        (r#"min_over_time({a="b"} | unwrap x [5m])"#, r#"min_over_time({a="b"} | unwrap x[5m])"#),
        (r#"stdvar_over_time({a="b"} | unwrap x [5m])"#, r#"stdvar_over_time({a="b"} | unwrap x[5m])"#),
        (r#"stddev_over_time({a="b"} | unwrap x [5m])"#, r#"stddev_over_time({a="b"} | unwrap x[5m])"#),
        (r#"first_over_time({a="b"} | unwrap x [5m]) by (y)"#, r#"first_over_time({a="b"} | unwrap x[5m]) by (y)"#),
        (r#"last_over_time({a="b"} | unwrap x [5m])"#, r#"last_over_time({a="b"} | unwrap x[5m])"#),
        (r#"rate_counter({a="b"} | unwrap x [5m])"#, r#"rate_counter({a="b"} | unwrap x[5m])"#),
        (r#"rate({a="b"} | unwrap x [5m])"#, r#"rate({a="b"} | unwrap x[5m])"#),
        (r#"count_over_time(({a="b"} |= "x")[5m])"#, r#"count_over_time({a="b"} |= "x"[5m])"#),
        (r#"count_over_time(({a="b"} |= "x")[5m] offset 5m)"#, r#"count_over_time({a="b"} |= "x"[5m] offset 5m0s)"#),
        (r#"count_over_time({a="b"}[5m] | json)"#, r#"count_over_time({a="b"} | json[5m])"#),
        (r#"count_over_time({a="b"}[5m] offset 1m | json)"#, r#"count_over_time({a="b"} | json[5m] offset 1m0s)"#),
        (r#"sum_over_time({a="b"}[5m] | json | unwrap x)"#, r#"sum_over_time({a="b"} | json | unwrap x[5m])"#),
        (r#"count_over_time(({a="b"}[5m]))"#, r#"count_over_time({a="b"}[5m])"#),
        (r#"topk(5, sum by (app) (rate({a="b"}[5m])))"#, r#"topk(5,sum by (app)(rate({a="b"}[5m])))"#),
        (
            r#"topk by (name)(10,sum(rate({region="us-east1"}[5m])))"#,
            r#"topk by (name)(10,sum(rate({region="us-east1"}[5m])))"#,
        ),
        (r#"bottomk(2, rate({a="b"}[5m])) by (x)"#, r#"bottomk by (x)(2,rate({a="b"}[5m]))"#),
        (r#"approx_topk(3, rate({a="b"}[1m]))"#, r#"approx_topk(3,rate({a="b"}[1m]))"#),
        (r#"sum(rate({a="b"}[5m])) without (x)"#, r#"sum without (x)(rate({a="b"}[5m]))"#),
        (r#"sum by () (rate({a="b"}[5m]))"#, r#"sum(rate({a="b"}[5m]))"#),
        (r#"sum without () (rate({a="b"}[5m]))"#, r#"sum without ()(rate({a="b"}[5m]))"#),
        (r#"avg(rate({a="b"}[5m]))"#, r#"avg(rate({a="b"}[5m]))"#),
        (r#"min(rate({a="b"}[5m]))"#, r#"min(rate({a="b"}[5m]))"#),
        (r#"max(rate({a="b"}[5m]))"#, r#"max(rate({a="b"}[5m]))"#),
        (r#"count(rate({a="b"}[5m]))"#, r#"count(rate({a="b"}[5m]))"#),
        (r#"stddev(rate({a="b"}[5m]))"#, r#"stddev(rate({a="b"}[5m]))"#),
        (r#"stdvar(rate({a="b"}[5m]))"#, r#"stdvar(rate({a="b"}[5m]))"#),
        (r#"sort(rate({a="b"}[5m]))"#, r#"sort(rate({a="b"}[5m]))"#),
        (r#"sort_desc(sum by (a) (rate({a="b"}[1m])))"#, r#"sort_desc(sum by (a)(rate({a="b"}[1m])))"#),
        (r#"SUM BY (x) (Count_Over_Time({a="b"}[5m]))"#, r#"sum by (x)(count_over_time({a="b"}[5m]))"#),
        (
            r#"sum(count_over_time({job="mysql"} | json [5m] offset 10m))"#,
            r#"sum(count_over_time({job="mysql"} | json[5m] offset 10m0s))"#,
        ),
        (
            r#"label_replace(rate({a="b"}[1m]), "dst", "$1", "src", "(.*)")"#,
            r#"label_replace(rate({a="b"}[1m]),"dst","$1","src","(.*)")"#,
        ),
        ("vector(1)", "vector(1.000000)"),
        ("vector(2.5)", "vector(2.500000)"),
        ("(vector(1))", "vector(1.000000)"),
        ("sum(vector(1))", "sum(vector(1.000000))"),
        ("sum by (x) (vector(1))", "sum by (x)(vector(1.000000))"),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn binary_operations() {
    let table = [
        ("1", "1"),
        ("1.6", "1.6"),
        ("-1", "-1"),
        ("+2", "2"),
        ("1+1", "2"),
        ("1 - 1", "0"),
        ("1-1", "0"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("2 ^ 3 ^ 2", "512"),
        ("7 % 4", "3"),
        ("1 / 0", "NaN"),
        ("1000000 * 1", "1e+06"),
        ("0.00001 * 1", "1e-05"),
        ("1 > 1 > 1", "0"),
        ("1 > 1 > bool 1", "0"),
        ("2 >= 1", "1"),
        (r#"1 > bool 1 > count_over_time({foo="bar"}[1m])"#, r#"(0 > count_over_time({foo="bar"}[1m]))"#),
        (r#"1 > bool 1 > bool count_over_time({foo="bar"}[1m])"#, r#"(0 > bool count_over_time({foo="bar"}[1m]))"#),
        (r#"rate({a="b"}[1m]) * 2 + 1"#, r#"((rate({a="b"}[1m]) * 2) + 1)"#),
        (r#"1 + rate({a="b"}[1m]) * 2"#, r#"(1 + (rate({a="b"}[1m]) * 2))"#),
        (r#"rate({a="b"}[1m]) - -1"#, r#"(rate({a="b"}[1m]) - -1)"#),
        (r#"vector(2) ^ vector(3) ^ vector(2)"#, r#"(vector(2.000000) ^ (vector(3.000000) ^ vector(2.000000)))"#),
        (r#"vector(1) - vector(2) - vector(3)"#, r#"((vector(1.000000) - vector(2.000000)) - vector(3.000000))"#),
        (
            r#"rate({a="b"}[1m]) > bool on (x) group_left (y) rate({c="d"}[1m])"#,
            r#"(rate({a="b"}[1m]) > bool on (x) group_left (y) rate({c="d"}[1m]))"#,
        ),
        (
            r#"rate({a="b"}[1m]) / ignoring (x) rate({c="d"}[1m])"#,
            r#"(rate({a="b"}[1m]) / ignoring (x)  rate({c="d"}[1m]))"#,
        ),
        (
            r#"rate({a="b"}[1m]) * on () group_right rate({c="d"}[1m])"#,
            r#"(rate({a="b"}[1m]) * on () group_right rate({c="d"}[1m]))"#,
        ),
        (r#"rate({a="b"}[1m]) + ignoring () rate({c="d"}[1m])"#, r#"(rate({a="b"}[1m]) + rate({c="d"}[1m]))"#),
        (r#"rate({a="b"}[1m]) or vector(0)"#, r#"(rate({a="b"}[1m]) or vector(0.000000))"#),
        (
            r#"rate({a="b"}[1m]) and rate({c="d"}[1m]) or rate({e="f"}[1m])"#,
            r#"((rate({a="b"}[1m]) and rate({c="d"}[1m])) or rate({e="f"}[1m]))"#,
        ),
        (
            r#"rate({a="b"}[1m]) unless rate({c="d"}[1m]) == 1"#,
            r#"(rate({a="b"}[1m]) unless (rate({c="d"}[1m]) == 1))"#,
        ),
        (
            r#"(count_over_time({job="postgres"}[5m])/2) or vector(2)"#,
            r#"((count_over_time({job="postgres"}[5m]) / 2) or vector(2.000000))"#,
        ),
        ("10 / (5/2)", "4"),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn rejected_queries() {
    let table = [
        ("{}", NEED_MATCHER),
        (r#"{a=~".*"}"#, NEED_MATCHER),
        (r#"{a!="x"}"#, NEED_MATCHER),
        (r#"{a!~"x", b=""}"#, NEED_MATCHER),
        (r#"count_over_time({a=~".*"}[5m])"#, NEED_MATCHER),
        (r#"label_replace(vector(1), "a", "b", "c", "d")"#, NEED_MATCHER),
        ("", "ERR:parse error : syntax error: unexpected $end"),
        ("   ", "ERR:parse error at line 1, col 4: syntax error: unexpected $end"),
        (r#"{a="b""#, "ERR:parse error at line 1, col 7: syntax error: unexpected $end"),
        (r#"{a="b"} x"#, "ERR:parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"),
        ("{a=\"b\"}\n|= x", "ERR:parse error at line 2, col 4: syntax error: unexpected IDENTIFIER"),
        (r#"{a="b"} |= 1"#, "ERR:parse error at line 1, col 12: syntax error: unexpected NUMBER"),
        (r#"{by="x"}"#, "ERR:parse error at line 1, col 2: syntax error: unexpected by"),
        (r#"{a=b}"#, "ERR:parse error at line 1, col 4: syntax error: unexpected IDENTIFIER"),
        (r#"rate({a="b"})"#, "ERR:parse error at line 1, col 13: syntax error: unexpected )"),
        (r#"{a="b"}[5m]"#, "ERR:parse error at line 1, col 8: syntax error: unexpected RANGE"),
        (r#"{a="b"} | unwrap x"#, "ERR:parse error at line 1, col 11: syntax error: unexpected unwrap"),
        ("vector(1) +", "ERR:parse error at line 1, col 12: syntax error: unexpected $end"),
        ("vector(-1)", "ERR:parse error at line 1, col 8: syntax error: unexpected -"),
        ("-vector(1)", "ERR:parse error at line 1, col 2: syntax error: unexpected VECTOR"),
        (r#"sum(rate({a="b"}[5m])) by (x) by (y)"#, "ERR:parse error at line 1, col 31: syntax error: unexpected by"),
        (r#"sum({a="b"})"#, "ERR:parse error at line 1, col 12: syntax error: unexpected )"),
        (r#"count_over_time({a="b"}[5x])"#, r#"ERR:parse error at line 1, col 24: unknown unit "x" in duration "5x""#),
        (r#"count_over_time({a="b"}[5m"#, "ERR:parse error at line 1, col 24: missing closing ']' in duration"),
        (r#"count_over_time({a="b"}[])"#, "ERR:parse error at line 1, col 24: empty duration string"),
        (r#"{a="b"} |= "x"#, "ERR:parse error at line 1, col 12: literal not terminated"),
        (r#"{a="\q"}"#, "ERR:parse error at line 1, col 4: invalid char escape"),
        (r#"{a='bc'}"#, "ERR:parse error at line 1, col 4: invalid char literal"),
        (r#"sum_over_time({a="b"}[5m])"#, "ERR:parse error : invalid aggregation sum_over_time without unwrap"),
        (
            r#"count_over_time({a="b"} | unwrap x [5m])"#,
            "ERR:parse error : invalid aggregation count_over_time with unwrap",
        ),
        (r#"rate({a="b"}[5m]) by (x)"#, "ERR:parse error : grouping not allowed for rate aggregation"),
        (
            r#"quantile_over_time({a="b"} | unwrap x [5m])"#,
            "ERR:parse error : parameter required for operation quantile_over_time",
        ),
        (r#"rate(5, {a="b"}[5m])"#, "ERR:parse error : parameter 5 not supported for operation rate"),
        (r#"topk(rate({a="b"}[5m]))"#, "ERR:parse error : parameter required for operation topk"),
        (r#"topk(0, rate({a="b"}[5m]))"#, "ERR:parse error : invalid parameter (must be greater than 0) topk(0"),
        (r#"topk(1.5, rate({a="b"}[5m]))"#, "ERR:parse error : invalid parameter topk(1.5,"),
        (
            r#"approx_topk(1, rate({a="b"}[5m])) by (x)"#,
            "ERR:parse error : grouping not allowed for approx_topk aggregation",
        ),
        (r#"sum(5, rate({a="b"}[5m]))"#, "ERR:parse error : unsupported parameter for operation sum(5,"),
        (r#"sort(rate({a="b"}[5m])) by (x)"#, "ERR:parse error : sort and sort_desc doesn't allow grouping by "),
        (
            r#"{a="b"} + 1"#,
            "ERR:parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
        ),
        (
            r#"vector(1) > {a="b"} |= "x""#,
            "ERR:parse error : unexpected type for right leg of binary operation (>): *syntax.PipelineExpr",
        ),
        (
            "vector(1) or 1",
            "ERR:parse error : unexpected literal for right leg of logical/set binary operation (or): 1.000000",
        ),
        (
            "2 and vector(1)",
            "ERR:parse error : unexpected literal for left leg of logical/set binary operation (and): 2.000000",
        ),
        (
            r#"{a="b"} | regexp "foo""#,
            "ERR:parse error : invalid regexp parser: at least one named capture must be supplied",
        ),
        (r#"{a="b"} | pattern "foo""#, "ERR:parse error : invalid pattern parser: at least one capture is required"),
        (
            r#"{a="b"} | pattern "<a><b>""#,
            "ERR:parse error : invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
        ),
        (r#"{a=~"("}"#, "ERR^parse error : error parsing regexp: "),
        (r#"{a="b"} | x=~"(""#, "ERR^parse error : error parsing regexp: "),
        (
            r#"label_replace(rate({a="b"}[1m]), "d", "r", "s", "(")"#,
            "ERR^parse error : invalid regex in label_replace: ",
        ),
        (r#"{a="b"} | json | x > "5""#, "ERR:parse error at line 1, col 22: syntax error: unexpected STRING"),
        (r#"{a="b"} | logfmt --bogus"#, "ERR:parse error at line 1, col 20: syntax error: unexpected IDENTIFIER"),
        (r#"{a="b"} |= "x" or"#, "ERR:parse error at line 1, col 18: syntax error: unexpected $end"),
        (r#"sum by (x (rate({a="b"}[5m]))"#, "ERR:parse error at line 1, col 11: syntax error: unexpected ("),
        (r#"count_over_time({a="b"}[5m] offset)"#, "ERR:parse error at line 1, col 35: syntax error: unexpected )"),
        (r#"{a="b"} /* open"#, "ERR:parse error at line 1, col 9: comment not terminated"),
    ];
    for (q, want) in table {
        check(q, want);
    }
}

#[test]
fn bounded_input_and_depth() {
    let long = format!(r#"{{a="{}"}}"#, "x".repeat(6000));
    let err = parse_expr(&long).unwrap_err().to_string();
    assert_eq!(err, format!("parse error : input size too long ({} > 5120)", long.len()));

    let ok_depth = MAX_DEPTH - 2;
    let q = format!("{}1{}", "(".repeat(ok_depth), ")".repeat(ok_depth));
    assert_eq!(parse_expr(&q).unwrap().to_string(), "1");

    let deep = format!("{}1{}", "(".repeat(MAX_DEPTH + 10), ")".repeat(MAX_DEPTH + 10));
    let err = parse_expr(&deep).unwrap_err().to_string();
    assert!(err.contains("nested too deeply"), "{err}");

    let deep = format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(1000), ")".repeat(1000));
    assert!(parse_expr(&deep).unwrap_err().to_string().contains("nested too deeply"));

    let deep = format!("{}vector(1)", "sum(".repeat(1200));
    assert!(parse_expr(&deep).unwrap_err().to_string().contains("nested too deeply"));
}

#[test]
fn ast_accessors() {
    use balsa_logql::*;
    let e = parse_expr(r#"{app=~"ap", env!="dev"} |= "a" or "b" != "c""#).unwrap();
    let log = e.as_log().unwrap();
    assert_eq!(log.matchers.len(), 2);
    assert!(!log.matchers[0].matches("app"));
    assert!(log.matchers[0].matches("ap"));
    assert!(log.matchers[1].matches(""));
    assert_eq!(log.stages.len(), 2);
    let Stage::LineFilter(f) = &log.stages[0] else { panic!() };
    assert_eq!(f.op, LineFilterOp::Contains);
    assert_eq!(f.alternatives().map(|a| a.value.as_str()).collect::<Vec<_>>(), ["a", "b"]);

    let e = parse_sample_expr(r#"sum(rate({a="b"}[5m] offset 1m)) + vector(1)"#).unwrap();
    let ranges = e.log_ranges();
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].range_ns, 300_000_000_000);
    assert_eq!(ranges[0].offset_ns, 60_000_000_000);
    assert!(!e.is_data_free());
    assert!(parse_sample_expr("vector(1)+vector(1)").unwrap().is_data_free());

    assert_eq!(parse_matchers(r#"{a="b"}"#).unwrap().len(), 1);
    assert!(parse_matchers(r#"{a="b"} |= "x""#).is_err());
    assert!(parse_log_expr("vector(1)").is_err());
}
