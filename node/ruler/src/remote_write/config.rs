//! `ruler.remote_write`: Loki's block [loki `pkg/ruler/config.go`
//! `RemoteWriteConfig`] whose `clients` are Prometheus `remote_write`
//! entries [prometheus `config/config.go` `RemoteWriteConfig`, `QueueConfig`;
//! prometheus/common `config/http_config.go` `HTTPClientConfig`], checked the
//! way Prometheus checks them when it parses them.
//!
//! Every key Prometheus allows in a `remote_write` entry is accepted. Those
//! Balsa implements are typed; the others are kept as raw YAML and
//! [`RemoteWriteClientConfig::ignored_keys`] names the ones that are set
//! (keys Loki itself overrides, `name`, `metadata_config`, `send_exemplars`,
//! are never reported).

use std::collections::BTreeMap;

use balsa_model::units::Duration;
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// Prometheus' remote-write 1.0 message name (the `protobuf_message` default).
pub const WRITE_V1_MESSAGE: &str = "prometheus.WriteRequest";
/// Prometheus' remote-write 2.0 message name (accepted, not sent: Balsa speaks 1.0).
pub const WRITE_V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

/// Loki's `ruler.remote_write`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Remote-write recording rule results (and `ALERTS` series).
    pub enabled: bool,
    /// Client id → Prometheus `remote_write` entry. Every sample goes to every client.
    pub clients: BTreeMap<String, RemoteWriteClientConfig>,
    /// Send the rule's tenant as `X-Scope-OrgID`; a configured
    /// `X-Scope-OrgID` header is always dropped, as in Loki.
    pub add_org_id_header: bool,
    /// How often Loki re-reads per-tenant remote-write overrides.
    pub config_refresh_period: Duration,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            clients: BTreeMap::new(),
            add_org_id_header: true,
            config_refresh_period: Duration::from_secs(10),
        }
    }
}

const PREFIX: &str = "ruler.remote_write";

impl RemoteWriteConfig {
    /// Loki's checks: each client is checked as Prometheus parses it (even
    /// when remote write is off), and `enabled` needs a client. The error
    /// names the full key, e.g. `ruler.remote_write.clients.prom.url: ...`.
    pub fn validate(&self) -> Result<(), String> {
        for (id, client) in &self.clients {
            client.validate().map_err(|e| format!("{PREFIX}.clients.{id}.{e}"))?;
        }
        if self.enabled && self.clients.is_empty() {
            return Err(format!("{PREFIX}.clients: remote-write enabled but no clients are configured"));
        }
        Ok(())
    }

    /// Full paths of the keys that are set but that Balsa does not implement.
    pub fn ignored_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.config_refresh_period != Self::default().config_refresh_period {
            out.push(format!("{PREFIX}.config_refresh_period"));
        }
        for (id, client) in &self.clients {
            out.extend(client.ignored_keys().into_iter().map(|k| format!("{PREFIX}.clients.{id}.{k}")));
        }
        out
    }
}

/// One Prometheus `remote_write` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteClientConfig {
    /// Where to POST (required).
    pub url: String,
    /// Accepted; as in Loki, metrics and logs name the queue
    /// `<tenant>-rw-<client id>` instead.
    pub name: String,
    /// Timeout of one request.
    pub remote_timeout: Duration,
    /// Extra request headers (`Authorization` and Prometheus' reserved
    /// headers are refused; `X-Scope-OrgID` is dropped).
    pub headers: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuthConfig>,
    pub authorization: Option<AuthorizationConfig>,
    /// Deprecated spelling of `authorization: {credentials}`.
    pub bearer_token: String,
    /// Deprecated spelling of `authorization: {credentials_file}`.
    pub bearer_token_file: String,
    pub queue_config: QueueConfig,
    pub follow_redirects: bool,
    /// HTTP/2 is not available (the HTTP client speaks HTTP/1.1 only).
    pub enable_http2: bool,
    /// An `http://` proxy for every request.
    pub proxy_url: String,
    /// Comma list of hosts, domains and CIDRs reached without `proxy_url`.
    pub no_proxy: String,
    /// Take the proxy from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`.
    pub proxy_from_environment: bool,
    /// Loki forces it off; recording rules have no exemplars anyway.
    pub send_exemplars: bool,
    /// Recording rules produce no native histograms.
    pub send_native_histograms: bool,
    pub round_robin_dns: bool,
    /// `prometheus.WriteRequest` (1.0, what Balsa sends) or
    /// `io.prometheus.write.v2.Request` (accepted, reported as ignored).
    pub protobuf_message: String,
    // Accepted, not implemented: kept as written.
    pub write_relabel_configs: Option<Value>,
    /// Loki forces `send: false`: recording rules have no metadata.
    pub metadata_config: Option<Value>,
    pub tls_config: Option<Value>,
    pub proxy_connect_header: Option<Value>,
    pub http_headers: Option<Value>,
    pub oauth2: Option<Value>,
    pub sigv4: Option<Value>,
    pub azuread: Option<Value>,
    pub google_iam: Option<Value>,
}

