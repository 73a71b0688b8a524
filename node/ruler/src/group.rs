//! One rule group's evaluation loop. Every node runs a loop per group; only
//! the leader of the group's partition evaluates. A node that takes over a
//! group first loads the group's replicated state (alerts with their
//! `activeAt`, `firedAt`, `lastSentAt`), so `for` timers continue and firing
//! alerts stay firing; it evaluates only time slots after it took over, and
//! confirms its leadership with a quorum before each evaluation. State is
//! written only when it changes, and always before a notification is sent:
//! a node that cannot write (it lost its quorum) never notifies.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use balsa_template::alert::{AlertData, AlertTemplate};
use tokio::sync::watch;

use crate::alert::{Alert, AlertState, AlertingRule, Expander};
use crate::notifier::{NotifyAlert, generator_url};
use crate::remote_write::RecordedSample;
use crate::rules::{Rule, RuleGroup};
use crate::store::{BackendError, GroupState, QuerySample, RuleState, STATE_SPACE, group_record_key};
use crate::{Clock, Shared};

/// Where a group comes from, for `file` in listings and for reloads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId {
    pub tenant: String,
    pub namespace: String,
    pub name: String,
}

impl GroupId {
    pub fn record_key(&self) -> String {
        group_record_key(&self.tenant, &self.namespace, &self.name)
    }

    /// The hash that picks the group's partition.
    pub fn hash(&self) -> u64 {
        crate::rules::GroupKey::new(&self.tenant, &self.namespace, &self.name).hash()
    }

    /// Prometheus' group key in metrics: `namespace;group`.
    pub fn metric_key(&self) -> String {
        format!("{};{}", self.namespace, self.name)
    }
}

/// What `/prometheus/api/v1/rules` shows of a rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStatus {
    pub health: String,
    pub last_error: String,
    pub last_evaluation_ms: i64,
    pub evaluation_seconds: f64,
    /// For alerting rules: the active alerts (pending and firing).
    pub alerts: Vec<Alert>,
}

/// The group's status as this node knows it.
#[derive(Clone, Debug, Default)]
pub struct GroupStatus {
    /// This node evaluated the group's latest slot.
    pub owner: bool,
    pub last_evaluation_ms: i64,
    pub evaluation_seconds: f64,
    pub rules: Vec<RuleStatus>,
}

enum RuleRunner {
    Alerting(AlertingRule),
    Recording,
}

pub(crate) struct GroupRunner {
    pub id: GroupId,
    pub def: RuleGroup,
    pub status: Arc<Mutex<GroupStatus>>,
    shared: Arc<Shared>,
    rules: Vec<RuleRunner>,
    health: Vec<(String, String)>,
    templates: HashMap<String, Result<AlertTemplate, String>>,
    /// The leadership this runner loaded state for: since when this node
    /// leads the group's partition.
    owned_since_ms: Option<i64>,
    written_at_ms: i64,
}

impl GroupRunner {
    pub fn new(id: GroupId, def: RuleGroup, shared: Arc<Shared>) -> Self {
        let rules = runners(&def);
        let n = rules.len();
        let status = GroupStatus {
            rules: vec![RuleStatus { health: "unknown".into(), ..Default::default() }; n],
            ..Default::default()
        };
        GroupRunner {
            id,
            def,
            status: Arc::new(Mutex::new(status)),
            shared,
            rules,
            health: vec![("unknown".into(), String::new()); n],
            templates: HashMap::new(),
            owned_since_ms: None,
            written_at_ms: 0,
        }
    }

    pub fn interval_ms(&self) -> i64 {
        let default = self.shared.config.evaluation_interval.0;
        let d = self.def.interval.map(|d| d.0).filter(|d| !d.is_zero()).unwrap_or(default);
        (d.as_millis() as i64).max(1)
    }

    /// The group's evaluation slots are `offset + k * interval`, with an
    /// offset from the group's hash, as Prometheus spreads groups.
    pub fn next_slot_after(&self, now_ms: i64) -> i64 {
        let interval = self.interval_ms();
        let offset = (self.id.hash() % interval as u64) as i64;
        let base = now_ms - offset;
        (base.div_euclid(interval) + 1) * interval + offset
    }

