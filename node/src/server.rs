//! Wiring: storage and Raft groups, the distributor, the HTTP API, metrics,
//! and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use balsa_api::{ApiConfig, AppState, router};
use balsa_push::{Overrides, RateLimiter, Reload, RuntimeConfig, StreamRateLimiter, Validator};
use std::collections::BTreeMap;

use balsa_raft::{ClusterSpec, RaftConfig, RaftNode};
use balsa_s3::ColdCache;
use balsa_storage::ObjectStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::{Config, LogFormat};
use crate::deletion::Deletion;
use crate::distributor::Distributor;
use crate::retention::Retention;
use crate::tiering::Uploader;

pub fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter(&cfg.server.log_level)));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cfg.server.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.compact().init(),
    }
}

/// `server.log_level` for Balsa, warnings for openraft, except its
/// per-group, per-retry complaints about an unreachable peer (about fifty
/// lines a second while one is down): Balsa logs the change once, as
/// "peer unreachable" and "peer reachable". RUST_LOG overrides it all.
fn default_log_filter(level: &str) -> String {
    format!(
        "{level},openraft=warn,openraft::replication=error,openraft::core::heartbeat=error,openraft::engine::handler::replication_handler=error"
    )
}

fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        .context("metrics buckets")?
        .install_recorder()
        .context("install metrics recorder")
}

/// The cluster's members from `cluster.peers`: node `i` is `peers[i]`.
fn cluster_spec(cfg: &Config) -> anyhow::Result<ClusterSpec> {
    let peers: BTreeMap<u64, String> =
        cfg.cluster.peers.iter().enumerate().map(|(i, p)| (i as u64, p.clone())).collect();
    if peers.len() > 3 {
        // Every group has a voter on every node; placing groups on three of
        // many nodes (min(3, nodes) replicas) is not built yet.
        anyhow::bail!("cluster.peers lists {} nodes; Balsa supports one to three nodes for now", peers.len());
    }
    let id = cfg.node_id(&crate::config::system_hostname());
    if !peers.is_empty() && !peers.contains_key(&id) {
        anyhow::bail!(
            "node id {id} has no entry in cluster.peers ({} peers; node i is peers[i]): set cluster.node_id or use a hostname ending in -<ordinal>; adding a node beyond cluster.peers (kubectl scale above {}) is not supported yet, and nothing was written",
            peers.len(),
            peers.len()
        );
    }
    Ok(ClusterSpec { peers, ..Default::default() })
}

/// Spreads group leadership evenly, now and after a node returns.
async fn balance_leaders(raft: Arc<RaftNode>) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let moved = raft.rebalance_leaders().await;
        if moved > 0 {
            tracing::info!(moved, "rebalanced shard leaders");
        }
    }
}

/// Loads `runtime_config.file`, if set: a file that cannot be read or parsed
/// stops the start with an error naming the problem.
fn load_runtime_config(cfg: &Config, overrides: &Arc<Overrides>) -> anyhow::Result<Option<Arc<RuntimeConfig>>> {
    if cfg.runtime_config.file.trim().is_empty() {
        return Ok(None);
    }
    let rc = RuntimeConfig::new(&cfg.runtime_config.file, Arc::clone(overrides))
        .with_foreign_keys(Arc::new(crate::loki_keys::is_runtime_config_key));
    match rc.reload() {
        Ok(outcome) => {
            set_reload_gauge(true);
            let tenants = match outcome {
                Reload::Applied { tenants } => tenants,
                Reload::Unchanged => 0,
            };
            tracing::info!(file = %cfg.runtime_config.file, tenants, "runtime config loaded");
            log_dropped_runtime_keys(&rc);
            Ok(Some(Arc::new(rc)))
        }
        Err(e) => anyhow::bail!("{e}"),
    }
}

/// Loki keys of a runtime config file that Balsa has no use for.
fn log_dropped_runtime_keys(rc: &RuntimeConfig) {
    let dropped = rc.dropped_keys();
    if !dropped.is_empty() {
        tracing::info!(keys = %dropped.join(", "), "ignoring loki runtime config keys Balsa has no use for");
    }
}

fn set_reload_gauge(ok: bool) {
    metrics::gauge!("loki_runtime_config_last_reload_successful", "config" => "loki").set(if ok { 1.0 } else { 0.0 });
}

/// Re-reads the runtime config every `period`. A bad file is logged and the
/// overrides in force stay, as Loki does: a typo must not stop ingestion.
async fn reload_runtime_config(rc: Arc<RuntimeConfig>, period: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let r = Arc::clone(&rc);
        match tokio::task::spawn_blocking(move || r.reload()).await {
            Ok(Ok(Reload::Unchanged)) => set_reload_gauge(true),
            Ok(Ok(Reload::Applied { tenants })) => {
                set_reload_gauge(true);
                tracing::info!(tenants, "runtime config reloaded");
                log_dropped_runtime_keys(&rc);
            }
            Ok(Err(e)) => {
                set_reload_gauge(false);
                tracing::error!(error = %e, "failed to reload runtime config; keeping the previous overrides");
            }
            Err(e) => {
                set_reload_gauge(false);
                tracing::error!(error = %e, "runtime config reload task failed");
            }
        }
    }
}

