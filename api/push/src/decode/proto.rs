//! Protobuf (`logproto.PushRequest`) compressed with raw/block snappy.

use balsa_model::{Entry, LabelPair, PushRequest, StreamPush};
use prost::Message;

use super::utf8_lossy;
use crate::error::PushError;
use crate::label_parser::parse_labels;
use crate::logproto::raw;

pub(crate) fn decode_protobuf(body: &[u8], max: usize) -> Result<PushRequest, PushError> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| PushError::malformed(format!("snappy: invalid compressed body: {e}")))?;
    if len > max {
        return Err(PushError::BodyTooLarge { limit: max });
    }
    let buf = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::malformed(format!("snappy: invalid compressed body: {e}")))?;
    let msg = raw::PushRequest::decode(buf.as_slice())
        .map_err(|e| PushError::malformed(format!("failed to parse protobuf push request: {e}")))?;
    drop(buf);

    let mut streams = Vec::with_capacity(msg.streams.len());
    for s in msg.streams {
        let label_text = utf8_lossy(s.labels);
        let labels = parse_labels(&label_text)?;
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            let ts = e.timestamp.unwrap_or_default();
            let ns = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
            let ts_ns = i64::try_from(ns).map_err(|_| {
                PushError::malformed(format!("timestamp out of range: {} seconds {} nanos", ts.seconds, ts.nanos))
            })?;
            entries.push(Entry {
                ts_ns,
                line: utf8_lossy(e.line),
                structured_metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| LabelPair { name: utf8_lossy(p.name), value: utf8_lossy(p.value) })
                    .collect(),
            });
        }
        streams.push(StreamPush { labels, entries });
    }
    Ok(PushRequest { streams })
}
