//! The ruler's properties over the notifications the recorder received
//! (`Op::Notify`), judged per alert (label set). Pure, like `checker.rs`.
//!
//! Every alert of the workload is always true (`vector(1) > 0`, `for: 0s`),
//! so from its first evaluation on it is firing and must stay so. A firing
//! notification's `endsAt` is its send slot plus a lease of
//! `4 × max(resend_delay, interval)`; a resolved one's is its resolve time,
//! at or before it was sent. So:
//!
//! - a notification whose `endsAt` is less than half a lease after its
//!   receipt (the harness's clock) is a resolved one, and the slot of a
//!   firing one is `endsAt − lease`;
//! - R1: two firing notifications of one alert whose slots are closer than
//!   `resend_delay` were sent too early (equal slots: sent twice, typically
//!   by two nodes that both believed they owned the group);
//! - R2: a resolved notification is a violation (the condition held);
//! - R3: `startsAt` never changes (a refire would move it);
//! - R4 (liveness): the longest time without a notification of an alert is
//!   reported; it fails only when an alert was never notified, or went
//!   silent for longer than [`EXTREME_GAP_US`] in a run without clock skew.
//!
//! Notifications from a node while its clock is skewed (and a moment after)
//! carry that clock's times: they are left out of R1 and R2.

use std::collections::{BTreeMap, BTreeSet};

use crate::checker::{Property, Violation};
use crate::history::Op;

/// R4 fails when an alert goes this long without a notification (µs).
pub const EXTREME_GAP_US: u64 = 30_000_000;
/// How long after a skew is healed a node's times are still not trusted
/// (libfaketime re-reads its file every second).
const SKEW_MARGIN_US: u64 = 3_000_000;

/// What the run's summary says about the ruler.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RulerCounts {
    /// Alerts received (one POST may carry several).
    pub notified: usize,
    /// R1: pairs of sends closer than `resend_delay`.
    pub resent_early: usize,
    /// R2: notifications of a resolution.
    pub resolved: usize,
    /// R3: changes of `startsAt`.
    pub restarted: usize,
    /// R4 failures: alerts never notified or silent for too long.
    pub silent: usize,
    /// The longest gap of any alert, µs.
    pub max_gap_us: u64,
}

/// R4's numbers for one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    pub alert: String,
    pub notified: usize,
    /// The nodes that sent it.
    pub senders: BTreeSet<usize>,
    /// The longest time without a notification, and where it began (µs).
    pub longest_gap_us: u64,
    pub gap_from_us: u64,
}

pub struct RulerVerdict {
    pub counts: RulerCounts,
    pub violations: Vec<Violation>,
    pub liveness: Vec<Liveness>,
}

/// One alert of one POST.
struct Seen {
    at: u64,
    wall_ms: i64,
    node: Option<usize>,
    starts_at_ms: Option<i64>,
    ends_at_ms: Option<i64>,
    skewed: bool,
}

impl Seen {
    fn sender(&self) -> String {
        self.node.map_or_else(|| "an unknown node".to_string(), |n| format!("n{n}"))
    }
}

