//! `ruler.alertmanager_client`: how the notifier authenticates to
//! Alertmanager, with Loki's keys (dskit's TLS client block, Loki's
//! `BasicAuth` and `HeaderAuth` inlined) [loki `pkg/ruler/config/alertmanager.go`].

use serde::{Deserialize, Serialize};

/// Every key Loki's `alertmanager_client` block has.
///
/// Basic auth and the `Authorization` header are implemented. The `tls_*`
/// keys are accepted so a Loki config loads, but this build sends plain HTTP
/// only ([`AlertmanagerClientConfig::ignored_keys`] lists those that are set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerClientConfig {
    /// Client certificate (needs `tls_key_path`).
    pub tls_cert_path: String,
    /// Client key (needs `tls_cert_path`).
    pub tls_key_path: String,
    /// CA bundle to verify the server with (default: the system's).
    pub tls_ca_path: String,
    /// Name expected on the server's certificate.
    pub tls_server_name: String,
    pub tls_insecure_skip_verify: bool,
    /// Comma list of Go cipher suite names.
    pub tls_cipher_suites: String,
    /// `VersionTLS10` .. `VersionTLS13`.
    pub tls_min_version: String,
    /// Overrides the user name of a `user:pass@` in the URL.
    pub basic_auth_username: String,
    /// Overrides the password of a `user:pass@` in the URL.
    pub basic_auth_password: String,
    /// Scheme of the `Authorization` header (`Bearer`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `Authorization: <type> <credentials>`; wins over `credentials_file`.
    pub credentials: String,
    /// File holding the credentials, read (and trimmed) at every request.
    pub credentials_file: String,
}

impl Default for AlertmanagerClientConfig {
    fn default() -> Self {
        Self {
            tls_cert_path: String::new(),
            tls_key_path: String::new(),
            tls_ca_path: String::new(),
            tls_server_name: String::new(),
            tls_insecure_skip_verify: false,
            tls_cipher_suites: String::new(),
            tls_min_version: String::new(),
            basic_auth_username: String::new(),
            basic_auth_password: String::new(),
            kind: "Bearer".into(),
            credentials: String::new(),
            credentials_file: String::new(),
        }
    }
}

/// Go's `crypto/tls` cipher suite names dskit accepts (secure and insecure).
const CIPHER_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

const PREFIX: &str = "ruler.alertmanager_client";

impl AlertmanagerClientConfig {
    /// Checks what types alone cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.tls_cert_path.is_empty() && self.tls_key_path.is_empty() {
            return Err(format!("{PREFIX}.tls_key_path: must be set when tls_cert_path is set"));
        }
        if !self.tls_key_path.is_empty() && self.tls_cert_path.is_empty() {
            return Err(format!("{PREFIX}.tls_cert_path: must be set when tls_key_path is set"));
        }
        for suite in self.tls_cipher_suites.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !CIPHER_SUITES.contains(&suite) {
                return Err(format!("{PREFIX}.tls_cipher_suites: unsupported cipher suite {suite:?}"));
            }
        }
        if !["", "VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"]
            .contains(&self.tls_min_version.as_str())
        {
            return Err(format!(
                "{PREFIX}.tls_min_version: unknown tls version {:?} (use VersionTLS10, VersionTLS11, VersionTLS12 or VersionTLS13)",
                self.tls_min_version
            ));
        }
        Ok(())
    }

    /// The set keys Balsa does nothing with, as full key paths for one log
    /// line at start: rustls picks its own cipher suites, and the server
    /// name is always the URL's host.
    pub fn ignored_keys(&self) -> Vec<String> {
        let set = [
            ("tls_server_name", !self.tls_server_name.is_empty()),
            ("tls_cipher_suites", !self.tls_cipher_suites.is_empty()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(k, _)| format!("{PREFIX}.{k}")).collect()
    }

    /// Applies the TLS keys to an HTTP client: a CA bundle to trust besides
    /// the system's, a client certificate and key, skipping verification,
    /// and the lowest TLS version.
    pub fn apply_tls(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
        let read =
            |key: &str, path: &str| std::fs::read(path).map_err(|e| format!("{PREFIX}.{key}: cannot read {path}: {e}"));
        if !self.tls_ca_path.is_empty() {
            let pem = read("tls_ca_path", &self.tls_ca_path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("{PREFIX}.tls_ca_path: {} holds no PEM certificate", self.tls_ca_path))?;
            builder = builder.tls_certs_merge(certs);
        }
        if !self.tls_cert_path.is_empty() {
            let mut pem = read("tls_cert_path", &self.tls_cert_path)?;
            pem.push(b'\n');
            pem.extend(read("tls_key_path", &self.tls_key_path)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| format!("{PREFIX}.tls_cert_path: not a PEM certificate and key: {e}"))?;
            builder = builder.identity(identity);
        }
        if self.tls_insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder = match self.tls_min_version.as_str() {
            "VersionTLS13" => builder.min_tls_version(reqwest::tls::Version::TLS_1_3),
            // rustls speaks TLS 1.2 and 1.3 only: older minimums change nothing.
            _ => builder.min_tls_version(reqwest::tls::Version::TLS_1_2),
        };
        Ok(builder)
    }

    /// Loki's `BasicAuth.IsEnabled`: a user name or a password is set.
    pub(crate) fn basic_auth_enabled(&self) -> bool {
        !self.basic_auth_username.is_empty() || !self.basic_auth_password.is_empty()
    }

    /// Loki's `HeaderAuth.IsEnabled`: credentials or a credentials file is set.
    pub(crate) fn header_auth_enabled(&self) -> bool {
        !self.credentials.is_empty() || !self.credentials_file.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_loki_key_loads() {
        let cfg: AlertmanagerClientConfig = serde_yaml_ng::from_str(
            r#"
tls_cert_path: /c.pem
tls_key_path: /k.pem
tls_ca_path: /ca.pem
tls_server_name: am.example
tls_insecure_skip_verify: true
tls_cipher_suites: TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384
tls_min_version: VersionTLS12
basic_auth_username: u
basic_auth_password: p
type: Token
credentials: secret
credentials_file: /token
"#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.kind, "Token");
        assert_eq!(
            cfg.ignored_keys(),
            vec![format!("{PREFIX}.tls_server_name"), format!("{PREFIX}.tls_cipher_suites")]
        );
        assert_eq!(AlertmanagerClientConfig::default().kind, "Bearer");
        assert!(AlertmanagerClientConfig::default().ignored_keys().is_empty());
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let err = serde_yaml_ng::from_str::<AlertmanagerClientConfig>("basic_auth_user: x\n").unwrap_err().to_string();
        assert!(err.contains("basic_auth_user"), "{err}");
        let cfg = AlertmanagerClientConfig { tls_cert_path: "/c".into(), ..Default::default() };
        assert!(cfg.validate().unwrap_err().starts_with("ruler.alertmanager_client.tls_key_path:"));
        let cfg = AlertmanagerClientConfig { tls_min_version: "TLS1.2".into(), ..Default::default() };
        assert!(cfg.validate().unwrap_err().starts_with("ruler.alertmanager_client.tls_min_version:"));
        let cfg = AlertmanagerClientConfig { tls_cipher_suites: "NOPE".into(), ..Default::default() };
        assert!(cfg.validate().unwrap_err().starts_with("ruler.alertmanager_client.tls_cipher_suites:"));
    }
}
