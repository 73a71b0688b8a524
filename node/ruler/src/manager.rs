//! The ruler of one node: loads rule groups (files under the rules directory,
//! one folder per tenant, and groups posted through the API, replicated in
//! partition 0), keeps one [`GroupRunner`] per group, and answers listings.
//!
//! Loading never lets one bad file or group stop the others: a file that
//! does not parse or validate keeps its last good version running, and the
//! error is kept (log, metric, `lastError` of the file's listing) with file,
//! group and rule named.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};

use crate::config::{RulerConfig, RulerLimits};
use crate::group::{GroupId, GroupRunner, GroupStatus};
use crate::notifier::Notifier;
use crate::remote_write::RemoteWriter;
use crate::rules::{self, RuleGroup};
use crate::sinks::{AlertSender, SampleSink};
use crate::store::{BackendError, RULES_PARTITION, RULES_SPACE, RulerBackend, split_record_key};

/// A clock in Unix milliseconds.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// What every group runner of a node shares.
pub struct Shared {
    pub config: RulerConfig,
    pub backend: Arc<dyn RulerBackend>,
    pub notifier: Arc<dyn AlertSender>,
    pub remote_writer: Arc<dyn SampleSink>,
    pub clock: Arc<dyn Clock>,
    /// `ruler.external_labels`, sorted.
    pub external_labels: Vec<(String, String)>,
    /// Per-tenant limits.
    pub limits: Arc<dyn Fn(&str) -> RulerLimits + Send + Sync>,
    /// When this node's leadership of each partition was first seen.
    pub leadership: Leadership,
}

/// When this node became leader of each partition it leads, as first seen
/// by [`Leadership::observe`] (every 100 ms) or by a group loop. A time seen
/// late is safe: a new owner evaluates only slots after it, and the
/// previous owner evaluated only slots before the election.
#[derive(Default)]
pub struct Leadership {
    since: Mutex<HashMap<u32, (u64, i64)>>,
}

impl Leadership {
    /// Records the leaderships of this node at `now_ms`; forgets lost ones.
    pub fn observe(&self, backend: &dyn RulerBackend, now_ms: i64) {
        let mut since = self.since.lock().expect("leadership lock");
        for p in 0..backend.partitions() {
            match backend.leads(p) {
                Some(term) => match since.get(&p) {
                    Some((t, _)) if *t == term => {}
                    _ => {
                        since.insert(p, (term, now_ms));
                    }
                },
                None => {
                    since.remove(&p);
                }
            }
        }
    }

    /// Since when this node leads `partition` in `term` (recorded now when first seen).
    pub fn since(&self, partition: u32, term: u64, now_ms: i64) -> i64 {
        let mut since = self.since.lock().expect("leadership lock");
        match since.get(&partition) {
            Some((t, at)) if *t == term => *at,
            _ => {
                since.insert(partition, (term, now_ms));
                now_ms
            }
        }
    }
}

impl Shared {
    pub fn limits(&self, tenant: &str) -> RulerLimits {
        (self.limits)(tenant)
    }
}

/// Where a loaded group came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Api,
}

struct Loaded {
    def: RuleGroup,
    source: Source,
    status: Arc<Mutex<GroupStatus>>,
    stop: watch::Sender<bool>,
}

/// A rule file that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub tenant: String,
    pub namespace: String,
    pub path: PathBuf,
    pub message: String,
}

pub struct Ruler {
    shared: Arc<Shared>,
    rules_dir: Option<PathBuf>,
    state: Mutex<State>,
    /// Wakes the sync loop (an API change).
    resync: Notify,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<GroupId, Loaded>,
    /// The last good groups of each rule file, by (tenant, namespace).
    last_good_files: BTreeMap<(String, String), (PathBuf, Vec<RuleGroup>)>,
    file_errors: Vec<FileError>,
}

/// A group as listings show it.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub id: GroupId,
    pub def: RuleGroup,
    pub source: Source,
    pub status: GroupStatus,
}

