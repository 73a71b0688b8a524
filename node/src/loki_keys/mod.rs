//! Loki's whole configuration format, so that a Loki config starts Balsa.
//!
//! `keys.txt` lists every key of Loki's configuration reference (extracted
//! by `generate.py` from Loki's `docs/sources/shared/configuration.md`). A key
//! in a user's file is one of three things:
//!
//! - a Balsa key (it is in [`crate::config::Config`]): honoured;
//! - a Loki key Balsa has no use for: removed before deserializing and
//!   reported once at start, grouped by the reason ([`reason`]);
//! - neither: an error naming it, with the closest known key ([`did_you_mean`]).

use std::collections::HashMap;

use serde_yaml_ng::Value;
use std::sync::LazyLock;

/// What Loki's reference says about a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LokiKey {
    /// A mapping of further keys (an inline section or a referenced block).
    Section,
    /// A value; `type_` is Loki's type text (`<duration>`, `<list_of_strings>`,
    /// `<map_of_string_to_string>`...). What lies below it is not checked.
    Leaf { type_: String },
}

struct Reference {
    /// Block name → (path relative to the block → type text).
    blocks: HashMap<String, HashMap<String, String>>,
    /// Loki's command-line flag (`-ingester.max-chunk-age`) → (absolute key path, type text).
    flags: HashMap<String, (String, String)>,
}

static REFERENCE: LazyLock<Reference> = LazyLock::new(|| Reference::parse(include_str!("keys.txt")));

/// The Loki version `keys.txt` was extracted from.
pub fn reference_version() -> &'static str {
    let first = include_str!("keys.txt").lines().next().unwrap_or_default();
    first.split_whitespace().find(|w| w.starts_with('v')).map_or("3.x", |w| w.trim_end_matches("'s"))
}

impl Reference {
    fn parse(text: &str) -> Self {
        let mut blocks: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut flags = HashMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if current == "@flags" {
                let mut cols = line.split(' ');
                if let (Some(flag), Some(path), Some(type_)) = (cols.next(), cols.next(), cols.next()) {
                    flags.insert(flag.to_string(), (path.to_string(), type_.to_string()));
                }
                continue;
            }
            if line == "@flags" {
                current = line.to_string();
                continue;
            }
            if let Some(name) = line.strip_prefix("@block ") {
                current = name.trim().to_string();
                blocks.entry(current.clone()).or_default();
                continue;
            }
            if let Some((path, type_)) = line.split_once(' ') {
                blocks.entry(current.clone()).or_default().insert(path.to_string(), type_.to_string());
            }
        }
        Self { blocks, flags }
    }

    /// The block a type text refers to (`<server>` → `server`), if it is one.
    fn block_of<'a>(&self, type_: &'a str) -> Option<&'a str> {
        let name = type_.strip_prefix('<')?.strip_suffix('>')?;
        self.blocks.contains_key(name).then_some(name)
    }

    /// Walks `path` from the top level through inline sections and block
    /// references: a section (the block it is in and its path there), a
    /// leaf (its type text; what lies below is not walked), or nothing.
    fn walk(&self, path: &[&str]) -> Option<Walked<'_>> {
        let mut block = "root";
        let mut rel = String::new();
        for seg in path {
            if !rel.is_empty() {
                rel.push('.');
            }
            rel.push_str(seg);
            let type_ = self.blocks.get(block)?.get(&rel)?;
            if let Some(inner) = self.block_of(type_) {
                block = inner;
                rel.clear();
            } else if type_ != "{}" {
                return Some(Walked::Leaf(type_));
            }
        }
        Some(Walked::Section { block, prefix: rel })
    }

    fn resolve(&self, path: &[&str]) -> Option<LokiKey> {
        if path.is_empty() {
            return None;
        }
        Some(match self.walk(path)? {
            Walked::Section { .. } => LokiKey::Section,
            Walked::Leaf(t) => LokiKey::Leaf { type_: t.to_string() },
        })
    }

    /// The keys directly under `path` (a section), for suggestions.
    fn children(&self, path: &[&str]) -> Vec<String> {
        let Some(Walked::Section { block, prefix }) = self.walk(path) else { return Vec::new() };
        let Some(keys) = self.blocks.get(block) else { return Vec::new() };
        keys.keys()
            .filter_map(|k| {
                let rest = if prefix.is_empty() { k.as_str() } else { k.strip_prefix(&prefix)?.strip_prefix('.')? };
                (!rest.contains('.')).then(|| rest.to_string())
            })
            .collect()
    }
}

