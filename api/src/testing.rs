//! Helpers for tests that drive the real router without a node: an in-memory
//! [`Backend`] over one [`StreamReader`] per shard and an [`AppState`] with
//! default limits and a fixed clock.

use std::sync::Arc;

use std::sync::Mutex;

use balsa_model::{MemStreams, PushRequest, StreamReader, TenantId};
use balsa_push::{LimitsConfig, RateLimiter, StreamRateLimiter, Validator};
use futures::future::BoxFuture;

use crate::backend::{Backend, BackendError, PushOutcome};
use crate::router::{ApiConfig, AppState};

/// A read-only backend over fixed readers (one per shard). Pushes are refused.
pub struct StaticBackend {
    readers: Vec<Arc<dyn StreamReader>>,
}

impl StaticBackend {
    pub fn new(readers: Vec<Arc<dyn StreamReader>>) -> Self {
        Self { readers }
    }
}

impl Backend for StaticBackend {
    fn push(&self, _tenant: TenantId, _req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>> {
        Box::pin(async { Err(BackendError::Unavailable("this test backend is read-only".into())) })
    }

    fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>> {
        let readers = self.readers.clone();
        Box::pin(async move { Ok(readers) })
    }

    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// An [`AppState`] with auth disabled (tenant `fake`), default limits and a
/// clock fixed at `now_ns`.
pub fn app_state(backend: Arc<dyn Backend>, limits: LimitsConfig, now_ns: i64) -> AppState {
    AppState {
        config: Arc::new(ApiConfig {
            auth_enabled: false,
            multi_tenant_queries_enabled: false,
            max_recv_msg_size: 100 << 20,
            max_decompressed_size: 100 << 20,
            version: "test".into(),
            revision: String::new(),
        }),
        backend,
        validator: Arc::new(Validator::new(limits)),
        rate_limiter: Arc::new(RateLimiter::new()),
        stream_rate_limiter: Arc::new(StreamRateLimiter::new()),
        metrics: Arc::new(String::new),
        config_yaml: Arc::new(|_| String::new()),
        clock: Arc::new(move || now_ns),
    }
}

/// Keeps pushes in memory as one shard; reads see a snapshot.
#[derive(Default)]
pub struct MemBackend {
    streams: Mutex<MemStreams>,
}

impl Backend for MemBackend {
    fn push(&self, tenant: TenantId, req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>> {
        let mut m = self.streams.lock().expect("mem backend lock");
        for s in req.streams {
            m.push(tenant.as_str(), s.labels, s.entries);
        }
        Box::pin(async { Ok(PushOutcome::default()) })
    }

    fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>> {
        let snapshot: Arc<dyn StreamReader> = Arc::new(self.streams.lock().expect("mem backend lock").clone());
        Box::pin(async move { Ok(vec![snapshot]) })
    }

    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
