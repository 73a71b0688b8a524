//! Rule validation: Loki's checks and texts (`pkg/ruler/compat.go`
//! `validateRule`, `pkg/ruler/base/manager.go` `ValidateRuleGroup`,
//! prometheus `model/rulefmt`), for the API and for rule files.

use balsa_ruler::rules::{RuleFile, parse_api_group, parse_rule_file, validate_file, validate_group};

const METRIC: &str = r#"sum(rate({app="foo"}[5m])) > 1"#;

/// A posted group with one rule whose body (YAML lines at rule level) is `rule`.
fn api_errors(rule: &str) -> Vec<String> {
    let text = format!("name: g\nrules:\n  - {}\n", rule.trim().replace('\n', "\n    "));
    let group = parse_api_group(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    validate_group(&group)
}

#[test]
fn group_level_api_messages() {
    let cases = [
        ("", "invalid rules config: rule group name must not be empty"),
        (
            "interval: 15s\nrules:\n- record: up_rule\n  expr: up\n",
            "invalid rules config: rule group name must not be empty",
        ),
        ("name: rg_name\ninterval: 15s\n", "invalid rules config: rule group 'rg_name' has no rules"),
    ];
    for (text, want) in cases {
        let g = parse_api_group(text).unwrap();
        assert_eq!(validate_group(&g), vec![want.to_string()], "{text:?}");
    }
}

#[test]
fn rule_messages() {
    let m = METRIC;
    let cases: Vec<(String, Option<&str>)> = vec![
        (format!("alert: A\nexpr: '{m}'"), None),
        (format!("record: job:rate:sum\nexpr: '{m}'"), None),
        (format!("alert: A\nrecord: r\nexpr: '{m}'"), Some("only one of 'record' and 'alert' must be set")),
        (format!("expr: '{m}'"), Some("one of 'record' or 'alert' must be set")),
        (format!("alert: ''\nexpr: '{m}'"), Some("one of 'record' or 'alert' must be set")),
        ("alert: A".into(), Some("field 'expr' must be set in rule")),
        (
            "alert: A\nexpr: up".into(),
            Some(
                "could not parse expression for alert 'A' in group 'g': parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
            ),
        ),
        (
            "record: r\nexpr: up".into(),
            Some(
                "could not parse expression for record 'r' in group 'g': parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
            ),
        ),
        (
            "alert: A\nexpr: '{app=\"foo\"}'".into(),
            Some(
                "could not parse expression for alert 'A' in group 'g': parse error : only sample expression supported",
            ),
        ),
        (
            format!("record: r\nexpr: '{m}'\nannotations:\n  a: b"),
            Some("invalid field 'annotations' in recording rule"),
        ),
        (format!("record: r\nexpr: '{m}'\nfor: 5m"), Some("invalid field 'for' in recording rule")),
        (format!("record: r\nexpr: '{m}'\nfor: 0s"), None),
        (
            format!("record: r\nexpr: '{m}'\nkeep_firing_for: 5m"),
            Some("invalid field 'keep_firing_for' in recording rule"),
        ),
        (format!("record: job-rate\nexpr: '{m}'"), Some("invalid recording rule name: job-rate")),
        (format!("record: 'a{{b}}'\nexpr: '{m}'"), Some("invalid recording rule name: a{b}")),
        (format!("alert: A\nexpr: '{m}'\nlabels:\n  a-b: x"), Some("invalid label name: a-b")),
        (format!("alert: A\nexpr: '{m}'\nlabels:\n  __name__: x"), Some("invalid label name: __name__")),
        (format!("record: r\nexpr: '{m}'\nlabels:\n  1a: x"), Some("invalid label name: 1a")),
        (format!("alert: A\nexpr: '{m}'\nannotations:\n  a.b: x"), Some("invalid annotation name: a.b")),
        (format!("alert: A\nexpr: '{m}'\nlabels:\n  sev: '{{{{ $labels.x }}}}'"), None),
        (
            format!("alert: A\nexpr: '{m}'\nlabels:\n  sev: '{{{{ '"),
            Some(r#"label "sev": template: __alert_A:1: unclosed action"#),
        ),
        (
            format!("alert: A\nexpr: '{m}'\nannotations:\n  summary: 'x {{{{ '"),
            Some(r#"annotation "summary": template: __alert_A:1: unclosed action"#),
        ),
        // Recording rules' label values are not templates.
        (format!("record: r\nexpr: '{m}'\nlabels:\n  sev: '{{{{ '"), None),
        // Only the first problem of a rule is reported (Loki's validateRule).
        (
            format!("record: a-b\nexpr: '{m}'\nfor: 1m\nannotations:\n  x: y"),
            Some("invalid field 'annotations' in recording rule"),
        ),
    ];
    for (rule, want) in cases {
        let got = api_errors(&rule);
        let want: Vec<String> = want.into_iter().map(String::from).collect();
        assert_eq!(got, want, "rule:\n{rule}");
    }
}

#[test]
fn one_message_per_bad_rule_and_group_labels() {
    let text = format!(
        "name: g\nlabels:\n  bad-label: x\nrules:\n- alert: A\n  expr: up\n- alert: B\n  expr: '{METRIC}'\n- record: r-1\n  expr: '{METRIC}'\n"
    );
    let g = parse_api_group(&text).unwrap();
    assert_eq!(
        validate_group(&g),
        vec![
            "invalid label name: bad-label".to_string(),
            "could not parse expression for alert 'A' in group 'g': parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"
                .to_string(),
            "invalid recording rule name: r-1".to_string(),
        ]
    );
}

#[test]
fn file_messages_name_group_and_rule() {
    let text = format!(
        r#"
groups:
  - name: ok
    rules:
      - alert: A
        expr: '{METRIC}'
  - name: ""
    rules: []
  - name: ok
    labels:
      __name__: x
    rules:
      - alert: HighErrors
        expr: '{METRIC}'
      - record: bad-name
        expr: '{METRIC}'
      - alert: Tmpl
        expr: '{METRIC}'
        annotations:
          summary: "{{{{ "
"#
    );
    let file = parse_rule_file(&text).unwrap();
    assert_eq!(
        validate_file(&file),
        vec![
            "group 1: Groupname must not be empty".to_string(),
            r#"groupname: "ok" is repeated in the same file"#.to_string(),
            r#"group "ok": invalid label name: __name__"#.to_string(),
            r#"group "ok", rule 2, "bad-name": invalid recording rule name: bad-name"#.to_string(),
            r#"group "ok", rule 3, "Tmpl": annotation "summary": template: __alert_Tmpl:1: unclosed action"#
                .to_string(),
        ]
    );
}

#[test]
fn files_may_hold_empty_groups_and_no_groups() {
    // Prometheus and Loki accept a group without rules in a file; it evaluates nothing.
    let file = parse_rule_file("groups:\n  - name: empty\n").unwrap();
    assert!(validate_file(&file).is_empty());
    assert!(validate_file(&RuleFile::default()).is_empty());
}

#[test]
fn a_valid_file_validates() {
    let text = r#"
groups:
  - name: should_fire
    interval: 1m
    limit: 10
    labels:
      team: logs
    rules:
      - alert: HighPercentageError
        expr: |
          sum(rate({app="foo", env="production"} |= "error" [5m])) by (job)
            /
          sum(rate({app="foo", env="production"}[5m])) by (job)
            > 0.05
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: High request latency on {{ $labels.job }}
  - name: credentials_leak
    rules:
      - alert: http-credentials-leaked
        annotations:
          message: "{{ $labels.job }} is leaking http basic auth credentials."
        expr: 'sum by (cluster, job, pod) (count_over_time({namespace="prod"} |~ "http(s?)://(\\w+):(\\w+)@" [5m]) > 0)'
        for: 10m
        labels:
          severity: critical
      - record: nginx:requests:rate1m
        expr: sum(rate({container="nginx"}[1m]))
        labels:
          cluster: us-central1
"#;
    let file = parse_rule_file(text).unwrap();
    assert_eq!(validate_file(&file), Vec::<String>::new());
    assert_eq!(file.groups.len(), 2);
}
