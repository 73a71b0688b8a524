//! The whole `balsa` configuration, spelled the way Loki spells it.
//!
//! A config comes from, in increasing precedence: the defaults, a YAML file
//! (`-config.file=PATH`), environment variables (`BALSA_SERVER__HTTP_LISTEN_PORT`)
//! and flags (`-server.http_listen_port=3200`). Every key can be set each way:
//! a flag is named by the key's YAML path, an environment variable by `BALSA_`
//! and the path upper-cased with `__` between levels. An unknown key, flag or
//! `BALSA_` variable is an error that names it.
//!
//! How it works: the file is read into a YAML [`Value`]; env and flag values
//! are laid over it at their paths, typed after the default config's value at
//! the same path (so `true`, `3200` and `a:9095,b:9095` become a bool, a number
//! and a list); the result is deserialized into [`Config`] with
//! `serde_path_to_error`, so that every error names the full key path.
//!
//! [`Config::to_yaml_masked`], [`Config::diff_from_default_yaml`] and
//! [`Config::defaults_yaml`] serve `GET /config` (`mode=diffs`, `mode=defaults`);
//! values of keys that look like secrets ([`is_secret_key`]) print as `********`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use balsa_model::units::{ByteSize, Duration};
use balsa_push::LimitsConfig;
use balsa_s3::AwsConfig;
use balsa_storage::IngesterConfig;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

/// Prefix of the environment variables that set config keys.
pub const ENV_PREFIX: &str = "BALSA_";
/// What a secret's value prints as.
pub const MASK: &str = "********";
/// Most shards a cluster can have.
pub const MAX_SHARDS: u32 = 4096;

// ---------------------------------------------------------------------------
// The config tree
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Require `X-Scope-OrgID` on every request (multi-tenant mode). When off,
    /// every request belongs to the tenant `fake`, as in Loki.
    pub auth_enabled: bool,
    pub server: ServerConfig,
    pub common: CommonConfig,
    pub cluster: ClusterConfig,
    pub distributor: DistributorConfig,
    pub limits_config: LimitsConfig,
    pub ingester: IngesterConfig,
    pub runtime_config: RuntimeConfigConfig,
    pub storage_config: StorageConfig,
    pub chunk_store_config: ChunkStoreConfig,
    pub compactor: CompactorConfig,
    pub querier: QuerierConfig,
    pub ruler: balsa_ruler::RulerConfig,
    pub ruler_storage: balsa_ruler::RulerStorageConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_address: String,
    pub grpc_listen_port: u16,
    /// How long to let in-flight requests finish on SIGTERM.
    pub graceful_shutdown_timeout: Duration,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub log_level: String,
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 3100,
            grpc_listen_address: "0.0.0.0".into(),
            grpc_listen_port: 9095,
            graceful_shutdown_timeout: Duration::from_secs(30),
            log_level: "info".into(),
            log_format: LogFormat::Logfmt,
        }
    }
}

impl ServerConfig {
    /// `address:port` for the HTTP listener (IPv6 addresses bracketed).
    pub fn http_addr(&self) -> String {
        join_host_port(&self.http_listen_address, self.http_listen_port)
    }
    /// The URL of this node's own `/ready`, for `-health-check`: a wildcard
    /// listen address is asked on loopback.
    pub fn ready_url(&self) -> String {
        let host = match self.http_listen_address.trim() {
            "" | "0.0.0.0" => "127.0.0.1",
            "::" | "[::]" => "[::1]",
            h => h,
        };
        format!("http://{}/ready", join_host_port(host, self.http_listen_port))
    }
    /// `address:port` for the gRPC (peer) listener (IPv6 addresses bracketed).
    pub fn grpc_addr(&self) -> String {
        join_host_port(&self.grpc_listen_address, self.grpc_listen_port)
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonConfig {
    /// Directory under which every node-local file lives.
    pub path_prefix: PathBuf,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self { path_prefix: PathBuf::from("./data") }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Number of shards (raft groups) the key space is split into.
    pub shards: u32,
    /// This node's id; when unset, the ordinal at the end of the hostname
    /// (`balsa-2` → 2), else 0. See [`Config::node_id`].
    pub node_id: Option<u64>,
    /// The cluster's members as `host:grpc_port`; empty means a single node.
    pub peers: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { shards: 16, node_id: None, peers: Vec::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Largest push body accepted, as sent (compressed).
    pub max_recv_msg_size: ByteSize,
    /// Largest push body once decompressed (a Balsa key; guards against
    /// compression bombs).
    pub max_decompressed_size: ByteSize,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        Self { max_recv_msg_size: ByteSize::mib(100), max_decompressed_size: ByteSize::mib(100) }
    }
}

/// Loki's `runtime_config`: files with per-tenant limit overrides, re-read
/// while running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfigConfig {
    /// Comma-separated YAML files, merged left to right; empty disables it.
    pub file: String,
    /// How often the files are read again.
    pub period: Duration,
}

impl Default for RuntimeConfigConfig {
    fn default() -> Self {
        Self { file: String::new(), period: Duration::from_secs(10) }
    }
}

/// Loki's `storage_config`: where sealed chunks live. With
/// `aws.bucketnames` set they move to S3; otherwise they stay replicated on
/// every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub aws: AwsConfig,
    /// Prefix of every object key (a Balsa key), e.g. `prod/`.
    pub object_prefix: String,
    /// Chunks of one tenant uploaded in the same round share objects of up
    /// to this size, so the bucket does not fill with tiny objects.
    pub target_object_size: ByteSize,
    /// How often each group leader looks for sealed chunks to upload.
    pub upload_interval: Duration,
    /// Above this many chunks waiting for upload on one node, a warning is
    /// logged on every round (`balsa_tier_pending_chunks` shows the number).
    pub max_pending_uploads: u64,
    /// How often group leaders delete objects that no chunk refers to
    /// (left by an upload whose Raft entry never committed).
    pub orphan_sweep_interval: Duration,
    /// Objects younger than this are never swept.
    pub orphan_grace_period: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            aws: AwsConfig::default(),
            object_prefix: String::new(),
            target_object_size: ByteSize::mib(8),
            upload_interval: Duration::from_secs(5),
            max_pending_uploads: 10_000,
            orphan_sweep_interval: Duration::from_secs(600),
            orphan_grace_period: Duration::from_secs(3600),
        }
    }
}

/// Loki's `querier`: the one key Balsa has; the rest of Loki's section is
/// accepted and set aside (`loki_keys`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Reads may name several tenants (`X-Scope-OrgID: a|b`); each stream
    /// then carries `__tenant_id__`. Off by default, as in Loki.
    pub multi_tenant_queries_enabled: bool,
}

/// Loki's `compactor`: retention. There is no separate compactor process:
/// each shard's group leader applies retention through Raft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Delete data older than `limits_config.retention_period` /
    /// `retention_stream`. Off: data lives forever, as in Loki.
    pub retention_enabled: bool,
    /// How often retention runs and due delete requests are processed.
    pub compaction_interval: Duration,
    /// How long a delete request can be cancelled before it is processed.
    pub delete_request_cancel_period: Duration,
    /// Accepted so Loki configs load; Balsa keeps no compactor files.
    pub working_directory: String,
    /// Accepted so Loki configs load; delete requests live in Raft.
    pub delete_request_store: String,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            retention_enabled: false,
            compaction_interval: Duration::from_secs(600),
            delete_request_cancel_period: Duration::from_secs(24 * 3600),
            working_directory: String::new(),
            delete_request_store: String::new(),
        }
    }
}

/// Loki's `chunk_store_config`; only the embedded chunk cache applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkStoreConfig {
    pub chunk_cache_config: ChunkCacheConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkCacheConfig {
    pub embedded_cache: EmbeddedCacheConfig,
}

/// The in-memory cache of chunks fetched from S3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedCacheConfig {
    pub enabled: bool,
    pub max_size_mb: u64,
}

impl Default for EmbeddedCacheConfig {
    fn default() -> Self {
        Self { enabled: true, max_size_mb: 512 }
    }
}

impl EmbeddedCacheConfig {
    /// The cache bound in bytes; 0 when disabled.
    pub fn max_bytes(&self) -> u64 {
        if self.enabled { self.max_size_mb.saturating_mul(1 << 20) } else { 0 }
    }
}

// ---------------------------------------------------------------------------
// Errors and load results
// ---------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown flag {flag:?}: it names no config key (see -help)")]
    UnknownFlag { flag: String },
    #[error("flag {flag} needs a value")]
    MissingFlagValue { flag: String },
    #[error("flag {flag} names the section {key:?}, not a key: set its keys one by one")]
    SectionFlag { flag: String, key: String },
    #[error("invalid value {value:?} for flag {flag}: {reason}")]
    InvalidFlagValue { flag: String, value: String, reason: String },
    #[error("unexpected argument {arg:?}: flags look like -key=value")]
    UnexpectedArgument { arg: String },
    #[error("invalid value {value:?} in environment variable {var}: {reason}")]
    InvalidEnvValue { var: String, value: String, reason: String },
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("config file {}: {message}", path.display())]
    ParseFile { path: PathBuf, message: String },
    #[error("unknown config key {key:?}{origin}: {detail}")]
    UnknownKey { key: String, origin: String, detail: String },
    #[error("invalid value for config key {key:?}{origin}: {detail}")]
    InvalidValue { key: String, origin: String, detail: String },
    #[error("invalid config key {key:?}: {reason}")]
    Invalid { key: String, reason: String },
}

/// Where an overridden key got its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueSource {
    /// The flag as written, without its value: `-server.http_listen_port`.
    Flag(String),
    /// The variable name: `BALSA_SERVER__HTTP_LISTEN_PORT`.
    Env(String),
}

