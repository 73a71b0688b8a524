//! The node-to-node transport: one tonic service on the gRPC port, one cached
//! channel per peer shared by every group, the shard id in every call.

mod client;
pub mod filter;
mod server;

/// Generated from `proto/transport.proto`.
pub mod pb {
    tonic::include_proto!("balsa.transport.v1");
}

pub use client::{Network, PeerPool, TransportError};
pub use filter::NetFilter;
pub use server::TransportService;