impl Ruler {
    pub fn new(
        config: RulerConfig,
        rules_dir: Option<PathBuf>,
        backend: Arc<dyn RulerBackend>,
        clock: Arc<dyn Clock>,
        limits: Arc<dyn Fn(&str) -> RulerLimits + Send + Sync>,
    ) -> Result<Arc<Ruler>, String> {
        let notifier = Notifier::new(
            &config.alertmanager_url,
            &config.alertmanager_client,
            config.notification_queue_capacity,
            config.notification_timeout.0,
        )?;
        let remote_writer = RemoteWriter::new(&config.remote_write)?;
        Ok(Self::with_sinks(config, rules_dir, backend, clock, limits, Arc::new(notifier), Arc::new(remote_writer)))
    }

    /// A ruler whose alerts and samples go to the given sinks (tests).
    pub fn with_sinks(
        config: RulerConfig,
        rules_dir: Option<PathBuf>,
        backend: Arc<dyn RulerBackend>,
        clock: Arc<dyn Clock>,
        limits: Arc<dyn Fn(&str) -> RulerLimits + Send + Sync>,
        notifier: Arc<dyn AlertSender>,
        remote_writer: Arc<dyn SampleSink>,
    ) -> Arc<Ruler> {
        let external_labels = config.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let shared = Arc::new(Shared {
            config,
            backend,
            notifier,
            remote_writer,
            clock,
            external_labels,
            limits,
            leadership: Leadership::default(),
        });
        Arc::new(Ruler { shared, rules_dir, state: Mutex::new(State::default()), resync: Notify::new() })
    }

    pub fn config(&self) -> &RulerConfig {
        &self.shared.config
    }

    pub fn limits(&self, tenant: &str) -> RulerLimits {
        self.shared.limits(tenant)
    }

