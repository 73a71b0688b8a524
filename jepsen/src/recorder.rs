//! The Alertmanager stand-in of the ruler workload: a tiny HTTP/1.1 server
//! on the harness's bridge address that answers every
//! `POST /api/v2/alerts` with 200 and records it: when it arrived, from
//! which node (told by the source address), and each alert's labels,
//! `startsAt` and `endsAt`. Plain threads and `std::net`: it must keep
//! answering while the async runtime is busy with the workload.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::history::{History, NotifiedAlert, Op};
use crate::workload::wall_ns;

/// A request body larger than this is refused (413): the workload's alerts
/// fit in a few kilobytes.
const MAX_BODY: usize = 4 << 20;

/// One POST as received, before it is placed on the history's clock.
struct Received {
    at: Instant,
    wall_ms: i64,
    node: Option<usize>,
    alerts: Vec<NotifiedAlert>,
    error: String,
}

struct Shared {
    nodes: Vec<Ipv4Addr>,
    stop: AtomicBool,
    received: Mutex<Vec<Received>>,
}

pub struct Recorder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Listens on `ip` (an ephemeral port); `nodes[i]` is node i's address.
    pub fn start(ip: Ipv4Addr, nodes: Vec<Ipv4Addr>) -> Result<Recorder> {
        let listener = TcpListener::bind((ip, 0)).with_context(|| format!("binding the alert recorder on {ip}"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { nodes, stop: AtomicBool::new(false), received: Mutex::new(Vec::new()) });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new().name("alert-recorder".into()).spawn(move || {
            for conn in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = Arc::clone(&accept_shared);
                let _ = std::thread::Builder::new().name("alert-conn".into()).spawn(move || serve(conn, &shared));
            }
        })?;
        tracing::info!(%addr, "alert recorder listening");
        Ok(Recorder { addr, shared, accept: Some(accept) })
    }

    /// The URL the nodes get as `-ruler.alertmanager_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far, as history operations (receive times on
    /// the history's clock; a POST from before the history began is at 0).
    pub fn drain(&self, history: &History) -> Vec<Op> {
        let received = std::mem::take(&mut *self.shared.received.lock().unwrap_or_else(|e| e.into_inner()));
        received
            .into_iter()
            .map(|r| Op::Notify {
                node: r.node,
                at: history.at(r.at),
                wall_ms: r.wall_ms,
                alerts: r.alerts,
                error: r.error,
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// One connection: requests until it closes, idles out or the recorder stops.
fn serve(conn: TcpStream, shared: &Shared) {
    let node = match conn.peer_addr() {
        Ok(SocketAddr::V4(a)) => shared.nodes.iter().position(|ip| ip == a.ip()),
        _ => None,
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    let Ok(write) = conn.try_clone() else { return };
    let mut write = write;
    let mut reader = BufReader::new(conn);
    let mut idle = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        match read_request(&mut reader) {
            Ok(Some(req)) => {
                idle = Instant::now();
                let (status, close) = handle(&req, node, shared);
                let reason = match status {
                    200 => "OK",
                    404 => "Not Found",
                    _ => "Bad Request",
                };
                let resp = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n");
                if write.write_all(resp.as_bytes()).is_err() || close || req.close {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                // Idle keep-alive connections are closed after a minute.
                if idle.elapsed() > Duration::from_secs(60) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

/// Reads one HTTP/1.1 request (`Content-Length` or chunked body); `None` at
/// a clean end of the connection. A read timeout before the first byte is
/// returned as an error the caller retries; within a request, reads wait up
/// to 10 s.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    // Wait for the first byte without consuming anything, so a timeout
    // here loses nothing.
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut line = String::new();
    read_line_patiently(r, &mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut length = 0usize;
    let mut chunked = false;
    let mut close = false;
    loop {
        let mut header = String::new();
        read_line_patiently(r, &mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            read_line_patiently(r, &mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = String::new();
                    read_line_patiently(r, &mut t)?;
                    if t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(std::io::Error::other("body too large"));
            }
            read_exact_patiently(r, &mut body, size)?;
            let mut crlf = String::new();
            read_line_patiently(r, &mut crlf)?;
        }
    } else {
        if length > MAX_BODY {
            return Err(std::io::Error::other("body too large"));
        }
        read_exact_patiently(r, &mut body, length)?;
    }
    Ok(Some(Request { method, path, body, close }))
}

fn patient<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
                    && Instant::now() < deadline => {}
            other => return other,
        }
    }
}

fn read_line_patiently(r: &mut BufReader<TcpStream>, out: &mut String) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    patient(|| r.read_until(b'\n', &mut bytes))?;
    out.push_str(&String::from_utf8_lossy(&bytes));
    Ok(())
}

fn read_exact_patiently(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>, n: usize) -> std::io::Result<()> {
    let start = out.len();
    out.resize(start + n, 0);
    let mut filled = start;
    while filled < out.len() {
        let got = patient(|| r.read(&mut out[filled..]))?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += got;
    }
    Ok(())
}

/// Records an alerts POST; the status to answer and whether to close.
fn handle(req: &Request, node: Option<usize>, shared: &Shared) -> (u16, bool) {
    if req.method != "POST" || !req.path.ends_with("/api/v2/alerts") {
        return (404, false);
    }
    let at = Instant::now();
    let wall_ms = wall_ns() / 1_000_000;
    let (alerts, error) = match parse_alerts(&req.body) {
        Ok(alerts) => (alerts, String::new()),
        Err(e) => (Vec::new(), format!("{e}: {}", String::from_utf8_lossy(&req.body[..req.body.len().min(200)]))),
    };
    let status = if error.is_empty() { 200 } else { 400 };
    shared.received.lock().unwrap_or_else(|e| e.into_inner()).push(Received { at, wall_ms, node, alerts, error });
    (status, false)
}

/// The alerts of an Alertmanager API v2 body.
pub fn parse_alerts(body: &[u8]) -> Result<Vec<NotifiedAlert>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = v.as_array().ok_or("not a JSON array")?;
    let mut out = Vec::new();
    for a in list {
        let labels: BTreeMap<String, String> = a["labels"]
            .as_object()
            .ok_or("an alert without labels")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let time = |key: &str| a[key].as_str().and_then(parse_rfc3339_ms);
        out.push(NotifiedAlert { labels, starts_at_ms: time("startsAt"), ends_at_ms: time("endsAt") });
    }
    Ok(out)
}

/// `2024-01-02T03:04:05.678Z` or with an offset (`+01:00`), as Unix ms.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(19) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !matches!(s.as_bytes()[10], b'T' | b't' | b' ') || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let ms: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second - offset_s) * 1000) + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2024-03-01T12:34:56.789123456Z"), Some(1_709_296_496_789));
        assert_eq!(parse_rfc3339_ms("2024-03-01T13:34:56.7+01:00"), Some(1_709_296_496_700));
        assert_eq!(parse_rfc3339_ms("0001-01-01T00:00:00Z"), Some(-62_135_596_800_000));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn records_a_post_with_its_alerts_and_sender() {
        let rec = Recorder::start(Ipv4Addr::LOCALHOST, vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::LOCALHOST]).unwrap();
        let body = br#"[{"labels":{"alertname":"A","group":"g0"},"annotations":{},"startsAt":"2024-03-01T12:34:56.789Z","endsAt":"2024-03-01T12:35:08.789Z","generatorURL":"x"}]"#;
        let mut conn = TcpStream::connect(rec.addr).unwrap();
        for _ in 0..2 {
            let head = format!(
                "POST /api/v2/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(body).unwrap();
            let mut resp = [0u8; 64];
            let n = conn.read(&mut resp).unwrap();
            assert!(String::from_utf8_lossy(&resp[..n]).starts_with("HTTP/1.1 200"));
        }
        let history = History::new();
        let ops = rec.drain(&history);
        assert_eq!(ops.len(), 2);
        let Op::Notify { node, alerts, error, .. } = &ops[0] else { panic!("{ops:?}") };
        assert_eq!((*node, error.as_str()), (Some(1), ""));
        assert_eq!(alerts[0].labels["group"], "g0");
        assert_eq!(alerts[0].starts_at_ms, Some(1_709_296_496_789));
        assert_eq!(alerts[0].ends_at_ms, Some(1_709_296_508_789));
    }
}
