//! Sealed chunks: a stream's entries cut into blocks of about
//! `chunk_block_size` uncompressed bytes, each block snappy-compressed and
//! described by its min/max timestamp so that reads skip what is out of range.

use balsa_model::{Entry, Skipped};

use crate::codec::{decode_entry_into, encode_entry, entry_extent};
use crate::error::{Result, StorageError};

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockMeta {
    #[prost(int64, tag = "1")]
    pub min_ts: i64,
    #[prost(int64, tag = "2")]
    pub max_ts: i64,
    /// Byte offset of the compressed block inside the chunk data.
    #[prost(uint64, tag = "3")]
    pub offset: u64,
    #[prost(uint64, tag = "4")]
    pub len: u64,
    #[prost(uint32, tag = "5")]
    pub entries: u32,
    #[prost(uint64, tag = "6")]
    pub uncompressed: u64,
    /// [`Entry::size`] of the block's entries in total (0 in blocks written
    /// before it was recorded, and in blocks of empty lines).
    #[prost(uint64, tag = "7")]
    pub entry_bytes: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChunkMeta {
    #[prost(int64, tag = "1")]
    pub min_ts: i64,
    #[prost(int64, tag = "2")]
    pub max_ts: i64,
    #[prost(uint32, tag = "3")]
    pub entries: u32,
    #[prost(uint64, tag = "4")]
    pub uncompressed: u64,
    #[prost(message, repeated, tag = "5")]
    pub blocks: Vec<BlockMeta>,
    /// Set once the chunk lives in the object store: its object key. The
    /// local copy of the data is deleted when this is recorded.
    #[prost(string, tag = "6")]
    pub object: String,
    /// Where the chunk data starts inside the object (block offsets are
    /// relative to it).
    #[prost(uint64, tag = "7")]
    pub data_offset: u64,
    /// Bumped each time the chunk is rewritten (a processed delete request),
    /// so that recovering from the bucket prefers the newest copy.
    #[prost(uint32, tag = "8")]
    pub generation: u32,
}

impl ChunkMeta {
    pub fn compressed(&self) -> u64 {
        self.blocks.iter().map(|b| b.len).sum()
    }
}

/// Builds a chunk from entries sorted by timestamp.
pub fn encode(entries: &[Entry], block_size: usize) -> (ChunkMeta, Vec<u8>) {
    let mut meta = ChunkMeta::default();
    let mut data = Vec::new();
    let mut block = Vec::with_capacity(block_size + 1024);
    let mut current = BlockMeta::default();
    let mut encoder = snap::raw::Encoder::new();
    let mut flush = |block: &mut Vec<u8>, current: &mut BlockMeta, data: &mut Vec<u8>, meta: &mut ChunkMeta| {
        if current.entries == 0 {
            return;
        }
        let compressed = encoder.compress_vec(block).expect("snappy compression of an in-memory buffer");
        current.offset = data.len() as u64;
        current.len = compressed.len() as u64;
        current.uncompressed = block.len() as u64;
        data.extend_from_slice(&compressed);
        meta.blocks.push(std::mem::take(current));
        block.clear();
    };
    for e in entries {
        if current.entries == 0 {
            current.min_ts = e.ts_ns;
        }
        current.max_ts = e.ts_ns;
        current.entries += 1;
        current.entry_bytes += e.size() as u64;
        encode_entry(&mut block, e);
        meta.entries += 1;
        if block.len() >= block_size {
            meta.uncompressed += block.len() as u64;
            flush(&mut block, &mut current, &mut data, &mut meta);
        }
    }
    meta.uncompressed += block.len() as u64;
    flush(&mut block, &mut current, &mut data, &mut meta);
    meta.min_ts = meta.blocks.first().map_or(0, |b| b.min_ts);
    meta.max_ts = meta.blocks.iter().map(|b| b.max_ts).max().unwrap_or(0);
    (meta, data)
}

/// Decodes one block's entries.
pub fn decode_block(data: &[u8], block: &BlockMeta) -> Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(block.entries as usize);
    decode_block_into(data, block, &mut out)?;
    Ok(out)
}

/// Decodes a block into `out`, reusing its entries' buffers; `out` ends
/// with exactly the block's entries.
pub fn decode_block_into(data: &[u8], block: &BlockMeta, out: &mut Vec<Entry>) -> Result<()> {
    let mut plain = Vec::new();
    decompress_block(data, block, &mut plain)?;
    let n = decode_entries_into(&plain, block, out)?;
    out.truncate(n);
    Ok(())
}

/// Decompresses a block of `data` into `plain` (its encoded entries),
/// reusing `plain`'s allocation.
pub fn decompress_block(data: &[u8], block: &BlockMeta, plain: &mut Vec<u8>) -> Result<()> {
    let start = usize::try_from(block.offset).map_err(|_| StorageError::corrupt("block offset"))?;
    let end = start
        .checked_add(block.len as usize)
        .filter(|e| *e <= data.len())
        .ok_or_else(|| StorageError::corrupt("block outside chunk data"))?;
    let raw = &data[start..end];
    let declared = snap::raw::decompress_len(raw).map_err(|e| StorageError::corrupt(format!("snappy: {e}")))?;
    if declared as u64 != block.uncompressed {
        return Err(StorageError::corrupt("block length mismatch"));
    }
    plain.resize(declared, 0);
    let n =
        snap::raw::Decoder::new().decompress(raw, plain).map_err(|e| StorageError::corrupt(format!("snappy: {e}")))?;
    plain.truncate(n);
    Ok(())
}

