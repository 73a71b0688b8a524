//! Query errors and how they map to HTTP statuses.

use balsa_logql::ParseError;
use balsa_model::ReadError;

/// What kind of failure a [`QueryError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The query is invalid (parse or validation error, bad parameters): 400.
    BadQuery,
    /// The query is valid LogQL that Balsa does not execute yet: 400.
    Unsupported,
    /// Storage failed while reading: 500 (the message is for operators).
    Storage,
}

/// A query failed. Messages are lowercase, Loki-style.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadQuery(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Storage(String),
}

impl QueryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::BadQuery(_) => ErrorKind::BadQuery,
            QueryError::Unsupported(_) => ErrorKind::Unsupported,
            QueryError::Storage(_) => ErrorKind::Storage,
        }
    }

    /// 400 for bad or unsupported queries, 500 for storage failures.
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::BadQuery | ErrorKind::Unsupported => 400,
            ErrorKind::Storage => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            QueryError::BadQuery(m) | QueryError::Unsupported(m) | QueryError::Storage(m) => m,
        }
    }

    pub(crate) fn unsupported(what: impl std::fmt::Display) -> Self {
        QueryError::Unsupported(format!("not supported yet: {what}"))
    }
}

impl From<ParseError> for QueryError {
    fn from(e: ParseError) -> Self {
        QueryError::BadQuery(e.to_string())
    }
}

impl From<ReadError> for QueryError {
    fn from(e: ReadError) -> Self {
        QueryError::Storage(e.to_string())
    }
}
