//! The alert state machine of an alerting rule, as Prometheus runs it for
//! Loki [prometheus `rules/alerting.go` `AlertingRule.Eval`, `needsSending`,
//! `sendAlerts`]. Pure: time comes in as arguments, templates through an
//! [`Expander`], and nothing is stored or sent here.
//!
//! Per evaluation (`eval`), each sample of the rule's query becomes an alert
//! whose labels are the sample's (without `__name__`), then the rule's labels
//! (the group's `labels` under the rule's own, expanded as templates with the
//! sample's labels and value; a label that expands to the empty string is
//! removed), then `alertname`. Then:
//! - a new label set is `pending`, active since the evaluation time; a known
//!   pending or firing one gets the new value and annotations; a resolved one
//!   that comes back starts afresh as pending;
//! - pending becomes `firing` once `ts - active_at >= for` (at once for
//!   `for: 0`); a firing alert whose `active_at` is younger than `for` (the
//!   rule's `for` grew since) goes back to pending;
//! - a label set missing from the result: pending alerts are dropped; firing
//!   ones become `inactive` with `resolved_at = ts`, unless `keep_firing_for`
//!   keeps them firing until `ts - keep_firing_since >= keep_firing_for`;
//!   resolved alerts are kept [`RESOLVED_RETENTION_MS`] after `resolved_at`
//!   (so the resolution keeps being sent), then deleted.
//! - More alerts (active or kept firing) than the group's `limit` clears them
//!   all and fails the evaluation.
//!
//! Alerts are keyed by their whole label set (not a hash of it), so two label
//! sets never collide and iteration is in label order, the same on every node.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// How long a resolved alert is kept (and re-sent) [prometheus `resolvedRetention`].
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Prometheus' `ErrDuplicateAlertLabelSet`.
pub const ERR_DUPLICATE_LABELSET: &str = "vector contains metrics with the same labelset after applying alert labels";

/// Sorted `(name, value)` pairs.
pub type Labels = Vec<(String, String)>;

/// The state of one alert (and, as the highest of its alerts, of a rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    #[default]
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert of an alerting rule. Persisted and replicated as JSON (a
/// non-finite `value` is written as the string `NaN`, `+Inf` or `-Inf`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The final label set, sorted: the sample's labels without `__name__`,
    /// the expanded rule (and group) labels, `alertname`. Its identity.
    pub labels: Labels,
    /// Expanded annotations, sorted by name.
    #[serde(default)]
    pub annotations: Labels,
    pub state: AlertState,
    /// The sample value at the last evaluation that saw it.
    #[serde(default, with = "value_serde")]
    pub value: f64,
    /// When the label set appeared (this time).
    pub active_at_ms: i64,
    /// When it went from pending to firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at_ms: Option<i64>,
    /// When it stopped firing; set means resolved (state `inactive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at_ms: Option<i64>,
    /// The `endsAt` a firing alert is sent with: Alertmanager resolves it by
    /// itself after that unless it is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<i64>,
    /// The first evaluation that missed it while `keep_firing_for` keeps it firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_since_ms: Option<i64>,
}

impl Alert {
    /// Prometheus' `needsSending`: never pending ones; a resolution not
    /// sent yet at once; otherwise when the last send is more than
    /// `resend_delay_ms` old (or there was none).
    pub fn needs_sending(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(resolved) = self.resolved_at_ms
            && self.last_sent_at_ms.is_none_or(|sent| resolved > sent)
        {
            return true;
        }
        match self.last_sent_at_ms {
            None => true,
            Some(sent) => sent.saturating_add(resend_delay_ms) < ts_ms,
        }
    }

    /// The label value of `name`, if set.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Expands alert templates; the caller wires them (Prometheus' data:
/// `$labels` = `labels`, `$value` = `value`, plus what it knows itself,
/// such as external labels and URL).
pub trait Expander {
    fn expand(&self, template: &str, labels: &[(String, String)], value: f64) -> Result<String, String>;
}

/// What an evaluation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalResult {
    /// Something that must be persisted changed: an alert appeared or was
    /// deleted, or a state, `active_at`, `fired_at`, `resolved_at` or
    /// `keep_firing_since` changed. New values and annotations alone are not
    /// persisted changes.
    pub persisted_change: bool,
}