impl std::fmt::Display for ValueSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueSource::Flag(flag) => write!(f, "flag {flag}"),
            ValueSource::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// What [`Config::load`] found besides the config itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadInfo {
    /// `-config.file`, if given.
    pub config_file: Option<PathBuf>,
    /// `-config.expand-env` was true.
    pub expand_env: bool,
    /// `-print-config-stderr`: print [`Config::to_yaml_masked`] to stderr at start.
    pub print_config_stderr: bool,
    /// `-version`: print the version and exit.
    pub version: bool,
    /// `-help`/`-h`: print [`Config::usage`] and exit.
    pub help: bool,
    /// Keys (dotted paths) set by env or flag, and by which; the flag when both.
    pub overrides: BTreeMap<String, ValueSource>,
    /// `BALSA_*` environment variables that name no config key (logged as warnings).
    pub ignored_env: Vec<String>,
    /// Loki keys of the file that Balsa has no use for, with the reason.
    pub ignored_keys: Vec<crate::loki_keys::Ignored>,
    /// `-verify-config`: validate the config, report, and exit.
    pub verify_config: bool,
    /// `-health-check`: ask the running node's `/ready`, and exit 0 when ready.
    pub health_check: bool,
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Flags that are not config keys.
const META_FLAGS: &[(&str, &str)] = &[
    ("config.file", "path of the YAML config file"),
    ("config.expand-env", "expand ${VAR} and ${VAR:-default} in the config file"),
    ("print-config-stderr", "print the effective config (secrets masked) to stderr at start"),
    ("version", "print the version and exit"),
    ("verify-config", "load and validate the config, list the Loki keys it ignores, and exit (0 when valid)"),
    (
        "health-check",
        "ask the node this config describes for /ready and exit 0 when it is ready, 1 when not: a container health check that needs no shell or curl",
    ),
    ("help", "print this help and exit"),
];

/// Loki's spellings of keys that Balsa keeps elsewhere.
const FLAG_ALIASES: &[(&str, &str)] = &[
    ("log.level", "server.log_level"),
    ("log.format", "server.log_format"),
    ("runtime-config.reload-period", "runtime_config.period"),
];

enum MetaFlag {
    ConfigFile,
    ExpandEnv,
    PrintConfig,
    Version,
    Help,
    VerifyConfig,
    HealthCheck,
}

fn meta_flag(name: &str) -> Option<MetaFlag> {
    Some(match name {
        "config.file" | "config_file" => MetaFlag::ConfigFile,
        "config.expand-env" | "config.expand_env" => MetaFlag::ExpandEnv,
        "print-config-stderr" | "print_config_stderr" => MetaFlag::PrintConfig,
        "version" => MetaFlag::Version,
        "verify-config" | "verify_config" => MetaFlag::VerifyConfig,
        "health-check" | "health_check" => MetaFlag::HealthCheck,
        "help" | "h" => MetaFlag::Help,
        _ => return None,
    })
}

impl Config {
    /// Loads the config from command-line `args` (the first one is the program
    /// name, as in `std::env::args()`) and the environment `env` (as in
    /// `std::env::vars()`): defaults < file < env < flags. The result is
    /// validated ([`Config::validate`]).
    ///
    /// With `-help` or `-version` nothing else is read: the defaults come back
    /// with [`LoadInfo::help`] / [`LoadInfo::version`] set, for the caller to
    /// print [`Config::usage`] or its version and exit.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, LoadInfo), ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let schema = default_tree();
        let mut info = LoadInfo::default();

