//! The S3 tier of Balsa's storage: an [`ObjectStore`](balsa_storage::ObjectStore)
//! over aws-sdk-s3 (AWS S3, MinIO or any S3-compatible server), configured
//! with Loki's `storage_config.aws` keys, and [`ColdCache`], the bounded cache
//! through which readers fetch cold chunks.

pub mod cache;
pub mod config;
pub mod store;

pub use cache::ColdCache;
pub use config::AwsConfig;
pub use store::{S3Error, S3Store};
