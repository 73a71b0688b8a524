//! `ruler.remote_write` as Loki users write it.

use balsa_model::units::Duration;
use balsa_ruler::remote_write::{RemoteWriteConfig, RemoteWriter};

/// A Loki `ruler.remote_write` block using most of what Prometheus allows.
const LOKI_BLOCK: &str = r#"
enabled: true
add_org_id_header: false
config_refresh_period: 30s
clients:
  mimir:
    url: http://mimir:8080/api/v1/push
    name: ignored-by-loki
    remote_timeout: 10s
    headers:
      X-Team: logs
      X-Scope-OrgID: dropped
    basic_auth:
      username: loki
      password_file: /etc/secrets/mimir
    queue_config:
      capacity: 5000
      max_shards: 10
      min_shards: 1
      max_samples_per_send: 500
      batch_send_deadline: 2s
      min_backoff: 100ms
      max_backoff: 10s
      retry_on_http_429: true
      sample_age_limit: 1h
    write_relabel_configs:
      - source_labels: [__name__]
        regex: "debug_.*"
        action: drop
    metadata_config:
      send: false
    tls_config:
      insecure_skip_verify: true
    follow_redirects: false
    enable_http2: false
    send_exemplars: false
    send_native_histograms: false
    protobuf_message: prometheus.WriteRequest
  prom:
    url: http://prometheus:9090/api/v1/write
    authorization:
      type: Bearer
      credentials: abc
    proxy_url: http://proxy:3128
    no_proxy: localhost,10.0.0.0/8
    round_robin_dns: true
    enable_http2: true
"#;

#[test]
fn a_full_loki_block_loads() {
    let cfg: RemoteWriteConfig = serde_yaml_ng::from_str(LOKI_BLOCK).unwrap();
    cfg.validate().unwrap();
    assert!(cfg.enabled && !cfg.add_org_id_header);
    assert_eq!(cfg.config_refresh_period, Duration::from_secs(30));
    let mimir = &cfg.clients["mimir"];
    assert_eq!(mimir.remote_timeout, Duration::from_secs(10));
    assert_eq!(mimir.queue_config.capacity, 5000);
    assert_eq!(mimir.queue_config.max_samples_per_send, 500);
    assert_eq!(mimir.queue_config.batch_send_deadline, Duration::from_secs(2));
    assert_eq!(mimir.queue_config.min_backoff, Duration::from_millis(100));
    assert!(mimir.queue_config.retry_on_http_429);
    assert_eq!(mimir.queue_config.sample_age_limit, Duration::from_secs(3600));
    assert_eq!(mimir.basic_auth.as_ref().unwrap().password_file, "/etc/secrets/mimir");
    assert!(!mimir.follow_redirects);
    let prom = &cfg.clients["prom"];
    assert_eq!(prom.authorization.as_ref().unwrap().credentials, "abc");
    assert_eq!(prom.queue_config.capacity, 10_000, "defaults fill what is not written");

    assert_eq!(
        cfg.ignored_keys(),
        vec![
            "ruler.remote_write.config_refresh_period",
            "ruler.remote_write.clients.mimir.write_relabel_configs",
            "ruler.remote_write.clients.mimir.tls_config",
            "ruler.remote_write.clients.mimir.queue_config.max_shards",
            "ruler.remote_write.clients.prom.enable_http2",
            "ruler.remote_write.clients.prom.round_robin_dns",
        ]
    );
}

#[tokio::test]
async fn the_loki_block_builds_a_writer() {
    let cfg: RemoteWriteConfig = serde_yaml_ng::from_str(LOKI_BLOCK).unwrap();
    let w = RemoteWriter::new(&cfg).unwrap();
    assert!(w.enabled());
}

#[test]
fn misspelled_keys_are_errors_that_name_them() {
    for (yaml, key) in [
        ("enabled: true\nclient:\n  url: http://x\n", "client"),
        ("clients:\n  a:\n    url: http://x\n    remote_timout: 1s\n", "remote_timout"),
        (
            "clients:\n  a:\n    url: http://x\n    queue_config:\n      max_samples_per_sent: 10\n",
            "max_samples_per_sent",
        ),
        ("clients:\n  a:\n    url: http://x\n    basic_auth:\n      user: x\n", "user"),
    ] {
        let err = serde_yaml_ng::from_str::<RemoteWriteConfig>(yaml).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown field `{key}`")), "{yaml}: {err}");
    }
}

#[test]
fn invalid_values_name_the_key() {
    for (yaml, key) in [
        ("enabled: true\n", "ruler.remote_write.clients:"),
        ("clients:\n  a:\n    name: x\n", "ruler.remote_write.clients.a.url:"),
        (
            "clients:\n  a:\n    url: http://x\n    queue_config: {capacity: 0}\n",
            "ruler.remote_write.clients.a.queue_config.capacity:",
        ),
        (
            "clients:\n  a:\n    url: http://x\n    queue_config: {min_shards: 5, max_shards: 2}\n",
            "ruler.remote_write.clients.a.queue_config.min_shards:",
        ),
        (
            "clients:\n  a:\n    url: http://x\n    headers: {Content-Type: x}\n",
            "ruler.remote_write.clients.a.headers:",
        ),
        (
            "clients:\n  a:\n    url: http://x\n    authorization: {type: Basic, credentials: x}\n",
            "ruler.remote_write.clients.a.authorization.type:",
        ),
        (
            "clients:\n  a:\n    url: http://x\n    proxy_url: http://p\n    proxy_from_environment: true\n",
            "ruler.remote_write.clients.a.proxy_url:",
        ),
    ] {
        let cfg: RemoteWriteConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.starts_with(key), "{yaml}: {err}");
        assert!(err.chars().nth(key.len() + 1).is_some_and(|c| !c.is_uppercase()), "lowercase: {err}");
    }
    let bad: RemoteWriteConfig = serde_yaml_ng::from_str("enabled: true\nclients:\n  a:\n    url: ''\n").unwrap();
    assert!(RemoteWriter::new(&bad).unwrap_err().starts_with("ruler.remote_write.clients.a.url:"));
}

#[test]
fn durations_are_prometheus_style() {
    let cfg: RemoteWriteConfig =
        serde_yaml_ng::from_str("clients:\n  a:\n    url: http://x\n    queue_config: {batch_send_deadline: 1m30s}\n")
            .unwrap();
    assert_eq!(cfg.clients["a"].queue_config.batch_send_deadline, Duration::from_secs(90));
    let err = serde_yaml_ng::from_str::<RemoteWriteConfig>("config_refresh_period: soon\n").unwrap_err().to_string();
    assert!(err.contains("soon"), "{err}");
}