/// Where a path leads in Loki's reference.
enum Walked<'r> {
    Section { block: &'r str, prefix: String },
    Leaf(&'r str),
}

/// What Loki's configuration reference says about `path` (`["server",
/// "grpc_server_max_concurrent_streams"]`), or `None` if Loki has no such key.
pub fn lookup(path: &[&str]) -> Option<LokiKey> {
    REFERENCE.resolve(path)
}

/// The key path and type a Loki command-line flag (`-target`,
/// `-ingester.max-chunk-age`) sets, if Loki has that flag.
pub fn flag(flag: &str) -> Option<(&'static str, &'static str)> {
    REFERENCE.flags.get(flag).map(|(p, t)| (p.as_str(), t.as_str()))
}

/// The known key closest to `name` among `candidates` and Loki's keys at
/// `parent`, if one is close enough to be a likely typo.
pub fn did_you_mean(parent: &[&str], name: &str, candidates: &[String]) -> Option<String> {
    let mut all: Vec<String> = REFERENCE.children(parent);
    all.extend(candidates.iter().cloned());
    all.sort();
    all.dedup();
    all.into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, &c), c))
        .filter(|(d, c)| *d > 0 && *d <= (name.len().max(c.len()) / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

/// Why Balsa has no use for Loki key `path` (dotted). The longest matching
/// rule wins; a segment `*` matches any one key.
pub fn reason(path: &str) -> &'static str {
    let segs: Vec<&str> = path.split('.').collect();
    let mut best: Option<(usize, &'static str)> = None;
    for (pattern, why) in REASONS {
        let pat: Vec<&str> = pattern.split('.').collect();
        let matches = pat.len() <= segs.len() && pat.iter().zip(&segs).all(|(p, s)| *p == "*" || p == s);
        // Any rule naming a ring, lifecycler or memberlist section applies wherever it sits.
        let anywhere = pat.len() == 1 && segs.contains(&pat[0]) && RING_WORDS.contains(&pat[0]);
        if matches || anywhere {
            // A ring word anywhere outranks a one-key section rule.
            let score = if matches { pat.len() * 2 } else { 3 };
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, why));
            }
        }
    }
    best.map_or(NO_EQUIVALENT, |(_, why)| why)
}

const NO_EQUIVALENT: &str = "no equivalent in Balsa";
const RAFT: &str = "replaced by Raft: shards are Raft groups, not a hash ring";
const REPLICATION: &str = "replaced by Raft: a push is acknowledged once a quorum of its shard has it on disk";
const NO_WAL: &str = "replaced by the Raft log in RocksDB: no separate WAL, nothing to replay";
const ONE_STORE: &str = "chunks and index live in RocksDB under common.path_prefix, replicated by Raft";
const ONE_PROCESS: &str = "one process runs every component";
const NO_FRONTEND: &str = "no separate query frontend or scheduler: every node plans and runs its own queries";
const NO_CACHE: &str = "no external caches: recent data is in RocksDB, S3 chunks in the embedded chunk cache";
const S3_ONLY: &str = "only S3-compatible object storage (storage_config.aws) is supported; without it chunks stay replicated on the nodes";
const NO_SCHEMA: &str = "Balsa has one storage format: no schema periods or index tables to configure";
const NO_LIMIT: &str = "a Loki limit Balsa does not enforce";

/// Words that mark ring membership wherever they appear in a path.
const RING_WORDS: &[&str] = &["ring", "lifecycler", "memberlist", "kvstore", "sharding_ring", "index_gateway_ring"];

