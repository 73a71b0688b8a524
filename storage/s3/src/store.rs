//! [`S3Store`]: the object store over aws-sdk-s3.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use balsa_storage::StorageError;
use balsa_storage::tier::{BoxFuture, ObjectInfo, ObjectStore};

use crate::config::AwsConfig;

/// Why the S3 tier could not start. The message names the bucket and the fix.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error(
        "s3 bucket {bucket:?} does not exist and could not be created: {reason}; create it, or give these credentials \
         s3:CreateBucket (storage_config.aws.bucketnames)"
    )]
    CreateBucket { bucket: String, reason: String },
    #[error(
        "s3 bucket {bucket:?} is not usable: {reason}; check storage_config.aws (endpoint, region, credentials) and \
         that these credentials may list, read and write the bucket"
    )]
    Bucket { bucket: String, reason: String },
}

/// Sealed chunk objects in one bucket.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("bucket", &self.bucket).finish()
    }
}

impl S3Store {
    /// A client for `config`'s bucket; nothing is contacted yet.
    pub async fn new(config: &AwsConfig) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        let region = if config.region.trim().is_empty() {
            aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else(Region::new("us-east-1"))
                .region()
                .await
                .unwrap_or_else(|| Region::new("us-east-1"))
        } else {
            Region::new(config.region.trim().to_string())
        };
        loader = loader.region(region);
        if !config.access_key_id.is_empty() {
            let token = (!config.session_token.is_empty()).then(|| config.session_token.clone());
            let creds =
                Credentials::new(&config.access_key_id, &config.secret_access_key, token, None, "storage_config.aws");
            loader = loader.credentials_provider(creds);
        }
        let sdk = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(config.s3forcepathstyle)
            // S3-compatible servers (older MinIO, moto) reject the newer
            // default checksum headers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(url) = config.endpoint_url() {
            builder = builder.endpoint_url(url);
        }
        Self { client: Client::from_conf(builder.build()), bucket: config.bucket().to_string() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Makes sure the bucket exists, creating it when it does not, so that a
    /// fresh MinIO or account works without a manual step.
    pub async fn ensure_bucket(&self) -> Result<(), S3Error> {
        let bucket = self.bucket.clone();
        match self.client.head_bucket().bucket(&bucket).send().await {
            Ok(_) => return Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => {}
            Err(e) => return Err(S3Error::Bucket { bucket, reason: error_chain(&e) }),
        }
        let mut create = self.client.create_bucket().bucket(&bucket);
        let region = self.client.config().region().map(|r| r.as_ref().to_string()).unwrap_or_default();
        if !region.is_empty() && region != "us-east-1" {
            let location = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build();
            create = create.create_bucket_configuration(location);
        }
        match create.send().await {
            Ok(_) => {
                tracing::info!(bucket = %bucket, "created s3 bucket");
                Ok(())
            }
            Err(SdkError::ServiceError(e))
                if e.err().is_bucket_already_owned_by_you() || e.err().is_bucket_already_exists() =>
            {
                Ok(())
            }
            Err(e) => Err(S3Error::CreateBucket { bucket, reason: error_chain(&e) }),
        }
    }

    fn error<E, R>(&self, op: &str, key: &str, e: SdkError<E, R>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let not_found =
            matches!(&e, SdkError::ServiceError(se) if matches!(se.err().code(), Some("NoSuchKey" | "NotFound")));
        let message = format!("s3 bucket {}: {op} {key}: {}", self.bucket, error_chain(&e));
        metrics::counter!("balsa_s3_request_errors_total", "operation" => op.to_string()).increment(1);
        if not_found { StorageError::not_found(message) } else { StorageError::unavailable(message) }
    }
}

/// An error and its sources, `: `-separated, without debug dumps; a
/// service error also names its code.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn observe(op: &'static str, started: Instant) {
    metrics::histogram!("balsa_s3_request_duration_seconds", "operation" => op).record(started.elapsed().as_secs_f64());
}

impl ObjectStore for S3Store {
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let started = Instant::now();
            let len = data.len();
            let r = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(data)).send().await;
            observe("put", started);
            r.map_err(|e| self.error("put", key, e))?;
            metrics::counter!("balsa_s3_uploaded_bytes_total").increment(len as u64);
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, StorageError>> {
        Box::pin(async move {
            let started = Instant::now();
            let out = self.client.get_object().bucket(&self.bucket).key(key).send().await;
            let out = out.map_err(|e| self.error("get", key, e))?;
            let body = out.body.collect().await.map_err(|e| {
                StorageError::unavailable(format!("s3 bucket {}: get {key}: reading the body: {e}", self.bucket))
            })?;
            observe("get", started);
            let bytes = body.into_bytes().to_vec();
            metrics::counter!("balsa_s3_downloaded_bytes_total").increment(bytes.len() as u64);
            Ok(bytes)
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> BoxFuture<'a, Result<Vec<u8>, StorageError>> {
        Box::pin(async move {
            if end <= start {
                return Ok(Vec::new());
            }
            let started = Instant::now();
            let range = format!("bytes={start}-{}", end - 1);
            let out = self.client.get_object().bucket(&self.bucket).key(key).range(range).send().await;
            let out = match out {
                Ok(out) => out,
                // A range past the end of the object.
                Err(SdkError::ServiceError(e)) if e.err().code() == Some("InvalidRange") => return Ok(Vec::new()),
                Err(e) => return Err(self.error("get", key, e)),
            };
            let body = out.body.collect().await.map_err(|e| {
                StorageError::unavailable(format!("s3 bucket {}: get {key}: reading the body: {e}", self.bucket))
            })?;
            observe("get_range", started);
            let bytes = body.into_bytes().to_vec();
            metrics::counter!("balsa_s3_downloaded_bytes_total").increment(bytes.len() as u64);
            Ok(bytes)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.client.delete_object().bucket(&self.bucket).key(key).send().await;
            observe("delete", started);
            r.map_err(|e| self.error("delete", key, e))?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectInfo>, StorageError>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let started = Instant::now();
                let mut req = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix);
                if let Some(t) = token.take() {
                    req = req.continuation_token(t);
                }
                let page = req.send().await;
                observe("list", started);
                let page = page.map_err(|e| self.error("list", prefix, e))?;
                keys.extend(page.contents().iter().filter_map(|o| {
                    Some(ObjectInfo {
                        key: o.key()?.to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                        modified_ms: o.last_modified().and_then(|t| t.to_millis().ok()).unwrap_or(0),
                    })
                }));
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            keys.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(keys)
        })
    }
}
