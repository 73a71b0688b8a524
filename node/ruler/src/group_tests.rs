//! A group's loop over an in-memory cluster: one evaluator at a time,
//! failover that keeps `for` timers and firing alerts, sends gated by
//! committed writes, and no writes in steady state.

use std::sync::Arc;

use super::*;
use crate::config::RulerConfig;
use crate::rules::{RuleGroup, parse_rule_file};
use crate::store::{BackendError, QuerySample};
use crate::testing::{FakeClock, MemCluster, NodeSender, RecordedSamples, SentAlerts};

const PARTITIONS: u32 = 4;

struct Node {
    runner: GroupRunner,
}

struct World {
    cluster: Arc<MemCluster>,
    clock: Arc<FakeClock>,
    sent: Arc<SentAlerts>,
    samples: Arc<RecordedSamples>,
    nodes: Vec<Node>,
    partition: u32,
}

fn group(yaml: &str) -> RuleGroup {
    parse_rule_file(yaml).unwrap().groups.remove(0)
}

impl World {
    /// Two nodes running the same group; node 0 leads every partition.
    fn new(def: RuleGroup) -> World {
        let cluster = MemCluster::new(PARTITIONS);
        cluster.lead_all(0);
        let clock = Arc::new(FakeClock::default());
        let sent = Arc::new(SentAlerts::default());
        let samples = Arc::new(RecordedSamples::default());
        let config = RulerConfig {
            resend_delay: balsa_model::units::Duration::from_secs(5),
            external_labels: [("cluster".to_string(), "eu".to_string())].into(),
            ..Default::default()
        };
        let id = GroupId { tenant: "fake".into(), namespace: "ns.yaml".into(), name: def.name.clone() };
        let partition = (id.hash() % PARTITIONS as u64) as u32;
        let nodes = (0..2u64)
            .map(|n| {
                let shared = Arc::new(Shared {
                    config: config.clone(),
                    backend: cluster.node(n),
                    notifier: Arc::new(NodeSender { node: n, log: Arc::clone(&sent) }),
                    remote_writer: Arc::clone(&samples) as Arc<dyn crate::sinks::SampleSink>,
                    clock: Arc::clone(&clock) as Arc<dyn Clock>,
                    external_labels: vec![("cluster".into(), "eu".into())],
                    limits: Arc::new(|_: &str| crate::config::RulerLimits::default()),
                    leadership: Default::default(),
                });
                Node { runner: GroupRunner::new(id.clone(), def.clone(), shared) }
            })
            .collect();
        let w = World { cluster, clock, sent, samples, nodes, partition };
        w.observe();
        w
    }

    /// Every node notes its leaderships at the clock's time (the 100 ms watch).
    fn observe(&self) {
        for n in &self.nodes {
            n.runner.shared.leadership.observe(n.runner.shared.backend.as_ref(), self.clock.now_ms());
        }
    }

    /// Every node ticks the slot at `ts` (the clock reads `ts`).
    async fn slot(&mut self, ts: i64) {
        self.clock.set(ts);
        for n in &mut self.nodes {
            n.runner.tick(ts).await;
        }
    }

    /// (node, alertname, state of the send: firing when endsAt is in the future).
    fn sends(&self) -> Vec<(u64, i64, String, bool)> {
        let sent = self.sent.sent.lock().unwrap();
        sent.iter()
            .flat_map(|(node, _, alerts)| {
                alerts.iter().map(move |a| {
                    let name = a.labels.iter().find(|(k, _)| k == "alertname").unwrap().1.clone();
                    let firing = a.ends_at_ms.is_none_or(|end| end > a.starts_at_ms + 1_000_000_000_000)
                        || a.ends_at_ms.is_some_and(|e| e > *self.clock.0.lock().unwrap());
                    (*node, a.starts_at_ms, name, firing)
                })
            })
            .collect()
    }

    fn clear_sends(&self) {
        self.sent.sent.lock().unwrap().clear();
    }
}

fn always(value: f64) -> impl Fn(&str, &str, i64) -> Result<Vec<QuerySample>, BackendError> {
    move |_, _, _| Ok(vec![QuerySample { labels: vec![("job".into(), "app".into())], value }])
}

const ALERT_FOR_10S: &str = r#"
groups:
  - name: g
    interval: 1s
    rules:
      - alert: HighErrors
        expr: sum by (job) (count_over_time({job="app"}[1m])) > 0
        for: 10s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} has errors"
"#;