const REASONS: &[(&str, &str)] = &[
    ("ring", RAFT),
    ("lifecycler", RAFT),
    ("memberlist", RAFT),
    ("kvstore", RAFT),
    ("sharding_ring", RAFT),
    ("target", ONE_PROCESS),
    ("ballast_bytes", "Go garbage-collector tuning"),
    ("ui", "no built-in UI: use Grafana"),
    ("server", "server tuning Balsa does not expose"),
    ("server.grpc_server_max_concurrent_streams", "server tuning Balsa does not expose"),
    ("server.register_instrumentation", "metrics are always served on /metrics"),
    ("server.http_path_prefix", "Balsa serves Loki's paths at the root"),
    ("common.replication_factor", REPLICATION),
    ("common.instance_addr", "replaced by cluster.peers"),
    ("common.instance_interface_names", "replaced by cluster.peers"),
    ("common.instance_enable_ipv6", "replaced by cluster.peers"),
    ("common.storage", S3_ONLY),
    ("common.storage.filesystem", ONE_STORE),
    ("common.storage.s3", "honoured as storage_config.aws, for the keys that section does not set itself"),
    ("common.persist_tokens", RAFT),
    ("common.compactor_address", ONE_PROCESS),
    ("common.compactor_grpc_address", ONE_PROCESS),
    ("distributor", ONE_PROCESS),
    ("distributor.rate_store", "rates are enforced per tenant on the receiving node"),
    ("distributor.write_failures_logging", ONE_PROCESS),
    (
        "distributor.otlp_config",
        "the default resource attributes indexed as labels are fixed to Loki's list; set limits_config.otlp_config (ignore_defaults, attributes_config) to change them",
    ),
    ("querier", "querier tuning Balsa does not expose: every node runs its own queries"),
    (
        "querier.query_ingesters_within",
        "every node reads every shard it applies: nothing to split between ingesters and store",
    ),
    ("querier.max_concurrent", "queries run on a shared pool sized to the machine"),
    ("query_engine", "querier tuning Balsa does not expose: every node runs its own queries"),
    ("query_scheduler", NO_FRONTEND),
    ("frontend", NO_FRONTEND),
    ("frontend_worker", NO_FRONTEND),
    ("query_range", NO_FRONTEND),
    ("query_range.results_cache", NO_CACHE),
    ("query_range.cache_results", NO_CACHE),
    ("query_range.cache_index_stats_results", NO_CACHE),
    ("query_range.cache_volume_results", NO_CACHE),
    ("query_range.cache_series_results", NO_CACHE),
    ("query_range.cache_label_results", NO_CACHE),
    ("query_range.cache_instant_metric_results", NO_CACHE),
    ("ruler", "a Loki ruler setting Balsa does not use"),
    ("ruler_storage", "a Loki ruler setting Balsa does not use"),
    ("ingester_client", ONE_PROCESS),
    ("ingester", "ingester tuning Balsa does not use"),
    ("ingester.wal", NO_WAL),
    ("ingester.flush_on_shutdown", "nothing to flush: data is on disk before it is acknowledged"),
    ("ingester.autoforget_unhealthy", RAFT),
    ("ingester.chunk_retain_period", ONE_STORE),
    ("ingester.query_store_max_look_back_period", ONE_STORE),
    ("ingester.shutdown_marker_path", RAFT),
    ("pattern_ingester", "log patterns are not mined yet"),
    ("index_gateway", ONE_STORE),
    ("bloom_build", "no bloom filters: Balsa's chunks carry their own line hints"),
    ("bloom_gateway", "no bloom filters: Balsa's chunks carry their own line hints"),
    ("storage_config", S3_ONLY),
    ("storage_config.boltdb_shipper", ONE_STORE),
    ("storage_config.tsdb_shipper", ONE_STORE),
    ("storage_config.filesystem", ONE_STORE),
    ("storage_config.index_queries_cache_config", NO_CACHE),
    ("storage_config.max_parallel_get_chunk", "chunk fetches are bounded by the node"),
    ("storage_config.max_chunk_batch_size", "chunk fetches are bounded by the node"),
    ("storage_config.disable_broad_index_queries", ONE_STORE),
    ("storage_config.index_cache_validity", NO_CACHE),
    ("storage_config.use_thanos_objstore", S3_ONLY),
    ("storage_config.bloom_shipper", "no bloom filters: Balsa's chunks carry their own line hints"),
    ("storage_config.hedging", "object store requests are not hedged"),
    ("common.storage.hedging", "object store requests are not hedged"),
    ("storage_config.congestion_control", "object store requests use the S3 client's own retries"),
    ("common.storage.congestion_control", "object store requests use the S3 client's own retries"),
    ("storage_config.object_store", S3_ONLY),
    ("storage_config.aws.dynamodb", ONE_STORE),
    ("storage_config.aws.storage_class", "objects are written with the bucket's default storage class"),
    ("storage_config.aws.http_config", "the S3 client's HTTP settings are not configurable"),
    ("storage_config.aws.backoff_config", "the S3 client retries with its own backoff"),
    ("storage_config.aws.sse", "server-side encryption is the bucket's default"),
    ("storage_config.aws.signature_version", "the S3 client always signs with v4"),
    ("storage_config.aws.disable_dualstack", "the S3 client's endpoint settings are not configurable"),
    ("chunk_store_config", NO_CACHE),
    ("chunk_store_config.max_look_back_period", "use limits_config.retention_period"),
    ("schema_config", NO_SCHEMA),
    ("compactor", "no separate compactor: each shard's leader applies retention and deletes through Raft"),
    ("compactor_grpc_client", ONE_PROCESS),
    ("limits_config", NO_LIMIT),
    (
        "limits_config.max_streams_per_user",
        "a per-ingester limit: Balsa enforces max_global_streams_per_user across the cluster",
    ),
    ("limits_config.max_cache_freshness_per_query", NO_CACHE),
    ("limits_config.split_queries_by_interval", NO_FRONTEND),
    ("limits_config.split_metadata_queries_by_interval", NO_FRONTEND),
    ("limits_config.tsdb_max_query_parallelism", NO_FRONTEND),
    ("limits_config.max_query_parallelism", NO_FRONTEND),
    ("limits_config.query_ready_index_num_days", ONE_STORE),
    ("limits_config.volume_enabled", "the index volume endpoints are always served"),
    ("limits_config.metric_aggregation_enabled", "log patterns are not mined yet"),
    ("limits_config.pattern_persistence_enabled", "log patterns are not mined yet"),
    ("limits_config.shard_streams", "streams are hashed to a fixed number of shards (cluster.shards)"),
    ("limits_config.ingestion_rate_strategy", "rates are enforced per tenant on the receiving node"),
    ("limits_config.bloom_gateway_enable_filtering", "no bloom filters: Balsa's chunks carry their own line hints"),
    ("frontend.encoding", NO_FRONTEND),
    ("table_manager", "retention is compactor.retention_enabled with limits_config.retention_period"),
    ("kafka_config", "Loki's Kafka ingest path: pushes go straight to Raft"),
    ("dataobj", "Loki's data-object storage: chunks live in RocksDB and S3"),
    ("ingest_limits", "Loki's Kafka ingest path: pushes go straight to Raft"),
    ("ingest_limits_frontend", "Loki's Kafka ingest path: pushes go straight to Raft"),
    ("ingest_limits_frontend_client", "Loki's Kafka ingest path: pushes go straight to Raft"),
    ("runtime_config", "runtime config tuning Balsa does not use"),
    ("operational_config", NO_EQUIVALENT),
    ("tracing", "no distributed tracing export"),
    ("profiling", "no Go profiler"),
    ("analytics", "Balsa sends no usage reports"),
    ("tenant_limits_allow_publish", "tenant limits are served by /config only"),
    ("shutdown_delay", "shutdown waits for in-flight requests (server.graceful_shutdown_timeout)"),
    ("metrics_namespace", "metric names are fixed"),
];

