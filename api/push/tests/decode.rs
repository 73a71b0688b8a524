mod common;

use balsa_model::{Entry, LabelPair, Labels, PushRequest, StreamPush};
use balsa_push::{PushError, decode, decode_legacy, decode_legacy_json, logproto};
use common::*;
use prost::Message;

const JSON: Option<&str> = Some("application/json");

fn sm(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|(n, v)| LabelPair { name: n.to_string(), value: v.to_string() }).collect()
}

fn expected_json() -> PushRequest {
    PushRequest {
        streams: vec![StreamPush {
            labels: Labels::from_pairs([("app", "x"), ("env", "p")]),
            entries: vec![
                Entry::new(1_700_000_000_000_000_001, "hello"),
                Entry {
                    ts_ns: 1_700_000_000_000_000_002,
                    line: "with sm".into(),
                    structured_metadata: sm(&[("trace_id", "abc"), ("a", "b")]),
                },
                Entry {
                    ts_ns: 1_700_000_000_000_000_003,
                    line: "categorized".into(),
                    structured_metadata: sm(&[("trace_id", "def")]),
                },
            ],
        }],
    }
}

const JSON_BODY: &str = r#"{"streams":[{"stream":{"env":"p","app":"x"},"values":[
    ["1700000000000000001","hello"],
    ["1700000000000000002","with sm",{"trace_id":"abc","a":"b"}],
    ["1700000000000000003","categorized",{"structuredMetadata":{"trace_id":"def"},"parsed":{"level":"info"}}]
]}]}"#;

