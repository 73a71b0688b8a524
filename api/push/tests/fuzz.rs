//! Random and mutated bodies must never panic the decoder (nor the validator
//! on whatever decodes), for every content type and encoding.

mod common;

use balsa_push::{LimitsConfig, Validator, decode, decode_legacy};
use common::*;

const CONTENT_TYPES: [Option<&str>; 3] = [None, Some("application/json"), Some("application/x-protobuf")];
const ENCODINGS: [Option<&str>; 4] = [None, Some("snappy"), Some("gzip"), Some("deflate")];

fn seeds() -> Vec<Vec<u8>> {
    let json = br#"{"streams":[{"stream":{"job":"a","service":""},"values":[["1700000000000000000","line",{"trace_id":"x"}],["1","l",{"structuredMetadata":{"a":"b"},"parsed":{"c":"d"}}]]}]}"#.to_vec();
    let legacy =
        br#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"2023-11-14T22:13:20Z","line":"x"}]}]}"#.to_vec();
    let proto = proto_body(vec![
        (
            r#"{app="x", env="p"}"#,
            vec![entry(1_700_000_000_000_000_000, "hello", &[("trace_id", "t")]), entry(5, "", &[])],
        ),
        (r#"{a="\u00e9\x41", b=`raw`}"#, vec![entry(-1, "x", &[("k", "v")])]),
    ]);
    let mut all = vec![json.clone(), legacy.clone(), proto.clone()];
    for b in [json, legacy, proto] {
        all.push(gzip(&b));
        all.push(zlib(&b));
        all.push(raw_deflate(&b));
    }
    all
}

fn mutate(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            2 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            3 => {
                let i = rng.below(b.len() + 1);
                let n = rng.below(8) + 1;
                let extra = rng.bytes(n);
                b.splice(i..i, extra);
            }
            4 if !b.is_empty() => {
                let i = rng.below(b.len());
                let j = (i + rng.below(16)).min(b.len());
                b.drain(i..j);
            }
            _ => {
                // Interesting bytes: JSON structure, varints, snappy tags.
                let i = rng.below(b.len() + 1);
                let pick = [b'"', b'[', b']', b'{', b'}', b',', b':', 0xff, 0x80, 0x00, b'\\'];
                b.insert(i, pick[rng.below(pick.len())]);
            }
        }
    }
    b
}

fn exercise(body: &[u8]) {
    let v = Validator::new(LimitsConfig::default());
    for ct in CONTENT_TYPES {
        for ce in ENCODINGS {
            for legacy in [false, true] {
                let res = if legacy { decode_legacy(ct, ce, body, 64 * 1024) } else { decode(ct, ce, body, 64 * 1024) };
                match res {
                    Ok(req) => {
                        let out = v.validate("t", req, 1_700_000_000_000_000_000);
                        if let Some(e) = out.error {
                            assert_eq!(e.status(), 400);
                        }
                    }
                    Err(e) => assert!(matches!(e.status(), 400 | 413), "{e:?}"),
                }
            }
        }
    }
}

#[test]
fn random_bodies_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let len = rng.below(300);
        exercise(&rng.bytes(len));
    }
}

#[test]
fn mutated_bodies_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for seed in &seeds {
        exercise(seed);
    }
    for _ in 0..1500 {
        let seed = &seeds[rng.below(seeds.len())];
        exercise(&mutate(&mut rng, seed));
    }
}

#[test]
fn mutated_payloads_inside_valid_compression_never_panic() {
    // Mutate the decompressed payload, then compress it properly, so the
    // JSON/protobuf parsers (not just the decompressors) see the damage.
    let json =
        br#"{"streams":[{"stream":{"job":"a"},"values":[["1700000000000000000","line",{"trace_id":"x"}]]}]}"#.to_vec();
    let pb = prost::Message::encode_to_vec(&balsa_push::logproto::PushRequest {
        streams: vec![balsa_push::logproto::StreamAdapter {
            labels: r#"{app="x"}"#.into(),
            entries: vec![entry(1, "hello", &[("k", "v")])],
            hash: 0,
        }],
    });
    let mut rng = Rng(42);
    for _ in 0..1500 {
        let j = mutate(&mut rng, &json);
        exercise(&j);
        exercise(&gzip(&j));
        let p = mutate(&mut rng, &pb);
        exercise(&snappy(&p));
        exercise(&gzip(&snappy(&p)));
    }
}
