//! The ruler's configuration: Loki's `ruler` block and the top-level
//! `ruler_storage` block, spelled as Loki spells them. Keys with a Balsa
//! meaning are honoured; keys that configure what Balsa replaces (the ruler
//! ring, sharding, the per-tenant WAL, remote evaluation, object-store rule
//! backends) are accepted so a Loki config loads unchanged, and
//! [`RulerConfig::ignored_keys`] says why each one set does nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use balsa_model::units::Duration;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::notifier::AlertmanagerClientConfig;
use crate::remote_write::RemoteWriteConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// Base URL of alerts' `generatorURL` and `$externalURL` (Grafana's, in Loki's docs).
    pub external_url: String,
    /// Grafana data source uid put into the generator URL's Explore link.
    pub datasource_uid: String,
    /// Labels added to every alert and recorded series (when absent there).
    pub external_labels: BTreeMap<String, String>,
    /// Default interval of a group without `interval`.
    pub evaluation_interval: Duration,
    /// How often rule files and API groups are re-read.
    pub poll_interval: Duration,
    pub storage: RuleStorageConfig,
    /// Loki's scratch directory for rule files; Balsa evaluates in memory.
    pub rule_path: PathBuf,
    /// Comma list of Alertmanager base URLs.
    pub alertmanager_url: String,
    pub enable_alertmanager_discovery: bool,
    pub alertmanager_refresh_interval: Duration,
    pub enable_alertmanager_v2: bool,
    pub alert_relabel_configs: Option<Value>,
    pub notification_queue_capacity: usize,
    pub notification_timeout: Duration,
    pub alertmanager_client: AlertmanagerClientConfig,
    /// Longest outage after which a `for` timer still resumes where it was.
    pub for_outage_tolerance: Duration,
    /// Least time a resumed pending alert waits before it fires.
    pub for_grace_period: Duration,
    /// Least time between two sends of the same firing alert.
    pub resend_delay: Duration,
    pub enable_sharding: bool,
    pub sharding_strategy: String,
    pub sharding_algo: String,
    pub search_pending_for: Duration,
    pub ring: Option<Value>,
    pub ruler_client: Option<Value>,
    pub flush_period: Duration,
    /// Serve the rules API (`/loki/api/v1/rules`, `/api/prom/rules`).
    pub enable_api: bool,
    /// Comma list: only these tenants' rules run (empty: all).
    pub enabled_tenants: String,
    /// Comma list: these tenants' rules never run.
    pub disabled_tenants: String,
    pub query_stats_enabled: bool,
    pub disable_rule_group_label: bool,
    pub wal: Option<Value>,
    pub wal_cleaner: Option<Value>,
    pub remote_write: RemoteWriteConfig,
    pub evaluation: EvaluationConfig,
}

impl Default for RulerConfig {
    fn default() -> Self {
        Self {
            external_url: String::new(),
            datasource_uid: String::new(),
            external_labels: BTreeMap::new(),
            evaluation_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            storage: RuleStorageConfig::default(),
            rule_path: PathBuf::from("/rules"),
            alertmanager_url: String::new(),
            enable_alertmanager_discovery: false,
            alertmanager_refresh_interval: Duration::from_secs(60),
            enable_alertmanager_v2: true,
            alert_relabel_configs: None,
            notification_queue_capacity: 10_000,
            notification_timeout: Duration::from_secs(10),
            alertmanager_client: AlertmanagerClientConfig::default(),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            resend_delay: Duration::from_secs(60),
            enable_sharding: false,
            sharding_strategy: "default".into(),
            sharding_algo: "by-group".into(),
            search_pending_for: Duration::from_secs(300),
            ring: None,
            ruler_client: None,
            flush_period: Duration::from_secs(60),
            enable_api: true,
            enabled_tenants: String::new(),
            disabled_tenants: String::new(),
            query_stats_enabled: false,
            disable_rule_group_label: false,
            wal: None,
            wal_cleaner: None,
            remote_write: RemoteWriteConfig::default(),
            evaluation: EvaluationConfig::default(),
        }
    }
}

/// `ruler.storage`: Loki's older rule-store block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleStorageConfig {
    /// `local` reads rule files; object-store types are accepted and ignored.
    #[serde(rename = "type")]
    pub kind: String,
    pub local: LocalRuleStorage,
    pub azure: Option<Value>,
    pub alibabacloud: Option<Value>,
    pub gcs: Option<Value>,
    pub s3: Option<Value>,
    pub bos: Option<Value>,
    pub swift: Option<Value>,
    pub cos: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalRuleStorage {
    /// `<directory>/<tenant>/<namespace file>`.
    pub directory: String,
}