    /// Loads groups at once, then every `poll_interval` or when woken; and
    /// notes when this node becomes leader of a partition.
    pub async fn run(self: Arc<Self>) {
        let shared = Arc::clone(&self.shared);
        let watch = tokio::spawn(async move {
            loop {
                shared.leadership.observe(shared.backend.as_ref(), shared.clock.now_ms());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        let _abort_on_drop = AbortOnDrop(watch);
        let poll = self.shared.config.poll_interval.0;
        loop {
            let _ = self.sync().await;
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.resync.notified() => {}
            }
        }
    }

    /// Asks the sync loop to reload now (after an API change on any node,
    /// the other nodes pick it up at their next poll).
    pub fn wake(&self) {
        self.resync.notify_one();
    }

    /// Stops every group's loop.
    pub fn stop(&self) {
        let state = self.state.lock().expect("ruler state lock");
        for g in state.groups.values() {
            let _ = g.stop.send(true);
        }
    }

    /// Loads groups now, so that listings include a group another node
    /// just stored; an error when the API groups cannot be read.
    pub async fn sync_api(&self) -> Result<(), String> {
        match self.sync().await {
            None => Ok(()),
            Some(e) => Err(format!("unable to read rule groups: {e}")),
        }
    }

    /// Reads rule files and API groups and starts, restarts or stops group
    /// loops; returns why the API groups could not be read, if so.
    pub async fn sync(&self) -> Option<BackendError> {
        let (api, api_error) = match self.api_groups().await {
            Ok(groups) => (Some(groups), None),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read rule groups posted through the API; keeping the loaded ones");
                (None, Some(e))
            }
        };
        // Reading the files is blocking I/O: off the async workers.
        let read = match self.rules_dir.clone() {
            Some(dir) => tokio::task::spawn_blocking(move || read_rule_dir(&dir)).await.ok(),
            None => None,
        };
        let mut state = self.state.lock().expect("ruler state lock");
        let mut desired: BTreeMap<GroupId, (RuleGroup, Source)> = BTreeMap::new();
        if let Some((files, errors)) = read {
            for e in &errors {
                tracing::error!(tenant = %e.tenant, file = %e.path.display(), error = %e.message, "rule file not loaded; its last good version keeps running");
            }
            let mut seen = std::collections::BTreeSet::new();
            for (tenant, namespace, path, groups) in files {
                seen.insert((tenant.clone(), namespace.clone()));
                state.last_good_files.insert((tenant, namespace), (path, groups));
            }
            for e in &errors {
                seen.insert((e.tenant.clone(), e.namespace.clone()));
            }
            // Files that are gone are gone; files that failed keep their last good version.
            state.last_good_files.retain(|k, _| seen.contains(k));
            let mut failing: BTreeMap<String, usize> = BTreeMap::new();
            for e in &errors {
                *failing.entry(e.tenant.clone()).or_default() += 1;
            }
            let tenants: std::collections::BTreeSet<String> =
                state.last_good_files.keys().map(|(t, _)| t.clone()).chain(failing.keys().cloned()).collect();
            for tenant in tenants {
                let ok = !failing.contains_key(&tenant);
                metrics::gauge!("loki_ruler_config_last_reload_successful", "user" => tenant).set(if ok {
                    1.0
                } else {
                    0.0
                });
            }
            state.file_errors = errors;
        }
        // (When the directory could not be read at all, the loaded files stay.)
        for ((tenant, namespace), (path, groups)) in &state.last_good_files {
            for g in groups {
                let id = GroupId { tenant: tenant.clone(), namespace: namespace.clone(), name: g.name.clone() };
                desired.insert(id, (g.clone(), Source::File(path.clone())));
            }
        }
        match api {
            Some(api) => {
                for (id, def) in api {
                    // A file's group wins over an API group of the same name.
                    desired.entry(id).or_insert((def, Source::Api));
                }
            }
            None => {
                for (id, g) in &state.groups {
                    if g.source == Source::Api {
                        desired.entry(id.clone()).or_insert((g.def.clone(), Source::Api));
                    }
                }
            }
        }
        desired.retain(|id, _| self.shared.config.tenant_enabled(&id.tenant));

        // Stop what is gone or changed, start what is new or changed.
        let current: Vec<GroupId> = state.groups.keys().cloned().collect();
        for id in current {
            let keep = desired.get(&id).is_some_and(|(def, source)| {
                let g = &state.groups[&id];
                g.def == *def && g.source == *source
            });
            if !keep {
                let g = state.groups.remove(&id).expect("present");
                let _ = g.stop.send(true);
            }
        }
        for (id, (def, source)) in desired {
            if state.groups.contains_key(&id) {
                continue;
            }
            let runner = GroupRunner::new(id.clone(), def.clone(), self.shared.clone());
            let status = runner.status.clone();
            let (stop, stopped) = watch::channel(false);
            tokio::spawn(runner.run(stopped));
            state.groups.insert(id, Loaded { def, source, status, stop });
        }
        metrics::gauge!("loki_ruler_managers_total").set(state.groups.len() as f64);
        api_error
    }

    /// Every group posted through the API, from partition 0.
    async fn api_groups(&self) -> Result<Vec<(GroupId, RuleGroup)>, BackendError> {
        let records = self.shared.backend.records(RULES_PARTITION, RULES_SPACE, String::new()).await?;
        let mut out = Vec::with_capacity(records.len());
        for (key, value) in records {
            let Some((tenant, namespace, name)) = split_record_key(&key) else { continue };
            match serde_json::from_slice::<RuleGroup>(&value) {
                Ok(def) => {
                    out.push((GroupId { tenant: tenant.into(), namespace: namespace.into(), name: name.into() }, def))
                }
                Err(e) => {
                    tracing::error!(tenant, namespace, group = name, error = %e, "stored rule group does not parse; skipped")
                }
            }
        }
        Ok(out)
    }

    /// The loaded groups of `tenant`, sorted by namespace then group name.
    pub fn groups(&self, tenant: &str) -> Vec<GroupView> {
        let state = self.state.lock().expect("ruler state lock");
        state
            .groups
            .iter()
            .filter(|(id, _)| id.tenant == tenant)
            .map(|(id, g)| GroupView {
                id: id.clone(),
                def: g.def.clone(),
                source: g.source.clone(),
                status: g.status.lock().expect("status lock").clone(),
            })
            .collect()
    }

    /// Rule files of `tenant` that failed to load.
    pub fn file_errors(&self, tenant: &str) -> Vec<FileError> {
        let state = self.state.lock().expect("ruler state lock");
        state.file_errors.iter().filter(|e| e.tenant == tenant).cloned().collect()
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads `<dir>/<tenant>/<namespace file>`. Entries whose names start with
/// a dot are skipped at both levels (a Kubernetes ConfigMap mount's `..data`
/// and `..2024_01_01_...` entries are not tenants or namespaces); symlinks
/// are followed, so the ConfigMap's files load under their own names.
pub fn read_rule_dir(dir: &Path) -> (Vec<(String, String, PathBuf, Vec<RuleGroup>)>, Vec<FileError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let Ok(tenants) = std::fs::read_dir(dir) else {
        return (files, errors);
    };
    let mut tenants: Vec<_> = tenants.filter_map(Result::ok).collect();
    tenants.sort_by_key(|e| e.file_name());
    for t in tenants {
        let tenant = t.file_name().to_string_lossy().into_owned();
        if tenant.starts_with('.') || !t.path().is_dir() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(t.path()) else { continue };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for f in entries {
            let namespace = f.file_name().to_string_lossy().into_owned();
            let path = f.path();
            if namespace.starts_with('.') || !path.is_file() {
                continue;
            }
            let fail = |message: String| FileError {
                tenant: tenant.clone(),
                namespace: namespace.clone(),
                path: path.clone(),
                message,
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(fail(format!("cannot read {}: {e}", path.display())));
                    continue;
                }
            };
            match rules::parse_rule_file(&text) {
                Err(e) => errors.push(fail(format!("{}: {e}", path.display()))),
                Ok(file) => {
                    let problems = rules::validate_file(&file);
                    if problems.is_empty() {
                        files.push((tenant.clone(), namespace.clone(), path.clone(), file.groups));
                    } else {
                        errors.push(fail(format!("{}: {}", path.display(), problems.join(", "))));
                    }
                }
            }
        }
    }
    (files, errors)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::testing::{FakeClock, MemCluster, NodeSender, RecordedSamples, SentAlerts};

    const GOOD: &str = "groups:\n  - name: good\n    rules:\n      - alert: A\n        expr: vector(1) > 0\n";
    const GOOD_V2: &str = "groups:\n  - name: good\n    rules:\n      - alert: B\n        expr: vector(2) > 0\n";
    const BROKEN: &str = "name: oops\nrules: []\n";

    fn ruler(dir: &Path) -> Arc<Ruler> {
        let cluster = MemCluster::new(2);
        cluster.lead_all(0);
        Ruler::with_sinks(
            RulerConfig::default(),
            Some(dir.to_path_buf()),
            cluster.node(0),
            Arc::new(FakeClock::default()),
            Arc::new(|_: &str| RulerLimits::default()),
            Arc::new(NodeSender { node: 0, log: Arc::new(SentAlerts::default()) }),
            Arc::new(RecordedSamples::default()),
        )
    }

    fn loaded(r: &Ruler, tenant: &str) -> Vec<(String, String, Vec<String>)> {
        r.groups(tenant)
            .into_iter()
            .map(|g| (g.id.namespace, g.id.name, g.def.rules.iter().map(|r| r.name().to_string()).collect()))
            .collect()
    }

    #[tokio::test]
    async fn a_bad_file_keeps_its_last_good_version_and_stops_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fake")).unwrap();
        std::fs::create_dir_all(dir.path().join("team-b")).unwrap();
        std::fs::write(dir.path().join("fake/a.yaml"), GOOD).unwrap();
        std::fs::write(dir.path().join("team-b/b.yaml"), GOOD).unwrap();
        let r = ruler(dir.path());
        r.sync().await;
        assert_eq!(loaded(&r, "fake"), vec![("a.yaml".into(), "good".into(), vec!["A".into()])]);

        // a.yaml breaks (Loki's #7589 shape: no `groups:`); b.yaml of another tenant changes.
        std::fs::write(dir.path().join("fake/a.yaml"), BROKEN).unwrap();
        std::fs::write(dir.path().join("team-b/b.yaml"), GOOD_V2).unwrap();
        r.sync().await;
        assert_eq!(loaded(&r, "fake"), vec![("a.yaml".into(), "good".into(), vec!["A".into()])], "last good kept");
        assert_eq!(loaded(&r, "team-b"), vec![("b.yaml".into(), "good".into(), vec!["B".into()])], "others reload");
        let errors = r.file_errors("fake");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("a.yaml"), "{errors:?}");
        assert!(errors[0].message.contains("name"), "the error says what is wrong: {errors:?}");

        // Fixed: the new version loads; removed: the group goes.
        std::fs::write(dir.path().join("fake/a.yaml"), GOOD_V2).unwrap();
        r.sync().await;
        assert_eq!(loaded(&r, "fake"), vec![("a.yaml".into(), "good".into(), vec!["B".into()])]);
        assert!(r.file_errors("fake").is_empty());
        std::fs::remove_file(dir.path().join("fake/a.yaml")).unwrap();
        r.sync().await;
        assert!(loaded(&r, "fake").is_empty());
        r.stop();
    }

