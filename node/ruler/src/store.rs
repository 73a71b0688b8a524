//! The seam between the ruler and the node: what the ruler needs from below
//! (instant queries, partitions with one leader each, replicated records),
//! and the record formats it keeps there.
//!
//! The ruler never learns what a partition is made of (a Raft group of
//! shards, in Balsa): it asks which partition a group belongs to, whether
//! this node leads it, and reads and writes small records in it. A record
//! write returns once a quorum holds it, so a node that lost its partition's
//! leadership cannot write, and therefore never notifies (it writes
//! `last_sent_at` before it sends).

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;

/// Where API rule groups are kept: one record per group under
/// `tenant \0 namespace \0 group` in [`RULES_SPACE`] of partition 0.
pub const RULES_PARTITION: u32 = 0;
pub const RULES_SPACE: &str = "ruler.groups";
/// Where a group's state is kept: under the same key in [`STATE_SPACE`] of the
/// group's own partition (the one whose leader evaluates it).
pub const STATE_SPACE: &str = "ruler.state";

/// One sample of an instant query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    /// Sorted by name.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Why a call to the backend failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No quorum, no leader, or this node stopped leading: try later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The query is wrong (it parses, yet cannot run): the rule's health is `err`.
    #[error("{0}")]
    Query(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub trait RulerBackend: Send + Sync + 'static {
    /// Runs `expr` (a LogQL metric query) as an instant query at `ts_ms` for
    /// `tenant`, through the same engine as `/loki/api/v1/query`. A scalar
    /// result is one sample without labels.
    fn instant_query(
        &self,
        tenant: &str,
        expr: &str,
        ts_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<QuerySample>, BackendError>>;

    /// How many partitions there are; a group belongs to `hash % partitions`.
    fn partitions(&self) -> u32;

    /// Whether this node leads `partition` now, as far as it knows: the
    /// leadership's epoch (the Raft term), which changes with every election.
    fn leads(&self, partition: u32) -> Option<u64>;

    /// Confirms with a quorum that this node still leads `partition`.
    fn confirm_leadership(&self, partition: u32) -> BoxFuture<'_, Result<bool, BackendError>>;

    /// Every record of `space` in `partition` whose key starts with `prefix`,
    /// at least as fresh as every write acknowledged before the call.
    fn records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<Vec<(String, Vec<u8>)>, BackendError>>;

    /// Puts (`Some`) or deletes (`None`) a record; returns once a quorum has it.
    fn write_record(
        &self,
        partition: u32,
        space: &'static str,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), BackendError>>;

    /// Deletes every record of `space` in `partition` whose key starts with `prefix`.
    fn delete_records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<(), BackendError>>;
}

/// The record key of a group: `tenant \0 namespace \0 group`. Tenant ids and
/// namespaces never hold NUL, so prefixes of whole parts select exactly.
pub fn group_record_key(tenant: &str, namespace: &str, group: &str) -> String {
    format!("{tenant}\0{namespace}\0{group}")
}

/// The prefix of every group record of a tenant, or of one of its namespaces.
pub fn record_prefix(tenant: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{tenant}\0{ns}\0"),
        None => format!("{tenant}\0"),
    }
}

/// Splits a record key into tenant, namespace and group.
pub fn split_record_key(key: &str) -> Option<(&str, &str, &str)> {
    let mut parts = key.splitn(3, '\0');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// What is replicated of a group's evaluation: per rule, its alerts and
/// health. Written only when something in it changes (an alert appears,
/// changes state, is sent, or a rule's health changes), never per evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The evaluation time of the last write, ms.
    pub written_at_ms: i64,
    pub rules: Vec<RuleState>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule's identity across reloads: its name (alert or record) and expression.
    pub name: String,
    pub expr: String,
    /// `ok`, `err` or `unknown`.
    pub health: String,
    pub last_error: String,
    pub alerts: Vec<Alert>,
}

impl GroupState {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("group state serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<GroupState, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("undecodable group state: {e}"))
    }

    /// The state kept for the rule named `name` with expression `expr`.
    pub fn rule(&self, name: &str, expr: &str) -> Option<&RuleState> {
        self.rules.iter().find(|r| r.name == name && r.expr == expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_split_and_prefix_whole_parts() {
        let key = group_record_key("fake", "ns1", "group a");
        assert_eq!(split_record_key(&key), Some(("fake", "ns1", "group a")));
        assert!(key.starts_with(&record_prefix("fake", Some("ns1"))));
        assert!(!group_record_key("fake", "ns10", "g").starts_with(&record_prefix("fake", Some("ns1"))));
        assert!(key.starts_with(&record_prefix("fake", None)));
        assert!(!group_record_key("fake2", "ns1", "g").starts_with(&record_prefix("fake", None)));
    }
}
