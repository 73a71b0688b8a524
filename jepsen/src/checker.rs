//! The checker: P1–P7 of `shared/brief/testing.md` over a history, and the
//! ruler's R1–R4 (`ruler_checker.rs`) when the run had that workload. Pure:
//! it reads operations and returns violations with the evidence that shows
//! them.
//!
//! The workload makes the checks exact. Every line's text (`w{proc}-{seq}`)
//! is unique, a retry re-sends the same text and timestamp, and every
//! timestamp is unique across writers, so a line read back names the push it
//! came from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::history::{Direction, Line, Op, Outcome};
use crate::ruler_checker::{self, RulerCounts, RulerVerdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Property {
    /// Every `ok` push is in the final read of every node.
    P1Durability,
    /// A read includes every push in its range acknowledged before it began.
    P2ReadYourWrites,
    /// Nothing is read that was never attempted, or only ever refused.
    P3NoPhantoms,
    /// Each (stream, timestamp, line) at most once.
    P4NoDuplicates,
    /// Within a stream, sorted by timestamp in the read's direction.
    P5Order,
    /// A read contains what an earlier, finished read of its range returned.
    P6MonotonicReads,
    /// After healing, every node returns the same lines.
    P7Convergence,
    /// Ruler: no alert is sent again within `resend_delay` (nor twice).
    R1ResendDelay,
    /// Ruler: an alert whose condition holds is never notified as resolved.
    R2NeverResolvedWhileFiring,
    /// Ruler: an alert's `startsAt` never changes while it keeps firing.
    R3StableStartsAt,
    /// Ruler: every alert is notified, with no extreme silence.
    R4Liveness,
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Property::P1Durability => "P1 durability",
            Property::P2ReadYourWrites => "P2 read-your-writes",
            Property::P3NoPhantoms => "P3 no phantoms",
            Property::P4NoDuplicates => "P4 no duplicates",
            Property::P5Order => "P5 order",
            Property::P6MonotonicReads => "P6 monotonic reads",
            Property::P7Convergence => "P7 convergence",
            Property::R1ResendDelay => "R1 resend delay",
            Property::R2NeverResolvedWhileFiring => "R2 never resolved while firing",
            Property::R3StableStartsAt => "R3 stable startsAt",
            Property::R4Liveness => "R4 liveness",
        };
        f.write_str(name)
    }
}

/// One broken rule and the smallest evidence for it.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub property: Property,
    pub node: Option<usize>,
    pub stream: String,
    pub line: Option<Line>,
    /// What happened, with the operations' times (µs since the run began).
    pub evidence: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub reads_ok: usize,
    /// Acknowledged lines missing from at least one node's final read.
    pub lost: usize,
    pub duplicated: usize,
    pub phantom: usize,
    /// Reads that missed a line they had to contain (P2 and P6).
    pub stale: usize,
    pub unordered: usize,
    /// Lines that not every node returned after healing.
    pub divergent: usize,
    /// The ruler workload's counts, when it ran.
    pub ruler: Option<RulerCounts>,
}

impl Counts {
    /// The summary line's fields, verdict last.
    pub fn summary(&self, valid: bool) -> String {
        let ruler = match &self.ruler {
            Some(r) => format!(
                " notified={} resent_early={} resolved={} restarted={} silent={} max_gap={:.1}s",
                r.notified,
                r.resent_early,
                r.resolved,
                r.restarted,
                r.silent,
                r.max_gap_us as f64 / 1e6
            ),
            None => String::new(),
        };
        format!(
            "ok={} fail={} info={} reads={} lost={} duplicated={} phantom={} stale={} unordered={} divergent={}{ruler} verdict={}",
            self.ok,
            self.fail,
            self.info,
            self.reads_ok,
            self.lost,
            self.duplicated,
            self.phantom,
            self.stale,
            self.unordered,
            self.divergent,
            if valid { "valid" } else { "invalid" }
        )
    }

    pub fn add(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.fail += other.fail;
        self.info += other.info;
        self.reads_ok += other.reads_ok;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.phantom += other.phantom;
        self.stale += other.stale;
        self.unordered += other.unordered;
        self.divergent += other.divergent;
        if let Some(o) = &other.ruler {
            let r = self.ruler.get_or_insert_with(RulerCounts::default);
            r.notified += o.notified;
            r.resent_early += o.resent_early;
            r.resolved += o.resolved;
            r.restarted += o.restarted;
            r.silent += o.silent;
            r.max_gap_us = r.max_gap_us.max(o.max_gap_us);
        }
    }
}