impl Default for RemoteWriteClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            name: String::new(),
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            queue_config: QueueConfig::default(),
            follow_redirects: true,
            enable_http2: false,
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            send_exemplars: false,
            send_native_histograms: false,
            round_robin_dns: false,
            protobuf_message: WRITE_V1_MESSAGE.into(),
            write_relabel_configs: None,
            metadata_config: None,
            tls_config: None,
            proxy_connect_header: None,
            http_headers: None,
            oauth2: None,
            sigv4: None,
            azuread: None,
            google_iam: None,
        }
    }
}

/// Headers Prometheus refuses in `headers` [prometheus `config/config.go` `reservedHeaders`].
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

impl RemoteWriteClientConfig {
    /// Prometheus' parse-time checks; the error starts with the key relative
    /// to the client (`url: ...`, `queue_config.capacity: ...`).
    pub fn validate(&self) -> Result<(), String> {
        if self.url.trim().is_empty() {
            return Err("url: url for remote_write is empty".into());
        }
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("url: invalid url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err("url: must be an http:// or https:// url with a host".into());
        }
        if self.remote_timeout.0.is_zero() {
            return Err("remote_timeout: must be greater than 0".into());
        }
        for (name, value) in &self.headers {
            if name.trim().eq_ignore_ascii_case("x-scope-orgid") {
                // Loki drops it whatever its spelling (registry.go).
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if lower == "authorization" {
                return Err("headers: authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter".into());
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!("headers: the reserved header {name:?} must not be changed"));
            }
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("headers: invalid header name {name:?}"));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(format!("headers: invalid value for header {name:?}"));
            }
        }
        if ![WRITE_V1_MESSAGE, WRITE_V2_MESSAGE].contains(&self.protobuf_message.as_str()) {
            return Err(format!(
                "protobuf_message: unknown type for remote write protobuf message {}, supported: {WRITE_V1_MESSAGE}, {WRITE_V2_MESSAGE}",
                self.protobuf_message
            ));
        }
        self.validate_http_client()?;
        self.queue_config.validate().map_err(|e| format!("queue_config.{e}"))?;
        let configured: Vec<&str> = [
            ("basic_auth", self.basic_auth.is_some()),
            ("authorization", self.authorization.is_some()),
            ("oauth2", self.oauth2.is_some()),
            ("sigv4", self.sigv4.is_some()),
            ("azuread", self.azuread.is_some()),
            ("google_iam", self.google_iam.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect();
        if configured.len() > 1 {
            return Err(format!(
                "{}: at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured, currently configured: {}",
                configured[1],
                configured.join(", ")
            ));
        }
        Ok(())
    }

    /// prometheus/common's `HTTPClientConfig.Validate` and `ProxyConfig.Validate`.
    fn validate_http_client(&self) -> Result<(), String> {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err("bearer_token_file: at most one of bearer_token & bearer_token_file must be configured".into());
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err(
                "bearer_token: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            let count = |xs: [&String; 3]| xs.iter().filter(|s| !s.is_empty()).count();
            if count([&b.username, &b.username_file, &b.username_ref]) > 1 {
                return Err("basic_auth.username_file: at most one of basic_auth username, username_file & username_ref must be configured".into());
            }
            if count([&b.password, &b.password_file, &b.password_ref]) > 1 {
                return Err("basic_auth.password_file: at most one of basic_auth password, password_file & password_ref must be configured".into());
            }
        }
        if let Some(a) = &self.authorization {
            if bearer {
                return Err(
                    "authorization: authorization is not compatible with bearer_token & bearer_token_file".into()
                );
            }
            let set =
                [&a.credentials, &a.credentials_file, &a.credentials_ref].iter().filter(|s| !s.is_empty()).count();
            if set > 1 {
                return Err("authorization.credentials_file: at most one of authorization credentials & credentials_file must be configured".into());
            }
            if a.kind.trim().eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(
                    "authorization: at most one of basic_auth, oauth2 & authorization must be configured".into()
                );
            }
        }
        if self.oauth2.is_some() && self.basic_auth.is_some() {
            return Err("oauth2: at most one of basic_auth, oauth2 & authorization must be configured".into());
        }
        let has_proxy_url = !self.proxy_url.is_empty();
        if self.proxy_connect_header.as_ref().is_some_and(|v| !is_empty_value(v))
            && !self.proxy_from_environment
            && !has_proxy_url
        {
            return Err("proxy_connect_header: if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && has_proxy_url {
            return Err("proxy_url: if proxy_from_environment is configured, proxy_url must not be configured".into());
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err("no_proxy: if proxy_from_environment is configured, no_proxy must not be configured".into());
        }
        if !has_proxy_url && !self.no_proxy.is_empty() {
            return Err("no_proxy: if no_proxy is configured, proxy_url must also be configured".into());
        }
        if has_proxy_url {
            reqwest::Url::parse(&self.proxy_url).map_err(|e| format!("proxy_url: invalid url: {e}"))?;
        }
        Ok(())
    }

    /// The set keys Balsa does not implement, relative to the client.
    pub fn ignored_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let raw = [
            ("write_relabel_configs", &self.write_relabel_configs),
            ("tls_config", &self.tls_config),
            ("proxy_connect_header", &self.proxy_connect_header),
            ("http_headers", &self.http_headers),
            ("oauth2", &self.oauth2),
            ("sigv4", &self.sigv4),
            ("azuread", &self.azuread),
            ("google_iam", &self.google_iam),
        ];
        for (key, value) in raw {
            if value.as_ref().is_some_and(|v| !is_empty_value(v)) {
                out.push(key.to_string());
            }
        }
        if let Some(b) = &self.basic_auth {
            if !b.username_ref.is_empty() {
                out.push("basic_auth.username_ref".into());
            }
            if !b.password_ref.is_empty() {
                out.push("basic_auth.password_ref".into());
            }
        }
        if self.authorization.as_ref().is_some_and(|a| !a.credentials_ref.is_empty()) {
            out.push("authorization.credentials_ref".into());
        }
        if self.enable_http2 {
            out.push("enable_http2".into());
        }
        if self.round_robin_dns {
            out.push("round_robin_dns".into());
        }
        if self.protobuf_message != WRITE_V1_MESSAGE {
            out.push("protobuf_message".into());
        }
        let q = QueueConfig::default();
        if self.queue_config.max_shards != q.max_shards {
            out.push("queue_config.max_shards".into());
        }
        if self.queue_config.min_shards != q.min_shards {
            out.push("queue_config.min_shards".into());
        }
        out
    }
}

