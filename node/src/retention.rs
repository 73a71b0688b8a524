//! Retention, as Loki's compactor does it: a stream's data older than its
//! tenant's `retention_period` (or the period of the `retention_stream` rule
//! it matches) is deleted. Each group leader plans for its shard and proposes
//! `Expire` entries, so every replica drops exactly the same chunks; objects
//! of dropped chunks in S3 are removed by the orphan sweep.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use balsa_logql::Matcher;
use balsa_model::Labels;
use balsa_push::{LimitsConfig, Overrides};
use balsa_raft::RaftNode;
use balsa_storage::{ObjectStore, ShardCommand};

pub struct Retention {
    pub raft: Arc<RaftNode>,
    pub overrides: Arc<Overrides>,
    pub interval: Duration,
    /// The object store and key prefix, when chunks are tiered: expiring
    /// cold chunks get tombstones so that a recovery from the bucket does
    /// not adopt them again.
    pub store: Option<(Arc<dyn ObjectStore>, String)>,
}

/// A tenant's retention rules, compiled.
struct TenantRules {
    default_ns: i64,
    streams: Vec<(Vec<Matcher>, i64, i64)>,
}

impl TenantRules {
    fn new(limits: &LimitsConfig) -> Self {
        let streams = limits
            .retention_stream
            .iter()
            .filter_map(|r| match balsa_logql::parse_matchers(&r.selector) {
                Ok(m) => Some((m, r.priority, r.period.as_nanos_i64())),
                Err(e) => {
                    // Config validation refuses these; a runtime override may not have been.
                    tracing::warn!(selector = %r.selector, error = %e, "ignoring a retention_stream rule");
                    None
                }
            })
            .collect();
        Self { default_ns: limits.retention_period.as_nanos_i64(), streams }
    }

    /// The retention period for `labels` in nanoseconds; 0 keeps forever.
    fn period_for(&self, labels: &Labels) -> i64 {
        let mut best: Option<(i64, i64)> = None;
        for (matchers, priority, period) in &self.streams {
            if !matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))) {
                continue;
            }
            best = match best {
                Some((p, d)) if p > *priority || (p == *priority && d <= *period) => Some((p, d)),
                _ => Some((*priority, *period)),
            };
        }
        best.map_or(self.default_ns, |(_, period)| period)
    }
}

/// Checks a `retention_stream` selector when the config is loaded.
pub fn check_selector(selector: &str) -> Result<(), String> {
    balsa_logql::parse_matchers(selector).map(|_| ()).map_err(|e| e.to_string())
}

impl Retention {
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            match self.round(crate::deletion::wall_clock_ns()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(streams = n, "retention deleted expired data"),
                Err(e) => tracing::warn!(error = %e, "retention round failed; will retry"),
            }
        }
    }

    /// Expires what is older than each stream's retention at `now_ns`, for
    /// the shards this node leads. Returns how many streams lost data.
    pub async fn round(&self, now_ns: i64) -> Result<usize, String> {
        let mut rules: HashMap<String, TenantRules> = HashMap::new();
        let mut expired = 0;
        for shard in 0..self.raft.shard_count() {
            if !self.raft.is_leader(shard) {
                continue;
            }
            let Some(storage) = self.raft.shard_storage(shard) else { continue };
            let mut due = Vec::new();
            for (id, tenant, labels, min_ts) in storage.stream_summaries() {
                let tenant_rules = rules
                    .entry(tenant.clone())
                    .or_insert_with(|| TenantRules::new(&self.overrides.limits_for(&tenant)));
                let period = tenant_rules.period_for(&labels);
                if period <= 0 {
                    continue;
                }
                let cut = now_ns.saturating_sub(period);
                if min_ts < cut {
                    due.push((id, tenant, cut));
                }
            }
            let kv = self.raft.db().sm_kv();
            let storage_for_check = Arc::clone(&storage);
            let tiered = self.store.is_some();
            let due = tokio::task::spawn_blocking(move || {
                due.into_iter()
                    .filter_map(|(id, tenant, cut)| match storage_for_check.has_expired(&kv, id, cut) {
                        Ok(true) if tiered => match storage_for_check.expiring_cold_chunks(&kv, id, cut) {
                            Ok(cold) => Some(Ok((id, tenant, cut, cold))),
                            Err(e) => Some(Err(e.to_string())),
                        },
                        Ok(true) => Some(Ok((id, tenant, cut, Vec::new()))),
                        Ok(false) => None,
                        Err(e) => Some(Err(e.to_string())),
                    })
                    .collect::<Result<Vec<_>, String>>()
            })
            .await
            .map_err(|e| e.to_string())??;
            for (id, tenant, cut, cold) in due {
                if let Some((store, prefix)) = &self.store {
                    for tombstone in &cold {
                        let key = balsa_storage::tier::tombstone_key(prefix, &tenant, tombstone);
                        store.put(&key, Vec::new()).await.map_err(|e| e.to_string())?;
                    }
                }
                self.raft.propose(shard, &ShardCommand::expire(id, cut)).await.map_err(|e| format!("expire: {e}"))?;
                metrics::counter!("balsa_retention_expired_streams_total").increment(1);
                expired += 1;
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use balsa_model::units::Duration as D;
    use balsa_push::StreamRetention;

    use super::*;

    #[test]
    fn highest_priority_wins_then_the_shortest_period() {
        let rule = |selector: &str, priority, hours: u64| StreamRetention {
            selector: selector.into(),
            priority,
            period: D::from_secs(hours * 3600),
        };
        let limits = LimitsConfig {
            retention_period: D::from_secs(744 * 3600),
            retention_stream: vec![
                rule(r#"{namespace="dev"}"#, 1, 24),
                rule(r#"{namespace="dev"}"#, 1, 12),
                rule(r#"{namespace="dev", app=~"db.*"}"#, 5, 48),
                rule(r#"{container="nginx"}"#, 0, 1),
            ],
            ..Default::default()
        };
        let r = TenantRules::new(&limits);
        let h = 3_600_000_000_000i64;
        let labels = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        assert_eq!(r.period_for(&labels(&[("namespace", "prod")])), 744 * h, "no rule: the tenant's period");
        assert_eq!(r.period_for(&labels(&[("namespace", "dev")])), 12 * h, "equal priority: the shortest");
        assert_eq!(r.period_for(&labels(&[("namespace", "dev"), ("app", "dbx")])), 48 * h, "higher priority");
        assert_eq!(r.period_for(&labels(&[("namespace", "dev"), ("container", "nginx")])), 12 * h);
        assert_eq!(r.period_for(&labels(&[("container", "nginx")])), h);
        assert!(check_selector(r#"{a="b"}"#).is_ok());
        assert!(check_selector("nope").is_err());
    }
}
