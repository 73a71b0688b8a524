//! Incoming calls: hands each to the shard's group on this node.

use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use super::pb;
use crate::codec;
use crate::node::RaftNode;
use crate::state_machine::ShardSnapshot;
use crate::types::{SnapshotMeta, TypeConfig, Vote};

/// Snapshots received at once; more wait (each may be large).
const CONCURRENT_SNAPSHOTS: usize = 2;

pub struct TransportService {
    node: Arc<RaftNode>,
    snapshots: Semaphore,
}

impl TransportService {
    pub fn new(node: Arc<RaftNode>) -> Self {
        Self { node, snapshots: Semaphore::new(CONCURRENT_SNAPSHOTS) }
    }

    pub fn into_server(self) -> pb::transport_server::TransportServer<Self> {
        pb::transport_server::TransportServer::new(self)
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    fn raft(&self, shard: u32) -> Result<&crate::types::Raft, Status> {
        self.node.raft(shard).ok_or_else(|| Status::not_found(format!("no shard {shard} on this node")))
    }
}

fn encode_reply<T: serde::Serialize, E: std::fmt::Display>(r: Result<T, E>) -> pb::RaftReply {
    match r {
        Ok(v) => match codec::encode(&v) {
            Ok(payload) => pb::RaftReply { payload, error: String::new() },
            Err(e) => pb::RaftReply { payload: Vec::new(), error: e.to_string() },
        },
        Err(e) => pb::RaftReply { payload: Vec::new(), error: e.to_string() },
    }
}

fn bad(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl pb::transport_server::Transport for TransportService {
    async fn raft(&self, request: Request<pb::RaftRequest>) -> Result<Response<pb::RaftReply>, Status> {
        let req = request.into_inner();
        let raft = self.raft(req.shard)?;
        let reply = match pb::RaftRpc::try_from(req.rpc).map_err(bad)? {
            pb::RaftRpc::AppendEntries => {
                let rpc: AppendEntriesRequest<TypeConfig> = codec::decode(&req.payload).map_err(bad)?;
                encode_reply(raft.append_entries(rpc).await)
            }
            pb::RaftRpc::Vote => {
                let rpc: VoteRequest<TypeConfig> = codec::decode(&req.payload).map_err(bad)?;
                encode_reply(raft.vote(rpc).await)
            }
            pb::RaftRpc::PreVote => {
                let rpc: VoteRequest<TypeConfig> = codec::decode(&req.payload).map_err(bad)?;
                encode_reply(raft.pre_vote(rpc).await)
            }
            pb::RaftRpc::TransferLeader => {
                let rpc: TransferLeaderRequest<TypeConfig> = codec::decode(&req.payload).map_err(bad)?;
                encode_reply(raft.handle_transfer_leader(rpc).await)
            }
        };
        Ok(Response::new(reply))
    }

    async fn install_snapshot(
        &self,
        request: Request<tonic::Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        let _permit = self.snapshots.acquire().await.map_err(|_| Status::unavailable("shutting down"))?;
        let mut stream = request.into_inner();
        let first = stream.message().await?.ok_or_else(|| bad("empty snapshot stream"))?;
        let shard = first.shard;
        let raft = self.raft(shard)?;
        let vote: Vote = codec::decode(&first.vote).map_err(bad)?;
        let meta: SnapshotMeta = codec::decode(&first.meta).map_err(bad)?;
        let dir = self.node.snapshot_dir(shard);
        tokio::fs::create_dir_all(&dir).await.map_err(|e| Status::internal(e.to_string()))?;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("received-{}-{seq}.in", first.from));
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| Status::internal(e.to_string()))?;
        let mut bytes = first.data.len() as u64;
        file.write_all(&first.data).await.map_err(|e| Status::internal(e.to_string()))?;
        while let Some(chunk) = stream.message().await? {
            bytes += chunk.data.len() as u64;
            file.write_all(&chunk.data).await.map_err(|e| Status::internal(e.to_string()))?;
        }
        file.sync_all().await.map_err(|e| Status::internal(e.to_string()))?;
        drop(file);
        tracing::info!(shard, from = first.from, bytes, last_log_id = ?meta.last_log_id, "received snapshot");
        let snapshot = openraft::Snapshot { meta, snapshot: ShardSnapshot::File(path.clone()) };
        let result = raft.install_full_snapshot(vote, snapshot).await;
        let _ = tokio::fs::remove_file(&path).await;
        Ok(Response::new(encode_reply(result)))
    }

    async fn propose(&self, request: Request<pb::ProposeRequest>) -> Result<Response<pb::ProposeReply>, Status> {
        let req = request.into_inner();
        let result = self.node.propose_here(req.shard, req.command).await;
        Ok(Response::new(pb::ProposeReply { result: Some(result) }))
    }

    async fn read_index(&self, request: Request<pb::ShardRef>) -> Result<Response<pb::ReadIndexReply>, Status> {
        let shard = request.into_inner().shard;
        Ok(Response::new(self.node.read_index_here(shard).await))
    }

    async fn hello(&self, request: Request<pb::HelloRequest>) -> Result<Response<pb::HelloReply>, Status> {
        let req = request.into_inner();
        tracing::debug!(from = req.from, "hello");
        Ok(Response::new(pb::HelloReply {
            node_id: self.node.id(),
            shards: self.node.shard_count(),
            initialized_groups: self.node.initialized_groups().await,
            boot_id: self.node.boot_id(),
        }))
    }
}