/// `null`, `{}` and `[]` mean unset.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Mapping(m) => m.is_empty(),
        Value::Sequence(s) => s.is_empty(),
        _ => false,
    }
}

/// `basic_auth` of a `remote_write` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    /// Read (and trimmed) at every request.
    pub username_file: String,
    /// Secret-manager reference: not implemented.
    pub username_ref: String,
    pub password: String,
    /// Read (and trimmed) at every request.
    pub password_file: String,
    /// Secret-manager reference: not implemented.
    pub password_ref: String,
}

/// `authorization` of a `remote_write` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Scheme (`Bearer` when empty).
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: String,
    /// Read (and trimmed) at every request.
    pub credentials_file: String,
    /// Secret-manager reference: not implemented.
    pub credentials_ref: String,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            kind: "Bearer".into(),
            credentials: String::new(),
            credentials_file: String::new(),
            credentials_ref: String::new(),
        }
    }
}

/// `queue_config` of a `remote_write` entry, with Prometheus' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples queued per tenant before the oldest are dropped.
    pub capacity: usize,
    /// Accepted and checked; Balsa sends with one sender per client and tenant.
    pub max_shards: usize,
    /// Accepted and checked; see `max_shards`.
    pub min_shards: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits for a batch to fill.
    pub batch_send_deadline: Duration,
    /// First retry delay; doubled after each retry up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Retry HTTP 429 (else a 429 drops the batch, like any other 4xx).
    pub retry_on_http_429: bool,
    /// Samples older than this are dropped instead of sent or retried (0: never).
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::default(),
        }
    }
}

