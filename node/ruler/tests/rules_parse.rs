//! Parsing rule files (strict) and API groups (lenient), durations, and the
//! JSON form API groups are replicated in.

use std::collections::BTreeMap;

use balsa_ruler::rules::{
    BAD_RULE_GROUP, GroupKey, PromDuration, Rule, RuleFile, RuleGroup, parse_api_group, parse_rule_file,
};

fn err(text: &str) -> (String, Option<usize>) {
    let e = parse_rule_file(text).expect_err(text);
    (e.to_string(), e.line)
}

#[test]
fn strict_files_refuse_unknown_keys_with_positions() {
    // grafana/loki#7589: a group where the file should be.
    let (msg, line) = err("name: my-group\nrules:\n  - alert: A\n    expr: vector(1)\n");
    assert_eq!(msg, "yaml: line 1, column 1: unknown field `name`, expected `groups`");
    assert_eq!(line, Some(1));

    let (msg, line) =
        err("groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: vector(1)\n        severity: page\n");
    assert_eq!(
        msg,
        "yaml: line 6, column 9: groups[0].rules[0]: unknown field `severity`, expected one of `record`, `alert`, `expr`, `for`, `keep_firing_for`, `labels`, `annotations`"
    );
    assert_eq!(line, Some(6));

    let (msg, _) = err("groups:\n  - name: a\n    evaluation_interval: 1m\n");
    assert!(msg.starts_with("yaml: line 3, column 5: groups[0]: unknown field `evaluation_interval`"), "{msg}");
}