    #[tokio::test]
    async fn a_configmap_mount_loads_its_files_and_no_dot_entries() {
        // kubelet's layout: the files are symlinks into ..data, itself a
        // symlink to a timestamped directory.
        let dir = tempfile::tempdir().unwrap();
        let tenant = dir.path().join("fake");
        std::fs::create_dir_all(tenant.join("..2026_12_05_10_00_00.1")).unwrap();
        std::fs::write(tenant.join("..2026_12_05_10_00_00.1/alerts.yaml"), GOOD).unwrap();
        symlink("..2026_12_05_10_00_00.1", tenant.join("..data")).unwrap();
        symlink("..data/alerts.yaml", tenant.join("alerts.yaml")).unwrap();
        // The ConfigMap mounted as the rules directory itself: its dot entries are not tenants.
        std::fs::create_dir_all(dir.path().join("..2026_12_05_10_00_00.2/x")).unwrap();
        symlink("..2026_12_05_10_00_00.2", dir.path().join("..data")).unwrap();
        let (files, errors) = read_rule_dir(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        let seen: Vec<(String, String)> = files.iter().map(|(t, ns, _, _)| (t.clone(), ns.clone())).collect();
        assert_eq!(seen, vec![("fake".to_string(), "alerts.yaml".to_string())]);
    }

    #[tokio::test]
    async fn api_groups_load_and_a_file_group_of_the_same_name_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fake")).unwrap();
        std::fs::write(dir.path().join("fake/ns"), GOOD).unwrap();
        let r = ruler(dir.path());
        let backend = Arc::clone(&r.shared().backend);
        let api = |name: &str, alert: &str| {
            let g =
                rules::parse_api_group(&format!("name: {name}\nrules:\n  - alert: {alert}\n    expr: vector(1) > 0\n"))
                    .unwrap();
            serde_json::to_vec(&g).unwrap()
        };
        let key = crate::store::group_record_key;
        backend
            .write_record(RULES_PARTITION, RULES_SPACE, key("fake", "ns", "good"), Some(api("good", "FromApi")))
            .await
            .unwrap();
        backend
            .write_record(RULES_PARTITION, RULES_SPACE, key("fake", "ns", "other"), Some(api("other", "C")))
            .await
            .unwrap();
        r.sync().await;
        let groups = r.groups("fake");
        assert_eq!(
            loaded(&r, "fake"),
            vec![("ns".into(), "good".into(), vec!["A".into()]), ("ns".into(), "other".into(), vec!["C".into()]),]
        );
        assert_eq!(groups[0].source, Source::File(dir.path().join("fake/ns")));
        assert_eq!(groups[1].source, Source::Api);
        r.stop();
    }
}