/// The top-level keys of a runtime config file other than `overrides`:
/// Loki's `configs` and `multi_kv_config`, and why Balsa ignores them.
pub fn runtime_config_reason(key: &str) -> Option<&'static str> {
    match key {
        "configs" => Some("per-tenant runtime settings of Loki components Balsa does not have"),
        "multi_kv_config" => Some(RAFT),
        "ingester_limits" => Some(RAFT),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

/// A Loki key taken out of a config because Balsa has no use for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Dotted path, as written: `server.grpc_server_max_concurrent_streams`.
    pub key: String,
    pub reason: &'static str,
}

/// A key neither Balsa nor Loki knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    pub key: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.suggestion {
            Some(s) => write!(f, "neither Balsa nor Loki {} has this key; did you mean {s:?}?", reference_version()),
            None => write!(f, "neither Balsa nor Loki {} has this key", reference_version()),
        }
    }
}

/// Removes from `doc` every key that Balsa's `schema` (its default config as
/// a YAML tree) lacks but Loki's reference has, and returns them with their
/// reasons. Below a removed key, keys are still checked against Loki's
/// reference, so a typo inside an ignored section is an error too.
///
/// Balsa keys whose default is not a mapping with keys (scalars, lists,
/// optional sections) are left for serde to check.
pub fn strip_loki_only(doc: &mut Value, schema: &Value) -> Result<Vec<Ignored>, UnknownKey> {
    let mut ignored = Vec::new();
    strip(doc, schema, &mut Vec::new(), &mut ignored)?;
    Ok(ignored)
}