pub struct Verdict {
    pub counts: Counts,
    pub violations: Vec<Violation>,
    /// R1–R4 over the notifications, when the run had the ruler workload.
    pub ruler: Option<RulerVerdict>,
}

impl Verdict {
    pub fn valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Everything the history says about one line.
struct Pushed<'a> {
    stream: &'a str,
    ts: i64,
    /// Earliest end of an `ok` attempt.
    acked: Option<u64>,
    /// Earliest start of any attempt.
    first_attempt: u64,
    /// True when every attempt was a definite rejection.
    only_refused: bool,
}

struct ReadView<'a> {
    process: &'a str,
    node: usize,
    stream: &'a str,
    from: i64,
    to: i64,
    direction: Direction,
    start: u64,
    end: u64,
    lines: &'a [Line],
    truncated: bool,
    last: bool,
}

impl ReadView<'_> {
    /// The timestamps the read answers for: its range, or up to its last
    /// line when it hit the limit.
    fn coverage(&self) -> (i64, i64) {
        match (self.truncated, self.lines.last(), self.direction) {
            (true, Some(last), Direction::Forward) => (self.from, last.ts + 1),
            (true, Some(last), Direction::Backward) => (last.ts, self.to),
            _ => (self.from, self.to),
        }
    }

    fn describe(&self) -> String {
        format!(
            "read by {} on n{} of {} over [{}, {}) {:?} from t={}µs to t={}µs returned {} lines{}",
            self.process,
            self.node,
            self.stream,
            self.from,
            self.to,
            self.direction,
            self.start,
            self.end,
            self.lines.len(),
            if self.last { " (final read)" } else { "" }
        )
    }
}

pub fn check(ops: &[Op], nodes: usize) -> Verdict {
    let mut counts = Counts::default();
    let mut violations = Vec::new();
    let mut pushed: HashMap<&str, Pushed> = HashMap::new();
    let mut reads: Vec<ReadView> = Vec::new();
    for op in ops {
        match op {
            Op::Push { stream, lines, start, end, outcome, .. } => {
                match outcome {
                    Outcome::Ok => counts.ok += 1,
                    Outcome::Fail => counts.fail += 1,
                    Outcome::Info => counts.info += 1,
                }
                for line in lines {
                    let p = pushed.entry(line.text.as_str()).or_insert(Pushed {
                        stream,
                        ts: line.ts,
                        acked: None,
                        first_attempt: *start,
                        only_refused: true,
                    });
                    p.first_attempt = p.first_attempt.min(*start);
                    p.only_refused &= *outcome == Outcome::Fail;
                    if *outcome == Outcome::Ok {
                        p.acked = Some(p.acked.map_or(*end, |a| a.min(*end)));
                    }
                }
            }
            Op::Read {
                process,
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
                last,
                ..
            } if *outcome == Outcome::Ok => {
                counts.reads_ok += 1;
                reads.push(ReadView {
                    process,
                    node: *node,
                    stream,
                    from: *from,
                    to: *to,
                    direction: *direction,
                    start: *start,
                    end: *end,
                    lines,
                    truncated: *truncated,
                    last: *last,
                });
            }
            _ => {}
        }
    }

    for read in &reads {
        check_read_alone(read, &pushed, &mut counts, &mut violations);
    }
    check_stale(&reads, &pushed, &mut counts, &mut violations);
    check_final(&reads, &pushed, nodes, &mut counts, &mut violations);
    let ruler = ruler_checker::check(ops);
    if let Some(r) = &ruler {
        counts.ruler = Some(r.counts.clone());
        violations.extend(r.violations.iter().cloned());
    }
    Verdict { counts, violations, ruler }
}

