//! Golden table: each query maps to its canonical form (Loki's `String()`)
//! or to the exact error Loki-style rendering. `ERR:` = exact error,
//! `ERR^` = error starting with the given text.

use balsa_logql::{MAX_DEPTH, MAX_INPUT_SIZE, parse_expr};

/// Expected value meaning "the canonical form is the query itself".
const SAME: &str = "<same>";

/// Checks one case; returns a description of the mismatch, if any.
fn check(query: &str, expected: &str) -> Result<(), String> {
    let expected = if expected == SAME { query } else { expected };
    let got = match parse_expr(query) {
        Ok(e) => e.to_string(),
        Err(e) => format!("ERR:{e}"),
    };
    if let Some(prefix) = expected.strip_prefix("ERR^") {
        if got.starts_with(&format!("ERR:{prefix}")) {
            return Ok(());
        }
        return Err(format!("query: {query}\n  want prefix: ERR:{prefix}\n  got:         {got}"));
    }
    if got != expected {
        return Err(format!("query: {query}\n  want: {expected}\n  got:  {got}"));
    }
    // the canonical form is a fixed point
    if !got.starts_with("ERR:") && !got.contains("NaN") && !got.contains("Inf") {
        match parse_expr(&got) {
            Ok(again) if again.to_string() == got => {}
            Ok(again) => return Err(format!("canonical form of {query} is not stable: {got} -> {again}")),
            Err(e) => return Err(format!("canonical form {got} of {query} does not reparse: {e}")),
        }
    }
    Ok(())
}

/// Runs a table, reporting every failing case at once.
fn run(table: &[(&str, &str)]) {
    let failures: Vec<String> = table.iter().filter_map(|(q, want)| check(q, want).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), table.len(), failures.join("\n"));
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
    run(&table);
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
    run(&table);
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
        (r#"{a="b"} | size > 20MB | s2 <= 1KiB | s3 == 5B"#, r#"{a="b"} | size>20MB | s2<=1KiB | s3==5B"#),
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
    run(&table);
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
    run(&table);
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
    run(&table);
}

