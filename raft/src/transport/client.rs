//! Outgoing calls: the per-node pool of peer channels, and openraft's network
//! (one `PeerClient` per group and target, all sharing the pool's channels).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, OptionalSend};
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;
use tonic::transport::{Channel, Endpoint};

use super::filter::{NetFilter, Verdict};
use super::pb;
use super::pb::transport_client::TransportClient;
use crate::codec;
use crate::state_machine::ShardSnapshot;
use crate::types::{NodeId, TypeConfig, Vote};

/// Bytes per snapshot chunk on the wire.
const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Deadline of calls that openraft gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("no address for node {0}")]
    UnknownNode(NodeId),
    #[error("node {node} unreachable: {reason}")]
    Unreachable { node: NodeId, reason: String },
    #[error("call to node {node} timed out after {after:?}")]
    Timeout { node: NodeId, after: Duration },
    #[error("node {node} answered: {status}")]
    Status { node: NodeId, status: String },
}

/// Channels to every peer, created lazily and shared by all groups.
#[derive(Debug)]
pub struct PeerPool {
    self_id: NodeId,
    addrs: HashMap<NodeId, String>,
    channels: Mutex<HashMap<NodeId, Channel>>,
    filter: Arc<NetFilter>,
}

impl PeerPool {
    pub fn new(self_id: NodeId, addrs: HashMap<NodeId, String>, filter: Arc<NetFilter>) -> Arc<Self> {
        Arc::new(Self { self_id, addrs, channels: Mutex::new(HashMap::new()), filter })
    }

    pub fn self_id(&self) -> NodeId {
        self.self_id
    }

    pub fn peers(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.addrs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn addr(&self, node: NodeId) -> Option<&str> {
        self.addrs.get(&node).map(String::as_str)
    }

    pub fn filter(&self) -> &Arc<NetFilter> {
        &self.filter
    }

    fn client(&self, node: NodeId) -> Result<TransportClient<Channel>, TransportError> {
        let mut channels = self.channels.lock().expect("channel pool lock");
        if let Some(ch) = channels.get(&node) {
            return Ok(TransportClient::new(ch.clone()).max_decoding_message_size(64 << 20));
        }
        let addr = self.addrs.get(&node).ok_or(TransportError::UnknownNode(node))?;
        let uri = if addr.contains("://") { addr.clone() } else { format!("http://{addr}") };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| TransportError::Unreachable { node, reason: e.to_string() })?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        // DNS names that do not resolve yet (pods not scheduled) fail per call
        // and are retried by the callers: connecting is lazy.
        let ch = endpoint.connect_lazy();
        channels.insert(node, ch.clone());
        Ok(TransportClient::new(ch).max_decoding_message_size(64 << 20))
    }

    /// Runs one call to `node` under the filter and a deadline.
    pub async fn call<T, F, Fut>(&self, node: NodeId, timeout: Duration, f: F) -> Result<T, TransportError>
    where
        F: FnOnce(TransportClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match self.filter.verdict(self.self_id, node) {
            Verdict::Pass => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Blackhole => {
                // A partition hangs; it does not refuse.
                tokio::time::sleep(timeout).await;
                return Err(TransportError::Timeout { node, after: timeout });
            }
        }
        let client = self.client(node)?;
        match tokio::time::timeout(timeout, f(client)).await {
            Err(_) => Err(TransportError::Timeout { node, after: timeout }),
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                Err(TransportError::Unreachable { node, reason: status.message().to_string() })
            }
            Ok(Err(status)) => Err(TransportError::Status { node, status: status.to_string() }),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
        }
    }
}

/// openraft's network factory for one shard's group.
#[derive(Clone)]
pub struct Network {
    shard: u32,
    pool: Arc<PeerPool>,
}

impl Network {
    pub fn new(shard: u32, pool: Arc<PeerPool>) -> Self {
        Self { shard, pool }
    }
}

pub struct PeerClient {
    shard: u32,
    target: NodeId,
    pool: Arc<PeerPool>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient { shard: self.shard, target, pool: Arc::clone(&self.pool) }
    }
}

fn unreachable_err(e: impl std::fmt::Display) -> Unreachable<TypeConfig> {
    Unreachable::new(&AnyError::error(e.to_string()))
}

fn to_rpc_error(e: TransportError) -> RPCError<TypeConfig> {
    match e {
        TransportError::Status { .. } => RPCError::Network(NetworkError::new(&AnyError::error(e.to_string()))),
        other => RPCError::Unreachable(unreachable_err(other)),
    }
}

fn ttl(option: &RPCOption) -> Duration {
    let t = option.soft_ttl();
    if t.is_zero() { DEFAULT_TIMEOUT } else { t }
}

