//! Streams, chunks and the stream index (being written).

pub mod config;

pub use config::IngesterConfig;