/// Runs a node until SIGTERM or SIGINT.
pub async fn run(cfg: Config, ignored_keys: Vec<crate::loki_keys::Ignored>) -> anyhow::Result<()> {
    let metrics = install_metrics()?;
    let node_id = cfg.node_id(&crate::config::system_hostname());
    let data_dir = cfg.common.path_prefix.clone();
    tracing::info!(
        node = node_id,
        data_dir = %data_dir.display(),
        shards = cfg.cluster.shards,
        peers = cfg.cluster.peers.len(),
        "starting balsa"
    );
    let cluster = cluster_spec(&cfg)?;
    let overrides = Arc::new(Overrides::new(cfg.limits_config.clone()));
    let runtime_config = load_runtime_config(&cfg, &overrides)?;
    let clustered = cluster.peers.len() > 1;
    let object_store = if cfg.storage_config.aws.enabled() {
        let store = crate::tiering::connect(&cfg.storage_config.aws).await?;
        tracing::info!(bucket = store.bucket(), prefix = %cfg.storage_config.object_prefix, "sealed chunks move to s3");
        Some(store)
    } else {
        None
    };
    let raft =
        RaftNode::open(node_id, &data_dir, cfg.cluster.shards, cfg.ingester.clone(), RaftConfig::default(), cluster)
            .await
            .context("open shard groups")?;
    let adoption = Arc::new(crate::tiering::Adoption::default());
    let uploader = object_store.clone().map(|store| {
        let cache_bytes = cfg.chunk_store_config.chunk_cache_config.embedded_cache.max_bytes();
        let store: Arc<dyn ObjectStore> = store;
        raft.set_cold(Arc::new(ColdCache::new(Arc::clone(&store), tokio::runtime::Handle::current(), cache_bytes)));
        tokio::spawn(
            Uploader {
                raft: Arc::clone(&raft),
                store,
                prefix: cfg.storage_config.object_prefix.clone(),
                target_object_size: cfg.storage_config.target_object_size.0,
                interval: cfg.storage_config.upload_interval.0,
                max_pending: cfg.storage_config.max_pending_uploads,
                sweep_interval: cfg.storage_config.orphan_sweep_interval.0,
                orphan_grace: cfg.storage_config.orphan_grace_period.0,
                adoption: Arc::clone(&adoption),
            }
            .run(),
        )
    });
    let retention = cfg.compactor.retention_enabled.then(|| {
        tokio::spawn(
            Retention {
                raft: Arc::clone(&raft),
                overrides: Arc::clone(&overrides),
                interval: cfg.compactor.compaction_interval.0,
                store: object_store
                    .clone()
                    .map(|s| (s as Arc<dyn ObjectStore>, cfg.storage_config.object_prefix.clone())),
            }
            .run(),
        )
    });
    let deletion = cfg.compactor.retention_enabled.then(|| {
        tokio::spawn(
            Deletion {
                raft: Arc::clone(&raft),
                cancel_period: cfg.compactor.delete_request_cancel_period.0,
                interval: cfg.compactor.compaction_interval.0,
                store: object_store
                    .clone()
                    .map(|s| (s as Arc<dyn ObjectStore>, cfg.storage_config.object_prefix.clone())),
            }
            .run(),
        )
    });
    let ticks = tokio::spawn(crate::idle::run_ticks(Arc::clone(&raft), cfg.ingester.chunk_idle_period.0));
    let grpc_addr = cfg.server.grpc_addr();
    let grpc_listener =
        tokio::net::TcpListener::bind(&grpc_addr).await.with_context(|| format!("listen on {grpc_addr} (grpc)"))?;
    tracing::info!(addr = %grpc_listener.local_addr()?, "grpc listening");
    let (grpc_stop, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = {
        let raft = Arc::clone(&raft);
        tokio::spawn(async move {
            if let Err(e) = raft
                .serve(grpc_listener, async move {
                    let _ = grpc_stopped.await;
                })
                .await
            {
                tracing::error!(error = %e, "grpc server stopped");
            }
        })
    };
    tokio::spawn(Arc::clone(&raft).run_quiescence());
    if clustered {
        tokio::spawn(Arc::clone(&raft).run_liveness());
        let r = Arc::clone(&raft);
        tokio::spawn(async move { r.form().await });
        let r = Arc::clone(&raft);
        tokio::spawn(async move { balance_leaders(r).await });
    } else if !raft.wait_ready(Duration::from_secs(10)).await {
        tracing::warn!("not every shard group has a leader yet; /ready will say so");
    }
    let distributor =
        Distributor::new(Arc::clone(&raft), cfg.ingester.max_chunk_age.as_nanos_i64(), Arc::clone(&overrides));
    let distributor =
        Arc::new(if object_store.is_some() { distributor.with_object_store(adoption) } else { distributor });
    let ruler = start_ruler(&cfg, &raft, &distributor, &overrides)?;
    let cfg_for_http = cfg.clone();
    let state = AppState {
        config: Arc::new(ApiConfig {
            auth_enabled: cfg.auth_enabled,
            multi_tenant_queries_enabled: cfg.querier.multi_tenant_queries_enabled,
            max_recv_msg_size: cfg.distributor.max_recv_msg_size.as_usize(),
            max_decompressed_size: cfg.distributor.max_decompressed_size.as_usize(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: option_env!("BALSA_GIT_REVISION").unwrap_or("").to_string(),
        }),
        backend: distributor,
        validator: Arc::new(Validator::with_overrides(overrides)),
        rate_limiter: Arc::new(RateLimiter::new()),
        stream_rate_limiter: Arc::new(StreamRateLimiter::new()),
        metrics: Arc::new(move || metrics.render()),
        config_yaml: Arc::new(move |mode| match mode {
            "diffs" => cfg_for_http.diff_from_default_yaml(),
            "defaults" => Config::defaults_yaml(),
            "ignored" => crate::loki_keys::ignored_yaml(&ignored_keys),
            _ => cfg_for_http.to_yaml_masked(),
        }),
        clock: balsa_api::router::system_clock(),
    };
    let gauges = tokio::spawn(report_gauges(Arc::clone(&raft)));
    let reloads = runtime_config.map(|rc| tokio::spawn(reload_runtime_config(rc, cfg.runtime_config.period.0)));
    let addr = cfg.server.http_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("listen on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "http listening");
    let grace = cfg.server.graceful_shutdown_timeout.0;
    let auth_enabled = cfg.auth_enabled;
    let tenant: balsa_ruler::http::TenantResolver = Arc::new(move |headers| {
        balsa_api::tenant::tenant_of(headers, auth_enabled)
            .map(|t| t.to_string())
            .map_err(axum::response::IntoResponse::into_response)
    });
    let ruler_routes = balsa_ruler::http::routes(balsa_ruler::http::HttpState { ruler: Arc::clone(&ruler.0), tenant });
    let app = router(state).merge(crate::status::routes(Arc::clone(&raft))).merge(ruler_routes);
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal());
    serve.await.context("http server")?;
    tracing::info!("stopped accepting requests; finishing in-flight work");
    gauges.abort();
    ticks.abort();
    ruler.0.stop();
    ruler.1.abort();
    for task in [uploader, retention, deletion].into_iter().flatten() {
        task.abort();
    }
    if let Some(r) = reloads {
        r.abort();
    }
    let stop = async {
        if clustered {
            raft.hand_off_leadership(Duration::from_secs(3)).await;
        }
        raft.shutdown().await;
    };
    if tokio::time::timeout(grace, stop).await.is_err() {
        tracing::warn!(timeout = ?grace, "raft shutdown timed out");
    }
    let _ = grpc_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), grpc).await;
    tracing::info!("balsa stopped");
    Ok(())
}