impl PeerClient {
    async fn raft_rpc<Req: serde::Serialize, Resp: DeserializeOwned>(
        &self,
        rpc: pb::RaftRpc,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let payload = codec::encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let request = pb::RaftRequest { shard: self.shard, rpc: rpc as i32, from: self.pool.self_id(), payload };
        let reply = self
            .pool
            .call(self.target, timeout, |mut c| async move { c.raft(request).await })
            .await
            .map_err(to_rpc_error)?;
        if !reply.error.is_empty() {
            return Err(RPCError::Network(NetworkError::new(&AnyError::error(reply.error))));
        }
        codec::decode(&reply.payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = ShardSnapshot;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // Never send a request with a gap between prev_log_id and its first
        // entry. openraft 0.10.0-alpha.37 can build one from a stale
        // replication session after the log was purged under it (a wiped
        // follower rejoining while writes continue); failing the call ends
        // that session instead.
        if let Some(first) = rpc.entries.first() {
            let expected = rpc.prev_log_id.as_ref().map_or(0, |p| p.index + 1);
            if first.log_id.index != expected {
                return Err(RPCError::Network(NetworkError::new(&AnyError::error(format!(
                    "refusing append with a gap: prev index {:?}, first entry {}",
                    rpc.prev_log_id.as_ref().map(|p| p.index),
                    first.log_id.index
                )))));
            }
        }
        self.raft_rpc(pb::RaftRpc::AppendEntries, &rpc, ttl(&option)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.raft_rpc(pb::RaftRpc::Vote, &rpc, ttl(&option)).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.raft_rpc(pb::RaftRpc::PreVote, &rpc, ttl(&option)).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.raft_rpc(pb::RaftRpc::TransferLeader, &req, ttl(&option)).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::type_config::alias::SnapshotOf<TypeConfig, ShardSnapshot>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let unreachable = |e: &dyn std::fmt::Display| StreamingError::Unreachable(unreachable_err(e));
        // Our own replica is written out now, with the metadata the bytes
        // really correspond to (at or after the announced one).
        let (meta, path, remove_after) = match snapshot.snapshot {
            ShardSnapshot::Local(local) => {
                let (meta, path) = tokio::task::spawn_blocking(move || local.materialize())
                    .await
                    .map_err(|e| unreachable(&e))?
                    .map_err(|e| unreachable(&e))?;
                (meta, path, true)
            }
            ShardSnapshot::File(path) => (snapshot.meta, path, false),
        };
        let vote_bytes = codec::encode(&vote).map_err(|e| unreachable(&e))?;
        let meta_bytes = codec::encode(&meta).map_err(|e| unreachable(&e))?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| unreachable(&e))?;
        let (shard, from) = (self.shard, self.pool.self_id());
        let chunks = futures::stream::unfold((file, true, false), move |(mut file, first, done)| {
            let (vote_bytes, meta_bytes) = (vote_bytes.clone(), meta_bytes.clone());
            async move {
                if done {
                    return None;
                }
                let mut data = vec![0u8; SNAPSHOT_CHUNK];
                let mut filled = 0;
                while filled < data.len() {
                    match file.read(&mut data[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            tracing::warn!(error = %e, "reading snapshot file");
                            return None;
                        }
                    }
                }
                data.truncate(filled);
                let last = filled < SNAPSHOT_CHUNK;
                if !first && filled == 0 {
                    return None;
                }
                let chunk = pb::SnapshotChunk {
                    shard,
                    from,
                    vote: if first { vote_bytes } else { Vec::new() },
                    meta: if first { meta_bytes } else { Vec::new() },
                    data,
                };
                Some((chunk, (file, false, last)))
            }
        });
        let timeout = option.hard_ttl().max(Duration::from_secs(600));
        let send = self.pool.call(self.target, timeout, |mut c| async move { c.install_snapshot(chunks).await });
        let result = tokio::select! {
            r = send => r,
            closed = cancel => {
                if remove_after { let _ = std::fs::remove_file(&path); }
                return Err(StreamingError::Closed(closed));
            }
        };
        if remove_after {
            let _ = std::fs::remove_file(&path);
        }
        let reply = result.map_err(|e| unreachable(&e))?;
        if !reply.error.is_empty() {
            return Err(unreachable(&reply.error));
        }
        codec::decode(&reply.payload).map_err(|e| unreachable(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer whose DNS name does not resolve yet (a pod not scheduled) is a
    /// retryable failure of each call, never a panic or a hang.
    #[tokio::test]
    async fn unresolvable_peer_fails_calls_quickly() {
        let addrs = HashMap::from([(1, "balsa-1.balsa-headless.nowhere.invalid:9095".to_string())]);
        let pool = PeerPool::new(0, addrs, Arc::new(NetFilter::new()));
        let started = std::time::Instant::now();
        let req = pb::HelloRequest { from: 0, shards: 1 };
        let err = pool.call(1, Duration::from_secs(5), |mut c| async move { c.hello(req).await }).await.unwrap_err();
        assert!(matches!(err, TransportError::Unreachable { .. } | TransportError::Status { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "must fail before the deadline");
        assert!(matches!(
            pool.call(7, Duration::from_secs(1), |mut c| async move { c.hello(pb::HelloRequest::default()).await })
                .await,
            Err(TransportError::UnknownNode(7))
        ));
    }
}
