//! Loki's `logproto` push messages (`pkg/push/push.proto`), written by hand
//! with `prost` derives. Public so tests, benches and clients can encode.
//!
//! Decoding uses private mirrors whose string fields are `bytes`: Loki (gogo
//! protobuf) accepts lines that are not valid UTF-8, so Balsa does too and
//! replaces invalid sequences with U+FFFD instead of rejecting the request.

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// From Unix nanoseconds (nanos always in `0..1e9`).
    pub fn from_nanos(ns: i64) -> Self {
        Self { seconds: ns.div_euclid(1_000_000_000), nanos: ns.rem_euclid(1_000_000_000) as i32 }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Label string such as `{app="x", env="p"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Internal to Loki; ignored.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Query responses only; ignored on push.
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

impl From<&balsa_model::PushRequest> for PushRequest {
    /// Encodes a model request (labels in canonical form).
    fn from(req: &balsa_model::PushRequest) -> Self {
        PushRequest {
            streams: req
                .streams
                .iter()
                .map(|s| StreamAdapter {
                    labels: s.labels.canonical(),
                    entries: s
                        .entries
                        .iter()
                        .map(|e| EntryAdapter {
                            timestamp: Some(Timestamp::from_nanos(e.ts_ns)),
                            line: e.line.clone(),
                            structured_metadata: e
                                .structured_metadata
                                .iter()
                                .map(|p| LabelPairAdapter { name: p.name.clone(), value: p.value.clone() })
                                .collect(),
                            parsed: Vec::new(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        }
    }
}

/// Lenient mirrors used for decoding (string fields as bytes).
pub(crate) mod raw {
    use super::Timestamp;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(bytes = "vec", tag = "1")]
        pub labels: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(bytes = "vec", tag = "2")]
        pub line: Vec<u8>,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(bytes = "vec", tag = "1")]
        pub name: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }
}
