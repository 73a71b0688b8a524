//! Per-tenant limits, as Loki's runtime configuration gives them: a tenant's
//! effective limits are the `limits_config` defaults with the keys of its
//! `overrides` entry laid over them (only the keys given).
//!
//! The runtime configuration is one or more YAML files (`runtime_config.file`,
//! comma-separated, merged left to right like dskit's `runtimeconfig`):
//!
//! ```yaml
//! overrides:
//!   tenant-a:
//!     max_entries_limit_per_query: 10000
//!     ingestion_rate_mb: 16
//! ```
//!
//! [`RuntimeConfig::reload`] reads the files again; a file that cannot be read
//! or parsed, an unknown key or an invalid value fails the whole reload and the
//! previous overrides stay in force. [`Overrides::limits_for`] is what request
//! handlers call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::limits::LimitsConfig;

/// Each overridden tenant's effective limits.
pub type TenantLimits = HashMap<String, Arc<LimitsConfig>>;

/// The defaults and the per-tenant overrides in force. Thread-safe; readers
/// take a cheap snapshot (`Arc` clones) while a reload swaps the whole map.
#[derive(Debug)]
pub struct Overrides {
    defaults: Arc<LimitsConfig>,
    tenants: RwLock<Arc<TenantLimits>>,
}

impl Overrides {
    /// Every tenant gets `defaults` until [`set`](Self::set) says otherwise.
    pub fn new(defaults: LimitsConfig) -> Self {
        Self { defaults: Arc::new(defaults), tenants: RwLock::new(Arc::new(HashMap::new())) }
    }

    /// `limits_config`: the limits of tenants without an override.
    pub fn defaults(&self) -> &LimitsConfig {
        &self.defaults
    }

    /// `tenant`'s effective limits.
    pub fn limits_for(&self, tenant: &str) -> Arc<LimitsConfig> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        match tenants.get(tenant) {
            Some(l) => Arc::clone(l),
            None => Arc::clone(&self.defaults),
        }
    }

    /// Replaces every override at once.
    pub fn set(&self, tenants: TenantLimits) {
        *self.tenants.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tenants);
    }

    /// The overrides in force.
    pub fn tenants(&self) -> Arc<TenantLimits> {
        Arc::clone(&self.tenants.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The top level of a runtime configuration file. Loki also has `configs`
/// and `multi_kv_config`; Balsa has nothing they could configure, so they are
/// unknown keys here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeDoc {
    #[serde(default)]
    overrides: Option<Mapping>,
}

/// Parses runtime configuration documents, given as `(name, text)` and merged
/// left to right (mappings key by key at every level, anything else
/// replaced), into each overridden tenant's effective limits. Errors name the
/// document or the key path (`overrides.<tenant>.<key>`).
pub fn parse_runtime_config(docs: &[(String, String)], defaults: &LimitsConfig) -> Result<TenantLimits, String> {
    parse_runtime_config_with(docs, defaults, &|_: &[&str]| false, &mut Vec::new())
}

/// Tells whether a key path (`["configs"]` at the top level, `["limits_config",
/// "max_streams_per_user"]` for a tenant's limit) is a Loki key Balsa has no
/// use for: such keys are dropped instead of refused.
pub type ForeignKeys = dyn Fn(&[&str]) -> bool + Send + Sync;

/// [`parse_runtime_config`], dropping the keys `foreign` recognizes and
/// adding their paths (`overrides.<tenant>.<key>`, or the top-level key) to
/// `dropped`.
pub fn parse_runtime_config_with(
    docs: &[(String, String)],
    defaults: &LimitsConfig,
    foreign: &ForeignKeys,
    dropped: &mut Vec<String>,
) -> Result<TenantLimits, String> {
    let mut merged = Value::Mapping(Mapping::new());
    for (name, text) in docs {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        match doc {
            Value::Null => {}
            Value::Mapping(_) => merge(&mut merged, doc),
            _ => return Err(format!("{name}: the top level must be a mapping with an overrides key")),
        }
    }
    if let Value::Mapping(top) = &mut merged {
        let names: Vec<Value> = top.keys().cloned().collect();
        for k in names {
            if let Some(name) = k.as_str().filter(|n| *n != "overrides" && foreign(&[n])) {
                dropped.push(name.to_string());
                top.remove(&k);
            }
        }
    }
    let doc: RuntimeDoc =
        serde_path_to_error::deserialize(merged).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    let base = match serde_yaml_ng::to_value(defaults) {
        Ok(Value::Mapping(m)) => m,
        Ok(_) => return Err("limits_config does not serialize to a mapping".into()),
        Err(e) => return Err(format!("limits_config: {e}")),
    };
    let mut out = HashMap::new();
    for (key, value) in doc.overrides.unwrap_or_default() {
        let tenant = match key {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => return Err(format!("overrides: tenant names must be strings, got {}", describe(&other))),
        };
        let limits = match value {
            // `tenant:` with nothing under it: the defaults (Loki skips it).
            Value::Null => defaults.clone(),
            Value::Mapping(mut m) => {
                let names: Vec<Value> = m.keys().cloned().collect();
                for k in names {
                    let known = k.as_str().is_some_and(|n| base.contains_key(&k) || !foreign(&["limits_config", n]));
                    if !known {
                        dropped.push(format!("overrides.{tenant}.{}", k.as_str().unwrap_or_default()));
                        m.remove(&k);
                    }
                }
                overlay(&base, m).map_err(|e| format!("overrides.{tenant}.{e}"))?
            }
            other => {
                return Err(format!(
                    "overrides.{tenant}: expected a mapping of limits_config keys, got {}",
                    describe(&other)
                ));
            }
        };
        if let Err((key, reason)) = limits.validate() {
            return Err(format!("invalid override for tenant {tenant:?}: {key} {reason}"));
        }
        out.insert(tenant, Arc::new(limits));
    }
    Ok(out)
}

/// `base` (the defaults as YAML) with `keys` laid over it. A key set to null
/// keeps its default, as Go's YAML decoder does for a plain field.
fn overlay(base: &Mapping, keys: Mapping) -> Result<LimitsConfig, String> {
    let mut m = base.clone();
    for (k, v) in keys {
        if !v.is_null() {
            m.insert(k, v);
        }
    }
    serde_path_to_error::deserialize::<_, LimitsConfig>(Value::Mapping(m))
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// dskit's merge of runtime config files: mappings merge key by key,
/// recursively; any other value of a later file replaces the earlier one.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// What a [`RuntimeConfig::reload`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// The files are as last applied; nothing was parsed.
    Unchanged,
    /// New overrides are in force, for this many tenants.
    Applied { tenants: usize },
}

/// Loki's runtime configuration manager for the `overrides` section: knows
/// the files and the [`Overrides`] they feed.
pub struct RuntimeConfig {
    files: Vec<PathBuf>,
    overrides: Arc<Overrides>,
    /// The texts last applied, to skip parsing when nothing changed.
    applied: Mutex<Option<Vec<String>>>,
    foreign: Arc<ForeignKeys>,
    /// Loki keys dropped by the last parse.
    dropped: Mutex<Vec<String>>,
}

impl std::fmt::Debug for RuntimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeConfig").field("files", &self.files).field("overrides", &self.overrides).finish()
    }
}

