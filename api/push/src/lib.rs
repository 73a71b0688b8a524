//! Push decoding and validation (being written).

pub mod limits;

pub use limits::LimitsConfig;