/// An alerting rule and its alerts.
#[derive(Clone, Debug)]
pub struct AlertingRule {
    name: String,
    hold_ms: i64,
    keep_firing_for_ms: i64,
    /// Group labels overlaid with the rule's, sorted; values are templates.
    labels: Labels,
    /// Sorted; values are templates.
    annotations: Labels,
    limit: u64,
    active: BTreeMap<Labels, Alert>,
}

impl AlertingRule {
    /// The rule `rule` (an alerting rule) of a group with labels
    /// `group_labels` and limit `limit` (0 = none).
    pub fn new(rule: &Rule, group_labels: &BTreeMap<String, String>, limit: u64) -> Self {
        let mut labels = group_labels.clone();
        labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        AlertingRule {
            name: rule.alert.clone().unwrap_or_default(),
            hold_ms: rule.for_.map(|d| d.as_millis_i64()).unwrap_or(0),
            keep_firing_for_ms: rule.keep_firing_for.map(|d| d.as_millis_i64()).unwrap_or(0),
            labels: labels.into_iter().collect(),
            annotations: rule.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            limit,
            active: BTreeMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `for`, in ms.
    pub fn hold_duration_ms(&self) -> i64 {
        self.hold_ms
    }

    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }

    /// The labels every alert gets (group's and rule's), unexpanded.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    pub fn annotations(&self) -> &[(String, String)] {
        &self.annotations
    }

    /// Evaluates one result of the rule's query at `ts_ms`.
    ///
    /// Errors, as in Prometheus: two samples giving the same label set
    /// ([`ERR_DUPLICATE_LABELSET`]; the alerts are left as they were), and
    /// more alerts than the limit (`exceeded limit of N with M alerts`; the
    /// alerts are all dropped, which the caller persists as it persists any
    /// change of the rule's health).
    pub fn eval(
        &mut self,
        ts_ms: i64,
        samples: Vec<(Vec<(String, String)>, f64)>,
        expand: &dyn Expander,
    ) -> Result<EvalResult, String> {
        let mut fresh: BTreeMap<Labels, Alert> = BTreeMap::new();
        for (mut metric, value) in samples {
            metric.sort();
            let mut lb: BTreeMap<String, String> =
                metric.iter().filter(|(k, v)| k != "__name__" && !v.is_empty()).cloned().collect();
            for (k, template) in &self.labels {
                let v = expand_text(expand, template, &metric, value);
                if v.is_empty() {
                    lb.remove(k);
                } else {
                    lb.insert(k.clone(), v);
                }
            }
            lb.insert("alertname".to_string(), self.name.clone());
            let annotations: Labels =
                self.annotations.iter().map(|(k, t)| (k.clone(), expand_text(expand, t, &metric, value))).collect();
            let labels: Labels = lb.into_iter().collect();
            if fresh.contains_key(&labels) {
                return Err(ERR_DUPLICATE_LABELSET.to_string());
            }
            let alert = Alert {
                labels: labels.clone(),
                annotations,
                state: AlertState::Pending,
                value,
                active_at_ms: ts_ms,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                valid_until_ms: None,
                keep_firing_since_ms: None,
            };
            fresh.insert(labels, alert);
        }

        let mut changed = false;
        let present: BTreeSet<Labels> = fresh.keys().cloned().collect();
        for (key, alert) in fresh {
            match self.active.get_mut(&key) {
                Some(known) if known.state != AlertState::Inactive => {
                    known.value = alert.value;
                    known.annotations = alert.annotations;
                }
                _ => {
                    self.active.insert(key, alert);
                    changed = true;
                }
            }
        }

        let mut deleted = Vec::new();
        let mut counted: u64 = 0;
        for (key, a) in self.active.iter_mut() {
            if !present.contains(key) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = match a.keep_firing_since_ms {
                        Some(since) => since,
                        None => {
                            a.keep_firing_since_ms = Some(ts_ms);
                            changed = true;
                            ts_ms
                        }
                    };
                    keep_firing = ts_ms - since < self.keep_firing_for_ms;
                }
                let expired = a.resolved_at_ms.is_some_and(|r| ts_ms - r > RESOLVED_RETENTION_MS);
                if a.state == AlertState::Pending || expired {
                    deleted.push(key.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(ts_ms);
                    changed = true;
                }
                if !keep_firing {
                    continue;
                }
            } else if a.keep_firing_since_ms.take().is_some() {
                changed = true;
            }
            counted += 1;
            if a.state == AlertState::Pending && ts_ms - a.active_at_ms >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(ts_ms);
                changed = true;
            }
            if a.state == AlertState::Firing && ts_ms - a.active_at_ms < self.hold_ms {
                a.state = AlertState::Pending;
                a.fired_at_ms = None;
                a.last_sent_at_ms = None;
                a.keep_firing_since_ms = None;
                changed = true;
            }
        }
        for key in deleted {
            self.active.remove(&key);
            changed = true;
        }

        if self.limit > 0 && counted > self.limit {
            self.active.clear();
            return Err(format!("exceeded limit of {} with {} alerts", self.limit, counted));
        }
        Ok(EvalResult { persisted_change: changed })
    }

    /// The highest state of the rule's alerts (kept resolved ones count as
    /// inactive); `Inactive` without alerts.
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// Active alerts (pending, firing, kept firing): not resolved. For the API.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().filter(|a| a.resolved_at_ms.is_none())
    }

    /// Every alert kept, resolved ones included. For persistence.
    pub fn all_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Replaces the alerts with persisted ones (keyed by their labels). The
    /// next evaluation applies the current `for` to them.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        self.active = alerts.into_iter().map(|a| (a.labels.clone(), a)).collect();
    }

    /// Whether [`alerts_to_send`](Self::alerts_to_send) would send anything
    /// at `ts_ms`, without changing anything (the caller persists
    /// `last_sent_at` before sending).
    pub fn due_for_send(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        self.active.values().any(|a| a.needs_sending(ts_ms, resend_delay_ms))
    }

    /// Prometheus' `sendAlerts`: the alerts that need sending at `ts_ms`,
    /// in label order, after setting their `last_sent_at = ts` and
    /// `valid_until = ts + 4 * max(interval, resend_delay)` (room for two
    /// failed evaluations or sends).
    pub fn alerts_to_send(&mut self, ts_ms: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let valid_until = ts_ms.saturating_add(interval_ms.max(resend_delay_ms).saturating_mul(4));
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts_ms, resend_delay_ms) {
                a.last_sent_at_ms = Some(ts_ms);
                a.valid_until_ms = Some(valid_until);
                out.push(a.clone());
            }
        }
        out
    }
}