        // Flags: meta flags now, key flags after the file and env.
        let mut flag_sets: Vec<(String, String, String)> = Vec::new(); // (flag, key, value)
        let mut args = args.into_iter().skip(1);
        while let Some(arg) = args.next() {
            let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                return Err(ConfigError::UnexpectedArgument { arg });
            };
            if body.is_empty() {
                // "--" or "-": no positional arguments are taken.
                return match args.next() {
                    Some(next) => Err(ConfigError::UnexpectedArgument { arg: next }),
                    None => Ok(Self::load_rest(&schema, info, flag_sets, &env)?),
                };
            }
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let flag = format!("-{name}");
            // A flag names a Balsa key by its path, or is one of Loki's own
            // flags (`-ingester.max-chunk-age`, `-target`), found in Loki's reference.
            let mut key = flag_key(name);
            let loki_flag = crate::loki_keys::flag(&flag);
            if lookup(&schema, &key).is_none()
                && let Some((path, _)) = loki_flag
            {
                key = path.split('.').map(String::from).collect();
            }
            let mut loki_only = None;
            let is_bool = match meta_flag(name) {
                Some(MetaFlag::ConfigFile) => false,
                Some(_) => true,
                None => match lookup(&schema, &key) {
                    Some(Value::Bool(_)) => true,
                    Some(Value::Mapping(_)) => {
                        return Err(ConfigError::SectionFlag { flag, key: key.join(".") });
                    }
                    Some(_) => false,
                    None => match loki_flag {
                        Some((path, type_)) => {
                            loki_only = Some(path);
                            type_ == "<boolean>"
                        }
                        None => return Err(ConfigError::UnknownFlag { flag }),
                    },
                },
            };
            // Go's flag package: a boolean flag alone means true and never
            // takes the next argument; other flags take `=value` or the next one.
            let value = match inline {
                Some(v) => v,
                None if is_bool => "true".to_string(),
                None => args.next().ok_or_else(|| ConfigError::MissingFlagValue { flag: flag.clone() })?,
            };
            let as_bool = || {
                parse_bool(&value).ok_or_else(|| ConfigError::InvalidFlagValue {
                    flag: flag.clone(),
                    value: value.clone(),
                    reason: "expected true or false".into(),
                })
            };
            match meta_flag(name) {
                Some(MetaFlag::ConfigFile) => {
                    info.config_file = if value.is_empty() { None } else { Some(PathBuf::from(&value)) }
                }
                Some(MetaFlag::ExpandEnv) => info.expand_env = as_bool()?,
                Some(MetaFlag::PrintConfig) => info.print_config_stderr = as_bool()?,
                Some(MetaFlag::Version) => info.version = as_bool()?,
                Some(MetaFlag::Help) => info.help = as_bool()?,
                Some(MetaFlag::VerifyConfig) => info.verify_config = as_bool()?,
                Some(MetaFlag::HealthCheck) => info.health_check = as_bool()?,
                None => match loki_only {
                    Some(path) => info.ignored_keys.push(crate::loki_keys::Ignored {
                        key: format!("{path} (flag {flag})"),
                        reason: crate::loki_keys::reason(path),
                    }),
                    None => flag_sets.push((flag, key.join("."), value)),
                },
            }
        }
        Self::load_rest(&schema, info, flag_sets, &env)
    }

    fn load_rest(
        schema: &Value,
        mut info: LoadInfo,
        flag_sets: Vec<(String, String, String)>,
        env: &[(String, String)],
    ) -> Result<(Config, LoadInfo), ConfigError> {
        if info.help || info.version {
            return Ok((Config::default(), info));
        }

        // The file.
        let mut doc = match &info.config_file {
            None => Value::Mapping(Mapping::new()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
                let text = if info.expand_env {
                    let vars: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    expand_env(&text, |name| vars.get(name).map(|v| v.to_string()))
                        .map_err(|message| ConfigError::ParseFile { path: path.clone(), message })?
                } else {
                    text
                };
                let doc: Value = serde_yaml_ng::from_str(&text)
                    .map_err(|e| ConfigError::ParseFile { path: path.clone(), message: e.to_string() })?;
                match doc {
                    Value::Null => Value::Mapping(Mapping::new()),
                    Value::Mapping(_) => doc,
                    _ => {
                        return Err(ConfigError::ParseFile {
                            path: path.clone(),
                            message: "the top level must be a mapping of config keys".into(),
                        });
                    }
                }
            }
        };
        // `server:` with nothing under it means the defaults, not an error.
        null_sections_to_empty(&mut doc, schema);
        // Loki's keys: honoured where Balsa has them, else set aside with a reason.
        let from_file = take_loki_keys(&mut doc, schema, info.config_file.as_deref())?;
        info.ignored_keys.splice(0..0, from_file);

        // The environment, in a stable order.
        let mut env_sets: Vec<(&str, Vec<String>, &str)> = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else { continue };
            let key: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            match lookup(schema, &key) {
                // Not a config key: Kubernetes, for one, sets BALSA_PORT and
                // BALSA_SERVICE_HOST for a Service named balsa. Reported, not fatal.
                None | Some(Value::Mapping(_)) => info.ignored_env.push(var.clone()),
                Some(_) => env_sets.push((var, key, value)),
            }
        }
        env_sets.sort();
        for (var, key, value) in env_sets {
            let typed = typed_value(lookup(schema, &key).expect("checked"), value).map_err(|reason| {
                ConfigError::InvalidEnvValue { var: var.to_string(), value: value.to_string(), reason }
            })?;
            set_path(&mut doc, &key, typed);
            info.overrides.insert(key.join("."), ValueSource::Env(var.to_string()));
        }

        // Then the flags, in the order given (the last of a repeated flag wins).
        for (flag, key, value) in flag_sets {
            let path: Vec<String> = key.split('.').map(String::from).collect();
            let typed = typed_value(lookup(schema, &path).expect("checked"), &value)
                .map_err(|reason| ConfigError::InvalidFlagValue { flag: flag.clone(), value: value.clone(), reason })?;
            set_path(&mut doc, &path, typed);
            info.overrides.insert(key, ValueSource::Flag(flag));
        }

        let config = Self::from_value(doc, &info)?;
        config.validate()?;
        Ok((config, info))
    }

    /// Deserializes a YAML tree, naming the full key path of any error.
    fn from_value(doc: Value, info: &LoadInfo) -> Result<Config, ConfigError> {
        serde_path_to_error::deserialize::<_, Config>(doc).map_err(|err| {
            let key = err.path().to_string();
            let detail = err.inner().to_string();
            let origin = match info.overrides.get(&key) {
                Some(source) => format!(" (from {source})"),
                None => match &info.config_file {
                    Some(path) => format!(" in config file {}", path.display()),
                    None => String::new(),
                },
            };
            if detail.starts_with("unknown field") {
                ConfigError::UnknownKey { key, origin, detail }
            } else {
                ConfigError::InvalidValue { key, origin, detail }
            }
        })
    }

    /// Parses a YAML document (no env or flags), as a config file would be;
    /// not validated.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn from_yaml_str(text: &str) -> Result<Config, ConfigError> {
        let mut doc: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| ConfigError::ParseFile { path: PathBuf::from("<string>"), message: e.to_string() })?;
        if doc.is_null() {
            doc = Value::Mapping(Mapping::new());
        }
        let schema = default_tree();
        null_sections_to_empty(&mut doc, &schema);
        take_loki_keys(&mut doc, &schema, None)?;
        Self::from_value(doc, &LoadInfo::default())
    }

    /// Checks what types alone can't; every error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: &str| Err(ConfigError::Invalid { key: key.into(), reason: reason.into() });
        let s = &self.server;
        if s.http_listen_port == 0 {
            return bad("server.http_listen_port", "must not be 0");
        }
        if s.grpc_listen_port == 0 {
            return bad("server.grpc_listen_port", "must not be 0");
        }
        if s.http_listen_port == s.grpc_listen_port {
            return bad("server.grpc_listen_port", "must differ from server.http_listen_port");
        }
        if s.http_listen_address.trim().is_empty() {
            return bad("server.http_listen_address", "must not be empty (use 0.0.0.0 for every interface)");
        }
        if s.grpc_listen_address.trim().is_empty() {
            return bad("server.grpc_listen_address", "must not be empty (use 0.0.0.0 for every interface)");
        }
        if !["trace", "debug", "info", "warn", "error"].contains(&s.log_level.as_str()) {
            return bad("server.log_level", "must be one of trace, debug, info, warn, error");
        }
        if self.common.path_prefix.as_os_str().is_empty() {
            return bad("common.path_prefix", "must not be empty");
        }
        let c = &self.cluster;
        if c.shards == 0 || c.shards > MAX_SHARDS {
            return bad("cluster.shards", &format!("must be between 1 and {MAX_SHARDS}, got {}", c.shards));
        }
        let mut seen = BTreeSet::new();
        for peer in &c.peers {
            let port = peer.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p != 0) {
                return bad("cluster.peers", &format!("{peer:?} is not host:grpc_port"));
            }
            if !seen.insert(peer.as_str()) {
                return bad("cluster.peers", &format!("{peer:?} is listed twice"));
            }
        }
        let d = &self.distributor;
        if d.max_recv_msg_size.0 == 0 {
            return bad("distributor.max_recv_msg_size", "must be positive");
        }
        if d.max_decompressed_size.0 == 0 {
            return bad("distributor.max_decompressed_size", "must be positive");
        }
        if let Err((key, reason)) = self.limits_config.validate() {
            return bad(&format!("limits_config.{key}"), reason);
        }
        if !self.runtime_config.file.trim().is_empty() && self.runtime_config.period.0.is_zero() {
            return bad("runtime_config.period", "must be positive when runtime_config.file is set");
        }
        if let Err(reason) = self.ingester.validate() {
            return Err(ConfigError::Invalid { key: "ingester".into(), reason });
        }
        if let Err((key, reason)) = self.storage_config.aws.validate() {
            return bad(&format!("storage_config.aws.{key}"), &reason);
        }
        for (i, rule) in self.limits_config.retention_stream.iter().enumerate() {
            if let Err(e) = crate::retention::check_selector(&rule.selector) {
                return bad(&format!("limits_config.retention_stream[{i}].selector"), &e);
            }
        }
        if self.compactor.compaction_interval.0.is_zero() {
            return bad("compactor.compaction_interval", "must be positive");
        }
        if self.storage_config.target_object_size.0 == 0 {
            return bad("storage_config.target_object_size", "must be positive");
        }
        if self.storage_config.upload_interval.0.is_zero() {
            return bad("storage_config.upload_interval", "must be positive");
        }
        if let Err(e) = self.ruler.validate(&self.ruler_storage) {
            let (key, reason) = e.split_once(": ").unwrap_or(("ruler", &e));
            return bad(key, reason);
        }
        Ok(())
    }

    /// This node's id: `cluster.node_id` if set, else the ordinal at the end of
    /// the hostname's first label (`balsa-2`, `balsa-2.balsa.ns.svc` → 2), else 0.
    pub fn node_id(&self, hostname: &str) -> u64 {
        self.cluster.node_id.or_else(|| hostname_ordinal(hostname)).unwrap_or(0)
    }

    /// The effective config as YAML, secrets masked (`GET /config`).
    pub fn to_yaml_masked(&self) -> String {
        let mut tree = to_tree(self);
        mask_secrets(&mut tree);
        to_yaml(&tree)
    }

    /// Only the keys whose values differ from the defaults, secrets masked
    /// (`GET /config?mode=diffs`); `{}` when nothing differs.
    pub fn diff_from_default_yaml(&self) -> String {
        let mut tree = diff_tree(&to_tree(self), &default_tree()).unwrap_or_else(|| Value::Mapping(Mapping::new()));
        mask_secrets(&mut tree);
        to_yaml(&tree)
    }

    /// The default config as YAML (`GET /config?mode=defaults`).
    pub fn defaults_yaml() -> String {
        Config::default().to_yaml_masked()
    }

    /// `-help` text: the meta flags, then every key with its default, its
    /// flag and its environment variable.
    pub fn usage(program: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Usage of {program}:");
        let _ = writeln!(out, "  flags take -name=value, --name=value or -name value; booleans alone mean true.");
        for (name, help) in META_FLAGS {
            let _ = writeln!(out, "  -{name}\n      {help}");
        }
        let _ = writeln!(
            out,
            "\nconfig keys (defaults < config file < {ENV_PREFIX}* environment < flags; lists are comma-separated):"
        );
        let mut leaves = Vec::new();
        flatten(&default_tree(), &mut Vec::new(), &mut leaves);
        for (path, value) in leaves {
            let env = format!("{ENV_PREFIX}{}", path.join("__").to_ascii_uppercase());
            let _ = writeln!(out, "  -{}  (env {env}, default {:?})", path.join("."), scalar_text(&value));
        }
        out
    }
}

/// The ordinal at the end of a StatefulSet-style hostname: `balsa-2` → 2,
/// `balsa-10.balsa.default.svc.cluster.local` → 10, `balsa` → none.
pub fn hostname_ordinal(hostname: &str) -> Option<u64> {
    let label = hostname.trim().split('.').next()?;
    let (_, digits) = label.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// This machine's hostname: `$HOSTNAME`, else the kernel's, else "".
pub fn system_hostname() -> String {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return h.trim().to_string();
    }
    for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(h) = std::fs::read_to_string(file)
            && !h.trim().is_empty()
        {
            return h.trim().to_string();
        }
    }
    String::new()
}

/// Whether a key's value is a secret to mask in `/config`: names containing
/// `secret`, `password` or `passwd`, or ending in `key`, `token` or
/// `credentials` (`secret_access_key`, `api_key`, `bearer_token`,
/// `basic_auth.password`), unless they end in `_file`, `_path` or `_id`
/// (`password_file`, `access_key_id` name where a secret is, not the secret).
pub fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let last = name.rsplit(['_', '-', '.']).next().unwrap_or("");
    if ["file", "path", "id", "enabled"].contains(&last) {
        return false;
    }
    ["secret", "password", "passwd"].iter().any(|w| name.contains(w))
        || ["key", "token", "credentials"].contains(&last)
        || name.ends_with("apikey")
}

