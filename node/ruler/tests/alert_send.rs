//! When alerts are sent (Prometheus' `needsSending` and `sendAlerts`):
//! never pending; firing at once and then every `resend_delay`; a resolution
//! at once, then like firing alerts until the resolved alert is deleted;
//! each send stamps `last_sent_at` and `valid_until = ts + 4 * max(interval,
//! resend_delay)`.

use std::collections::BTreeMap;

use balsa_ruler::alert::{AlertState, AlertingRule, Expander, RESOLVED_RETENTION_MS};
use balsa_ruler::rules::{PromDuration, Rule};

const M: i64 = 60_000;

struct Plain;

impl Expander for Plain {
    fn expand(&self, template: &str, _: &[(String, String)], _: f64) -> Result<String, String> {
        Ok(template.to_string())
    }
}

fn rule(for_min: u64) -> AlertingRule {
    let r = Rule {
        alert: Some("A".into()),
        expr: "vector(1)".into(),
        for_: Some(PromDuration::from_secs(60 * for_min)),
        ..Default::default()
    };
    AlertingRule::new(&r, &BTreeMap::new(), 0)
}

fn sample(job: &str) -> Vec<(Vec<(String, String)>, f64)> {
    vec![(vec![("job".to_string(), job.to_string())], 1.0)]
}

/// What was sent: (job, state, last_sent_at, valid_until, resolved_at).
type Sent = (String, AlertState, Option<i64>, Option<i64>, Option<i64>);

/// Evaluates, then sends as the group loop does.
fn tick(r: &mut AlertingRule, ts: i64, jobs: &[&str], resend: i64, interval: i64) -> Vec<Sent> {
    let samples = jobs.iter().flat_map(|j| sample(j)).collect();
    r.eval(ts, samples, &Plain).unwrap();
    let due = r.due_for_send(ts, resend);
    let sent = r.alerts_to_send(ts, resend, interval);
    assert_eq!(due, !sent.is_empty(), "due_for_send agrees with alerts_to_send at {ts}");
    sent.into_iter()
        .map(|a| (a.label("job").unwrap().to_string(), a.state, a.last_sent_at_ms, a.valid_until_ms, a.resolved_at_ms))
        .collect()
}

#[test]
fn pending_alerts_are_never_sent() {
    let mut r = rule(5);
    assert!(tick(&mut r, 0, &["a"], M, M).is_empty());
    assert!(tick(&mut r, 4 * M, &["a"], M, M).is_empty());
    assert_eq!(tick(&mut r, 5 * M, &["a"], M, M), [("a".into(), AlertState::Firing, Some(5 * M), Some(9 * M), None)]);
}

#[test]
fn firing_alerts_are_resent_after_the_delay() {
    let mut r = rule(0);
    let resend = M;
    let interval = 15_000;
    // First evaluation: sent at once; valid for 4 * max(15s, 1m).
    assert_eq!(
        tick(&mut r, 0, &["a"], resend, interval),
        [("a".into(), AlertState::Firing, Some(0), Some(4 * M), None)]
    );
    assert!(tick(&mut r, 15_000, &["a"], resend, interval).is_empty());
    assert!(tick(&mut r, 45_000, &["a"], resend, interval).is_empty());
    // Exactly resend_delay later is not yet (Prometheus: LastSentAt + delay before ts).
    assert!(tick(&mut r, M, &["a"], resend, interval).is_empty());
    assert_eq!(
        tick(&mut r, 75_000, &["a"], resend, interval),
        [("a".into(), AlertState::Firing, Some(75_000), Some(75_000 + 4 * M), None)]
    );
}

#[test]
fn valid_until_uses_the_longer_of_interval_and_resend_delay() {
    let mut r = rule(0);
    let sent = tick(&mut r, 0, &["a"], 10_000, 5 * M);
    assert_eq!(sent[0].3, Some(20 * M));
}

#[test]
fn resolved_alerts_are_sent_at_once_then_resent_until_deleted() {
    let mut r = rule(0);
    let resend = 5 * M;
    assert_eq!(tick(&mut r, 0, &["a"], resend, M).len(), 1);
    // Resolved one minute later: sent at once, although the resend delay has not passed.
    assert_eq!(
        tick(&mut r, M, &[], resend, M),
        [("a".into(), AlertState::Inactive, Some(M), Some(M + 20 * M), Some(M))]
    );
    assert!(tick(&mut r, 2 * M, &[], resend, M).is_empty());
    assert!(tick(&mut r, 6 * M, &[], resend, M).is_empty());
    // Then re-sent every resend_delay, like a firing alert.
    assert_eq!(tick(&mut r, 6 * M + 1, &[], resend, M).len(), 1);
    assert!(tick(&mut r, 8 * M, &[], resend, M).is_empty());
    // Until it is deleted, 15 minutes after it resolved.
    let gone = M + RESOLVED_RETENTION_MS + 1;
    assert!(tick(&mut r, gone, &[], resend, M).is_empty());
    assert_eq!(r.all_alerts().count(), 0);
}

#[test]
fn a_resolution_is_sent_even_right_after_a_send() {
    let mut r = rule(0);
    assert_eq!(tick(&mut r, 0, &["a", "b"], M, M).len(), 2);
    let sent = tick(&mut r, 10_000, &["b"], M, M);
    assert_eq!(sent, [("a".into(), AlertState::Inactive, Some(10_000), Some(10_000 + 4 * M), Some(10_000))]);
}

#[test]
fn due_for_send_changes_nothing() {
    let mut r = rule(0);
    r.eval(0, sample("a"), &Plain).unwrap();
    let before: Vec<_> = r.all_alerts().cloned().collect();
    assert!(r.due_for_send(0, M));
    assert!(r.due_for_send(0, M));
    assert_eq!(r.all_alerts().cloned().collect::<Vec<_>>(), before);
    r.alerts_to_send(0, M, M);
    assert!(!r.due_for_send(0, M));
    assert_eq!(r.alerts().next().unwrap().last_sent_at_ms, Some(0));
}

#[test]
fn restored_send_state_is_respected() {
    let mut first = rule(0);
    assert_eq!(tick(&mut first, 0, &["a"], M, M).len(), 1);
    assert_eq!(tick(&mut first, 30_000, &[], M, M).len(), 1);
    let mut second = rule(0);
    second.restore(first.all_alerts().cloned().collect());
    // The resolution was sent already: not again before the resend delay.
    assert!(tick(&mut second, 60_000, &[], M, M).is_empty());
    assert_eq!(tick(&mut second, 90_001, &[], M, M).len(), 1);
}
