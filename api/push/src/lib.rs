//! Push decoding (placeholder).