/// `{a="x", b="y"}`
pub fn alert_key(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// `None` when the history has no ruler workload.
pub fn check(ops: &[Op]) -> Option<RulerVerdict> {
    let (expected, resend_ms, interval_ms, start, end) = ops.iter().find_map(|op| match op {
        Op::Ruler { alerts, resend_delay_ms, interval_ms, start, end } => {
            Some((alerts, *resend_delay_ms, *interval_ms, *start, *end))
        }
        _ => None,
    })?;
    let lease_ms = 4 * resend_ms.max(interval_ms);
    // Skew windows per node: `skew n<k> ±<s>s`.
    let skews: Vec<(usize, u64, u64)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Nemesis { fault, start, end } => {
                let node = fault.strip_prefix("skew n")?.split_whitespace().next()?.parse().ok()?;
                Some((node, *start, end + SKEW_MARGIN_US))
            }
            _ => None,
        })
        .collect();
    let skewed = |node: Option<usize>, at: u64| {
        node.is_some_and(|n| skews.iter().any(|(k, s, e)| *k == n && (*s..=*e).contains(&at)))
    };

    let mut counts = RulerCounts::default();
    let mut violations = Vec::new();
    let mut by_alert: BTreeMap<String, Vec<Seen>> = expected.iter().map(|l| (alert_key(l), Vec::new())).collect();
    for op in ops {
        let Op::Notify { node, at, wall_ms, alerts, .. } = op else { continue };
        for a in alerts {
            counts.notified += 1;
            by_alert.entry(alert_key(&a.labels)).or_default().push(Seen {
                at: *at,
                wall_ms: *wall_ms,
                node: *node,
                starts_at_ms: a.starts_at_ms,
                ends_at_ms: a.ends_at_ms,
                skewed: skewed(*node, *at),
            });
        }
    }

    let mut liveness = Vec::new();
    for (alert, mut seen) in by_alert {
        seen.sort_by_key(|s| s.at);
        let violation = |property, node, evidence: String| Violation {
            property,
            node,
            stream: alert.clone(),
            line: None,
            evidence,
        };
        let resolved = |s: &Seen| s.ends_at_ms.is_some_and(|e| e < s.wall_ms + lease_ms / 2);

        // R2: resolved while the condition held.
        for (i, s) in seen.iter().enumerate().filter(|(_, s)| !s.skewed && resolved(s)) {
            let refired = seen[i + 1..].iter().find(|l| !resolved(l));
            counts.resolved += 1;
            violations.push(violation(
                Property::R2NeverResolvedWhileFiring,
                s.node,
                format!(
                    "notified as resolved by {} at t={}µs (endsAt {} ms, {} ms before receipt) although its condition always holds{}",
                    s.sender(),
                    s.at,
                    s.ends_at_ms.unwrap_or_default(),
                    s.wall_ms - s.ends_at_ms.unwrap_or_default(),
                    refired.map(|l| format!("; firing again from t={}µs ({})", l.at, l.sender())).unwrap_or_default()
                ),
            ));
        }

        // R1: firing sends closer than resend_delay, by slot.
        let mut slots: Vec<(i64, &Seen)> = seen
            .iter()
            .filter(|s| !s.skewed && !resolved(s))
            .filter_map(|s| Some((s.ends_at_ms? - lease_ms, s)))
            .collect();
        slots.sort_by_key(|(slot, s)| (*slot, s.at));
        for pair in slots.windows(2) {
            let ((slot_a, a), (slot_b, b)) = (pair[0], pair[1]);
            if slot_b - slot_a >= resend_ms {
                continue;
            }
            counts.resent_early += 1;
            let what = if slot_a == slot_b {
                format!("sent twice for slot {slot_a} ms")
            } else {
                format!("sent for slots {slot_a} ms and {slot_b} ms, {} ms apart", slot_b - slot_a)
            };
            violations.push(violation(
                Property::R1ResendDelay,
                b.node,
                format!(
                    "{what} (resend_delay {resend_ms} ms): by {} at t={}µs and by {} at t={}µs",
                    a.sender(),
                    a.at,
                    b.sender(),
                    b.at
                ),
            ));
        }

        // R3: startsAt is the same in every notification.
        for pair in seen.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.starts_at_ms == b.starts_at_ms {
                continue;
            }
            counts.restarted += 1;
            let ms = |v: Option<i64>| v.map_or_else(|| "absent".to_string(), |v| format!("{v} ms"));
            violations.push(violation(
                Property::R3StableStartsAt,
                b.node,
                format!(
                    "startsAt changed from {} (by {} at t={}µs) to {} (by {} at t={}µs)",
                    ms(a.starts_at_ms),
                    a.sender(),
                    a.at,
                    ms(b.starts_at_ms),
                    b.sender(),
                    b.at
                ),
            ));
        }

        // R4: the longest silence, from the start of the run to its end.
        let mut times: Vec<u64> = vec![start];
        times.extend(seen.iter().map(|s| s.at));
        times.push(end.max(start));
        let (gap_from, gap) =
            times.windows(2).map(|w| (w[0], w[1].saturating_sub(w[0]))).max_by_key(|(_, g)| *g).unwrap_or((start, 0));
        counts.max_gap_us = counts.max_gap_us.max(gap);
        let never = seen.is_empty();
        if never || (gap > EXTREME_GAP_US && skews.is_empty()) {
            counts.silent += 1;
            violations.push(violation(
                Property::R4Liveness,
                None,
                if never {
                    format!("never notified between t={start}µs and t={end}µs")
                } else {
                    format!("no notification for {:.1}s from t={gap_from}µs", gap as f64 / 1e6)
                },
            ));
        }
        liveness.push(Liveness {
            alert,
            notified: seen.len(),
            senders: seen.iter().filter_map(|s| s.node).collect(),
            longest_gap_us: gap,
            gap_from_us: gap_from,
        });
    }
    Some(RulerVerdict { counts, violations, liveness })
}

