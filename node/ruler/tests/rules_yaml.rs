//! The rules API's YAML, byte for byte as Loki prints it (yaml.v3), and read
//! back by Balsa's parsers.

use std::collections::BTreeMap;

use balsa_ruler::rules::{
    PromDuration, Rule, RuleGroup, group_to_yaml, namespaces_to_yaml, parse_api_group, parse_rule_file,
};

/// Loki `pkg/ruler/base/api_test.go` `TestRuler_Create`: what is posted, and
/// what `GET` answers afterwards.
#[test]
fn loki_api_test_create_outputs() {
    let cases = [
        (
            "\nname: test\ninterval: 15s\nrules:\n- record: up_rule\n  expr: up{}\n- alert: up_alert\n  expr: sum(up{}) > 1\n  for: 30s\n  annotations:\n    test: test\n  labels:\n    test: test\n",
            "name: test\ninterval: 15s\nrules:\n    - record: up_rule\n      expr: up{}\n    - alert: up_alert\n      expr: sum(up{}) > 1\n      for: 30s\n      labels:\n        test: test\n      annotations:\n        test: test\n",
        ),
        (
            "\nname: test\ninterval: 15s\nlimit: 10\nrules:\n- record: up_rule\n  expr: up{}\n- alert: up_alert\n  expr: sum(up{}) > 1\n  for: 30s\n  annotations:\n    test: test\n  labels:\n    test: test\n",
            "name: test\ninterval: 15s\nlimit: 10\nrules:\n    - record: up_rule\n      expr: up{}\n    - alert: up_alert\n      expr: sum(up{}) > 1\n      for: 30s\n      labels:\n        test: test\n      annotations:\n        test: test\n",
        ),
    ];
    for (input, output) in cases {
        let group = parse_api_group(input).unwrap();
        assert_eq!(group_to_yaml(&group), output);
        assert_eq!(parse_api_group(output).unwrap(), group);
    }
}

/// Loki `TestRuler_DeleteNamespace`: a stored group as `GET` prints it.
#[test]
fn loki_api_test_stored_group_output() {
    let group = RuleGroup {
        name: "group1".into(),
        interval: Some(PromDuration::from_secs(60)),
        limit: 10,
        rules: vec![
            Rule { record: Some("UP_RULE".into()), expr: "up".into(), ..Default::default() },
            Rule { alert: Some("UP_ALERT".into()), expr: "up < 1".into(), ..Default::default() },
        ],
        ..Default::default()
    };
    assert_eq!(
        group_to_yaml(&group),
        "name: group1\ninterval: 1m\nlimit: 10\nrules:\n    - record: UP_RULE\n      expr: up\n    - alert: UP_ALERT\n      expr: up < 1\n"
    );
}

fn sample_group(name: &str) -> RuleGroup {
    RuleGroup {
        name: name.into(),
        interval: Some(PromDuration::from_secs(60)),
        rules: vec![
            Rule {
                alert: Some("HighPercentageError".into()),
                expr: "sum(rate({app=\"foo\", env=\"production\"} |= \"error\" [5m])) by (job)\n  /\nsum(rate({app=\"foo\", env=\"production\"}[5m])) by (job)\n  > 0.05\n".into(),
                for_: Some(PromDuration::from_secs(600)),
                labels: BTreeMap::from([("severity".into(), "page".into())]),
                annotations: BTreeMap::from([
                    ("summary".into(), "{{ $labels.job }} is failing".into()),
                    ("value".into(), "{{ $value }}".into()),
                ]),
                ..Default::default()
            },
            Rule { record: Some("nginx:requests:rate1m".into()), expr: "sum(rate({container=\"nginx\"}[1m]))".into(), ..Default::default() },
        ],
        ..Default::default()
    }
}

#[test]
fn group_with_block_expr_and_quoted_templates() {
    assert_eq!(
        group_to_yaml(&sample_group("should_fire")),
        r#"name: should_fire
interval: 1m
rules:
    - alert: HighPercentageError
      expr: |
        sum(rate({app="foo", env="production"} |= "error" [5m])) by (job)
          /
        sum(rate({app="foo", env="production"}[5m])) by (job)
          > 0.05
      for: 10m
      labels:
        severity: page
      annotations:
        summary: '{{ $labels.job }} is failing'
        value: '{{ $value }}'
    - record: nginx:requests:rate1m
      expr: sum(rate({container="nginx"}[1m]))
"#
    );
}

