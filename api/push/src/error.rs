//! [`PushError`]: every way a push can fail, with its HTTP status and the
//! body Loki sends (plain text; Loki's `http.Error` adds a trailing newline,
//! which is the HTTP layer's business).

use balsa_model::labels::write_go_quoted;

/// The HTTP class of a [`PushError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: undecodable body or rejected entries.
    BadRequest,
    /// 401: no tenant when auth is enabled.
    Unauthorized,
    /// 413: the (decompressed) body exceeds the configured bound.
    PayloadTooLarge,
    /// 429: tenant or stream rate limit.
    TooManyRequests,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::TooManyRequests => 429,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Loki: `Content-Encoding %q not supported`.
    #[error("Content-Encoding {} not supported", go_quote(.0))]
    UnsupportedContentEncoding(String),

    /// More than `limit` bytes came out of decompression (or the body itself
    /// is larger than the bound).
    #[error("request body too large: more than {limit} bytes after decompression")]
    BodyTooLarge { limit: usize },

    /// The body could not be decoded (bad gzip, snappy, protobuf or JSON).
    /// The message is complete and lowercase.
    #[error("{0}")]
    Malformed(String),

    /// A stream's label string does not parse. Loki:
    /// `Error parsing labels '%s' with error: %s`.
    #[error("Error parsing labels '{labels}' with error: {reason}")]
    InvalidLabels { labels: String, reason: String },

    /// Grouped per-stream/per-entry validation errors (Loki's format strings,
    /// joined as Loki's `GroupedErrors` does).
    #[error("{0}")]
    Validation(String),

    /// Auth enabled and no `X-Scope-OrgID` (dskit: `no org id`).
    #[error("no org id")]
    MissingTenant,

    /// Per-tenant ingestion rate limit (Loki's exact text).
    #[error(
        "Ingestion rate limit exceeded for user {tenant} (limit: {limit} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    )]
    RateLimited { tenant: String, limit: u64, lines: usize, bytes: usize },

    /// Per-stream rate limit: Loki's ingester list of ignored entries.
    #[error("{0}")]
    StreamRateLimited(String),
}

impl PushError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PushError::UnsupportedContentEncoding(_)
            | PushError::Malformed(_)
            | PushError::InvalidLabels { .. }
            | PushError::Validation(_) => ErrorKind::BadRequest,
            PushError::BodyTooLarge { .. } => ErrorKind::PayloadTooLarge,
            PushError::MissingTenant => ErrorKind::Unauthorized,
            PushError::RateLimited { .. } | PushError::StreamRateLimited(_) => ErrorKind::TooManyRequests,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.kind().status()
    }

    /// The response body (without the trailing newline Go's `http.Error` adds).
    pub fn body(&self) -> String {
        self.to_string()
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        PushError::Malformed(msg.into())
    }
}

/// Go's `%q` for a string.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let _ = write_go_quoted(&mut out, s);
    out
}

/// Joins errors the way Loki's `util.GroupedErrors` does: identical messages
/// are counted; with one message seen once it is returned as is, otherwise
/// each becomes `N errors like: msg`, joined by `; `. (Go iterates a map, so
/// its order is random; ours is first occurrence.)
#[derive(Debug, Default, Clone)]
pub struct GroupedErrors {
    order: Vec<(String, usize)>,
    index: std::collections::HashMap<String, usize>,
}

impl GroupedErrors {
    pub fn add(&mut self, msg: String) {
        if let Some(&i) = self.index.get(&msg) {
            self.order[i].1 += 1;
        } else {
            self.index.insert(msg.clone(), self.order.len());
            self.order.push((msg, 1));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn message(&self) -> Option<String> {
        if self.order.is_empty() {
            return None;
        }
        let unique = self.order.len();
        let mut out = String::new();
        for (i, (msg, n)) in self.order.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            if unique > 1 || *n > 1 {
                out.push_str(&format!("{n} errors like: "));
            }
            out.push_str(msg);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies() {
        let cases: Vec<(PushError, u16, &str)> = vec![
            (PushError::UnsupportedContentEncoding("br".into()), 400, "Content-Encoding \"br\" not supported"),
            (
                PushError::BodyTooLarge { limit: 10 },
                413,
                "request body too large: more than 10 bytes after decompression",
            ),
            (
                PushError::InvalidLabels { labels: "{a}".into(), reason: "boom".into() },
                400,
                "Error parsing labels '{a}' with error: boom",
            ),
            (PushError::MissingTenant, 401, "no org id"),
            (
                PushError::RateLimited { tenant: "t".into(), limit: 4194304, lines: 2, bytes: 10 },
                429,
                "Ingestion rate limit exceeded for user t (limit: 4194304 bytes/sec) while attempting to ingest '2' lines totaling '10' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
            ),
            (PushError::StreamRateLimited("x".into()), 429, "x"),
        ];
        for (err, status, body) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.body(), body);
        }
    }

    #[test]
    fn grouping_like_loki() {
        let mut g = GroupedErrors::default();
        assert_eq!(g.message(), None);
        g.add("a".into());
        assert_eq!(g.message().unwrap(), "a");
        g.add("a".into());
        assert_eq!(g.message().unwrap(), "2 errors like: a");
        g.add("b".into());
        assert_eq!(g.message().unwrap(), "2 errors like: a; 1 errors like: b");
    }
}
