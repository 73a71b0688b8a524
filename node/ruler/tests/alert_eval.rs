//! The alert state machine, as a table of evaluation sequences in the style
//! of Prometheus' `rules/alerting_test.go`: each case is a rule and a list of
//! steps (time, samples) with the alerts expected after each step and whether
//! the step changed what must be persisted.

use std::collections::BTreeMap;

use balsa_ruler::alert::{
    Alert, AlertState, AlertingRule, ERR_DUPLICATE_LABELSET, EvalResult, Expander, RESOLVED_RETENTION_MS,
};
use balsa_ruler::rules::{PromDuration, Rule};

const M: i64 = 60_000;

/// Expands `{{ $labels.x }}` and `{{ $value }}`; `{{ fail }}` fails.
struct TestExpander;

impl Expander for TestExpander {
    fn expand(&self, template: &str, labels: &[(String, String)], value: f64) -> Result<String, String> {
        if template.contains("{{ fail }}") {
            return Err("boom".into());
        }
        let mut out = template.replace("{{ $value }}", &value.to_string());
        for (k, v) in labels {
            out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
        }
        while let (Some(start), Some(end)) = (out.find("{{ $labels."), out.find(" }}")) {
            // A label the series does not have expands to nothing, as in Go.
            out.replace_range(start..end + 3, "");
        }
        Ok(out)
    }
}

fn rule(for_ms: u64, keep_firing_for_ms: u64) -> Rule {
    Rule {
        alert: Some("HighErrors".into()),
        expr: "vector(1)".into(),
        for_: (for_ms > 0).then(|| PromDuration::from_millis(for_ms)),
        keep_firing_for: (keep_firing_for_ms > 0).then(|| PromDuration::from_millis(keep_firing_for_ms)),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An expected alert: its distinguishing label `job`, state and timestamps.
#[derive(Debug, PartialEq)]
struct Want {
    job: &'static str,
    state: AlertState,
    active_at: i64,
    fired_at: Option<i64>,
    resolved_at: Option<i64>,
    keep_firing_since: Option<i64>,
}

fn pending(job: &'static str, active_at: i64) -> Want {
    Want { job, state: AlertState::Pending, active_at, fired_at: None, resolved_at: None, keep_firing_since: None }
}

fn firing(job: &'static str, active_at: i64, fired_at: i64) -> Want {
    Want {
        job,
        state: AlertState::Firing,
        active_at,
        fired_at: Some(fired_at),
        resolved_at: None,
        keep_firing_since: None,
    }
}

fn kept(job: &'static str, active_at: i64, fired_at: i64, since: i64) -> Want {
    Want { keep_firing_since: Some(since), ..firing(job, active_at, fired_at) }
}

fn resolved(job: &'static str, active_at: i64, fired_at: i64, at: i64) -> Want {
    Want { state: AlertState::Inactive, resolved_at: Some(at), ..firing(job, active_at, fired_at) }
}

fn resolved_kept(job: &'static str, active_at: i64, fired_at: i64, since: i64, at: i64) -> Want {
    Want { keep_firing_since: Some(since), ..resolved(job, active_at, fired_at, at) }
}

struct Step {
    ts: i64,
    /// The `job` label of each sample (value 1).
    jobs: &'static [&'static str],
    want: Vec<Want>,
    changed: bool,
}

fn step(ts: i64, jobs: &'static [&'static str], changed: bool, want: Vec<Want>) -> Step {
    Step { ts, jobs, want, changed }
}

fn got(rule: &AlertingRule) -> Vec<Want> {
    rule.all_alerts()
        .map(|a| Want {
            job: Box::leak(a.label("job").unwrap_or_default().to_string().into_boxed_str()),
            state: a.state,
            active_at: a.active_at_ms,
            fired_at: a.fired_at_ms,
            resolved_at: a.resolved_at_ms,
            keep_firing_since: a.keep_firing_since_ms,
        })
        .collect()
}