    /// Runs until `stop` changes.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let clock = self.shared.clock.clone();
        let mut slot = self.next_slot_after(clock.now_ms());
        let interval = self.interval_ms();
        loop {
            // Sleep at most one interval, then look at the wall clock again:
            // after a backward step of the clock that is later undone, the
            // group resumes at once instead of sleeping out the step.
            let wait = (slot - clock.now_ms()).clamp(0, interval) as u64;
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if clock.now_ms() < slot {
                continue;
            }
            self.tick(slot).await;
            // Skip slots missed while evaluating (Prometheus counts them as missed).
            slot = self.next_slot_after(clock.now_ms().max(slot));
        }
    }

    /// One slot: evaluate when this node owns the group. A node owns it
    /// from when it became leader of the group's partition: it evaluates
    /// only slots after that (the previous owner could only evaluate slots
    /// before the election), and only after confirming its leadership.
    pub async fn tick(&mut self, slot_ms: i64) {
        let backend = Arc::clone(&self.shared.backend);
        let partition = (self.id.hash() % backend.partitions().max(1) as u64) as u32;
        let Some(term) = backend.leads(partition) else {
            self.lose_ownership();
            return;
        };
        let since = self.shared.leadership.since(partition, term, self.shared.clock.now_ms());
        if self.owned_since_ms != Some(since) {
            // A new leadership (maybe this node's again, after another node's):
            // state written meanwhile must be loaded.
            if let Err(e) = self.take_over(partition).await {
                tracing::warn!(group = %self.id.name, namespace = %self.id.namespace, tenant = %self.id.tenant, error = %e, "cannot load group state; will retry");
                return;
            }
            self.owned_since_ms = Some(since);
        }
        if slot_ms <= since {
            return;
        }
        match backend.confirm_leadership(partition).await {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                self.lose_ownership();
                return;
            }
        }
        self.evaluate(partition, slot_ms).await;
    }

    fn lose_ownership(&mut self) {
        if self.owned_since_ms.take().is_some() {
            tracing::info!(group = %self.id.name, namespace = %self.id.namespace, tenant = %self.id.tenant, "no longer evaluating group: another node leads its shard");
        }
        self.status.lock().expect("status lock").owner = false;
    }

    /// Loads the replicated state into the rules.
    async fn take_over(&mut self, partition: u32) -> Result<(), BackendError> {
        let key = self.id.record_key();
        let records = self.shared.backend.records(partition, STATE_SPACE, key.clone()).await?;
        let state = records
            .into_iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| {
                GroupState::decode(&v).map_err(|e| tracing::warn!(error = %e, "ignoring group state")).ok()
            })
            .unwrap_or_default();
        let now = self.shared.clock.now_ms();
        let tolerance = self.shared.config.for_outage_tolerance.0.as_millis() as i64;
        let stale = state.written_at_ms > 0 && now - state.written_at_ms > tolerance;
        self.written_at_ms = state.written_at_ms;
        // Start from the replicated state only: what this node held from an
        // earlier leadership may be stale.
        self.rules = runners(&self.def);
        self.health = vec![("unknown".into(), String::new()); self.rules.len()];
        for (i, rule) in self.def.rules.iter().enumerate() {
            let Some(saved) = state.rule(rule_name(rule), &rule.expr) else { continue };
            self.health[i] = (saved.health.clone(), saved.last_error.clone());
            if let RuleRunner::Alerting(runner) = &mut self.rules[i] {
                let mut alerts = saved.alerts.clone();
                if stale {
                    // The whole cluster was down for longer than the tolerance:
                    // pending alerts start their `for` again, as Prometheus does.
                    alerts.retain(|a| a.state != AlertState::Pending);
                }
                runner.restore(alerts);
            }
        }
        tracing::info!(group = %self.id.name, namespace = %self.id.namespace, tenant = %self.id.tenant, partition, restored_at = state.written_at_ms, "evaluating group on this node");
        Ok(())
    }

    async fn evaluate(&mut self, partition: u32, ts: i64) {
        let started = Instant::now();
        let shared = self.shared.clone();
        let interval = self.interval_ms();
        let resend = shared.config.resend_delay.0.as_millis() as i64;
        let group_label = self.id.metric_key();
        let tenant = self.id.tenant.clone();
        let offset_ms = self.def.query_offset.map(|d| d.0.as_millis() as i64).unwrap_or(0);
        let mut changed = false;
        let mut recorded: Vec<RecordedSample> = Vec::new();
        let mut statuses = Vec::with_capacity(self.rules.len());
        for i in 0..self.rules.len() {
            let rule = self.def.rules[i].clone();
            let rule_started = Instant::now();
            metrics::counter!("loki_prometheus_rule_evaluations_total", "user" => tenant.clone(), "rule_group" => group_label.clone()).increment(1);
            let result = shared.backend.instant_query(&tenant, &rule.expr, ts - offset_ms).await;
            let outcome: Result<(), String> = match result {
                Err(BackendError::Unavailable(m)) | Err(BackendError::Internal(m)) | Err(BackendError::Query(m)) => {
                    Err(m)
                }
                Ok(samples) => match &mut self.rules[i] {
                    RuleRunner::Recording => {
                        record_samples(&rule, &self.def, &shared, samples, ts).map(|s| recorded.extend(s))
                    }
                    RuleRunner::Alerting(runner) => {
                        let expander = TemplateExpander {
                            templates: std::cell::RefCell::new(&mut self.templates),
                            alertname: rule.alert.as_deref().unwrap_or_default(),
                            external_labels: &shared.external_labels,
                            external_url: &shared.config.external_url,
                            eval_ms: ts,
                        };
                        let samples = samples.into_iter().map(|s| (s.labels, s.value)).collect();
                        let result = runner.eval(ts, samples, &expander).map(|r| changed |= r.persisted_change);
                        if result.is_ok() {
                            recorded.extend(alert_series(runner, ts, &shared.external_labels));
                        }
                        result
                    }
                },
            };
            let health = match &outcome {
                Ok(()) => ("ok".to_string(), String::new()),
                Err(e) => {
                    metrics::counter!("loki_prometheus_rule_evaluation_failures_total", "user" => tenant.clone(), "rule_group" => group_label.clone()).increment(1);
                    tracing::warn!(tenant = %tenant, group = %self.id.name, rule = rule_name(&rule), error = %e, "rule evaluation failed");
                    ("err".to_string(), e.clone())
                }
            };
            if health != self.health[i] {
                changed = true;
                self.health[i] = health.clone();
            }
            statuses.push(RuleStatus {
                health: health.0,
                last_error: health.1,
                last_evaluation_ms: ts,
                evaluation_seconds: rule_started.elapsed().as_secs_f64(),
                alerts: Vec::new(),
            });
        }

        // Alerts due for a send get their lastSentAt now; it is written before they go out.
        let mut to_send: Vec<(usize, Vec<Alert>)> = Vec::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            if let RuleRunner::Alerting(runner) = r
                && runner.due_for_send(ts, resend)
            {
                to_send.push((i, runner.alerts_to_send(ts, resend, interval)));
            }
        }
        let tolerance = shared.config.for_outage_tolerance.0.as_millis() as i64;
        let has_alerts =
            self.rules.iter().any(|r| matches!(r, RuleRunner::Alerting(a) if a.all_alerts().next().is_some()));
        // A group with alerts refreshes its record now and then, so that a
        // restart after a whole-cluster outage can tell how old its state is.
        let refresh = has_alerts && ts - self.written_at_ms > tolerance / 2;
        if changed || !to_send.is_empty() || refresh {
            let state = self.group_state(ts);
            let write =
                shared.backend.write_record(partition, STATE_SPACE, self.id.record_key(), Some(state.encode())).await;
            if let Err(e) = write {
                // Not written: another node may own the group now. Reload before evaluating again.
                tracing::warn!(tenant = %tenant, group = %self.id.name, error = %e, "cannot persist alert state; not sending");
                self.lose_ownership();
                return;
            }
            self.written_at_ms = ts;
        }
        for (i, alerts) in to_send {
            let rule = &self.def.rules[i];
            let url = generator_url(&shared.config.external_url, &rule.expr, &shared.config.datasource_uid);
            let batch: Vec<NotifyAlert> = alerts
                .into_iter()
                .map(|a| NotifyAlert {
                    labels: with_external_labels(a.labels, &shared.external_labels),
                    annotations: a.annotations,
                    starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
                    ends_at_ms: a.resolved_at_ms.or(a.valid_until_ms),
                    generator_url: url.clone(),
                })
                .collect();
            shared.notifier.send(&tenant, batch);
        }
        if !recorded.is_empty() && !self.shared.limits(&tenant).remote_write_disabled {
            shared.remote_writer.append(&tenant, recorded);
        }

        let elapsed = started.elapsed().as_secs_f64();
        metrics::gauge!("loki_prometheus_rule_group_last_duration_seconds", "user" => tenant.clone(), "rule_group" => group_label.clone()).set(elapsed);
        metrics::gauge!("loki_prometheus_rule_group_last_evaluation_timestamp_seconds", "user" => tenant, "rule_group" => group_label).set(ts as f64 / 1000.0);
        for (status, r) in statuses.iter_mut().zip(&self.rules) {
            if let RuleRunner::Alerting(runner) = r {
                status.alerts = runner.alerts().cloned().collect();
            }
        }
        let mut s = self.status.lock().expect("status lock");
        s.owner = true;
        s.last_evaluation_ms = ts;
        s.evaluation_seconds = elapsed;
        s.rules = statuses;
    }

    fn group_state(&self, ts: i64) -> GroupState {
        GroupState {
            written_at_ms: ts,
            rules: self
                .def
                .rules
                .iter()
                .zip(&self.rules)
                .zip(&self.health)
                .map(|((rule, runner), (health, last_error))| RuleState {
                    name: rule_name(rule).to_string(),
                    expr: rule.expr.clone(),
                    health: health.clone(),
                    last_error: last_error.clone(),
                    alerts: match runner {
                        RuleRunner::Alerting(a) => a.all_alerts().cloned().collect(),
                        RuleRunner::Recording => Vec::new(),
                    },
                })
                .collect(),
        }
    }
}