/// Replaces, in place, every non-empty value under a secret key ([`is_secret_key`])
/// with [`MASK`]; empty and null values stay as they are, to show they're unset.
pub fn mask_secrets(tree: &mut Value) {
    fn mask_all(v: &mut Value) {
        match v {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::Sequence(items) => items.iter_mut().for_each(mask_all),
            Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| mask_all(v)),
            Value::Tagged(t) => mask_all(&mut t.value),
            other => *other = Value::String(MASK.into()),
        }
    }
    match tree {
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                if k.as_str().is_some_and(is_secret_key) {
                    mask_all(v);
                } else {
                    mask_secrets(v);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// Expands `${VAR}`, `${VAR:-default}` (unset or empty) and `${VAR-default}`
/// (unset) as Loki's `-config.expand-env` does; `$$` is a literal `$`, and a
/// `$` before anything else is kept. An unset variable without a default
/// expands to "".
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner_start) = after.strip_prefix('{') {
            let line = text[..text.len() - rest.len() + at].matches('\n').count() + 1;
            let end = inner_start.find('}').ok_or_else(|| format!("line {line}: unterminated ${{"))?;
            let inner = &inner_start[..end];
            let name_len = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_len);
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("line {line}: invalid variable reference ${{{inner}}}"));
            }
            let value = lookup(name);
            let expanded = if op.is_empty() {
                value.unwrap_or_default()
            } else if let Some(default) = op.strip_prefix(":-") {
                value.filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
            } else if let Some(default) = op.strip_prefix('-') {
                value.unwrap_or_else(|| default.to_string())
            } else {
                return Err(format!("line {line}: invalid variable reference ${{{inner}}}"));
            };
            out.push_str(&expanded);
            rest = &inner_start[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------
// YAML tree helpers
// ---------------------------------------------------------------------------

/// Reads Loki's `common.storage.s3` into `storage_config.aws` (keys the
/// file does not set there), then removes every Loki key Balsa has no use
/// for ([`crate::loki_keys::strip_loki_only`]).
fn take_loki_keys(
    doc: &mut Value,
    schema: &Value,
    file: Option<&std::path::Path>,
) -> Result<Vec<crate::loki_keys::Ignored>, ConfigError> {
    let common_s3 = lookup(doc, &["common".into(), "storage".into(), "s3".into()]).cloned();
    if let Some(Value::Mapping(s3)) = common_s3 {
        let aws_schema = lookup(schema, &["storage_config".into(), "aws".into()]).cloned();
        if let Some(Value::Mapping(aws_schema)) = aws_schema {
            for (k, v) in s3 {
                let Some(name) = k.as_str() else { continue };
                if !aws_schema.contains_key(&k) || v.is_null() {
                    continue;
                }
                let path = ["storage_config".to_string(), "aws".to_string(), name.to_string()];
                if lookup(doc, &path).is_none() {
                    set_path(doc, &path, v);
                }
            }
        }
    }
    // Loki's common.storage.filesystem.rules_directory is the ruler's local
    // store unless the ruler names one itself (Loki's config wrapper does the same).
    let rules_dir = lookup(doc, &["common".into(), "storage".into(), "filesystem".into(), "rules_directory".into()])
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        .cloned();
    if let Some(dir) = rules_dir {
        let ruler_dirs: [&[&str]; 2] =
            [&["ruler", "storage", "local", "directory"], &["ruler_storage", "local", "directory"]];
        let set = ruler_dirs.iter().any(|p| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            lookup(doc, &p).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        });
        if !set {
            set_path(doc, &["ruler_storage".into(), "local".into(), "directory".into()], dir);
        }
    }
    crate::loki_keys::strip_loki_only(doc, schema).map_err(|e| ConfigError::UnknownKey {
        origin: file.map(|p| format!(" in config file {}", p.display())).unwrap_or_default(),
        detail: e.to_string(),
        key: e.key,
    })
}

fn to_tree<T: Serialize>(v: &T) -> Value {
    serde_yaml_ng::to_value(v).expect("config serializes to YAML")
}

fn to_yaml(tree: &Value) -> String {
    serde_yaml_ng::to_string(tree).expect("YAML value serializes")
}

/// The default config as a tree: the schema every path is checked against.
fn default_tree() -> Value {
    to_tree(&Config::default())
}

/// A flag's key path: `server.http-listen-port` → `[server, http_listen_port]`
/// (Loki's flags use dashes where its YAML uses underscores).
fn flag_key(name: &str) -> Vec<String> {
    let name = FLAG_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, key)| key);
    name.split('.').map(|s| s.replace('-', "_")).collect()
}

fn lookup<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut at = tree;
    for seg in path {
        at = at.as_mapping()?.get(seg.as_str())?;
    }
    Some(at)
}

fn set_path(doc: &mut Value, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut at = doc;
    for seg in parents {
        if at.is_null() {
            *at = Value::Mapping(Mapping::new());
        }
        let Some(m) = at.as_mapping_mut() else {
            // Not a mapping in the file: leave it, deserialization names it.
            return;
        };
        at = m.entry(Value::String(seg.clone())).or_insert(Value::Null);
    }
    if at.is_null() {
        *at = Value::Mapping(Mapping::new());
    }
    if let Some(m) = at.as_mapping_mut() {
        m.insert(Value::String(last.clone()), value);
    }
}

/// Replaces `section:` (null) with an empty mapping wherever the schema has a
/// section, so that an empty section means its defaults.
fn null_sections_to_empty(doc: &mut Value, schema: &Value) {
    let (Some(m), Some(s)) = (doc.as_mapping_mut(), schema.as_mapping()) else { return };
    for (k, v) in m.iter_mut() {
        if let Some(sub) = s.get(k)
            && sub.is_mapping()
        {
            if v.is_null() {
                *v = Value::Mapping(Mapping::new());
            } else {
                null_sections_to_empty(v, sub);
            }
        }
    }
}