/// The top-level `ruler_storage` block (Loki's newer spelling).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RulerStorageConfig {
    /// `filesystem` or `local` read rule files from `local.directory`.
    pub backend: String,
    pub local: LocalRuleStorage,
    /// Object-store settings (`s3`, `gcs`, `filesystem`, `storage_prefix`, ...):
    /// accepted, unused.
    #[serde(flatten)]
    pub object_store: BTreeMap<String, Value>,
}

impl Default for RulerStorageConfig {
    fn default() -> Self {
        Self { backend: "filesystem".into(), local: LocalRuleStorage::default(), object_store: BTreeMap::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// `local` (the only mode Balsa has: every node can query every shard).
    pub mode: String,
    pub max_jitter: Duration,
    pub query_frontend: Option<Value>,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self { mode: "local".into(), max_jitter: Duration::default(), query_frontend: None }
    }
}

/// Per-tenant ruler limits from `limits_config` (0: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RulerLimits {
    pub max_rules_per_rule_group: usize,
    pub max_rule_groups_per_tenant: usize,
    /// `ruler_remote_write_disabled`: recorded samples of the tenant are not sent.
    pub remote_write_disabled: bool,
}

impl RulerConfig {
    /// The directory rule files are read from: `ruler_storage.local.directory`
    /// when set, else `ruler.storage.local.directory`; `None` when neither is.
    pub fn rules_directory(&self, storage: &RulerStorageConfig) -> Option<PathBuf> {
        [&storage.local.directory, &self.storage.local.directory]
            .into_iter()
            .find(|d| !d.trim().is_empty())
            .map(PathBuf::from)
    }

    /// Checks what types alone cannot; errors name the key.
    pub fn validate(&self, storage: &RulerStorageConfig) -> Result<(), String> {
        let positive = [
            ("ruler.evaluation_interval", self.evaluation_interval),
            ("ruler.poll_interval", self.poll_interval),
            ("ruler.resend_delay", self.resend_delay),
            ("ruler.notification_timeout", self.notification_timeout),
        ];
        for (key, d) in positive {
            if d.0.is_zero() {
                return Err(format!("{key}: must be greater than 0"));
            }
        }
        if !["", "local", "filesystem", "s3", "gcs", "azure", "swift", "cos", "bos", "alibabacloud"]
            .contains(&self.storage.kind.as_str())
        {
            return Err(format!(
                "ruler.storage.type: unsupported rule storage type {:?} (use local)",
                self.storage.kind
            ));
        }
        if !["local", ""].contains(&self.evaluation.mode.as_str()) && self.evaluation.mode != "remote" {
            return Err(format!("ruler.evaluation.mode: unknown mode {:?} (use local)", self.evaluation.mode));
        }
        for url in self.alertmanager_urls() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("ruler.alertmanager_url: {url:?} is not an http(s) URL"));
            }
        }
        for name in self.external_labels.keys() {
            if !is_legacy_label_name(name) {
                return Err(format!("ruler.external_labels: invalid label name {name:?}"));
            }
        }
        if !self.external_url.is_empty() && !self.external_url.contains("://") {
            return Err(format!("ruler.external_url: {:?} is not a URL", self.external_url));
        }
        let _ = storage;
        self.remote_write.validate()?;
        self.alertmanager_client.validate()?;
        Ok(())
    }

    pub fn alertmanager_urls(&self) -> Vec<String> {
        self.alertmanager_url.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    }

    /// Whether `tenant`'s rules run, after `enabled_tenants`/`disabled_tenants`.
    pub fn tenant_enabled(&self, tenant: &str) -> bool {
        let listed = |csv: &str| csv.split(',').map(str::trim).any(|t| t == tenant);
        (self.enabled_tenants.trim().is_empty() || listed(&self.enabled_tenants)) && !listed(&self.disabled_tenants)
    }

    /// Keys that are set but do nothing in Balsa, each with the reason, for
    /// one log line at start.
    pub fn ignored_keys(&self, storage: &RulerStorageConfig) -> Vec<(String, &'static str)> {
        let default = RulerConfig::default();
        let mut out: Vec<(String, &'static str)> = Vec::new();
        let mut note = |set: bool, key: &str, why: &'static str| {
            if set {
                out.push((key.to_string(), why));
            }
        };
        const RAFT: &str = "each rule group is evaluated by the leader of its shard's raft group";
        note(self.ring.is_some(), "ruler.ring", RAFT);
        note(self.enable_sharding, "ruler.enable_sharding", RAFT);
        note(self.sharding_strategy != default.sharding_strategy, "ruler.sharding_strategy", RAFT);
        note(self.sharding_algo != default.sharding_algo, "ruler.sharding_algo", RAFT);
        note(self.ruler_client.is_some(), "ruler.ruler_client", "every node answers rule and alert listings itself");
        note(self.search_pending_for != default.search_pending_for, "ruler.search_pending_for", RAFT);
        note(self.flush_period != default.flush_period, "ruler.flush_period", RAFT);
        note(
            self.rule_path != default.rule_path,
            "ruler.rule_path",
            "rules are evaluated from memory; no scratch files are written",
        );
        const WAL: &str = "alert state is replicated through raft; there is no ruler WAL";
        note(self.wal.is_some(), "ruler.wal", WAL);
        note(self.wal_cleaner.is_some(), "ruler.wal_cleaner", WAL);
        note(
            self.enable_alertmanager_discovery,
            "ruler.enable_alertmanager_discovery",
            "DNS SRV discovery is not implemented: list the URLs in ruler.alertmanager_url",
        );
        note(
            !self.enable_alertmanager_v2,
            "ruler.enable_alertmanager_v2",
            "alerts are always sent with Alertmanager's API v2 (v1 is gone from Alertmanager 0.27)",
        );
        note(
            self.alert_relabel_configs.is_some(),
            "ruler.alert_relabel_configs",
            "alert relabelling is not implemented",
        );
        note(
            self.evaluation.mode == "remote" || self.evaluation.query_frontend.is_some(),
            "ruler.evaluation",
            "every node evaluates locally against every shard; there is no query frontend",
        );
        note(
            !matches!(self.storage.kind.as_str(), "" | "local"),
            "ruler.storage.type",
            "rules are read from local files and from groups replicated through raft, never from an object store",
        );
        note(
            !storage.object_store.is_empty() || !matches!(storage.backend.as_str(), "filesystem" | "local" | ""),
            "ruler_storage",
            "only ruler_storage.local.directory is read; API rule groups are replicated through raft",
        );
        note(self.query_stats_enabled, "ruler.query_stats_enabled", "query statistics are not logged per rule");
        out.extend(
            self.remote_write.ignored_keys().into_iter().map(|k| (k, "not implemented by balsa's remote writer")),
        );
        out.extend(
            self.alertmanager_client
                .ignored_keys()
                .into_iter()
                .map(|k| (k, "rustls chooses the cipher suites, and the server name is the url's host")),
        );
        out
    }
}

