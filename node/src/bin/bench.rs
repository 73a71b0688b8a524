//! `bench`: ingest and scan figures for a real `balsa` process.
//!
//! Starts the `balsa` binary as a child on free local ports with a fresh data
//! directory, pushes generated log lines the way Promtail and Alloy do
//! (snappy-compressed protobuf, `POST /loki/api/v1/push`) over C keep-alive
//! connections, runs a needle-in-a-haystack `query_range` over everything a few
//! times, stops the child with SIGTERM and measures the data directory.
//! It prints figures and never asserts timing; it exits non-zero only when
//! balsa misbehaves (a push not answered 204, a wrong number of needles, a
//! crash or an unclean shutdown).
//!
//! With `--cluster` it starts three `balsa` nodes instead (node ids 0, 1, 2,
//! each with its own data directory and ports, peers in node-id order) and
//! spreads the push connections over them, connection i to node i % 3, as a
//! load balancer in front of a StatefulSet would. After the closed-loop push at
//! maximum load it reads everything back through every node, then pushes new
//! data open-loop at half the measured maximum for `--paced-secs` (latency
//! counted from each request's due time, so queueing shows), reads back again,
//! and measures the three nodes' CPU while idle.
//!
//! With `--logql` it pushes `--logql-gb` GB of logfmt lines and as many GB of
//! JSON lines into streams labelled `app="x"` (and `format="logfmt"` or
//! `format="json"`), then times line filters over all of them (`|=` the
//! needle, which storage may skip blocks on; `|~ "(?i)needle"`, whose blocks
//! storage searches with the regex itself; and a count of a string most
//! blocks hold, which is tested line by line),
//! `sum by (level) (count_over_time({app="x", format="logfmt"} | logfmt [1m]))`
//! as a range query with step = range (the points add up to the line count of
//! every level, which is checked) and `{app="x", format="json"} | json |
//! status >= 500` (every generated 5xx line must come back, nothing else), and
//! reports MB per server CPU-second and the server's peak RSS for each.
//!
//! The server's CPU is read from `/proc/<pid>/stat` (utime + stime) around each
//! phase, so "per core" figures are per CPU-second the server used, whatever
//! else runs on the machine (the bench client included).
//!
//! The bench needs no crate beyond the node's own dependencies: the protobuf
//! messages are encoded by hand (field for field as `balsa_push::logproto`
//! would with prost), the snappy block format is written by a small
//! compressor here, and the first and last request bodies are checked with
//! `balsa_push::decode` before anything is sent.
//!
//! ```sh
//! cargo build --release -p balsa-node --bins
//! target/release/bench --lines 300000 --streams 100
//! target/release/bench --cluster --lines 300000 --streams 100
//! target/release/bench --logql --logql-gb 1
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};

const USAGE: &str = "\
usage: bench [options]

  --balsa PATH        balsa binary (default: `balsa` next to this executable)
  --lines N           lines to push (default 1000000)
  --streams M         streams (default 100)
  --batch B           lines per push request (default 1000)
  --streams-per-batch K  streams one push spans, a rotating window (default 10)
  --concurrency C     pushes in flight, one keep-alive connection each (default 8)
  --format F          logfmt | json (default logfmt)
  --queries Q         scan queries to run (default 3)
  --data DIR          data directory (default: a new directory under $TMPDIR)
  --keep              keep the data directory and the balsa log
  --arg FLAG          extra flag for balsa, repeatable (e.g. --arg -cluster.shards=4)
  --seed S            PRNG seed (default 1)

cluster mode:
  --cluster           start three balsa nodes (ids 0, 1, 2) instead of one; push
                      connection i talks to node i % 3; then a paced phase at 50%
                      of the measured maximum and an idle-CPU phase
  --paced-secs S      length of the paced phase (default 20)
  --idle-secs S       length of the idle CPU measurement (default 10)

LogQL mode (single node):
  --logql             push logfmt and JSON lines into streams labelled app=x
                      (format=logfmt / format=json), then time a line filter,
                      `sum by (level) (count_over_time(... | logfmt [1m]))` and
                      `... | json | status >= 500` (--queries runs of each)
  --logql-gb G        raw GB (10^9 bytes) of lines per format (default 1)

S3 mode (single node):
  --s3                start moto_server (pip install 'moto[server]') and point
                      balsa at it with chunks sealed after 10 minutes of entry
                      time; after the push, wait until every sealed chunk is
                      uploaded, report bucket and local bytes per raw byte,
                      restart balsa (empty cache) and time the scan cold, then
                      cached (--queries runs)
";

const NEEDLE: &str = "needle";
const NEEDLE_EVERY: usize = 100_000;
/// A line filter that most blocks hold and about a fifth of lines pass (the
/// method of the access log), for a figure of the per-line filter path.
const DENSE: &str = "POST";
const SPAN_NS: i64 = 3600 * 1_000_000_000;

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Logfmt = 0,
    Json = 1,
}

struct Args {
    balsa: PathBuf,
    lines: usize,
    streams: usize,
    batch: usize,
    streams_per_batch: usize,
    concurrency: usize,
    format: Format,
    queries: usize,
    data: Option<PathBuf>,
    keep: bool,
    extra: Vec<String>,
    seed: u64,
    cluster: bool,
    paced_secs: u64,
    idle_secs: u64,
    logql: bool,
    logql_gb: f64,
    s3: bool,
}

