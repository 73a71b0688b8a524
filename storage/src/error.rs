//! Storage errors: a kind plus the context in which it happened.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The engine below failed to read or write.
    Io,
    /// Bytes on disk could not be decoded.
    Corrupt,
    /// The object store could not be reached or refused the request.
    Unavailable,
    /// The object store has no object under the key.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    pub kind: ErrorKind,
    pub context: String,
}

impl StorageError {
    pub fn io(context: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Io, context: context.into() }
    }
    pub fn corrupt(context: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Corrupt, context: context.into() }
    }
    pub fn unavailable(context: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Unavailable, context: context.into() }
    }
    pub fn not_found(context: impl Into<String>) -> Self {
        Self { kind: ErrorKind::NotFound, context: context.into() }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Io => "storage i/o error",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::Unavailable => "object storage unavailable",
            ErrorKind::NotFound => "object not found",
        };
        write!(f, "{kind}: {}", self.context)
    }
}

impl std::error::Error for StorageError {}

impl From<StorageError> for balsa_model::ReadError {
    fn from(e: StorageError) -> Self {
        match e.kind {
            ErrorKind::Unavailable => balsa_model::ReadError::unavailable(e.to_string()),
            _ => balsa_model::ReadError::new(e.to_string()),
        }
    }
}

impl From<prost::DecodeError> for StorageError {
    fn from(e: prost::DecodeError) -> Self {
        StorageError::corrupt(format!("decode: {e}"))
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