impl RuntimeConfig {
    /// `files` is `runtime_config.file`: paths separated by commas.
    pub fn new(files: &str, overrides: Arc<Overrides>) -> Self {
        let files = files.split(',').map(str::trim).filter(|f| !f.is_empty()).map(PathBuf::from).collect();
        Self {
            files,
            overrides,
            applied: Mutex::new(None),
            foreign: Arc::new(|_: &[&str]| false),
            dropped: Mutex::new(Vec::new()),
        }
    }

    /// Loki keys to drop rather than refuse (see [`parse_runtime_config_with`]).
    pub fn with_foreign_keys(mut self, foreign: Arc<ForeignKeys>) -> Self {
        self.foreign = foreign;
        self
    }

    /// The Loki keys the last applied parse dropped.
    pub fn dropped_keys(&self) -> Vec<String> {
        self.dropped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn overrides(&self) -> &Arc<Overrides> {
        &self.overrides
    }

    /// Reads and parses every file and, if all is well, puts the new
    /// overrides in force. On any error the previous overrides stay and the
    /// error says which file or key is wrong.
    pub fn reload(&self) -> Result<Reload, String> {
        let mut docs = Vec::with_capacity(self.files.len());
        for path in &self.files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read runtime config file {}: {e}", path.display()))?;
            docs.push((format!("runtime config file {}", path.display()), text));
        }
        let texts: Vec<String> = docs.iter().map(|(_, t)| t.clone()).collect();
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if applied.as_ref() == Some(&texts) {
            return Ok(Reload::Unchanged);
        }
        let mut dropped = Vec::new();
        let tenants = parse_runtime_config_with(&docs, self.overrides.defaults(), &*self.foreign, &mut dropped)
            .map_err(|e| {
                if e.starts_with("runtime config file ") {
                    e
                } else {
                    let names: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
                    let what = if names.len() == 1 { "runtime config file" } else { "runtime config files" };
                    format!("{what} {}: {e}", names.join(","))
                }
            })?;
        let count = tenants.len();
        self.overrides.set(tenants);
        *self.dropped.lock().unwrap_or_else(|p| p.into_inner()) = dropped;
        *applied = Some(texts);
        Ok(Reload::Applied { tenants: count })
    }
}