#[test]
fn strict_files_report_bad_values() {
    let cases = [
        (
            "groups:\n  - name: a\n    interval: 5\n",
            r#"yaml: line 3, column 15: groups[0].interval: not a valid duration string: "5""#,
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: A\n        for: 1x\n",
            r#"yaml: line 5, column 14: groups[0].rules[0].for: unknown unit "x" in duration "1x""#,
        ),
        ("groups:\n  - name: a\n    name: b\n", "yaml: line 2, column 5: groups[0]: duplicate field `name`"),
        (
            "groups:\n  - name: a\n    labels: {x: 1, x: 2}\n",
            r#"yaml: line 3, column 13: groups[0].labels: mapping key "x" already defined"#,
        ),
        (
            "groups:\n  - name: a\n    limit: \"3\"\n",
            "yaml: line 3, column 12: groups[0].limit: invalid type: string \"3\", expected i64",
        ),
        ("- a\n", "yaml: line 1, column 1: invalid type: sequence, expected struct RuleFile"),
        ("groups: [", "yaml: line 2, column 1: did not find expected node content, while parsing a flow node"),
        (
            "groups: []\n---\ngroups: []\n",
            "yaml: a rule file must hold one YAML document; this one holds several (`---`)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text).0, want, "{text:?}");
    }
}

#[test]
fn scalars_read_as_go_reads_them() {
    let text = r#"
groups:
  - name: 2024
    interval: 0
    rules:
      - alert: A
        expr: vector(1)
        for:
        labels:
          code: 500
          ratio: 1.50
          hex: 0x1F
          on: true
          empty:
        annotations:
      - record: ""
        alert: B
        expr: vector(1)
"#;
    let file = parse_rule_file(text).unwrap();
    let g = &file.groups[0];
    assert_eq!(g.name, "2024");
    assert_eq!(g.interval, Some(PromDuration::ZERO));
    let r = &g.rules[0];
    assert_eq!(r.for_, None);
    let labels: Vec<(&str, &str)> = r.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(labels, [("code", "500"), ("empty", ""), ("hex", "0x1F"), ("on", "true"), ("ratio", "1.50")]);
    assert!(r.annotations.is_empty());
    assert_eq!(g.rules[1].record, None);
    assert_eq!(g.rules[1].alert.as_deref(), Some("B"));
}

#[test]
fn empty_files_have_no_groups() {
    for text in ["", "\n", "# nothing yet\n", "~", "groups:\n", "groups: []\n"] {
        assert_eq!(parse_rule_file(text).unwrap(), RuleFile::default(), "{text:?}");
    }
}

#[test]
fn durations_and_limits() {
    let text = "groups:\n  - name: a\n    interval: 1h30m\n    query_offset: 30s\n    limit: 10\n    rules:\n      - alert: A\n        expr: vector(1)\n        for: 1d\n        keep_firing_for: 500ms\n  - name: b\n    limit: -1\n";
    let file = parse_rule_file(text).unwrap();
    let a = &file.groups[0];
    assert_eq!(a.interval, Some(PromDuration::from_secs(5400)));
    assert_eq!(a.query_offset, Some(PromDuration::from_secs(30)));
    assert_eq!(a.limit, 10);
    assert_eq!(a.rules[0].for_, Some(PromDuration::from_secs(86_400)));
    assert_eq!(a.rules[0].keep_firing_for, Some(PromDuration::from_millis(500)));
    // Go's int: a negative limit is no limit.
    assert_eq!(file.groups[1].limit, 0);
}

#[test]
fn api_groups_are_lenient() {
    let g =
        parse_api_group("name: x\nsource_tenants: [a]\nrules:\n- alert: A\n  expr: vector(1)\n  bogus: 2\n").unwrap();
    assert_eq!(g.name, "x");
    assert_eq!(g.rules.len(), 1);
    for text in ["", "~", "# comment only\n"] {
        assert_eq!(parse_api_group(text).unwrap(), RuleGroup::default(), "{text:?}");
    }
    // Only the first document counts, as with Go's yaml.Unmarshal.
    assert_eq!(parse_api_group("name: a\n---\nname: b\n").unwrap().name, "a");
    for text in
        ["[", "- a\n", "name: [1", "name: a\nname: b\n", "name: a\nlabels: {x: 1, x: 2}\n", "name: a\ninterval: 5\n"]
    {
        assert_eq!(parse_api_group(text), Err(BAD_RULE_GROUP.to_string()), "{text:?}");
    }
    assert_eq!(BAD_RULE_GROUP, "unable to decoded rule group");
}

#[test]
fn groups_round_trip_through_json() {
    let group = RuleGroup {
        name: "g".into(),
        interval: Some(PromDuration::from_secs(60)),
        limit: 5,
        query_offset: Some(PromDuration::ZERO),
        labels: BTreeMap::from([("team".into(), "a".into())]),
        rules: vec![
            Rule {
                alert: Some("A".into()),
                expr: "vector(1)".into(),
                for_: Some(PromDuration::from_secs(300)),
                keep_firing_for: Some(PromDuration::from_secs(60)),
                labels: BTreeMap::from([("sev".into(), "page".into())]),
                annotations: BTreeMap::from([("summary".into(), "{{ $value }}".into())]),
                ..Default::default()
            },
            Rule { record: Some("r:x".into()), expr: "vector(2)".into(), ..Default::default() },
        ],
    };
    let json = serde_json::to_string(&group).unwrap();
    assert_eq!(
        json,
        r#"{"name":"g","interval":"1m","limit":5,"query_offset":"0s","labels":{"team":"a"},"rules":[{"alert":"A","expr":"vector(1)","for":"5m","keep_firing_for":"1m","labels":{"sev":"page"},"annotations":{"summary":"{{ $value }}"}},{"record":"r:x","expr":"vector(2)"}]}"#
    );
    let back: RuleGroup = serde_json::from_str(&json).unwrap();
    assert_eq!(back, group);
    // Older or hand-written records: missing fields are defaults.
    let minimal: RuleGroup =
        serde_json::from_str(r#"{"name":"g","rules":[{"alert":"A","expr":"vector(1)"}]}"#).unwrap();
    assert_eq!(minimal.interval, None);
    assert_eq!(minimal.rules[0].alert.as_deref(), Some("A"));
}

#[test]
fn group_key_hash_separates_parts() {
    let a = GroupKey::new("t", "a", "bc");
    let b = GroupKey::new("t", "ab", "c");
    assert_ne!(a.hash(), b.hash());
    assert_ne!(GroupKey::new("ta", "b", "c").hash(), GroupKey::new("t", "ab", "c").hash());
    assert_eq!(a.hash(), GroupKey::new("t", "a", "bc").hash());
    // The same value as hashing the group's record key (`tenant \0 namespace \0 group`).
    assert_eq!(a.hash(), xxhash_rust::xxh3::xxh3_64(b"t\0a\0bc"));
    // The group loop picks partitions with `GroupId::hash`: the same value.
    let id = balsa_ruler::group::GroupId { tenant: "t".into(), namespace: "a".into(), name: "bc".into() };
    assert_eq!(a.hash(), id.hash());
}