#[test]
fn json_plain_gzip_deflate_and_content_type_params() {
    let want = expected_json();
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Vec<u8>);
    let cases: Vec<Case> = vec![
        ("plain", JSON, None, JSON_BODY.as_bytes().to_vec()),
        ("params", Some("application/json; charset=utf-8"), None, JSON_BODY.as_bytes().to_vec()),
        ("snappy header ignored", JSON, Some("snappy"), JSON_BODY.as_bytes().to_vec()),
        ("gzip", JSON, Some("gzip"), gzip(JSON_BODY.as_bytes())),
        ("deflate zlib", JSON, Some("deflate"), zlib(JSON_BODY.as_bytes())),
        ("deflate raw", JSON, Some("deflate"), raw_deflate(JSON_BODY.as_bytes())),
    ];
    for (name, ct, ce, body) in cases {
        let got = decode(ct, ce, &body, MB).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn json_edge_cases_accepted() {
    let cases: Vec<(&str, &str, PushRequest)> = vec![
        ("empty object", "{}", PushRequest::default()),
        ("null streams", r#"{"streams":null}"#, PushRequest::default()),
        (
            "unknown fields and extra tuple elements ignored",
            r#"{"x":1,"streams":[{"stream":{"a":"1"},"values":[["5","l",{},"extra"]],"y":2}]}"#,
            PushRequest {
                streams: vec![StreamPush {
                    labels: Labels::from_pairs([("a", "1")]),
                    entries: vec![Entry::new(5, "l")],
                }],
            },
        ),
        (
            "null metadata",
            r#"{"streams":[{"stream":{"a":"1"},"values":[["5","l",null]]}]}"#,
            PushRequest {
                streams: vec![StreamPush {
                    labels: Labels::from_pairs([("a", "1")]),
                    entries: vec![Entry::new(5, "l")],
                }],
            },
        ),
        (
            "empty label values dropped",
            r#"{"streams":[{"stream":{"a":"1","b":""},"values":[["5","l"]]}]}"#,
            PushRequest {
                streams: vec![StreamPush {
                    labels: Labels::from_pairs([("a", "1")]),
                    entries: vec![Entry::new(5, "l")],
                }],
            },
        ),
        (
            "negative timestamp parses",
            r#"{"streams":[{"stream":{"a":"1"},"values":[["-5","l"]]}]}"#,
            PushRequest {
                streams: vec![StreamPush {
                    labels: Labels::from_pairs([("a", "1")]),
                    entries: vec![Entry::new(-5, "l")],
                }],
            },
        ),
    ];
    for (name, body, want) in cases {
        let got = decode(JSON, None, body.as_bytes(), MB).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn json_invalid_utf8_in_line_is_replaced_not_rejected() {
    let mut body = br#"{"streams":[{"stream":{"a":"1"},"values":[["5","bad "#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#" end"]]}]}"#);
    let got = decode(JSON, None, &body, MB).unwrap();
    assert_eq!(got.streams[0].entries[0].line, "bad \u{FFFD}\u{FFFD} end");
}

#[test]
fn json_rejections_are_400() {
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "numeric timestamp",
            r#"{"streams":[{"stream":{"a":"1"},"values":[[1700000000000000000,"l"]]}]}"#,
            "timestamp must be a string",
        ),
        (
            "non numeric timestamp",
            r#"{"streams":[{"stream":{"a":"1"},"values":[["abc","l"]]}]}"#,
            "invalid timestamp \"abc\"",
        ),
        ("float in string", r#"{"streams":[{"stream":{"a":"1"},"values":[["1.5","l"]]}]}"#, "invalid timestamp"),
        ("line number", r#"{"streams":[{"stream":{"a":"1"},"values":[["1",5]]}]}"#, "line must be a string"),
        ("missing line", r#"{"streams":[{"stream":{"a":"1"},"values":[["1"]]}]}"#, "missing its line"),
        ("empty tuple", r#"{"streams":[{"stream":{"a":"1"},"values":[[]]}]}"#, "missing its timestamp"),
        ("sm number", r#"{"streams":[{"stream":{"a":"1"},"values":[["1","l",{"k":1}]]}]}"#, "must be a string"),
        (
            "sm nested unknown",
            r#"{"streams":[{"stream":{"a":"1"},"values":[["1","l",{"k":{"x":"y"}}]]}]}"#,
            "must be a string",
        ),
        ("label number", r#"{"streams":[{"stream":{"a":1},"values":[]}]}"#, "must be a string"),
        ("truncated", r#"{"streams":[{"stream":{"a":"1"},"values":[["1","l""#, "invalid JSON push body"),
        ("not json", "hello", "invalid JSON push body"),
        ("empty body", "", "invalid JSON push body"),
        ("streams not array", r#"{"streams":{}}"#, "invalid JSON push body"),
    ];
    for (name, body, needle) in cases {
        let err = decode(JSON, None, body.as_bytes(), MB).expect_err(name);
        assert_eq!(err.status(), 400, "{name}");
        assert!(err.body().contains(needle), "{name}: {}", err.body());
    }
}

#[test]
fn json_invalid_label_names_use_loki_message() {
    let body = r#"{"streams":[{"stream":{"a-b":"1","c":"2"},"values":[["1","l"]]}]}"#;
    let err = decode(JSON, None, body.as_bytes(), MB).unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.body(), r#"Error parsing labels '{a-b="1", c="2"}' with error: invalid label name "a-b""#);
}

#[test]
fn protobuf_snappy_round_trip_with_structured_metadata() {
    let body = proto_body(vec![
        (
            r#"{app="x", env="p"}"#,
            vec![entry(1_700_000_000_123_456_789, "one", &[("trace_id", "t1"), ("user", "u")]), entry(-1, "neg", &[])],
        ),
        (r#"{app="y"}"#, vec![entry(7, "two", &[])]),
    ]);
    for ct in [None, Some("application/x-protobuf"), Some("text/plain"), Some("")] {
        for ce in [None, Some("snappy")] {
            let got = decode(ct, ce, &body, MB).unwrap();
            assert_eq!(got.streams.len(), 2);
            assert_eq!(got.streams[0].labels.canonical(), r#"{app="x", env="p"}"#);
            assert_eq!(
                got.streams[0].entries[0],
                Entry {
                    ts_ns: 1_700_000_000_123_456_789,
                    line: "one".into(),
                    structured_metadata: sm(&[("trace_id", "t1"), ("user", "u")])
                }
            );
            assert_eq!(got.streams[0].entries[1].ts_ns, -1);
            assert_eq!(got.streams[1].entries, vec![Entry::new(7, "two")]);
        }
    }
    // gzip around snappy also works.
    let got = decode(None, Some("gzip"), &gzip(&body), MB).unwrap();
    assert_eq!(got.line_count(), 3);

    // Model -> logproto -> model is the identity.
    let model = expected_json();
    let encoded = snappy(&logproto::PushRequest::from(&model).encode_to_vec());
    assert_eq!(decode(None, None, &encoded, MB).unwrap(), model);
}

#[test]
fn protobuf_invalid_utf8_line_is_replaced() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawEntry {
        #[prost(message, optional, tag = "1")]
        timestamp: Option<logproto::Timestamp>,
        #[prost(bytes = "vec", tag = "2")]
        line: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawStream {
        #[prost(string, tag = "1")]
        labels: String,
        #[prost(message, repeated, tag = "2")]
        entries: Vec<RawEntry>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawReq {
        #[prost(message, repeated, tag = "1")]
        streams: Vec<RawStream>,
    }
    let req = RawReq {
        streams: vec![RawStream {
            labels: r#"{a="1"}"#.into(),
            entries: vec![RawEntry {
                timestamp: Some(logproto::Timestamp { seconds: 1, nanos: 2 }),
                line: vec![b'o', 0xc3, b'k'],
            }],
        }],
    };
    let got = decode(None, None, &snappy(&req.encode_to_vec()), MB).unwrap();
    assert_eq!(got.streams[0].entries[0], Entry::new(1_000_000_002, "o\u{FFFD}k"));
}

#[test]
fn protobuf_rejections_are_400() {
    let good = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: r#"{a="1"}"#.into(),
            entries: vec![entry(1, "line", &[("k", "v")])],
            hash: 0,
        }],
    }
    .encode_to_vec();
    let truncated = snappy(&good[..good.len() - 3]);
    let bad_labels = proto_body(vec![(r#"{a=1}"#, vec![entry(1, "l", &[])])]);
    let overflow = {
        let mut e = entry(0, "l", &[]);
        e.timestamp = Some(logproto::Timestamp { seconds: i64::MAX, nanos: 0 });
        proto_body(vec![(r#"{a="1"}"#, vec![e])])
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unsnappied protobuf", good.clone(), "snappy"),
        ("truncated protobuf", truncated, "failed to parse protobuf push request"),
        ("garbage snappy", vec![0x05, 0xff, 0xff, 0xff], "snappy"),
        ("empty body", vec![], "snappy"),
        ("json sent as protobuf", JSON_BODY.as_bytes().to_vec(), ""),
        ("bad labels", bad_labels, "Error parsing labels '{a=1}' with error: 1:4: parse error:"),
        ("timestamp overflow", overflow, "timestamp out of range"),
    ];
    for (name, body, needle) in cases {
        let err = decode(None, None, &body, MB).expect_err(name);
        assert_eq!(err.status(), 400, "{name}: {err}");
        assert!(err.body().contains(needle), "{name}: {}", err.body());
    }
}

#[test]
fn gzip_bomb_is_413_without_inflating_everything() {
    let zeros = vec![0u8; 10 * MB];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 100 * 1024, "compressed size {}", bomb.len());
    for (ct, ce, body) in [
        (JSON, "gzip", bomb.clone()),
        (None, "gzip", bomb.clone()),
        (JSON, "deflate", zlib(&zeros)),
        (JSON, "deflate", raw_deflate(&zeros)),
    ] {
        let err = decode(ct, Some(ce), &body, MB).unwrap_err();
        assert_eq!(err.status(), 413, "{ce}");
        assert_eq!(err, PushError::BodyTooLarge { limit: MB });
    }
    // Exactly at the bound is fine (the bound is inclusive), one byte more is not.
    let exact = gzip(&vec![b' '; 1000]);
    assert!(
        matches!(decode(JSON, Some("gzip"), &exact, 1000), Err(PushError::Malformed(_))),
        "whitespace is not JSON, but it decompressed"
    );
    assert_eq!(decode(JSON, Some("gzip"), &exact, 999).unwrap_err().status(), 413);
}

#[test]
fn snappy_declared_length_checked_before_allocating() {
    // A snappy header declaring 2^32-1 bytes, followed by nothing.
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let err = decode(None, None, &body, MB).unwrap_err();
    assert_eq!(err.status(), 413);
    // A real body larger than the bound once decompressed.
    let big = proto_body(vec![(r#"{a="1"}"#, vec![entry(1, &"x".repeat(2 * MB), &[])])]);
    assert!(big.len() < MB);
    assert_eq!(decode(None, None, &big, MB).unwrap_err().status(), 413);
    // Uncompressed bodies over the bound are 413 too.
    assert_eq!(decode(JSON, None, &vec![b' '; MB + 1], MB).unwrap_err().status(), 413);
}

#[test]
fn bad_gzip_is_400() {
    for (ce, body) in
        [("gzip", b"not gzip at all".to_vec()), ("gzip", gzip(b"{}")[..10].to_vec()), ("deflate", vec![0xff; 20])]
    {
        let err = decode(JSON, Some(ce), &body, MB).unwrap_err();
        assert_eq!(err.status(), 400, "{ce}: {err}");
    }
}

#[test]
fn legacy_json() {
    let body = r#"{"streams":[{"labels":"{job=\"a\", env=\"p\"}","entries":[
        {"ts":"2020-09-02T11:08:03.346240+03:00","line":"one"},
        {"ts":"2023-11-14T22:13:20Z","line":"two"}]}]}"#;
    let want = PushRequest {
        streams: vec![StreamPush {
            labels: Labels::from_pairs([("env", "p"), ("job", "a")]),
            entries: vec![Entry::new(1_599_034_083_346_240_000, "one"), Entry::new(1_700_000_000_000_000_000, "two")],
        }],
    };
    assert_eq!(decode_legacy_json(body.as_bytes()).unwrap(), want);
    assert_eq!(decode_legacy(JSON, Some("gzip"), &gzip(body.as_bytes()), MB).unwrap(), want);
    // Protobuf is the same on the legacy path.
    let pb = proto_body(vec![(r#"{a="1"}"#, vec![entry(1, "l", &[])])]);
    assert_eq!(decode_legacy(None, None, &pb, MB).unwrap().line_count(), 1);

    for (bad, needle) in [
        (r#"{"streams":[{"labels":"{a=\"1\"}","entries":[{"ts":"yesterday","line":"x"}]}]}"#, "invalid RFC3339"),
        (r#"{"streams":[{"labels":"a=","entries":[]}]}"#, "Error parsing labels 'a='"),
        ("[", "invalid JSON"),
    ] {
        let err = decode_legacy_json(bad.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.body().contains(needle), "{}", err.body());
    }
}