#[test]
fn namespaces_map_indents_one_level_deeper() {
    let mut map = BTreeMap::new();
    map.insert("ns10".to_string(), vec![sample_group("b")]);
    map.insert(
        "ns2".to_string(),
        vec![RuleGroup {
            name: "a".into(),
            rules: vec![Rule { alert: Some("A".into()), expr: "vector(1)\n".into(), ..Default::default() }],
            ..Default::default()
        }],
    );
    // yaml.v3 sorts keys "naturally": ns2 before ns10.
    assert_eq!(
        namespaces_to_yaml(&map),
        r#"ns2:
    - name: a
      rules:
        - alert: A
          expr: |
            vector(1)
ns10:
    - name: b
      interval: 1m
      rules:
        - alert: HighPercentageError
          expr: |
            sum(rate({app="foo", env="production"} |= "error" [5m])) by (job)
              /
            sum(rate({app="foo", env="production"}[5m])) by (job)
              > 0.05
          for: 10m
          labels:
            severity: page
          annotations:
            summary: '{{ $labels.job }} is failing'
            value: '{{ $value }}'
        - record: nginx:requests:rate1m
          expr: sum(rate({container="nginx"}[1m]))
"#
    );
}

/// Fields Loki drops are printed where Prometheus' `rulefmt` structs put them.
#[test]
fn balsa_fields_print_in_rulefmt_order() {
    let group = RuleGroup {
        name: "g".into(),
        interval: Some(PromDuration::from_secs(90 * 86_400)),
        limit: 3,
        query_offset: Some(PromDuration::ZERO),
        labels: BTreeMap::from([("team".into(), "logs".into()), ("env".into(), "prod".into())]),
        rules: vec![Rule {
            alert: Some("A".into()),
            expr: "vector(1)".into(),
            for_: Some(PromDuration::ZERO),
            keep_firing_for: Some(PromDuration::from_secs(300)),
            ..Default::default()
        }],
    };
    let yaml = group_to_yaml(&group);
    assert_eq!(
        yaml,
        "name: g\ninterval: 90d\nquery_offset: 0s\nlimit: 3\nrules:\n    - alert: A\n      expr: vector(1)\n      keep_firing_for: 5m\nlabels:\n    env: prod\n    team: logs\n"
    );
    let back = parse_api_group(&yaml).unwrap();
    assert_eq!(back.rules[0].keep_firing_for, Some(PromDuration::from_secs(300)));
    assert_eq!(back.query_offset, group.query_offset);
    assert_eq!(back.labels, group.labels);
}

#[test]
fn empty_rules_and_empty_map() {
    let g = RuleGroup { name: "g".into(), ..Default::default() };
    assert_eq!(group_to_yaml(&g), "name: g\nrules: []\n");
    assert_eq!(namespaces_to_yaml(&BTreeMap::new()), "{}\n");
}

/// Whatever the strings, the printed YAML reads back as the same group, both
/// through the API parser and (under `groups:`) as a rule file.
#[test]
fn awkward_strings_round_trip() {
    let values = [
        "",
        " ",
        "yes",
        "no",
        "on",
        "Off",
        "y",
        "true",
        "null",
        "~",
        "123",
        "-1",
        "1.5",
        "1e3",
        ".5",
        "0x1F",
        "08",
        "1_000",
        "1:30",
        "2024-01-02",
        "2024-01-02T03:04:05Z",
        "a: b",
        "a:b",
        "#x",
        "a #b",
        "a#b",
        "- x",
        "-",
        "---",
        "...",
        "?",
        "{{ $labels.job }}",
        "[x]",
        "*x",
        "&x",
        "!x",
        "|x",
        ">x",
        "%x",
        "@x",
        "`x`",
        "'quoted'",
        "\"quoted\"",
        "it's",
        "back\\slash",
        "tab\there",
        "\ttab",
        "lead",
        " lead",
        "trail ",
        "line1\nline2",
        "line1\nline2\n",
        "line1\n\n",
        "\n",
        "\nlead",
        " lead\nx",
        "x\n  indented\n",
        "trail \nspace",
        "line\nend ",
        "crlf\r\nx",
        "nbsp\u{a0}x",
        "ünïcödé",
        "fire 🔥",
        "zero\u{0}x",
        "bell\u{7}",
        "bom\u{feff}x",
        "ls\u{2028}x",
        "nel\u{85}x",
        "<<",
        "=",
        "a,b",
    ];
    for v in values {
        let group = RuleGroup {
            name: v.to_string(),
            rules: vec![Rule {
                alert: Some("A".into()),
                expr: v.to_string(),
                labels: BTreeMap::from([(v.to_string(), v.to_string())]),
                annotations: BTreeMap::from([("a".into(), v.to_string())]),
                ..Default::default()
            }],
            ..Default::default()
        };
        let yaml = group_to_yaml(&group);
        assert_eq!(parse_api_group(&yaml).as_ref(), Ok(&group), "{v:?} printed as:\n{yaml}");
        let mut map = BTreeMap::new();
        map.insert(v.to_string(), vec![group.clone()]);
        let listing = namespaces_to_yaml(&map);
        let as_file = format!("groups:{}", &listing[listing.find(":\n").expect("a block sequence") + 1..]);
        let file = parse_rule_file(&as_file).unwrap_or_else(|e| panic!("{v:?}: {e}\n{as_file}"));
        assert_eq!(file.groups, vec![group], "{v:?} listed as:\n{listing}");
    }
}