/// Decodes a decompressed block's entries into the first entries of `out`,
/// reusing their buffers, and returns how many there are. Entries past them
/// are left as they were, so that a smaller block does not free buffers the
/// next block would allocate again.
pub fn decode_entries_into(plain: &[u8], block: &BlockMeta, out: &mut Vec<Entry>) -> Result<usize> {
    decode_entries_at(plain, block, out, 0)
}

/// Like [`decode_entries_into`], into the entries of `out` from index `from`
/// on (`from <= out.len()`), after entries decoded earlier.
pub fn decode_entries_at(plain: &[u8], block: &BlockMeta, out: &mut Vec<Entry>, from: usize) -> Result<usize> {
    let mut n = from;
    let mut pos = 0;
    while pos < plain.len() {
        if n == out.len() {
            out.push(Entry::new(0, String::new()));
        }
        decode_entry_into(plain, &mut pos, &mut out[n])?;
        n += 1;
    }
    if n - from != block.entries as usize {
        return Err(StorageError::corrupt("block entry count mismatch"));
    }
    Ok(n - from)
}

/// The entries of a decompressed block with `start_ns <= ts < end_ns`, as
/// [`Skipped`], without decoding them. A block inside the range is counted
/// from its meta (a block never holds two identical entries: the head stores
/// each once); otherwise its entries are walked, and an entry byte-for-byte
/// equal to the one before it counts once, as reads return it once.
pub fn count_entries(plain: &[u8], block: &BlockMeta, start_ns: i64, end_ns: i64) -> Result<Skipped> {
    if block.min_ts >= start_ns && block.max_ts < end_ns && block.entry_bytes > 0 {
        return Ok(Skipped { lines: u64::from(block.entries), bytes: block.entry_bytes });
    }
    let mut out = Skipped::default();
    let mut n = 0;
    let mut pos = 0;
    let mut previous: &[u8] = &[];
    while pos < plain.len() {
        let begin = pos;
        let (ts, size) = entry_extent(plain, &mut pos)?;
        let raw = &plain[begin..pos];
        n += 1;
        if ts >= start_ns && ts < end_ns && raw != previous {
            out.lines += 1;
            out.bytes += size;
        }
        previous = raw;
    }
    if n != block.entries as usize {
        return Err(StorageError::corrupt("block entry count mismatch"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_all_entries_with_bounds() {
        let entries: Vec<Entry> =
            (0..1000).map(|i| Entry::new(i * 10, format!("line {i} {}", "x".repeat(50)))).collect();
        let (meta, data) = encode(&entries, 4096);
        assert!(meta.blocks.len() > 5, "small block size must cut several blocks");
        assert_eq!(meta.entries, 1000);
        assert_eq!((meta.min_ts, meta.max_ts), (0, 9990));
        assert!(meta.compressed() < meta.uncompressed, "snappy must shrink repetitive lines");
        let mut all = Vec::new();
        for b in &meta.blocks {
            let got = decode_block(&data, b).unwrap();
            assert_eq!(got.first().unwrap().ts_ns, b.min_ts);
            assert_eq!(got.last().unwrap().ts_ns, b.max_ts);
            all.extend(got);
        }
        assert_eq!(all, entries);
    }

    #[test]
    fn counting_a_block_matches_decoding_it() {
        let mut with_sm = Entry::new(5, "five");
        with_sm.structured_metadata.push(balsa_model::LabelPair { name: "k".into(), value: "vv".into() });
        let entries = vec![Entry::new(1, "a"), Entry::new(2, "bb"), Entry::new(2, "bb"), with_sm, Entry::new(9, "x")];
        let (meta, data) = encode(&entries, 1 << 20);
        let block = &meta.blocks[0];
        let mut plain = Vec::new();
        decompress_block(&data, block, &mut plain).unwrap();
        // Inside the range, the meta answers; it says what a walk would
        // (this block's duplicate aside, which sealing never writes).
        assert_eq!(block.entry_bytes, 1 + 2 + 2 + 7 + 1);
        assert_eq!(count_entries(&plain, block, 0, 100).unwrap(), Skipped { lines: 5, bytes: 13 });
        let mut walked = block.clone();
        walked.entry_bytes = 0;
        // Walking: duplicates count once; the range is [start, end).
        assert_eq!(count_entries(&plain, &walked, 0, 100).unwrap(), Skipped { lines: 4, bytes: 1 + 2 + 7 + 1 });
        assert_eq!(count_entries(&plain, block, 2, 9).unwrap(), Skipped { lines: 2, bytes: 2 + 7 });
        assert!(count_entries(&plain[..plain.len() - 1], &walked, 0, 100).is_err(), "a truncated entry");
        let mut fewer = walked.clone();
        fewer.entries -= 1;
        assert!(count_entries(&plain, &fewer, 0, 100).is_err(), "an entry count that disagrees");
    }

    #[test]
    fn corrupt_block_is_an_error() {
        let (meta, mut data) = encode(&[Entry::new(1, "a")], 1024);
        data[0] ^= 0xff;
        assert!(decode_block(&data, &meta.blocks[0]).is_err());
        assert!(decode_block(&data[..1], &meta.blocks[0]).is_err());
    }
}