#[tokio::test]
async fn only_the_leader_evaluates_and_sends() {
    let mut w = World::new(group(ALERT_FOR_10S));
    w.cluster.script(always(3.0));
    for s in 1..=20 {
        w.slot(s * 1000).await;
    }
    let sends = w.sends();
    assert!(!sends.is_empty(), "the alert fired and was sent");
    assert!(sends.iter().all(|(node, ..)| *node == 0), "only node 0 leads: {sends:?}");
    assert!(w.nodes[0].runner.status.lock().unwrap().owner);
    assert!(!w.nodes[1].runner.status.lock().unwrap().owner);
    // Alert labels carry the rule's labels and the external labels.
    let sent = w.sent.sent.lock().unwrap();
    let labels = &sent[0].2[0].labels;
    for want in [("alertname", "HighErrors"), ("cluster", "eu"), ("job", "app"), ("severity", "page")] {
        assert!(labels.iter().any(|(k, v)| k == want.0 && v == want.1), "{want:?} in {labels:?}");
    }
}

#[tokio::test]
async fn a_new_owner_keeps_the_for_timer_of_a_pending_alert() {
    let mut w = World::new(group(ALERT_FOR_10S));
    w.cluster.script(always(3.0));
    // Slots 1..=5 on node 0: pending since slot 1.
    for s in 1..=5 {
        w.slot(s * 1000).await;
    }
    let active_at = w.nodes[0].runner.status.lock().unwrap().rules[0].alerts[0].active_at_ms;
    assert_eq!(active_at, 1000);
    // Node 0 dies; node 1 leads from 5.5 s.
    w.cluster.set_leader(w.partition, 1);
    w.clock.set(5500);
    w.observe();
    for s in 6..=12 {
        w.slot(s * 1000).await;
    }
    let status = w.nodes[1].runner.status.lock().unwrap().clone();
    let alert = &status.rules[0].alerts[0];
    assert_eq!(alert.active_at_ms, 1000, "activeAt is not reset by the failover");
    // activeAt 1 s + for 10 s: firing at slot 11, not at 5.5 + 10.
    assert_eq!(alert.state, crate::alert::AlertState::Firing);
    assert_eq!(alert.fired_at_ms, Some(11_000));
    let sends = w.sends();
    assert!(sends.iter().all(|(node, ..)| *node == 1), "{sends:?}");
    assert_eq!(sends.len(), 1, "one firing notification: {sends:?}");
}

#[tokio::test]
async fn a_firing_alert_stays_firing_across_failover_and_is_not_resent_early() {
    let mut w = World::new(group(ALERT_FOR_10S.replace("for: 10s", "for: 0s").as_str()));
    w.cluster.script(always(3.0));
    w.slot(1000).await;
    w.slot(2000).await;
    assert_eq!(w.sends().len(), 1, "fired and sent once at slot 1");
    // Failover at 2.5 s: node 1 must not resend before lastSentAt + resend_delay (5 s).
    w.cluster.set_leader(w.partition, 1);
    w.clock.set(2500);
    w.observe();
    for s in 3..=6 {
        w.slot(s * 1000).await;
    }
    assert_eq!(w.sends().len(), 1, "no resend within resend_delay after failover: {:?}", w.sends());
    w.slot(7000).await;
    let sends = w.sends();
    assert_eq!(sends.len(), 2, "resent once resend_delay passed: {sends:?}");
    assert_eq!(sends[1].0, 1);
    assert!(sends.iter().all(|s| s.3), "never sent as resolved: {sends:?}");
    assert_eq!(sends[0].1, sends[1].1, "startsAt stays the original firing time");
}

#[tokio::test]
async fn a_deposed_leader_that_cannot_commit_never_sends() {
    let mut w = World::new(group(ALERT_FOR_10S.replace("for: 10s", "for: 0s").as_str()));
    w.cluster.script(always(3.0));
    w.slot(1000).await;
    assert_eq!(w.sends().len(), 1);
    w.clear_sends();
    // Node 1 is elected; node 0 still believes it leads (its lease has not run out
    // in its own eyes) and keeps evaluating, but its writes cannot commit.
    w.cluster.set_leader(w.partition, 1);
    w.cluster.delude(w.partition, 0);
    w.clock.set(1500);
    w.observe();
    for s in 2..=20 {
        w.slot(s * 1000).await;
    }
    let sends = w.sends();
    assert!(sends.iter().all(|(node, ..)| *node == 1), "the deposed node sent: {sends:?}");
    // Node 1 resends every resend_delay (5 s, strictly after): 1 -> 7 -> 13 -> 19.
    assert_eq!(sends.len(), 3, "{sends:?}");
}

