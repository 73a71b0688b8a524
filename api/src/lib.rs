//! Balsa's HTTP facade, speaking Grafana Loki's API.
//!
//! Handlers decode and validate requests, call a [`Backend`] (the node's
//! distributor and shard readers) and the query engine, and encode results as
//! Loki's JSON. Internal errors never leak: they become a 500 or 503 with a
//! short message, and the detail goes to the log.

pub mod backend;
pub mod cancel;
pub mod delete;
pub mod drilldown;
pub mod error;
pub mod format_query;
pub mod index;
pub mod multi_tenant;
pub mod ops;
pub mod otlp;
pub mod params;
pub mod push;
pub mod query;
pub mod response;
pub mod router;
pub mod tail;
pub mod tenant;
pub mod testing;

pub use backend::{Backend, BackendError, CancelRefused, DeleteRequestInfo, PushOutcome};
pub use router::{ApiConfig, AppState, router};
