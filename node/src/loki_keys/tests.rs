use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn reference_knows_loki_keys_through_blocks() {
    let leaf = |t: &str| Some(LokiKey::Leaf { type_: t.into() });
    // Each expected type is the one Loki's configuration reference (v3.7.6) gives.
    let cases: &[(&[&str], Option<LokiKey>)] = &[
        (&["server", "grpc_server_max_concurrent_streams"], leaf("<int>")),
        (&["server"], Some(LokiKey::Section)),
        (&["common", "ring", "kvstore", "store"], leaf("<string>")),
        (&["common", "storage", "s3", "bucketnames"], leaf("<string>")),
        // aws_storage_config includes s3_storage_config's keys inline
        (&["storage_config", "aws", "s3forcepathstyle"], leaf("<boolean>")),
        (&["storage_config", "aws", "dynamodb", "api_limit"], leaf("<float>")),
        (&["schema_config", "configs"], leaf("<list_of_period_configs>")),
        (&["limits_config", "max_streams_per_user"], leaf("<int>")),
        (&["ingester", "lifecycler", "ring", "replication_factor"], leaf("<int>")),
        (&["ingester", "wal", "dir"], leaf("<string>")),
        (&["memberlist", "join_members"], leaf("<list_of_strings>")),
        (&["pattern_ingester", "enabled"], leaf("<boolean>")),
        (&["frontend", "encoding"], leaf("<string>")),
        (&["query_range", "results_cache", "cache", "embedded_cache", "max_size_mb"], leaf("<int>")),
        (&["analytics", "reporting_enabled"], leaf("<boolean>")),
        // not Loki keys
        (&["server", "grpc_server_max_concurent_streams"], None),
        (&["limits_config", "max_streams_per_usr"], None),
        (&["nonsense"], None),
        (&["schema_config", "configs", "from"], leaf("<list_of_period_configs>")),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter(|(path, want)| lookup(path) != *want)
        .map(|(path, want)| format!("{}: want {want:?}, got {:?}", path.join("."), lookup(path)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(reference_version(), "v3.7.6");
}

#[test]
fn suggestions() {
    let none: &[String] = &[];
    assert_eq!(
        did_you_mean(&["server"], "grpc_server_max_concurent_streams", none).as_deref(),
        Some("grpc_server_max_concurrent_streams")
    );
    assert_eq!(did_you_mean(&["limits_config"], "max_streams_per_usr", none).as_deref(), Some("max_streams_per_user"));
    assert_eq!(did_you_mean(&[], "limit_config", none).as_deref(), Some("limits_config"));
    assert_eq!(did_you_mean(&[], "clustr", &["cluster".to_string()]).as_deref(), Some("cluster"));
    assert_eq!(did_you_mean(&[], "completely_different_words", none), None);
}

#[test]
fn reasons() {
    let cases = [
        ("common.replication_factor", REPLICATION),
        ("common.ring", RAFT),
        ("ingester.lifecycler.ring.kvstore.store", RAFT),
        ("ingester.lifecycler", RAFT),
        ("distributor.ring", RAFT),
        ("memberlist", RAFT),
        ("ingester.wal", NO_WAL),
        ("schema_config", NO_SCHEMA),
        ("frontend", NO_FRONTEND),
        ("query_range.results_cache", NO_CACHE),
        ("query_range.align_queries_with_step", NO_FRONTEND),
        ("storage_config.tsdb_shipper", ONE_STORE),
        ("storage_config.gcs", S3_ONLY),
        (
            "limits_config.max_streams_per_user",
            "a per-ingester limit: Balsa enforces max_global_streams_per_user across the cluster",
        ),
        ("limits_config.max_query_lookback", NO_LIMIT),
        ("operational_config", NO_EQUIVALENT),
    ];
    for (path, want) in cases {
        assert_eq!(reason(path), want, "{path}");
    }
}

#[test]
fn strips_loki_keys_and_names_unknown_ones() {
    let schema = yaml(
        "server: {http_listen_port: 3100, log_level: info}\nlimits_config: {max_line_size: 1}\ncluster: {shards: 16}\nruler: {}\n",
    );
    let mut doc = yaml(
        "server: {http_listen_port: 3200, grpc_server_max_concurrent_streams: 1000}\n\
         memberlist: {join_members: [a, b]}\n\
         schema_config: {configs: [{from: 2020-10-24, store: tsdb}]}\n\
         limits_config: {max_line_size: 5, max_streams_per_user: 0}\n\
         ruler: {alertmanager_url: http://am}\n",
    );
    let ignored = strip_loki_only(&mut doc, &schema).unwrap();
    let keys: Vec<&str> = ignored.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.grpc_server_max_concurrent_streams",
            "memberlist",
            "schema_config",
            "limits_config.max_streams_per_user"
        ]
    );
    // Balsa's keys are untouched; an empty-default section (ruler) is left to serde.
    assert_eq!(
        doc,
        yaml(
            "server: {http_listen_port: 3200}\nlimits_config: {max_line_size: 5}\nruler: {alertmanager_url: http://am}\n"
        )
    );
    assert_eq!(group_by_reason(&ignored).get(RAFT), Some(&vec!["memberlist".to_string()]));

    let err = |text: &str| strip_loki_only(&mut yaml(text), &schema).unwrap_err();
    let e = err("server: {grpc_server_max_concurent_streams: 1}\n");
    assert_eq!(e.key, "server.grpc_server_max_concurent_streams");
    assert_eq!(e.suggestion.as_deref(), Some("grpc_server_max_concurrent_streams"));
    // A Balsa-only key's typo is suggested from Balsa's schema.
    assert_eq!(err("clustr: {shards: 3}\n").suggestion.as_deref(), Some("cluster"));
    // A typo inside an ignored Loki section is still an error.
    let e = err("memberlist: {join_member: [a]}\n");
    assert_eq!(e.key, "memberlist.join_member");
    assert_eq!(e.suggestion.as_deref(), Some("join_members"));
    assert!(e.to_string().contains("did you mean \"join_members\""), "{e}");
}

#[test]
fn runtime_config_keys() {
    assert!(is_runtime_config_key(&["configs"]));
    assert!(is_runtime_config_key(&["multi_kv_config"]));
    assert!(!is_runtime_config_key(&["overridez"]));
    assert!(is_runtime_config_key(&["limits_config", "max_streams_per_user"]));
    assert!(!is_runtime_config_key(&["limits_config", "max_streams_per_usr"]));
}

#[test]
fn ignored_yaml_groups_by_reason() {
    assert_eq!(ignored_yaml(&[]), "{}\n");
    let ignored = [
        Ignored { key: "schema_config".into(), reason: NO_SCHEMA },
        Ignored { key: "memberlist".into(), reason: RAFT },
        Ignored { key: "common.ring".into(), reason: RAFT },
    ];
    let v: Value = serde_yaml_ng::from_str(&ignored_yaml(&ignored)).unwrap();
    assert_eq!(v[RAFT], yaml("[common.ring, memberlist]"));
    assert_eq!(v[NO_SCHEMA], yaml("[schema_config]"));
}

#[test]
fn loki_flags_name_their_keys() {
    // Each pair is a `CLI flag` line of Loki v3.7.6's reference and the key it documents.
    assert_eq!(flag("-target"), Some(("target", "<string>")));
    assert_eq!(flag("-ingester.max-chunk-age"), Some(("ingester.max_chunk_age", "<duration>")));
    assert_eq!(flag("-validation.discover-log-levels"), Some(("limits_config.discover_log_levels", "<boolean>")));
    assert_eq!(flag("-ruler.storage.local.directory"), Some(("ruler.storage.local.directory", "<string>")));
    assert_eq!(flag("-no.such-flag"), None);
}