/// P3, P4 and P5: what one read shows by itself.
fn check_read_alone(read: &ReadView, pushed: &HashMap<&str, Pushed>, counts: &mut Counts, out: &mut Vec<Violation>) {
    let mut seen = HashSet::new();
    for (i, line) in read.lines.iter().enumerate() {
        let violation = |property, what: String| Violation {
            property,
            node: Some(read.node),
            stream: read.stream.to_string(),
            line: Some(line.clone()),
            evidence: format!("{what}; {}", read.describe()),
        };
        let phantom = match pushed.get(line.text.as_str()) {
            None => Some("never pushed".to_string()),
            Some(p) if p.stream != read.stream || p.ts != line.ts => {
                Some(format!("pushed to {} at ts {}, read from {} at ts {}", p.stream, p.ts, read.stream, line.ts))
            }
            Some(p) if p.only_refused => Some("every push of it was refused (4xx)".to_string()),
            Some(p) if read.end < p.first_attempt => {
                Some(format!("read before its first push began at t={}µs", p.first_attempt))
            }
            _ if line.ts < read.from || line.ts >= read.to => Some("outside the read's range".to_string()),
            _ => None,
        };
        if let Some(why) = phantom {
            counts.phantom += 1;
            out.push(violation(Property::P3NoPhantoms, why));
        }
        if !seen.insert((line.ts, line.text.as_str())) {
            counts.duplicated += 1;
            out.push(violation(Property::P4NoDuplicates, "returned twice".to_string()));
        }
        if let Some(prev) = i.checked_sub(1).map(|j| &read.lines[j]) {
            let in_order = match read.direction {
                Direction::Forward => (prev.ts, &prev.text) <= (line.ts, &line.text),
                Direction::Backward => (prev.ts, &prev.text) >= (line.ts, &line.text),
            };
            if !in_order {
                counts.unordered += 1;
                out.push(violation(Property::P5Order, format!("after {} at ts {}", prev.text, prev.ts)));
            }
        }
    }
}

/// P2 and P6: a read must hold every line of its range that was acknowledged,
/// or returned by a finished read, before it began.
fn check_stale(reads: &[ReadView], pushed: &HashMap<&str, Pushed>, counts: &mut Counts, out: &mut Vec<Violation>) {
    // Per line: when it first became required (acknowledged or observed).
    let mut observed: HashMap<&str, (u64, usize)> = HashMap::new();
    for (i, read) in reads.iter().enumerate() {
        for line in read.lines {
            let e = observed.entry(line.text.as_str()).or_insert((read.end, i));
            if read.end < e.0 {
                *e = (read.end, i);
            }
        }
    }
    // Per stream: its known lines sorted by timestamp.
    let mut by_stream: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for (text, p) in pushed {
        by_stream.entry(p.stream).or_default().push((p.ts, text));
    }
    for lines in by_stream.values_mut() {
        lines.sort_unstable();
    }
    // The final reads are judged by P1 and P7.
    for read in reads.iter().filter(|r| !r.last) {
        let Some(lines) = by_stream.get(read.stream) else { continue };
        let (lo, hi) = read.coverage();
        let first = lines.partition_point(|(ts, _)| *ts < lo);
        let returned: HashSet<&str> = read.lines.iter().map(|l| l.text.as_str()).collect();
        for (ts, text) in lines[first..].iter().take_while(|(ts, _)| *ts < hi) {
            if returned.contains(text) {
                continue;
            }
            let acked = pushed[text].acked.filter(|a| *a < read.start);
            let seen = observed.get(text).filter(|(end, _)| *end < read.start);
            let (property, why) = match (acked, seen) {
                (Some(a), _) => (Property::P2ReadYourWrites, format!("acknowledged at t={a}µs, before the read began")),
                (None, Some((_, i))) => {
                    (Property::P6MonotonicReads, format!("returned earlier by the {}", reads[*i].describe()))
                }
                (None, None) => continue,
            };
            counts.stale += 1;
            out.push(Violation {
                property,
                node: Some(read.node),
                stream: read.stream.to_string(),
                line: Some(Line { ts: *ts, text: text.to_string() }),
                evidence: format!("missing: {why}; {}", read.describe()),
            });
        }
    }
}

