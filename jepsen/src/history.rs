//! The history: every operation the clients and the nemesis performed, with
//! its start and end time and its outcome. Written as JSON lines so a failing
//! run can be read, grepped and replayed into the checker.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What the client learnt about an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx: the operation happened.
    Ok,
    /// A definite rejection (4xx): the operation did not happen.
    Fail,
    /// A timeout, a connection error or a 5xx: it may or may not have happened.
    Info,
}

impl Outcome {
    /// Loki's contract: 2xx is done, 4xx is refused, anything else is unknown.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Outcome::Ok,
            400..=499 => Outcome::Fail,
            _ => Outcome::Info,
        }
    }
}

/// One log line as pushed and as read back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Line {
    pub ts: i64,
    pub text: String,
}

/// The direction of a read, as Loki's `direction` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Backward,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Op {
    /// Lines pushed into one stream. Retries of an `info` push are new ops
    /// with the same lines.
    Push {
        process: String,
        node: usize,
        stream: String,
        lines: Vec<Line>,
        /// `protobuf` or `json`.
        encoding: String,
        start: u64,
        end: u64,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// A `query_range` of one stream over `[from, to)`. `lines` is in the
    /// order the node returned them; `truncated` when it hit the limit.
    Read {
        process: String,
        node: usize,
        stream: String,
        from: i64,
        to: i64,
        direction: Direction,
        start: u64,
        end: u64,
        outcome: Outcome,
        lines: Vec<Line>,
        truncated: bool,
        /// The last read of every node after healing, paged to the end.
        #[serde(default)]
        last: bool,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// A fault window: from `start` (injected) to `end` (healed).
    Nemesis { fault: String, start: u64, end: u64 },
    /// One Alertmanager POST the recorder received (the ruler workload).
    Notify {
        /// The sending node, from the source address (`None` if unknown).
        node: Option<usize>,
        /// Receive time, µs since the run began.
        at: u64,
        /// The harness's wall clock at receipt, Unix ms (to compare with
        /// `startsAt`/`endsAt`, which the nodes stamp with theirs).
        wall_ms: i64,
        alerts: Vec<NotifiedAlert>,
        /// Set when the body could not be read as Alertmanager alerts.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
    /// The ruler workload's setup, recorded at the end of the run: the
    /// alerts that must fire, the timing the nodes were given, and the span
    /// (`start`: the cluster was ready; `end`: the history was taken).
    Ruler { alerts: Vec<BTreeMap<String, String>>, resend_delay_ms: i64, interval_ms: i64, start: u64, end: u64 },
}

/// One alert of a notification, as Alertmanager's API v2 receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    pub labels: BTreeMap<String, String>,
    /// `startsAt` and `endsAt` as Unix ms (`None` when absent or unreadable).
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: Option<i64>,
}

/// The history of one run: operations in completion order, with times in
/// microseconds since the run began.
pub struct History {
    began: Instant,
    ops: Mutex<Vec<Op>>,
}

impl History {
    pub fn new() -> Self {
        Self { began: Instant::now(), ops: Mutex::new(Vec::new()) }
    }

    /// Microseconds since the run began: the clock of every op's start and end.
    pub fn now(&self) -> u64 {
        self.began.elapsed().as_micros() as u64
    }

    /// An instant on the history's clock (0 for one before the run began).
    pub fn at(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.began).as_micros() as u64
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().expect("history lock").push(op);
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("history lock").clone()
    }
}

pub fn write_jsonl(path: &Path, ops: &[Op]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

pub fn read_jsonl(path: &Path) -> std::io::Result<Vec<Op>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut ops = Vec::new();
    for line in file.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        ops.push(serde_json::from_str(&line).map_err(std::io::Error::other)?);
    }
    Ok(ops)
}
