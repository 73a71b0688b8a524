//! The nemesis: a schedule of faults made from a seed, and the code that
//! injects and heals them. The same seed, families and duration give the
//! same schedule; only "the busiest leader" is resolved when its fault starts.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

use crate::cluster::Cluster;
use crate::history::{History, Op};
use crate::net::{self, SharedNet};

/// A kind of fault, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Kill,
    Pause,
    Partition,
    Skew,
    Wipe,
    Composite,
}

impl Family {
    pub const ALL: [Family; 6] =
        [Family::Kill, Family::Pause, Family::Partition, Family::Skew, Family::Wipe, Family::Composite];
}

impl FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "kill" => Family::Kill,
            "pause" => Family::Pause,
            "partition" => Family::Partition,
            "skew" | "clock" => Family::Skew,
            "wipe" => Family::Wipe,
            "composite" => Family::Composite,
            other => return Err(format!("unknown nemesis {other:?} (kill, pause, partition, skew, wipe, composite)")),
        })
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Kill => "kill",
            Family::Pause => "pause",
            Family::Partition => "partition",
            Family::Skew => "skew",
            Family::Wipe => "wipe",
            Family::Composite => "composite",
        })
    }
}

/// Which node a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// The node leading the most shards when the fault starts.
    BusiestLeader,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9`, restarted when healed.
    Kill(Target),
    /// SIGSTOP, SIGCONT when healed.
    Pause(Target),
    /// Cut one node off from the others.
    Isolate(Target),
    /// Cut the two nodes other than `middle` off from each other; both still
    /// reach `middle`.
    Bridge { middle: usize },
    /// Move one node's wall clock by this many seconds.
    Skew { node: usize, seconds: i64 },
    /// `kill -9`, delete the data directory, restart empty when healed.
    Wipe(usize),
    /// Isolate `isolated`, let writes build, kill `killed`, restart it while
    /// `isolated` is still cut off, then heal.
    Composite { isolated: usize, killed: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When the fault starts, from the start of the workload.
    pub at: Duration,
    /// How long it lasts before it is healed.
    pub hold: Duration,
    pub fault: Fault,
}

/// The faults of a run: after a quiet spell, one fault of a family chosen
/// in turn, held for a few seconds, healed, and again until `duration`.
pub fn schedule(seed: u64, families: &[Family], nodes: usize, duration: Duration, long: bool) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    if families.is_empty() || nodes < 3 {
        return steps;
    }
    let (quiet, hold) = if long { ((5.0, 30.0), (5.0, 20.0)) } else { ((1.5, 3.0), (2.5, 5.0)) };
    let mut t = Duration::from_secs(3);
    // The last seconds stay quiet, so the run ends with a healthy cluster.
    let end = duration.saturating_sub(Duration::from_secs(4));
    for i in 0.. {
        let family = families[i % families.len()];
        let at = t + Duration::from_secs_f64(rng.random_range(quiet.0..quiet.1));
        let mut hold = Duration::from_secs_f64(rng.random_range(hold.0..hold.1));
        let node = rng.random_range(0..nodes);
        let other = (node + rng.random_range(1..nodes)) % nodes;
        let fault = match family {
            Family::Kill if rng.random_bool(0.5) => Fault::Kill(Target::BusiestLeader),
            Family::Kill => Fault::Kill(Target::Node(node)),
            Family::Pause if rng.random_bool(0.5) => Fault::Pause(Target::BusiestLeader),
            Family::Pause => Fault::Pause(Target::Node(node)),
            Family::Partition => match rng.random_range(0..3) {
                0 => Fault::Isolate(Target::Node(node)),
                1 => Fault::Isolate(Target::BusiestLeader),
                _ => Fault::Bridge { middle: node },
            },
            Family::Skew => {
                let seconds = rng.random_range(20..300) * if rng.random_bool(0.5) { 1 } else { -1 };
                Fault::Skew { node, seconds }
            }
            Family::Wipe => Fault::Wipe(node),
            Family::Composite => {
                hold = hold.max(Duration::from_secs(9));
                Fault::Composite { isolated: node, killed: other }
            }
        };
        if at + hold > end {
            break;
        }
        steps.push(Step { at, hold, fault });
        t = at + hold;
    }
    steps
}

/// Runs the schedule against the cluster, recording each fault's window.
pub async fn run(
    steps: Vec<Step>,
    cluster: Arc<Mutex<Cluster>>,
    net: Arc<SharedNet>,
    history: Arc<History>,
    began: tokio::time::Instant,
) -> Result<()> {
    for step in steps {
        tokio::time::sleep_until(began + step.at).await;
        let start = history.now();
        let label = inject(&step, &cluster, &net).await?;
        tracing::info!(fault = %label, hold = ?step.hold, "nemesis");
        if let Fault::Composite { killed, .. } = step.fault {
            // Writes build up against the majority, then `killed` dies and
            // comes back while `isolated` is still cut off.
            let third = step.hold / 3;
            tokio::time::sleep(third).await;
            cluster.lock().await.nodes[killed].kill9();
            tokio::time::sleep(third).await;
            cluster.lock().await.nodes[killed].spawn()?;
            tokio::time::sleep(step.hold - 2 * third).await;
        } else {
            tokio::time::sleep(step.hold).await;
        }
        heal(&step, &cluster, &net).await?;
        history.record(Op::Nemesis { fault: label, start, end: history.now() });
    }
    Ok(())
}

async fn resolve(target: Target, cluster: &Mutex<Cluster>) -> usize {
    match target {
        Target::Node(n) => n,
        Target::BusiestLeader => cluster.lock().await.busiest_leader().await.unwrap_or(0),
    }
}

async fn inject(step: &Step, cluster: &Mutex<Cluster>, net: &SharedNet) -> Result<String> {
    let nodes = cluster.lock().await.nodes.len();
    let others = |n: usize| (0..nodes).filter(|m| *m != n).collect::<Vec<_>>();
    let leader_note = |t: Target| if t == Target::BusiestLeader { " (busiest leader)" } else { "" };
    Ok(match step.fault {
        Fault::Kill(t) => {
            let n = resolve(t, cluster).await;
            cluster.lock().await.nodes[n].kill9();
            format!("kill n{n}{}", leader_note(t))
        }
        Fault::Pause(t) => {
            let n = resolve(t, cluster).await;
            cluster.lock().await.nodes[n].pause();
            format!("pause n{n}{}", leader_note(t))
        }
        Fault::Isolate(t) => {
            let n = resolve(t, cluster).await;
            net::change(net, |net| net.partition(&[n], &others(n)))?;
            format!("isolate n{n}{}", leader_note(t))
        }
        Fault::Bridge { middle } => {
            let ends = others(middle);
            net::change(net, |n| n.partition(&ends[..1], &ends[1..]))?;
            format!("bridge via n{middle}")
        }
        Fault::Skew { node, seconds } => {
            cluster.lock().await.nodes[node].skew(seconds)?;
            format!("skew n{node} {seconds:+}s")
        }
        Fault::Wipe(n) => {
            cluster.lock().await.nodes[n].wipe()?;
            format!("wipe n{n}")
        }
        Fault::Composite { isolated, killed } => {
            net::change(net, |n| n.partition(&[isolated], &others(isolated)))?;
            format!("isolate n{isolated}, kill and restart n{killed}")
        }
    })
}

async fn heal(step: &Step, cluster: &Mutex<Cluster>, net: &SharedNet) -> Result<()> {
    match step.fault {
        Fault::Isolate(_) | Fault::Bridge { .. } | Fault::Composite { .. } => {
            net::change(net, |n| n.heal())?;
        }
        Fault::Kill(_) | Fault::Pause(_) | Fault::Skew { .. } | Fault::Wipe(_) => {
            cluster.lock().await.recover_all()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_reproducible_from_its_seed() {
        let a = schedule(7, &Family::ALL, 3, Duration::from_secs(120), false);
        let b = schedule(7, &Family::ALL, 3, Duration::from_secs(120), false);
        let c = schedule(8, &Family::ALL, 3, Duration::from_secs(120), false);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 8, "{a:?}");
    }

    #[test]
    fn a_schedule_rotates_families_and_ends_quiet() {
        let duration = Duration::from_secs(90);
        let steps = schedule(1, &[Family::Kill, Family::Partition], 3, duration, false);
        for (i, step) in steps.iter().enumerate() {
            let is_kill = matches!(step.fault, Fault::Kill(_));
            assert_eq!(is_kill, i % 2 == 0, "{steps:?}");
            assert!(step.at + step.hold <= duration - Duration::from_secs(4));
        }
        for pair in steps.windows(2) {
            assert!(pair[1].at >= pair[0].at + pair[0].hold, "faults overlap: {pair:?}");
        }
        assert!(schedule(1, &[], 3, duration, false).is_empty());
    }
}
