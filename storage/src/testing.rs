//! The conformance suite every [`KvWrite`] implementation runs: the in-memory
//! engine here, RocksDB in `raft/`. Call [`kv_conformance`] with a constructor
//! for an empty engine; it panics with the name of the failed property.

use crate::kv::{KvRead, KvWrite, WriteBatch};

fn collect(kv: &dyn KvRead, lo: &[u8], hi: &[u8], reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    kv.scan(lo, hi, reverse, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        true
    })
    .expect("scan");
    out
}

pub fn kv_conformance<K: KvWrite>(make: impl Fn() -> K) {
    // get on an empty engine
    let kv = make();
    assert_eq!(kv.get(b"a").unwrap(), None, "empty engine returns no value");

    // put, overwrite, delete within and across batches
    let kv = make();
    let mut b = WriteBatch::default();
    b.put(b"a".to_vec(), b"1".to_vec());
    b.put(b"b".to_vec(), b"2".to_vec());
    b.put(b"a".to_vec(), b"3".to_vec());
    kv.write(b).unwrap();
    assert_eq!(kv.get(b"a").unwrap(), Some(b"3".to_vec()), "later put in a batch wins");
    let mut b = WriteBatch::default();
    b.delete(b"b".to_vec());
    b.delete(b"missing".to_vec());
    kv.write(b).unwrap();
    assert_eq!(kv.get(b"b").unwrap(), None, "delete removes");

    // ordered scans, bounds, reverse, early stop
    let kv = make();
    let mut b = WriteBatch::default();
    for k in [&b"\x00\x01"[..], b"\x00\x02", b"\x00\x02\x00", b"\x01", b"\xff\xff"] {
        b.put(k.to_vec(), k.to_vec());
    }
    kv.write(b).unwrap();
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(collect(&kv, b"\x00\x02", b"\x01", false)),
        vec![b"\x00\x02".to_vec(), b"\x00\x02\x00".to_vec()],
        "scan is [lower, upper) in byte order"
    );
    assert_eq!(
        keys(collect(&kv, b"\x00", b"\xff\xff\xff", true)),
        vec![
            b"\xff\xff".to_vec(),
            b"\x01".to_vec(),
            b"\x00\x02\x00".to_vec(),
            b"\x00\x02".to_vec(),
            b"\x00\x01".to_vec()
        ],
        "reverse scan is descending"
    );
    assert!(collect(&kv, b"\x01", b"\x01", false).is_empty(), "empty range yields nothing");
    assert!(collect(&kv, b"\x02", b"\x01", false).is_empty(), "inverted range yields nothing");
    let mut seen = 0;
    kv.scan(b"\x00", b"\xff", false, &mut |_, _| {
        seen += 1;
        seen < 2
    })
    .unwrap();
    assert_eq!(seen, 2, "scan stops when visit returns false");

    // range delete
    let mut b = WriteBatch::default();
    b.delete_range(b"\x00\x02".to_vec(), b"\x01".to_vec());
    kv.write(b).unwrap();
    assert_eq!(
        keys(collect(&kv, b"\x00", b"\xff\xff\xff", false)),
        vec![b"\x00\x01".to_vec(), b"\x01".to_vec(), b"\xff\xff".to_vec()],
        "delete_range removes [lower, upper)"
    );

    // large values survive
    let big = vec![7u8; 3 << 20];
    let mut b = WriteBatch::default();
    b.put(b"big".to_vec(), big.clone());
    kv.write(b).unwrap();
    assert_eq!(kv.get(b"big").unwrap().as_deref(), Some(&big[..]), "multi-megabyte values round-trip");
}
