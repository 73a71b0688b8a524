//! Compact encoding of one entry (line + structured metadata) used for head
//! entries and inside chunk blocks: varint lengths, no per-field tags.
//!
//! ```text
//! entry := varint(ts zigzag) varint(len) line varint(n) { varint(len) name varint(len) value }*n
//! ```

use balsa_model::{Entry, LabelPair};

use crate::error::{Result, StorageError};

pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| StorageError::corrupt("truncated varint"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(StorageError::corrupt("varint too long"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A length-prefixed byte string at `pos`, which moves past it.
fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8]> {
    let len = get_varint(buf, pos)?;
    let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)).filter(|e| *e <= buf.len());
    let end = end.ok_or_else(|| StorageError::corrupt("truncated string"))?;
    let bytes = &buf[*pos..end];
    *pos = end;
    Ok(bytes)
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a str> {
    std::str::from_utf8(get_bytes(buf, pos)?).map_err(|_| StorageError::corrupt("invalid utf-8"))
}

pub fn encode_entry(buf: &mut Vec<u8>, e: &Entry) {
    put_varint(buf, zigzag(e.ts_ns));
    put_str(buf, &e.line);
    put_varint(buf, e.structured_metadata.len() as u64);
    for p in &e.structured_metadata {
        put_str(buf, &p.name);
        put_str(buf, &p.value);
    }
}

pub fn decode_entry(buf: &[u8], pos: &mut usize) -> Result<Entry> {
    let mut e = Entry::new(0, String::new());
    decode_entry_into(buf, pos, &mut e)?;
    Ok(e)
}

/// Like [`decode_entry`], reusing `out`'s line buffer (scans decode millions
/// of entries; this saves an allocation per entry).
pub fn decode_entry_into(buf: &[u8], pos: &mut usize, out: &mut Entry) -> Result<()> {
    out.ts_ns = unzigzag(get_varint(buf, pos)?);
    let line = get_str(buf, pos)?;
    out.line.clear();
    out.line.push_str(line);
    let n = get_varint(buf, pos)? as usize;
    out.structured_metadata.clear();
    out.structured_metadata.reserve(n.min(128));
    for _ in 0..n {
        let name = get_str(buf, pos)?.to_string();
        let value = get_str(buf, pos)?.to_string();
        out.structured_metadata.push(LabelPair { name, value });
    }
    Ok(())
}

/// Steps over one entry: its timestamp and [`Entry::size`] (line plus
/// structured metadata bytes), without copying or validating its text.
pub fn entry_extent(buf: &[u8], pos: &mut usize) -> Result<(i64, u64)> {
    let ts = unzigzag(get_varint(buf, pos)?);
    let mut size = get_bytes(buf, pos)?.len() as u64;
    let n = get_varint(buf, pos)?;
    for _ in 0..n {
        size += get_bytes(buf, pos)?.len() as u64;
        size += get_bytes(buf, pos)?.len() as u64;
    }
    Ok((ts, size))
}

/// Fingerprint of everything that makes two entries of a stream identical.
pub fn entry_hash(e: &Entry) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(e.line.as_bytes());
    for p in &e.structured_metadata {
        h.update(&[0]);
        h.update(p.name.as_bytes());
        h.update(&[1]);
        h.update(p.value.as_bytes());
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut e = Entry::new(-12345, "héllo");
        e.structured_metadata.push(LabelPair { name: "trace_id".into(), value: "abc".into() });
        let mut buf = Vec::new();
        encode_entry(&mut buf, &e);
        encode_entry(&mut buf, &Entry::new(i64::MAX, ""));
        let mut pos = 0;
        assert_eq!(decode_entry(&buf, &mut pos).unwrap(), e);
        assert_eq!(decode_entry(&buf, &mut pos).unwrap(), Entry::new(i64::MAX, ""));
        assert_eq!(pos, buf.len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[0xffu8; 11][..], &[2, 200, 1][..], &[0, 3, 0xff, 0xfe, 0xfd][..]] {
            assert!(decode_entry(bytes, &mut 0).is_err());
        }
    }
}
