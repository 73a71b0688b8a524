#![allow(dead_code)]

use std::io::Write;

use balsa_push::logproto;
use prost::Message;

pub const MB: usize = 1 << 20;

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

pub fn entry(ts_ns: i64, line: &str, sm: &[(&str, &str)]) -> logproto::EntryAdapter {
    logproto::EntryAdapter {
        timestamp: Some(logproto::Timestamp::from_nanos(ts_ns)),
        line: line.to_string(),
        structured_metadata: sm
            .iter()
            .map(|(n, v)| logproto::LabelPairAdapter { name: n.to_string(), value: v.to_string() })
            .collect(),
        parsed: vec![],
    }
}

pub fn proto_body(streams: Vec<(&str, Vec<logproto::EntryAdapter>)>) -> Vec<u8> {
    let req = logproto::PushRequest {
        streams: streams
            .into_iter()
            .map(|(labels, entries)| logproto::StreamAdapter { labels: labels.to_string(), entries, hash: 0 })
            .collect(),
    };
    snappy(&req.encode_to_vec())
}

/// Tiny deterministic PRNG (xorshift64*), so tests need no extra crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