/// Expands one label or annotation template; on failure the text is
/// Prometheus' `<error expanding template: ...>`. Text without `{{` is
/// returned as it is (a Go template without actions prints its text).
fn expand_text(expander: &dyn Expander, template: &str, labels: &[(String, String)], value: f64) -> String {
    if !template.contains("{{") {
        return template.to_string();
    }
    match expander.expand(template, labels, value) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

/// `value` in JSON: a number, or `"NaN"`, `"+Inf"`, `"-Inf"` (JSON numbers
/// cannot be non-finite; serde_json would write `null` and fail to read it).
mod value_serde {
    use std::fmt;

    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("+Inf")
        } else {
            s.serialize_str("-Inf")
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"+Inf\" or \"-Inf\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
                Ok(f64::NAN)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" => Ok(f64::NAN),
                    "+Inf" | "Inf" => Ok(f64::INFINITY),
                    "-Inf" => Ok(f64::NEG_INFINITY),
                    other => other.parse().map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(value: f64) -> Alert {
        Alert {
            labels: vec![("alertname".into(), "A".into())],
            annotations: vec![],
            state: AlertState::Firing,
            value,
            active_at_ms: 1,
            fired_at_ms: Some(2),
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        }
    }

    #[test]
    fn non_finite_values_round_trip_through_json() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5, -0.25, 0.0] {
            let json = serde_json::to_string(&alert(v)).unwrap();
            let back: Alert = serde_json::from_str(&json).unwrap();
            assert!(back.value == v || (v.is_nan() && back.value.is_nan()), "{v} via {json}");
        }
        let json = serde_json::to_string(&alert(f64::NAN)).unwrap();
        assert!(json.contains(r#""value":"NaN""#), "{json}");
        assert!(json.contains(r#""state":"firing""#), "{json}");
        assert!(!json.contains("resolved_at_ms"), "{json}");
    }

    #[test]
    fn state_names_and_order() {
        assert_eq!(AlertState::Inactive.to_string(), "inactive");
        assert_eq!(AlertState::Pending.as_str(), "pending");
        assert_eq!(serde_json::to_string(&AlertState::Firing).unwrap(), r#""firing""#);
        assert!(AlertState::Firing > AlertState::Pending && AlertState::Pending > AlertState::Inactive);
    }
}
