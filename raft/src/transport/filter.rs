//! Fault injection between nodes, for tests (in the style of TiKV's
//! test_raftstore filters): drop (blackhole: the call hangs until its
//! deadline) or delay messages from one node to another. Every outgoing call
//! of a node passes through its pool's filter; nodes of one in-process test
//! cluster share one.

use std::sync::RwLock;
use std::time::Duration;

use crate::types::NodeId;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Drop { from: NodeId, to: NodeId },
    Delay { from: NodeId, to: NodeId, by: Duration },
}

/// What to do with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Delay(Duration),
    Blackhole,
}

#[derive(Debug, Default)]
pub struct NetFilter {
    rules: RwLock<Vec<Rule>>,
}

impl NetFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every call from `from` to `to`.
    pub fn drop_link(&self, from: NodeId, to: NodeId) {
        self.rules.write().expect("filter lock").push(Rule::Drop { from, to });
    }

    /// Cuts `node` off from every node in `others`, both ways.
    pub fn isolate(&self, node: NodeId, others: &[NodeId]) {
        for o in others.iter().filter(|o| **o != node) {
            self.drop_link(node, *o);
            self.drop_link(*o, node);
        }
    }

    /// Delays every call from `from` to `to`.
    pub fn delay_link(&self, from: NodeId, to: NodeId, by: Duration) {
        self.rules.write().expect("filter lock").push(Rule::Delay { from, to, by });
    }

    /// Removes every rule.
    pub fn heal(&self) {
        self.rules.write().expect("filter lock").clear();
    }

    pub fn verdict(&self, from: NodeId, to: NodeId) -> Verdict {
        let rules = self.rules.read().expect("filter lock");
        let mut verdict = Verdict::Pass;
        for r in rules.iter() {
            match r {
                Rule::Drop { from: f, to: t } if *f == from && *t == to => return Verdict::Blackhole,
                Rule::Delay { from: f, to: t, by } if *f == from && *t == to => verdict = Verdict::Delay(*by),
                _ => {}
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let f = NetFilter::new();
        assert_eq!(f.verdict(1, 2), Verdict::Pass);
        f.isolate(1, &[0, 1, 2]);
        assert_eq!(f.verdict(1, 2), Verdict::Blackhole);
        assert_eq!(f.verdict(0, 1), Verdict::Blackhole);
        assert_eq!(f.verdict(0, 2), Verdict::Pass);
        f.heal();
        f.delay_link(0, 2, Duration::from_millis(5));
        assert_eq!(f.verdict(0, 2), Verdict::Delay(Duration::from_millis(5)));
        assert_eq!(f.verdict(2, 0), Verdict::Pass);
    }
}
