//! `ingester`: when head chunks are sealed, with Loki's key names and defaults.

use balsa_model::units::{ByteSize, Duration};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Seal a head chunk once it holds this many uncompressed bytes.
    pub chunk_target_size: ByteSize,
    /// Uncompressed bytes per block inside a sealed chunk.
    pub chunk_block_size: ByteSize,
    /// Seal a head chunk whose entries span more than this (entry time).
    pub max_chunk_age: Duration,
    /// Seal a head chunk that received nothing for this long, in shard time
    /// (entry times, and the leader's periodic `Tick`).
    pub chunk_idle_period: Duration,
    /// Loki's chunk compression; Balsa's chunks are always snappy.
    pub chunk_encoding: String,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            chunk_target_size: ByteSize(1_572_864),
            chunk_block_size: ByteSize::kib(256),
            max_chunk_age: Duration::from_secs(2 * 3600),
            chunk_idle_period: Duration::from_secs(30 * 60),
            chunk_encoding: "snappy".into(),
        }
    }
}

/// Loki's chunk encodings (`pkg/compression`), all accepted so a Loki config
/// loads; Balsa stores every chunk as snappy whatever is named.
pub const LOKI_CHUNK_ENCODINGS: &[&str] =
    &["none", "gzip", "lz4-64k", "snappy", "lz4-256k", "lz4-1M", "lz4", "flate", "zstd"];

impl IngesterConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.chunk_block_size.0 == 0 || self.chunk_target_size.0 == 0 {
            return Err("ingester.chunk_block_size and ingester.chunk_target_size must be positive".into());
        }
        if self.max_chunk_age.0.is_zero() {
            return Err("ingester.max_chunk_age must be positive".into());
        }
        if self.chunk_idle_period.0.is_zero() {
            return Err("ingester.chunk_idle_period must be positive".into());
        }
        if !LOKI_CHUNK_ENCODINGS.contains(&self.chunk_encoding.as_str()) {
            return Err(format!(
                "ingester.chunk_encoding: invalid encoding: {}, supported: {}",
                self.chunk_encoding,
                LOKI_CHUNK_ENCODINGS.join(", ")
            ));
        }
        Ok(())
    }
}
