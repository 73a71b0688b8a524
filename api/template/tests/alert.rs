//! Data-driven cases for Prometheus alert templates. Each case names its source: Prometheus'
//! `template/template_test.go` (ported: data moved into `$value`/literals, the template name
//! and error columns shifted by the prelude), Prometheus' docs (`alerting_rules.md`,
//! `template_examples.md`, `template_reference.md`), or the Go semantics it follows.

use balsa_template::Template;
use balsa_template::alert::{AlertData, AlertTemplate};

const NAME: &str = "__alert_test";
/// Length of `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`,
/// which Prometheus prepends: execution error columns count it.
const PRELUDE_LEN: usize = 112;
/// template_test.go's evaluation time (`now`).
const EVAL_MS: i64 = 1_353_755_652_000;
const URL: &str = "http://testhost:9090/path/prefix";
const LABELS: &[(&str, &str)] =
    &[("severity", "critical"), ("alertname", "HighLatency"), ("instance", "host1.example.com:9100"), ("job", "node")];
const EXTERNAL: &[(&str, &str)] = &[("replica", "a"), ("cluster", "eu1")];

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Parses and renders `template` against `data` at `EVAL_MS`; `Err` when the output or the
/// error text differs from `expected`.
fn check(template: &str, data: &AlertData<'_>, expected: &Result<String, String>) -> Result<(), String> {
    let got = AlertTemplate::parse(NAME, template)
        .and_then(|t| t.render_at(data, EVAL_MS))
        .map_err(|e| e.message().to_string());
    if &got == expected {
        Ok(())
    } else {
        Err(format!("template {template:?} (value {})\n   want {expected:?}\n    got {got:?}", data.value))
    }
}

struct Case {
    source: &'static str,
    template: &'static str,
    value: f64,
    want: Result<String, String>,
}

const VALUE: f64 = 1_234_567.0;

fn ok(source: &'static str, template: &'static str, want: &str) -> Case {
    Case { source, template, value: VALUE, want: Ok(want.to_string()) }
}

/// An execution error at byte `col` of `template` (before the prelude), showing `context`.
fn exec_err(source: &'static str, template: &'static str, col: usize, context: &str, msg: &str) -> Case {
    let col = PRELUDE_LEN + col;
    let want = format!(
        "error executing template {NAME}: template: {NAME}:1:{col}: executing \"{NAME}\" at <{context}>: {msg}"
    );
    Case { source, template, value: VALUE, want: Err(want) }
}

fn parse_err(source: &'static str, template: &'static str, msg: &str) -> Case {
    Case { source, template, value: VALUE, want: Err(format!("template: {NAME}:{msg}")) }
}

impl Case {
    fn value(mut self, v: f64) -> Case {
        self.value = v;
        self
    }
}

const TT: &str = "template_test.go";
const DOCS: &str = "docs/configuration/template_examples.md";
const RULES_DOCS: &str = "docs/configuration/alerting_rules.md";
const REF: &str = "docs/configuration/template_reference.md";
const GO: &str = "Go text/template with missingkey=zero";
const FMT: &str = "Go fmt %v of float64";
const COMMON: &str = "prometheus/common helpers/templates";
/// A known difference: invalid patterns report the `regex` crate's reason (Go: "missing closing )").
const REGEX_TEXT: &str = "regex crate's error text";