/// Prometheus' legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loki_ruler_block_loads_and_reports_what_it_ignores() {
        let cfg: RulerConfig = serde_yaml_ng::from_str(
            r#"
storage:
  type: local
  local:
    directory: /etc/loki/rules
rule_path: /tmp/loki/rules-temp
alertmanager_url: http://alertmanager:9093
ring:
  kvstore:
    store: inmemory
enable_api: true
enable_sharding: true
wal:
  dir: /loki/ruler-wal
evaluation_interval: 15s
external_labels:
  cluster: prod
"#,
        )
        .unwrap();
        let storage = RulerStorageConfig::default();
        cfg.validate(&storage).unwrap();
        assert_eq!(cfg.rules_directory(&storage), Some(PathBuf::from("/etc/loki/rules")));
        assert_eq!(cfg.evaluation_interval, Duration::from_secs(15));
        let ignored: Vec<String> = cfg.ignored_keys(&storage).into_iter().map(|(k, _)| k).collect();
        assert_eq!(ignored, vec!["ruler.ring", "ruler.enable_sharding", "ruler.rule_path", "ruler.wal"]);
    }

    #[test]
    fn ruler_storage_wins_and_accepts_object_store_keys() {
        let storage: RulerStorageConfig =
            serde_yaml_ng::from_str("backend: local\nlocal:\n  directory: /rules\n").unwrap();
        let cfg = RulerConfig { storage: RuleStorageConfig::default(), ..Default::default() };
        assert_eq!(cfg.rules_directory(&storage), Some(PathBuf::from("/rules")));
        let s3: RulerStorageConfig = serde_yaml_ng::from_str("backend: s3\ns3:\n  bucket_name: rules\n").unwrap();
        assert_eq!(cfg.ignored_keys(&s3)[0].0, "ruler_storage");
    }

    #[test]
    fn misspelled_keys_and_bad_values_are_errors() {
        let err = serde_yaml_ng::from_str::<RulerConfig>("alertmanager_urls: http://x\n").unwrap_err().to_string();
        assert!(err.contains("alertmanager_urls"), "{err}");
        let cfg: RulerConfig = serde_yaml_ng::from_str("alertmanager_url: alertmanager:9093\n").unwrap();
        assert!(cfg.validate(&RulerStorageConfig::default()).unwrap_err().contains("ruler.alertmanager_url"));
    }

    #[test]
    fn tenants_are_enabled_and_disabled_by_lists() {
        let cfg = RulerConfig { enabled_tenants: "a, b".into(), disabled_tenants: "b".into(), ..Default::default() };
        assert!(cfg.tenant_enabled("a"));
        assert!(!cfg.tenant_enabled("b"));
        assert!(!cfg.tenant_enabled("c"));
        assert!(RulerConfig::default().tenant_enabled("fake"));
    }
}
