//! The ruler's view of the node ([`balsa_ruler::RulerBackend`]): partitions
//! are shards, a partition's leader is the shard group's leader, records are
//! `RecordChange` commands proposed to the shard's group, and instant queries
//! run through the same engine and readers as `/loki/api/v1/query`.

use std::sync::Arc;
use std::time::Instant;

use balsa_api::Backend;
use balsa_model::StreamReader;
use balsa_push::Overrides;
use balsa_query::{EvalLimits, InstantValue, MetricQuery, QueryError};
use balsa_raft::{ProposeError, RaftNode};
use balsa_ruler::store::{BackendError, QuerySample};
use balsa_ruler::{RulerBackend, RulerLimits};
use balsa_storage::ShardCommand;
use futures::future::BoxFuture;

use crate::distributor::Distributor;

pub struct NodeRulerBackend {
    pub raft: Arc<RaftNode>,
    pub distributor: Arc<Distributor>,
    pub overrides: Arc<Overrides>,
}

/// The ruler's per-tenant limits, from `limits_config` and the runtime overrides.
pub fn ruler_limits(overrides: Arc<Overrides>) -> Arc<dyn Fn(&str) -> RulerLimits + Send + Sync> {
    Arc::new(move |tenant: &str| {
        let l = overrides.limits_for(tenant);
        RulerLimits {
            max_rules_per_rule_group: l.ruler_max_rules_per_rule_group,
            max_rule_groups_per_tenant: l.ruler_max_rule_groups_per_tenant,
            remote_write_disabled: l.ruler_remote_write_disabled,
        }
    })
}

fn unavailable(e: ProposeError) -> BackendError {
    match e {
        ProposeError::Fatal { .. } | ProposeError::NoSuchShard(_) => BackendError::Internal(e.to_string()),
        _ => BackendError::Unavailable(e.to_string()),
    }
}

fn query_error(e: QueryError) -> BackendError {
    match e {
        QueryError::Unavailable(m) => BackendError::Unavailable(m),
        other => BackendError::Query(other.message().to_string()),
    }
}

impl NodeRulerBackend {
    async fn propose(&self, partition: u32, cmd: ShardCommand) -> Result<(), BackendError> {
        let outcome = self.raft.propose(partition, &cmd).await.map_err(unavailable)?;
        match outcome.rejected.first() {
            Some(why) => Err(BackendError::Internal(why.clone())),
            None => Ok(()),
        }
    }
}

impl RulerBackend for NodeRulerBackend {
    fn instant_query(
        &self,
        tenant: &str,
        expr: &str,
        ts_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<QuerySample>, BackendError>> {
        let tenant = tenant.to_string();
        let expr = expr.to_string();
        Box::pin(async move {
            let parsed = balsa_logql::parse_expr(&expr).map_err(|e| BackendError::Query(e.to_string()))?;
            let balsa_logql::Expr::Sample(sample) = parsed else {
                return Err(BackendError::Query("rule result is not a vector or scalar".into()));
            };
            let limits = self.overrides.limits_for(&tenant);
            let timeout = limits.query_timeout.0;
            let eval_limits = EvalLimits {
                max_series: limits.max_query_series,
                deadline: (!timeout.is_zero()).then(|| Instant::now() + timeout),
            };
            let readers: Vec<Arc<dyn StreamReader>> = if sample.is_data_free() {
                Vec::new()
            } else {
                self.distributor.readers().await.map_err(|e| BackendError::Unavailable(e.to_string()))?
            };
            let ts_ns = ts_ms.saturating_mul(1_000_000);
            let value = tokio::task::spawn_blocking(move || {
                let refs: Vec<&dyn StreamReader> = readers.iter().map(|r| r.as_ref()).collect();
                let q = MetricQuery { tenant: &tenant, expr: &sample, limits: eval_limits };
                balsa_query::eval_instant(&refs, &q, ts_ns)
            })
            .await
            .map_err(|e| BackendError::Internal(format!("query task failed: {e}")))?
            .map_err(query_error)?
            .0;
            Ok(match value {
                InstantValue::Scalar(v) => vec![QuerySample { labels: Vec::new(), value: v }],
                InstantValue::Vector(samples) => samples
                    .into_iter()
                    .map(|s| QuerySample {
                        labels: s.labels.iter().map(|p| (p.name.clone(), p.value.clone())).collect(),
                        value: s.value,
                    })
                    .collect(),
            })
        })
    }

    fn partitions(&self) -> u32 {
        self.raft.shard_count()
    }

    fn leads(&self, partition: u32) -> Option<u64> {
        self.raft.leader_term(partition)
    }

    fn confirm_leadership(&self, partition: u32) -> BoxFuture<'_, Result<bool, BackendError>> {
        Box::pin(async move {
            if !self.raft.is_leader(partition) {
                return Ok(false);
            }
            // A read index on the leader confirms its leadership with a quorum.
            self.raft.read_barrier(partition).await.map_err(unavailable)?;
            Ok(self.raft.is_leader(partition))
        })
    }

    fn records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<Vec<(String, Vec<u8>)>, BackendError>> {
        Box::pin(async move {
            self.raft.read_barrier(partition).await.map_err(unavailable)?;
            let reader = self.raft.reader(partition).ok_or(BackendError::Internal(format!("no shard {partition}")))?;
            tokio::task::spawn_blocking(move || reader.records(space, &prefix))
                .await
                .map_err(|e| BackendError::Internal(e.to_string()))?
                .map_err(|e| BackendError::Internal(e.to_string()))
        })
    }

    fn write_record(
        &self,
        partition: u32,
        space: &'static str,
        key: String,
        value: Option<Vec<u8>>,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.propose(partition, ShardCommand::record(space, &key, value)).await })
    }

    fn delete_records(
        &self,
        partition: u32,
        space: &'static str,
        prefix: String,
    ) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move { self.propose(partition, ShardCommand::delete_records(space, &prefix)).await })
    }
}
