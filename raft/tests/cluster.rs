//! Three-node clusters in one process (real gRPC on 127.0.0.1, one data
//! directory per node, a shared `NetFilter` for faults): formation,
//! read-your-writes across nodes, leader isolation, slow links, restarts, a
//! wiped node rebuilt by snapshot, leader balance, and retried proposals.

mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use balsa_model::units::ByteSize;
use balsa_raft::ProposeError;
use harness::{ANNOUNCED, Cluster, Line, NodeId, Opts, captured, eventually};

const SECOND: Duration = Duration::from_secs(1);
/// raft/src/node.rs PEER_DOWN_AFTER: a peer unanswered this long is down.
const PEER_DOWN: Duration = Duration::from_millis(1200);

fn timed(name: &str) -> impl Drop {
    struct T(String, Instant);
    impl Drop for T {
        fn drop(&mut self) {
            eprintln!("{} took {:?}", self.0, self.1.elapsed());
        }
    }
    T(name.to_string(), Instant::now())
}

/// 1. Nodes opened in reverse order, each calling `form()` as the binary
/// does at startup, form one cluster; `form()` again, and a restart of the
/// forming node, never re-initializes (terms and logs only move forward,
/// data stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_in_any_order_and_form_is_idempotent() {
    let _t = timed("forms_in_any_order");
    let mut c = Cluster::new(Opts::default()).await;
    let mut forms = Vec::new();
    for id in [2, 1, 0] {
        let node = c.open(id).await;
        forms.push(tokio::spawn(async move { node.form().await }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for f in forms {
        tokio::time::timeout(10 * SECOND, f).await.expect("form() returns once the cluster is formed").unwrap();
    }
    c.wait_ready(10 * SECOND).await;

    let mut acked = Vec::new();
    for shard in 0..c.shards() {
        acked.extend(c.push(1, shard, 2).await.expect("push after formation"));
    }
    c.assert_every_node_reads(&acked).await;
    let before = c.status(0);

    // form() again on every node: returns at once and changes nothing.
    let started = Instant::now();
    c.form_all().await;
    assert!(started.elapsed() < SECOND, "form() on a formed cluster returns at once ({:?})", started.elapsed());
    for (b, a) in before.iter().zip(c.status(0)) {
        assert!(a.term >= b.term && a.last_log >= b.last_log, "shard {}: {b:?} -> {a:?}", b.shard);
    }

    // Restart the forming node cut off from its peers, so what it shows can
    // only come from its own disk: its vote and log must be back, and form()
    // must see the groups initialized (it would otherwise wait for peers).
    c.isolate(0);
    let node0 = c.restart(0).await;
    eventually(5 * SECOND, "the restarted node publishes its groups' state", || {
        node0.status().iter().all(|s| s.last_log.is_some())
    })
    .await;
    for (b, a) in before.iter().zip(node0.status()) {
        assert!(a.term >= b.term, "shard {}: term went back after restart: {b:?} -> {a:?}", b.shard);
        assert!(a.last_log >= b.last_log, "shard {}: log went back after restart: {b:?} -> {a:?}", b.shard);
    }
    let started = Instant::now();
    tokio::time::timeout(5 * SECOND, node0.form()).await.expect("form() after a restart does not try to re-form");
    assert!(started.elapsed() < SECOND, "form() after a restart returns at once");
    c.heal();
    c.wait_ready(10 * SECOND).await;
    for (b, a) in before.iter().zip(node0.status()) {
        assert!(a.term >= b.term && a.last_log >= b.last_log, "shard {}: {b:?} -> {a:?}", b.shard);
    }
    drop(node0);
    c.assert_every_node_reads(&acked).await;
    for shard in 0..c.shards() {
        acked.extend(c.push(0, shard, 1).await.expect("push through the restarted node"));
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 2. A push acknowledged through one node is visible to a read through any
/// other node that starts after the acknowledgement, on every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_across_nodes() {
    let _t = timed("read_your_writes_across_nodes");
    let c = Cluster::start(Opts::default()).await;
    let mut acked: BTreeMap<u32, Vec<Line>> = BTreeMap::new();
    for shard in 0..c.shards() {
        for a in c.ids() {
            for b in c.ids().into_iter().filter(|b| *b != a) {
                let pushed = c.push(a, shard, 1).await.unwrap_or_else(|e| panic!("push via {a}: {e}"));
                let expected = acked.entry(shard).or_default();
                expected.extend(pushed);
                expected.sort();
                let got = c.read_shard(b, shard).await.unwrap_or_else(|e| panic!("read via {b}: {e}"));
                harness::assert_lines_eq(&got, expected, &format!("shard {shard}, pushed via {a}, read via {b}"));
            }
        }
    }
    let all: Vec<Line> = acked.into_values().flatten().collect();
    c.assert_every_node_reads(&all).await;
    c.shutdown().await;
}

/// 3. The isolated leader of a shard is replaced by the majority, which keeps
/// accepting writes; the isolated node neither acknowledges a write nor
/// serves a linearizable read; after healing it catches up and every node
/// returns the same, with nothing acknowledged lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_leader_is_replaced_and_converges_after_heal() {
    let _t = timed("isolated_leader");
    let c = Cluster::start(Opts::default()).await;
    let shard = 1;
    let mut acked = Vec::new();
    for id in c.ids() {
        for s in 0..c.shards() {
            acked.extend(c.push(id, s, 1).await.expect("push before the partition"));
        }
    }
    let old = c.leader_of(shard).expect("a leader");
    let majority: Vec<NodeId> = c.ids().into_iter().filter(|id| *id != old).collect();
    c.isolate(old);
    let cut = Instant::now();
    let new = c.wait_leader(&majority, shard, 10 * SECOND, |l| l != old).await;
    let elected_in = cut.elapsed();
    // "A few election timeouts": detection (max 600ms) plus a pre-vote and a vote round.
    assert!(elected_in < 3 * SECOND, "shard {shard}: new leader {new} after {elected_in:?}");
    eprintln!("shard {shard}: node {new} replaced isolated leader {old} after {elected_in:?}");

    // The majority accepts writes on every shard, through either of its nodes.
    for s in 0..c.shards() {
        c.wait_leader(&majority, s, 10 * SECOND, |l| l != old).await;
        for id in &majority {
            acked.extend(c.push(*id, s, 2).await.unwrap_or_else(|e| panic!("shard {s} via majority node {id}: {e}")));
        }
    }

    // The isolated node must not acknowledge what it cannot replicate, nor
    // serve a read it cannot prove current.
    let (cmd, _never) = c.command(shard, "isolated", 1, 0);
    let isolated = c.node(old);
    let (write, read) = tokio::join!(isolated.propose(shard, &cmd), isolated.read_barrier(shard));
    assert!(matches!(write, Err(ProposeError::Unavailable { .. })), "write on the isolated node: {write:?}");
    assert!(matches!(read, Err(ProposeError::Unavailable { .. })), "read barrier on the isolated node: {read:?}");
    drop(isolated);

    c.heal();
    c.wait_ready(10 * SECOND).await;
    // Convergence and durability; the isolated write (its entry appended only
    // on the old leader, at an older term) must have been replaced, so an
    // exact match also proves it is absent everywhere.
    c.assert_every_node_reads(&acked).await;
    let leader = c.leader_of(shard).expect("leader after heal");
    eventually(5 * SECOND, "the old leader applies what the new leader applied", || {
        c.status(old)[shard as usize].applied >= c.status(leader)[shard as usize].applied
    })
    .await;
    eprintln!("after heal node {old} sees shard {shard}: {:?}", c.status(old)[shard as usize]);
    for s in 0..c.shards() {
        acked.extend(c.push(old, s, 1).await.expect("the healed node serves writes"));
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 4. With every call between nodes 0 and 1 delayed by 50ms (both ways),
/// writes through any node still commit and reads stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_links_still_commit_and_read_correctly() {
    let _t = timed("delayed_links");
    let c = Cluster::start(Opts::default()).await;
    let delay = Duration::from_millis(50);
    c.filter.delay_link(0, 1, delay);
    c.filter.delay_link(1, 0, delay);

    let mut acked = Vec::new();
    for round in 0..2 {
        for shard in 0..c.shards() {
            for via in c.ids() {
                let pushed = c
                    .push(via, shard, 1)
                    .await
                    .unwrap_or_else(|e| panic!("round {round} shard {shard} via {via}: {e}"));
                acked.extend(pushed.clone());
                // Read through a node on the other side of the slow link.
                let reader = if via == 0 { 1 } else { 0 };
                let got = c.read_shard(reader, shard).await.expect("read under delay");
                assert!(pushed.iter().all(|l| got.contains(l)), "read via {reader} misses a push via {via}");
            }
        }
    }
    // The filter is really in the path: a push forwarded over the slow link
    // takes at least the delay.
    if let Some(shard) = (0..c.shards()).find(|s| matches!(c.leader_of(*s), Some(0 | 1))) {
        let via = if c.leader_of(shard) == Some(0) { 1 } else { 0 };
        let started = Instant::now();
        acked.extend(c.push(via, shard, 1).await.expect("forwarded push"));
        assert!(started.elapsed() >= delay, "forwarded over a 50ms link in {:?}", started.elapsed());
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 5. A node stopped (the leader of every group after formation) and
/// reopened on the same directory rejoins and serves everything, including
/// what was written while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_rejoins_with_everything() {
    let _t = timed("restarted_node");
    let mut c = Cluster::start(Opts::default()).await;
    let mut acked = Vec::new();
    for shard in 0..c.shards() {
        for via in c.ids() {
            acked.extend(c.push(via, shard, 1).await.expect("push"));
        }
    }
    let victim = c.leader_of(0).expect("leader");
    let rest: Vec<NodeId> = c.ids().into_iter().filter(|id| *id != victim).collect();
    c.stop(victim).await;
    for shard in 0..c.shards() {
        c.wait_leader(&rest, shard, 10 * SECOND, |l| l != victim).await;
        for via in &rest {
            acked.extend(c.push(*via, shard, 2).await.expect("push while a node is down"));
        }
    }
    let node = c.open(victim).await;
    tokio::time::timeout(5 * SECOND, node.form()).await.expect("form() after restart");
    drop(node);
    c.wait_ready(10 * SECOND).await;
    c.assert_every_node_reads(&acked).await;
    for shard in 0..c.shards() {
        acked.extend(c.push(victim, shard, 1).await.expect("push through the restarted node"));
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 6. A follower whose directory is wiped rejoins under the same id and is
/// rebuilt by snapshot (the leaders purged their logs), sealed chunks
/// included, while writes continue. The leader materializes the snapshot when
/// it sends it, so the follower gets newer metadata than openraft announced
/// (printed below): the follower must install it and then accept the
/// leader's appends from the older announced point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_node_is_rebuilt_by_snapshot() {
    let _t = timed("wiped_node");
    wiped_node_rejoins(0).await;
}

/// 6b. Like 6, but the cluster takes enough writes while the node is gone
/// that the leaders build a snapshot they may not purge yet (their
/// replication to the absent node still needs the log). Fails on openraft
/// 0.10.0-alpha.37 with `allow_log_reversion`: when the wiped node answers
/// with a conflict, the leader resets its progress and purges at once, but
/// the replication task's old `LogsSince` session keeps streaming; the
/// rebuilt node acknowledges its first (stale) request, because everything
/// in it is below the snapshot it just installed, and the session then reads
/// the purged range: a `debug_assert` in `replication/stream_state.rs:103`
/// ("expect AppendEntries prev_log_id(..) to be immediately before the first
/// entry") kills that shard's replication task and the node never catches
/// up. Run with `--ignored` to reproduce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "openraft 0.10.0-alpha.37 replication bug after a log reversion reset; see the doc comment"]
async fn wiped_node_rejoins_after_writes_while_it_was_gone() {
    let _t = timed("wiped_node_after_writes");
    wiped_node_rejoins(15).await;
}

async fn wiped_node_rejoins(pushes_while_gone: u64) {
    let mut opts = Opts::default();
    opts.raft.snapshot_logs_since_last = 20;
    opts.raft.max_in_snapshot_log_to_keep = 0;
    opts.ingester.chunk_target_size = ByteSize(512);
    opts.ingester.chunk_block_size = ByteSize(256);
    let mut c = Cluster::start(opts).await;
    let victim: NodeId = 2;
    c.node(victim).hand_off_leadership(5 * SECOND).await;

    let mut acked = Vec::new();
    for i in 0..30u64 {
        for shard in 0..c.shards() {
            acked.extend(c.push_padded(i % 3, shard, 2, 40).await.expect("fill"));
        }
    }
    for shard in 0..c.shards() {
        assert!(c.status(0)[shard as usize].chunks > 0, "shard {shard} has sealed chunks to carry");
    }

    let mark_installed = captured("installed snapshot").len();
    let mark_received = captured("received snapshot").len();
    let mark_announced = captured(ANNOUNCED).len();
    c.wipe(victim).await;
    for i in 0..pushes_while_gone {
        for shard in 0..c.shards() {
            acked.extend(c.push_padded(i % 2, shard, 2, 40).await.expect("push while the node is gone"));
        }
    }
    let node = c.open(victim).await;
    tokio::time::timeout(5 * SECOND, node.form()).await.expect("form() on a wiped non-forming node");
    drop(node);
    // Writes go on while the node is being rebuilt.
    let writer = async {
        let mut out = Vec::new();
        // Few enough that no leader builds (and purges to) a new snapshot
        // meanwhile: see 6b for what openraft does when that races.
        for i in 0..4u64 {
            for shard in 0..c.shards() {
                out.extend(c.push_padded(i % 2, shard, 1, 40).await.expect("push during rejoin"));
            }
        }
        out
    };
    let rejoin = async {
        let deadline = Instant::now() + 20 * SECOND;
        loop {
            match c.read_all(victim).await {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline => eprintln!("wiped node not caught up yet: {e}"),
                Err(e) => panic!("wiped node never caught up: {e}"),
            }
        }
    };
    let (written, ()) = tokio::join!(writer, rejoin);
    acked.extend(written);
    c.assert_every_node_reads(&acked).await;

    // The snapshot path really ran, for every shard (only the wiped node
    // installs snapshots: the others always had the log).
    let installed = captured("installed snapshot")[mark_installed..].to_vec();
    let received = captured("received snapshot")[mark_received..].to_vec();
    let announced = captured(ANNOUNCED)[mark_announced..].to_vec();
    for shard in 0..c.shards() {
        let s = shard.to_string();
        assert!(
            installed.iter().any(|e| e.fields.get("shard") == Some(&s)),
            "shard {shard} was not installed from a snapshot: {installed:?}"
        );
    }
    // Log ids print as `LogId { .., index: 46 }` (ours) or `T1-N0.46` (openraft's).
    let index_of = |s: &str| -> Option<u64> {
        let tail = match s.find("index: ") {
            Some(i) => &s[i + 7..],
            None => &s[s.find("last_log:")?..][s[s.find("last_log:")?..].find('.')? + 1..],
        };
        tail.split(|ch: char| !ch.is_ascii_digit()).next()?.parse().ok()
    };
    let announced_idx: Vec<Option<u64>> = announced.iter().map(|e| index_of(&e.fields["meta"])).collect();
    let sent: Vec<(String, Option<u64>)> =
        received.iter().map(|e| (e.fields["shard"].clone(), index_of(&e.fields["last_log_id"]))).collect();
    let installed_at: Vec<(String, Option<u64>)> =
        installed.iter().map(|e| (e.fields["shard"].clone(), index_of(&e.fields["last_log_id"]))).collect();
    eprintln!(
        "snapshot indexes announced by openraft: {announced_idx:?}; received (shard, index): {sent:?}; installed: {installed_at:?}"
    );
    // The leader materialized newer state than openraft announced, and the
    // follower took it (the design under test).
    let newest_announced = announced_idx.iter().flatten().max().copied().unwrap_or(0);
    assert!(
        sent.iter().any(|(_, i)| i.unwrap_or(0) > newest_announced),
        "no snapshot carried newer metadata than announced ({newest_announced}): {sent:?}"
    );
    // The leaders know the rebuilt node is caught up (their progress for it
    // follows its acknowledgements again, so they may purge and move
    // leadership to it).
    eventually(5 * SECOND, "leaders see the rebuilt node caught up", || {
        (0..c.shards()).all(|shard| {
            let Some(l) = c.leader_of(shard) else { return false };
            let st = &c.status(l)[shard as usize];
            st.replicas.get(&victim).copied().flatten() == st.last_log
        })
    })
    .await;
    // Sealed chunks arrived with the snapshot.
    let leader_view = c.status(0);
    for (mine, theirs) in c.status(victim).iter().zip(&leader_view) {
        assert!(mine.chunks > 0 && mine.chunks == theirs.chunks, "chunks: {mine:?} vs {theirs:?}");
    }
    // And the rebuilt node keeps up with ordinary replication afterwards.
    for shard in 0..c.shards() {
        acked.extend(c.push(victim, shard, 1).await.expect("push through the rebuilt node"));
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 7. After formation the forming node leads every group; `rebalance_leaders`
/// spreads leadership to within one group per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_spreads_leaders() {
    let _t = timed("rebalance");
    let c = Cluster::start(Opts { shards: 6, ..Opts::default() }).await;
    let spread = |counts: &BTreeMap<NodeId, usize>| counts.values().max().unwrap() - counts.values().min().unwrap();
    let initial = c.leader_counts();
    assert!(spread(&initial) >= 2, "formation should leave leaders piled up: {initial:?}");

    let deadline = Instant::now() + 15 * SECOND;
    let mut rounds = 0;
    loop {
        let counts = c.leader_counts();
        if counts.values().sum::<usize>() == c.shards() as usize && spread(&counts) <= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "leaders still unbalanced after {rounds} rounds: {counts:?}");
        for id in c.ids() {
            c.node(id).rebalance_leaders().await;
        }
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let counts = c.leader_counts();
    eprintln!("leaders {initial:?} -> {counts:?} in {rounds} rounds");
    // Balanced leaders stay put.
    for id in c.ids() {
        assert_eq!(c.node(id).rebalance_leaders().await, 0, "node {id} moved leaders out of a balanced cluster");
    }
    c.wait_ready(5 * SECOND).await;
    let mut acked = Vec::new();
    for shard in 0..c.shards() {
        acked.extend(c.push(2, shard, 1).await.expect("push after the moves"));
    }
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 7b. A node cut off keeps matching the whole log of every idle group it
/// does not lead; rebalancing must not hand it leadership (each such move
/// left a group leaderless until an election, again at every round).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_never_moves_leadership_to_an_unreachable_node() {
    let _t = timed("rebalance_unreachable");
    let c = Cluster::start(Opts { shards: 6, ..Opts::default() }).await;
    let deadline = Instant::now() + 15 * SECOND;
    while c.leader_counts().get(&2).copied().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "node 2 never got a leader: {:?}", c.leader_counts());
        for id in c.ids() {
            c.node(id).rebalance_leaders().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.isolate(2);
    eventually(10 * SECOND, "nodes 0 and 1 lead every group", || {
        let counts = c.leader_counts();
        counts.get(&2).copied().unwrap_or(0) == 0 && counts.values().sum::<usize>() == c.shards() as usize
    })
    .await;
    tokio::time::sleep(2 * PEER_DOWN).await;
    for round in 0..3 {
        for id in [0, 1] {
            assert_eq!(c.node(id).rebalance_leaders().await, 0, "round {round}: node {id} moved leadership");
        }
    }
    c.node(0).hand_off_leadership(2 * SECOND).await;
    assert_eq!(c.leader_counts().get(&2).copied().unwrap_or(0), 0, "leadership went to the cut-off node");
    let mut acked = Vec::new();
    for shard in 0..c.shards() {
        acked.extend(c.push(1, shard, 1).await.expect("every group keeps a leader"));
    }
    c.heal();
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 7c. A leadership transfer whose target is cut off as it is asked leaves
/// the old leader forwarding everything to the target (openraft keeps the
/// transferring state until a new term); the node transfers again to a
/// live member, and every group serves writes within seconds. (Followers of
/// a quiesced group run no election timer, so no one else ends it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_a_node_cut_off_meanwhile_is_redone() {
    let _t = timed("stuck_transfer");
    let c = Cluster::start(Opts { shards: 6, ..Opts::default() }).await;
    // Every group on node 0, as after formation; node 2 just answered a ping.
    let deadline = Instant::now() + 15 * SECOND;
    while c.leader_counts().get(&0).copied().unwrap_or(0) < c.shards() as usize {
        assert!(Instant::now() < deadline, "node 0 does not lead every group: {:?}", c.leader_counts());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Idle groups quiesce after 2 s: followers stop their election timers.
    tokio::time::sleep(3 * SECOND).await;
    c.isolate(2);
    // Node 2 still counts as alive for up to PEER_DOWN: some moves go to it.
    let moved = c.node(0).rebalance_leaders().await;
    assert!(moved >= 2, "rebalance moved {moved} groups");
    // Within a few seconds (TRANSFER_TIMEOUT, then one transfer) every
    // group takes writes again; without the redo, those moved to node 2
    // refuse them until it returns.
    let deadline = Instant::now() + 10 * SECOND;
    let mut acked = Vec::new();
    for shard in 0..c.shards() {
        loop {
            match c.push(1, shard, 1).await {
                Ok(lines) => break acked.extend(lines),
                Err(e) => assert!(Instant::now() < deadline, "shard {shard} still takes no writes: {e}"),
            }
        }
    }
    c.heal();
    c.assert_every_node_reads(&acked).await;
    c.shutdown().await;
}

/// 8. A proposal retried (as a client does after a timeout), through the same
/// or another node, stores its lines once: in the head, and also when the
/// first copy was already sealed into a chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_proposal_is_stored_once() {
    let _t = timed("retried_proposal");
    let mut opts = Opts::default();
    opts.ingester.chunk_target_size = ByteSize(300);
    opts.ingester.chunk_block_size = ByteSize(256);
    let c = Cluster::start(opts).await;
    let shard = 2;
    let mut expected = Vec::new();

    let (cmd, lines) = c.command(shard, "retry", 3, 0);
    for via in [1, 1, 2, 0] {
        c.propose(via, shard, &cmd).await.unwrap_or_else(|e| panic!("proposal via {via}: {e}"));
    }
    expected.extend(lines);
    c.assert_every_node_reads(&expected).await;

    // The first copy gets sealed before the retry arrives.
    let (cmd, lines) = c.command(shard, "sealed", 3, 0);
    c.propose(0, shard, &cmd).await.expect("first attempt");
    expected.extend(lines);
    let chunks_before = c.status(0)[shard as usize].chunks;
    for _ in 0..3 {
        expected.extend(c.push_padded(0, shard, 2, 100).await.expect("filler"));
    }
    let sealed = c.status(0)[shard as usize].chunks;
    assert!(sealed > chunks_before, "filler should seal the first copy ({chunks_before} -> {sealed} chunks)");
    c.propose(2, shard, &cmd).await.expect("retry after sealing");
    c.assert_every_node_reads(&expected).await;
    // And once the retried copy is sealed too (duplicates in two chunks).
    for _ in 0..3 {
        expected.extend(c.push_padded(1, shard, 2, 100).await.expect("filler"));
    }
    assert!(c.status(0)[shard as usize].chunks > sealed, "the retried copy is sealed as well");
    c.assert_every_node_reads(&expected).await;
    c.shutdown().await;
}

/// A write forwarded to a leader that a partition has just cut off must not
/// wait out the whole operation timeout: as soon as the forwarding node sees
/// a new leader, it retries there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_write_follows_a_new_leader_instead_of_hanging() {
    let _t = timed("forward_after_partition");
    let c = Cluster::start(Opts::default()).await;
    let shard = 0;
    let old = c.leader_of(shard).expect("a leader");
    let via = c.ids().into_iter().find(|id| *id != old).expect("a follower");
    c.isolate(old);
    let started = Instant::now();
    let lines = c.push(via, shard, 1).await.expect("the majority takes the write");
    let took = started.elapsed();
    let op_timeout = harness::fast_raft().op_timeout;
    assert!(took < op_timeout, "forwarded write took {took:?}, as long as the op timeout {op_timeout:?}");
    c.heal();
    c.wait_ready(10 * SECOND).await;
    let got = c.read_shard(via, shard).await.expect("read after heal");
    assert!(lines.iter().all(|l| got.contains(l)), "the acknowledged line is readable");
    c.shutdown().await;
}