#[test]
fn evaluation_sequences() {
    let after_retention = 2 * M + RESOLVED_RETENTION_MS;
    let cases: Vec<(&str, Rule, Vec<Step>)> = vec![
        (
            "for 0 fires at once; resolved alerts are kept 15m, then deleted",
            rule(0, 0),
            vec![
                step(0, &["a"], true, vec![firing("a", 0, 0)]),
                step(M, &["a"], false, vec![firing("a", 0, 0)]),
                step(2 * M, &[], true, vec![resolved("a", 0, 0, 2 * M)]),
                step(3 * M, &[], false, vec![resolved("a", 0, 0, 2 * M)]),
                step(after_retention, &[], false, vec![resolved("a", 0, 0, 2 * M)]),
                step(after_retention + 1, &[], true, vec![]),
            ],
        ),
        (
            "pending until for has passed; a resolved alert that comes back is new",
            rule(5 * 60_000, 0),
            vec![
                step(0, &["a"], true, vec![pending("a", 0)]),
                step(M, &["a"], false, vec![pending("a", 0)]),
                step(4 * M + 59_999, &["a"], false, vec![pending("a", 0)]),
                step(5 * M, &["a"], true, vec![firing("a", 0, 5 * M)]),
                step(6 * M, &[], true, vec![resolved("a", 0, 5 * M, 6 * M)]),
                step(7 * M, &["a"], true, vec![pending("a", 7 * M)]),
                step(12 * M, &["a"], true, vec![firing("a", 7 * M, 12 * M)]),
            ],
        ),
        (
            "a pending alert that goes away is dropped",
            rule(5 * 60_000, 0),
            vec![
                step(0, &["a", "b"], true, vec![pending("a", 0), pending("b", 0)]),
                step(M, &["b"], true, vec![pending("b", 0)]),
                step(2 * M, &[], true, vec![]),
                step(3 * M, &[], false, vec![]),
            ],
        ),
        (
            "keep_firing_for keeps a missing alert firing, then resolves it",
            rule(0, 2 * 60_000),
            vec![
                step(0, &["a"], true, vec![firing("a", 0, 0)]),
                step(M, &[], true, vec![kept("a", 0, 0, M)]),
                step(2 * M, &[], false, vec![kept("a", 0, 0, M)]),
                step(3 * M, &[], true, vec![resolved_kept("a", 0, 0, M, 3 * M)]),
                step(4 * M, &[], false, vec![resolved_kept("a", 0, 0, M, 3 * M)]),
            ],
        ),
        (
            "an alert kept firing that comes back stops counting",
            rule(0, 2 * 60_000),
            vec![
                step(0, &["a"], true, vec![firing("a", 0, 0)]),
                step(M, &[], true, vec![kept("a", 0, 0, M)]),
                step(2 * M, &["a"], true, vec![firing("a", 0, 0)]),
                step(3 * M, &[], true, vec![kept("a", 0, 0, 3 * M)]),
                step(5 * M, &[], true, vec![resolved_kept("a", 0, 0, 3 * M, 5 * M)]),
            ],
        ),
        (
            "keep_firing_for does not keep pending alerts",
            rule(5 * 60_000, 10 * 60_000),
            vec![step(0, &["a"], true, vec![pending("a", 0)]), step(M, &[], true, vec![])],
        ),
        (
            "alerts of one rule move independently",
            rule(2 * 60_000, 0),
            vec![
                step(0, &["a"], true, vec![pending("a", 0)]),
                step(M, &["a", "b"], true, vec![pending("a", 0), pending("b", M)]),
                step(2 * M, &["a", "b"], true, vec![firing("a", 0, 2 * M), pending("b", M)]),
                step(3 * M, &["b"], true, vec![resolved("a", 0, 2 * M, 3 * M), firing("b", M, 3 * M)]),
                step(4 * M, &["b"], false, vec![resolved("a", 0, 2 * M, 3 * M), firing("b", M, 3 * M)]),
            ],
        ),
    ];
    for (name, r, steps) in cases {
        let mut alerting = AlertingRule::new(&r, &BTreeMap::new(), 0);
        for s in steps {
            let samples = s.jobs.iter().map(|j| (labels(&[("job", j)]), 1.0)).collect();
            let result = alerting.eval(s.ts, samples, &TestExpander);
            assert_eq!(result, Ok(EvalResult { persisted_change: s.changed }), "{name}: at {}", s.ts);
            assert_eq!(got(&alerting), s.want, "{name}: at {}", s.ts);
        }
    }
}