fn runners(def: &RuleGroup) -> Vec<RuleRunner> {
    def.rules
        .iter()
        .map(|r| match &r.alert {
            Some(_) => RuleRunner::Alerting(AlertingRule::new(r, &def.labels, def.limit)),
            None => RuleRunner::Recording,
        })
        .collect()
}

pub(crate) fn rule_name(rule: &Rule) -> &str {
    rule.alert.as_deref().or(rule.record.as_deref()).unwrap_or_default()
}

/// Adds external labels an alert or series does not have; keeps the order sorted.
pub(crate) fn with_external_labels(
    mut labels: Vec<(String, String)>,
    external: &[(String, String)],
) -> Vec<(String, String)> {
    for (k, v) in external {
        if !labels.iter().any(|(n, _)| n == k) {
            labels.push((k.clone(), v.clone()));
        }
    }
    labels.sort();
    labels
}

/// A recording rule's samples: `__name__` = record, rule and group labels
/// over the result's, external labels where absent; the group's `limit`
/// fails the rule when exceeded, as in Prometheus.
fn record_samples(
    rule: &Rule,
    group: &RuleGroup,
    shared: &Shared,
    samples: Vec<QuerySample>,
    ts: i64,
) -> Result<Vec<RecordedSample>, String> {
    let name = rule.record.clone().unwrap_or_default();
    let mut out = Vec::with_capacity(samples.len());
    let mut seen = std::collections::BTreeSet::new();
    for s in samples {
        let mut labels: BTreeMap<String, String> = s.labels.into_iter().collect();
        for (k, v) in group.labels.iter().chain(&rule.labels) {
            labels.insert(k.clone(), v.clone());
        }
        labels.insert("__name__".into(), name.clone());
        let labels: Vec<(String, String)> = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if !seen.insert(labels.clone()) {
            return Err("vector contains metrics with the same labelset after applying rule labels".into());
        }
        out.push(RecordedSample {
            labels: with_external_labels(labels, &shared.external_labels),
            value: s.value,
            ts_ms: ts,
        });
    }
    if group.limit > 0 && out.len() as u64 > group.limit {
        return Err(format!("exceeded limit of {} with {} series", group.limit, out.len()));
    }
    Ok(out)
}