#[cfg(test)]
mod tests {
    use balsa_model::units::{ByteSize, Duration};

    use super::*;

    fn parse(texts: &[&str]) -> Result<TenantLimits, String> {
        let docs: Vec<(String, String)> =
            texts.iter().enumerate().map(|(i, t)| (format!("doc{i}"), t.to_string())).collect();
        parse_runtime_config(&docs, &LimitsConfig::default())
    }

    #[test]
    fn loki_keys_balsa_does_not_use_are_dropped_not_refused() {
        // The caller (the node) knows Loki's keys; here two stand in for them.
        let foreign = |path: &[&str]| matches!(path, ["configs"] | ["limits_config", "max_streams_per_user"]);
        let docs = vec![(
            "rc".to_string(),
            "configs: {a: {log_stream_creation: true}}\noverrides:\n  t1:\n    max_streams_per_user: 5\n    max_line_size: 10KB\n"
                .to_string(),
        )];
        let mut dropped = Vec::new();
        let got = parse_runtime_config_with(&docs, &LimitsConfig::default(), &foreign, &mut dropped).unwrap();
        assert_eq!(got["t1"].max_line_size, ByteSize::kib(10));
        assert_eq!(dropped, ["configs", "overrides.t1.max_streams_per_user"]);
        // Without that knowledge both are errors, and a typo always is.
        assert!(parse_runtime_config(&docs, &LimitsConfig::default()).is_err());
        let typo = vec![("rc".to_string(), "overrides:\n  t1:\n    max_line_sise: 1\n".to_string())];
        let err = parse_runtime_config_with(&typo, &LimitsConfig::default(), &foreign, &mut Vec::new()).unwrap_err();
        assert!(err.contains("max_line_sise"), "{err}");
    }