/// P1 and P7 over the final reads: every node holds every acknowledged line,
/// and every node returns the same lines in the same order.
fn check_final(
    reads: &[ReadView],
    pushed: &HashMap<&str, Pushed>,
    nodes: usize,
    counts: &mut Counts,
    out: &mut Vec<Violation>,
) {
    // node → stream → lines, concatenating the pages of the final read.
    let mut finals: Vec<BTreeMap<&str, Vec<&Line>>> = vec![BTreeMap::new(); nodes];
    let mut answered = vec![false; nodes];
    for read in reads.iter().filter(|r| r.last && r.node < nodes) {
        answered[read.node] = true;
        finals[read.node].entry(read.stream).or_default().extend(read.lines.iter());
    }
    for (node, ok) in answered.iter().enumerate() {
        if !ok {
            counts.divergent += 1;
            out.push(Violation {
                property: Property::P7Convergence,
                node: Some(node),
                stream: String::new(),
                line: None,
                evidence: format!("n{node} never answered its final read"),
            });
        }
    }
    let held: Vec<HashSet<&str>> =
        finals.iter().map(|streams| streams.values().flatten().map(|l| l.text.as_str()).collect()).collect();

    let mut acked: Vec<(&str, &Pushed)> =
        pushed.iter().filter(|(_, p)| p.acked.is_some()).map(|(t, p)| (*t, p)).collect();
    acked.sort_unstable_by_key(|(_, p)| (p.acked, p.ts));
    for (text, p) in acked {
        let missing: Vec<usize> = (0..nodes).filter(|n| answered[*n] && !held[*n].contains(text)).collect();
        if missing.is_empty() {
            continue;
        }
        counts.lost += 1;
        out.push(Violation {
            property: Property::P1Durability,
            node: missing.first().copied(),
            stream: p.stream.to_string(),
            line: Some(Line { ts: p.ts, text: text.to_string() }),
            evidence: format!(
                "acknowledged at t={}µs, absent from the final read of {}",
                p.acked.unwrap_or_default(),
                missing.iter().map(|n| format!("n{n}")).collect::<Vec<_>>().join(", ")
            ),
        });
    }

    let answering: Vec<usize> = (0..nodes).filter(|n| answered[*n]).collect();
    let Some(&first) = answering.first() else { return };
    let streams: HashSet<&str> = answering.iter().flat_map(|n| finals[*n].keys().copied()).collect();
    let mut streams: Vec<&str> = streams.into_iter().collect();
    streams.sort_unstable();
    for stream in streams {
        let reference = finals[first].get(stream).cloned().unwrap_or_default();
        for &node in &answering[1..] {
            let other = finals[node].get(stream).cloned().unwrap_or_default();
            if other == reference {
                continue;
            }
            let a: HashSet<&Line> = reference.iter().copied().collect();
            let b: HashSet<&Line> = other.iter().copied().collect();
            let mut differing: Vec<&Line> = a.symmetric_difference(&b).copied().collect();
            differing.sort_unstable();
            counts.divergent += differing.len().max(1);
            let evidence = match differing.first() {
                Some(line) => format!(
                    "n{first} and n{node} differ on {} lines of {stream}, first {} at ts {} (held by n{})",
                    differing.len(),
                    line.text,
                    line.ts,
                    if a.contains(line) { first } else { node }
                ),
                None => format!("n{first} and n{node} return {stream}'s lines in different orders"),
            };
            out.push(Violation {
                property: Property::P7Convergence,
                node: Some(node),
                stream: stream.to_string(),
                line: differing.first().map(|l| (*l).clone()),
                evidence,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small history language: one op per line.
    /// `push <proc> <node> <stream> <ts>:<text>[,..] <start> <end> ok|fail|info`
    /// `read <node> <stream> <from> <to> f|b <start> <end> [<ts>:<text>,..] [last] [truncated]`
    fn history(text: &str) -> Vec<Op> {
        let lines = |s: &str| -> Vec<Line> {
            if s == "-" {
                return Vec::new();
            }
            s.split(',')
                .map(|l| {
                    let (ts, text) = l.split_once(':').unwrap();
                    Line { ts: ts.parse().unwrap(), text: text.to_string() }
                })
                .collect()
        };
        let outcome = |s: &str| match s {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Fail,
            _ => Outcome::Info,
        };
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                match w[0] {
                    "push" => Op::Push {
                        process: w[1].into(),
                        node: w[2].parse().unwrap(),
                        stream: w[3].into(),
                        lines: lines(w[4]),
                        encoding: "json".into(),
                        start: w[5].parse().unwrap(),
                        end: w[6].parse().unwrap(),
                        outcome: outcome(w[7]),
                        error: String::new(),
                    },
                    "read" => Op::Read {
                        process: "r0".into(),
                        node: w[1].parse().unwrap(),
                        stream: w[2].into(),
                        from: w[3].parse().unwrap(),
                        to: w[4].parse().unwrap(),
                        direction: if w[5] == "b" { Direction::Backward } else { Direction::Forward },
                        start: w[6].parse().unwrap(),
                        end: w[7].parse().unwrap(),
                        outcome: Outcome::Ok,
                        lines: lines(w[8]),
                        truncated: w[9..].contains(&"truncated"),
                        last: w[9..].contains(&"last"),
                        error: String::new(),
                    },
                    other => panic!("unknown op {other}"),
                }
            })
            .collect()
    }

    /// Final reads of `lines` for stream `s` on nodes 0..3.
    fn finals(lines: &str) -> String {
        (0..3).map(|n| format!("read {n} s 0 1000 f 900 910 {lines} last\n")).collect()
    }

    /// Checks a history and compares the violated properties and counts.
    fn check_history(ops: &str, expected: &[Property], counts: &str) {
        let verdict = check(&history(ops), 3);
        let mut got: Vec<Property> = verdict.violations.iter().map(|v| v.property).collect();
        got.dedup();
        assert_eq!(got, expected, "violations: {:#?}", verdict.violations);
        let c = &verdict.counts;
        let summary = format!(
            "lost={} duplicated={} phantom={} stale={} unordered={} divergent={}",
            c.lost, c.duplicated, c.phantom, c.stale, c.unordered, c.divergent
        );
        assert_eq!(summary, counts);
    }

    const CLEAN: &str = "lost=0 duplicated=0 phantom=0 stale=0 unordered=0 divergent=0";

    #[test]
    fn a_clean_history_is_valid() {
        let ops = format!(
            "push w0 0 s 10:a 1 2 ok
             push w1 1 s 20:b 3 4 info
             push w1 2 s 20:b 5 6 ok
             push w0 0 s 30:c 7 8 fail
             read 1 s 0 100 f 9 10 10:a,20:b
             read 2 s 0 100 b 11 12 20:b,10:a
             {}",
            finals("10:a,20:b")
        );
        check_history(&ops, &[], CLEAN);
    }

    #[test]
    fn an_info_push_may_or_may_not_appear() {
        let ops = format!("push w0 0 s 10:a 1 2 info\n{}", finals("-"));
        check_history(&ops, &[], CLEAN);
        let ops = format!("push w0 0 s 10:a 1 2 info\nread 0 s 0 100 f 3 4 10:a\n{}", finals("10:a"));
        check_history(&ops, &[], CLEAN);
    }

    #[test]
    fn an_acknowledged_line_missing_on_one_node_is_lost_and_divergent() {
        let ops = "push w0 0 s 10:a 1 2 ok
                   read 0 s 0 1000 f 900 910 10:a last
                   read 1 s 0 1000 f 900 910 - last
                   read 2 s 0 1000 f 900 910 10:a last";
        check_history(
            ops,
            &[Property::P1Durability, Property::P7Convergence],
            "lost=1 duplicated=0 phantom=0 stale=0 unordered=0 divergent=1",
        );
    }

    #[test]
    fn a_node_that_never_answers_its_final_read_fails_convergence() {
        let ops = "push w0 0 s 10:a 1 2 ok
                   read 0 s 0 1000 f 900 910 10:a last
                   read 1 s 0 1000 f 900 910 10:a last";
        check_history(ops, &[Property::P7Convergence], "lost=0 duplicated=0 phantom=0 stale=0 unordered=0 divergent=1");
    }

    #[test]
    fn a_read_missing_an_earlier_acknowledged_line_is_stale() {
        let ops = format!("push w0 0 s 10:a 1 2 ok\nread 1 s 0 100 f 3 4 -\n{}", finals("10:a"));
        check_history(
            &ops,
            &[Property::P2ReadYourWrites],
            "lost=0 duplicated=0 phantom=0 stale=1 unordered=0 divergent=0",
        );
        // Concurrent with the acknowledgement: either answer is right.
        let ops = format!("push w0 0 s 10:a 1 5 ok\nread 1 s 0 100 f 3 4 -\n{}", finals("10:a"));
        check_history(&ops, &[], CLEAN);
        // Outside the read's range, or past its truncation point.
        let ops = format!("push w0 0 s 10:a 1 2 ok\nread 1 s 11 100 f 3 4 -\n{}", finals("10:a"));
        check_history(&ops, &[], CLEAN);
        let ops = format!(
            "push w0 0 s 10:a,20:b 1 2 ok\nread 1 s 0 100 f 3 4 10:a truncated\nread 1 s 0 100 b 3 4 20:b truncated\n{}",
            finals("10:a,20:b")
        );
        check_history(&ops, &[], CLEAN);
    }

    #[test]
    fn a_read_going_back_in_time_breaks_monotonic_reads() {
        let ops = format!(
            "push w0 0 s 10:a 1 20 info
             read 0 s 0 100 f 3 4 10:a
             read 2 s 0 100 f 5 6 -
             {}",
            finals("10:a")
        );
        check_history(
            &ops,
            &[Property::P6MonotonicReads],
            "lost=0 duplicated=0 phantom=0 stale=1 unordered=0 divergent=0",
        );
    }

    #[test]
    fn phantoms_are_lines_never_pushed_refused_or_read_too_early() {
        let cases = [
            "read 0 s 0 100 f 3 4 10:zz",
            "push w0 0 s 10:a 1 2 fail\nread 0 s 0 100 f 3 4 10:a",
            "push w0 0 s 10:a 5 6 ok\nread 0 s 0 100 f 1 2 10:a",
            "push w0 0 t 10:a 1 2 info\nread 0 s 0 100 f 3 4 10:a",
            "push w0 0 s 10:a 1 2 info\nread 0 s 0 100 f 3 4 11:a",
            "push w0 0 s 10:a 1 2 info\nread 0 s 20 100 f 3 4 10:a",
        ];
        for case in cases {
            let verdict = check(&history(case), 1);
            let phantoms: Vec<_> = verdict.violations.iter().filter(|v| v.property == Property::P3NoPhantoms).collect();
            assert_eq!(phantoms.len(), 1, "{case}: {:#?}", verdict.violations);
            assert_eq!(verdict.counts.phantom, 1);
        }
    }

    #[test]
    fn a_line_returned_twice_is_a_duplicate() {
        let ops = format!(
            "push w0 0 s 10:a 1 2 ok\npush w0 1 s 10:a 3 4 ok\nread 0 s 0 100 f 5 6 10:a,10:a\n{}",
            finals("10:a")
        );
        check_history(
            &ops,
            &[Property::P4NoDuplicates],
            "lost=0 duplicated=1 phantom=0 stale=0 unordered=0 divergent=0",
        );
    }

    #[test]
    fn lines_out_of_the_reads_direction_are_unordered() {
        let ops = format!(
            "push w0 0 s 10:a,20:b 1 2 ok\nread 0 s 0 100 f 5 6 20:b,10:a\nread 0 s 0 100 b 5 6 10:a,20:b\n{}",
            finals("10:a,20:b")
        );
        check_history(&ops, &[Property::P5Order], "lost=0 duplicated=0 phantom=0 stale=0 unordered=2 divergent=0");
    }

    #[test]
    fn final_reads_in_different_orders_diverge() {
        let ops = "push w0 0 s 10:a,20:b 1 2 ok
                   read 0 s 0 1000 f 900 910 10:a,20:b last
                   read 1 s 0 1000 f 900 910 10:a,20:b last
                   read 2 s 0 1000 f 900 910 20:b,10:a last";
        let verdict = check(&history(ops), 3);
        let props: HashSet<Property> = verdict.violations.iter().map(|v| v.property).collect();
        assert!(
            props.contains(&Property::P7Convergence) && props.contains(&Property::P5Order),
            "{:#?}",
            verdict.violations
        );
    }

    #[test]
    fn the_history_round_trips_through_json_lines() {
        let ops = history(&format!("push w0 0 s 10:a 1 2 ok\n{}", finals("10:a")));
        let dir = std::env::temp_dir().join(format!("jepsen-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        crate::history::write_jsonl(&path, &ops).unwrap();
        assert_eq!(crate::history::read_jsonl(&path).unwrap(), ops);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