#[test]
fn rejected_queries() {
    let table = [
        ("{}", NEED_MATCHER),
        (r#"{a=~".*"}"#, NEED_MATCHER),
        (r#"{a!="x"}"#, NEED_MATCHER),
        (r#"{a!~"x", b=""}"#, NEED_MATCHER),
        (r#"count_over_time({a=~".*"}[5m])"#, NEED_MATCHER),
        // Loki validates what label_replace wraps: vector() needs no selector.
        (r#"label_replace(vector(1), "a", "b", "c", "d")"#, r#"label_replace(vector(1.000000),"a","b","c","d")"#),
        ("", "ERR:parse error : syntax error: unexpected $end"),
        ("   ", "ERR:parse error at line 1, col 4: syntax error: unexpected $end"),
        (r#"{a="b""#, "ERR:parse error at line 1, col 7: syntax error: unexpected $end, expecting } or ,"),
        (r#"{a="b"} x"#, "ERR:parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"),
        (
            "{a=\"b\"}\n|= x",
            "ERR:parse error at line 2, col 4: syntax error: unexpected IDENTIFIER, expecting STRING or ip",
        ),
        (
            r#"{a="b"} |= 1"#,
            "ERR:parse error at line 1, col 12: syntax error: unexpected NUMBER, expecting STRING or ip",
        ),
        (r#"{by="x"}"#, "ERR:parse error at line 1, col 2: syntax error: unexpected by, expecting IDENTIFIER or }"),
        (r#"{a=b}"#, "ERR:parse error at line 1, col 4: syntax error: unexpected IDENTIFIER, expecting STRING"),
        (r#"rate({a="b"})"#, "ERR:parse error at line 1, col 13: syntax error: unexpected )"),
        (r#"{a="b"}[5m]"#, "ERR:parse error at line 0, col 8: syntax error: unexpected RANGE"),
        (r#"{a="b"} | unwrap x"#, "ERR:parse error at line 1, col 11: syntax error: unexpected unwrap"),
        ("vector(1) +", "ERR:parse error at line 1, col 12: syntax error: unexpected $end"),
        ("vector(-1)", "ERR:parse error at line 1, col 8: syntax error: unexpected -, expecting NUMBER"),
        ("-vector(1)", "ERR:parse error at line 1, col 2: syntax error: unexpected VECTOR, expecting NUMBER"),
        (r#"sum(rate({a="b"}[5m])) by (x) by (y)"#, "ERR:parse error at line 1, col 31: syntax error: unexpected by"),
        (r#"sum({a="b"})"#, "ERR:parse error at line 1, col 12: syntax error: unexpected )"),
        (r#"count_over_time({a="b"}[5x])"#, r#"ERR:parse error at line 0, col 24: unknown unit "x" in duration "5x""#),
        (r#"count_over_time({a="b"}[5m"#, "ERR:parse error at line 0, col 24: missing closing ']' in duration"),
        (r#"count_over_time({a="b"}[])"#, "ERR:parse error at line 0, col 24: empty duration string"),
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
        (
            r#"{a="b"} | logfmt --bogus"#,
            "ERR:parse error at line 1, col 20: syntax error: unexpected IDENTIFIER, expecting NUMBER",
        ),
        (
            r#"{a="b"} |= "x" or"#,
            "ERR:parse error at line 1, col 18: syntax error: unexpected $end, expecting STRING or ip",
        ),
        (
            r#"sum by (x (rate({a="b"}[5m]))"#,
            "ERR:parse error at line 1, col 11: syntax error: unexpected (, expecting , or )",
        ),
        (
            r#"count_over_time({a="b"}[5m] offset)"#,
            "ERR:parse error at line 1, col 35: syntax error: unexpected ), expecting DURATION",
        ),
        (r#"{a="b"} /* open"#, "ERR:parse error at line 1, col 9: comment not terminated"),
    ];
    run(&table);
}

#[test]
fn bounded_input_and_depth() {
    let long = format!(r#"{{a="{}"}}"#, "x".repeat(MAX_INPUT_SIZE));
    let err = parse_expr(&long).unwrap_err().to_string();
    assert_eq!(err, format!("parse error : input size too long ({} > 131072)", long.len()));
    let at_limit = format!(r#"{{a="{}"}}"#, "x".repeat(MAX_INPUT_SIZE - 6));
    assert_eq!(at_limit.len(), MAX_INPUT_SIZE);
    assert!(parse_expr(&at_limit).unwrap_err().to_string().contains("input size too long"));
    let below = format!(r#"{{a="{}"}}"#, "x".repeat(MAX_INPUT_SIZE - 7));
    assert!(parse_expr(&below).is_ok());
    // Many tokens up to the limit parse quickly (no quadratic work).
    let filters = r#" |= "x""#.repeat((MAX_INPUT_SIZE - 20) / 7);
    let many = format!(r#"{{a="b"}}{filters}"#);
    let t = std::time::Instant::now();
    assert!(parse_expr(&many).is_ok());
    assert!(t.elapsed() < std::time::Duration::from_secs(2), "{:?}", t.elapsed());

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
    // Loki's ErrParseMatchers is a plain error, not a parse error.
    assert_eq!(parse_matchers(r#"{a="b"} |= "x""#).unwrap_err().to_string(), "only label matchers are supported");
    assert_eq!(
        parse_matchers(r#"sum(rate({a="b"}[1m]))"#).unwrap_err().to_string(),
        "only label matchers are supported"
    );
    assert!(parse_log_expr("vector(1)").is_err());
}

#[test]
fn matchers_and_escapes() {
    let table = [
        (r#"{foo="bar"}"#, SAME),
        (r#"{ foo = "bar" }"#, r#"{foo="bar"}"#),
        (r#"{ namespace="buzz", foo != "bar" }"#, r#"{namespace="buzz", foo!="bar"}"#),
        (r#"{ foo =~ "bar" }"#, r#"{foo=~"bar"}"#),
        (r#"{ namespace="buzz", foo !~ "bar" }"#, r#"{namespace="buzz", foo!~"bar"}"#),
        (r#"{a="b",c="d",e="f"}"#, r#"{a="b", c="d", e="f"}"#),
        (r#"{a!=""}"#, SAME),
        (r#"{a=~".+"}"#, SAME),
        (r#"{a=~"a|b", b=""}"#, SAME),
        (r#"{a="\x41\101\u0042"}"#, r#"{a="AAB"}"#),
        (r#"{a="\n\t\r"}"#, r#"{a="\n\t\r"}"#),
        (r#"{a="\a\b\f\v"}"#, r#"{a="\a\b\f\v"}"#),
        (r#"{a="\\"}"#, SAME),
        (r#"{a="\""}"#, SAME),
        (r#"{a="\U0001F600"}"#, "{a=\"\u{1F600}\"}"),
        (r#"{a="\x00"}"#, SAME),
        ("{a=`x\"y`}", r#"{a="x\"y"}"#),
        ("{a=`\\n`}", r#"{a="\\n"}"#),
        ("{a=`multi\nline`}", r#"{a="multi\nline"}"#),
        ("{a=`tab\there`}", r#"{a="tab\there"}"#),
        ("{foo=~`bar\\w+`}", r#"{foo=~"bar\\w+"}"#),
        (r##"{app="#"}"##, SAME),
        ("{app=\"foo\"}\n# |= \"bar\"\n| json", r#"{app="foo"} | json"#),
        ("{app=\"foo\"}\n#\n|= \"bar\"\n| json", r#"{app="foo"} |= "bar" | json"#),
        (r#"{app="foo"} # |= "bar" | json"#, r#"{app="foo"}"#),
        (r#"{app="foo"} | json #"#, r#"{app="foo"} | json"#),
        (r#"{_a="b", a_1="c"}"#, SAME),
        (r#"((({a="b"})))"#, r#"{a="b"}"#),
        ("{a=\"b\"}\n\n", r#"{a="b"}"#),
        (r#"{a="b"} /* block */ |= "x""#, r#"{a="b"} |= "x""#),
    ];
    run(&table);
}

#[test]
fn line_filters() {
    let table = [
        (r#"{a="b"} |= "x" |= "y""#, SAME),
        (r#"{a="b"} |~ "x" or "y""#, SAME),
        (r#"{a="b"} |> "<_> x" or "<_> y""#, SAME),
        (r#"{a="b"} !> "x" or "y""#, r#"{a="b"} !> "x" !> "y""#),
        (r#"{a="b"} !~ "x" or "y" or "z""#, r#"{a="b"} !~ "x" !~ "y" !~ "z""#),
        (r#"{app="foo"} |= "foo" or "bar" |= "buzz" or "fizz""#, SAME),
        (r#"{app="foo"} |= "foo" or "bar" or "baz""#, SAME),
        (r#"{app="foo"} |> "foo" or "bar" or "baz""#, SAME),
        (r#"{a="b"} |= ip("1.2.3.4") or "x""#, SAME),
        (r#"{foo="bar"} |= "baz" |= ip("123.123.123.123")"#, SAME),
        (
            r#"{foo="bar"} |= ip("123.123.123.123")|= "baz" |=ip("123.123.123.123")"#,
            r#"{foo="bar"} |= ip("123.123.123.123") |= "baz" |= ip("123.123.123.123")"#,
        ),
        (
            r#"{foo="bar"} != ip("123.123.123.123")|= "baz" !=ip("123.123.123.123")"#,
            r#"{foo="bar"} != ip("123.123.123.123") |= "baz" != ip("123.123.123.123")"#,
        ),
        (r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap""#, SAME),
        (r#"{a="b"} |= "x" | json |= "y""#, SAME),
        ("{a=\"b\"} |= `a\\b`", r#"{a="b"} |= "a\\b""#),
        ("{a=\"b\"} |~ `error\\`", r#"{a="b"} |~ "error\\""#),
        (r#"{a="b"} |= "é\u00e9""#, "{a=\"b\"} |= \"éé\""),
        (r##"{a="b"} |= "#""##, SAME),
        (r#"{a="b"} |= "" |~ """#, SAME),
        (r#"{a="b"}|="x"!="y""#, r#"{a="b"} |= "x" != "y""#),
        (r#"{a="b"} |> "<_>" !> "<_> x <_>""#, SAME),
        (r#"{a="b"} |= ip("::1") != ip("10.0.0.0/8")"#, SAME),
        (r#"{a="b"} |= "a" or "b" != "c" or "d""#, r#"{a="b"} |= "a" or "b" != "c" != "d""#),
        (r#"{a="b"} |~ "(?i)x" or "(?i)y" |= "z""#, SAME),
        (r#"{a="b"} |= "\"quoted\"""#, SAME),
    ];
    run(&table);
}

#[test]
fn parser_stages() {
    let table = [
        (r#"{a="b"} | json a, b"#, r#"{a="b"} | json a="a",b="b""#),
        (r#"{app="foo"} | json bob="top.sub[\"index\"]""#, SAME),
        (r#"{app="foo"} | json bob="top.params[0]""#, SAME),
        (
            r#"{app="foo"} | json response_code, api_key="request.headers[\"X-API-KEY\"]", layer7_something_specific="layer7_something_specific""#,
            r#"{app="foo"} | json response_code="response_code",api_key="request.headers[\"X-API-KEY\"]",layer7_something_specific="layer7_something_specific""#,
        ),
        (r#"{app="foo"} | logfmt message="msg""#, SAME),
        (r#"{app="foo"} | logfmt msg"#, r#"{app="foo"} | logfmt msg="msg""#),
        (r#"{app="foo"} | logfmt --strict msg"#, r#"{app="foo"} | logfmt --strict msg="msg""#),
        (r#"{app="foo"} | logfmt --keep-empty msg, err "#, r#"{app="foo"} | logfmt --keep-empty msg="msg",err="err""#),
        (r#"{app="foo"} | logfmt msg, err="error""#, r#"{app="foo"} | logfmt msg="msg",err="error""#),
        (
            r#"{app="foo"} | logfmt --strict --keep-empty msg="message", apiKey="api_key""#,
            r#"{app="foo"} | logfmt --strict --keep-empty msg="message",apiKey="api_key""#,
        ),
        (r#"{ foo = "bar" }|logfmt --strict"#, r#"{foo="bar"} | logfmt --strict"#),
        (r#"{a="b"} | logfmt --keep-empty"#, SAME),
        (r#"{a="b"} | logfmt --strict --strict"#, r#"{a="b"} | logfmt --strict"#),
        (r#"{a="b"} | JSON | LOGFMT | Unpack"#, r#"{a="b"} | json | logfmt | unpack"#),
        ("{a=\"b\"} | regexp `(?P<a>\\w+)`", r#"{a="b"} | regexp "(?P<a>\\w+)""#),
        (r#"{a="b"} | regexp "(?P<a>.)(?P<b>.)""#, SAME),
        (r#"{app="foo"} |= "bar" | pattern "<foo> bar <buzz>""#, SAME),
        (r#"{a="b"} | pattern "<_> <a>""#, SAME),
        (r#"{a="b"} | json | unpack | logfmt | regexp "(?P<x>.)""#, SAME),
        (r#"{ foo = "bar" } | decolorize"#, r#"{foo="bar"} | decolorize"#),
        (r#"{a="b"}|json|logfmt"#, r#"{a="b"} | json | logfmt"#),
        (
            r#"count_over_time({ foo ="bar" } | json layer7_something_specific="layer7_something_specific" [12m])"#,
            r#"count_over_time({foo="bar"} | json layer7_something_specific="layer7_something_specific"[12m])"#,
        ),
        (r#"{a="b"} | json a="b", c"#, r#"{a="b"} | json a="b",c="c""#),
        (r#"{a="b"} | logfmt | json"#, SAME),
        (r#"{a="b"} | pattern `<ip> "<method>"`"#, r#"{a="b"} | pattern "<ip> \"<method>\"""#),
    ];
    run(&table);
}

#[test]
fn label_filters() {
    let table = [
        (r#"{a="b"} | x="y""#, SAME),
        (r#"{a="b"} | x!="y""#, SAME),
        (r#"{a="b"} | x==1"#, SAME),
        (r#"{a="b"} | x=1"#, r#"{a="b"} | x==1"#),
        (r#"{a="b"} | x!=1.5"#, SAME),
        (r#"{a="b"} | x>-1"#, SAME),
        (r#"{a="b"} | x > -0.0"#, r#"{a="b"} | x>0"#),
        (r#"{a="b"} | x >= 1e2"#, r#"{a="b"} | x>=100"#),
        (r#"{a="b"} | x < 0.001"#, r#"{a="b"} | x<0.001"#),
        (r#"{a="b"} | x <= 1e-7"#, r#"{a="b"} | x<=0.0000001"#),
        (r#"{a="b"} | x > 12345678901"#, r#"{a="b"} | x>12345678901"#),
        (r#"{a="b"} | x > 0x1F"#, r#"{a="b"} | x>0"#),
        (r#"{a="b"} | d > 1h"#, r#"{a="b"} | d>1h0m0s"#),
        (r#"{a="b"} | d == 5m"#, r#"{a="b"} | d==5m0s"#),
        (r#"{a="b"} | d = 5s"#, r#"{a="b"} | d==5s"#),
        (r#"{a="b"} | d != 100ms"#, r#"{a="b"} | d!=100ms"#),
        (r#"{a="b"} | d > 1.5h"#, r#"{a="b"} | d>1h30m0s"#),
        (r#"{a="b"} | d < 10us"#, "{a=\"b\"} | d<10\u{b5}s"),
        (r#"{a="b"} | d > 2d"#, r#"{a="b"} | d>48h0m0s"#),
        (r#"{a="b"} | d > 1w"#, r#"{a="b"} | d>168h0m0s"#),
        (r#"{a="b"} | d > -5s"#, r#"{a="b"} | d>-5s"#),
        (r#"{ foo = "bar" }|logfmt|length>5d"#, r#"{foo="bar"} | logfmt | length>120h0m0s"#),
        (r#"{a="b"} | s > 1KB"#, r#"{a="b"} | s>1.0kB"#),
        (r#"{a="b"} | s >= 1MB"#, r#"{a="b"} | s>=1.0MB"#),
        (r#"{a="b"} | s < 10B"#, r#"{a="b"} | s<10B"#),
        (r#"{a="b"} | s == 1.5GB"#, r#"{a="b"} | s==1.5GB"#),
        (r#"{a="b"} | s > 100MB"#, r#"{a="b"} | s>100MB"#),
        (r#"{a="b"} | s > 999B"#, r#"{a="b"} | s>999B"#),
        (r#"{a="b"} | s > 5KiB"#, r#"{a="b"} | s>5KiB"#),
        (r#"{a="b"} | s > 12345B"#, r#"{a="b"} | s>12345B"#),
        (r#"{a="b"} | s = 2TB"#, r#"{a="b"} | s==2.0TB"#),
        (r#"{a="b"} | s > 0KB"#, r#"{a="b"} | s>0kB"#),
        (r#"{a="b"} | s > 0B"#, "ERR:parse error at line 1, col 15: binary literal has no digits"),
        (r#"{a="b"} | s > 08"#, "ERR:parse error at line 1, col 15: invalid digit '8' in octal literal"),
        (r#"{a="b"} | s > 0b12"#, "ERR:parse error at line 1, col 15: invalid digit '2' in binary literal"),
        (r#"{a="b"} | s > 0x"#, "ERR:parse error at line 1, col 15: hexadecimal literal has no digits"),
        (r#"{a="b"} | s > 007"#, r#"{a="b"} | s>7"#),
        (r#"{ foo = "bar" }|logfmt|addr=ip("1.2.3.4")"#, r#"{foo="bar"} | logfmt | addr=ip("1.2.3.4")"#),
        (r#"{ foo = "bar" }|logfmt|addr!=ip("1.2.3.4")"#, r#"{foo="bar"} | logfmt | addr!=ip("1.2.3.4")"#),
        (
            r#"{ foo = "bar" }|logfmt|level="error"|addr=ip("1.2.3.4")"#,
            r#"{foo="bar"} | logfmt | level="error" | addr=ip("1.2.3.4")"#,
        ),
        (
            r#"{ foo = "bar" }|logfmt|ip="2.3.4.5"|ip="abc"|ipaddr=ip("4.5.6.7")|ip=ip("6.7.8.9")"#,
            r#"{foo="bar"} | logfmt | ip="2.3.4.5" | ip="abc" | ipaddr=ip("4.5.6.7") | ip=ip("6.7.8.9")"#,
        ),
        (r#"{ foo = "bar" }|logfmt|rate="a""#, r#"{foo="bar"} | logfmt | rate="a""#),
        (r#"{a="b"} | x=ip("1.1.1.1-1.1.1.10")"#, SAME),
        (r#"{a="b"} | a="1" or b="2" and c="3""#, r#"{a="b"} | ( a="1" or ( b="2" , c="3" ) )"#),
        (r#"{a="b"} | a="1" and b="2" or c="3""#, r#"{a="b"} | ( ( a="1" , b="2" ) or c="3" )"#),
        (r#"{a="b"} | a="1" and b="2" and c="3""#, r#"{a="b"} | ( ( a="1" , b="2" ) , c="3" )"#),
        (r#"{a="b"} | a="1" or b="2" or c="3""#, r#"{a="b"} | ( ( a="1" or b="2" ) or c="3" )"#),
        (r#"{a="b"} | a="1", b="2", c="3""#, r#"{a="b"} | ( a="1" , ( b="2" , c="3" ) )"#),
        (r#"{a="b"} | a="1" b="2" c="3""#, r#"{a="b"} | ( a="1" , ( b="2" , c="3" ) )"#),
        (r#"{a="b"} | a="1" or b="2", c="3""#, r#"{a="b"} | ( a="1" or ( b="2" , c="3" ) )"#),
        (r#"{a="b"} | a="1" and b="2" c="3""#, r#"{a="b"} | ( a="1" , ( b="2" , c="3" ) )"#),
        (r#"{a="b"} | (a="1" or b="2") and c="3""#, r#"{a="b"} | ( ( a="1" or b="2" ) , c="3" )"#),
        (r#"{a="b"} | ((a="1"))"#, r#"{a="b"} | a="1""#),
        (
            r#"{app="foo"} |= "bar" | json | latency >= 250ms or ( status_code < 500 and status_code > 200)"#,
            r#"{app="foo"} |= "bar" | json | ( latency>=250ms or ( status_code<500 , status_code>200 ) )"#,
        ),
        (
            r#"{app="foo"} |= "bar" | json | (duration > 1s or status!= 200) and method!="POST""#,
            r#"{app="foo"} |= "bar" | json | ( ( duration>1s or status!=200 ) , method!="POST" )"#,
        ),
        (
            r#"{app="foo"} |= "bar" | json |  status_code < 500 or status_code > 200 and latency >= 250ms "#,
            r#"{app="foo"} |= "bar" | json | ( status_code<500 or ( status_code>200 , latency>=250ms ) )"#,
        ),
        (
            r#"{app="foo"} |= "bar" | json | ( status_code < 500 or status_code > 200) and latency >= 250ms "#,
            r#"{app="foo"} |= "bar" | json | ( ( status_code<500 or status_code>200 ) , latency>=250ms )"#,
        ),
        (r#"{a="b"} | x > 1 | y < 2"#, r#"{a="b"} | x>1 | y<2"#),
        (r##"{app="foo"} | bar="#""##, SAME),
        (r#"{a="b"} | __error__="" | __error_details__!="x""#, SAME),
    ];
    run(&table);
}

#[test]
fn formatting_and_label_stages() {
    let table = [
        (r#"{a="b"} | line_format "{{.a}} {{.b}}""#, SAME),
        ("{a=\"b\"} | line_format `{{.a | ToUpper}}`", r#"{a="b"} | line_format "{{.a | ToUpper}}""#),
        ("{a=\"b\"} | line_format `{{ \"x\" }}`", r#"{a="b"} | line_format "{{ \"x\" }}""#),
        (r#"{a="b"} | line_format "{{__line__}}\n""#, SAME),
        (r#"{a="b"} | label_format a=b"#, SAME),
        (r#"{a="b"} | label_format a="{{.b}}", c=d"#, r#"{a="b"} | label_format a="{{.b}}",c=d"#),
        (r#"{a="b"} | label_format a=b | label_format c="x""#, SAME),
        (r#"{a="b"} | drop a"#, SAME),
        (r#"{a="b"} | drop a, b!="x""#, r#"{a="b"} | drop a,b!="x""#),
        (r#"{a="b"} | keep a=~"x.*", b"#, r#"{a="b"} | keep a=~"x.*",b"#),
        (r#"{a="b"} | keep a, b, c"#, r#"{a="b"} | keep a,b,c"#),
        (r#"{a="b"} | drop __error__, __error_details__"#, r#"{a="b"} | drop __error__,__error_details__"#),
        (r#"{a="b"} | decolorize | decolorize"#, SAME),
        (r#"{a="b"} | json | line_format "{{.msg}}" | drop level | keep msg"#, SAME),
        (
            r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap" | logfmt | line_format "blip{{ .foo }}blop {{.status_code}}" | label_format foo=bar,status_code="buzz{{.bar}}""#,
            SAME,
        ),
        (r#"{a="b"} | line_format "é""#, SAME),
    ];
    run(&table);
}

#[test]
fn ranges_unwrap_and_offsets() {
    let table = [
        (r#"count_over_time({foo="bar"}[12h] |= "error")"#, r#"count_over_time({foo="bar"} |= "error"[12h])"#),
        (r#"count_over_time({foo="bar"} |= "error" [12h])"#, r#"count_over_time({foo="bar"} |= "error"[12h])"#),
        (
            "count_over_time({foo=~`bar\\w+`}[12h] |~ `error\\`)",
            r#"count_over_time({foo=~"bar\\w+"} |~ "error\\"[12h])"#,
        ),
        (r#"count_over_time({ foo = "bar" }[12m])"#, r#"count_over_time({foo="bar"}[12m])"#),
        (r#"bytes_over_time({ foo = "bar" }[12m])"#, r#"bytes_over_time({foo="bar"}[12m])"#),
        (r#"bytes_rate({ foo = "bar" }[12m])"#, r#"bytes_rate({foo="bar"}[12m])"#),
        (r#"rate({ foo = "bar" }[5h])"#, r#"rate({foo="bar"}[5h])"#),
        (r#"rate({ foo = "bar" }[5d])"#, r#"rate({foo="bar"}[5d])"#),
        (r#"count_over_time({ foo = "bar" }[1w])"#, r#"count_over_time({foo="bar"}[1w])"#),
        (r#"sum(rate({ foo ="bar" }[1y]))"#, r#"sum(rate({foo="bar"}[1y]))"#),
        (r#"rate({a="b"}[1s])"#, SAME),
        (r#"rate({a="b"}[500ms])"#, SAME),
        (r#"rate({a="b"}[90m])"#, r#"rate({a="b"}[1h30m])"#),
        (r#"rate({a="b"}[120s])"#, r#"rate({a="b"}[2m])"#),
        (r#"rate({a="b"}[3600s])"#, r#"rate({a="b"}[1h])"#),
        (r#"rate({a="b"}[1000ms])"#, r#"rate({a="b"}[1s])"#),
        (r#"rate({a="b"}[14d])"#, r#"rate({a="b"}[2w])"#),
        (r#"rate({a="b"}[1h30m15s])"#, SAME),
        (r#"rate({a="b"}[0s])"#, SAME),
        (r#"rate({a="b"}[5m] offset 5m)"#, r#"rate({a="b"}[5m] offset 5m0s)"#),
        (r#"rate({a="b"}[5m] offset 1h30m)"#, r#"rate({a="b"}[5m] offset 1h30m0s)"#),
        (r#"rate({a="b"}[5m] offset 1d)"#, r#"rate({a="b"}[5m] offset 24h0m0s)"#),
        (r#"rate({a="b"}[5m] offset 500ms)"#, SAME),
        (r#"rate({a="b"}[5m] offset -1h)"#, r#"rate({a="b"}[5m] offset -1h0m0s)"#),
        (r#"rate({a="b"}[5m] offset 1.5s)"#, SAME),
        (r#"sum_over_time({a="b"} | unwrap bytes(x) [1m])"#, r#"sum_over_time({a="b"} | unwrap bytes(x)[1m])"#),
        (r#"sum_over_time({a="b"} | unwrap duration(x) [1m])"#, r#"sum_over_time({a="b"} | unwrap duration(x)[1m])"#),
        (
            r#"sum_over_time({a="b"} | unwrap duration_seconds(x) [1m])"#,
            r#"sum_over_time({a="b"} | unwrap duration_seconds(x)[1m])"#,
        ),
        (
            r#"avg_over_time({a="b"} | json | unwrap x | x > 1 | y="z" [5m])"#,
            r#"avg_over_time({a="b"} | json | unwrap x | x>1 | y="z"[5m])"#,
        ),
        (r#"sum_over_time({a="b"}[5m] | unwrap x)"#, r#"sum_over_time({a="b"} | unwrap x[5m])"#),
        (r#"sum_over_time({a="b"}[5m] offset 1m | unwrap x)"#, r#"sum_over_time({a="b"} | unwrap x[5m] offset 1m0s)"#),
        (
            r#"sum_over_time({a="b"}[5m] offset 1m | json | unwrap x)"#,
            r#"sum_over_time({a="b"} | json | unwrap x[5m] offset 1m0s)"#,
        ),
        (r#"sum_over_time(({a="b"} | unwrap x)[5m])"#, r#"sum_over_time({a="b"} | unwrap x[5m])"#),
        (
            r#"sum_over_time(({a="b"} | json | unwrap x)[5m] offset 2m)"#,
            r#"sum_over_time({a="b"} | json | unwrap x[5m] offset 2m0s)"#,
        ),
        (r#"count_over_time(({a="b"})[5m])"#, r#"count_over_time({a="b"}[5m])"#),
        (r#"count_over_time(({a="b"})[5m] offset 1m)"#, r#"count_over_time({a="b"}[5m] offset 1m0s)"#),
        (r#"count_over_time((({a="b"}[5m])))"#, r#"count_over_time({a="b"}[5m])"#),
        (r#"rate({a="b"} | unwrap x [5m] offset 1m)"#, r#"rate({a="b"} | unwrap x[5m] offset 1m0s)"#),
        (
            r#"rate_counter({a="b"} | logfmt | unwrap bytes(size) [5m])"#,
            r#"rate_counter({a="b"} | logfmt | unwrap bytes(size)[5m])"#,
        ),
        (r#"absent_over_time({a="b"} | unwrap x [5m])"#, r#"absent_over_time({a="b"} | unwrap x[5m])"#),
        (r#"avg_over_time({a="b"} | unwrap x [5m]) by (a, b)"#, r#"avg_over_time({a="b"} | unwrap x[5m]) by (a,b)"#),
        (
            r#"min_over_time({a="b"} | unwrap x [5m]) without (a)"#,
            r#"min_over_time({a="b"} | unwrap x[5m]) without (a)"#,
        ),
        (r#"max_over_time({a="b"} | unwrap x [5m]) by ()"#, r#"max_over_time({a="b"} | unwrap x[5m]) by ()"#),
        (r#"stddev_over_time({a="b"} | unwrap x [5m]) by (a)"#, r#"stddev_over_time({a="b"} | unwrap x[5m]) by (a)"#),
        (r#"stdvar_over_time({a="b"} | unwrap x [5m]) by (a)"#, r#"stdvar_over_time({a="b"} | unwrap x[5m]) by (a)"#),
        (
            r#"last_over_time({a="b"} | unwrap x [5m]) without ()"#,
            r#"last_over_time({a="b"} | unwrap x[5m]) without ()"#,
        ),
        (r#"quantile_over_time(0.5, {a="b"} | unwrap x [5m])"#, r#"quantile_over_time(0.5,{a="b"} | unwrap x[5m])"#),
        (r#"quantile_over_time(1, {a="b"} | unwrap x [5m])"#, r#"quantile_over_time(1,{a="b"} | unwrap x[5m])"#),
        (r#"quantile_over_time(.5, {a="b"} | unwrap x [5m])"#, r#"quantile_over_time(0.5,{a="b"} | unwrap x[5m])"#),
        (r#"quantile_over_time(1e-3, {a="b"} | unwrap x [5m])"#, r#"quantile_over_time(0.001,{a="b"} | unwrap x[5m])"#),
        (r#"RATE({a="b"}[5m])"#, r#"rate({a="b"}[5m])"#),
        (r#"rate ({a="b"}[5m])"#, r#"rate({a="b"}[5m])"#),
    ];
    run(&table);
}

#[test]
fn vector_aggregations() {
    let table = [
        (r#"sum(rate({ foo = "bar" }[5h]))"#, r#"sum(rate({foo="bar"}[5h]))"#),
        (
            r#"avg(count_over_time({ foo = "bar" }[5h])) by (bar,foo)"#,
            r#"avg by (bar,foo)(count_over_time({foo="bar"}[5h]))"#,
        ),
        (
            "avg(\n  label_replace(\n    count_over_time({ foo = \"bar\" }[5h]),\n    \"bar\",\n    \"$1$2\",\n    \"foo\",\n    \"(.*).(.*)\"\n  )\n) by (bar,foo)",
            r#"avg by (bar,foo)(label_replace(count_over_time({foo="bar"}[5h]),"bar","$1$2","foo","(.*).(.*)"))"#,
        ),
        (r#"avg(count_over_time({ foo = "bar" }[5h])) by ()"#, r#"avg(count_over_time({foo="bar"}[5h]))"#),
        (
            r#"max without (bar) (count_over_time({ foo = "bar" }[5h]))"#,
            r#"max without (bar)(count_over_time({foo="bar"}[5h]))"#,
        ),
        (
            r#"max without () (count_over_time({ foo = "bar" }[5h]))"#,
            r#"max without ()(count_over_time({foo="bar"}[5h]))"#,
        ),
        (
            r#"topk(10,count_over_time({ foo = "bar" }[5h])) without (bar)"#,
            r#"topk without (bar)(10,count_over_time({foo="bar"}[5h]))"#,
        ),
        (
            r#"bottomk(30 ,sum(rate({ foo = "bar" }[5h])) by (foo))"#,
            r#"bottomk(30,sum by (foo)(rate({foo="bar"}[5h])))"#,
        ),
        (
            r#"max( sum(count_over_time({ foo = "bar" }[5h])) without (foo,bar) ) by (foo)"#,
            r#"max by (foo)(sum without (foo,bar)(count_over_time({foo="bar"}[5h])))"#,
        ),
        (r#"count without (a, b) (rate({a="b"}[5m]))"#, r#"count without (a,b)(rate({a="b"}[5m]))"#),
        (r#"topk by (a) (2, rate({a="b"}[5m]))"#, r#"topk by (a)(2,rate({a="b"}[5m]))"#),
        (r#"bottomk(1, rate({a="b"}[5m]))"#, r#"bottomk(1,rate({a="b"}[5m]))"#),
        (r#"sort_desc(rate({a="b"}[5m]))"#, SAME),
        (r#"avg(vector(1))"#, "avg(vector(1.000000))"),
        (r#"sum(count_over_time({a="b"}[5m])) by ()"#, r#"sum(count_over_time({a="b"}[5m]))"#),
        (r#"max by (a) (min by (b) (rate({a="b"}[5m])))"#, r#"max by (a)(min by (b)(rate({a="b"}[5m])))"#),
        (r#"count(sum by (a) (rate({a="b"}[5m])))"#, r#"count(sum by (a)(rate({a="b"}[5m])))"#),
        (
            r#"sum by (a) (rate({a="b"}[5m]) / rate({c="d"}[5m]))"#,
            r#"sum by (a)((rate({a="b"}[5m]) / rate({c="d"}[5m])))"#,
        ),
        (
            "sum by (job) (\n  count_over_time({namespace=\"tns\"} |= \"level=error\"[5m])\n/\n  count_over_time({namespace=\"tns\"}[5m])\n) * 100",
            r#"(sum by (job)((count_over_time({namespace="tns"} |= "level=error"[5m]) / count_over_time({namespace="tns"}[5m]))) * 100)"#,
        ),
        (r#"sum(vector(0))"#, "sum(vector(0.000000))"),
        (r#"stddev by (a) (rate({a="b"}[5m]))"#, r#"stddev by (a)(rate({a="b"}[5m]))"#),
        (r#"stdvar without (a) (rate({a="b"}[5m]))"#, r#"stdvar without (a)(rate({a="b"}[5m]))"#),
        (r#"sum BY (a) (rate({a="b"}[5m]))"#, r#"sum by (a)(rate({a="b"}[5m]))"#),
        (r#"approx_topk(10, sum by (a) (rate({a="b"}[5m])))"#, r#"approx_topk(10,sum by (a)(rate({a="b"}[5m])))"#),
        (r#"topk(3, vector(1))"#, "topk(3,vector(1.000000))"),
        // As Loki's parser_test.go: label_replace(vector(0), ...) parses.
        (r#"label_replace(vector(0), "foo", "bar", "", "")"#, r#"label_replace(vector(0.000000),"foo","bar","","")"#),
        (
            r#"label_replace(sum by (a) (rate({a="b"}[5m])), "x", "$1", "a", "(.*)")"#,
            r#"label_replace(sum by (a)(rate({a="b"}[5m])),"x","$1","a","(.*)")"#,
        ),
        (
            "\nlabel_replace(\n  bytes_over_time(({foo=\"bar\"} |= \"baz\" |~ \"blip\" != \"flip\" !~ \"flap\")[5m]),\n  \"buzz\",\n  \"$2\",\n  \"bar\",\n  \"(.*):(.*)\"\n)\n",
            r#"label_replace(bytes_over_time({foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap"[5m]),"buzz","$2","bar","(.*):(.*)")"#,
        ),
    ];
    run(&table);
}

#[test]
fn binary_operations_more() {
    let table = [
        (r#"rate({a="b"}[5m]) + on (a) rate({c="d"}[5m])"#, r#"(rate({a="b"}[5m]) + on (a)  rate({c="d"}[5m]))"#),
        (
            r#"rate({a="b"}[5m]) + on (a, b) group_right (c, d) rate({c="d"}[5m])"#,
            r#"(rate({a="b"}[5m]) + on (a,b) group_right (c,d) rate({c="d"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) + ignoring (a) group_left rate({c="d"}[5m])"#,
            r#"(rate({a="b"}[5m]) + ignoring (a) group_left rate({c="d"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) + on (a) group_left () rate({c="d"}[5m])"#,
            r#"(rate({a="b"}[5m]) + on (a) group_left rate({c="d"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) * ignoring () group_left rate({c="d"}[5m])"#,
            r#"(rate({a="b"}[5m]) * ignoring () group_left rate({c="d"}[5m]))"#,
        ),
        (r#"rate({a="b"}[5m]) == bool rate({c="d"}[5m])"#, r#"(rate({a="b"}[5m]) == bool rate({c="d"}[5m]))"#),
        (
            r#"rate({a="b"}[5m]) != bool on () rate({c="d"}[5m])"#,
            r#"(rate({a="b"}[5m]) != bool on ()  rate({c="d"}[5m]))"#,
        ),
        (r#"1 + vector(1)"#, "(1 + vector(1.000000))"),
        (r#"-1 * rate({a="b"}[5m])"#, r#"(-1 * rate({a="b"}[5m]))"#),
        (r#"2 * 3 + rate({a="b"}[5m])"#, r#"(6 + rate({a="b"}[5m]))"#),
        (
            r#"rate({a="b"}[5m]) - rate({c="d"}[5m]) + rate({e="f"}[5m])"#,
            r#"((rate({a="b"}[5m]) - rate({c="d"}[5m])) + rate({e="f"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) / rate({c="d"}[5m]) % rate({e="f"}[5m])"#,
            r#"((rate({a="b"}[5m]) / rate({c="d"}[5m])) % rate({e="f"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) * rate({c="d"}[5m]) ^ rate({e="f"}[5m])"#,
            r#"(rate({a="b"}[5m]) * (rate({c="d"}[5m]) ^ rate({e="f"}[5m])))"#,
        ),
        (r#"rate({a="b"}[5m]) ^ 2 ^ 3"#, r#"(rate({a="b"}[5m]) ^ 8)"#),
        (r#"rate({a="b"}[5m]) == 1 or rate({c="d"}[5m])"#, r#"((rate({a="b"}[5m]) == 1) or rate({c="d"}[5m]))"#),
        (
            r#"rate({a="b"}[5m]) and rate({c="d"}[5m]) unless rate({e="f"}[5m])"#,
            r#"((rate({a="b"}[5m]) and rate({c="d"}[5m])) unless rate({e="f"}[5m]))"#,
        ),
        (
            r#"rate({a="b"}[5m]) or rate({c="d"}[5m]) and rate({e="f"}[5m])"#,
            r#"(rate({a="b"}[5m]) or (rate({c="d"}[5m]) and rate({e="f"}[5m])))"#,
        ),
        (r#"rate({a="b"}[5m]) > 1 < 2"#, r#"((rate({a="b"}[5m]) > 1) < 2)"#),
        (r#"rate({a="b"}[5m]) >= bool 1"#, r#"(rate({a="b"}[5m]) >= bool 1)"#),
        (r#"rate({a="b"}[5m]) <= 1.5"#, r#"(rate({a="b"}[5m]) <= 1.5)"#),
        (r#"(rate({a="b"}[5m]))"#, r#"rate({a="b"}[5m])"#),
        (r#"((rate({a="b"}[5m]) + 1)) * 2"#, r#"((rate({a="b"}[5m]) + 1) * 2)"#),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) by (foo) + 1 / 2"#,
            r#"(sum by (foo)(count_over_time({foo="bar"}[5m])) + 0.5)"#,
        ),
        (
            "sum(count_over_time({foo=\"bar\"}[5m])) by (foo) /\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo) /\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo)",
            r#"((sum by (foo)(count_over_time({foo="bar"}[5m])) / sum by (foo)(count_over_time({foo="bar"}[5m]))) / sum by (foo)(count_over_time({foo="bar"}[5m])))"#,
        ),
        (
            "sum(count_over_time({foo=\"bar\"}[5m])) by (foo) ^\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo) /\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo)",
            r#"((sum by (foo)(count_over_time({foo="bar"}[5m])) ^ sum by (foo)(count_over_time({foo="bar"}[5m]))) / sum by (foo)(count_over_time({foo="bar"}[5m])))"#,
        ),
        (
            "sum(count_over_time({foo=\"bar\"}[5m])) by (foo) +\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo) /\nsum(count_over_time({foo=\"bar\"}[5m])) by (foo)",
            r#"(sum by (foo)(count_over_time({foo="bar"}[5m])) + (sum by (foo)(count_over_time({foo="bar"}[5m])) / sum by (foo)(count_over_time({foo="bar"}[5m]))))"#,
        ),
        (
            r#"count_over_time({ foo ="bar" }[12m]) > count_over_time({ foo = "bar" }[12m])"#,
            r#"(count_over_time({foo="bar"}[12m]) > count_over_time({foo="bar"}[12m]))"#,
        ),
        (
            r#"count_over_time({ foo = "bar" }[12m]) or count_over_time({ foo = "bar" }[12m]) > 1"#,
            r#"(count_over_time({foo="bar"}[12m]) or (count_over_time({foo="bar"}[12m]) > 1))"#,
        ),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) or vector(1)"#,
            r#"(sum(count_over_time({foo="bar"}[5m])) or vector(1.000000))"#,
        ),
        (
            r#"rate({a="b"}[5m]) + -vector(1)"#,
            "ERR:parse error at line 1, col 22: syntax error: unexpected VECTOR, expecting NUMBER",
        ),
    ];
    run(&table);
}

#[test]
fn literal_folding() {
    let table = [
        ("1 + -2 / 1", "-1"),
        ("1 + 1 - -1", "3"),
        ("2 ^ 10", "1024"),
        ("5 % 3", "2"),
        ("-5 % 3", "-2"),
        ("-5 % 1", "0"),
        ("0 * -1", "0"),
        ("1 == 1", "1"),
        ("1 != 1", "0"),
        ("3 < 2", "0"),
        ("2 <= 2", "1"),
        ("1 >= 1", "1"),
        ("1 < 1", "0"),
        ("1 <= 1", "1"),
        ("1 >= 1 > 1", "0"),
        ("1 > 1 < 1", "1"),
        ("(1 + 2) ^ 2", "9"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("1e3 * 1e3", "1e+06"),
        ("10 / 4", "2.5"),
        ("0 / 0", "NaN"),
        ("5 % 0", "NaN"),
        ("1 - 2 - 3", "-4"),
        ("2 ^ -1", "0.5"),
        ("123456", "123456"),
        ("1234567", "1.234567e+06"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("1e21", "1e+21"),
        ("+1.5", "1.5"),
        ("-(1)", "ERR:parse error at line 1, col 2: syntax error: unexpected (, expecting NUMBER"),
        ("((((1))))", "1"),
        ("1 == bool 1", "1"),
        ("2 ^ 3 ^ 0", "2"),
        ("vector(1.5) + 2 * 2", "(vector(1.500000) + 4)"),
        ("vector(0.0000001)", "vector(0.0000001)"),
        ("vector(1e3)", "vector(1000.000000)"),
        (
            "1e400",
            "ERR:parse error : unable to parse literal as a float: strconv.ParseFloat: parsing \"1e400\": value out of range",
        ),
        (
            "0x10",
            "ERR:parse error : unable to parse literal as a float: strconv.ParseFloat: parsing \"0x10\": invalid syntax",
        ),
        (
            "1_000",
            "ERR:parse error : unable to parse literal as a float: strconv.ParseFloat: parsing \"1_000\": invalid syntax",
        ),
    ];
    run(&table);
}

#[test]
fn rejected_queries_more() {
    let table = [
        (r#"unk({ foo = "bar" }[5m])"#, "ERR:parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"),
        (
            r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#,
            "ERR:parse error : grouping not allowed for absent_over_time aggregation",
        ),
        (
            r#"approx_topk(2, count_over_time({ foo = "bar" }[5h])) by (foo)"#,
            "ERR:parse error : grouping not allowed for approx_topk aggregation",
        ),
        (
            r#"rate({ foo = "bar" }[5minutes])"#,
            r#"ERR:parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#,
        ),
        (
            r#"label_replace(rate({ foo = "bar" }[5m]),"")"#,
            "ERR:parse error at line 1, col 43: syntax error: unexpected ), expecting ,",
        ),
        (r#"rate({ foo = "bar" }[5)"#, "ERR:parse error at line 0, col 21: missing closing ']' in duration"),
        (r#"min({ foo = "bar" }[5m])"#, "ERR:parse error at line 0, col 20: syntax error: unexpected RANGE"),
        (
            r#"{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")"#,
            "ERR:parse error at line 1, col 30: syntax error: unexpected ip",
        ),
        (
            r#"{ foo = "bar" }|logfmt|addr>ip("1.2.3.4")"#,
            "ERR:parse error at line 1, col 29: syntax error: unexpected ip",
        ),
        (
            r#"{ foo = "bar" }|logfmt|addr<=ip("1.2.3.4")"#,
            "ERR:parse error at line 1, col 30: syntax error: unexpected ip",
        ),
        (
            r#"{ foo = "bar" }|logfmt|addr<ip("1.2.3.4")"#,
            "ERR:parse error at line 1, col 29: syntax error: unexpected ip",
        ),
        (
            r#"sum(3 ,count_over_time({ foo = "bar" }[5h]))"#,
            "ERR:parse error : unsupported parameter for operation sum(3,",
        ),
        (r#"topk(count_over_time({ foo = "bar" }[5h]))"#, "ERR:parse error : parameter required for operation topk"),
        (
            r#"bottomk(he,count_over_time({ foo = "bar" }[5h]))"#,
            "ERR:parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
        ),
        (r#"bottomk(1.2,count_over_time({ foo = "bar" }[5h]))"#, "ERR:parse error : invalid parameter bottomk(1.2,"),
        (r#"stddev({ foo = "bar" })"#, "ERR:parse error at line 1, col 23: syntax error: unexpected )"),
        (r#"{foo="bar}"#, "ERR:parse error at line 1, col 6: literal not terminated"),
        (r#"{foo="bar""#, "ERR:parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"),
        (
            r#"{foo="bar"} |~"#,
            "ERR:parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip",
        ),
        (r#"{foo="bar"} "foo""#, "ERR:parse error at line 1, col 13: syntax error: unexpected STRING"),
        (r#"{foo="bar"} foo"#, "ERR:parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"),
        (
            r#"{foo="bar"} + {foo="bar"}"#,
            "ERR:parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
        ),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) by (foo) - {foo="bar"}"#,
            "ERR:parse error : unexpected type for right leg of binary operation (-): *syntax.MatchersExpr",
        ),
        (
            r#"{foo="bar"} / sum(count_over_time({foo="bar"}[5m])) by (foo)"#,
            "ERR:parse error : unexpected type for left leg of binary operation (/): *syntax.MatchersExpr",
        ),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) by (foo) or 1"#,
            "ERR:parse error : unexpected literal for right leg of logical/set binary operation (or): 1.000000",
        ),
        (
            r#"1 unless sum(count_over_time({foo="bar"}[5m])) by (foo)"#,
            "ERR:parse error : unexpected literal for left leg of logical/set binary operation (unless): 1.000000",
        ),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) by (foo) + 1 or 1"#,
            "ERR:parse error : unexpected literal for right leg of logical/set binary operation (or): 1.000000",
        ),
        (
            r#"count_over_time({ foo = "bar" }[12m]) > { foo = "bar" }"#,
            "ERR:parse error : unexpected type for right leg of binary operation (>): *syntax.MatchersExpr",
        ),
        ("bool 1 > 1 > bool 1", "ERR:parse error at line 1, col 1: syntax error: unexpected bool"),
        (
            r#"sum_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap latency [5m]) by (foo)"#,
            "ERR:parse error : grouping not allowed for sum_over_time aggregation",
        ),
        (
            r#"sum_over_time(50,{namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap latency [5m])"#,
            "ERR:parse error : parameter 50 not supported for operation sum_over_time",
        ),
        (
            r#"quantile_over_time({namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap latency [5m])"#,
            "ERR:parse error : parameter required for operation quantile_over_time",
        ),
        (
            r#"quantile_over_time(foo,{namespace="tns"} |= "level=error" | json |foo>=5,bar<25ms| unwrap latency [5m])"#,
            "ERR:parse error at line 1, col 20: syntax error: unexpected IDENTIFIER, expecting NUMBER or { or (",
        ),
        ("vector(abc)", "ERR:parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, expecting NUMBER"),
        (r#"#{app="foo"} | json"#, "ERR:parse error at line 1, col 20: syntax error: unexpected $end"),
        (
            r#"count_over_time({a="b"}[5m]) by (x)"#,
            "ERR:parse error : grouping not allowed for count_over_time aggregation",
        ),
        (r#"bytes_rate({a="b"}[5m]) without (x)"#, "ERR:parse error : grouping not allowed for bytes_rate aggregation"),
        (
            r#"rate_counter({a="b"} | unwrap x [5m]) by (x)"#,
            "ERR:parse error : grouping not allowed for rate_counter aggregation",
        ),
        (
            r#"bytes_over_time({a="b"} | unwrap x [5m])"#,
            "ERR:parse error : invalid aggregation bytes_over_time with unwrap",
        ),
        (r#"avg_over_time({a="b"}[5m])"#, "ERR:parse error : invalid aggregation avg_over_time without unwrap"),
        (
            r#"quantile_over_time(0.99, {a="b"}[5m])"#,
            "ERR:parse error : invalid aggregation quantile_over_time without unwrap",
        ),
        (
            r#"quantile_over_time(1e400, {a="b"} | unwrap x [5m])"#,
            "ERR:parse error : invalid parameter for operation quantile_over_time: strconv.ParseFloat: parsing \"1e400\": value out of range",
        ),
        (r#"rate({a="b"}[1.5m])"#, r#"ERR:parse error at line 0, col 13: unknown unit "." in duration "1.5m""#),
        (
            r#"rate({a="b"}[5m] offset 5x)"#,
            "ERR:parse error at line 1, col 25: syntax error: unexpected NUMBER, expecting DURATION",
        ),
        (
            r#"rate({a="b"}[5m] offset 5m offset 1m)"#,
            "ERR:parse error at line 1, col 28: syntax error: unexpected offset",
        ),
        (r#"{a="b"} offset 5m"#, "ERR:parse error at line 1, col 9: syntax error: unexpected offset"),
        (r#"rate({a="b"} offset 5m [5m])"#, "ERR:parse error at line 1, col 14: syntax error: unexpected offset"),
        (r#"sort_desc by (x) (rate({a="b"}[5m]))"#, "ERR:parse error : sort and sort_desc doesn't allow grouping by "),
        (r#"topk(-1, rate({a="b"}[5m]))"#, "ERR:parse error at line 1, col 8: syntax error: unexpected ,"),
        (r#"topk(2.5, rate({a="b"}[5m]))"#, "ERR:parse error : invalid parameter topk(2.5,"),
        (r#"sum by (x) (rate({a="b"}[5m])) by (y)"#, "ERR:parse error at line 1, col 32: syntax error: unexpected by"),
        (r#"sum by x (rate({a="b"}[5m]))"#, "ERR:parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"),
        (
            r#"rate({a="b"}[5m]) by x"#,
            "ERR:parse error at line 1, col 22: syntax error: unexpected IDENTIFIER, expecting (",
        ),
        (r#"{a="b"} | json | x > "1""#, "ERR:parse error at line 1, col 22: syntax error: unexpected STRING"),
        (r#"{a="b"} | line_format"#, "ERR:parse error at line 1, col 22: syntax error: unexpected $end"),
        (r#"{a="b"} | label_format a"#, "ERR:parse error at line 1, col 25: syntax error: unexpected $end"),
        (r#"{a="b"} | drop"#, "ERR:parse error at line 1, col 15: syntax error: unexpected $end"),
        (r#"{a="b"} | unwrap x"#, "ERR:parse error at line 1, col 11: syntax error: unexpected unwrap"),
        (
            r#"sum_over_time({a="b"} | unwrap [5m])"#,
            "ERR:parse error at line 0, col 32: syntax error: unexpected RANGE",
        ),
        (r#"{a="b", }"#, "ERR:parse error at line 1, col 9: syntax error: unexpected }, expecting IDENTIFIER"),
        (
            r#"{a "b"}"#,
            "ERR:parse error at line 1, col 4: syntax error: unexpected STRING, expecting = or =~ or !~ or !=",
        ),
        (r#"{a=="b"}"#, "ERR:parse error at line 0, col 3: syntax error: unexpected ==, expecting = or =~ or !~ or !="),
        (r#"vector(1"#, "ERR:parse error at line 1, col 9: syntax error: unexpected $end, expecting )"),
        (
            r#"label_replace(vector(1), "a", "b", "c")"#,
            "ERR:parse error at line 1, col 39: syntax error: unexpected ), expecting ,",
        ),
        (
            r#"label_replace(vector(1), "a", "b", "c", 1)"#,
            "ERR:parse error at line 1, col 41: syntax error: unexpected NUMBER, expecting STRING",
        ),
        (r#"{a="b"} |= ip(1)"#, "ERR:parse error at line 1, col 15: syntax error: unexpected NUMBER, expecting STRING"),
        (
            r#"{a="b"} |= "x" or vector(1)"#,
            "ERR:parse error at line 1, col 19: syntax error: unexpected VECTOR, expecting STRING or ip",
        ),
        (r#"{a=~"(?P<x"}"#, "ERR^parse error : error parsing regexp: "),
        (r#"{a="b"} | regexp "(?P<1x>a)""#, "ERR^parse error : "),
        (r#"{a="b"} | pattern "<_>""#, "ERR:parse error : invalid pattern parser: at least one capture is required"),
        (
            r#"rate({a="b"}[5m]) and 1 and rate({a="b"}[5m])"#,
            "ERR:parse error : unexpected literal for right leg of logical/set binary operation (and): 1.000000",
        ),
        (r#"{a="b"} |= "\xZZ""#, "ERR:parse error at line 1, col 12: invalid char escape"),
        ("{a=\"b\nc\"}", "ERR:parse error at line 1, col 4: literal not terminated"),
        (r#"count_over_time({a="b"}[5m]"#, "ERR:parse error at line 1, col 28: syntax error: unexpected $end"),
        (r#"sum(rate({a="b"}[5m])"#, "ERR:parse error at line 1, col 22: syntax error: unexpected $end"),
        (r#"()"#, "ERR:parse error at line 1, col 2: syntax error: unexpected )"),
    ];
    run(&table);
}