/// Types a flag or env string after the default value at its key.
fn typed_value(schema: &Value, raw: &str) -> Result<Value, String> {
    Ok(match schema {
        Value::Bool(_) => Value::Bool(parse_bool(raw).ok_or("expected true or false")?),
        Value::String(_) => Value::String(raw.to_string()),
        Value::Sequence(_) => Value::Sequence(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect(),
        ),
        Value::Mapping(_) => return Err("names a section, not a key".into()),
        // Numbers and optional values: a YAML scalar (`3200`, `4.5`, `` → null).
        _ => match serde_yaml_ng::from_str::<Value>(raw) {
            Ok(v @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => v,
            _ => Value::String(raw.to_string()),
        },
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn diff_tree(cur: &Value, def: &Value) -> Option<Value> {
    match (cur, def) {
        (Value::Mapping(c), Value::Mapping(d)) => {
            let mut out = Mapping::new();
            for (k, v) in c {
                let changed = match d.get(k) {
                    Some(dv) => diff_tree(v, dv),
                    None => Some(v.clone()),
                };
                if let Some(changed) = changed {
                    out.insert(k.clone(), changed);
                }
            }
            (!out.is_empty()).then_some(Value::Mapping(out))
        }
        _ => (cur != def).then(|| cur.clone()),
    }
}

fn flatten(tree: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match tree.as_mapping() {
        Some(m) => {
            for (k, v) in m {
                path.push(k.as_str().unwrap_or_default().to_string());
                flatten(v, path, out);
                path.pop();
            }
        }
        None => out.push((path.clone(), tree.clone())),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        other => to_yaml(other).trim_end().to_string(),
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A config file that removes itself when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(text: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "balsa-config-test-{}-{}.yaml",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
        fn path(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("balsa").chain(list.iter().copied()).map(String::from).collect()
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(a: &[&str], e: &[(&str, &str)]) -> Result<(Config, LoadInfo), ConfigError> {
        Config::load(args(a), env(e))
    }

    fn load_ok(a: &[&str], e: &[(&str, &str)]) -> Config {
        load(a, e).unwrap_or_else(|err| panic!("{a:?} {e:?}: {err}")).0
    }

    type FlagCase = (&'static [&'static str], fn(&Config) -> bool);
    type EnvCase = (&'static [(&'static str, &'static str)], fn(&Config) -> bool);
    type PrecedenceCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], u16, u16);

    fn load_err(a: &[&str], e: &[(&str, &str)]) -> String {
        match load(a, e) {
            Ok((c, _)) => panic!("{a:?} {e:?}: expected an error, got {c:?}"),
            Err(err) => err.to_string(),
        }
    }

    const LOKI_STYLE: &str = r#"
auth_enabled: true

server:
  http_listen_address: 127.0.0.1
  http_listen_port: 3200
  grpc_listen_port: 9096
  graceful_shutdown_timeout: 1m
  log_level: debug
  log_format: json

common:
  path_prefix: /var/lib/balsa

cluster:
  shards: 32
  node_id: 1
  peers:
    - balsa-0.balsa:9095
    - balsa-1.balsa:9095
    - balsa-2.balsa:9095

distributor:
  max_recv_msg_size: 50MB
  max_decompressed_size: 200MB

limits_config:
  ingestion_rate_mb: 10
  ingestion_burst_size_mb: 20.5
  max_line_size: 1MB
  reject_old_samples_max_age: 168h
  discover_service_name: [app, job]

ingester:
  chunk_target_size: 2MB
  max_chunk_age: 1h
  chunk_idle_period: 15m
"#;

    #[test]
    fn no_file_means_defaults() {
        let (c, info) = load(&[], &[("PATH", "/bin"), ("HOME", "/root")]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(info, LoadInfo::default());
        assert!(!c.auth_enabled);
        assert_eq!(c.server.http_listen_port, 3100);
        assert_eq!(c.server.grpc_listen_port, 9095);
        assert_eq!(c.server.http_listen_address, "0.0.0.0");
        assert_eq!(c.server.graceful_shutdown_timeout, Duration::from_secs(30));
        assert_eq!(c.server.log_level, "info");
        assert_eq!(c.server.log_format, LogFormat::Logfmt);
        assert_eq!(c.common.path_prefix, PathBuf::from("./data"));
        assert_eq!(c.cluster.shards, 16);
        assert_eq!(c.cluster.node_id, None);
        assert!(c.cluster.peers.is_empty());
        assert_eq!(c.distributor.max_recv_msg_size, ByteSize::mib(100));
        assert_eq!(c.distributor.max_decompressed_size, ByteSize::mib(100));
        assert_eq!(c.limits_config, LimitsConfig::default());
        assert_eq!(c.ingester, IngesterConfig::default());
        assert_eq!(c.server.http_addr(), "0.0.0.0:3100");
        c.validate().unwrap();
    }

    #[test]
    fn loki_style_file() {
        let f = TempFile::new(LOKI_STYLE);
        let (c, info) = load(&["-config.file", &f.path()], &[]).unwrap();
        assert_eq!(info.config_file, Some(f.0.clone()));
        assert!(c.auth_enabled);
        assert_eq!(c.server.http_listen_address, "127.0.0.1");
        assert_eq!(c.server.http_listen_port, 3200);
        assert_eq!(c.server.grpc_listen_port, 9096);
        assert_eq!(c.server.grpc_listen_address, "0.0.0.0");
        assert_eq!(c.server.graceful_shutdown_timeout, Duration::from_secs(60));
        assert_eq!(c.server.log_level, "debug");
        assert_eq!(c.server.log_format, LogFormat::Json);
        assert_eq!(c.common.path_prefix, PathBuf::from("/var/lib/balsa"));
        assert_eq!(c.cluster.shards, 32);
        assert_eq!(c.cluster.node_id, Some(1));
        assert_eq!(c.cluster.peers.len(), 3);
        assert_eq!(c.distributor.max_recv_msg_size, ByteSize::mib(50));
        assert_eq!(c.distributor.max_decompressed_size, ByteSize::mib(200));
        assert_eq!(c.limits_config.ingestion_rate_mb, 10.0);
        assert_eq!(c.limits_config.ingestion_burst_size_mb, 20.5);
        assert_eq!(c.limits_config.max_line_size, ByteSize::mib(1));
        assert_eq!(c.limits_config.discover_service_name, vec!["app", "job"]);
        // Keys the file doesn't name keep their defaults.
        assert_eq!(c.limits_config.max_label_names_per_series, 15);
        assert_eq!(c.ingester.chunk_target_size, ByteSize::mib(2));
        assert_eq!(c.ingester.chunk_block_size, ByteSize::kib(256));
        assert_eq!(c.ingester.max_chunk_age, Duration::from_secs(3600));
        assert_eq!(c.node_id("whatever-7"), 1, "an explicit node_id beats the hostname");
    }

    #[test]
    fn file_edge_cases() {
        // Empty files, comments only and empty sections all mean the defaults.
        for text in ["", "# only a comment\n", "server:\nlimits_config:\ningester: ~\n", "{}\n"] {
            let f = TempFile::new(text);
            assert_eq!(load_ok(&["-config.file", &f.path()], &[]), Config::default(), "{text:?}");
        }
        // A flag can set a key in a section the file left empty.
        let f = TempFile::new("server:\n");
        assert_eq!(load_ok(&["-config.file", &f.path(), "-server.http_listen_port=1"], &[]).server.http_listen_port, 1);
        assert_eq!(Config::from_yaml_str("cluster:\n  shards: 8\n").unwrap().cluster.shards, 8);
        // Durations and sizes take numbers too.
        let c =
            Config::from_yaml_str("server:\n  graceful_shutdown_timeout: 5\ndistributor:\n  max_recv_msg_size: 1024\n")
                .unwrap();
        assert_eq!(c.server.graceful_shutdown_timeout, Duration::from_secs(5));
        assert_eq!(c.distributor.max_recv_msg_size, ByteSize::kib(1));
    }

    #[test]
    fn unknown_keys_are_named() {
        // (file, key, did-you-mean): keys that neither Balsa nor Loki has.
        let cases = [
            ("server:\n  http_listen_prot: 3200\n", "server.http_listen_prot", Some("http_listen_port")),
            ("auth_enabeld: true\n", "auth_enabeld", Some("auth_enabled")),
            ("storage_config:\n  aws:\n    bucket_names: x\n", "storage_config.aws.bucket_names", Some("bucketnames")),
            (
                "query_scheduler:\n  max_outstanding_requests_per_tenat: 4\n",
                "query_scheduler.max_outstanding_requests_per_tenat",
                Some("max_outstanding_requests_per_tenant"),
            ),
            ("limits_config:\n  max_line_sise: 1MB\n", "limits_config.max_line_sise", Some("max_line_size")),
            ("ingester:\n  chunk_encodin: snappy\n", "ingester.chunk_encodin", Some("chunk_encoding")),
            ("cluster:\n  shards: 4\n  replicas: 3\n", "cluster.replicas", None),
            ("memberlist:\n  join_member: [a]\n", "memberlist.join_member", Some("join_members")),
        ];
        for (text, key, suggestion) in cases {
            let f = TempFile::new(text);
            let err = load(&["-config.file", &f.path()], &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::UnknownKey { key: k, .. } if k == key), "{text:?}: {err:?}");
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("unknown config key \"{key}\"")), "{msg}");
            assert!(msg.contains(&f.path()), "{msg}");
            match suggestion {
                Some(s) => assert!(msg.contains(&format!("did you mean \"{s}\"?")), "{msg}"),
                None => assert!(!msg.contains("did you mean"), "{msg}"),
            }
            // The same without a file.
            let err = Config::from_yaml_str(text).unwrap_err();
            assert!(matches!(&err, ConfigError::UnknownKey { key: k, .. } if k == key), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn loki_keys_without_a_balsa_meaning_are_set_aside() {
        let f = TempFile::new(
            "server:\n  http_listen_port: 3300\n  grpc_server_max_concurrent_streams: 1000\n\
             common:\n  instance_addr: 127.0.0.1\n  replication_factor: 1\n  ring:\n    kvstore:\n      store: inmemory\n\
             limits_config:\n  max_streams_per_user: 0\n  max_line_size: 1MB\n\
             schema_config:\n  configs:\n    - from: 2020-10-24\n      store: tsdb\n",
        );
        let (c, info) = load(&["-config.file", &f.path()], &[]).unwrap();
        assert_eq!(c.server.http_listen_port, 3300);
        assert_eq!(c.limits_config.max_line_size, ByteSize::mib(1));
        let keys: Vec<&str> = info.ignored_keys.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.grpc_server_max_concurrent_streams",
                "common.instance_addr",
                "common.replication_factor",
                "common.ring",
                "limits_config.max_streams_per_user",
                "schema_config"
            ]
        );
        assert!(info.ignored_keys[2].reason.contains("quorum"), "{:?}", info.ignored_keys[2]);
    }

    #[test]
    fn common_storage_s3_fills_storage_config_aws() {
        let c = Config::from_yaml_str(
            "common:\n  storage:\n    s3:\n      bucketnames: logs\n      region: eu-west-1\n      endpoint: s3.local:9000\n      s3forcepathstyle: true\n\
             storage_config:\n  aws:\n    region: us-east-1\n",
        )
        .unwrap();
        assert_eq!(c.storage_config.aws.bucketnames, "logs");
        assert_eq!(c.storage_config.aws.endpoint, "s3.local:9000");
        assert!(c.storage_config.aws.s3forcepathstyle);
        // storage_config.aws wins where both are set.
        assert_eq!(c.storage_config.aws.region, "us-east-1");

        // The filesystem store's rules directory is the ruler's, unless the ruler names one.
        let text = "common:\n  storage:\n    filesystem:\n      chunks_directory: /c\n      rules_directory: /r\n";
        let c = Config::from_yaml_str(text).unwrap();
        assert_eq!(c.ruler.rules_directory(&c.ruler_storage), Some(PathBuf::from("/r")));
        let c =
            Config::from_yaml_str(&format!("{text}ruler:\n  storage:\n    local:\n      directory: /own\n")).unwrap();
        assert_eq!(c.ruler.rules_directory(&c.ruler_storage), Some(PathBuf::from("/own")));
    }

    #[test]
    fn lokis_own_flags() {
        // Loki's flag names (its configuration reference's `CLI flag` lines):
        // Balsa keys are set, the rest set aside like file keys.
        let (c, info) = load(
            &[
                "-target=all",
                "-ingester.max-chunk-age=1h",
                "-validation.discover-log-levels=false",
                "-auth.enabled",
                "-memberlist.join",
                "loki-memberlist:7946",
                "-server.http-listen-port=3300",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.ingester.max_chunk_age, Duration::from_secs(3600));
        assert!(!c.limits_config.discover_log_levels);
        assert!(c.auth_enabled);
        assert_eq!(c.server.http_listen_port, 3300);
        let keys: Vec<&str> = info.ignored_keys.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["target (flag -target)", "memberlist.join_members (flag -memberlist.join)"]);
        assert!(info.ignored_keys[0].reason.contains("one process"), "{:?}", info.ignored_keys[0]);
        assert!(matches!(load(&["-tarket=all"], &[]), Err(ConfigError::UnknownFlag { .. })));
    }

    #[test]
    fn verify_config_flag() {
        let (_, info) = load(&["-verify-config"], &[]).unwrap();
        assert!(info.verify_config);
        let (_, info) = load(&["-verify-config=false"], &[]).unwrap();
        assert!(!info.verify_config);
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("server:\n  http_listen_port: 70000\n", "server.http_listen_port"),
            ("server:\n  http_listen_port: abc\n", "server.http_listen_port"),
            ("server:\n  log_format: xml\n", "server.log_format"),
            ("server:\n  graceful_shutdown_timeout: 5x\n", "server.graceful_shutdown_timeout"),
            ("limits_config:\n  max_line_size: 12XB\n", "limits_config.max_line_size"),
            ("cluster:\n  peers: a:9095\n", "cluster.peers"),
            ("auth_enabled: maybe\n", "auth_enabled"),
            ("server: 5\n", "server"),
        ];
        for (text, key) in cases {
            let f = TempFile::new(text);
            let err = load(&["-config.file", &f.path()], &[]).unwrap_err();
            assert!(matches!(&err, ConfigError::InvalidValue { key: k, .. } if k == key), "{text:?}: {err:?}");
            assert!(err.to_string().starts_with(&format!("invalid value for config key \"{key}\"")), "{err}");
        }
        // Not YAML, not a mapping, not there.
        let f = TempFile::new("server: [\n");
        assert!(matches!(load(&["-config.file", &f.path()], &[]), Err(ConfigError::ParseFile { .. })));
        let f = TempFile::new("- a\n- b\n");
        let msg = load_err(&["-config.file", &f.path()], &[]);
        assert!(msg.contains("top level must be a mapping"), "{msg}");
        let msg = load_err(&["-config.file=/nonexistent/balsa.yaml"], &[]);
        assert!(msg.starts_with("cannot read config file /nonexistent/balsa.yaml"), "{msg}");
    }

    #[test]
    fn flag_spellings() {
        let f = TempFile::new("server:\n  http_listen_port: 3200\n");
        let p = f.path();
        let spellings: Vec<Vec<String>> = vec![
            vec![format!("-config.file={p}")],
            vec![format!("--config.file={p}")],
            vec!["-config.file".into(), p.clone()],
            vec!["--config.file".into(), p.clone()],
        ];
        for a in spellings {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            assert_eq!(load_ok(&a, &[]).server.http_listen_port, 3200, "{a:?}");
        }
        // Every key, Go style or GNU style, with `=` or a space.
        let cases: &[FlagCase] = &[
            (&["-server.http_listen_port=3200"], |c| c.server.http_listen_port == 3200),
            (&["--server.http_listen_port=3200"], |c| c.server.http_listen_port == 3200),
            (&["-server.http_listen_port", "3200"], |c| c.server.http_listen_port == 3200),
            (&["-server.http-listen-port=3200"], |c| c.server.http_listen_port == 3200),
            (&["--limits_config.max_line_size=1MB"], |c| c.limits_config.max_line_size == ByteSize::mib(1)),
            (&["-limits_config.max_line_size=0"], |c| c.limits_config.max_line_size == ByteSize(0)),
            (&["-limits_config.ingestion_rate_mb=8"], |c| c.limits_config.ingestion_rate_mb == 8.0),
            (&["-limits_config.ingestion_rate_mb=0.5"], |c| c.limits_config.ingestion_rate_mb == 0.5),
            (&["-auth_enabled=true"], |c| c.auth_enabled),
            (&["-auth_enabled"], |c| c.auth_enabled),
            (&["--auth_enabled=1"], |c| c.auth_enabled),
            (&["-auth_enabled", "-server.http_listen_port=1"], |c| c.auth_enabled && c.server.http_listen_port == 1),
            (&["-limits_config.reject_old_samples=false"], |c| !c.limits_config.reject_old_samples),
            (&["-cluster.peers=a:9095,b:9095"], |c| c.cluster.peers == ["a:9095", "b:9095"]),
            (&["-cluster.peers", "a:9095, b:9095,"], |c| c.cluster.peers == ["a:9095", "b:9095"]),
            (&["-limits_config.discover_service_name="], |c| c.limits_config.discover_service_name.is_empty()),
            (&["-cluster.node_id=3"], |c| c.cluster.node_id == Some(3)),
            (&["-cluster.node_id=3", "-cluster.node_id="], |c| c.cluster.node_id.is_none()),
            (&["-cluster.shards=1", "-cluster.shards=4096"], |c| c.cluster.shards == 4096),
            (&["-common.path_prefix=/var/lib/balsa"], |c| c.common.path_prefix.as_os_str() == "/var/lib/balsa"),
            (&["-server.log_format=json"], |c| c.server.log_format == LogFormat::Json),
            (&["-log.level=debug"], |c| c.server.log_level == "debug"),
            (&["-server.graceful_shutdown_timeout=1m30s"], |c| {
                c.server.graceful_shutdown_timeout == Duration::from_secs(90)
            }),
            (&["-ingester.max_chunk_age=30m"], |c| c.ingester.max_chunk_age == Duration::from_secs(1800)),
            (&["-distributor.max_decompressed_size=1GB"], |c| c.distributor.max_decompressed_size.0 == 1 << 30),
            (&["-server.http_listen_address=::1"], |c| c.server.http_addr() == "[::1]:3100"),
        ];
        for (a, check) in cases {
            let c = load_ok(a, &[]);
            assert!(check(&c), "{a:?}: {c:?}");
        }
    }

    #[test]
    fn meta_flags() {
        let (_, info) = load(&["-version"], &[]).unwrap();
        assert!(info.version && !info.help);
        let (_, info) = load(&["--version"], &[]).unwrap();
        assert!(info.version);
        for h in ["-help", "--help", "-h"] {
            let (c, info) = load(&[h], &[]).unwrap();
            assert!(info.help, "{h}");
            assert_eq!(c, Config::default());
        }
        // -help reads no file, so a missing one is no error.
        assert!(load(&["-help", "-config.file=/nonexistent"], &[]).unwrap().1.help);
        let (_, info) = load(&["-print-config-stderr"], &[]).unwrap();
        assert!(info.print_config_stderr);
        let (_, info) = load(&["-print-config-stderr=false", "-config.expand-env=true"], &[]).unwrap();
        assert!(!info.print_config_stderr && info.expand_env);

        let usage = Config::usage("balsa");
        for needle in [
            "-config.file",
            "-config.expand-env",
            "-server.http_listen_port",
            "BALSA_SERVER__HTTP_LISTEN_PORT",
            "\"3100\"",
            "-limits_config.max_line_size",
            "-cluster.peers",
            "BALSA_INGESTER__MAX_CHUNK_AGE",
        ] {
            assert!(usage.contains(needle), "usage lacks {needle}:\n{usage}");
        }
    }

    #[test]
    fn bad_flags_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (&["-server.http_listen_prot=3200"], "unknown flag \"-server.http_listen_prot\""),
            (&["--nope"], "unknown flag \"-nope\""),
            (&["-server.nope.deeper=1"], "unknown flag \"-server.nope.deeper\""),
            (&["-server.http_listen_port.x=1"], "unknown flag \"-server.http_listen_port.x\""),
            (&["-storage_config.aws.secret_key=x"], "unknown flag \"-storage_config.aws.secret_key\""),
            (
                &["-storage_config.aws.secret_access_key=x"],
                "invalid config key \"storage_config.aws.secret_access_key\": access_key_id and secret_access_key",
            ),
            (&["-server=x"], "flag -server names the section \"server\""),
            (&["-server.http_listen_port"], "flag -server.http_listen_port needs a value"),
            (&["-config.file"], "flag -config.file needs a value"),
            (&["-auth_enabled=yes"], "invalid value \"yes\" for flag -auth_enabled: expected true or false"),
            (&["-config.expand-env=on"], "invalid value \"on\" for flag -config.expand-env"),
            (
                &["-server.http_listen_port=abc"],
                "config key \"server.http_listen_port\" (from flag -server.http_listen_port)",
            ),
            (&["-server.http_listen_port=99999"], "config key \"server.http_listen_port\" (from flag"),
            (&["-limits_config.max_line_size=huge"], "config key \"limits_config.max_line_size\""),
            (&["config.yaml"], "unexpected argument \"config.yaml\""),
            (&["--", "x"], "unexpected argument \"x\""),
            (&["-cluster.shards=0"], "invalid config key \"cluster.shards\": must be between 1 and 4096"),
            (&["-cluster.shards=4097"], "invalid config key \"cluster.shards\""),
            (&["-cluster.shards=-1"], "config key \"cluster.shards\""),
        ];
        for (a, want) in cases {
            let msg = load_err(a, &[]);
            assert!(msg.contains(want), "{a:?}: {msg:?} lacks {want:?}");
        }
    }

    #[test]
    fn retention_stream_selectors_are_checked() {
        let yaml = |selector: &str| {
            format!(
                "limits_config:\n  retention_stream:\n  - selector: '{selector}'\n    priority: 1\n    period: 24h\n"
            )
        };
        let c = Config::from_yaml_str(&yaml(r#"{ns="dev"}"#)).unwrap();
        assert!(c.validate().is_ok());
        assert_eq!(c.limits_config.retention_stream[0].period.0, std::time::Duration::from_secs(86400));
        let err = Config::from_yaml_str(&yaml("nope")).unwrap().validate().unwrap_err().to_string();
        assert!(err.contains("limits_config.retention_stream[0].selector"), "{err}");
    }

    #[test]
    fn env_overrides() {
        let cases: &[EnvCase] = &[
            (&[("BALSA_SERVER__HTTP_LISTEN_PORT", "3200")], |c| c.server.http_listen_port == 3200),
            (&[("BALSA_AUTH_ENABLED", "true")], |c| c.auth_enabled),
            (&[("BALSA_COMMON__PATH_PREFIX", "/var/lib/balsa")], |c| {
                c.common.path_prefix.as_os_str() == "/var/lib/balsa"
            }),
            (&[("BALSA_CLUSTER__PEERS", "a:9095,b:9095")], |c| c.cluster.peers == ["a:9095", "b:9095"]),
            (&[("BALSA_LIMITS_CONFIG__MAX_LINE_SIZE", "1MB")], |c| c.limits_config.max_line_size == ByteSize::mib(1)),
            (&[("BALSA_CLUSTER__NODE_ID", "5")], |c| c.cluster.node_id == Some(5)),
            (&[("balsa_auth_enabled", "true"), ("LOKI_AUTH_ENABLED", "true")], |c| !c.auth_enabled),
        ];
        for (e, check) in cases {
            let c = load_ok(&[], e);
            assert!(check(&c), "{e:?}: {c:?}");
        }
        let (_, info) = load(&[], &[("BALSA_AUTH_ENABLED", "1")]).unwrap();
        assert_eq!(info.overrides.get("auth_enabled"), Some(&ValueSource::Env("BALSA_AUTH_ENABLED".into())));

        // Variables that name no key are reported, not fatal: Kubernetes sets
        // BALSA_PORT and BALSA_SERVICE_HOST for a Service named balsa.
        let stray =
            [("BALSA_SERVER__HTTP_LISTEN_PROT", "1"), ("BALSA_SERVER", "1"), ("BALSA_PORT", "tcp://10.0.0.1:3100")];
        let (cfg, info) = load(&[], &stray).unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(info.ignored_env, vec!["BALSA_SERVER__HTTP_LISTEN_PROT", "BALSA_SERVER", "BALSA_PORT"]);

        let bad: &[(&[(&str, &str)], &str)] = &[
            (&[("BALSA_AUTH_ENABLED", "yes")], "invalid value \"yes\" in environment variable BALSA_AUTH_ENABLED"),
            (
                &[("BALSA_SERVER__GRPC_LISTEN_PORT", "x")],
                "config key \"server.grpc_listen_port\" (from environment variable BALSA_SERVER__GRPC_LISTEN_PORT)",
            ),
        ];
        for (e, want) in bad {
            let msg = load_err(&[], e);
            assert!(msg.contains(want), "{e:?}: {msg:?} lacks {want:?}");
        }
    }

    #[test]
    fn precedence() {
        let f = TempFile::new("server:\n  http_listen_port: 3200\n  grpc_listen_port: 9200\nauth_enabled: false\n");
        let file = format!("-config.file={}", f.path());
        // (flags, env, expected http port, expected grpc port)
        let cases: &[PrecedenceCase] = &[
            (&[], &[], 3100, 9095),
            (&[&file], &[], 3200, 9200),
            (&[&file, "-server.http_listen_port=3300"], &[], 3300, 9200),
            (&["-server.http_listen_port=3300", &file], &[], 3300, 9200),
            (&[&file], &[("BALSA_SERVER__HTTP_LISTEN_PORT", "3400")], 3400, 9200),
            (&[&file, "-server.http_listen_port=3300"], &[("BALSA_SERVER__HTTP_LISTEN_PORT", "3400")], 3300, 9200),
            (&["-server.http_listen_port=3300"], &[("BALSA_SERVER__HTTP_LISTEN_PORT", "3400")], 3300, 9095),
            (&[], &[("BALSA_SERVER__GRPC_LISTEN_PORT", "9300")], 3100, 9300),
            (&["-server.http_listen_port=3300", "-server.http_listen_port=3500"], &[], 3500, 9095),
        ];
        for (a, e, http, grpc) in cases {
            let c = load_ok(a, e);
            assert_eq!((c.server.http_listen_port, c.server.grpc_listen_port), (*http, *grpc), "{a:?} {e:?}");
        }
        let (c, info) = load(&[&file, "-auth_enabled"], &[("BALSA_AUTH_ENABLED", "false")]).unwrap();
        assert!(c.auth_enabled);
        assert_eq!(info.overrides.get("auth_enabled"), Some(&ValueSource::Flag("-auth_enabled".into())));
    }

    #[test]
    fn expand_env_in_file() {
        let text = "server:\n  http_listen_port: ${PORT}\n  log_level: ${LEVEL:-warn}\ncommon:\n  path_prefix: ${DIR:-/data}/balsa\n";
        let f = TempFile::new(text);
        let file = format!("-config.file={}", f.path());
        // Without -config.expand-env the text is taken as is.
        let msg = load_err(&[&file], &[("PORT", "3200")]);
        assert!(msg.contains("server.http_listen_port"), "{msg}");
        let c = load_ok(&[&file, "-config.expand-env=true"], &[("PORT", "3200"), ("DIR", "/srv")]);
        assert_eq!(c.server.http_listen_port, 3200);
        assert_eq!(c.server.log_level, "warn");
        assert_eq!(c.common.path_prefix, PathBuf::from("/srv/balsa"));
        let c = load_ok(&[&file, "-config.expand-env"], &[("PORT", "3300"), ("LEVEL", "error"), ("DIR", "")]);
        assert_eq!((c.server.http_listen_port, c.server.log_level.as_str()), (3300, "error"));
        assert_eq!(c.common.path_prefix, PathBuf::from("/data/balsa"));

        let vars: BTreeMap<&str, &str> = [("A", "1"), ("EMPTY", "")].into_iter().collect();
        let get = |n: &str| vars.get(n).map(|v| v.to_string());
        let cases = [
            ("x${A}y", "x1y"),
            ("${UNSET}", ""),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${UNSET-d}", "d"),
            ("${A:-d}", "1"),
            ("${UNSET:-a b:c}", "a b:c"),
            ("cost $$5 and ${A}", "cost $5 and 1"),
            ("regex ^a$ $A", "regex ^a$ $A"),
            ("no vars", "no vars"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_env(input, get).unwrap(), want, "{input}");
        }
        for bad in ["a\n${A", "${}", "${1A}", "${A?err}"] {
            assert!(expand_env(bad, get).is_err(), "{bad}");
        }
        assert!(expand_env("a\nb\n${A", get).unwrap_err().starts_with("line 3"));
    }

    #[test]
    fn runtime_config_keys() {
        let c = Config::default();
        assert_eq!(c.runtime_config, RuntimeConfigConfig { file: String::new(), period: Duration::from_secs(10) });
        // Loki's flag names, and the key names.
        let c = load_ok(&["-runtime-config.file=/etc/balsa/runtime.yaml", "-runtime-config.reload-period=1s"], &[]);
        assert_eq!(c.runtime_config.file, "/etc/balsa/runtime.yaml");
        assert_eq!(c.runtime_config.period, Duration::from_secs(1));
        let c = load_ok(&["-runtime_config.period=30s"], &[("BALSA_RUNTIME_CONFIG__FILE", "a.yaml,b.yaml")]);
        assert_eq!(
            (c.runtime_config.file.as_str(), c.runtime_config.period),
            ("a.yaml,b.yaml", Duration::from_secs(30))
        );
        let f = TempFile::new("runtime_config:\n  file: /srv/runtime.yaml\n  period: 5s\n");
        let c = load_ok(&["-config.file", &f.path()], &[]);
        assert_eq!(c.runtime_config.file, "/srv/runtime.yaml");
        assert_eq!(c.runtime_config.period, Duration::from_secs(5));
        let f = TempFile::new("runtime_config:\n  file: /srv/runtime.yaml\n  reload_period: 5s\n");
        let msg = load_err(&["-config.file", &f.path()], &[]);
        assert!(msg.contains("unknown config key \"runtime_config.reload_period\""), "{msg}");
        // A period of 0 only matters when there is a file to reload.
        load_ok(&["-runtime_config.period=0"], &[]);
        let msg = load_err(&["-runtime_config.file=r.yaml", "-runtime_config.period=0"], &[]);
        assert!(msg.starts_with("invalid config key \"runtime_config.period\""), "{msg}");
    }

    #[test]
    fn health_check_asks_the_configured_listener() {
        let (c, info) = load(&["-health-check", "-server.http_listen_port=3105"], &[]).unwrap();
        assert!(info.health_check);
        assert_eq!(c.server.ready_url(), "http://127.0.0.1:3105/ready");
        let c = load_ok(&["-server.http_listen_address=10.1.2.3"], &[]);
        assert_eq!(c.server.ready_url(), "http://10.1.2.3:3100/ready");
        let c = load_ok(&["-server.http_listen_address=::"], &[]);
        assert_eq!(c.server.ready_url(), "http://[::1]:3100/ready");
        let c = load_ok(&["-server.http_listen_address=fd00::1"], &[]);
        assert_eq!(c.server.ready_url(), "http://[fd00::1]:3100/ready");
        assert!(!load(&[], &[]).unwrap().1.health_check);
    }

    #[test]
    fn node_id_from_hostname() {
        let cases = [
            ("balsa-2", 2),
            ("balsa", 0),
            ("balsa-0", 0),
            ("balsa-12.balsa.default.svc.cluster.local", 12),
            ("my-balsa-3", 3),
            ("balsa-x", 0),
            ("balsa-", 0),
            ("balsa2", 0),
            ("", 0),
            ("balsa-2\n", 2),
        ];
        let c = Config::default();
        for (host, id) in cases {
            assert_eq!(c.node_id(host), id, "{host:?}");
        }
        let c = load_ok(&["-cluster.node_id=7"], &[]);
        assert_eq!(c.node_id("balsa-2"), 7);
        let c = load_ok(&["-cluster.node_id=0"], &[]);
        assert_eq!(c.node_id("balsa-2"), 0);
    }

    #[test]
    fn validation() {
        let cases: &[(&[&str], &str)] = &[
            (&["-server.http_listen_port=0"], "server.http_listen_port"),
            (&["-server.grpc_listen_port=0"], "server.grpc_listen_port"),
            (&["-server.grpc_listen_port=3100"], "must differ from server.http_listen_port"),
            (&["-server.http_listen_address="], "server.http_listen_address"),
            (&["-server.log_level=verbose"], "server.log_level"),
            (&["-common.path_prefix="], "common.path_prefix"),
            (&["-cluster.peers=a:9095,a:9095"], "\"a:9095\" is listed twice"),
            (&["-cluster.peers=a"], "\"a\" is not host:grpc_port"),
            (&["-cluster.peers=:9095"], "cluster.peers"),
            (&["-cluster.peers=a:0"], "cluster.peers"),
            (&["-distributor.max_recv_msg_size=0"], "distributor.max_recv_msg_size"),
            (&["-distributor.max_decompressed_size=0"], "distributor.max_decompressed_size"),
            (&["-limits_config.ingestion_rate_mb=-1"], "limits_config.ingestion_rate_mb"),
            (&["-limits_config.ingestion_burst_size_mb=.nan"], "limits_config.ingestion_burst_size_mb"),
            (&["-limits_config.max_label_names_per_series=0"], "limits_config.max_label_names_per_series"),
            (&["-ingester.max_chunk_age=0"], "ingester.max_chunk_age"),
            (&["-ingester.chunk_block_size=0"], "ingester.chunk_block_size"),
            (&["-ingester.chunk_encoding=brotli"], "invalid encoding: brotli, supported: none, gzip"),
        ];
        for (a, key) in cases {
            let msg = load_err(a, &[]);
            assert!(msg.starts_with("invalid config key"), "{a:?}: {msg}");
            assert!(msg.contains(key), "{a:?}: {msg:?} lacks {key:?}");
        }
        load_ok(&["-cluster.peers=balsa-0.balsa:9095,[::1]:9095,10.0.0.1:9095"], &[]);
        load_ok(&["-cluster.shards=4096", "-server.http_listen_port=80", "-server.grpc_listen_port=81"], &[]);
        // Every encoding Loki knows loads (Loki's own default is gzip).
        for enc in ["none", "gzip", "lz4-64k", "snappy", "lz4-256k", "lz4-1M", "lz4", "flate", "zstd"] {
            load_ok(&[&format!("-ingester.chunk_encoding={enc}")], &[]);
        }
    }

    #[test]
    fn secret_keys() {
        let cases = [
            ("secret_access_key", true),
            ("client_secret", true),
            ("password", true),
            ("basic_auth_password", true),
            ("api_key", true),
            ("access_key", true),
            ("bearer_token", true),
            ("session_token", true),
            ("credentials", true),
            ("apikey", true),
            ("access_key_id", false),
            ("password_file", false),
            ("secret_path", false),
            ("kms_key_id", false),
            ("num_tokens", false),
            ("tokens_file_path", false),
            ("http_listen_port", false),
            ("max_line_size", false),
            ("path_prefix", false),
            ("peers", false),
        ];
        for (name, secret) in cases {
            assert_eq!(is_secret_key(name), secret, "{name}");
        }
        // Every key the config has today is shown as is.
        let c = load_ok(&["-auth_enabled", "-cluster.peers=a:1,b:2"], &[]);
        assert_eq!(serde_yaml_ng::from_str::<Config>(&c.to_yaml_masked()).unwrap(), c);
    }

    #[test]
    fn a_loki_ruler_config_loads_and_its_secrets_are_masked() {
        // The ruler section of Loki's docs (alert/_index.md) plus remote write and limits.
        let c = Config::from_yaml_str(
            r#"
ruler:
  storage:
    type: local
    local:
      directory: /tmp/rules
  rule_path: /tmp/scratch
  alertmanager_url: http://localhost:9093
  ring:
    kvstore:
      store: inmemory
  enable_api: true
  remote_write:
    enabled: true
    clients:
      local:
        url: http://localhost:9090/api/v1/write
        basic_auth:
          username: u
          password: hunter2
        queue_config:
          capacity: 100
ruler_storage:
  backend: local
  local:
    directory: /etc/rules
limits_config:
  ruler_max_rules_per_rule_group: 20
  ruler_max_rule_groups_per_tenant: 5
  ruler_remote_write_disabled: false
  ruler_tenant_shard_size: 3
"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.ruler.alertmanager_urls(), vec!["http://localhost:9093"]);
        assert_eq!(c.ruler.rules_directory(&c.ruler_storage), Some(PathBuf::from("/etc/rules")));
        assert_eq!(c.limits_config.ruler_max_rules_per_rule_group, 20);
        let masked = c.to_yaml_masked();
        assert!(!masked.contains("hunter2"), "{masked}");
        assert_eq!(
            serde_yaml_ng::from_str::<Config>(&masked).unwrap().ruler.alertmanager_url,
            c.ruler.alertmanager_url
        );

        // Flags set ruler keys; a misspelled ruler key is an error that names it.
        let c = load_ok(&["-ruler.evaluation_interval=5s", "-ruler.alertmanager_url=http://am:9093"], &[]);
        assert_eq!(c.ruler.evaluation_interval, Duration::from_secs(5));
        let err = Config::from_yaml_str(
            "ruler:
  alertmanager_urls: x
",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ruler.alertmanager_urls"), "{err}");
        let bad = Config::from_yaml_str(
            "ruler:
  alertmanager_url: am:9093
",
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(bad.to_string().contains("ruler.alertmanager_url"), "{bad}");
    }

    #[test]
    fn masking() {
        let mut tree: Value = serde_yaml_ng::from_str(
            r#"
storage_config:
  aws:
    endpoint: s3.example.com
    access_key_id: AKIA123
    secret_access_key: hunter2
    session_token: ""
    sse:
      kms_key_id: k1
ruler:
  alertmanager_client:
    basic_auth_password: pw
    basic_auth_username: admin
    credentials: null
  headers_secret:
    X-A: "1"
    X-B: ["2", 3]
api_key: 42
"#,
        )
        .unwrap();
        mask_secrets(&mut tree);
        let get = |path: &str| lookup(&tree, &path.split('.').map(String::from).collect::<Vec<_>>()).cloned();
        let s = |v: &str| Some(Value::String(v.into()));
        assert_eq!(get("storage_config.aws.endpoint"), s("s3.example.com"));
        assert_eq!(get("storage_config.aws.access_key_id"), s("AKIA123"));
        assert_eq!(get("storage_config.aws.secret_access_key"), s(MASK));
        assert_eq!(get("storage_config.aws.session_token"), s(""), "empty secrets show they are unset");
        assert_eq!(get("storage_config.aws.sse.kms_key_id"), s("k1"));
        assert_eq!(get("ruler.alertmanager_client.basic_auth_password"), s(MASK));
        assert_eq!(get("ruler.alertmanager_client.basic_auth_username"), s("admin"));
        assert_eq!(get("ruler.alertmanager_client.credentials"), Some(Value::Null));
        assert_eq!(get("ruler.headers_secret.X-A"), s(MASK));
        assert_eq!(
            get("ruler.headers_secret.X-B"),
            Some(Value::Sequence(vec![Value::String(MASK.into()), Value::String(MASK.into())]))
        );
        assert_eq!(get("api_key"), s(MASK));
        let yaml = to_yaml(&tree);
        assert!(!yaml.contains("hunter2") && !yaml.contains("pw\n") && !yaml.contains("42"), "{yaml}");
    }

    #[test]
    fn config_endpoint_modes() {
        // Defaults: the whole default config, which parses back to itself.
        let defaults = Config::defaults_yaml();
        assert_eq!(Config::from_yaml_str(&defaults).unwrap(), Config::default());
        for needle in ["auth_enabled: false", "http_listen_port: 3100", "path_prefix: ./data", "shards: 16"] {
            assert!(defaults.contains(needle), "{needle}:\n{defaults}");
        }
        assert_eq!(Config::default().diff_from_default_yaml().trim(), "{}");

        // Effective config round-trips, whatever was set.
        let f = TempFile::new(LOKI_STYLE);
        let c = load_ok(&["-config.file", &f.path(), "-limits_config.max_line_size=2MB"], &[]);
        assert_eq!(Config::from_yaml_str(&c.to_yaml_masked()).unwrap(), c);

        // Diffs: only what differs, sections with no change left out.
        let c = load_ok(
            &["-server.http_listen_port=3200", "-cluster.peers=a:9095", "-limits_config.max_line_size=1MB"],
            &[("BALSA_AUTH_ENABLED", "true")],
        );
        let diff: Value = serde_yaml_ng::from_str(&c.diff_from_default_yaml()).unwrap();
        let want: Value = serde_yaml_ng::from_str(
            "auth_enabled: true\nserver:\n  http_listen_port: 3200\ncluster:\n  peers: [a:9095]\nlimits_config:\n  max_line_size: 1MB\n",
        )
        .unwrap();
        assert_eq!(diff, want);
        // A diff is itself a valid config that yields the same result.
        assert_eq!(Config::from_yaml_str(&c.diff_from_default_yaml()).unwrap(), c);

        // Setting a key to its default is no diff; node_id appears once set.
        let c = load_ok(&["-server.http_listen_port=3100", "-cluster.node_id=2"], &[]);
        let diff: Value = serde_yaml_ng::from_str(&c.diff_from_default_yaml()).unwrap();
        assert_eq!(diff, serde_yaml_ng::from_str::<Value>("cluster:\n  node_id: 2\n").unwrap());
    }

    #[test]
    fn lokis_querier_section_keeps_multi_tenant_queries_and_sets_the_rest_aside() {
        let f = TempFile::new("querier:\n  multi_tenant_queries_enabled: true\n  max_concurrent: 8\n");
        let (c, info) = load(&[&format!("-config.file={}", f.path())], &[]).unwrap();
        assert!(c.querier.multi_tenant_queries_enabled);
        let keys: Vec<&str> = info.ignored_keys.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["querier.max_concurrent"]);
        assert!(load_ok(&["-querier.multi_tenant_queries_enabled"], &[]).querier.multi_tenant_queries_enabled);
        assert!(!Config::default().querier.multi_tenant_queries_enabled);
    }

    #[test]
    fn diff_tree_masks_and_prunes() {
        let cur: Value = serde_yaml_ng::from_str("a: {x: 1, y: 2}\nb: {password: new}\nc: [1]\n").unwrap();
        let def: Value = serde_yaml_ng::from_str("a: {x: 1, y: 3}\nb: {password: old}\nc: [1]\n").unwrap();
        let mut diff = diff_tree(&cur, &def).unwrap();
        mask_secrets(&mut diff);
        assert_eq!(diff, serde_yaml_ng::from_str::<Value>("a: {y: 2}\nb: {password: '********'}\n").unwrap());
    }
}