fn parse_args() -> Result<Args> {
    let default_balsa = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("balsa")))
        .unwrap_or_else(|| PathBuf::from("balsa"));
    let mut a = Args {
        balsa: default_balsa,
        lines: 1_000_000,
        streams: 100,
        batch: 1000,
        streams_per_batch: 10,
        concurrency: 8,
        format: Format::Logfmt,
        queries: 3,
        data: None,
        keep: false,
        extra: Vec::new(),
        seed: 1,
        cluster: false,
        paced_secs: 20,
        idle_secs: 10,
        logql: false,
        logql_gb: 1.0,
        s3: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        // Accept both `--key value` and `--key=value`.
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}")),
            }
        };
        let num = |name: &str, v: String| -> Result<usize> {
            let v = v.replace('_', "");
            let n: usize = v.parse().map_err(|_| anyhow!("{name}: not a number: {v:?}"))?;
            if n == 0 {
                bail!("{name} must be positive");
            }
            Ok(n)
        };
        match key.as_str() {
            "--balsa" => a.balsa = PathBuf::from(value("--balsa")?),
            "--lines" => a.lines = num("--lines", value("--lines")?)?,
            "--streams" => a.streams = num("--streams", value("--streams")?)?,
            "--batch" => a.batch = num("--batch", value("--batch")?)?,
            "--streams-per-batch" => a.streams_per_batch = num("--streams-per-batch", value("--streams-per-batch")?)?,
            "--concurrency" => a.concurrency = num("--concurrency", value("--concurrency")?)?,
            "--queries" => a.queries = num("--queries", value("--queries")?)?,
            "--seed" => a.seed = num("--seed", value("--seed")?)? as u64,
            "--format" => {
                a.format = match value("--format")?.as_str() {
                    "logfmt" => Format::Logfmt,
                    "json" => Format::Json,
                    other => bail!("--format must be logfmt or json, got {other:?}"),
                }
            }
            "--data" => a.data = Some(PathBuf::from(value("--data")?)),
            "--arg" => a.extra.push(value("--arg")?),
            "--keep" => a.keep = true,
            "--cluster" => a.cluster = true,
            "--paced-secs" => a.paced_secs = num("--paced-secs", value("--paced-secs")?)? as u64,
            "--idle-secs" => a.idle_secs = num("--idle-secs", value("--idle-secs")?)? as u64,
            "--logql" => a.logql = true,
            "--s3" => a.s3 = true,
            "--logql-gb" => {
                let v = value("--logql-gb")?;
                a.logql_gb = v.parse().map_err(|_| anyhow!("--logql-gb: not a number: {v:?}"))?;
                if !(a.logql_gb > 0.0 && a.logql_gb <= 1000.0) {
                    bail!("--logql-gb must be above 0 and at most 1000");
                }
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    if a.s3 && (a.cluster || a.logql) {
        bail!("--s3 runs on a single node without --logql");
    }
    if a.logql && a.cluster {
        bail!("--logql runs on a single node; drop --cluster");
    }
    if a.logql && a.streams < 2 {
        bail!("--logql needs at least 2 streams (one per format)");
    }
    a.streams_per_batch = a.streams_per_batch.min(a.streams);
    Ok(a)
}

// ---------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so small seeds give good states (never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

struct StreamDef {
    /// Canonical label string, `{app="svc-1", level="info", namespace="ns-1", pod="..."}`.
    labels: String,
    /// The level of every line; empty: a level per line ([`line_level`]).
    level: &'static str,
    /// The format of every line; `None`: `--format`. Streams with a format
    /// of their own (LogQL mode) get strict logfmt ([`gen_line`]).
    format: Option<Format>,
}

/// Levels in the order Loki sorts `{level="..."}` series; `FormatCounts::by_level` follows it.
const LEVELS: [&str; 4] = ["debug", "error", "info", "warn"];

fn level_index(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

/// A level per line (LogQL mode): 70% info, 20% debug, 9% warn, 1% error.
/// Only `error` lines get a 5xx status, so 1% of the lines match `status >= 500`.
fn line_level(r: &mut Rng) -> &'static str {
    match r.below(100) {
        0 => "error",
        1..=9 => "warn",
        10..=29 => "debug",
        _ => "info",
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Logfmt => "logfmt",
        Format::Json => "json",
    }
}

fn stream_defs(m: usize) -> Vec<StreamDef> {
    let apps = (m / 4).max(1);
    let levels = ["info", "info", "info", "info", "info", "info", "debug", "debug", "warn", "error"];
    (0..m)
        .map(|i| {
            let app = format!("svc-{}", i % apps);
            let ns = format!("ns-{}", (i % apps) % 10);
            let level = levels[(i / apps) % levels.len()];
            let mut r = Rng::new(0xC0FFEE ^ (i as u64));
            // Kubernetes-like pod name; the suffix is a bijection of i, so names are unique.
            let rs = format!("{:010x}", r.next() & 0xFF_FFFF_FFFF);
            let mut x = (i as u64 * 7919) % 36u64.pow(5);
            let mut suffix = [b'0'; 5];
            for c in suffix.iter_mut().rev() {
                *c = b"0123456789abcdefghijklmnopqrstuvwxyz"[(x % 36) as usize];
                x /= 36;
            }
            let pod = format!("{app}-{rs}-{}", std::str::from_utf8(&suffix).unwrap());
            StreamDef {
                labels: format!("{{app=\"{app}\", level=\"{level}\", namespace=\"{ns}\", pod=\"{pod}\"}}"),
                level,
                format: None,
            }
        })
        .collect()
}

/// LogQL mode: `m` streams labelled `app="x"`, even ones logfmt and odd ones
/// JSON (`format="logfmt"` / `format="json"`), so every push window of an
/// even number of streams carries both. There is no `level` stream label:
/// `sum by (level)` groups by the level the parser extracts from each line.
fn logql_stream_defs(m: usize) -> Vec<StreamDef> {
    (0..m)
        .map(|i| {
            let format = if i % 2 == 0 { Format::Logfmt } else { Format::Json };
            let f = format_name(format);
            let ns = format!("ns-{}", (i / 2) % 10);
            let pod = format!("x-{f}-{:04}", i / 2);
            StreamDef {
                labels: format!("{{app=\"x\", format=\"{f}\", namespace=\"{ns}\", pod=\"{pod}\"}}"),
                level: "",
                format: Some(format),
            }
        })
        .collect()
}

/// RFC 3339 with microseconds, UTC.
fn rfc3339(ts_ns: i64, out: &mut String) {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let micros = ts_ns.rem_euclid(1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    use std::fmt::Write as _;
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", sod / 3600, sod % 3600 / 60, sod % 60);
}

/// Appends one access-log line to `out` and returns its HTTP status (5xx
/// only for `error`). With `strict`, a logfmt `path` that contains `=` (the
/// search path) is quoted, so every line is valid logfmt for Loki's parser,
/// which rejects `=` in an unquoted value; without it the line is as it
/// always was (the default modes' data stays the same).
fn gen_line(r: &mut Rng, format: Format, level: &str, ts_ns: i64, needle: bool, strict: bool, out: &mut String) -> u16 {
    use std::fmt::Write as _;
    const CALLERS: &[&str] = &["handler.go", "server.go", "db.go", "cache.go", "auth.go", "router.go"];
    const UAS: &[&str] = &["Go-http-client/1.1", "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0"];
    let method = match r.below(10) {
        0..=6 => "GET",
        7 | 8 => "POST",
        _ => *r.pick(&["PUT", "DELETE"]),
    };
    let id = r.below(100_000);
    let path = match r.below(6) {
        0 | 1 => format!("/api/v1/items/{id}"),
        2 => format!("/api/v1/users/{}/orders", id % 5000),
        3 => format!("/api/v1/search?q=item{}&page={}", id % 977, r.below(20)),
        4 => "/healthz".to_string(),
        _ => format!("/api/v2/carts/{id}/checkout"),
    };
    let status: u16 = match level {
        "error" => *r.pick(&[500, 502, 503]),
        "warn" => *r.pick(&[400, 404, 429]),
        _ => *r.pick(&[200, 200, 200, 200, 201, 204, 304]),
    };
    let msg = if needle {
        "cache lookup found needle"
    } else {
        match level {
            "error" => "request failed",
            "warn" => "request rejected",
            "debug" => "request details",
            _ => "request completed",
        }
    };
    let caller = r.pick(CALLERS);
    let line_no = 10 + r.below(990);
    // Skewed latency: mostly milliseconds, a tail of seconds.
    let dur_us = (r.below(1000) + 1) * (r.below(1000) + 1) * (1 + r.below(3));
    let bytes = r.below(65_536);
    let (t1, t2) = (r.next(), r.next());
    let ua = r.pick(UAS);
    match format {
        Format::Logfmt => {
            let path = if strict && path.contains('=') { format!("\"{path}\"") } else { path };
            out.push_str("ts=");
            rfc3339(ts_ns, out);
            let _ = write!(
                out,
                " level={level} caller={caller}:{line_no} msg=\"{msg}\" method={method} path={path} status={status} \
                 duration={}.{:01}ms bytes={bytes} trace_id={t1:016x}{t2:016x} user_agent=\"{ua}\"",
                dur_us / 1000,
                dur_us % 1000 / 100
            );
        }
        Format::Json => {
            out.push_str("{\"ts\":\"");
            rfc3339(ts_ns, out);
            let _ = write!(
                out,
                "\",\"level\":\"{level}\",\"caller\":\"{caller}:{line_no}\",\"msg\":\"{msg}\",\"method\":\"{method}\",\
                 \"path\":\"{path}\",\"status\":{status},\"duration_ms\":{}.{:01},\"bytes\":{bytes},\
                 \"trace_id\":\"{t1:016x}{t2:016x}\",\"user_agent\":\"{ua}\"}}",
                dur_us / 1000,
                dur_us % 1000 / 100
            );
        }
    }
    status
}

/// One push request, ready to send.
struct Body {
    bytes: Vec<u8>,
    lines: usize,
    /// Raw line bytes in this request.
    raw: u64,
}

/// What was generated in one format.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct FormatCounts {
    lines: u64,
    /// Raw line bytes.
    raw: u64,
    /// Lines per level, in [`LEVELS`] order.
    by_level: [u64; 4],
    /// Lines with a status of 500 or more.
    status_5xx: u64,
    /// Lines that contain [`DENSE`].
    dense: u64,
}

struct Dataset {
    bodies: Vec<Body>,
    /// Logfmt lines (index 0) and JSON lines (index 1).
    formats: [FormatCounts; 2],
    raw_bytes: u64,
    proto_bytes: u64,
    wire_bytes: u64,
    needles: usize,
    first_ts: i64,
    last_ts: i64,
}

/// Generates every push body up front, so the push phase only sends bytes:
/// `lines` lines with timestamps spread evenly over `start..start + span`
/// (increasing, so every stream's entries are in order).
fn generate(a: &Args, streams: &[StreamDef], lines: usize, start: i64, span: i64, seed: u64) -> Result<Dataset> {
    let step = (span / lines.max(1) as i64).max(1);
    let mut r = Rng::new(seed);
    // One needle at a random position in every block of NEEDLE_EVERY lines.
    let mut needle_at: Vec<usize> = Vec::new();
    for block in (0..lines).step_by(NEEDLE_EVERY) {
        let len = (lines - block).min(NEEDLE_EVERY);
        needle_at.push(block + r.below(len as u64) as usize);
    }
    let mut next_needle = 0;
    let batches = lines.div_ceil(a.batch);
    let windows = a.streams.div_ceil(a.streams_per_batch).max(1);
    let mut ds = Dataset {
        bodies: Vec::with_capacity(batches),
        formats: [FormatCounts::default(); 2],
        raw_bytes: 0,
        proto_bytes: 0,
        wire_bytes: 0,
        needles: 0,
        first_ts: i64::MAX,
        last_ts: i64::MIN,
    };
    let mut per_stream: Vec<Vec<(i64, String)>> = (0..a.streams).map(|_| Vec::new()).collect();
    let mut line_idx = 0usize;
    for b in 0..batches {
        let n = (lines - line_idx).min(a.batch);
        let raw_before = ds.raw_bytes;
        let first_stream = (b % windows) * a.streams_per_batch;
        for _ in 0..n {
            let s = (first_stream + r.below(a.streams_per_batch as u64) as usize) % a.streams;
            let ts = start + line_idx as i64 * step + r.below((step / 2).max(1) as u64) as i64;
            let needle = next_needle < needle_at.len() && needle_at[next_needle] == line_idx;
            if needle {
                next_needle += 1;
                ds.needles += 1;
            }
            let mut line = String::with_capacity(256);
            let def = &streams[s];
            let format = def.format.unwrap_or(a.format);
            let level = if def.level.is_empty() { line_level(&mut r) } else { def.level };
            let status = gen_line(&mut r, format, level, ts, needle, def.format.is_some(), &mut line);
            let fc = &mut ds.formats[format as usize];
            fc.lines += 1;
            fc.raw += line.len() as u64;
            fc.by_level[level_index(level)] += 1;
            fc.status_5xx += (status >= 500) as u64;
            fc.dense += line.contains(DENSE) as u64;
            ds.raw_bytes += line.len() as u64;
            ds.first_ts = ds.first_ts.min(ts);
            ds.last_ts = ds.last_ts.max(ts);
            per_stream[s].push((ts, line));
            line_idx += 1;
        }
        let mut proto = Vec::new();
        encode_push(streams, &per_stream, &mut proto);
        ds.proto_bytes += proto.len() as u64;
        let bytes = snappy_compress(&proto);
        ds.wire_bytes += bytes.len() as u64;
        if b == 0 || b + 1 == batches {
            self_check(&bytes, streams, &per_stream).with_context(|| format!("self-check of push body {b}"))?;
        }
        ds.bodies.push(Body { bytes, lines: n, raw: ds.raw_bytes - raw_before });
        for v in per_stream.iter_mut() {
            v.clear();
        }
    }
    Ok(ds)
}

/// Decodes a body with balsa's own decoder and compares it with what was meant.
fn self_check(body: &[u8], streams: &[StreamDef], per_stream: &[Vec<(i64, String)>]) -> Result<()> {
    let req = balsa_push::decode(Some("application/x-protobuf"), None, body, usize::MAX)
        .map_err(|e| anyhow!("balsa_push::decode refused the bench's own body: {e:?}"))?;
    let want: Vec<(String, &Vec<(i64, String)>)> = per_stream
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(|(i, v)| (streams[i].labels.clone(), v))
        .collect();
    if req.streams.len() != want.len() {
        bail!("decoded {} streams, encoded {}", req.streams.len(), want.len());
    }
    for (got, (labels, entries)) in req.streams.iter().zip(&want) {
        if &got.labels.canonical() != labels {
            bail!("labels {} decoded as {}", labels, got.labels.canonical());
        }
        if got.entries.len() != entries.len() {
            bail!("{labels}: decoded {} entries, encoded {}", got.entries.len(), entries.len());
        }
        for (g, (ts, line)) in got.entries.iter().zip(entries.iter()) {
            if g.ts_ns != *ts || &g.line != line {
                bail!("{labels}: entry ({ts}, {line:?}) decoded as ({}, {:?})", g.ts_ns, g.line);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Protobuf (logproto.PushRequest), encoded as prost does
// ---------------------------------------------------------------------------

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `Timestamp { seconds = 1; nanos = 2 }`; zero fields are omitted.
fn timestamp_len(ts: i64) -> usize {
    let (s, n) = (ts.div_euclid(1_000_000_000), ts.rem_euclid(1_000_000_000));
    (if s != 0 { 1 + varint_len(s as u64) } else { 0 }) + (if n != 0 { 1 + varint_len(n as u64) } else { 0 })
}

/// `EntryAdapter { timestamp = 1; line = 2 }`.
fn entry_len(ts: i64, line: &str) -> usize {
    let t = timestamp_len(ts);
    1 + varint_len(t as u64) + t + if line.is_empty() { 0 } else { 1 + varint_len(line.len() as u64) + line.len() }
}

/// `PushRequest { repeated StreamAdapter streams = 1 }`,
/// `StreamAdapter { labels = 1; repeated EntryAdapter entries = 2 }`.
fn encode_push(streams: &[StreamDef], per_stream: &[Vec<(i64, String)>], out: &mut Vec<u8>) {
    for (i, entries) in per_stream.iter().enumerate() {
        if entries.is_empty() {
            continue;
        }
        let labels = &streams[i].labels;
        let body_len: usize = 1
            + varint_len(labels.len() as u64)
            + labels.len()
            + entries
                .iter()
                .map(|(ts, l)| {
                    let e = entry_len(*ts, l);
                    1 + varint_len(e as u64) + e
                })
                .sum::<usize>();
        out.push(0x0A); // field 1, length-delimited
        put_varint(out, body_len as u64);
        out.push(0x0A);
        put_varint(out, labels.len() as u64);
        out.extend_from_slice(labels.as_bytes());
        for (ts, line) in entries {
            out.push(0x12); // field 2, length-delimited
            put_varint(out, entry_len(*ts, line) as u64);
            out.push(0x0A);
            put_varint(out, timestamp_len(*ts) as u64);
            let (s, n) = (ts.div_euclid(1_000_000_000), ts.rem_euclid(1_000_000_000));
            if s != 0 {
                out.push(0x08);
                put_varint(out, s as u64);
            }
            if n != 0 {
                out.push(0x10);
                put_varint(out, n as u64);
            }
            if !line.is_empty() {
                out.push(0x12);
                put_varint(out, line.len() as u64);
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Snappy block format (what `snap::raw::Encoder` produces, up to match choices)
// ---------------------------------------------------------------------------

fn snappy_compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + input.len() + input.len() / 6);
    put_varint(&mut out, input.len() as u64);
    // Like the reference implementation: independent 64 KiB fragments, so
    // every copy offset fits in two bytes.
    for frag in input.chunks(1 << 16) {
        snappy_fragment(frag, &mut out);
    }
    out
}

fn load32(s: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]])
}

fn snappy_hash(x: u32) -> usize {
    (x.wrapping_mul(0x1E35_A7BD) >> (32 - 14)) as usize
}

fn snappy_fragment(src: &[u8], out: &mut Vec<u8>) {
    const INPUT_MARGIN: usize = 15;
    if src.len() < INPUT_MARGIN + 2 {
        emit_literal(src, out);
        return;
    }
    let mut table = vec![0u16; 1 << 14];
    let limit = src.len() - INPUT_MARGIN;
    let mut next_emit = 0;
    let mut ip = 1;
    'outer: loop {
        // Find a 4-byte match, skipping faster through incompressible data.
        let mut skip = 32usize;
        let mut cand;
        loop {
            if ip > limit {
                break 'outer;
            }
            let h = snappy_hash(load32(src, ip));
            cand = table[h] as usize;
            table[h] = ip as u16;
            if load32(src, cand) == load32(src, ip) {
                break;
            }
            ip += skip >> 5;
            skip += 1;
        }
        emit_literal(&src[next_emit..ip], out);
        loop {
            let base = ip;
            let mut len = 4;
            while base + len < src.len() && src[cand + len] == src[base + len] {
                len += 1;
            }
            ip += len;
            emit_copy(base - cand, len, out);
            next_emit = ip;
            if ip >= limit {
                break 'outer;
            }
            table[snappy_hash(load32(src, ip - 1))] = (ip - 1) as u16;
            let h = snappy_hash(load32(src, ip));
            cand = table[h] as usize;
            table[h] = ip as u16;
            if load32(src, cand) != load32(src, ip) {
                break;
            }
        }
        ip += 1;
    }
    if next_emit < src.len() {
        emit_literal(&src[next_emit..], out);
    }
}

fn emit_literal(lit: &[u8], out: &mut Vec<u8>) {
    if lit.is_empty() {
        return;
    }
    let n = lit.len() - 1;
    if n < 60 {
        out.push((n as u8) << 2);
    } else {
        let bytes = n.to_le_bytes();
        let count = (usize::BITS as usize / 8) - (n.leading_zeros() as usize / 8);
        out.push(((59 + count) as u8) << 2);
        out.extend_from_slice(&bytes[..count]);
    }
    out.extend_from_slice(lit);
}

fn emit_copy(offset: usize, mut len: usize, out: &mut Vec<u8>) {
    debug_assert!(offset > 0 && offset < 1 << 16);
    while len >= 68 {
        emit_copy_upto64(offset, 64, out);
        len -= 64;
    }
    if len > 64 {
        emit_copy_upto64(offset, 60, out);
        len -= 60;
    }
    emit_copy_upto64(offset, len, out);
}

fn emit_copy_upto64(offset: usize, len: usize, out: &mut Vec<u8>) {
    if len < 12 && offset < 2048 {
        out.push(1 | (((len - 4) as u8) << 2) | (((offset >> 8) as u8) << 5));
        out.push(offset as u8);
    } else {
        out.push(2 | (((len - 1) as u8) << 2));
        out.extend_from_slice(&(offset as u16).to_le_bytes());
    }
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 client (keep-alive, Content-Length or chunked responses)
// ---------------------------------------------------------------------------

struct Http {
    addr: String,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

struct Resp {
    status: u16,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        if t.chars().count() > 500 { format!("{}…", t.chars().take(500).collect::<String>()) } else { t.into_owned() }
    }
}

impl Http {
    fn new(port: u16) -> Self {
        Http { addr: format!("127.0.0.1:{port}"), conn: None }
    }

    /// Opens the keep-alive connection now, so the first request's latency has no TCP handshake.
    fn connect(&mut self) -> std::io::Result<()> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some((BufReader::with_capacity(64 * 1024, s.try_clone()?), s));
        }
        Ok(())
    }

    fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Resp> {
        // A kept-alive connection the server closed fails on first use: retry once on a new one.
        let reused = self.conn.is_some();
        match self.try_request(method, target, headers, body) {
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, target, headers, body)
            }
            r => r,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        self.connect()?;
        let result = (|| {
            let (reader, writer) = self.conn.as_mut().unwrap();
            let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: balsa-bench\r\n", self.addr);
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            if method == "POST" || !body.is_empty() {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let mut buf = Vec::with_capacity(head.len() + body.len());
            buf.extend_from_slice(head.as_bytes());
            buf.extend_from_slice(body);
            writer.write_all(&buf)?;
            read_response(reader)
        })();
        match result {
            Ok((resp, close)) => {
                if close {
                    self.conn = None;
                }
                Ok(resp)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

fn bad_data(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// Reads one response; also says whether the server will close the connection.
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(Resp, bool)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad_data(format!("bad status line {line:?}")))?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = line.starts_with("HTTP/1.0");
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => content_length = v.parse().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_hex = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = content_length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        r.read_to_end(&mut body)?;
        close = true;
    }
    Ok((Resp { status, body }, close))
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Minimal JSON reader (enough for Loki's query responses)
// ---------------------------------------------------------------------------

enum Json {
    Null,
    Bool(#[allow(dead_code)] bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            _ => &[],
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn parse(s: &[u8]) -> Result<Json> {
        let mut p = JsonParser { s, i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            bail!("trailing data at byte {}", p.i);
        }
        Ok(v)
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.s.get(self.i) != Some(&c) {
            bail!("expected {:?} at byte {}", c as char, self.i);
        }
        self.i += 1;
        Ok(())
    }
    fn value(&mut self) -> Result<Json> {
        self.ws();
        match self.s.get(self.i).copied() {
            Some(b'{') => {
                self.i += 1;
                let mut kv = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(kv));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    kv.push((k, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(kv));
                        }
                        _ => bail!("expected , or }} at byte {}", self.i),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(v));
                        }
                        _ => bail!("expected , or ] at byte {}", self.i),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i])?;
                Ok(Json::Num(t.parse().map_err(|_| anyhow!("bad number {t:?} at byte {start}"))?))
            }
            None => bail!("unexpected end of JSON"),
        }
    }
    fn word(&mut self, w: &str, v: Json) -> Result<Json> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            bail!("bad literal at byte {}", self.i)
        }
    }
    fn hex4(&mut self) -> Result<u32> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| anyhow!("short \\u escape"))?;
        self.i += 4;
        Ok(u32::from_str_radix(std::str::from_utf8(h)?, 16)?)
    }
    fn string(&mut self) -> Result<String> {
        if self.s.get(self.i) != Some(&b'"') {
            bail!("expected string at byte {}", self.i);
        }
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or_else(|| anyhow!("unterminated string"))?;
            self.i += 1;
            match c {
                b'"' => return Ok(String::from_utf8(out)?),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or_else(|| anyhow!("unterminated escape"))?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(cp).unwrap_or('\u{FFFD}')
                        }
                        _ => bail!("bad escape at byte {}", self.i),
                    };
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The balsa child, /proc and the data directory
// ---------------------------------------------------------------------------