#[tokio::test]
async fn an_evaluation_error_keeps_alerts_and_marks_the_rule_unhealthy() {
    let mut w = World::new(group(ALERT_FOR_10S.replace("for: 10s", "for: 0s").as_str()));
    w.cluster.script(always(3.0));
    w.slot(1000).await;
    w.cluster.script(|_, _, _| Err(BackendError::Unavailable("no quorum for shard 3".into())));
    w.slot(2000).await;
    let status = w.nodes[0].runner.status.lock().unwrap().clone();
    assert_eq!(status.rules[0].health, "err");
    assert!(status.rules[0].last_error.contains("no quorum"), "{:?}", status.rules[0]);
    assert_eq!(status.rules[0].alerts.len(), 1, "an error is not 'no series'");
    assert_eq!(status.rules[0].alerts[0].state, crate::alert::AlertState::Firing);
    // The health change is replicated, so other nodes list it.
    let records = w.cluster.writes.lock().unwrap().len();
    assert_eq!(records, 2, "one write when it fired and was sent, one for the health change");
}

#[tokio::test]
async fn steady_state_writes_nothing_per_evaluation() {
    let mut w = World::new(group(ALERT_FOR_10S));
    w.cluster.script(always(3.0));
    for s in 1..=60 {
        w.slot(s * 1000).await;
    }
    // Writes: pending at 1 s (+ health ok), firing and sent at 11 s, then one
    // per resend (5 s, strictly after the last send): 17, 23, 29, 35, 41, 47, 53, 59.
    let writes = w.cluster.write_count();
    assert_eq!(writes, 10, "writes over 60 evaluations");
    assert_eq!(w.sends().len(), 9);
}

#[tokio::test]
async fn recording_rules_record_once_per_slot_with_labels() {
    let def = group(
        r#"
groups:
  - name: rec
    interval: 1s
    labels:
      team: logs
    rules:
      - record: job:lines:count1m
        expr: sum by (job) (count_over_time({job="app"}[1m]))
        labels:
          source: balsa
"#,
    );
    let mut w = World::new(def);
    w.cluster.script(always(42.0));
    w.slot(1000).await;
    w.cluster.set_leader(w.partition, 1);
    w.clock.set(1500);
    w.observe();
    w.slot(2000).await;
    w.slot(3000).await;
    let samples = w.samples.samples.lock().unwrap().clone();
    let ts: Vec<i64> = samples.iter().map(|(_, s)| s.ts_ms).collect();
    assert_eq!(ts, vec![1000, 2000, 3000], "one sample per slot, none twice");
    let labels = &samples[0].1.labels;
    assert_eq!(
        labels,
        &vec![
            ("__name__".to_string(), "job:lines:count1m".to_string()),
            ("cluster".into(), "eu".into()),
            ("job".into(), "app".into()),
            ("source".into(), "balsa".into()),
            ("team".into(), "logs".into()),
        ]
    );
    assert_eq!(samples[0].1.value, 42.0);
    // Recording rules write only health changes: `ok` once; the new owner loads it and writes nothing.
    assert_eq!(w.cluster.write_count(), 1);
}

#[test]
fn slots_are_spread_by_group_and_aligned_to_the_interval() {
    let w = World::new(group(ALERT_FOR_10S));
    let r = &w.nodes[0].runner;
    let a = r.next_slot_after(10_000);
    assert!(a > 10_000 && a <= 11_000);
    assert_eq!(r.next_slot_after(a), a + 1000);
    assert_eq!(r.next_slot_after(a - 1), a);
}

#[tokio::test]
async fn active_alerts_are_remote_written_as_alerts_series() {
    let mut w = World::new(group(ALERT_FOR_10S));
    w.cluster.script(always(3.0));
    w.slot(1000).await;
    let samples = w.samples.samples.lock().unwrap().clone();
    let names: Vec<(String, String, f64)> = samples
        .iter()
        .map(|(_, s)| {
            let get = |k: &str| s.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            (get("__name__"), get("alertstate"), s.value)
        })
        .collect();
    assert_eq!(
        names,
        vec![("ALERTS".into(), "pending".into(), 1.0), ("ALERTS_FOR_STATE".into(), String::new(), 1.0)],
        "{samples:?}"
    );
    let alerts = &samples[0].1.labels;
    for want in [("alertname", "HighErrors"), ("cluster", "eu"), ("job", "app"), ("severity", "page")] {
        assert!(alerts.iter().any(|(k, v)| k == want.0 && v == want.1), "{want:?} in {alerts:?}");
    }
}
