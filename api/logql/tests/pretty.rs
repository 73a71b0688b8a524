//! Pretty printer table: Loki's `prettier_test.go` cases (most run with the
//! line width set to 20, as there), plus Balsa's own cases at the default
//! width of 100. Every pretty form must read back as the same query.

use balsa_logql::{parse_expr, pretty, pretty_with_width};

fn check(width: usize, query: &str, expected: &str) {
    let e = parse_expr(query).unwrap_or_else(|err| panic!("{query}: {err}"));
    let got = pretty_with_width(&e, width);
    assert_eq!(got, expected, "query: {query}\n--- got:\n{got}\n--- want:\n{expected}");
    let again = parse_expr(&got).unwrap_or_else(|err| panic!("pretty form of {query} does not parse: {err}\n{got}"));
    assert_eq!(again, e, "pretty form of {query} parses differently:\n{got}");
}

#[test]
fn loki_format() {
    let cases = [
        (r#"{job="loki", instance="localhost"}"#, r#"{job="loki", instance="localhost"}"#),
        (
            r#"{job="loki", instance="localhost"}|logfmt|level="error" "#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | level=\"error\"",
        ),
        (
            r#"{job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt"#,
            "{job=\"loki\", instance=\"localhost\"}\n  |= \"error\"\n  != \"memcached\"\n  |= ip(\"192.168.0.1\")\n  | logfmt",
        ),
        (
            r#"{job="loki", instance="localhost"}|logfmt|line_format "{{.error}}""#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | line_format \"{{.error}}\"",
        ),
        (
            r#"{job="loki", instance="localhost"}|logfmt|label_format dst="{{.src}}""#,
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | label_format dst=\"{{.src}}\"",
        ),
        (
            r#"count_over_time({job="loki", instance="localhost"}|logfmt[1m])"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    | logfmt [1m]\n)",
        ),
        (
            r#"count_over_time({job="loki", instance="localhost"}|= "error"[5m] offset 20m)"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\" [5m] offset 20m\n)",
        ),
        (
            r#"quantile_over_time(0.99,{container="ingress-nginx",service="hosted-grafana"}| json| unwrap response_latency_seconds| __error__=""[1m]) by (cluster)"#,
            "quantile_over_time(\n  0.99,\n  {container=\"ingress-nginx\", service=\"hosted-grafana\"}\n    | json\n    | unwrap response_latency_seconds\n    | __error__=\"\" [1m]\n) by (cluster)",
        ),
        (
            r#"count_over_time({job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt[1m])"#,
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\"\n    != \"memcached\"\n    |= ip(\"192.168.0.1\")\n    | logfmt [1m]\n)",
        ),
        (
            r#"{job="loki", namespace="loki-prod", container="nginx-ingress"}| json first_server="servers[0]", ua="request.headers[\"User-Agent\"]" | level="error""#,
            "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n  | json first_server=\"servers[0]\",ua=\"request.headers[\\\"User-Agent\\\"]\"\n  | level=\"error\"",
        ),
    ];
    for (q, want) in cases {
        check(20, q, want);
    }
}

#[test]
fn loki_format_vector_aggregation_and_label_replace() {
    let cases = [
        (
            r#"sum(count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
            "sum by (container)(\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
        ),
        (
            r#"topk(5, count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#,
            "topk by (container)(\n  5,\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)",
        ),
        (
            r#"label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  rate(\n    {job=\"api-server\", service=\"a:c\"}\n      |= \"err\" [5m]\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
        (
            r#"label_replace(label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*"), "foo", "$1", "service", "(.*):.*")"#,
            "label_replace(\n  label_replace(\n    rate(\n      {job=\"api-server\", service=\"a:c\"}\n        |= \"err\" [5m]\n    ),\n    \"foo\",\n    \"$1\",\n    \"service\",\n    \"(.*):.*\"\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)",
        ),
    ];
    for (q, want) in cases {
        check(20, q, want);
    }
}

#[test]
fn loki_format_binop() {
    let cases = [
        (
            r#"sum(rate({job="loki", namespace="loki-prod", instance="localhost"}[5m]))/sum(count_over_time({job="loki", namespace="loki-prod", instance="localhost"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )\n/\n  sum(\n    count_over_time(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) + sum(rate({job="loki-dev"}[5m])) / sum(rate({job="loki-prod"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n+\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-prod\"} [5m]\n      )\n    )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  /\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) - sum(rate({job="loki-stage"}[5m])) / sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  -\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-dev\"} [5m]\n        )\n      )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) - sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "    sum(\n      rate(\n        {job=\"loki\"} [5m]\n      )\n    )\n  -\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n    %\n      sum(\n        rate(\n          {job=\"loki-dev\"} [5m]\n        )\n      )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#,
            "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n+\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) * sum(rate({job="loki-prod"}[5m]))"#,
            "      sum(\n        rate(\n          {job=\"loki\"} [5m]\n        )\n      )\n    /\n      sum(\n        rate(\n          {job=\"loki-stage\"} [5m]\n        )\n      )\n  %\n    sum(\n      rate(\n        {job=\"loki-dev\"} [5m]\n      )\n    )\n*\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
        (
            r#"sum(rate({job="loki"}[5m])) * on(instance, job) group_left (node) sum(rate({job="loki-prod"}[5m]))"#,
            "  sum(\n    rate(\n      {job=\"loki\"} [5m]\n    )\n  )\n* on (instance, job) group_left (node)\n  sum(\n    rate(\n      {job=\"loki-prod\"} [5m]\n    )\n  )",
        ),
    ];
    for (q, want) in cases {
        check(20, q, want);
    }
}

/// At the default width of 100, short queries print as their canonical
/// form and long ones split.
#[test]
fn default_width() {
    let short = [
        (r#"{app="foo"}"#, r#"{app="foo"}"#),
        (r#"{app="foo"} |= "x" | json | level="error""#, r#"{app="foo"} |= "x" | json | level="error""#),
        (r#"sum by (app) (rate({app="foo"}[5m] offset 1h))"#, r#"sum by (app)(rate({app="foo"}[5m] offset 1h0m0s))"#),
        ("vector(1)+vector(1)", "(vector(1.000000) + vector(1.000000))"),
        ("1+1", "2"),
    ];
    for (q, want) in short {
        check(100, q, want);
        assert_eq!(pretty(&parse_expr(q).unwrap()), want);
    }
    let long = r#"sum by (namespace, app) (count_over_time({namespace="production", app="api-gateway"} |= "error" != "healthcheck" | json | status >= 500 [5m]))"#;
    check(
        100,
        long,
        "sum by (namespace, app)(\n  count_over_time(\n    {namespace=\"production\", app=\"api-gateway\"} |= \"error\" != \"healthcheck\" | json | status>=500 [5m]\n  )\n)",
    );
    let long_log = r#"{namespace="production", app="api-gateway", cluster="eu-west-1"} |= "error" != "healthcheck" | logfmt | decolorize | line_format "{{.msg}}""#;
    check(
        100,
        long_log,
        "{namespace=\"production\", app=\"api-gateway\", cluster=\"eu-west-1\"}\n  |= \"error\" != \"healthcheck\"\n  | logfmt\n| decolorize\n  | line_format \"{{.msg}}\"",
    );
}

/// Where Loki's pretty form would change the query, Balsa keeps it exact.
#[test]
fn pretty_forms_read_back_the_same() {
    let cases = [
        (
            r#"sum without () (rate({job="loki", namespace="loki-prod"}[5m]))"#,
            "sum without ()(\n  rate(\n    {job=\"loki\", namespace=\"loki-prod\"} [5m]\n  )\n)",
        ),
        (
            r#"max_over_time({job="loki", namespace="prod"} | unwrap x [5m]) by ()"#,
            "max_over_time(\n  {job=\"loki\", namespace=\"prod\"}\n    | unwrap x [5m]\n) by ()",
        ),
        (
            r#"count_over_time({job="loki"} |= "a" or "b" |= "c" or ip("1.2.3.4") [5m] offset -30s)"#,
            "count_over_time(\n  {job=\"loki\"}\n    |= \"a\" or \"b\"\n    |= \"c\" or ip(\"1.2.3.4\") [5m] offset -30s\n)",
        ),
        (
            r#"rate({job="loki"}[5m]) * ignoring () group_left rate({job="dev"}[5m])"#,
            "  rate(\n    {job=\"loki\"} [5m]\n  )\n* ignoring () group_left\n  rate(\n    {job=\"dev\"} [5m]\n  )",
        ),
        (r#"(rate({a="b"}[5m]) + 1) * 2"#, "  (\n      rate({a=\"b\"}[5m])\n    +\n      1\n  )\n*\n  2"),
        (
            r#"rate({a="b"}[5m]) - (rate({c="d"}[5m]) - 1)"#,
            "  rate({a=\"b\"}[5m])\n-\n  (\n      rate({c=\"d\"}[5m])\n    -\n      1\n  )",
        ),
        (r#"(rate({a="b"}[5m]) ^ 2) ^ 3"#, "  (\n      rate({a=\"b\"}[5m])\n    ^\n      2\n  )\n^\n  3"),
        (
            r#"rate({job="loki"}[5m]) > bool on () rate({job="dev"}[5m])"#,
            "  rate(\n    {job=\"loki\"} [5m]\n  )\n> bool on () \n  rate(\n    {job=\"dev\"} [5m]\n  )",
        ),
    ];
    for (q, want) in cases {
        check(20, q, want);
    }
}
