//! Token-bucket rate limits with caller-supplied time, with the semantics of
//! Go's `golang.org/x/time/rate` that Loki uses: the bucket starts full
//! (`burst` tokens), refills at `rate` per second up to `burst`, a request of
//! `n` bytes is allowed only if `n <= burst` and `n` tokens are available,
//! and a refused request consumes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use balsa_model::{PushRequest, StreamId, StreamPush, stream_id};

use crate::error::PushError;
use crate::limits::LimitsConfig;
use crate::timefmt::go_time_string;

const BYTES_IN_MB: f64 = 1024.0 * 1024.0;
/// Loki ingester's `max_returned_stream_errors` default.
const MAX_RETURNED_STREAM_ERRORS: usize = 10;

#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self { tokens: burst, last: now, rate, burst }
    }

    fn advance(&mut self, now: Instant) {
        if now > self.last {
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
            self.last = now;
        }
    }

    /// Applies new limits, keeping the tokens earned at the old rate.
    fn set_limits(&mut self, rate: f64, burst: f64, now: Instant) {
        if rate != self.rate || burst != self.burst {
            self.advance(now);
            self.rate = rate;
            self.burst = burst;
            self.tokens = self.tokens.min(burst);
        }
    }

    fn allow_n(&mut self, now: Instant, n: f64) -> bool {
        self.advance(now);
        if n > self.burst {
            return false;
        }
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

fn non_negative(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

/// Per-tenant ingestion rate limit (`ingestion_rate_mb`,
/// `ingestion_burst_size_mb`, MiB as in Loki). Thread-safe.
///
/// Loki's default "global" strategy divides the rate (not the burst) by the
/// number of healthy distributors; a caller that spreads pushes over `n`
/// nodes can pass limits with `ingestion_rate_mb / n`.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `bytes` from `tenant`'s bucket, or returns Loki's 429 (the
    /// bucket is then left untouched). `lines` is only for the message.
    pub fn check(
        &self,
        tenant: &str,
        limits: &LimitsConfig,
        lines: usize,
        bytes: usize,
        now: Instant,
    ) -> Result<(), PushError> {
        let rate = non_negative(limits.ingestion_rate_mb) * BYTES_IN_MB;
        let burst = non_negative(limits.ingestion_burst_size_mb) * BYTES_IN_MB;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = match buckets.get_mut(tenant) {
            Some(b) => {
                b.set_limits(rate, burst, now);
                b
            }
            None => buckets.entry(tenant.to_string()).or_insert_with(|| Bucket::new(rate, burst, now)),
        };
        if bucket.allow_n(now, bytes as f64) {
            Ok(())
        } else {
            Err(PushError::RateLimited { tenant: tenant.to_string(), limit: rate as u64, lines, bytes })
        }
    }

    /// [`check`](Self::check) for a validated request: its line count and
    /// bytes (line + structured metadata, as Loki counts them).
    pub fn check_push(
        &self,
        tenant: &str,
        limits: &LimitsConfig,
        req: &PushRequest,
        now: Instant,
    ) -> Result<(), PushError> {
        self.check(tenant, limits, req.line_count(), req.byte_count(), now)
    }

    /// Forgets tenants idle for longer than `idle` (their bucket is full by then
    /// if `idle` is at least burst/rate).
    pub fn evict_idle(&self, now: Instant, idle: Duration) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.retain(|_, b| now.saturating_duration_since(b.last) <= idle);
    }
}

/// Per-stream rate limit (`per_stream_rate_limit`,
/// `per_stream_rate_limit_burst`), applied entry by entry to the line length
/// as Loki's ingester does. A limit of 0 disables it. Thread-safe.
#[derive(Debug, Default)]
pub struct StreamRateLimiter {
    buckets: Mutex<HashMap<(String, StreamId), Bucket>>,
}

impl StreamRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the entries each stream's bucket allows. When some are refused,
    /// also returns Loki's 429 body for the last stream that lost entries:
    /// up to 10 lines `entry with timestamp %s ignored, reason: '%s',` then
    /// `user '%s', total ignored: %d out of %d for stream: %s`.
    pub fn apply(
        &self,
        tenant: &str,
        limits: &LimitsConfig,
        req: PushRequest,
        now: Instant,
    ) -> (PushRequest, Option<PushError>) {
        let rate = limits.per_stream_rate_limit.0 as f64;
        if rate <= 0.0 {
            return (req, None);
        }
        let burst = (limits.per_stream_rate_limit_burst.0 as f64).max(0.0);
        let limit_text = base2_bytes(limits.per_stream_rate_limit.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut error = None;
        let mut streams = Vec::with_capacity(req.streams.len());
        for stream in req.streams {
            let key = (tenant.to_string(), stream_id(tenant, &stream.labels));
            let bucket = buckets.entry(key).or_insert_with(|| Bucket::new(rate, burst, now));
            bucket.set_limits(rate, burst, now);
            let total = stream.entries.len();
            let mut kept = Vec::with_capacity(total);
            let mut failed = Vec::new();
            for e in stream.entries {
                if bucket.allow_n(now, e.line.len() as f64) {
                    kept.push(e);
                } else {
                    failed.push(e);
                }
            }
            if !failed.is_empty() {
                let printed = stream.labels.canonical();
                let mut body = String::new();
                for e in failed.iter().take(MAX_RETURNED_STREAM_ERRORS) {
                    body.push_str(&format!(
                        "entry with timestamp {} ignored, reason: 'Per stream rate limit exceeded (limit: {}/sec) while attempting to ingest for stream '{}' totaling {}, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\n",
                        go_time_string(e.ts_ns),
                        limit_text,
                        printed,
                        base2_bytes(e.line.len() as u64),
                    ));
                }
                body.push_str(&format!(
                    "user '{}', total ignored: {} out of {} for stream: {}",
                    tenant,
                    failed.len(),
                    total,
                    printed
                ));
                error = Some(PushError::StreamRateLimited(body));
            }
            if !kept.is_empty() {
                streams.push(StreamPush { labels: stream.labels, entries: kept });
            }
        }
        (PushRequest { streams }, error)
    }

    /// Forgets streams idle for longer than `idle`.
    pub fn evict_idle(&self, now: Instant, idle: Duration) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.retain(|_, b| now.saturating_duration_since(b.last) <= idle);
    }

    /// Number of tracked streams.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// dskit `flagext.ByteSize.String()` (alecthomas/units `Base2Bytes`):
/// `3MiB`, `1KiB476B`, `0B`.
pub fn base2_bytes(mut n: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    for (i, unit) in UNITS.iter().enumerate() {
        let rem = n % 1024;
        if rem != 0 || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{rem}{unit}{suffix}"));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base2_bytes_like_go_units() {
        for (n, want) in [
            (0, "0B"),
            (100, "100B"),
            (1024, "1KiB"),
            (1500, "1KiB476B"),
            (3 << 20, "3MiB"),
            (15 << 20, "15MiB"),
            ((1 << 30) + 1, "1GiB1B"),
        ] {
            assert_eq!(base2_bytes(n), want, "{n}");
        }
    }
}