#[test]
fn labels_and_annotations() {
    let r = Rule {
        alert: Some("HighErrors".into()),
        expr: "vector(1)".into(),
        labels: BTreeMap::from([
            ("severity".into(), "page".into()),
            ("team".into(), "{{ $labels.team }}-oncall".into()),
            ("job".into(), "rule-{{ $labels.job }}".into()),
            ("dropped".into(), "{{ $labels.nothing }}".into()),
        ]),
        annotations: BTreeMap::from([
            ("summary".into(), "{{ $labels.job }} at {{ $value }}".into()),
            ("broken".into(), "{{ fail }}".into()),
            ("empty".into(), "".into()),
        ]),
        ..Default::default()
    };
    let group_labels = BTreeMap::from([("severity".into(), "ticket".into()), ("cluster".into(), "eu".into())]);
    let mut alerting = AlertingRule::new(&r, &group_labels, 0);
    let sample = labels(&[("__name__", "x"), ("team", "db"), ("job", "api"), ("dropped", "x")]);
    alerting.eval(0, vec![(sample, 2.5)], &TestExpander).unwrap();
    let a: Vec<&Alert> = alerting.alerts().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].labels,
        labels(&[
            ("alertname", "HighErrors"),
            ("cluster", "eu"),
            ("job", "rule-api"),
            ("severity", "page"),
            ("team", "db-oncall"),
        ])
    );
    assert_eq!(
        a[0].annotations,
        labels(&[("broken", "<error expanding template: boom>"), ("empty", ""), ("summary", "api at 2.5")])
    );
    assert_eq!(a[0].value, 2.5);
    assert_eq!(
        alerting.labels(),
        &labels(&[
            ("cluster", "eu"),
            ("dropped", "{{ $labels.nothing }}"),
            ("job", "rule-{{ $labels.job }}"),
            ("severity", "page"),
            ("team", "{{ $labels.team }}-oncall")
        ])[..]
    );
}

#[test]
fn new_values_and_annotations_are_not_persisted_changes() {
    let mut r = rule(0, 0);
    r.annotations = BTreeMap::from([("summary".into(), "value {{ $value }}".into())]);
    let mut alerting = AlertingRule::new(&r, &BTreeMap::new(), 0);
    let s = |v: f64| vec![(labels(&[("job", "a")]), v)];
    assert!(alerting.eval(0, s(1.0), &TestExpander).unwrap().persisted_change);
    assert!(!alerting.eval(M, s(7.0), &TestExpander).unwrap().persisted_change);
    let a = alerting.alerts().next().unwrap();
    assert_eq!(a.value, 7.0);
    assert_eq!(a.annotations, labels(&[("summary", "value 7")]));
    // A NaN result is an alert like any other.
    assert!(!alerting.eval(2 * M, s(f64::NAN), &TestExpander).unwrap().persisted_change);
    assert!(alerting.alerts().next().unwrap().value.is_nan());
}

#[test]
fn same_labelset_twice_is_an_error_and_changes_nothing() {
    let mut r = rule(0, 0);
    r.labels = BTreeMap::from([("job".into(), "fixed".into())]);
    let mut alerting = AlertingRule::new(&r, &BTreeMap::new(), 0);
    alerting.eval(0, vec![(labels(&[("x", "1")]), 1.0)], &TestExpander).unwrap();
    let before: Vec<Alert> = alerting.all_alerts().cloned().collect();
    let samples = vec![(labels(&[("job", "a")]), 1.0), (labels(&[("job", "b")]), 1.0)];
    assert_eq!(alerting.eval(M, samples, &TestExpander), Err(ERR_DUPLICATE_LABELSET.to_string()));
    assert_eq!(ERR_DUPLICATE_LABELSET, "vector contains metrics with the same labelset after applying alert labels");
    assert_eq!(alerting.all_alerts().cloned().collect::<Vec<_>>(), before);
    // `__name__` is not part of the identity either.
    let samples =
        vec![(labels(&[("__name__", "a"), ("x", "1")]), 1.0), (labels(&[("__name__", "b"), ("x", "1")]), 1.0)];
    assert_eq!(alerting.eval(2 * M, samples, &TestExpander), Err(ERR_DUPLICATE_LABELSET.to_string()));
}

