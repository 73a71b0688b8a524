//! The clients: writers push unique lines `w{proc}-{seq}` into a set of
//! streams through random nodes (protobuf and JSON), readers query random
//! nodes for time ranges, and after healing every node is read to the end.
//!
//! Timestamps are unique across writers (microseconds since the epoch, times
//! 1000, plus the writer's number) and increase per writer. Query bounds end
//! in 500 ns, so no line sits on a range's edge and the checker does not
//! depend on whether an end is inclusive.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::{Direction, History, Line, Op, Outcome};

/// The most lines one query asks for (Loki's default `max_entries_limit_per_query`).
pub const READ_LIMIT: usize = 5000;
const JOB: &str = "jepsen";

pub struct Workload {
    pub nodes: Vec<String>,
    pub streams: usize,
    pub writers: usize,
    pub readers: usize,
    /// Pushes per second over all writers.
    pub rate: f64,
    pub seed: u64,
    pub push_timeout: Duration,
    pub read_timeout: Duration,
}

pub fn wall_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn stream_name(i: usize) -> String {
    format!("s{i}")
}

fn selector(stream: &str) -> String {
    format!("{{job=\"{JOB}\", stream=\"{stream}\"}}")
}

impl Workload {
    /// Runs the writers and readers until `until` (µs on the history clock).
    pub async fn run(self: Arc<Self>, history: Arc<History>, until: u64, first_ts: i64) {
        let mut tasks = Vec::new();
        for w in 0..self.writers {
            tasks.push(tokio::spawn(Arc::clone(&self).writer(w, Arc::clone(&history), until)));
        }
        for r in 0..self.readers {
            tasks.push(tokio::spawn(Arc::clone(&self).reader(r, Arc::clone(&history), until, first_ts)));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    fn client(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(1))
            .pool_max_idle_per_host(2)
            .build()
            .expect("http client")
    }

    /// One writer: a push every `writers / rate` seconds, each in its own
    /// task (at most `IN_FLIGHT` at once: more than a node hung for the 5 s
    /// client timeout holds at the default rate), so a hung node does not
    /// stall the writer, and the history shows what the healthy nodes served
    /// during a fault.
    async fn writer(self: Arc<Self>, w: usize, history: Arc<History>, until: u64) {
        const IN_FLIGHT: usize = 64;
        let client = Self::client(self.push_timeout);
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(1000).wrapping_add(w as u64));
        let process = format!("w{w}");
        let interval = Duration::from_secs_f64(self.writers as f64 / self.rate.max(0.1));
        let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut pushes = tokio::task::JoinSet::new();
        let mut seq = 0u64;
        let mut last_us = 0i64;
        let mut next = tokio::time::Instant::now();
        while history.now() < until {
            next += interval;
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
            let stream = stream_name(rng.random_range(0..self.streams));
            let count = rng.random_range(1..=3);
            let lines: Vec<Line> = (0..count)
                .map(|_| {
                    seq += 1;
                    last_us = (wall_ns() / 1000).max(last_us + 1);
                    Line { ts: last_us * 1000 + w as i64, text: format!("{process}-{seq}") }
                })
                .collect();
            // An unknown outcome is retried, as Promtail does, with the same
            // lines and timestamps, on another random node.
            let attempts: Vec<(usize, bool)> =
                (0..3).map(|_| (rng.random_range(0..self.nodes.len()), rng.random_bool(0.5))).collect();
            let (this, client, history, process) =
                (Arc::clone(&self), client.clone(), Arc::clone(&history), process.clone());
            pushes.spawn(async move {
                let _permit = permit;
                for (node, protobuf) in attempts {
                    let start = history.now();
                    let (outcome, error) = match this.push(&client, node, &stream, &lines, protobuf).await {
                        Ok((status, body)) => (Outcome::of_status(status), body),
                        Err(e) => (Outcome::Info, e.to_string()),
                    };
                    history.record(Op::Push {
                        process: process.clone(),
                        node,
                        stream: stream.clone(),
                        lines: lines.clone(),
                        encoding: if protobuf { "protobuf" } else { "json" }.into(),
                        start,
                        end: history.now(),
                        outcome,
                        error,
                    });
                    if outcome != Outcome::Info || history.now() >= until {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            while pushes.try_join_next().is_some() {}
            // Keep the rate, without catching up after a slow spell.
            next = next.max(tokio::time::Instant::now());
            tokio::time::sleep_until(next).await;
        }
        while pushes.join_next().await.is_some() {}
    }

    /// Sends one push; the status and, when not 2xx, the body.
    async fn push(
        &self,
        client: &reqwest::Client,
        node: usize,
        stream: &str,
        lines: &[Line],
        protobuf: bool,
    ) -> Result<(u16, String)> {
        let url = format!("{}/loki/api/v1/push", self.nodes[node]);
        let req = if protobuf {
            let body = balsa_push::logproto::PushRequest {
                streams: vec![balsa_push::logproto::StreamAdapter {
                    labels: selector(stream),
                    entries: lines
                        .iter()
                        .map(|l| balsa_push::logproto::EntryAdapter {
                            timestamp: Some(balsa_push::logproto::Timestamp::from_nanos(l.ts)),
                            line: l.text.clone(),
                            structured_metadata: Vec::new(),
                            parsed: Vec::new(),
                        })
                        .collect(),
                    hash: 0,
                }],
            };
            let compressed = snap::raw::Encoder::new().compress_vec(&body.encode_to_vec())?;
            client.post(url).header("content-type", "application/x-protobuf").body(compressed)
        } else {
            let values: Vec<[String; 2]> = lines.iter().map(|l| [l.ts.to_string(), l.text.clone()]).collect();
            let body = serde_json::json!({"streams": [{"stream": {"job": JOB, "stream": stream}, "values": values}]});
            client.post(url).json(&body)
        };
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = if resp.status().is_success() { String::new() } else { resp.text().await.unwrap_or_default() };
        Ok((status, body))
    }

    async fn reader(self: Arc<Self>, r: usize, history: Arc<History>, until: u64, first_ts: i64) {
        let client = Self::client(self.read_timeout);
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(1000).wrapping_add(500 + r as u64));
        let process = format!("r{r}");
        while history.now() < until {
            let node = rng.random_range(0..self.nodes.len());
            let stream = stream_name(rng.random_range(0..self.streams));
            let mut to = (wall_ns() - rng.random_range(0..3_000_000_000)) / 1000 * 1000 + 500;
            let from = (to - rng.random_range(500_000..8_000_000) * 1000).max(first_ts / 1000 * 1000 - 500);
            if to <= from {
                to = from + 1_000_000_000;
            }
            let direction = if rng.random_bool(0.5) { Direction::Forward } else { Direction::Backward };
            let start = history.now();
            let result = query(&client, &self.nodes[node], &stream, from, to, direction).await;
            let end = history.now();
            let (outcome, lines, error) = match result {
                Ok(lines) => (Outcome::Ok, lines, String::new()),
                Err(QueryFailure { outcome, message }) => (outcome, Vec::new(), message),
            };
            let truncated = lines.len() >= READ_LIMIT;
            history.record(Op::Read {
                process: process.clone(),
                node,
                stream,
                from,
                to,
                direction,
                start,
                end,
                outcome,
                lines,
                truncated,
                last: false,
                error,
            });
            tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
        }
    }

    /// Reads every stream from every node to the end, page by page, and
    /// records the pages as final reads. A node that cannot finish is left
    /// out (the checker reports it). Returns the nodes that finished.
    pub async fn final_reads(&self, history: &History, from: i64, nodes: &[usize]) -> Vec<(usize, Vec<Op>)> {
        let client = Self::client(self.read_timeout);
        let to = wall_ns() / 1000 * 1000 + 60_000_000_500;
        let mut out = Vec::new();
        'node: for &node in nodes {
            let mut pages = Vec::new();
            for s in 0..self.streams {
                let stream = stream_name(s);
                let mut page_from = from;
                loop {
                    let mut tries = 0;
                    let start = history.now();
                    let lines = loop {
                        match query(&client, &self.nodes[node], &stream, page_from, to, Direction::Forward).await {
                            Ok(lines) => break lines,
                            Err(e) if tries < 30 => {
                                tries += 1;
                                tracing::debug!(node, error = %e.message, "final read retry");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            Err(e) => {
                                tracing::warn!(node, error = %e.message, "final read failed");
                                continue 'node;
                            }
                        }
                    };
                    let truncated = lines.len() >= READ_LIMIT;
                    let next = lines.last().map(|l| l.ts + 1);
                    pages.push(Op::Read {
                        process: "final".into(),
                        node,
                        stream: stream.clone(),
                        from: page_from,
                        to,
                        direction: Direction::Forward,
                        start,
                        end: history.now(),
                        outcome: Outcome::Ok,
                        lines,
                        truncated,
                        last: true,
                        error: String::new(),
                    });
                    match next {
                        Some(next) if truncated => page_from = next,
                        _ => break,
                    }
                }
            }
            out.push((node, pages));
        }
        out
    }
}

struct QueryFailure {
    outcome: Outcome,
    message: String,
}

/// One `query_range` of a stream; its lines in the order returned.
async fn query(
    client: &reqwest::Client,
    base: &str,
    stream: &str,
    from: i64,
    to: i64,
    direction: Direction,
) -> Result<Vec<Line>, QueryFailure> {
    let dir = match direction {
        Direction::Forward => "forward",
        Direction::Backward => "backward",
    };
    let limit = READ_LIMIT.to_string();
    let params = [
        ("query", selector(stream)),
        ("start", from.to_string()),
        ("end", to.to_string()),
        ("limit", limit),
        ("direction", dir.to_string()),
    ];
    let failure = |outcome, message: String| QueryFailure { outcome, message };
    let resp = client
        .get(format!("{base}/loki/api/v1/query_range"))
        .query(&params)
        .send()
        .await
        .map_err(|e| failure(Outcome::Info, e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| failure(Outcome::Info, e.to_string()))?;
    if status != 200 {
        return Err(failure(Outcome::of_status(status), String::from_utf8_lossy(&body).into_owned()));
    }
    parse_streams(&body).map_err(|e| failure(Outcome::Info, format!("unreadable answer: {e}")))
}

/// The lines of a Loki `streams` answer, stream after stream.
fn parse_streams(body: &[u8]) -> Result<Vec<Line>> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    if v["data"]["resultType"] != "streams" {
        bail!("resultType is {}", v["data"]["resultType"]);
    }
    let mut lines = Vec::new();
    for stream in v["data"]["result"].as_array().into_iter().flatten() {
        for value in stream["values"].as_array().into_iter().flatten() {
            let ts = value[0].as_str().and_then(|s| s.parse().ok());
            let text = value[1].as_str();
            match (ts, text) {
                (Some(ts), Some(text)) => lines.push(Line { ts, text: text.to_string() }),
                _ => bail!("bad value {value}"),
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_loki_streams_answer() {
        let body = br#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"job":"jepsen","stream":"s1"},"values":[["20","w0-2"],["10","w0-1"]]}],"stats":{}}}"#;
        let lines = parse_streams(body).unwrap();
        assert_eq!(lines, [Line { ts: 20, text: "w0-2".into() }, Line { ts: 10, text: "w0-1".into() }]);
        assert!(parse_streams(br#"{"data":{"resultType":"matrix","result":[]}}"#).is_err());
        assert!(parse_streams(br#"{"data":{"resultType":"streams","result":[{"values":[[1,"x"]]}]}}"#).is_err());
    }
}