fn cases() -> Vec<Case> {
    vec![
        // The variables of the prelude and the data struct.
        ok(DOCS, "Instance {{$labels.instance}} down", "Instance host1.example.com:9100 down"),
        ok(
            DOCS,
            "{{$labels.instance}} of job {{$labels.job}} has been down for more than 5 minutes.",
            "host1.example.com:9100 of job node has been down for more than 5 minutes.",
        ),
        ok(
            RULES_DOCS,
            "{{ $labels.instance }} has a median request latency above 1s (current value: {{ $value }}s)",
            "host1.example.com:9100 has a median request latency above 1s (current value: 1.5s)",
        )
        .value(1.5),
        ok(GO, "{{ $externalLabels.cluster }}/{{ $externalLabels.replica }}", "eu1/a"),
        ok(GO, "{{ $externalURL }}", URL),
        ok(GO, "{{ .Labels.job }} {{ .ExternalLabels.cluster }} {{ .ExternalURL }} {{ .Value }}", &format!("node eu1 {URL} 1.234567e+06")),
        ok(GO, "{{ $.Labels.alertname }}", "HighLatency"),
        ok(GO, "[{{ $labels.missing }}]", "[]"),
        ok(GO, "[{{ .Labels.missing }}]", "[]"),
        ok(GO, "[{{ $externalLabels.missing }}]", "[]"),
        ok(GO, r#"{{ index $labels "job" }}"#, "node"),
        ok(GO, r#"[{{ index $labels "missing" }}]"#, "[]"),
        ok(GO, "{{ len $labels }}", "4"),
        ok(GO, "{{ $labels }}", "map[alertname:HighLatency instance:host1.example.com:9100 job:node severity:critical]"),
        ok(GO, "{{ . }}", &format!(
            "{{map[alertname:HighLatency instance:host1.example.com:9100 job:node severity:critical] map[cluster:eu1 replica:a] {URL} 1.234567e+06}}"
        )),
        ok(GO, "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "alertname=HighLatency;instance=host1.example.com:9100;job=node;severity=critical;"),
        ok(GO, "{{ range $externalLabels }}{{ . }},{{ end }}", "eu1,a,"),
        ok(GO, "{{ range $i, $e := $labels }}{{ if eq $i \"job\" }}{{ break }}{{ end }}{{ $e }} {{ end }}", "HighLatency host1.example.com:9100 "),
        ok(GO, r#"{{ if eq $labels.severity "critical" }}page{{ else }}ticket{{ end }}"#, "page"),
        ok(GO, "{{ with $labels.missing }}{{ . }}{{ else }}none{{ end }}", "none"),
        ok(GO, "{{ if $labels }}labelled{{ end }}", "labelled"),
        ok(GO, r#"{{ $x := "a" }}{{ $x = $labels.job }}{{ $x }}"#, "node"),
        ok(GO, r#"{{ define "x" }}{{ .Labels.job }}{{ end }}{{ template "x" . }}"#, "node"),
        ok(TT, "plain text", "plain text"),
        ok(TT, "{{ 1 }}", "1"),
        ok(TT, r#"{{ "<b>" }}"#, "<b>"),
        // $value prints with %v: strconv 'g' shortest, exponent from 1e+06 (or below 1e-4).
        ok(FMT, "{{ $value }}", "5").value(5.0),
        ok(FMT, "{{ $value }}", "0.5").value(0.5),
        ok(FMT, "{{ $value }}", "-0.25").value(-0.25),
        ok(FMT, "{{ $value }}", "100000").value(100_000.0),
        ok(FMT, "{{ $value }}", "1e+06").value(1e6),
        ok(FMT, "{{ $value }}", "1e+21").value(1e21),
        ok(FMT, "{{ $value }}", "0.0001").value(0.0001),
        ok(FMT, "{{ $value }}", "1e-05").value(0.00001),
        ok(FMT, "{{ $value }}", "NaN").value(f64::NAN),
        ok(FMT, "{{ $value }}", "+Inf").value(f64::INFINITY),
        ok(FMT, "{{ $value }}", "-Inf").value(f64::NEG_INFINITY),
        ok(FMT, r#"{{ printf "%.2f" $value }}"#, "1234567.00"),
        ok(FMT, r#"{{ $value | printf "%.1f%%" }}"#, "12.3%").value(12.34),
        ok(GO, "{{ if gt $value 100.0 }}high{{ else }}low{{ end }}", "high"),
        exec_err(GO, "{{ if gt $value 100 }}high{{ end }}", 6, "gt $value 100", "error calling gt: incompatible types for comparison"),
        // humanize.
        ok(TT, "{{ humanize 0.0 }}:{{ humanize 1.0 }}:{{ humanize 1234567.0 }}:{{ humanize .12 }}", "0:1:1.235M:120m"),
        ok(TT, r#"{{ humanize "0.0" }}:{{ humanize "1.0" }}:{{ humanize "1234567.0" }}:{{ humanize ".12" }}"#, "0:1:1.235M:120m"),
        ok(TT, "{{ humanize 0 }}:{{ humanize -1 }}:{{ humanize 1 }}:{{ humanize 1234567 }}:{{ humanize 9223372036854775807 }}", "0:-1:1:1.235M:9.223E"),
        ok(TT, "{{ $value | humanize }}", "1.235M"),
        ok(REF, "{{ humanize 0.001 }}", "1m"),
        ok(REF, "{{ humanize 0.000001234 }}", "1.234u"),
        ok(REF, "{{ humanize -1234 }}", "-1.234k"),
        ok(REF, "{{ humanize 1e30 }}", "1e+06Y"),
        ok(REF, "{{ humanize 1e-30 }}", "1e-06y"),
        ok(TT, "{{ humanize $value }}:{{ humanize1024 $value }}:{{ humanizeDuration $value }}:{{ humanizeTimestamp $value }}", "+Inf:+Inf:+Inf:+Inf").value(f64::INFINITY),
        ok(TT, "{{ humanize $value }}:{{ humanize1024 $value }}:{{ humanizeDuration $value }}:{{ humanizeTimestamp $value }}", "-Inf:-Inf:-Inf:-Inf").value(f64::NEG_INFINITY),
        ok(TT, "{{ humanize $value }}:{{ humanize1024 $value }}:{{ humanizeDuration $value }}:{{ humanizeTimestamp $value }}", "NaN:NaN:NaN:NaN").value(f64::NAN),
        ok(TT, r#"{{ humanize "+Inf" }}:{{ humanize1024 "-Inf" }}:{{ humanizeDuration "NaN" }}"#, "+Inf:-Inf:NaN"),
        exec_err(TT, r#"{{ humanize "one" }}"#, 3, r#"humanize "one""#, r#"error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#),
        exec_err(COMMON, "{{ humanize $labels }}", 3, "humanize $labels", "error calling humanize: can't convert map[string]string to float"),
        exec_err(COMMON, "{{ humanize true }}", 3, "humanize true", "error calling humanize: can't convert bool to float"),
        exec_err(GO, "{{ humanize }}", 3, "humanize", "wrong number of args for humanize: want 1 got 0"),
        // humanize1024.
        ok(TT, "{{ humanize1024 0.0 }}:{{ humanize1024 1.0 }}:{{ humanize1024 1048576.0 }}:{{ humanize1024 .12 }}", "0:1:1Mi:0.12"),
        ok(TT, r#"{{ humanize1024 "1048576.0" }}"#, "1Mi"),
        ok(TT, "{{ humanize1024 -1 }}:{{ humanize1024 1234567 }}:{{ humanize1024 9223372036854775807 }}", "-1:1.177Mi:8Ei"),
        ok(REF, "{{ humanize1024 -2048 }}:{{ humanize1024 1023 }}", "-2ki:1023"),
        exec_err(TT, r#"{{ humanize1024 "one" }}"#, 3, r#"humanize1024 "one""#, r#"error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#),
        // humanizeDuration.
        ok(TT, "{{ humanizeDuration 0 }}:{{ humanizeDuration 1 }}:{{ humanizeDuration 60 }}:{{ humanizeDuration 3600 }}:{{ humanizeDuration 86400 }}", "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s"),
        ok(TT, "{{ humanizeDuration $value }}", "1d 1h 0m 0s").value(90_000.0),
        ok(TT, "{{ humanizeDuration $value }}", "-2d 3h 4m 5s").value(-(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0)),
        ok(TT, "{{ humanizeDuration $value }}", "14m 59s").value(899.99),
        ok(TT, "{{ humanizeDuration .1 }}:{{ humanizeDuration .0001 }}:{{ humanizeDuration .12345 }}:{{ humanizeDuration 60.1 }}:{{ humanizeDuration 60.5 }}:{{ humanizeDuration 1.2345 }}:{{ humanizeDuration 12.345 }}", "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s"),
        ok(TT, r#"{{ humanizeDuration ".1" }}:{{ humanizeDuration "12.345" }}"#, "100ms:12.35s"),
        ok(TT, "{{ humanizeDuration -1 }}:{{ humanizeDuration 1234567 }}", "-1s:14d 6h 56m 7s"),
        ok(REF, "{{ humanizeDuration 3661 }}", "1h 1m 1s"),
        ok(REF, "{{ humanizeDuration 0.001 }}:{{ humanizeDuration -0.5 }}", "1ms:-500ms"),
        exec_err(TT, r#"{{ humanizeDuration "one" }}"#, 3, r#"humanizeDuration "one""#, r#"error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#),
        // humanizePercentage.
        ok(TT, "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}", "-22.22%:0%:12.35%:123.5%"),
        ok(TT, r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}"#, "-22.22%:12.35%"),
        ok(TT, "{{ humanizePercentage 0 }}:{{ humanizePercentage -1 }}:{{ humanizePercentage 1234567 }}:{{ humanizePercentage 9223372036854775807 }}", "0%:-100%:1.235e+08%:9.223e+20%"),
        ok(REF, "{{ humanizePercentage $value }}", "12.34%").value(0.1234),
        ok(REF, "{{ humanizePercentage $value }}", "NaN%").value(f64::NAN),
        exec_err(TT, r#"{{ "one" | humanizePercentage }}"#, 11, "humanizePercentage", r#"error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#),
        // humanizeTimestamp, toTime, toDuration, now, parseDuration.
        ok(TT, "{{ humanizeTimestamp 0 }}|{{ humanizeTimestamp -1 }}|{{ humanizeTimestamp 1 }}|{{ humanizeTimestamp 1234567 }}|{{ humanizeTimestamp 9223372036 }}",
            "1970-01-01 00:00:00 +0000 UTC|1969-12-31 23:59:59 +0000 UTC|1970-01-01 00:00:01 +0000 UTC|1970-01-15 06:56:07 +0000 UTC|2262-04-11 23:47:16 +0000 UTC"),
        ok(TT, "{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        ok(TT, r#"{{ "1435065584.128" | humanizeTimestamp }}"#, "2015-06-23 13:19:44.128 +0000 UTC"),
        ok(COMMON, "{{ humanizeTimestamp $value }}", "2015-06-23 13:19:44.128 +0000 UTC").value(1_435_065_584.128_9),
        exec_err(TT, "{{ humanizeTimestamp $value }}", 3, "humanizeTimestamp $value", "error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64")
            .value(i64::MIN as f64),
        ok(TT, r#"{{ (1435065584.128 | toTime).Format "2006" }}"#, "2015"),
        ok(TT, r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#, "2015"),
        ok(REF, "{{ $value | toTime }}", "2015-06-23 13:19:44.128 +0000 UTC").value(1_435_065_584.128),
        exec_err(COMMON, r#"{{ toTime "NaN" }}"#, 3, r#"toTime "NaN""#, "error calling toTime: value is NaN or Inf"),
        ok(TT, "{{ (1800 | toDuration).String }}", "30m0s"),
        ok(TT, r#"{{ ("1800" | toDuration).String }}"#, "30m0s"),
        ok(REF, "{{ toDuration 1.5 }}|{{ (toDuration 90).Minutes }}|{{ (toDuration 1.5).Milliseconds }}", "1.5s|1.5|1500"),
        ok(TT, "{{ now }}", "1.353755652e+09"),
        ok(TT, r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#, "Sat Nov 24 11:14:12 2012"),
        ok(TT, r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#, "1353753852000"),
        ok(TT, r#"{{ printf "%0.2f" (parseDuration "1h2m10ms") }}"#, "3720.01"),
        ok(TT, r#"{{ printf "%0.2f" (parseDuration "-1h2m10ms") }}"#, "-3720.01"),
        ok(REF, r#"{{ parseDuration "1h" }}:{{ parseDuration "1w" }}:{{ parseDuration "0" }}"#, "3600:604800:0"),
        exec_err(COMMON, r#"{{ parseDuration "1x" }}"#, 3, r#"parseDuration "1x""#, r#"error calling parseDuration: unknown unit "x" in duration "1x""#),
        exec_err(COMMON, r#"{{ parseDuration "1m1h" }}"#, 3, r#"parseDuration "1m1h""#, r#"error calling parseDuration: not a valid duration string: "1m1h""#),
        // Strings.
        ok(TT, r#"{{ "aa bb CC" | title }}"#, "Aa Bb CC"),
        ok(TT, r#"{{ "aa bb CC" | toUpper }}"#, "AA BB CC"),
        ok(TT, r#"{{ "aA bB CC" | toLower }}"#, "aa bb cc"),
        ok(REF, r#"{{ title "high latency on node-exporter, don't page" }}"#, "High Latency On Node-Exporter, Don't Page"),
        ok(REF, r#"{{ title "foo_bar 3rd élan" }}"#, "Foo_bar 3Rd Élan"),
        ok(REF, "{{ $labels.job | toUpper }}{{ $labels.alertname | toLower }}", "NODEhighlatency"),
        ok(TT, r#"{{ match "a+" "aa" }} {{ match "a+" "b" }}"#, "true false"),
        ok(REF, r#"{{ if match "^host[0-9]+\\." $labels.instance }}host{{ end }}"#, "host"),
        ok(TT, r#"{{ reReplaceAll "(a)b" "x$1" "ab" }}"#, "xa"),
        ok(REF, r#"{{ reReplaceAll ":[0-9]+$" "" $labels.instance }}"#, "host1.example.com"),
        ok(REF, r#"{{ reReplaceAll "(?P<host>[^.]+)\\..*" "${host}" $labels.instance }}"#, "host1"),
        exec_err(REGEX_TEXT, r#"{{ match "(" "x" }}"#, 3, r#"match "(" "x""#, "error calling match: error parsing regexp: unclosed group: `(`"),
        exec_err(REGEX_TEXT, r#"{{ reReplaceAll "(" "" "x" }}"#, 3, r#"reReplaceAll "(" "" "x""#, "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: unclosed group: `(`"),
        ok(TT, r#"{{ graphLink "up" }}"#, "/graph?g0.expr=up&g0.tab=0"),
        ok(TT, r#"{{ tableLink "up" }}"#, "/graph?g0.expr=up&g0.tab=1"),
        ok(REF, r#"{{ graphLink "rate(x[5m]) > 0" }}"#, "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+0&g0.tab=0"),
        ok(REF, r#"{{ urlQueryEscape "a b&c=d/é" }}"#, "a+b%26c%3Dd%2F%C3%A9"),
        ok(TT, "{{ pathPrefix }}", "/path/prefix"),
        ok(TT, "{{ externalURL }}", URL),
        ok(TT, r#"{{ "<b>" | safeHtml }}"#, "<b>"),
        ok(TT, r#"{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}"#, "1 2"),
        ok(DOCS, r#"{{define "myMultiArgTemplate"}}First: {{.arg0}}, second: {{.arg1}}{{end}}{{template "myMultiArgTemplate" (args 1 2)}}"#, "First: 1, second: 2"),
        // stripPort / stripDomain.
        ok(TT, r#"{{ "foo.example.com" | stripPort }}|{{ "foo.example.com:12345" | stripPort }}|{{ "192.0.2.1" | stripPort }}|{{ "192.0.2.1:12345" | stripPort }}"#,
            "foo.example.com|foo.example.com|192.0.2.1|192.0.2.1"),
        ok(TT, r#"{{ "2001:0DB8::1" | stripPort }}|{{ "[2001:0DB8::1]:12345" | stripPort }}|{{ "[2001:0DB8::1]::12345" | stripPort }}"#,
            "2001:0DB8::1|2001:0DB8::1|[2001:0DB8::1]::12345"),
        ok(TT, r#"{{ "foo.example.com" | stripDomain }}|{{ "foo.example.com:12345" | stripDomain }}|{{ "192.0.2.1" | stripDomain }}|{{ "192.0.2.1:12345" | stripDomain }}"#,
            "foo|foo:12345|192.0.2.1|192.0.2.1:12345"),
        ok(TT, r#"{{ "2001:0DB8::1" | stripDomain }}|{{ "[2001:0DB8::1]:12345" | stripDomain }}|{{ "[2001:0DB8::1]::12345" | stripDomain }}"#,
            "2001:0DB8::1|[2001:0DB8::1]:12345|[2001:0DB8::1]::12345"),
        ok(REF, "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}", "host1.example.com host1:9100"),
        // query parses, but there is no query engine: it fails when executed.
        exec_err(REF, r#"{{ query "up" }}"#, 3, r#"query "up""#, "error calling query: query is not supported in alert templates (no query engine here)"),
        exec_err(DOCS, r#"{{ with query "some_metric{instance='someinstance'}" }}{{ . | first | value | humanize }}{{ end }}"#, 8, r#"query "some_metric{instance='someinstance'}""#,
            "error calling query: query is not supported in alert templates (no query engine here)"),
        exec_err(DOCS, r#"{{ range query "up" | sortByLabel "instance" }}{{ .Labels.instance }}{{ end }}"#, 9, r#"query "up""#,
            "error calling query: query is not supported in alert templates (no query engine here)"),
        exec_err(TT, "{{ first nil }}", 3, "first nil", "error calling first: first() called on vector with no elements"),
        exec_err(GO, "{{ first $labels }}", 9, "$labels", "wrong type for value; expected template.queryResult; got map[string]string"),
        // Other execution errors.
        exec_err(GO, "{{ .Foo }}", 3, ".Foo", "can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"),
        exec_err(GO, "{{ $labels.job.x }}", 3, "$labels.job.x", "can't evaluate field x in type string"),
        exec_err(GO, "{{ index $labels 1 }}", 3, "index $labels 1", "error calling index: value has type int; should be string"),
        // Parse errors: Go's text (what Prometheus' and Loki's rule validation report).
        parse_err(TT, "{{", "1: unclosed action"),
        parse_err(TT, "{{\u{a0}}}", "1: unrecognized character in action: U+00A0"),
        parse_err(GO, "{{ foo }}", r#"1: function "foo" not defined"#),
        parse_err(GO, "ok\n{{ $labels.job | nope }}", r#"2: function "nope" not defined"#),
        parse_err(GO, "{{ if }}x{{ end }}", "1: missing value for if"),
        parse_err(GO, "{{ end }}", "1: unexpected {{end}}"),
        parse_err(GO, "{{ if $value }}x", "1: unexpected EOF"),
        parse_err(GO, "{{ $foo }}", r#"1: undefined variable "$foo""#),
        parse_err(GO, r#"{{ define "x" }}{{ $labels.job }}{{ end }}"#, r#"1: undefined variable "$labels""#),
        // Functions that are not in Prometheus' map: sprig, Loki's, console-only `tmpl`.
        parse_err(REF, r#"{{ upper "a" }}"#, r#"1: function "upper" not defined"#),
        parse_err(REF, r#"{{ default "a" $labels.x }}"#, r#"1: function "default" not defined"#),
        parse_err(REF, "{{ __line__ }}", r#"1: function "__line__" not defined"#),
        parse_err(REF, r#"{{ regexReplaceAll "a" "b" "c" }}"#, r#"1: function "regexReplaceAll" not defined"#),
        parse_err(REF, r#"{{ tmpl "x" . }}"#, r#"1: function "tmpl" not defined"#),
    ]
}

#[test]
fn alert_template_cases() {
    let labels = pairs(LABELS);
    let external = pairs(EXTERNAL);
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let data = AlertData { labels: &labels, external_labels: &external, external_url: URL, value: c.value };
            check(c.template, &data, &c.want).err().map(|e| format!("[{}] {e}", c.source))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn empty_data_renders() {
    // What Prometheus' rule validation parses against: empty maps, "" and 0.
    let data = AlertData::default();
    let want = Ok("[] map[] 0 none".to_string());
    check("[{{ $labels.x }}{{ $externalURL }}] {{ $externalLabels }} {{ $value }} {{ range $labels }}x{{ else }}none{{ end }}", &data, &want)
        .unwrap();
}

#[test]
fn later_duplicate_label_wins() {
    let labels = pairs(&[("a", "1"), ("a", "2")]);
    let data = AlertData { labels: &labels, ..AlertData::default() };
    check("{{ $labels.a }} {{ len $labels }}", &data, &Ok("2 1".to_string())).unwrap();
}

#[test]
fn render_uses_the_wall_clock_for_now() {
    let t = AlertTemplate::parse(NAME, "{{ if gt now 1.7e9 }}ok{{ end }}").unwrap();
    assert_eq!(t.render(&AlertData::default()).unwrap(), "ok");
}

#[test]
fn line_format_keeps_lokis_function_map() {
    // Prometheus' functions do not leak into line_format...
    for f in ["humanize 1", r#"toUpper "a""#, r#"query "up""#, "humanizeTimestamp now", r#"reReplaceAll "a" "b" "c""#] {
        let err = Template::parse(&format!("{{{{ {f} }}}}")).unwrap_err();
        let name = f.split(' ').next().unwrap_or_default();
        assert_eq!(err.message(), format!(r#"template: line:1: function "{name}" not defined"#), "{f}");
    }
    // ... and shared names keep Loki's meaning: sprig's title is strings.Title, now a time.Time.
    let t = Template::parse(r#"{{ title "3rd x" }} {{ now | unixEpoch | len }}"#).unwrap();
    struct Entry;
    impl balsa_template::Context for Entry {
        fn label(&self, _: &str) -> Option<&str> {
            None
        }
        fn line(&self) -> &str {
            ""
        }
        fn timestamp_ns(&self) -> i64 {
            0
        }
    }
    assert_eq!(t.render_to_string(&Entry).unwrap(), "3rd X 10");
}