#[test]
fn limit_clears_all_alerts() {
    let mut alerting = AlertingRule::new(&rule(0, 60_000), &BTreeMap::new(), 2);
    let s = |jobs: &[&str]| jobs.iter().map(|j| (labels(&[("job", j)]), 1.0)).collect::<Vec<_>>();
    alerting.eval(0, s(&["a", "b"]), &TestExpander).unwrap();
    assert_eq!(alerting.all_alerts().count(), 2);
    // a and b are kept firing (keep_firing_for): they count with c.
    assert_eq!(alerting.eval(M / 2, s(&["c"]), &TestExpander), Err("exceeded limit of 2 with 3 alerts".to_string()));
    assert_eq!(alerting.all_alerts().count(), 0);
    assert_eq!(alerting.state(), AlertState::Inactive);
    // Within the limit again: alerts start afresh.
    assert_eq!(alerting.eval(M, s(&["a"]), &TestExpander), Ok(EvalResult { persisted_change: true }));
    assert_eq!(alerting.alerts().next().unwrap().active_at_ms, M);
}

#[test]
fn restored_firing_alert_younger_than_a_longer_for_goes_back_to_pending() {
    let mut alerting = AlertingRule::new(&rule(10 * 60_000, 0), &BTreeMap::new(), 0);
    let a = Alert {
        labels: labels(&[("alertname", "HighErrors"), ("job", "a")]),
        annotations: vec![],
        state: AlertState::Firing,
        value: 1.0,
        active_at_ms: 0,
        fired_at_ms: Some(M),
        resolved_at_ms: None,
        last_sent_at_ms: Some(M),
        valid_until_ms: Some(5 * M),
        keep_firing_since_ms: None,
    };
    alerting.restore(vec![a.clone()]);
    assert_eq!(alerting.state(), AlertState::Firing);
    let r = alerting.eval(5 * M, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    assert!(r.persisted_change);
    let now = alerting.alerts().next().unwrap();
    assert_eq!(
        (now.state, now.active_at_ms, now.fired_at_ms, now.last_sent_at_ms),
        (AlertState::Pending, 0, None, None)
    );
    // The original `active_at` counts: firing again 10 minutes after it.
    alerting.eval(10 * M, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    assert_eq!(alerting.state(), AlertState::Firing);
    assert_eq!(alerting.alerts().next().unwrap().fired_at_ms, Some(10 * M));
}

#[test]
fn restored_alerts_continue_where_they_were() {
    let mut first = AlertingRule::new(&rule(5 * 60_000, 0), &BTreeMap::new(), 0);
    first.eval(0, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    first.eval(2 * M, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    // Another node takes over with the persisted alerts (as JSON).
    let json = serde_json::to_string(&first.all_alerts().cloned().collect::<Vec<_>>()).unwrap();
    let mut second = AlertingRule::new(&rule(5 * 60_000, 0), &BTreeMap::new(), 0);
    second.restore(serde_json::from_str(&json).unwrap());
    let r = second.eval(5 * M, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    assert!(r.persisted_change);
    assert_eq!(got(&second), vec![firing("a", 0, 5 * M)]);
}

#[test]
fn rule_state_and_listings() {
    let mut alerting = AlertingRule::new(&rule(2 * 60_000, 0), &BTreeMap::new(), 0);
    assert_eq!(alerting.state(), AlertState::Inactive);
    alerting.eval(0, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    assert_eq!(alerting.state(), AlertState::Pending);
    alerting.eval(2 * M, vec![(labels(&[("job", "a")]), 1.0)], &TestExpander).unwrap();
    alerting.eval(3 * M, vec![(labels(&[("job", "b")]), 1.0)], &TestExpander).unwrap();
    // a resolved, b pending.
    assert_eq!(alerting.state(), AlertState::Pending);
    assert_eq!(alerting.alerts().map(|a| a.label("job").unwrap()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(alerting.all_alerts().count(), 2);
    assert_eq!(alerting.name(), "HighErrors");
    assert_eq!(alerting.hold_duration_ms(), 2 * M);
}
