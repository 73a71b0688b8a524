use std::time::{Duration, Instant};

use balsa_model::units::ByteSize;
use balsa_model::{Entry, Labels, PushRequest, StreamPush};
use balsa_push::{LimitsConfig, PushError, RateLimiter, StreamRateLimiter};

const MIB: usize = 1 << 20;

fn limits(rate_mb: f64, burst_mb: f64) -> LimitsConfig {
    LimitsConfig { ingestion_rate_mb: rate_mb, ingestion_burst_size_mb: burst_mb, ..LimitsConfig::default() }
}

#[test]
fn tenant_burst_then_refill() {
    let rl = RateLimiter::new();
    let l = limits(1.0, 2.0);
    let t0 = Instant::now();
    // Full burst available at once.
    assert!(rl.check("a", &l, 1, 2 * MIB, t0).is_ok());
    // Empty now: refused, with Loki's message.
    let err = rl.check("a", &l, 3, 10, t0).unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(
        err.body(),
        "Ingestion rate limit exceeded for user a (limit: 1048576 bytes/sec) while attempting to ingest '3' lines totaling '10' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    );
    // Half a second refills half a MiB.
    let t1 = t0 + Duration::from_millis(500);
    assert!(rl.check("a", &l, 1, MIB / 2, t1).is_ok());
    assert!(rl.check("a", &l, 1, 1, t1).is_err());
    // Refill is capped at the burst.
    let t2 = t1 + Duration::from_secs(100);
    assert!(rl.check("a", &l, 1, 2 * MIB, t2).is_ok());
    assert!(rl.check("a", &l, 1, 1, t2).is_err());
    // Tenants are independent.
    assert!(rl.check("b", &l, 1, 2 * MIB, t2).is_ok());
}

#[test]
fn requests_larger_than_burst_are_always_refused_and_consume_nothing() {
    let rl = RateLimiter::new();
    let l = limits(4.0, 6.0);
    let t0 = Instant::now();
    let err = rl.check("t", &l, 1, 6 * MIB + 1, t0).unwrap_err();
    assert_eq!(err, PushError::RateLimited { tenant: "t".into(), limit: 4 * MIB as u64, lines: 1, bytes: 6 * MIB + 1 });
    // Nothing was taken.
    assert!(rl.check("t", &l, 1, 6 * MIB, t0).is_ok());
}

#[test]
fn limit_changes_apply_to_existing_buckets() {
    let rl = RateLimiter::new();
    let t0 = Instant::now();
    assert!(rl.check("t", &limits(1.0, 1.0), 1, MIB, t0).is_ok());
    // Raise the rate: one second now refills 10 MiB, capped by the new burst.
    let l = limits(10.0, 10.0);
    assert!(rl.check("t", &l, 1, 1, t0).is_err());
    let t1 = t0 + Duration::from_secs(1);
    assert!(rl.check("t", &l, 1, 10 * MIB, t1).is_ok());
}

#[test]
fn check_push_counts_lines_and_metadata_bytes() {
    let rl = RateLimiter::new();
    // Burst of 30 bytes, no refill.
    let l =
        LimitsConfig { ingestion_rate_mb: 0.0, ingestion_burst_size_mb: 30.0 / MIB as f64, ..LimitsConfig::default() };
    let mut e = Entry::new(1, "12345");
    e.structured_metadata.push(balsa_model::LabelPair { name: "k".into(), value: "vvvv".into() });
    let req = PushRequest {
        streams: vec![StreamPush { labels: Labels::from_pairs([("a", "1")]), entries: vec![e.clone(), e] }],
    };
    let t0 = Instant::now();
    // 2 lines * (5 line + 5 metadata) = 20 bytes.
    assert!(rl.check_push("t", &l, &req, t0).is_ok());
    let err = rl.check_push("t", &l, &req, t0 + Duration::from_secs(3600)).unwrap_err();
    assert_eq!(err, PushError::RateLimited { tenant: "t".into(), limit: 0, lines: 2, bytes: 20 });
}

#[test]
fn stream_rate_limit_drops_entries_with_loki_body() {
    let srl = StreamRateLimiter::new();
    let l = LimitsConfig {
        per_stream_rate_limit: ByteSize(10),
        per_stream_rate_limit_burst: ByteSize(20),
        ..LimitsConfig::default()
    };
    let t0 = Instant::now();
    let labels = Labels::from_pairs([("app", "x")]);
    let req = PushRequest {
        streams: vec![
            StreamPush {
                labels: labels.clone(),
                entries: vec![
                    Entry::new(1_700_000_000_000_000_000, "0123456789"),
                    Entry::new(1_700_000_000_500_000_000, "0123456789"),
                    Entry::new(1_700_000_001_000_000_000, "0123456789"),
                ],
            },
            StreamPush { labels: Labels::from_pairs([("app", "y")]), entries: vec![Entry::new(1, "small")] },
        ],
    };
    let (kept, err) = srl.apply("t", &l, req, t0);
    assert_eq!(kept.line_count(), 3);
    assert_eq!(kept.streams[0].entries.len(), 2);
    let err = err.unwrap();
    assert_eq!(err.status(), 429);
    assert_eq!(
        err.body(),
        "entry with timestamp 2023-11-14 22:13:21 +0000 UTC ignored, reason: 'Per stream rate limit exceeded (limit: 10B/sec) while attempting to ingest for stream '{app=\"x\"}' totaling 10B, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\n\
         user 't', total ignored: 1 out of 3 for stream: {app=\"x\"}"
    );
    assert_eq!(srl.len(), 2);
    // One second later the stream earned 10 bytes.
    let t1 = t0 + Duration::from_secs(1);
    let again = PushRequest {
        streams: vec![StreamPush { labels, entries: vec![Entry::new(5, "0123456789"), Entry::new(6, "x")] }],
    };
    let (kept, err) = srl.apply("t", &l, again, t1);
    assert_eq!(kept.line_count(), 1);
    assert!(err.is_some());
    srl.evict_idle(t1 + Duration::from_secs(60), Duration::from_secs(30));
    assert!(srl.is_empty());
}

#[test]
fn stream_rate_limit_zero_disables() {
    let srl = StreamRateLimiter::new();
    let l = LimitsConfig { per_stream_rate_limit: ByteSize(0), ..LimitsConfig::default() };
    let req = PushRequest {
        streams: vec![StreamPush {
            labels: Labels::from_pairs([("a", "1")]),
            entries: vec![Entry::new(1, "x".repeat(100 * MIB))],
        }],
    };
    let (kept, err) = srl.apply("t", &l, req, Instant::now());
    assert!(err.is_none());
    assert_eq!(kept.line_count(), 1);
}