impl QueueConfig {
    /// Prometheus' `QueueConfig.Validate`; the error starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_shards == 0 {
            return Err("max_shards: remote write queue max_shards must be positive".into());
        }
        if self.min_shards == 0 {
            return Err("min_shards: remote write queue min_shards must be positive".into());
        }
        if self.min_shards > self.max_shards {
            return Err("min_shards: remote write queue min_shards must not be greater than max_shards".into());
        }
        if self.max_samples_per_send == 0 {
            return Err("max_samples_per_send: remote write queue max_samples_per_send must be positive".into());
        }
        if self.capacity == 0 {
            return Err("capacity: remote write queue capacity must be positive".into());
        }
        if self.max_backoff < self.min_backoff {
            return Err("max_backoff: remote write queue max_backoff must not be less than min_backoff".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_prometheus_and_loki_defaults() {
        let c = RemoteWriteConfig::default();
        assert!(!c.enabled && c.add_org_id_header);
        assert_eq!(c.config_refresh_period, Duration::from_secs(10));
        let q = QueueConfig::default();
        assert_eq!((q.capacity, q.max_shards, q.min_shards, q.max_samples_per_send), (10_000, 50, 1, 2000));
        assert_eq!((q.min_backoff, q.max_backoff), (Duration::from_millis(30), Duration::from_secs(5)));
        assert!(!q.retry_on_http_429);
        let client: RemoteWriteClientConfig = serde_yaml_ng::from_str("url: http://p/api/v1/write\n").unwrap();
        client.validate().unwrap();
        assert_eq!(client.remote_timeout, Duration::from_secs(30));
        assert!(client.follow_redirects);
        assert!(client.ignored_keys().is_empty());
    }

    #[test]
    fn prometheus_checks_name_the_key() {
        let check = |yaml: &str| serde_yaml_ng::from_str::<RemoteWriteClientConfig>(yaml).unwrap().validate();
        assert!(check("name: x\n").unwrap_err().starts_with("url:"));
        assert!(check("url: http://p\nheaders: {Authorization: x}\n").unwrap_err().starts_with("headers:"));
        assert!(check("url: http://p\nheaders: {User-Agent: x}\n").unwrap_err().starts_with("headers:"));
        assert!(
            check("url: http://p\nqueue_config: {capacity: 0}\n").unwrap_err().starts_with("queue_config.capacity:")
        );
        assert!(
            check("url: http://p\nqueue_config: {min_backoff: 1s, max_backoff: 10ms}\n")
                .unwrap_err()
                .starts_with("queue_config.max_backoff:")
        );
        assert!(
            check("url: http://p\nbasic_auth: {username: a}\nauthorization: {credentials: b}\n")
                .unwrap_err()
                .starts_with("authorization:")
        );
        assert!(check("url: http://p\nbearer_token: a\nbearer_token_file: b\n").is_err());
        assert!(check("url: http://p\nprotobuf_message: nope\n").unwrap_err().starts_with("protobuf_message:"));
        assert!(check("url: http://p\nno_proxy: localhost\n").unwrap_err().starts_with("no_proxy:"));
        assert!(check("url: http://p\nsigv4: {region: eu}\nbasic_auth: {username: a}\n").is_err());
        check("url: http://p\nheaders: {X-Scope-OrgID: other, X-Extra: 1}\n").unwrap();
    }

    #[test]
    fn enabled_needs_clients() {
        let c = RemoteWriteConfig { enabled: true, ..Default::default() };
        assert_eq!(
            c.validate().unwrap_err(),
            "ruler.remote_write.clients: remote-write enabled but no clients are configured"
        );
        RemoteWriteConfig::default().validate().unwrap();
    }
}