/// The report's lines about the ruler.
pub fn report(verdict: &RulerVerdict) -> String {
    let mut out = format!(
        "ruler: {} alerts notified; longest silence per alert (R4, {} s fails):\n",
        verdict.counts.notified,
        EXTREME_GAP_US / 1_000_000
    );
    for l in &verdict.liveness {
        let senders: Vec<String> = l.senders.iter().map(|n| format!("n{n}")).collect();
        out.push_str(&format!(
            "  {:<44} {:>4} notifications from {:<10} longest gap {:>5.1}s (from {:.1}s)\n",
            l.alert,
            l.notified,
            if senders.is_empty() { "-".to_string() } else { senders.join(",") },
            l.longest_gap_us as f64 / 1e6,
            l.gap_from_us as f64 / 1e6
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NotifiedAlert;

    /// A history language for notifications, one op per line; times in ms
    /// (the receive time `at` and the harness's wall clock are the same).
    /// `ruler <start> <end> <group>[,..]` — resend_delay 3 s, interval 1 s (lease 12 s)
    /// `notify <node|-> <at> <group> <startsAt> firing|resolved|<endsAt>`
    ///   (`firing`: endsAt = at + 12 s, sent at its slot; `resolved`: endsAt = at)
    /// `notify <node|-> <at> <group> <startsAt> slot=<slot>` (endsAt = slot + 12 s)
    /// `skew <node> <start> <end>`
    fn history(text: &str) -> Vec<Op> {
        let labels = |g: &str| BTreeMap::from([("alertname".to_string(), "A".to_string()), ("group".into(), g.into())]);
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let ms = |s: &str| s.parse::<i64>().unwrap();
                match w[0] {
                    "ruler" => Op::Ruler {
                        alerts: w[3].split(',').map(labels).collect(),
                        resend_delay_ms: 3000,
                        interval_ms: 1000,
                        start: ms(w[1]) as u64 * 1000,
                        end: ms(w[2]) as u64 * 1000,
                    },
                    "notify" => {
                        let at = ms(w[2]);
                        let ends = match w[5] {
                            "firing" => at + 12_000,
                            "resolved" => at,
                            s if s.starts_with("slot=") => ms(&s[5..]) + 12_000,
                            s => ms(s),
                        };
                        Op::Notify {
                            node: w[1].parse().ok(),
                            at: at as u64 * 1000,
                            wall_ms: at,
                            alerts: w[3]
                                .split(',')
                                .map(|g| NotifiedAlert {
                                    labels: labels(g),
                                    starts_at_ms: Some(ms(w[4])),
                                    ends_at_ms: Some(ends),
                                })
                                .collect(),
                            error: String::new(),
                        }
                    }
                    "skew" => Op::Nemesis {
                        fault: format!("skew n{} +60s", w[1]),
                        start: ms(w[2]) as u64 * 1000,
                        end: ms(w[3]) as u64 * 1000,
                    },
                    other => panic!("unknown op {other}"),
                }
            })
            .collect()
    }

    fn verdict(ops: &str) -> RulerVerdict {
        check(&history(ops)).expect("a ruler history")
    }

    fn properties(v: &RulerVerdict) -> Vec<Property> {
        let mut p: Vec<Property> = v.violations.iter().map(|v| v.property).collect();
        p.dedup();
        p
    }

    /// Two alerts resent every 4 s by whichever node owns them; g1 moves
    /// from n0 to n2 (a takeover keeps the resend schedule).
    const CLEAN: &str = "ruler 0 20000 g0,g1
        notify 0 1000 g0,g1 900 firing
        notify 0 5000 g0,g1 900 firing
        notify 0 9000 g0 900 firing
        notify 2 11000 g1 900 firing
        notify 0 13000 g0 900 firing
        notify 2 15000 g1 900 firing
        notify 0 17000 g0 900 firing
        notify 2 19000 g1 900 firing";

    #[test]
    fn a_clean_ruler_history_is_valid() {
        let v = verdict(CLEAN);
        assert!(v.violations.is_empty(), "{:#?}", v.violations);
        assert_eq!(v.counts.notified, 10);
        assert_eq!(v.counts.max_gap_us, 6_000_000);
        assert_eq!(v.liveness[1].senders, BTreeSet::from([0, 2]));
        assert!(report(&v).contains("longest gap   6.0s (from 5.0s)"), "{}", report(&v));
    }

    #[test]
    fn no_ruler_workload_no_verdict() {
        assert!(check(&[]).is_none());
    }

    #[test]
    fn a_double_send_breaks_the_resend_delay() {
        // Two owners at once: n0 and n1 both send for the slot 5000.
        let v = verdict(&format!("{CLEAN}\nnotify 1 5020 g0 900 slot=5000"));
        assert_eq!(properties(&v), [Property::R1ResendDelay], "{:#?}", v.violations);
        assert_eq!(v.counts.resent_early, 1);
        assert!(v.violations[0].evidence.contains("sent twice for slot 5000 ms"), "{:#?}", v.violations);
        assert_eq!(v.violations[0].stream, r#"{alertname="A", group="g0"}"#);
        // A new owner that ignored the last send and resent 2 s later.
        let v = verdict(&format!("{CLEAN}\nnotify 2 7000 g0 900 firing"));
        assert_eq!(properties(&v), [Property::R1ResendDelay]);
        assert!(v.violations[0].evidence.contains("2000 ms apart"), "{:#?}", v.violations);
    }

    #[test]
    fn a_resolved_then_firing_flap_is_caught() {
        // A new owner that saw no series (or an error) resolved the alert,
        // then fired it again with a new startsAt.
        let ops = "ruler 0 20000 g0
            notify 0 1000 g0 900 firing
            notify 0 5000 g0 900 firing
            notify 1 7000 g0 900 resolved
            notify 1 8000 g0 8000 firing
            notify 1 12000 g0 8000 firing";
        let v = verdict(ops);
        assert_eq!(properties(&v), [Property::R2NeverResolvedWhileFiring, Property::R3StableStartsAt]);
        assert_eq!((v.counts.resolved, v.counts.restarted), (1, 1));
        assert!(v.violations[0].evidence.contains("firing again from t=8000000µs (n1)"), "{:#?}", v.violations);
        // A resolution that arrives late (endsAt well before receipt) too.
        let v = verdict(
            "ruler 0 9000 g0\nnotify 0 1000 g0 900 firing\nnotify 0 5000 g0 900 3000\nnotify 0 9000 g0 900 firing",
        );
        assert_eq!(properties(&v), [Property::R2NeverResolvedWhileFiring]);
    }

    #[test]
    fn a_changed_starts_at_is_caught() {
        let v = verdict(&format!("{CLEAN}\nnotify 2 23000 g1 1900 firing"));
        assert_eq!(properties(&v), [Property::R3StableStartsAt], "{:#?}", v.violations);
        assert!(v.violations[0].evidence.contains("from 900 ms (by n2 at t=19000000µs) to 1900 ms"));
    }

    #[test]
    fn a_slow_firing_notification_is_not_a_resolution() {
        // Sent 5 s after its slot (a node paused between commit and send).
        let v = verdict("ruler 0 10000 g0\nnotify 0 1000 g0 900 firing\nnotify 0 10000 g0 900 slot=5000");
        assert!(v.violations.is_empty(), "{:#?}", v.violations);
    }

    #[test]
    fn liveness_is_reported_and_fails_only_when_extreme() {
        let v = verdict("ruler 0 40000 g0,g1\nnotify 0 1000 g0 900 firing\nnotify 0 35000 g0 900 firing");
        assert_eq!(properties(&v), [Property::R4Liveness]);
        assert_eq!(v.counts.silent, 2, "g0 silent for 34 s, g1 never: {:#?}", v.violations);
        assert!(v.violations.iter().any(|v| v.evidence.contains("never notified")));
        assert_eq!(v.counts.max_gap_us, 40_000_000);
        let v = verdict("ruler 0 20000 g0\nnotify 0 1000 g0 900 firing\nnotify 0 19000 g0 900 firing");
        assert!(v.violations.is_empty());
        assert_eq!(v.counts.max_gap_us, 18_000_000);
    }

    #[test]
    fn notifications_round_trip_through_json_lines() {
        let ops = history(CLEAN);
        let dir = std::env::temp_dir().join(format!("jepsen-ruler-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        crate::history::write_jsonl(&path, &ops).unwrap();
        assert_eq!(crate::history::read_jsonl(&path).unwrap(), ops);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_skewed_nodes_times_are_not_judged() {
        // n1's clock is 60 s behind: its firing notification looks resolved
        // and its slot is far off; neither counts while it is skewed.
        let ops = "ruler 0 20000 g0
            skew 1 4000 12000
            notify 0 1000 g0 900 firing
            notify 1 6000 g0 900 slot=-54000
            notify 1 14000 g0 900 resolved
            notify 0 16000 g0 900 firing";
        let v = verdict(ops);
        assert!(v.violations.is_empty(), "{:#?}", v.violations);
        // Outside the window (and its margin) it counts again.
        let v = verdict(&format!("{ops}\nnotify 1 19000 g0 900 resolved"));
        assert_eq!(properties(&v), [Property::R2NeverResolvedWhileFiring]);
    }
}