/// Starts the ruler: it loads rule files and API groups, and evaluates the
/// groups whose shard this node leads.
fn start_ruler(
    cfg: &Config,
    raft: &Arc<RaftNode>,
    distributor: &Arc<Distributor>,
    overrides: &Arc<Overrides>,
) -> anyhow::Result<(Arc<balsa_ruler::Ruler>, tokio::task::JoinHandle<()>)> {
    for (key, why) in cfg.ruler.ignored_keys(&cfg.ruler_storage) {
        tracing::info!(key = %key, reason = why, "config key accepted but unused");
    }
    let rules_dir = cfg.ruler.rules_directory(&cfg.ruler_storage);
    let backend = Arc::new(crate::ruler::NodeRulerBackend {
        raft: Arc::clone(raft),
        distributor: Arc::clone(distributor),
        overrides: Arc::clone(overrides),
    });
    let ruler = balsa_ruler::Ruler::new(
        cfg.ruler.clone(),
        rules_dir.clone(),
        backend,
        balsa_ruler::group::system_clock(),
        crate::ruler::ruler_limits(Arc::clone(overrides)),
    )
    .map_err(|e| anyhow::anyhow!("ruler: {e}"))?;
    tracing::info!(
        rules_dir = %rules_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
        alertmanagers = cfg.ruler.alertmanager_urls().len(),
        "ruler started"
    );
    let task = tokio::spawn(Arc::clone(&ruler).run());
    Ok((ruler, task))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// Gauges that are cheaper to sample than to maintain.
async fn report_gauges(raft: Arc<RaftNode>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let r = Arc::clone(&raft);
        let sizes = tokio::task::spawn_blocking(move || r.db().sizes()).await.unwrap_or_default();
        for (cf, bytes) in sizes {
            metrics::gauge!("balsa_rocksdb_size_bytes", "cf" => cf).set(bytes as f64);
        }
        let status = raft.status();
        let streams: u64 = status.iter().map(|g| g.streams).sum();
        let chunks: u64 = status.iter().map(|g| g.chunks).sum();
        let leaders = status.iter().filter(|g| g.leader == Some(raft.id())).count();
        metrics::gauge!("loki_ingester_memory_streams").set(streams as f64);
        metrics::gauge!("balsa_sealed_chunks").set(chunks as f64);
        metrics::gauge!("balsa_shard_leaders").set(leaders as f64);
    }
}
