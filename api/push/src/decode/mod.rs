//! Body decoding: Content-Encoding, then JSON or snappy-compressed protobuf.
//!
//! Every size that comes out of a decompressor is bounded by `max_decoded`:
//! gzip/deflate output is read in chunks and abandoned with a 413 as soon as
//! it passes the bound, and snappy's declared length is checked before its
//! buffer is allocated.

mod json;
mod legacy;
mod proto;

use std::borrow::Cow;
use std::io::Read;

use balsa_model::PushRequest;

use crate::error::PushError;

pub use legacy::decode_legacy_json;

/// Loki's default `server.grpc_server_max_recv_msg_size` / push body bound
/// (100 MiB), a sensible `max_decoded` when nothing else is configured.
pub const DEFAULT_MAX_DECODED_BYTES: usize = 100 << 20;

/// Decodes a `/loki/api/v1/push` body.
///
/// * `content_encoding`: none, `snappy` (ignored, as Loki), `gzip`, `deflate`
///   (zlib-wrapped or raw); anything else is a 400.
/// * `content_type`: `application/json` (parameters ignored) selects JSON v1;
///   anything else, including none, is protobuf compressed with raw snappy.
/// * `max_decoded`: bound on decompressed bytes (413 beyond it).
pub fn decode(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<PushRequest, PushError> {
    let raw = content_decode(content_encoding, body, max_decoded)?;
    if is_json(content_type) { json::decode_json(&raw) } else { proto::decode_protobuf(&raw, max_decoded) }
}

/// Decodes a legacy `/api/prom/push` body: as [`decode`], except that JSON is
/// the old `{"streams":[{"labels":"{..}","entries":[{"ts":..,"line":..}]}]}`.
pub fn decode_legacy(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<PushRequest, PushError> {
    let raw = content_decode(content_encoding, body, max_decoded)?;
    if is_json(content_type) { decode_legacy_json(&raw) } else { proto::decode_protobuf(&raw, max_decoded) }
}

/// Whether the media type (parameters ignored, case-insensitive) is JSON.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|mt| mt.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

fn content_decode<'a>(content_encoding: Option<&str>, body: &'a [u8], max: usize) -> Result<Cow<'a, [u8]>, PushError> {
    let enc = content_encoding.map(str::trim).unwrap_or("");
    if enc.is_empty() || enc.eq_ignore_ascii_case("snappy") {
        if body.len() > max {
            return Err(PushError::BodyTooLarge { limit: max });
        }
        return Ok(Cow::Borrowed(body));
    }
    if enc.eq_ignore_ascii_case("gzip") {
        return read_bounded(flate2::read::MultiGzDecoder::new(body), body.len(), max, "gzip").map(Cow::Owned);
    }
    if enc.eq_ignore_ascii_case("deflate") {
        // Loki reads raw DEFLATE (Go's compress/flate); HTTP clients usually
        // send zlib-wrapped data. Accept both.
        return if looks_like_zlib(body) {
            read_bounded(flate2::read::ZlibDecoder::new(body), body.len(), max, "deflate")
        } else {
            read_bounded(flate2::read::DeflateDecoder::new(body), body.len(), max, "deflate")
        }
        .map(Cow::Owned);
    }
    Err(PushError::UnsupportedContentEncoding(enc.to_string()))
}

fn looks_like_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

/// Reads `r` to the end, failing with 413 once more than `max` bytes came out.
fn read_bounded(mut r: impl Read, hint: usize, max: usize, what: &str) -> Result<Vec<u8>, PushError> {
    let mut out = Vec::with_capacity(hint.saturating_mul(4).min(max).min(1 << 20));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PushError::malformed(format!("{what}: invalid compressed body: {e}"))),
        };
        if out.len() + n > max {
            return Err(PushError::BodyTooLarge { limit: max });
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

/// Lossy UTF-8 conversion without copying valid input.
pub(crate) fn utf8_lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        for (ct, json) in [
            (Some("application/json"), true),
            (Some("Application/JSON; charset=utf-8"), true),
            (Some(" application/json ;x=y"), true),
            (Some("application/x-protobuf"), false),
            (Some("text/plain"), false),
            (Some(""), false),
            (None, false),
        ] {
            assert_eq!(is_json(ct), json, "{ct:?}");
        }
    }

    #[test]
    fn unsupported_encodings() {
        for enc in ["br", "zstd", "identity", "gzip, br"] {
            let err = decode(None, Some(enc), b"x", 1000).unwrap_err();
            assert_eq!(err.status(), 400);
            assert_eq!(err.body(), format!("Content-Encoding \"{enc}\" not supported"));
        }
    }
}
