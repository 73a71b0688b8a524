//! `storage_config.aws`, with Loki's key names.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsConfig {
    /// `host:port` or a URL of an S3-compatible server (MinIO); empty for AWS.
    pub endpoint: String,
    /// The bucket's region; empty takes it from the environment (`AWS_REGION`,
    /// profile, instance metadata), else `us-east-1`.
    pub region: String,
    /// The bucket. Loki accepts a comma-separated list; Balsa uses one bucket.
    pub bucketnames: String,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (MinIO).
    pub s3forcepathstyle: bool,
    /// Static credentials; when empty the SDK's default chain is used
    /// (environment, profile, web identity/IRSA, ECS and EC2 instance roles).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Talk plain HTTP to `endpoint` when it has no scheme.
    pub insecure: bool,
}

impl AwsConfig {
    /// True when a bucket is configured: sealed chunks then move to S3.
    pub fn enabled(&self) -> bool {
        !self.bucketnames.trim().is_empty()
    }

    pub fn bucket(&self) -> &str {
        self.bucketnames.trim()
    }

    /// The endpoint as a URL, if one is set.
    pub fn endpoint_url(&self) -> Option<String> {
        let e = self.endpoint.trim();
        if e.is_empty() {
            None
        } else if e.contains("://") {
            Some(e.to_string())
        } else if self.insecure {
            Some(format!("http://{e}"))
        } else {
            Some(format!("https://{e}"))
        }
    }

    /// Checks what types alone can't: `(key, reason)` on error, the key
    /// relative to `storage_config.aws`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let bucket = self.bucket();
        if bucket.contains(',') {
            return Err(("bucketnames", format!("{bucket:?}: balsa stores chunks in one bucket; name exactly one")));
        }
        if self.access_key_id.is_empty() != self.secret_access_key.is_empty() {
            return Err((
                "secret_access_key",
                "access_key_id and secret_access_key are set together or not at all".into(),
            ));
        }
        if !self.enabled() && !self.endpoint.trim().is_empty() {
            return Err(("bucketnames", "must be set when endpoint is set".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_validation() {
        let mut c = AwsConfig { bucketnames: "loki".into(), endpoint: "minio:9000".into(), ..Default::default() };
        assert_eq!(c.endpoint_url().as_deref(), Some("https://minio:9000"));
        c.insecure = true;
        assert_eq!(c.endpoint_url().as_deref(), Some("http://minio:9000"));
        c.endpoint = "http://127.0.0.1:9000".into();
        assert_eq!(c.endpoint_url().as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.validate().is_ok());
        c.bucketnames = "a,b".into();
        assert_eq!(c.validate().unwrap_err().0, "bucketnames");
        c.bucketnames = "a".into();
        c.access_key_id = "k".into();
        assert_eq!(c.validate().unwrap_err().0, "secret_access_key");
        assert!(!AwsConfig::default().enabled());
        assert!(AwsConfig::default().validate().is_ok());
    }
}
