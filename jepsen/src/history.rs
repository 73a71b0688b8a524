//! The history: every operation the clients and the nemesis performed, with
//! its start and end time and its outcome. Written as JSON lines so a failing
//! run can be read, grepped and replayed into the checker.

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
