//! `limits_config`: the per-tenant ingestion and query limits, with Loki's
//! key names and defaults.

use balsa_model::units::{ByteSize, Duration};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Per-tenant ingestion rate in MB/s (MiB, as Loki).
    pub ingestion_rate_mb: f64,
    /// Per-tenant burst in MB.
    pub ingestion_burst_size_mb: f64,
    pub max_line_size: ByteSize,
    pub max_line_size_truncate: bool,
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub reject_old_samples: bool,
    pub reject_old_samples_max_age: Duration,
    pub creation_grace_period: Duration,
    /// Accept out-of-order writes within the window (Loki >= 2.4 default).
    pub unordered_writes: bool,
    pub allow_structured_metadata: bool,
    pub max_structured_metadata_size: ByteSize,
    pub max_structured_metadata_entries_count: usize,
    /// Labels checked, in order, to fill `service_name` when a stream has none.
    pub discover_service_name: Vec<String>,
    /// Add `detected_level` to every entry's structured metadata (Loki 3.x default: on).
    pub discover_log_levels: bool,
    /// Field names a level is read from (labels, metadata, JSON or logfmt keys).
    pub log_level_fields: Vec<String>,
    /// How deep into a JSON line to look for a level field (0: no limit).
    pub log_level_from_json_max_depth: i64,
    /// Experimental in Loki: more fields copied into structured metadata.
    pub discover_generic_fields: crate::field_detection::GenericFields,
    /// How OTLP resource, scope and log attributes are stored (`/otlp/v1/logs`).
    pub otlp_config: crate::otlp::OtlpConfig,
    pub max_global_streams_per_user: usize,
    pub per_stream_rate_limit: ByteSize,
    pub per_stream_rate_limit_burst: ByteSize,
    pub max_entries_limit_per_query: usize,
    pub max_query_length: Duration,
    pub max_query_series: usize,
    /// How long a query may run before it fails with 504.
    pub query_timeout: Duration,
    /// Most live tails (`/loki/api/v1/tail`) a tenant may hold open on one node.
    pub max_concurrent_tail_requests: usize,
    /// How long data is kept when `compactor.retention_enabled` is on;
    /// `0s` keeps it forever.
    pub retention_period: Duration,
    /// Per-stream retention: the matching rule with the highest priority
    /// wins, and among equal priorities the shortest period (as Loki).
    pub retention_stream: Vec<StreamRetention>,
    /// Most rules in one rule group posted through the rules API (0: no limit).
    pub ruler_max_rules_per_rule_group: usize,
    /// Most rule groups a tenant may have (0: no limit).
    pub ruler_max_rule_groups_per_tenant: usize,
    /// Recording rules of the tenant are evaluated but not remote-written.
    pub ruler_remote_write_disabled: bool,
    /// Accepted for Loki configs; unused (each group is evaluated by one shard leader).
    pub ruler_tenant_shard_size: usize,
    /// Accepted for Loki configs; unused (per-tenant remote-write clients are not implemented).
    pub ruler_remote_write_config: Option<serde_yaml_ng::Value>,
    /// Accepted for Loki configs; unused (there is no remote evaluation mode).
    pub ruler_remote_evaluation_timeout: Option<Duration>,
    /// Accepted for Loki configs; unused (there is no remote evaluation mode).
    pub ruler_remote_evaluation_max_response_size: Option<usize>,
}

/// One `retention_stream` rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamRetention {
    /// A LogQL stream selector, e.g. `{namespace="dev"}`.
    pub selector: String,
    pub priority: i64,
    pub period: Duration,
}

impl LimitsConfig {
    /// Checks what types alone can't. The error names the key (without the
    /// `limits_config.` prefix) and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        for (key, v) in
            [("ingestion_rate_mb", self.ingestion_rate_mb), ("ingestion_burst_size_mb", self.ingestion_burst_size_mb)]
        {
            if !v.is_finite() || v < 0.0 {
                return Err((key, "must be a non-negative number"));
            }
        }
        // As in Loki, max_line_size 0 means no limit.
        for (key, v) in [
            ("max_label_names_per_series", self.max_label_names_per_series),
            ("max_label_name_length", self.max_label_name_length),
            ("max_label_value_length", self.max_label_value_length),
            ("max_entries_limit_per_query", self.max_entries_limit_per_query),
        ] {
            if v == 0 {
                return Err((key, "must be positive"));
            }
        }
        self.otlp_config.validate()
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            max_line_size: ByteSize::kib(256),
            max_line_size_truncate: false,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 86400),
            creation_grace_period: Duration::from_secs(600),
            unordered_writes: true,
            allow_structured_metadata: true,
            max_structured_metadata_size: ByteSize::kib(64),
            max_structured_metadata_entries_count: 128,
            discover_service_name: [
                "service",
                "app",
                "application",
                "app_name",
                "name",
                "app_kubernetes_io_name",
                "container",
                "container_name",
                "k8s_container_name",
                "component",
                "workload",
                "job",
                "k8s_job_name",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            discover_log_levels: true,
            log_level_fields: crate::field_detection::DEFAULT_LEVEL_FIELDS.iter().map(|s| s.to_string()).collect(),
            log_level_from_json_max_depth: 2,
            discover_generic_fields: Default::default(),
            otlp_config: Default::default(),
            max_global_streams_per_user: 5000,
            per_stream_rate_limit: ByteSize::mib(3),
            per_stream_rate_limit_burst: ByteSize::mib(15),
            max_entries_limit_per_query: 5000,
            max_query_length: Duration::from_secs(721 * 3600),
            max_query_series: 500,
            query_timeout: Duration::from_secs(60),
            max_concurrent_tail_requests: 10,
            retention_period: Duration::from_secs(0),
            retention_stream: Vec::new(),
            ruler_max_rules_per_rule_group: 0,
            ruler_max_rule_groups_per_tenant: 0,
            ruler_remote_write_disabled: false,
            ruler_tenant_shard_size: 0,
            ruler_remote_write_config: None,
            ruler_remote_evaluation_timeout: None,
            ruler_remote_evaluation_max_response_size: None,
        }
    }
}
