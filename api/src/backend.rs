//! What the HTTP layer needs from the rest of the node.

use std::sync::Arc;

use balsa_model::{PushRequest, StreamReader, TenantId};
use futures::future::BoxFuture;

/// What a push did beyond being stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Loki-formatted messages for entries storage refused (out-of-order window).
    pub rejected: Vec<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// No quorum or no leader for some shard: the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

pub trait Backend: Send + Sync + 'static {
    /// Stores a validated push; returns once every part is committed and durable.
    fn push(&self, tenant: TenantId, req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>>;

    /// Readers over every shard, each at least as fresh as every push that was
    /// acknowledged before this call.
    fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>>;

    /// `Ok` when this node can serve reads and writes; otherwise why not.
    fn ready(&self) -> Result<(), String>;
}
