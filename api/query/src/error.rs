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
    /// Data lives in an object store that cannot be reached: 503, and the
    /// message says so.
    Unavailable,
    /// A query limit was exceeded (`max_query_series`, ...): 400.
    Limit,
    /// The query ran past `query_timeout`: 504.
    Timeout,
    /// Evaluation failed with an error that Loki does not count as a client error (vector matching
    /// conflicts in binary operations): 500, and the message is shown as is.
    Execution,
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
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Limit(String),
    #[error("{TIMEOUT_MESSAGE}")]
    Timeout,
    #[error("{0}")]
    Execution(String),
}

/// Loki's message for a query that ran out of time (`pkg/util/server/error.go`).
pub const TIMEOUT_MESSAGE: &str = "Request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed.";

impl QueryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::BadQuery(_) => ErrorKind::BadQuery,
            QueryError::Unsupported(_) => ErrorKind::Unsupported,
            QueryError::Storage(_) => ErrorKind::Storage,
            QueryError::Unavailable(_) => ErrorKind::Unavailable,
            QueryError::Limit(_) => ErrorKind::Limit,
            QueryError::Timeout => ErrorKind::Timeout,
            QueryError::Execution(_) => ErrorKind::Execution,
        }
    }

    /// 400 for bad or unsupported queries, 500 for storage failures and execution errors.
    ///
    /// Loki answers 400 only for errors it classifies as client errors (parse, pipeline, limit, ...;
    /// `isClientError` in `pkg/util/server/error.go`); anything else, such as the vector matching
    /// errors of `vectorBinop`, is a 500 carrying the error text.
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::BadQuery | ErrorKind::Unsupported | ErrorKind::Limit => 400,
            ErrorKind::Storage | ErrorKind::Execution => 500,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            QueryError::BadQuery(m)
            | QueryError::Unsupported(m)
            | QueryError::Storage(m)
            | QueryError::Unavailable(m)
            | QueryError::Limit(m)
            | QueryError::Execution(m) => m,
            QueryError::Timeout => TIMEOUT_MESSAGE,
        }
    }
}

impl From<ParseError> for QueryError {
    fn from(e: ParseError) -> Self {
        QueryError::BadQuery(e.to_string())
    }
}

impl From<ReadError> for QueryError {
    fn from(e: ReadError) -> Self {
        if e.unavailable { QueryError::Unavailable(e.message) } else { QueryError::Storage(e.to_string()) }
    }
}
