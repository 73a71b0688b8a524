//! Push ingestion for Balsa, matching Grafana Loki's `/loki/api/v1/push`.
//!
//! The pipeline, in the order a request handler calls it:
//!
//! 1. [`decode`] (or [`decode_legacy`] for `/api/prom/push`): Content-Encoding
//!    (gzip, deflate, snappy-ignored), then JSON or snappy-compressed protobuf
//!    into a [`balsa_model::PushRequest`]. Decompression is bounded.
//! 2. [`Validator::validate`]: `service_name` discovery, label and entry checks,
//!    then `detected_level` and generic fields added as structured metadata ([`field_detection`])
//!    against the tenant's [`LimitsConfig`] ([`Overrides`]: `limits_config`
//!    with the tenant's runtime-config overrides laid over it); keeps valid entries, groups all errors into one
//!    400 body, merges streams with identical label sets.
//! 3. [`RateLimiter::check`]: the per-tenant ingestion rate (429), then
//!    optionally [`StreamRateLimiter::apply`] for the per-stream rate.
//!
//! OTLP/HTTP logs take [`otlp::decode`] and [`otlp::to_push_request`]
//! (Loki's mapping, per tenant `limits_config.otlp_config`) in place of step 1.
//!
//! Every failure is a [`PushError`], which knows its HTTP status and body.

pub mod decode;
pub mod error;
pub mod field_detection;
pub mod label_parser;
pub mod limits;
pub mod logproto;
pub mod otlp;
pub mod overrides;
pub mod rate;
pub mod service_name;
pub mod validate;

pub use balsa_model::timefmt;

pub use decode::{DEFAULT_MAX_DECODED_BYTES, decode, decode_legacy, decode_legacy_json};
pub use error::{ErrorKind, PushError};
pub use label_parser::parse_labels;
pub use limits::{LimitsConfig, StreamRetention};
pub use overrides::{
    ForeignKeys, Overrides, Reload, RuntimeConfig, TenantLimits, parse_runtime_config, parse_runtime_config_with,
};
pub use rate::{RateLimiter, StreamRateLimiter};
pub use service_name::{AGGREGATED_METRIC_LABEL, SERVICE_NAME_LABEL, UNKNOWN_SERVICE, discover_service_name};
pub use validate::{ValidatedPush, Validator};