fn strip(doc: &mut Value, schema: &Value, path: &mut Vec<String>, out: &mut Vec<Ignored>) -> Result<(), UnknownKey> {
    let (Value::Mapping(doc), Value::Mapping(schema)) = (doc, schema) else { return Ok(()) };
    let keys: Vec<Value> = doc.keys().cloned().collect();
    for key in keys {
        let Some(name) = key.as_str().map(str::to_string) else { continue };
        path.push(name.clone());
        match schema.get(&key) {
            Some(sub @ Value::Mapping(m)) if !m.is_empty() => {
                if let Some(v) = doc.get_mut(&key) {
                    strip(v, sub, path, out)?;
                }
            }
            Some(_) => {}
            None => {
                let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                match lookup(&segs) {
                    Some(found) => {
                        let value = doc.remove(&key).unwrap_or(Value::Null);
                        if found == LokiKey::Section {
                            check_loki_section(&value, path)?;
                        }
                        report(&value, path, found == LokiKey::Section, out);
                    }
                    None => {
                        let balsa: Vec<String> = schema.keys().filter_map(|k| k.as_str().map(String::from)).collect();
                        let parent = &segs[..segs.len() - 1];
                        return Err(UnknownKey {
                            key: path.join("."),
                            suggestion: did_you_mean(parent, &name, &balsa),
                        });
                    }
                }
            }
        }
        path.pop();
    }
    Ok(())
}

/// Reports an ignored key; below a section, keys with a more specific reason
/// than the section's are reported on their own (`common.storage.filesystem`
/// says why a filesystem store is not needed), and the section itself only
/// for what its own reason covers.
fn report(value: &Value, path: &mut Vec<String>, section: bool, out: &mut Vec<Ignored>) {
    let why = reason(&path.join("."));
    let children = match value {
        Value::Mapping(m) if section && !m.is_empty() => m,
        _ => {
            out.push(Ignored { key: path.join("."), reason: why });
            return;
        }
    };
    let mut covered = false;
    for (k, v) in children {
        let Some(name) = k.as_str() else { continue };
        path.push(name.to_string());
        if reason(&path.join(".")) == why {
            covered = true;
        } else {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            let sub = lookup(&segs) == Some(LokiKey::Section);
            report(v, path, sub, out);
        }
        path.pop();
    }
    if covered {
        out.push(Ignored { key: path.join("."), reason: why });
    }
}

/// Checks the keys below an ignored Loki section against Loki's reference.
fn check_loki_section(value: &Value, path: &mut Vec<String>) -> Result<(), UnknownKey> {
    let Value::Mapping(m) = value else { return Ok(()) };
    for key in m.keys() {
        let Some(name) = key.as_str() else { continue };
        path.push(name.to_string());
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        match lookup(&segs) {
            Some(LokiKey::Section) => check_loki_section(m.get(key).unwrap_or(&Value::Null), path)?,
            Some(LokiKey::Leaf { .. }) => {}
            None => {
                let parent = &segs[..segs.len() - 1];
                return Err(UnknownKey { key: path.join("."), suggestion: did_you_mean(parent, name, &[]) });
            }
        }
        path.pop();
    }
    Ok(())
}

/// Groups ignored keys by reason, in a stable order, for the start-up log
/// and `GET /config?mode=ignored`.
pub fn group_by_reason(ignored: &[Ignored]) -> std::collections::BTreeMap<&'static str, Vec<String>> {
    let mut groups: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
    for i in ignored {
        groups.entry(i.reason).or_default().push(i.key.clone());
    }
    for keys in groups.values_mut() {
        keys.sort();
    }
    groups
}

/// `GET /config?mode=ignored`: each reason with the keys it covers, as YAML
/// (`{}` when nothing was ignored).
pub fn ignored_yaml(ignored: &[Ignored]) -> String {
    let groups = group_by_reason(ignored);
    if groups.is_empty() {
        return "{}\n".to_string();
    }
    serde_yaml_ng::to_string(&groups).unwrap_or_default()
}

/// For [`balsa_push::RuntimeConfig`]: a top-level key of a runtime config
/// file Balsa ignores (`configs`, `multi_kv_config`), or a tenant limit that
/// Loki's `limits_config` has.
pub fn is_runtime_config_key(path: &[&str]) -> bool {
    match path {
        [top] => runtime_config_reason(top).is_some(),
        ["limits_config", key] => lookup(&["limits_config", key]).is_some(),
        _ => false,
    }
}
