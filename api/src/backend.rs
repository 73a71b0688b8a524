//! What the HTTP layer needs from the rest of the node.

use std::sync::Arc;

use balsa_model::{AppliedPush, PushRequest, StreamReader, TenantId};
use futures::future::BoxFuture;

/// What a push did beyond being stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Loki-formatted messages for entries storage refused (out-of-order window).
    pub rejected: Vec<String>,
}

/// A log deletion request as `GET /loki/api/v1/delete` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteRequestInfo {
    pub request_id: String,
    pub query: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub processed: bool,
}

/// Why a delete request could not be cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelRefused {
    NotFound,
    AlreadyProcessed,
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

    /// Records a log deletion request; returns its id.
    fn add_delete_request(
        &self,
        _tenant: TenantId,
        _query: String,
        _start_ns: i64,
        _end_ns: i64,
    ) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async { Err(BackendError::Unavailable("log deletion is not available on this node".into())) })
    }

    /// The tenant's delete requests, processed or not (cancelled ones are gone).
    fn delete_requests(&self, _tenant: TenantId) -> BoxFuture<'_, Result<Vec<DeleteRequestInfo>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Cancels a delete request that has not been processed.
    fn cancel_delete_request(
        &self,
        _tenant: TenantId,
        _request_id: String,
    ) -> BoxFuture<'_, Result<Result<(), CancelRefused>, BackendError>> {
        Box::pin(async { Ok(Err(CancelRefused::NotFound)) })
    }

    /// Every push applied on this node from now on, of every tenant, for
    /// live tails (`/loki/api/v1/tail`); `None` when this node cannot tail.
    fn tail(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<AppliedPush>>> {
        None
    }
}