    #[test]
    fn overrides_overlay_only_the_keys_given() {
        let defaults = LimitsConfig::default();
        let got = parse(&[r#"
overrides:
  fake:
    max_entries_limit_per_query: 5
    max_line_size: 1MB
    query_timeout: 2m
  "tenant-b":
    ingestion_rate_mb: 16
    discover_service_name: [svc]
  123:
    max_query_series: 7
  empty:
"#])
        .unwrap();
        assert_eq!(got.len(), 4);
        let fake = &got["fake"];
        assert_eq!(fake.max_entries_limit_per_query, 5);
        assert_eq!(fake.max_line_size, ByteSize::mib(1));
        assert_eq!(fake.query_timeout, Duration::from_secs(120));
        // Everything else stays at the default.
        let want = LimitsConfig {
            max_entries_limit_per_query: 5,
            max_line_size: ByteSize::mib(1),
            query_timeout: Duration::from_secs(120),
            ..defaults.clone()
        };
        assert_eq!(**fake, want);
        let b = &got["tenant-b"];
        assert_eq!(b.ingestion_rate_mb, 16.0);
        assert_eq!(b.discover_service_name, vec!["svc".to_string()]);
        assert_eq!(b.max_entries_limit_per_query, defaults.max_entries_limit_per_query);
        assert_eq!(got["123"].max_query_series, 7);
        assert_eq!(*got["empty"], defaults);
    }

    #[test]
    fn overlay_starts_from_the_configured_defaults_not_the_built_in_ones() {
        let defaults = LimitsConfig { max_query_series: 42, max_line_size: ByteSize(100), ..LimitsConfig::default() };
        let docs = vec![("f".to_string(), "overrides:\n  a:\n    max_line_size: 200\n".to_string())];
        let got = parse_runtime_config(&docs, &defaults).unwrap();
        assert_eq!(got["a"].max_line_size, ByteSize(200));
        assert_eq!(got["a"].max_query_series, 42);
    }

    #[test]
    fn empty_documents_mean_no_overrides() {
        for text in ["", "# nothing\n", "overrides:\n", "overrides: {}\n", "{}\n"] {
            assert!(parse(&[text]).unwrap().is_empty(), "{text:?}");
        }
    }

    #[test]
    fn later_files_merge_over_earlier_ones() {
        let got = parse(&[
            "overrides:\n  a:\n    max_query_series: 1\n    max_entries_limit_per_query: 2\n  b:\n    max_query_series: 3\n",
            "overrides:\n  a:\n    max_entries_limit_per_query: 20\n  c:\n    max_query_series: 4\n",
        ])
        .unwrap();
        assert_eq!((got["a"].max_query_series, got["a"].max_entries_limit_per_query), (1, 20));
        assert_eq!(got["b"].max_query_series, 3);
        assert_eq!(got["c"].max_query_series, 4);
    }

    #[test]
    fn bad_documents_are_errors_naming_the_problem() {
        let cases = [
            ("overrides:\n  fake:\n    max_entries_limit_per_quer: 5\n", "overrides.fake.max_entries_limit_per_quer"),
            ("overrides:\n  fake:\n    max_entries_limit_per_quer: 5\n", "unknown field"),
            ("overrides:\n  fake:\n    max_line_size: huge\n", "overrides.fake.max_line_size"),
            (
                "overrides:\n  fake:\n    max_entries_limit_per_query: -1\n",
                "overrides.fake.max_entries_limit_per_query",
            ),
            ("overrides:\n  fake:\n    max_entries_limit_per_query: 0\n", "invalid override for tenant \"fake\""),
            ("overrides:\n  fake:\n    ingestion_rate_mb: -2\n", "ingestion_rate_mb must be a non-negative number"),
            ("overrides:\n  fake: 5\n", "overrides.fake: expected a mapping"),
            ("overrides:\n  true: {}\n", "tenant names must be strings, got a boolean"),
            ("overrides: [a]\n", "overrides"),
            ("configs:\n  fake: {}\n", "unknown field `configs`"),
            ("- overrides\n", "doc0: the top level must be a mapping"),
            ("overrides:\n  fake:\n    max_query_series: [1\n", "doc0:"),
        ];
        for (text, want) in cases {
            let err = parse(&[text]).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn limits_for_falls_back_to_the_defaults() {
        let o = Overrides::new(LimitsConfig {
            max_query_series: 9,
            max_line_size: ByteSize(100),
            ..LimitsConfig::default()
        });
        assert_eq!(o.limits_for("fake").max_query_series, 9);
        let docs = [("f".to_string(), "overrides:\n  fake:\n    max_query_series: 3\n".to_string())];
        o.set(parse_runtime_config(&docs, o.defaults()).unwrap());
        assert_eq!(o.limits_for("fake").max_query_series, 3);
        assert_eq!(o.limits_for("fake").max_line_size, ByteSize(100));
        assert_eq!(o.limits_for("other").max_query_series, 9);
        assert_eq!(o.defaults().max_query_series, 9);
        assert_eq!(o.tenants().len(), 1);
        o.set(HashMap::new());
        assert_eq!(o.limits_for("fake").max_query_series, 9);
    }

    #[test]
    fn reload_applies_changes_and_keeps_the_old_overrides_on_a_bad_file() {
        let dir = std::env::temp_dir().join(format!(
            "balsa-overrides-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runtime.yaml");
        let write = |text: &str| std::fs::write(&path, text).unwrap();
        let overrides = Arc::new(Overrides::new(LimitsConfig::default()));
        let rc = RuntimeConfig::new(&format!(" {} ,", path.display()), Arc::clone(&overrides));
        assert_eq!(rc.files(), std::slice::from_ref(&path));

        write("overrides:\n  fake:\n    max_entries_limit_per_query: 5\n");
        assert_eq!(rc.reload(), Ok(Reload::Applied { tenants: 1 }));
        assert_eq!(overrides.limits_for("fake").max_entries_limit_per_query, 5);
        assert_eq!(rc.reload(), Ok(Reload::Unchanged));

        write("overrides:\n  fake:\n    max_entries_limit_per_query: 20\n");
        assert_eq!(rc.reload(), Ok(Reload::Applied { tenants: 1 }));
        assert_eq!(overrides.limits_for("fake").max_entries_limit_per_query, 20);

        // A typo, a bad value, broken YAML, a missing file: the old values stay.
        for bad in [
            "overrides:\n  fake:\n    max_entries_limit: 7\n",
            "overrides:\n  fake:\n    max_entries_limit_per_query: lots\n",
            "overrides:\n  fake: {max_entries_limit_per_query: 7\n",
        ] {
            write(bad);
            let err = rc.reload().unwrap_err();
            assert!(err.starts_with(&format!("runtime config file {}: ", path.display())), "{err}");
            assert_eq!(overrides.limits_for("fake").max_entries_limit_per_query, 20, "{bad}");
        }
        std::fs::remove_file(&path).unwrap();
        let err = rc.reload().unwrap_err();
        assert!(err.starts_with("cannot read runtime config file"), "{err}");
        assert_eq!(overrides.limits_for("fake").max_entries_limit_per_query, 20);

        // Back to the last good text: still in force, nothing to do.
        write("overrides:\n  fake:\n    max_entries_limit_per_query: 20\n");
        assert_eq!(rc.reload(), Ok(Reload::Unchanged));
        // Removing the tenant's entry brings back the defaults.
        write("overrides: {}\n");
        assert_eq!(rc.reload(), Ok(Reload::Applied { tenants: 0 }));
        assert_eq!(overrides.limits_for("fake").max_entries_limit_per_query, 5000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
