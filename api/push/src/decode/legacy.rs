//! Legacy `/api/prom/push` JSON:
//! `{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"<RFC3339>","line":".."}]}]}`.

use balsa_model::{Entry, PushRequest, StreamPush};
use serde::Deserialize;

use crate::error::PushError;
use crate::label_parser::parse_labels;
use crate::timefmt::parse_rfc3339;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    streams: Option<Vec<LegacyStream>>,
}

#[derive(Deserialize)]
struct LegacyStream {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    entries: Option<Vec<LegacyEntry>>,
}

#[derive(Deserialize)]
struct LegacyEntry {
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    line: String,
}

/// Decodes an (already content-decoded) legacy JSON body.
pub fn decode_legacy_json(body: &[u8]) -> Result<PushRequest, PushError> {
    let text = String::from_utf8_lossy(body);
    let parsed: Body =
        serde_json::from_str(&text).map_err(|e| PushError::malformed(format!("invalid JSON push body: {e}")))?;
    let mut streams = Vec::new();
    for s in parsed.streams.unwrap_or_default() {
        let labels = parse_labels(&s.labels)?;
        let mut entries = Vec::new();
        for e in s.entries.unwrap_or_default() {
            let ts_ns = match e.ts.as_deref() {
                None => 0,
                Some(ts) => parse_rfc3339(ts).ok_or_else(|| {
                    PushError::malformed(format!("invalid JSON push body: invalid RFC3339 timestamp {ts:?}"))
                })?,
            };
            entries.push(Entry::new(ts_ns, e.line));
        }
        streams.push(StreamPush { labels, entries });
    }
    Ok(PushRequest { streams })
}
