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
";

const NEEDLE: &str = "needle";
const NEEDLE_EVERY: usize = 100_000;
const SPAN_NS: i64 = 3600 * 1_000_000_000;

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Logfmt,
    Json,
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
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
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
    level: &'static str,
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

fn gen_line(r: &mut Rng, format: Format, level: &str, ts_ns: i64, needle: bool, out: &mut String) {
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
    let status = match level {
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
}

/// One push request, ready to send.
struct Body {
    bytes: Vec<u8>,
    lines: usize,
    /// Raw line bytes in this request.
    raw: u64,
}

struct Dataset {
    bodies: Vec<Body>,
    raw_bytes: u64,
    proto_bytes: u64,
    wire_bytes: u64,
    needles: usize,
    first_ts: i64,
    last_ts: i64,
}

/// Generates every push body up front, so the push phase only sends bytes.
fn generate(a: &Args, streams: &[StreamDef]) -> Result<Dataset> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i64;
    let start = now - SPAN_NS;
    let step = (SPAN_NS / a.lines as i64).max(1);
    let mut r = Rng::new(a.seed);
    // One needle at a random position in every block of NEEDLE_EVERY lines.
    let mut needle_at: Vec<usize> = Vec::new();
    for block in (0..a.lines).step_by(NEEDLE_EVERY) {
        let len = (a.lines - block).min(NEEDLE_EVERY);
        needle_at.push(block + r.below(len as u64) as usize);
    }
    let mut next_needle = 0;
    let batches = a.lines.div_ceil(a.batch);
    let windows = a.streams.div_ceil(a.streams_per_batch).max(1);
    let mut ds = Dataset {
        bodies: Vec::with_capacity(batches),
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
        let n = (a.lines - line_idx).min(a.batch);
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
            gen_line(&mut r, a.format, streams[s].level, ts, needle, &mut line);
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
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some((BufReader::with_capacity(64 * 1024, s.try_clone()?), s));
        }
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

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
        let http_port = free_port()?;
        let mut grpc_port = free_port()?;
        while grpc_port == http_port {
            grpc_port = free_port()?;
        }
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
    server_cpu_s: f64,
    client_cpu_s: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn push_phase(a: &Args, server: &Server, ds: &Dataset) -> PushResult {
    let next = AtomicUsize::new(0);
    let acked_lines = AtomicU64::new(0);
    let acked_raw = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let shown = AtomicU64::new(0);
    let latencies = Mutex::new(Vec::with_capacity(ds.bodies.len()));
    let tck = server.tck;
    let self_pid = std::process::id().to_string();
    let (cpu0, me0) = (server.cpu_s(), cpu_ticks(&self_pid).unwrap_or(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.concurrency {
            s.spawn(|| {
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
    let server_cpu_s = server.cpu_s() - cpu0;
    let client_cpu_s = (cpu_ticks(&self_pid).unwrap_or(0).saturating_sub(me0)) as f64 / tck;
    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    PushResult {
        acked_lines: acked_lines.into_inner(),
        acked_raw: acked_raw.into_inner(),
        failures: failures.into_inner(),
        elapsed,
        server_cpu_s,
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

fn scan_once(server: &Server, query: &str, ds: &Dataset) -> Result<QueryRun> {
    let target = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit={}&direction=forward",
        url_encode(query),
        ds.first_ts,
        ds.last_ts + 1_000_000_000,
        ds.needles.max(ds.bodies.iter().map(|b| b.lines).sum::<usize>()).clamp(5000, 100_000_000)
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
fn run() -> Result<bool> {
    let a = parse_args()?;
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut ok = true;
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));

    // Data directory and log.
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
    let ds = generate(&a, &streams)?;
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
    let p = push_phase(&a, &server, &ds);
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
        match scan_once(&server, &query, &ds) {
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
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    row("machine", format!("{cores} cores ({cpu_model}), shared by balsa and the bench client"));
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
    row(
        "wire",
        format!(
            "{} protobuf → {} snappy ({:.2}x)",
            human_bytes(ds.proto_bytes as f64),
            human_bytes(ds.wire_bytes as f64),
            ds.proto_bytes as f64 / ds.wire_bytes as f64
        ),
    );
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

    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    println!();
    for (k, v) in &rows {
        println!("{k:<width$}  {v}");
    }

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
                gen_line(&mut r, format, "info", ts, i == 9, &mut line);
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