/// `n` distinct ports that are free right now (all held open together while chosen).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    let ports = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<std::io::Result<Vec<_>>>()?;
    Ok(ports)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A `/proc/<pid>/status` value in kB (VmHWM, VmRSS).
fn proc_status_kb(pid: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

struct Server {
    child: Option<Child>,
    pid: String,
    http_port: u16,
    log: PathBuf,
    tck: f64,
}

impl Server {
    fn start(a: &Args, data: &Path, log: &Path) -> Result<(Self, Vec<String>)> {
        let ports = free_ports(2)?;
        Self::spawn(a, data, log, ports[0], ports[1], &[])
    }

    /// Starts balsa on the given ports; `cluster` flags go before `--arg` ones.
    fn spawn(
        a: &Args,
        data: &Path,
        log: &Path,
        http_port: u16,
        grpc_port: u16,
        cluster: &[String],
    ) -> Result<(Self, Vec<String>)> {
        let mut flags = vec![
            "-server.http_listen_address=127.0.0.1".to_string(),
            format!("-server.http_listen_port={http_port}"),
            "-server.grpc_listen_address=127.0.0.1".to_string(),
            format!("-server.grpc_listen_port={grpc_port}"),
            format!("-common.path_prefix={}", data.display()),
            "-limits_config.ingestion_rate_mb=100000".into(),
            "-limits_config.ingestion_burst_size_mb=100000".into(),
            "-limits_config.per_stream_rate_limit=100GB".into(),
            "-limits_config.per_stream_rate_limit_burst=100GB".into(),
            "-limits_config.max_entries_limit_per_query=100000000".into(),
            "-limits_config.max_query_series=1000000".into(),
            "-limits_config.max_global_streams_per_user=10000000".into(),
        ];
        flags.extend(cluster.iter().cloned());
        flags.extend(a.extra.iter().cloned());
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(log).context("open balsa log")?;
        let child = Command::new(&a.balsa)
            .args(&flags)
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("start {} (build it: cargo build --release -p balsa-node --bins)", a.balsa.display())
            })?;
        let pid = child.id().to_string();
        Ok((Server { child: Some(child), pid, http_port, log: log.to_path_buf(), tck: clock_ticks() }, flags))
    }

    /// Server CPU-seconds so far.
    fn cpu_s(&self) -> f64 {
        cpu_ticks(&self.pid).unwrap_or(0) as f64 / self.tck
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn log_tail(&self, n: usize) -> String {
        let t = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let mut http = Http::new(self.http_port);
        loop {
            if let Some(s) = self.exited() {
                bail!("balsa exited early with {s}; log {}:\n{}", self.log.display(), self.log_tail(40));
            }
            if http.request("GET", "/ready", &[], &[]).is_ok_and(|r| r.status == 200) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!("balsa not ready after {timeout:?}; log {}:\n{}", self.log.display(), self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the server uses less than 5% of a core over 500 ms (background
    /// flushes and compactions done), at most `max`. Returns the time waited.
    fn settle(&self, max: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let before = self.cpu_s();
            std::thread::sleep(Duration::from_millis(500));
            if self.cpu_s() - before < 0.025 || started.elapsed() >= max {
                return started.elapsed();
            }
        }
    }

    /// SIGTERM and wait; returns (exit status, time to exit).
    fn terminate(&mut self, timeout: Duration) -> Result<(std::process::ExitStatus, Duration)> {
        let mut c = self.child.take().ok_or_else(|| anyhow!("balsa is not running"))?;
        let started = Instant::now();
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        loop {
            if let Some(s) = c.try_wait()? {
                return Ok((s, started.elapsed()));
            }
            if started.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                bail!(
                    "balsa did not stop within {timeout:?} of SIGTERM; log {}:\n{}",
                    self.log.display(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct PushResult {
    acked_lines: u64,
    acked_raw: u64,
    failures: u64,
    elapsed: Duration,
    /// CPU-seconds of all servers together, and of each.
    server_cpu_s: f64,
    node_cpu_s: Vec<f64>,
    client_cpu_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// Closed loop: C connections, each sends its next body as soon as the previous
/// one is answered. Connection c talks to `servers[c % servers.len()]`.
fn push_phase(a: &Args, servers: &[Server], ds: &Dataset) -> PushResult {
    let next = AtomicUsize::new(0);
    let acked_lines = AtomicU64::new(0);
    let acked_raw = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let shown = AtomicU64::new(0);
    let latencies = Mutex::new(Vec::with_capacity(ds.bodies.len()));
    let tck = servers[0].tck;
    let self_pid = std::process::id().to_string();
    let (cpu0, me0) = (servers.iter().map(Server::cpu_s).collect::<Vec<_>>(), cpu_ticks(&self_pid).unwrap_or(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..a.concurrency {
            let server = &servers[c % servers.len()];
            let (next, acked_lines, acked_raw, failures, shown, latencies) =
                (&next, &acked_lines, &acked_raw, &failures, &shown, &latencies);
            s.spawn(move || {
                let mut http = Http::new(server.http_port);
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = ds.bodies.get(i) else { break };
                    let t = Instant::now();
                    let r = http.request(
                        "POST",
                        "/loki/api/v1/push",
                        &[("Content-Type", "application/x-protobuf")],
                        &body.bytes,
                    );
                    lat.push(t.elapsed());
                    let err = match r {
                        Ok(r) if r.status == 204 => {
                            acked_lines.fetch_add(body.lines as u64, Ordering::Relaxed);
                            acked_raw.fetch_add(body.raw, Ordering::Relaxed);
                            continue;
                        }
                        Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                        Err(e) => format!("{e}"),
                    };
                    failures.fetch_add(1, Ordering::Relaxed);
                    if shown.fetch_add(1, Ordering::Relaxed) < 10 {
                        eprintln!("push {i} failed: {err}");
                    }
                }
                latencies.lock().unwrap().extend(lat);
            });
        }
    });
    let elapsed = started.elapsed();
    let node_cpu_s: Vec<f64> = servers.iter().zip(&cpu0).map(|(s, c0)| s.cpu_s() - c0).collect();
    let client_cpu_s = (cpu_ticks(&self_pid).unwrap_or(0).saturating_sub(me0)) as f64 / tck;
    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    PushResult {
        acked_lines: acked_lines.into_inner(),
        acked_raw: acked_raw.into_inner(),
        failures: failures.into_inner(),
        elapsed,
        server_cpu_s: node_cpu_s.iter().sum(),
        node_cpu_s,
        client_cpu_s,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
    }
}

struct QueryRun {
    wall: Duration,
    server_cpu_s: f64,
    returned: usize,
    needles_ok: bool,
    lines_processed: u64,
    bytes_processed: u64,
}

/// What a scan must find: the time range of everything pushed, the needle
/// lines in it and the total line count (the query limit is above it).
#[derive(Clone, Copy)]
struct Expect {
    first_ts: i64,
    last_ts: i64,
    needles: usize,
    lines: usize,
}

impl Expect {
    fn of(ds: &Dataset) -> Self {
        Expect {
            first_ts: ds.first_ts,
            last_ts: ds.last_ts,
            needles: ds.needles,
            lines: ds.bodies.iter().map(|b| b.lines).sum(),
        }
    }
    /// Both datasets together.
    fn and(self, o: Expect) -> Self {
        Expect {
            first_ts: self.first_ts.min(o.first_ts),
            last_ts: self.last_ts.max(o.last_ts),
            needles: self.needles + o.needles,
            lines: self.lines + o.lines,
        }
    }
}

fn scan_once(server: &Server, query: &str, ex: Expect) -> Result<QueryRun> {
    let target = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit={}&direction=forward",
        url_encode(query),
        ex.first_ts,
        ex.last_ts + 1_000_000_000,
        ex.needles.max(ex.lines).clamp(5000, 100_000_000)
    );
    let mut http = Http::new(server.http_port);
    let cpu0 = server.cpu_s();
    let t = Instant::now();
    let r = http.request("GET", &target, &[], &[])?;
    let wall = t.elapsed();
    let server_cpu_s = server.cpu_s() - cpu0;
    if r.status != 200 {
        bail!("query_range answered HTTP {}: {}", r.status, r.text());
    }
    let j = JsonParser::parse(&r.body).context("query_range response is not JSON")?;
    if j.get("status").and_then(Json::str) != Some("success") {
        bail!("query_range status is not success: {}", r.text());
    }
    let data = j.get("data").ok_or_else(|| anyhow!("no data in {}", r.text()))?;
    let mut returned = 0;
    let mut needles_ok = true;
    for stream in data.get("result").map(Json::arr).unwrap_or(&[]) {
        for v in stream.get("values").map(Json::arr).unwrap_or(&[]) {
            returned += 1;
            if !v.arr().get(1).and_then(Json::str).is_some_and(|l| l.contains(NEEDLE)) {
                needles_ok = false;
            }
        }
    }
    let summary = data.get("stats").and_then(|s| s.get("summary"));
    let stat = |k: &str| summary.and_then(|s| s.get(k)).and_then(Json::num).unwrap_or(-1.0) as u64;
    Ok(QueryRun {
        wall,
        server_cpu_s,
        returned,
        needles_ok,
        lines_processed: stat("totalLinesProcessed"),
        bytes_processed: stat("totalBytesProcessed"),
    })
}

/// Waits at least `min`, then until all servers together use less than 10% of
/// one core over 1 s (flushes, compactions and Raft quiescence done), at most
/// `max` in all. Returns the time waited.
fn settle_all(servers: &[Server], min: Duration, max: Duration) -> Duration {
    let started = Instant::now();
    std::thread::sleep(min);
    let total = || servers.iter().map(Server::cpu_s).sum::<f64>();
    loop {
        let before = total();
        std::thread::sleep(Duration::from_secs(1));
        if total() - before < 0.10 || started.elapsed() >= max {
            return started.elapsed();
        }
    }
}

struct PacedResult {
    requests: usize,
    acked_lines: u64,
    acked_raw: u64,
    failures: u64,
    /// From the first due time to the last answer.
    elapsed: Duration,
    node_cpu_s: Vec<f64>,
    client_cpu_s: f64,
    /// Latency from each request's due time to its answer.
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Longest delay between a due time and the actual send (every connection
    /// busy, or the client itself late).
    max_send_lag: Duration,
    /// Every request: (due, answered) as offsets from the first due time, lines acknowledged.
    timeline: Vec<(Duration, Duration, u64)>,
}

impl PacedResult {
    /// Per `w` of the run: lines/s acknowledged in it, and the latency of the
    /// requests due in it, "0-5 s: 19.3k/s, p50 31.0 ms, p99 80.2 ms; …".
    fn windows(&self, w: Duration) -> String {
        let mut out = Vec::new();
        let mut from = Duration::ZERO;
        while from < self.elapsed {
            let to = from + w;
            let acked: u64 = self.timeline.iter().filter(|(_, done, _)| *done >= from && *done < to).map(|t| t.2).sum();
            let mut lat: Vec<Duration> = self
                .timeline
                .iter()
                .filter(|(due, _, _)| *due >= from && *due < to)
                .map(|(due, done, _)| done.saturating_sub(*due))
                .collect();
            lat.sort();
            let span = to.min(self.elapsed).saturating_sub(from).max(Duration::from_millis(1));
            let mut s = format!(
                "{:.0}-{:.0} s: {}/s",
                from.as_secs_f64(),
                to.as_secs_f64(),
                si(acked as f64 / span.as_secs_f64())
            );
            if !lat.is_empty() {
                s.push_str(&format!(", p50 {}, p99 {}", ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99))));
            }
            out.push(s);
            from = to;
        }
        out.join("; ")
    }
}

/// Open loop: body k is due at `t0 + k * interval` whatever became of the
/// earlier ones, and its latency is measured from that due time, so time spent
/// queued behind slow requests counts (no coordinated omission). Each of
/// `connections` keep-alive connections (connection c to `servers[c % n]`)
/// takes the next body, sleeps until it is due and sends it.
fn paced_phase(servers: &[Server], ds: &Dataset, interval: Duration, connections: usize) -> Result<PacedResult> {
    let mut conns: Vec<Http> = (0..connections).map(|c| Http::new(servers[c % servers.len()].http_port)).collect();
    for (c, h) in conns.iter_mut().enumerate() {
        h.connect().with_context(|| format!("connect to node {}", c % servers.len()))?;
    }
    let next = AtomicUsize::new(0);
    let acked_lines = AtomicU64::new(0);
    let acked_raw = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let shown = AtomicU64::new(0);
    // (latencies, longest send lag, last answer) of every connection.
    let results = Mutex::new((Vec::with_capacity(ds.bodies.len()), Duration::ZERO, Instant::now(), Vec::new()));
    let tck = servers[0].tck;
    let self_pid = std::process::id().to_string();
    let (cpu0, me0) = (servers.iter().map(Server::cpu_s).collect::<Vec<_>>(), cpu_ticks(&self_pid).unwrap_or(0));
    // Leave the threads time to start before the first request is due.
    let t0 = Instant::now() + Duration::from_millis(100);
    std::thread::scope(|s| {
        for mut http in conns {
            let (next, acked_lines, acked_raw, failures, shown, results) =
                (&next, &acked_lines, &acked_raw, &failures, &shown, &results);
            s.spawn(move || {
                let mut lat = Vec::new();
                let mut timeline = Vec::new();
                let mut lag = Duration::ZERO;
                let mut last = t0;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = ds.bodies.get(k) else { break };
                    let due = t0 + interval.mul_f64(k as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    } else {
                        lag = lag.max(now - due);
                    }
                    let r = http.request(
                        "POST",
                        "/loki/api/v1/push",
                        &[("Content-Type", "application/x-protobuf")],
                        &body.bytes,
                    );
                    last = Instant::now();
                    lat.push(last.saturating_duration_since(due));
                    let acked = r.as_ref().is_ok_and(|r| r.status == 204);
                    timeline.push((
                        due.saturating_duration_since(t0),
                        last.saturating_duration_since(t0),
                        if acked { body.lines as u64 } else { 0 },
                    ));
                    let err = match r {
                        Ok(_) if acked => {
                            acked_lines.fetch_add(body.lines as u64, Ordering::Relaxed);
                            acked_raw.fetch_add(body.raw, Ordering::Relaxed);
                            continue;
                        }
                        Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                        Err(e) => format!("{e}"),
                    };
                    failures.fetch_add(1, Ordering::Relaxed);
                    if shown.fetch_add(1, Ordering::Relaxed) < 10 {
                        eprintln!("paced push {k} failed: {err}");
                    }
                }
                let mut r = results.lock().unwrap();
                r.0.extend(lat);
                r.3.extend(timeline);
                r.1 = r.1.max(lag);
                r.2 = r.2.max(last);
            });
        }
    });
    let node_cpu_s: Vec<f64> = servers.iter().zip(&cpu0).map(|(s, c0)| s.cpu_s() - c0).collect();
    let client_cpu_s = (cpu_ticks(&self_pid).unwrap_or(0).saturating_sub(me0)) as f64 / tck;
    let (mut lat, max_send_lag, last, timeline) = results.into_inner().unwrap();
    lat.sort();
    Ok(PacedResult {
        requests: ds.bodies.len(),
        acked_lines: acked_lines.into_inner(),
        acked_raw: acked_raw.into_inner(),
        failures: failures.into_inner(),
        elapsed: last.saturating_duration_since(t0),
        node_cpu_s,
        client_cpu_s,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        max_send_lag,
        timeline,
    })
}

/// `sum(count_over_time({namespace=~"ns-.*"}[R]))` at the end of the data, as
/// one node answers it. `Ok(Err(..))` when the node does not answer 200
/// (metric queries may not be available); `Err` when the answer is malformed.
fn count_lines(server: &Server, ex: Expect) -> Result<std::result::Result<u64, String>> {
    let end = ex.last_ts + 1_000_000_000;
    let range_s = (end - ex.first_ts) / 1_000_000_000 + 60;
    let q = format!("sum(count_over_time({{namespace=~\"ns-.*\"}}[{range_s}s]))");
    let target = format!("/loki/api/v1/query?query={}&time={end}", url_encode(&q));
    let r = Http::new(server.http_port).request("GET", &target, &[], &[])?;
    if r.status != 200 {
        return Ok(Err(format!("HTTP {}: {}", r.status, r.text())));
    }
    let j = JsonParser::parse(&r.body).context("instant query response is not JSON")?;
    if j.get("status").and_then(Json::str) != Some("success") {
        bail!("instant query status is not success: {}", r.text());
    }
    let mut total = 0.0;
    // An empty vector is zero lines.
    for sample in j.get("data").and_then(|d| d.get("result")).map(Json::arr).unwrap_or(&[]) {
        let v = sample
            .get("value")
            .and_then(|v| v.arr().get(1))
            .and_then(Json::str)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("no sample value in {}", r.text()))?;
        total += v;
    }
    Ok(Ok(total as u64))
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

fn human_bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} {}", units[u]) } else { format!("{v:.1} {}", units[u]) }
}

fn si(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.1}")
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(false) when balsa misbehaved (the figures are still printed).
/// The data directory (`--data` or a new one under $TMPDIR), empty and
/// created; and whether the bench made it up (so it may delete it).
fn data_dir(a: &Args) -> Result<(PathBuf, bool)> {
    let (data, created) = match &a.data {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
            (std::env::temp_dir().join(format!("balsa-bench-{}-{nanos}", std::process::id())), true)
        }
    };
    if data.exists() && std::fs::read_dir(&data)?.next().is_some() {
        bail!("data directory {} is not empty", data.display());
    }
    std::fs::create_dir_all(&data)?;
    Ok((data, created))
}

/// Protobuf and snappy sizes of the generated requests.
fn wire_summary(ds: &Dataset) -> String {
    format!(
        "{} protobuf → {} snappy ({:.2}x)",
        human_bytes(ds.proto_bytes as f64),
        human_bytes(ds.wire_bytes as f64),
        ds.proto_bytes as f64 / ds.wire_bytes as f64
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn print_rows(rows: &[(String, String)]) {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
}

fn run() -> Result<bool> {
    let a = parse_args()?;
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if a.cluster {
        return run_cluster(&a, command_line, cores);
    }
    if a.logql {
        return run_logql(&a, command_line, cores);
    }
    if a.s3 {
        return run_s3(&a, command_line, cores);
    }
    let mut ok = true;
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));

    // Data directory and log.
    let (data, created) = data_dir(&a)?;
    let log = data.with_extension("log");

    // Generate.
    let streams = stream_defs(a.streams);
    eprintln!(
        "bench: generating {} {} lines in {} streams ({} per push, {} streams per push)…",
        a.lines,
        if a.format == Format::Json { "json" } else { "logfmt" },
        a.streams,
        a.batch,
        a.streams_per_batch
    );
    let t = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let ds = generate(&a, &streams, a.lines, now - SPAN_NS, SPAN_NS, a.seed)?;
    let gen_time = t.elapsed();
    eprintln!(
        "bench: {} raw, {} protobuf, {} snappy on the wire, {} needles, in {:.1}s",
        human_bytes(ds.raw_bytes as f64),
        human_bytes(ds.proto_bytes as f64),
        human_bytes(ds.wire_bytes as f64),
        ds.needles,
        gen_time.as_secs_f64()
    );

    // Start balsa.
    let (mut server, flags) = Server::start(&a, &data, &log)?;
    let ready_in = server.wait_ready(Duration::from_secs(60))?;
    eprintln!(
        "bench: balsa pid {} ready in {:.2}s on 127.0.0.1:{}",
        server.pid,
        ready_in.as_secs_f64(),
        server.http_port
    );

    // Push.
    eprintln!("bench: pushing {} requests with {} connections…", ds.bodies.len(), a.concurrency);
    let p = push_phase(&a, std::slice::from_ref(&server), &ds);
    let secs = p.elapsed.as_secs_f64();
    eprintln!(
        "bench: pushed {} lines in {secs:.2}s ({}/s), {} failures",
        p.acked_lines,
        si(p.acked_lines as f64 / secs),
        p.failures
    );
    if p.failures > 0 || p.acked_lines != a.lines as u64 {
        eprintln!("bench: FAILED PUSHES: {} of {} requests were not answered 204", p.failures, ds.bodies.len());
        ok = false;
    }
    if let Some(s) = server.exited() {
        bail!("balsa exited during the push phase with {s}; log {}:\n{}", log.display(), server.log_tail(40));
    }
    let cpu_before_settle = server.cpu_s();
    let settle = server.settle(Duration::from_secs(60));
    let settle_cpu = server.cpu_s() - cpu_before_settle;
    let disk_live = dir_size(&data);
    let rss_after_push = proc_status_kb(&server.pid, "VmRSS").unwrap_or(0);

    // Scan.
    let query = format!("{{namespace=~\"ns-.*\"}} |= \"{NEEDLE}\"");
    let mut runs: Vec<QueryRun> = Vec::new();
    for q in 0..a.queries {
        match scan_once(&server, &query, Expect::of(&ds)) {
            Ok(r) => {
                eprintln!(
                    "bench: query {}: {:.3}s, server CPU {:.3}s, {} needles returned, {} lines / {} processed",
                    q + 1,
                    r.wall.as_secs_f64(),
                    r.server_cpu_s,
                    r.returned,
                    r.lines_processed,
                    human_bytes(r.bytes_processed as f64)
                );
                if r.returned != ds.needles || !r.needles_ok {
                    eprintln!(
                        "\n!!!!!!!! MISMATCH: query {} returned {} lines{}, {} needle lines were pushed !!!!!!!!\n",
                        q + 1,
                        r.returned,
                        if r.needles_ok { "" } else { " (some without the needle)" },
                        ds.needles
                    );
                    ok = false;
                }
                runs.push(r);
            }
            Err(e) => {
                eprintln!("bench: query {} FAILED: {e:#}", q + 1);
                ok = false;
            }
        }
    }
    let peak_rss = proc_status_kb(&server.pid, "VmHWM").unwrap_or(0);

    // Graceful shutdown and disk.
    let (status, stop_in) = server.terminate(Duration::from_secs(120))?;
    if !status.success() {
        eprintln!("bench: balsa exited with {status} after SIGTERM; log {}:\n{}", log.display(), server.log_tail(40));
        ok = false;
    }
    let disk = dir_size(&data);

    // Figures.
    let raw = ds.raw_bytes as f64;
    row("command", command_line.clone());
    row("balsa", format!("{} {}", a.balsa.display(), flags.join(" ")));
    row("machine", format!("{cores} cores ({}), shared by balsa and the bench client", cpu_model()));
    row(
        "data",
        format!(
            "{} lines, {} streams, {} B/line avg, {} raw, {} needles, {} pushes of {} lines over {} connections",
            a.lines,
            a.streams,
            ds.raw_bytes / a.lines as u64,
            human_bytes(raw),
            ds.needles,
            ds.bodies.len(),
            a.batch,
            a.concurrency
        ),
    );
    row("wire", wire_summary(&ds));
    row("ready", format!("{:.2} s", ready_in.as_secs_f64()));
    row("push: acknowledged", format!("{} lines ({} failed pushes)", p.acked_lines, p.failures));
    row("push: elapsed", format!("{secs:.2} s"));
    row("push: lines/s", si(p.acked_lines as f64 / secs));
    row("push: MB/s (raw lines)", format!("{:.1}", p.acked_raw as f64 / 1e6 / secs));
    row("push: server CPU", format!("{:.2} s ({:.2} cores busy on average)", p.server_cpu_s, p.server_cpu_s / secs));
    row(
        "push: lines per server CPU-s",
        format!(
            "{} (incl. {:.2} s of background work after the push: {})",
            si(p.acked_lines as f64 / p.server_cpu_s.max(1e-9)),
            settle_cpu,
            si(p.acked_lines as f64 / (p.server_cpu_s + settle_cpu).max(1e-9))
        ),
    );
    row("push: MB per server CPU-s", format!("{:.1}", p.acked_raw as f64 / 1e6 / p.server_cpu_s.max(1e-9)));
    row(
        "push: latency per request",
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3,
            p.max.as_secs_f64() * 1e3
        ),
    );
    row("push: client CPU", format!("{:.2} s (the bench itself)", p.client_cpu_s));
    row("settle after push", format!("{:.1} s", settle.as_secs_f64()));
    if !runs.is_empty() {
        let mut walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        walls.sort_by(f64::total_cmp);
        let mut cpus: Vec<f64> = runs.iter().map(|r| r.server_cpu_s).collect();
        cpus.sort_by(f64::total_cmp);
        let (best, median) = (walls[0], walls[walls.len() / 2]);
        let cpu_med = cpus[cpus.len() / 2];
        row("scan: query", query.clone());
        row("scan: needles", format!("{} returned of {} pushed", runs.last().unwrap().returned, ds.needles));
        row(
            "scan: server stats",
            format!(
                "{} lines, {} processed",
                runs.last().unwrap().lines_processed,
                human_bytes(runs.last().unwrap().bytes_processed as f64)
            ),
        );
        row("scan: time best / median", format!("{:.3} s / {:.3} s ({} queries)", best, median, runs.len()));
        row("scan: MB/s best / median", format!("{:.1} / {:.1}", raw / 1e6 / best, raw / 1e6 / median));
        row("scan: server CPU-s per query", format!("{:.3} (median)", cpu_med));
        row("scan: MB per server CPU-s", format!("{:.1}", raw / 1e6 / cpu_med.max(1e-9)));
        row("scan: lines per server CPU-s", si(a.lines as f64 / cpu_med.max(1e-9)));
    }
    row(
        "disk after push (live)",
        format!("{} ({:.3} B per raw B)", human_bytes(disk_live as f64), disk_live as f64 / raw),
    );
    row("disk after SIGTERM", format!("{} ({:.3} B per raw B)", human_bytes(disk as f64), disk as f64 / raw));
    row("shutdown", format!("{status} in {:.2} s", stop_in.as_secs_f64()));
    row(
        "server memory",
        format!(
            "RSS after push {}, peak {}",
            human_bytes(rss_after_push as f64 * 1024.0),
            human_bytes(peak_rss as f64 * 1024.0)
        ),
    );
    row("result", if ok { "OK".into() } else { "FAILED (see above)".into() });
    print_rows(&rows);

    if a.keep || !ok {
        eprintln!("bench: kept data {} and log {}", data.display(), log.display());
    } else {
        if created {
            let _ = std::fs::remove_dir_all(&data);
        }
        let _ = std::fs::remove_file(&log);
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------
// S3 mode
// ---------------------------------------------------------------------------

const S3_BUCKET: &str = "balsa-bench";

/// moto_server on a free port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Result<Self> {
        let port = free_ports(1)?[0];
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start moto_server (pip install 'moto[server]')")?;
        let moto = Moto { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("moto_server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// (objects, bytes) in the bucket.
    fn usage(&self) -> Result<(u64, u64)> {
        let mut http = Http::new(self.port);
        let (mut objects, mut bytes) = (0, 0);
        let mut token: Option<String> = None;
        loop {
            let mut target = format!("/{S3_BUCKET}?list-type=2&max-keys=1000");
            if let Some(t) = &token {
                target.push_str(&format!("&continuation-token={}", url_encode(t)));
            }
            let r = http.request("GET", &target, &[], &[])?;
            if r.status != 200 {
                bail!("list bucket: HTTP {}: {}", r.status, r.text());
            }
            let xml = String::from_utf8_lossy(&r.body).into_owned();
            for size in xml.split("<Size>").skip(1) {
                objects += 1;
                bytes += size.split("</Size>").next().unwrap_or("0").parse::<u64>().unwrap_or(0);
            }
            match xml.split("<NextContinuationToken>").nth(1) {
                Some(rest) => token = rest.split("</NextContinuationToken>").next().map(str::to_string),
                None => return Ok((objects, bytes)),
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric's value (summed over label sets) from a server's `/metrics`.
fn metric(server: &Server, name: &str) -> Result<f64> {
    let r = Http::new(server.http_port).request("GET", "/metrics", &[], &[])?;
    Ok(String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// Waits until nothing waits for upload and the upload counter stopped moving.
fn wait_uploaded(server: &Server, max: Duration) -> Result<(f64, Duration)> {
    let started = Instant::now();
    loop {
        let before =
            (metric(server, "balsa_tier_uploaded_chunks_total")?, metric(server, "balsa_tier_pending_chunks")?);
        std::thread::sleep(Duration::from_secs(2));
        let after = (metric(server, "balsa_tier_uploaded_chunks_total")?, metric(server, "balsa_tier_pending_chunks")?);
        if before == after && after.1 == 0.0 && after.0 > 0.0 {
            return Ok((after.0, started.elapsed()));
        }
        if started.elapsed() > max {
            bail!("uploads did not finish within {max:?}: uploaded {}, pending {}", after.0, after.1);
        }
    }
}

fn run_s3(a: &Args, command_line: String, cores: usize) -> Result<bool> {
    let mut ok = true;
    let mut rows: Vec<(String, String)> = Vec::new();
    let moto = Moto::start()?;
    let s3_flags = vec![
        format!("-storage_config.aws.endpoint=127.0.0.1:{}", moto.port),
        "-storage_config.aws.insecure=true".to_string(),
        format!("-storage_config.aws.bucketnames={S3_BUCKET}"),
        "-storage_config.aws.s3forcepathstyle=true".into(),
        "-storage_config.aws.region=us-east-1".into(),
        "-storage_config.aws.access_key_id=bench".into(),
        "-storage_config.aws.secret_access_key=bench".into(),
        "-storage_config.upload_interval=1s".into(),
        "-ingester.max_chunk_age=10m".into(),
    ];
    let (data, created) = data_dir(a)?;
    let log = data.with_extension("log");
    let streams = stream_defs(a.streams);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    eprintln!("bench: generating {} lines in {} streams…", a.lines, a.streams);
    let ds = generate(a, &streams, a.lines, now - SPAN_NS, SPAN_NS, a.seed)?;
    let raw = ds.raw_bytes as f64;
    let ports = free_ports(2)?;
    let (mut server, flags) = Server::spawn(a, &data, &log, ports[0], ports[1], &s3_flags)?;
    server.wait_ready(Duration::from_secs(60))?;
    eprintln!("bench: pushing {} raw…", human_bytes(raw));
    let p = push_phase(a, std::slice::from_ref(&server), &ds);
    if p.failures > 0 || p.acked_lines != a.lines as u64 {
        eprintln!("bench: FAILED PUSHES: {} of {} requests were not answered 204", p.failures, ds.bodies.len());
        ok = false;
    }
    let (chunks, upload_wait) = wait_uploaded(&server, Duration::from_secs(600))?;
    let (objects, bucket_bytes) = moto.usage()?;
    server.settle(Duration::from_secs(60));
    let local_bytes = dir_size(&data);
    eprintln!("bench: {chunks} chunks in {objects} objects ({}) uploaded", human_bytes(bucket_bytes as f64));

    // Cold: a fresh process has an empty cache.
    let (status, _) = server.terminate(Duration::from_secs(120))?;
    if !status.success() {
        ok = false;
    }
    let ports = free_ports(2)?;
    let (mut server, _) = Server::spawn(a, &data, &log, ports[0], ports[1], &s3_flags)?;
    server.wait_ready(Duration::from_secs(60))?;
    let query = format!("{{namespace=~\"ns-.*\"}} |= \"{NEEDLE}\"");
    let mut runs: Vec<(String, QueryRun)> = Vec::new();
    for q in 0..=a.queries {
        let label = if q == 0 { "cold".to_string() } else { format!("cached {q}") };
        match scan_once(&server, &query, Expect::of(&ds)) {
            Ok(r) => {
                eprintln!(
                    "bench: {label}: {:.3}s, server CPU {:.3}s, {} needles",
                    r.wall.as_secs_f64(),
                    r.server_cpu_s,
                    r.returned
                );
                if r.returned != ds.needles || !r.needles_ok {
                    eprintln!("bench: MISMATCH: {} needles returned, {} pushed", r.returned, ds.needles);
                    ok = false;
                }
                runs.push((label, r));
            }
            Err(e) => {
                eprintln!("bench: {label} query FAILED: {e:#}");
                ok = false;
            }
        }
    }
    let downloaded = metric(&server, "balsa_s3_downloaded_bytes_total")?;
    let (status, _) = server.terminate(Duration::from_secs(120))?;
    if !status.success() {
        ok = false;
    }

    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("command", command_line);
    row("balsa", format!("{} {}", a.balsa.display(), flags.join(" ")));
    row("machine", format!("{cores} cores ({}), shared by balsa, moto_server and the bench", cpu_model()));
    row("data", format!("{} lines, {} streams, {} raw, {} needles", a.lines, a.streams, human_bytes(raw), ds.needles));
    row("push: lines/s", si(p.acked_lines as f64 / p.elapsed.as_secs_f64()));
    row(
        "uploads",
        format!("{chunks} chunks in {objects} objects, done {:.1} s after the push", upload_wait.as_secs_f64()),
    );
    row(
        "bytes stored per raw byte",
        format!(
            "bucket {} ({:.3}), local disk {} ({:.3}), together {:.3}",
            human_bytes(bucket_bytes as f64),
            bucket_bytes as f64 / raw,
            human_bytes(local_bytes as f64),
            local_bytes as f64 / raw,
            (bucket_bytes + local_bytes) as f64 / raw
        ),
    );
    row("scan: query", query.clone());
    for (label, r) in &runs {
        row(
            &format!("scan {label}"),
            format!(
                "{:.3} s, {:.1} MB/s; server CPU {:.3} s, {:.1} MB per server CPU-s",
                r.wall.as_secs_f64(),
                raw / 1e6 / r.wall.as_secs_f64(),
                r.server_cpu_s,
                raw / 1e6 / r.server_cpu_s.max(1e-9)
            ),
        );
    }
    row("s3 bytes downloaded by the scans", human_bytes(downloaded));
    row("result", if ok { "OK".into() } else { "FAILED (see above)".into() });
    print_rows(&rows);
    if a.keep || !ok {
        eprintln!("bench: kept data {} and log {}", data.display(), log.display());
    } else {
        if created {
            let _ = std::fs::remove_dir_all(&data);
        }
        let _ = std::fs::remove_file(&log);
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------
// LogQL mode
// ---------------------------------------------------------------------------

/// LogQL mode spreads its lines over 4 h, so a 1m step gives 240 steps.
const LOGQL_SPAN_NS: i64 = 4 * 3600 * 1_000_000_000;
/// Step of the metric query; equal to its `[1m]` range, so the windows
/// `(t - 1m, t]` tile the data and the points add up to the line count.
const LOGQL_STEP_NS: i64 = 60 * 1_000_000_000;
/// Per-core targets from the issue "LogQL, complete", in MB per server CPU-second.
const TARGET_LINE_FILTER_MB: f64 = 1000.0;
const TARGET_PARSER_MB: f64 = 300.0;

/// Average raw line length of `format` in LogQL mode, from a sample.
fn avg_line_len(format: Format) -> f64 {
    let mut r = Rng::new(0xA11CE);
    let mut line = String::new();
    let n = 20_000;
    let mut total = 0usize;
    for i in 0..n {
        line.clear();
        let level = line_level(&mut r);
        gen_line(&mut r, format, level, 1_700_000_000_000_000_000 + i as i64 * 1_000_000, false, true, &mut line);
        total += line.len();
    }
    total as f64 / n as f64
}

/// Lines to generate so that each format gets at least `gb` GB: streams
/// alternate formats, so each format gets about half of the lines (1% margin).
fn logql_lines(gb: f64) -> usize {
    let per_format = gb * 1e9 / avg_line_len(Format::Logfmt).min(avg_line_len(Format::Json));
    (2.0 * per_format * 1.01).ceil() as usize
}

/// One timed query: wall time, server CPU-seconds and the parsed answer.
struct Timed {
    wall: Duration,
    cpu_s: f64,
    json: Json,
    lines_processed: i64,
    bytes_processed: i64,
    response_bytes: usize,
}

fn timed_query(server: &Server, target: &str) -> Result<Timed> {
    let mut http = Http::new(server.http_port);
    http.connect()?;
    let cpu0 = server.cpu_s();
    let t = Instant::now();
    let r = http.request("GET", target, &[], &[])?;
    let wall = t.elapsed();
    let cpu_s = server.cpu_s() - cpu0;
    if r.status != 200 {
        bail!("HTTP {}: {}", r.status, r.text());
    }
    let json = JsonParser::parse(&r.body).context("response is not JSON")?;
    if json.get("status").and_then(Json::str) != Some("success") {
        bail!("status is not success: {}", r.text());
    }
    let summary = json.get("data").and_then(|d| d.get("stats")).and_then(|s| s.get("summary"));
    let stat = |k: &str| summary.and_then(|s| s.get(k)).and_then(Json::num).unwrap_or(-1.0) as i64;
    Ok(Timed {
        wall,
        cpu_s,
        lines_processed: stat("totalLinesProcessed"),
        bytes_processed: stat("totalBytesProcessed"),
        response_bytes: r.body.len(),
        json,
    })
}

/// What a LogQL-mode query must return.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// A log query: exactly this many lines, each containing the needle.
    Needles(u64),
    /// `sum by (level) (count_over_time(...))` with step = range: the points
    /// of each level add up to these counts ([`LEVELS`] order), in at most `steps` points each.
    LevelCounts { want: [u64; 4], steps: usize },
    /// A log query: exactly this many lines, each with a 5xx status.
    Status5xx(u64),
    /// `sum(count_over_time(...))` with step = range: one series without
    /// labels whose points add up to this many lines.
    Total(u64),
}

/// The lines of a `streams` result.
fn result_lines(j: &Json) -> Vec<&str> {
    let result = j.get("data").and_then(|d| d.get("result")).map(Json::arr).unwrap_or(&[]);
    result
        .iter()
        .flat_map(|s| s.get("values").map(Json::arr).unwrap_or(&[]))
        .map(|v| v.arr().get(1).and_then(Json::str).unwrap_or(""))
        .collect()
}

/// Ok(what was found) when the answer is right, Err(what is wrong) otherwise.
fn check_logql(j: &Json, check: Check) -> std::result::Result<String, String> {
    let result_type = j.get("data").and_then(|d| d.get("resultType")).and_then(Json::str).unwrap_or("");
    match check {
        Check::Needles(n) | Check::Status5xx(n) => {
            if result_type != "streams" {
                return Err(format!("resultType {result_type:?}, want \"streams\""));
            }
            let lines = result_lines(j);
            let (what, bad) = match check {
                Check::Needles(_) => ("needle lines", lines.iter().filter(|l| !l.contains(NEEDLE)).count()),
                _ => ("lines with status >= 500", lines.iter().filter(|l| !l.contains("\"status\":5")).count()),
            };
            if lines.len() as u64 == n && bad == 0 {
                Ok(format!("{} of {n} {what}", lines.len()))
            } else {
                Err(format!("{} lines returned ({bad} of them wrong), {n} {what} generated", lines.len()))
            }
        }
        Check::Total(want) => {
            let result = j.get("data").and_then(|d| d.get("result")).map(Json::arr).unwrap_or(&[]);
            if result_type != "matrix" || result.len() != 1 {
                return Err(format!("resultType {result_type:?} with {} series, want one matrix series", result.len()));
            }
            if !matches!(result[0].get("metric"), Some(Json::Obj(kv)) if kv.is_empty()) {
                return Err("the series has labels, want none".into());
            }
            let values = result[0].get("values").map(Json::arr).unwrap_or(&[]);
            let mut sum = 0u64;
            for v in values {
                match v.arr().get(1).and_then(Json::str).and_then(|x| x.parse::<f64>().ok()) {
                    Some(x) if x >= 0.0 && x.fract() == 0.0 => sum += x as u64,
                    _ => return Err("a point that is not a count".into()),
                }
            }
            if sum == want {
                Ok(format!("{sum} lines counted, as generated"))
            } else {
                Err(format!("{sum} lines counted, {want} generated"))
            }
        }
        Check::LevelCounts { want, steps } => {
            if result_type != "matrix" {
                return Err(format!("resultType {result_type:?}, want \"matrix\""));
            }
            let mut got = [0u64; 4];
            let mut problems = Vec::new();
            let mut max_points = 0;
            for s in j.get("data").and_then(|d| d.get("result")).map(Json::arr).unwrap_or(&[]) {
                let metric = s.get("metric");
                let level = metric.and_then(|m| m.get("level")).and_then(Json::str).unwrap_or("");
                if !matches!(metric, Some(Json::Obj(kv)) if kv.len() == 1) {
                    problems.push(format!("series with labels other than level (level {level:?})"));
                }
                let values = s.get("values").map(Json::arr).unwrap_or(&[]);
                max_points = max_points.max(values.len());
                let mut sum = 0u64;
                for v in values {
                    match v.arr().get(1).and_then(Json::str).and_then(|x| x.parse::<f64>().ok()) {
                        Some(x) if x >= 0.0 && x.fract() == 0.0 => sum += x as u64,
                        _ => problems.push(format!("level {level:?}: a point that is not a count")),
                    }
                }
                match LEVELS.iter().position(|l| *l == level) {
                    Some(i) => got[i] += sum,
                    None => problems.push(format!("unexpected series level={level:?} ({sum} lines)")),
                }
            }
            if max_points > steps {
                problems.push(format!("{max_points} points in a series, at most {steps} steps"));
            }
            for (i, l) in LEVELS.iter().enumerate() {
                if got[i] != want[i] {
                    problems.push(format!("{l}: {} counted, {} generated", got[i], want[i]));
                }
            }
            let counts = LEVELS.iter().zip(got).map(|(l, n)| format!("{l} {n}")).collect::<Vec<_>>().join(", ");
            if problems.is_empty() {
                Ok(format!(
                    "{counts} lines, as generated (sum {}); up to {max_points} points per series",
                    got.iter().sum::<u64>()
                ))
            } else {
                Err(format!("{counts}: {}", problems.join("; ")))
            }
        }
    }
}

/// Resets a process's peak RSS (VmHWM) to its current RSS (`5` to
/// `/proc/<pid>/clear_refs`, Linux 4.0+), so the peak of each query can be
/// read on its own. False when the kernel refuses.
fn reset_peak_rss(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `--logql`: pushes logfmt and JSON lines labelled `app="x"` into one balsa,
/// then times three line filters, a logfmt metric query and a JSON log query
/// over all of them, each `--queries` times, and checks every answer.
fn run_logql(a: &Args, command_line: String, cores: usize) -> Result<bool> {
    let run_started = Instant::now();
    let mut ok = true;
    let (data, created) = data_dir(a)?;
    let log = data.with_extension("log");

    // Generate.
    let streams = logql_stream_defs(a.streams);
    let lines = logql_lines(a.logql_gb);
    eprintln!(
        "bench: generating {lines} lines (≥ {} GB raw per format) in {} streams, logfmt and json alternating…",
        a.logql_gb, a.streams
    );
    let t = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let ds = generate(a, &streams, lines, now - LOGQL_SPAN_NS, LOGQL_SPAN_NS, a.seed)?;
    let gen_time = t.elapsed();
    let [lf, js] = ds.formats;
    eprintln!(
        "bench: {} raw ({} logfmt, {} json), {} snappy on the wire, {} needles, in {:.1}s",
        human_bytes(ds.raw_bytes as f64),
        human_bytes(lf.raw as f64),
        human_bytes(js.raw as f64),
        human_bytes(ds.wire_bytes as f64),
        ds.needles,
        gen_time.as_secs_f64()
    );
    let want = (a.logql_gb * 1e9) as u64;
    if lf.raw < want || js.raw < want {
        bail!("generated {} B logfmt and {} B json, fewer than {want} B each", lf.raw, js.raw);
    }

    // Start balsa; parser queries over gigabytes may take longer than the default 1m timeout.
    let ports = free_ports(2)?;
    let (mut server, flags) =
        Server::spawn(a, &data, &log, ports[0], ports[1], &["-limits_config.query_timeout=1h".to_string()])?;
    let ready_in = server.wait_ready(Duration::from_secs(60))?;
    eprintln!(
        "bench: balsa pid {} ready in {:.2}s on 127.0.0.1:{}",
        server.pid,
        ready_in.as_secs_f64(),
        server.http_port
    );

    // Push.
    eprintln!("bench: pushing {} requests with {} connections…", ds.bodies.len(), a.concurrency);
    let p = push_phase(a, std::slice::from_ref(&server), &ds);
    let secs = p.elapsed.as_secs_f64();
    eprintln!(
        "bench: pushed {} lines in {secs:.2}s ({}/s), {} failures",
        p.acked_lines,
        si(p.acked_lines as f64 / secs),
        p.failures
    );
    if p.failures > 0 || p.acked_lines != lines as u64 {
        eprintln!("bench: FAILED PUSHES: {} of {} requests were not answered 204", p.failures, ds.bodies.len());
        ok = false;
    }
    if let Some(s) = server.exited() {
        bail!("balsa exited during the push phase with {s}; log {}:\n{}", log.display(), server.log_tail(40));
    }
    eprintln!("bench: waiting for background work to finish…");
    let cpu_before_settle = server.cpu_s();
    let settle = server.settle(Duration::from_secs(300));
    let settle_cpu = server.cpu_s() - cpu_before_settle;
    let disk_live = dir_size(&data);
    let rss_after_push = proc_status_kb(&server.pid, "VmRSS").unwrap_or(0);
    let peak_before_queries = proc_status_kb(&server.pid, "VmHWM").unwrap_or(0);

    // Queries.
    let (start, last) = (ds.first_ts, ds.last_ts);
    let steps = (last - start).div_euclid(LOGQL_STEP_NS) + 1 + ((last - start) % LOGQL_STEP_NS != 0) as i64;
    let metric_end = start + (steps - 1) * LOGQL_STEP_NS;
    let log_target = |q: &str, limit: u64| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={}&limit={}&direction=forward",
            url_encode(q),
            last + 1,
            limit.max(100)
        )
    };
    struct Spec {
        name: &'static str,
        query: String,
        target: String,
        lines: u64,
        raw: u64,
        check: Check,
        target_mb: f64,
    }
    let filter_q = format!("{{app=\"x\"}} |= \"{NEEDLE}\"");
    let logfmt_q = "sum by (level) (count_over_time({app=\"x\", format=\"logfmt\"} | logfmt [1m]))".to_string();
    let json_q = "{app=\"x\", format=\"json\"} | json | status >= 500".to_string();
    let regex_q = format!("{{app=\"x\"}} |~ \"(?i){NEEDLE}\"");
    let dense_q = format!("sum(count_over_time({{app=\"x\"}} |= \"{DENSE}\" [1m]))");
    let metric_target = |q: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={metric_end}&step={}",
            url_encode(q),
            LOGQL_STEP_NS / 1_000_000_000
        )
    };
    let specs = [
        Spec {
            name: "line filter",
            target: log_target(&filter_q, ds.needles as u64 + 1000),
            query: filter_q,
            lines: lf.lines + js.lines,
            raw: lf.raw + js.raw,
            check: Check::Needles(ds.needles as u64),
            target_mb: TARGET_LINE_FILTER_MB,
        },
        Spec {
            // The same needle through a case-insensitive regex: too many
            // literals, so storage searches blocks with the regex itself.
            name: "(?i) filter",
            target: log_target(&regex_q, ds.needles as u64 + 1000),
            query: regex_q,
            lines: lf.lines + js.lines,
            raw: lf.raw + js.raw,
            check: Check::Needles(ds.needles as u64),
            target_mb: TARGET_LINE_FILTER_MB,
        },
        Spec {
            name: "dense filter",
            target: metric_target(&dense_q),
            query: dense_q,
            lines: lf.lines + js.lines,
            raw: lf.raw + js.raw,
            check: Check::Total(lf.dense + js.dense),
            target_mb: TARGET_LINE_FILTER_MB,
        },
        Spec {
            name: "logfmt metric",
            target: metric_target(&logfmt_q),
            query: logfmt_q,
            lines: lf.lines,
            raw: lf.raw,
            check: Check::LevelCounts { want: lf.by_level, steps: steps as usize },
            target_mb: TARGET_PARSER_MB,
        },
        Spec {
            name: "json filter",
            // Above the expected count, so a wrong surplus shows instead of being cut off.
            target: log_target(&json_q, js.status_5xx + 1000),
            query: json_q,
            lines: js.lines,
            raw: js.raw,
            check: Check::Status5xx(js.status_5xx),
            target_mb: TARGET_PARSER_MB,
        },
    ];
    let mut results: Vec<Vec<Timed>> = Vec::new();
    let mut found: Vec<String> = Vec::new();
    // Per query: (RSS before its runs, peak RSS during them if the peak could be reset), kB.
    let mut memory: Vec<(u64, Option<u64>)> = Vec::new();
    let mut peak_rss = peak_before_queries;
    for spec in &specs {
        let rss_before = proc_status_kb(&server.pid, "VmRSS").unwrap_or(0);
        let reset = reset_peak_rss(&server.pid);
        let mut runs = Vec::new();
        let mut what = String::from("no successful run");
        for q in 0..a.queries {
            match timed_query(&server, &spec.target) {
                Ok(r) => {
                    let verdict = check_logql(&r.json, spec.check);
                    eprintln!(
                        "bench: {} {}: {:.3}s, server CPU {:.3}s, {} MB/CPU-s, {} lines / {} processed: {}",
                        spec.name,
                        q + 1,
                        r.wall.as_secs_f64(),
                        r.cpu_s,
                        (spec.raw as f64 / 1e6 / r.cpu_s.max(1e-9)).round(),
                        r.lines_processed,
                        human_bytes(r.bytes_processed as f64),
                        match &verdict {
                            Ok(s) => s.clone(),
                            Err(e) => format!("MISMATCH: {e}"),
                        }
                    );
                    match verdict {
                        Ok(s) => what = s,
                        Err(e) => {
                            eprintln!("\n!!!!!!!! MISMATCH: {} run {}: {e} !!!!!!!!\n", spec.name, q + 1);
                            what = format!("MISMATCH: {e}");
                            ok = false;
                        }
                    }
                    // Keep the figures, not the answer.
                    runs.push(Timed { json: Json::Null, ..r });
                }
                Err(e) => {
                    eprintln!("bench: {} {} FAILED: {e:#}", spec.name, q + 1);
                    what = format!("FAILED: {e:#}");
                    ok = false;
                }
            }
            if let Some(s) = server.exited() {
                bail!("balsa exited during the queries with {s}; log {}:\n{}", log.display(), server.log_tail(40));
            }
        }
        results.push(runs);
        found.push(what);
        let peak = proc_status_kb(&server.pid, "VmHWM").unwrap_or(0);
        peak_rss = peak_rss.max(peak);
        memory.push((rss_before, reset.then_some(peak)));
    }

    // Graceful shutdown.
    let (status, stop_in) = server.terminate(Duration::from_secs(120))?;
    if !status.success() {
        eprintln!("bench: balsa exited with {status} after SIGTERM; log {}:\n{}", log.display(), server.log_tail(40));
        ok = false;
    }

    // Figures.
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("command", command_line);
    row("balsa", format!("{} {}", a.balsa.display(), flags.join(" ")));
    row("machine", format!("{cores} cores ({}), shared by balsa and the bench client", cpu_model()));
    row(
        "data",
        format!(
            "{lines} lines in {} streams {{app=\"x\", format=\"logfmt\"|\"json\", namespace, pod}} over {} h, {} raw",
            a.streams,
            LOGQL_SPAN_NS / 3_600_000_000_000,
            human_bytes(ds.raw_bytes as f64)
        ),
    );
    for (name, fc) in [("logfmt", lf), ("json", js)] {
        row(
            &format!("data: {name}"),
            format!(
                "{} lines, {:.3} GB raw ({} B/line avg), levels {}, {} with status >= 500",
                fc.lines,
                fc.raw as f64 / 1e9,
                fc.raw / fc.lines.max(1),
                LEVELS.iter().zip(fc.by_level).map(|(l, n)| format!("{l} {n}")).collect::<Vec<_>>().join(", "),
                fc.status_5xx
            ),
        );
    }
    row("data: needles", format!("{} (one per {NEEDLE_EVERY} lines)", ds.needles));
    row(
        "generate",
        format!(
            "{:.1} s; {} protobuf → {} snappy in {} pushes of {} lines over {} connections",
            gen_time.as_secs_f64(),
            human_bytes(ds.proto_bytes as f64),
            human_bytes(ds.wire_bytes as f64),
            ds.bodies.len(),
            a.batch,
            a.concurrency
        ),
    );
    row("push: acknowledged", format!("{} lines ({} failed pushes)", p.acked_lines, p.failures));
    row(
        "push: elapsed",
        format!(
            "{secs:.1} s ({}/s, {:.1} MB/s raw), server CPU {:.1} s ({} lines per CPU-s)",
            si(p.acked_lines as f64 / secs),
            p.acked_raw as f64 / 1e6 / secs,
            p.server_cpu_s,
            si(p.acked_lines as f64 / p.server_cpu_s.max(1e-9))
        ),
    );
    row("settle after push", format!("{:.1} s ({:.1} server CPU-s)", settle.as_secs_f64(), settle_cpu));
    let mut summary = Vec::new();
    for (((spec, runs), what), (rss_before, peak)) in specs.iter().zip(&results).zip(&found).zip(&memory) {
        let n = spec.name;
        row(&format!("{n}: query"), spec.query.clone());
        row(&format!("{n}: result"), what.clone());
        let Some(r) = runs.last() else { continue };
        let stats_note = if r.lines_processed == spec.lines as i64 && r.bytes_processed == spec.raw as i64 {
            "as generated".to_string()
        } else {
            format!("generated: {} lines, {} B", spec.lines, spec.raw)
        };
        row(
            &format!("{n}: scanned"),
            format!(
                "{} lines, {:.1} MB (server stats: {} lines, {} B, {stats_note})",
                spec.lines,
                spec.raw as f64 / 1e6,
                r.lines_processed,
                r.bytes_processed
            ),
        );
        let walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_s).collect();
        let (wall, cpu) = (median(&walls), median(&cpus));
        let best = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let mb = spec.raw as f64 / 1e6;
        let per_core = mb / cpu.max(1e-9);
        row(
            &format!("{n}: wall median / best"),
            format!("{wall:.2} s / {best:.2} s ({} runs; {:.0} MB/s median)", runs.len(), mb / wall.max(1e-9)),
        );
        row(
            &format!("{n}: server CPU-s median"),
            format!("{cpu:.2} ({:.2} cores busy; runs: {})", cpu / wall.max(1e-9), {
                cpus.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(", ")
            }),
        );
        row(
            &format!("{n}: MB per server CPU-s"),
            format!(
                "{per_core:.0} ({} lines per CPU-s); target {:.0}: {}",
                si(spec.lines as f64 / cpu.max(1e-9)),
                spec.target_mb,
                if per_core >= spec.target_mb { "met" } else { "NOT met" }
            ),
        );
        row(&format!("{n}: response"), human_bytes(r.response_bytes as f64));
        row(
            &format!("{n}: server peak RSS"),
            match peak {
                Some(k) => format!(
                    "{} during its runs (RSS before them {})",
                    human_bytes(*k as f64 * 1024.0),
                    human_bytes(*rss_before as f64 * 1024.0)
                ),
                None => "unknown (the peak could not be reset)".into(),
            },
        );
        summary.push(format!("{n} {per_core:.0} MB/CPU-s"));
    }
    row(
        "server memory",
        format!(
            "RSS after push {}, peak during the push {}, peak overall {}",
            human_bytes(rss_after_push as f64 * 1024.0),
            human_bytes(peak_before_queries as f64 * 1024.0),
            human_bytes(peak_rss as f64 * 1024.0)
        ),
    );
    row(
        "disk after push (live)",
        format!("{} ({:.3} B per raw B)", human_bytes(disk_live as f64), disk_live as f64 / ds.raw_bytes as f64),
    );
    row("shutdown", format!("{status} in {:.2} s", stop_in.as_secs_f64()));
    row("summary", summary.join("; "));
    row("total time", format!("{:.0} s", run_started.elapsed().as_secs_f64()));
    row("result", if ok { "OK".into() } else { "FAILED (see above)".into() });
    print_rows(&rows);

    if a.keep || !ok {
        eprintln!("bench: kept data {} and log {}", data.display(), log.display());
    } else {
        if created {
            let _ = std::fs::remove_dir_all(&data);
        }
        let _ = std::fs::remove_file(&log);
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------
// Cluster mode
// ---------------------------------------------------------------------------

const NODES: usize = 3;

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// "node 0 x, node 1 y, node 2 z".
fn per_node<T>(v: &[T], f: impl Fn(&T) -> String) -> String {
    v.iter().enumerate().map(|(i, x)| format!("node {i} {}", f(x))).collect::<Vec<_>>().join(", ")
}

/// The sum over shards of the highest Raft term any node reports on
/// `/cluster/status`: it grows by one per election or leadership transfer.
/// None when a node does not answer.
fn term_sum(servers: &[Server]) -> Option<u64> {
    let mut best: Vec<u64> = Vec::new();
    for s in servers {
        let r = Http::new(s.http_port).request("GET", "/cluster/status", &[], &[]).ok()?;
        if r.status != 200 {
            return None;
        }
        let j = JsonParser::parse(&r.body).ok()?;
        for shard in j.get("shards")?.arr() {
            let id = shard.get("shard")?.num()?;
            let term = shard.get("term")?.num()?;
            if !(0.0..=65_536.0).contains(&id) {
                return None;
            }
            let id = id as usize;
            if best.len() <= id {
                best.resize(id + 1, 0);
            }
            best[id] = best[id].max(term as u64);
        }
    }
    Some(best.iter().sum())
}

/// "N" or "unknown" for the growth of [`term_sum`] over a phase.
fn term_delta(before: Option<u64>, after: Option<u64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) => a.saturating_sub(b).to_string(),
        _ => "unknown (no /cluster/status)".into(),
    }
}

/// Fails when a node has exited.
fn check_alive(nodes: &mut [Server], phase: &str) -> Result<()> {
    for (i, n) in nodes.iter_mut().enumerate() {
        if let Some(s) = n.exited() {
            bail!("node {i} exited during {phase} with {s}; log {}:\n{}", n.log.display(), n.log_tail(40));
        }
    }
    Ok(())
}

/// Asks every node for the needles and, where metric queries answer, for the
/// count of all lines; every line was pushed through one node and is read
/// back through all three. Returns one description per node and whether
/// every node returned everything.
fn verify_cluster(nodes: &[Server], ex: Expect, when: &str) -> (Vec<String>, bool) {
    let query = format!("{{namespace=~\"ns-.*\"}} |= \"{NEEDLE}\"");
    let mut out = Vec::new();
    let mut ok = true;
    for (i, n) in nodes.iter().enumerate() {
        let scan = match scan_once(n, &query, ex) {
            Ok(r) => {
                if r.returned != ex.needles || !r.needles_ok {
                    eprintln!(
                        "\n!!!!!!!! MISMATCH {when}: node {i} returned {} lines{}, {} needle lines were pushed !!!!!!!!\n",
                        r.returned,
                        if r.needles_ok { "" } else { " (some without the needle)" },
                        ex.needles
                    );
                    ok = false;
                }
                format!("{} of {} needles in {:.3} s", r.returned, ex.needles, r.wall.as_secs_f64())
            }
            Err(e) => {
                eprintln!("bench: needle scan on node {i} {when} FAILED: {e:#}");
                ok = false;
                "needle scan FAILED".to_string()
            }
        };
        let count = match count_lines(n, ex) {
            Ok(Ok(c)) => {
                if c != ex.lines as u64 {
                    eprintln!(
                        "\n!!!!!!!! MISMATCH {when}: node {i} counts {c} lines, {} were pushed !!!!!!!!\n",
                        ex.lines
                    );
                    ok = false;
                }
                format!("{c} of {} lines counted", ex.lines)
            }
            Ok(Err(e)) => {
                eprintln!("bench: count query on node {i} not available: {e}");
                "count query not available".to_string()
            }
            Err(e) => {
                eprintln!("bench: count query on node {i} {when} FAILED: {e:#}");
                ok = false;
                "count query FAILED".to_string()
            }
        };
        eprintln!("bench: {when}, node {i}: {scan}; {count}");
        out.push(format!("{scan}; {count}"));
    }
    (out, ok)
}

/// `--cluster`: three nodes, a closed-loop push at maximum load, an open-loop
/// push at half of it, idle CPU. Ok(false) when a node misbehaved.
fn run_cluster(a: &Args, command_line: String, cores: usize) -> Result<bool> {
    let mut ok = true;
    let (root, created) = data_dir(a)?;
    let dirs: Vec<PathBuf> = (0..NODES).map(|i| root.join(format!("n{i}"))).collect();
    let logs: Vec<PathBuf> = (0..NODES).map(|i| root.join(format!("n{i}.log"))).collect();

    // Generate the max-load data.
    let streams = stream_defs(a.streams);
    eprintln!(
        "bench: generating {} {} lines in {} streams ({} per push, {} streams per push)…",
        a.lines,
        if a.format == Format::Json { "json" } else { "logfmt" },
        a.streams,
        a.batch,
        a.streams_per_batch
    );
    let t = Instant::now();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let ds = generate(a, &streams, a.lines, now - SPAN_NS, SPAN_NS, a.seed)?;
    eprintln!(
        "bench: {} raw, {} protobuf, {} snappy on the wire, {} needles, in {:.1}s",
        human_bytes(ds.raw_bytes as f64),
        human_bytes(ds.proto_bytes as f64),
        human_bytes(ds.wire_bytes as f64),
        ds.needles,
        t.elapsed().as_secs_f64()
    );

    // Start three nodes, peers listed in node-id order.
    let ports = free_ports(2 * NODES)?;
    let (http, grpc) = ports.split_at(NODES);
    let peers = grpc.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let mut nodes: Vec<Server> = Vec::new();
    let mut flags0 = Vec::new();
    for i in 0..NODES {
        std::fs::create_dir_all(&dirs[i])?;
        let cluster = [format!("-cluster.node_id={i}"), format!("-cluster.peers={peers}")];
        let (s, f) = Server::spawn(a, &dirs[i], &logs[i], http[i], grpc[i], &cluster)?;
        if i == 0 {
            flags0 = f;
        }
        nodes.push(s);
    }
    let t = Instant::now();
    for n in nodes.iter_mut() {
        n.wait_ready(Duration::from_secs(120))?;
    }
    let ready_in = t.elapsed();
    eprintln!(
        "bench: {NODES} nodes ready in {:.2}s (pids {}; http ports {})",
        ready_in.as_secs_f64(),
        nodes.iter().map(|n| n.pid.as_str()).collect::<Vec<_>>().join(", "),
        http.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    );

    // Maximum load: the closed loop.
    eprintln!(
        "bench: max load: pushing {} requests with {} connections spread over {NODES} nodes…",
        ds.bodies.len(),
        a.concurrency
    );
    let terms0 = term_sum(&nodes);
    let p = push_phase(a, &nodes, &ds);
    let terms1 = term_sum(&nodes);
    let secs = p.elapsed.as_secs_f64();
    let max_rate = p.acked_lines as f64 / secs;
    eprintln!(
        "bench: pushed {} lines in {secs:.2}s ({}/s), p50 {}, p99 {}, {} failures",
        p.acked_lines,
        si(max_rate),
        ms(p.p50),
        ms(p.p99),
        p.failures
    );
    if p.failures > 0 || p.acked_lines != a.lines as u64 {
        eprintln!("bench: FAILED PUSHES: {} of {} requests were not answered 204", p.failures, ds.bodies.len());
        ok = false;
    }
    check_alive(&mut nodes, "the max-load push")?;
    let total_cpu = |nodes: &[Server]| nodes.iter().map(Server::cpu_s).sum::<f64>();
    let c0 = total_cpu(&nodes);
    let settle1 = settle_all(&nodes, Duration::ZERO, Duration::from_secs(60));
    let settle1_cpu = total_cpu(&nodes) - c0;
    let disk_live: Vec<u64> = dirs.iter().map(|d| dir_size(d)).collect();
    let rss_after_push: Vec<u64> = nodes.iter().map(|n| proc_status_kb(&n.pid, "VmRSS").unwrap_or(0)).collect();
    let ex1 = Expect::of(&ds);
    let (verify1, v_ok) = verify_cluster(&nodes, ex1, "after the max-load push");
    ok &= v_ok;

    // Half load: the open loop, on fresh data that continues every stream's timestamps.
    let requests = ((max_rate / 2.0 * a.paced_secs as f64) / a.batch as f64).round().max(1.0) as usize;
    let paced_lines = requests * a.batch;
    let interval = Duration::from_secs_f64(a.paced_secs as f64 / requests as f64);
    let offered = paced_lines as f64 / a.paced_secs as f64;
    let paced_conns = (a.concurrency * 3).max(4 * NODES);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let start2 = ds.last_ts + 1;
    let ds2 = generate(a, &streams, paced_lines, start2, (now - start2).max(paced_lines as i64), a.seed ^ 0x5eed)?;
    eprintln!(
        "bench: half load: {requests} pushes of {} lines, one every {} ({}/s offered, 50% of {}/s) for {} s over {paced_conns} connections…",
        a.batch,
        ms(interval),
        si(offered),
        si(max_rate),
        a.paced_secs
    );
    let terms2 = term_sum(&nodes);
    let pr = paced_phase(&nodes, &ds2, interval, paced_conns)?;
    let terms3 = term_sum(&nodes);
    let paced_secs = pr.elapsed.as_secs_f64();
    eprintln!(
        "bench: paced push acknowledged {} lines in {paced_secs:.2}s ({}/s), p50 {}, p99 {}, max {} from the due time, {} failures",
        pr.acked_lines,
        si(pr.acked_lines as f64 / paced_secs),
        ms(pr.p50),
        ms(pr.p99),
        ms(pr.max),
        pr.failures
    );
    if pr.failures > 0 || pr.acked_lines != paced_lines as u64 {
        eprintln!("bench: FAILED PUSHES: {} of {} paced requests were not answered 204", pr.failures, pr.requests);
        ok = false;
    }
    check_alive(&mut nodes, "the paced push")?;
    settle_all(&nodes, Duration::ZERO, Duration::from_secs(60));
    let ex2 = ex1.and(Expect::of(&ds2));
    let (verify2, v_ok) = verify_cluster(&nodes, ex2, "after the paced push");
    ok &= v_ok;

    // Idle.
    eprintln!("bench: idle: settling, then measuring {} s…", a.idle_secs);
    let idle_settle = settle_all(&nodes, Duration::from_secs(5), Duration::from_secs(120));
    let terms4 = term_sum(&nodes);
    let c0: Vec<f64> = nodes.iter().map(Server::cpu_s).collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(a.idle_secs));
    let idle_wall = t.elapsed().as_secs_f64();
    let idle_cpu: Vec<f64> = nodes.iter().zip(&c0).map(|(n, c)| n.cpu_s() - c).collect();
    let terms5 = term_sum(&nodes);
    let idle_pct = idle_cpu.iter().sum::<f64>() / idle_wall * 100.0;
    eprintln!(
        "bench: idle: {idle_pct:.1}% of one core ({})",
        per_node(&idle_cpu, |c| format!("{:.1}%", c / idle_wall * 100.0))
    );
    check_alive(&mut nodes, "the idle phase")?;
    let peak_rss: Vec<u64> = nodes.iter().map(|n| proc_status_kb(&n.pid, "VmHWM").unwrap_or(0)).collect();

    // Stop, highest id first (as a StatefulSet scales down).
    let mut shutdown = vec![String::new(); NODES];
    for i in (0..NODES).rev() {
        match nodes[i].terminate(Duration::from_secs(120)) {
            Ok((status, took)) => {
                if !status.success() {
                    eprintln!(
                        "bench: node {i} exited with {status} after SIGTERM; log {}:\n{}",
                        logs[i].display(),
                        nodes[i].log_tail(40)
                    );
                    ok = false;
                }
                shutdown[i] = format!("{status} in {:.2} s", took.as_secs_f64());
            }
            Err(e) => {
                eprintln!("bench: node {i}: {e:#}");
                ok = false;
                shutdown[i] = "no exit within 120 s of SIGTERM (killed)".into();
            }
        }
    }
    let disk: Vec<u64> = dirs.iter().map(|d| dir_size(d)).collect();

    // Figures.
    let raw1 = ds.raw_bytes as f64;
    let raw_all = (ds.raw_bytes + ds2.raw_bytes) as f64;
    let paced_cpu: f64 = pr.node_cpu_s.iter().sum();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    row("command", command_line);
    row("balsa (node 0)", format!("{} {}", a.balsa.display(), flags0.join(" ")));
    row("nodes 1 and 2", "the same with -cluster.node_id=1 / 2, their own ports and data directories".into());
    row("machine", format!("{cores} cores ({}), shared by the {NODES} balsa nodes and the bench client", cpu_model()));
    row(
        "data",
        format!(
            "{} lines, {} streams, {} B/line avg, {} raw, {} needles, {} pushes of {} lines over {} connections \
             (connection i to node i % {NODES})",
            a.lines,
            a.streams,
            ds.raw_bytes / a.lines as u64,
            human_bytes(raw1),
            ds.needles,
            ds.bodies.len(),
            a.batch,
            a.concurrency
        ),
    );
    row("wire", wire_summary(&ds));
    row("ready", format!("{:.2} s (all {NODES} nodes /ready)", ready_in.as_secs_f64()));
    row("max: acknowledged", format!("{} lines ({} failed pushes)", p.acked_lines, p.failures));
    row("max: elapsed", format!("{secs:.2} s"));
    row("max: lines/s", si(max_rate));
    row("max: MB/s (raw lines)", format!("{:.1}", p.acked_raw as f64 / 1e6 / secs));
    row("max: latency per request", format!("p50 {}, p99 {}, max {}", ms(p.p50), ms(p.p99), ms(p.max)));
    row("max: server CPU", format!("{:.2} s ({:.2} cores busy on average)", p.server_cpu_s, p.server_cpu_s / secs));
    row("max: server CPU per node", per_node(&p.node_cpu_s, |c| format!("{c:.2} s")));
    row(
        "max: lines per server CPU-s",
        format!(
            "{} (incl. {:.2} s of background work after the push: {})",
            si(p.acked_lines as f64 / p.server_cpu_s.max(1e-9)),
            settle1_cpu,
            si(p.acked_lines as f64 / (p.server_cpu_s + settle1_cpu).max(1e-9))
        ),
    );
    row("max: client CPU", format!("{:.2} s (the bench itself)", p.client_cpu_s));
    row("max: Raft term increments", term_delta(terms0, terms1));
    row("settle after max push", format!("{:.1} s", settle1.as_secs_f64()));
    for (i, v) in verify1.into_iter().enumerate() {
        row(&format!("read back after max: node {i}"), v);
    }
    row(
        "half: schedule",
        format!(
            "{requests} pushes of {} lines, one due every {} for {} s: {}/s offered (50% of {}/s), {paced_conns} connections",
            a.batch,
            ms(interval),
            a.paced_secs,
            si(offered),
            si(max_rate)
        ),
    );
    row("half: acknowledged", format!("{} lines ({} failed pushes)", pr.acked_lines, pr.failures));
    row(
        "half: lines/s",
        format!("{} (first due time to last answer: {paced_secs:.2} s)", si(pr.acked_lines as f64 / paced_secs)),
    );
    row("half: MB/s (raw lines)", format!("{:.1}", pr.acked_raw as f64 / 1e6 / paced_secs));
    row(
        "half: latency from due time",
        format!(
            "p50 {}, p99 {}, max {} (longest send delay {})",
            ms(pr.p50),
            ms(pr.p99),
            ms(pr.max),
            ms(pr.max_send_lag)
        ),
    );
    let w = Duration::from_secs(if a.paced_secs >= 10 { 5 } else { 1 });
    row("half: by time (acked lines/s; latency of pushes due)", pr.windows(w));
    row("half: server CPU", format!("{:.2} s ({:.2} cores busy on average)", paced_cpu, paced_cpu / paced_secs));
    row("half: server CPU per node", per_node(&pr.node_cpu_s, |c| format!("{c:.2} s")));
    row("half: client CPU", format!("{:.2} s (the bench itself)", pr.client_cpu_s));
    row("half: Raft term increments", term_delta(terms2, terms3));
    for (i, v) in verify2.into_iter().enumerate() {
        row(&format!("read back after half: node {i}"), v);
    }
    row("idle: settle", format!("{:.1} s", idle_settle.as_secs_f64()));
    row("idle: CPU, all nodes", format!("{idle_pct:.1}% of one core over {idle_wall:.1} s"));
    row("idle: CPU per node", per_node(&idle_cpu, |c| format!("{:.1}%", c / idle_wall * 100.0)));
    row("idle: Raft term increments", term_delta(terms4, terms5));
    row(
        "disk after max push (live)",
        format!(
            "{} ({:.3} B per raw B, each node holds every line)",
            per_node(&disk_live, |d| human_bytes(*d as f64)),
            disk_live.iter().sum::<u64>() as f64 / NODES as f64 / raw1
        ),
    );
    row(
        "disk after SIGTERM",
        format!(
            "{} ({:.3} B per raw B of both pushes)",
            per_node(&disk, |d| human_bytes(*d as f64)),
            disk.iter().sum::<u64>() as f64 / NODES as f64 / raw_all
        ),
    );
    row("memory: RSS after max push", per_node(&rss_after_push, |k| human_bytes(*k as f64 * 1024.0)));
    row("memory: peak RSS", per_node(&peak_rss, |k| human_bytes(*k as f64 * 1024.0)));
    row("shutdown (2, 1, 0 in turn)", per_node(&shutdown, |s| s.clone()));
    row("result", if ok { "OK".into() } else { "FAILED (see above)".into() });
    print_rows(&rows);

    if a.keep || !ok {
        eprintln!("bench: kept data and logs in {}", root.display());
    } else if created {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        for l in &logs {
            let _ = std::fs::remove_file(l);
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn snappy_decodes_with_snap_and_compresses_like_it() {
        let mut r = Rng::new(7);
        for n in [0usize, 1, 5, 16, 17, 18, 100, 1000, 65_535, 65_536, 65_537, 200_000] {
            for kind in 0..4 {
                let data: Vec<u8> = (0..n)
                    .map(|i| match kind {
                        0 => r.next() as u8,
                        1 => b"abcdefgh"[i % 8],
                        2 => {
                            if r.below(10) < 8 {
                                b'a'
                            } else {
                                r.next() as u8
                            }
                        }
                        _ => b"level=info caller=x.go:12 msg=\"hello\" "[(i * 7 + r.below(3) as usize) % 37],
                    })
                    .collect();
                let ours = snappy_compress(&data);
                let back = snap::raw::Decoder::new()
                    .decompress_vec(&ours)
                    .unwrap_or_else(|e| panic!("n={n} kind={kind}: {e}"));
                assert_eq!(back, data, "n={n} kind={kind}");
                let theirs = snap::raw::Encoder::new().compress_vec(&data).unwrap();
                assert!(
                    ours.len() <= theirs.len() + theirs.len() / 50 + 8,
                    "n={n} kind={kind}: {} vs {}",
                    ours.len(),
                    theirs.len()
                );
            }
        }
    }

    #[test]
    fn protobuf_is_what_prost_writes() {
        let streams = stream_defs(7);
        let mut r = Rng::new(3);
        let mut per: Vec<Vec<(i64, String)>> = (0..7).map(|_| vec![]).collect();
        for i in 0..500i64 {
            let s = r.below(7) as usize;
            let ts = match i {
                0 => 0,
                1 => 5,
                2 => 1_000_000_000,
                3 => -1,
                _ => 1_700_000_000_000_000_000 + i * 1_234_567,
            };
            let mut line = String::new();
            if i % 50 != 4 {
                let format = if i % 2 == 0 { Format::Json } else { Format::Logfmt };
                gen_line(&mut r, format, "info", ts, i == 9, i % 3 == 0, &mut line);
            }
            per[s].push((ts, line));
        }
        per[3].clear();
        let mut ours = Vec::new();
        encode_push(&streams, &per, &mut ours);
        use balsa_push::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
        let req = PushRequest {
            streams: per
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(i, v)| StreamAdapter {
                    labels: streams[i].labels.clone(),
                    hash: 0,
                    entries: v
                        .iter()
                        .map(|(ts, l)| EntryAdapter {
                            timestamp: Some(Timestamp::from_nanos(*ts)),
                            line: l.clone(),
                            structured_metadata: vec![],
                            parsed: vec![],
                        })
                        .collect(),
                })
                .collect(),
        };
        assert_eq!(ours, req.encode_to_vec());
    }

    #[test]
    fn second_dataset_continues_every_stream_in_order() {
        let a = Args {
            balsa: PathBuf::from("balsa"),
            lines: 2500,
            streams: 7,
            batch: 100,
            streams_per_batch: 3,
            concurrency: 1,
            format: Format::Logfmt,
            queries: 1,
            data: None,
            keep: false,
            extra: Vec::new(),
            seed: 1,
            cluster: true,
            paced_secs: 1,
            idle_secs: 1,
            logql: false,
            logql_gb: 1.0,
            s3: false,
        };
        let streams = stream_defs(a.streams);
        let start = 1_700_000_000_000_000_000;
        let first = generate(&a, &streams, 2500, start, SPAN_NS, 1).unwrap();
        let second = generate(&a, &streams, 1050, first.last_ts + 1, 5_000_000_000, 2).unwrap();
        assert_eq!((first.bodies.len(), second.bodies.len()), (25, 11));
        assert_eq!(second.bodies.last().unwrap().lines, 50);
        assert_eq!((first.needles, second.needles), (1, 1));
        assert!(first.first_ts >= start && first.last_ts < start + SPAN_NS);
        assert!(second.first_ts > first.last_ts && second.last_ts <= first.last_ts + 5_000_000_000);
        // What balsa decodes: every stream's timestamps strictly increase across both datasets.
        let mut last: std::collections::HashMap<String, i64> = Default::default();
        let (mut lines, mut needles) = (0, 0);
        for b in first.bodies.iter().chain(&second.bodies) {
            let req = balsa_push::decode(Some("application/x-protobuf"), None, &b.bytes, usize::MAX).unwrap();
            for s in &req.streams {
                let prev = last.entry(s.labels.canonical()).or_insert(i64::MIN);
                for e in &s.entries {
                    assert!(e.ts_ns > *prev, "{}: {} after {}", s.labels.canonical(), e.ts_ns, prev);
                    *prev = e.ts_ns;
                    lines += 1;
                    needles += e.line.contains(NEEDLE) as usize;
                }
            }
        }
        assert_eq!((lines, needles, last.len()), (3550, 2, 7));
        let e1 = Expect::of(&first).and(Expect::of(&second));
        assert_eq!((e1.first_ts, e1.last_ts, e1.needles, e1.lines), (first.first_ts, second.last_ts, 2, 3550));
    }

    /// Loki's logfmt grammar, strictly: `key=value` pairs separated by
    /// spaces; a value is quoted or has no `=` and no `"`.
    fn strict_logfmt(line: &str) -> bool {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b' ' {
                i += 1;
                continue;
            }
            let key = i;
            while i < b.len() && b[i] != b'=' {
                if b[i] == b' ' || b[i] == b'"' {
                    return false;
                }
                i += 1;
            }
            if i == key || i == b.len() {
                return false;
            }
            i += 1;
            if b.get(i) == Some(&b'"') {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if i >= b.len() {
                    return false;
                }
                i += 1;
            } else {
                while i < b.len() && b[i] != b' ' {
                    if b[i] == b'=' || b[i] == b'"' {
                        return false;
                    }
                    i += 1;
                }
            }
        }
        true
    }

    #[test]
    fn logql_data_is_valid_and_counted() {
        let a = Args {
            balsa: PathBuf::from("balsa"),
            lines: 0,
            streams: 6,
            batch: 100,
            streams_per_batch: 6,
            concurrency: 1,
            format: Format::Logfmt,
            queries: 1,
            data: None,
            keep: false,
            extra: Vec::new(),
            seed: 1,
            cluster: false,
            paced_secs: 1,
            idle_secs: 1,
            logql: true,
            logql_gb: 0.001,
            s3: false,
        };
        let streams = logql_stream_defs(a.streams);
        let lines = logql_lines(a.logql_gb);
        let ds = generate(&a, &streams, lines, 1_700_000_000_000_000_000, LOGQL_SPAN_NS, 1).unwrap();
        // At least the asked-for bytes of each format, and not much more.
        for fc in ds.formats {
            assert!(fc.raw >= 1_000_000 && fc.raw < 1_300_000, "{fc:?}");
        }
        // Recount what balsa decodes.
        let mut got = [FormatCounts::default(); 2];
        let mut search_paths = 0;
        for b in &ds.bodies {
            let req = balsa_push::decode(Some("application/x-protobuf"), None, &b.bytes, usize::MAX).unwrap();
            for s in &req.streams {
                assert_eq!(s.labels.get("app"), Some("x"));
                assert_eq!(s.labels.get("level"), None, "level must come from the line");
                let format = match s.labels.get("format") {
                    Some("logfmt") => Format::Logfmt,
                    Some("json") => Format::Json,
                    other => panic!("format label {other:?}"),
                };
                for e in &s.entries {
                    let (level, status, method) = match format {
                        Format::Logfmt => {
                            assert!(strict_logfmt(&e.line), "not strict logfmt: {}", e.line);
                            search_paths += e.line.contains("path=\"/api/v1/search?q=") as usize;
                            let field = |k: &str| {
                                e.line
                                    .split(' ')
                                    .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                                    .unwrap()
                                    .to_string()
                            };
                            (field("level"), field("status").parse::<u16>().unwrap(), field("method"))
                        }
                        Format::Json => {
                            let v: serde_json::Value = serde_json::from_str(&e.line).unwrap();
                            let text = |k: &str| v[k].as_str().unwrap().to_string();
                            (text("level"), v["status"].as_u64().unwrap() as u16, text("method"))
                        }
                    };
                    let fc = &mut got[format as usize];
                    fc.lines += 1;
                    fc.raw += e.line.len() as u64;
                    fc.by_level[LEVELS.iter().position(|l| *l == level).unwrap()] += 1;
                    fc.status_5xx += (status >= 500) as u64;
                    // The dense filter's text is the method, and only there.
                    fc.dense += (method == DENSE) as u64;
                    assert_eq!(status >= 500, level == "error", "{}", e.line);
                }
            }
        }
        assert_eq!(got, ds.formats);
        assert!(search_paths > 0, "the quoted search path is exercised");
        assert_eq!(got[0].lines + got[1].lines, lines as u64);
        for fc in got {
            // Every level occurs; errors are about 1%.
            assert!(fc.by_level.iter().all(|n| *n > 0), "{fc:?}");
            assert!(fc.status_5xx * 200 > fc.lines && fc.status_5xx * 50 < fc.lines, "{fc:?}");
        }
        // The default modes' lines keep their unquoted search path.
        let mut r = Rng::new(5);
        let mut found = false;
        for i in 0..200 {
            let mut line = String::new();
            gen_line(&mut r, Format::Logfmt, "info", i, false, false, &mut line);
            found |= line.contains(" path=/api/v1/search?q=");
        }
        assert!(found);
    }

    #[test]
    fn logql_answers_are_checked() {
        let matrix = |info: &str| {
            JsonParser::parse(
                format!(
                    r#"{{"status":"success","data":{{"resultType":"matrix","result":[
                    {{"metric":{{"level":"error"}},"values":[[1,"1"]]}},
                    {{"metric":{{"level":"info"}},"values":[[1,"2"],[61,"{info}"]]}}]}}}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let want = Check::LevelCounts { want: [0, 1, 5, 0], steps: 2 };
        assert!(check_logql(&matrix("3"), want).is_ok());
        assert!(check_logql(&matrix("4"), want).unwrap_err().contains("info: 6 counted, 5 generated"));
        assert!(check_logql(&matrix("3"), Check::LevelCounts { want: [0, 1, 5, 0], steps: 1 }).is_err());
        assert!(check_logql(&matrix("2.5"), want).is_err());
        assert!(check_logql(&matrix("3"), Check::Total(6)).is_err(), "two labelled series are not one total");
        let total = |points: &str| {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{points}]}}]}}}}"#
            );
            JsonParser::parse(body.as_bytes()).unwrap()
        };
        assert!(check_logql(&total(r#"[1,"2"],[61,"4"]"#), Check::Total(6)).is_ok());
        assert!(check_logql(&total(r#"[1,"2"],[61,"5"]"#), Check::Total(6)).unwrap_err().contains("7 lines counted"));
        assert!(check_logql(&total(r#"[1,"2"],[61,"x"]"#), Check::Total(2)).is_err());
        let streams = |lines: &[&str]| {
            let values: Vec<String> = lines.iter().map(|l| format!(r#"["1",{l:?}]"#)).collect();
            JsonParser::parse(
                format!(
                    r#"{{"status":"success","data":{{"resultType":"streams","result":[{{"stream":{{}},"values":[{}]}}]}}}}"#,
                    values.join(",")
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let ok5 = r#"{"status":503}"#;
        assert!(check_logql(&streams(&[ok5, ok5]), Check::Status5xx(2)).is_ok());
        assert!(check_logql(&streams(&[ok5]), Check::Status5xx(2)).is_err());
        assert!(check_logql(&streams(&[ok5, r#"{"status":404}"#]), Check::Status5xx(2)).is_err());
        assert!(check_logql(&streams(&["a needle"]), Check::Needles(1)).is_ok());
        assert!(check_logql(&streams(&["a haystack"]), Check::Needles(1)).is_err());
        assert!(check_logql(&matrix("3"), Check::Needles(1)).is_err());
    }

    #[test]
    fn rfc3339_and_json() {
        let fmt = |ns| {
            let mut s = String::new();
            rfc3339(ns, &mut s);
            s
        };
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(fmt(1_709_251_199_123_456_789), "2024-02-29T23:59:59.123456Z");
        assert_eq!(fmt(951_782_400_000_000_000), "2000-02-29T00:00:00.000000Z");
        let j = JsonParser::parse(br#"{"a":[1,-2.5e3,"x\"y\u00e9\ud83d\ude00",true,null,{}],"b":{}}"#).unwrap();
        assert_eq!(j.get("a").unwrap().arr()[2].str().unwrap(), "x\"y\u{e9}\u{1F600}");
        assert_eq!(j.get("a").unwrap().arr()[1].num().unwrap(), -2500.0);
    }
}