/// Prometheus' synthetic series of an alerting rule, remote-written with the
/// recorded samples as Loki does: `ALERTS{alertstate}` = 1 and
/// `ALERTS_FOR_STATE` = `activeAt` in seconds, per pending or firing alert.
fn alert_series(rule: &AlertingRule, ts: i64, external: &[(String, String)]) -> Vec<RecordedSample> {
    let mut out = Vec::new();
    for a in rule.alerts().filter(|a| a.state != AlertState::Inactive) {
        let with_name = |name: &str, extra: Option<(&str, &str)>| {
            let mut labels: BTreeMap<String, String> = a.labels.iter().cloned().collect();
            labels.insert("__name__".into(), name.into());
            if let Some((k, v)) = extra {
                labels.insert(k.into(), v.into());
            }
            with_external_labels(labels.into_iter().collect(), external)
        };
        out.push(RecordedSample {
            labels: with_name("ALERTS", Some(("alertstate", a.state.as_str()))),
            value: 1.0,
            ts_ms: ts,
        });
        out.push(RecordedSample {
            labels: with_name("ALERTS_FOR_STATE", None),
            value: a.active_at_ms as f64 / 1000.0,
            ts_ms: ts,
        });
    }
    out
}

/// Expands alert label and annotation templates with Prometheus' data.
struct TemplateExpander<'a> {
    templates: std::cell::RefCell<&'a mut HashMap<String, Result<AlertTemplate, String>>>,
    alertname: &'a str,
    external_labels: &'a [(String, String)],
    external_url: &'a str,
    /// The slot's time: what `now` returns in a template.
    eval_ms: i64,
}

impl Expander for TemplateExpander<'_> {
    fn expand(&self, template: &str, labels: &[(String, String)], value: f64) -> Result<String, String> {
        // Templates are parsed once per group runner (and again after a reload).
        let parsed = self
            .templates
            .borrow_mut()
            .entry(template.to_string())
            .or_insert_with(|| {
                AlertTemplate::parse(&format!("__alert_{}", self.alertname), template).map_err(|e| e.to_string())
            })
            .clone();
        let data = AlertData { labels, external_labels: self.external_labels, external_url: self.external_url, value };
        parsed?.render_at(&data, self.eval_ms).map_err(|e| e.to_string())
    }
}

/// The wall clock in ms; tests use their own.
pub fn system_clock() -> Arc<dyn Clock> {
    struct System;
    impl Clock for System {
        fn now_ms(&self) -> i64 {
            chrono::Utc::now().timestamp_millis()
        }
    }
    Arc::new(System)
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
