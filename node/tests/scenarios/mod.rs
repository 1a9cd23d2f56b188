//! The churn scenarios of issue 7 as functions, shared by their tests
//! (`sleeping_phone.rs`, `partition.rs`, `churn.rs`: few trials, asserted)
//! and the scenario bench (`benches/scenarios.rs`: many trials, timed).
//! Every scenario runs real nodes on loopback with real SQLite files, and
//! returns what it measured; it panics with a reason when a record that
//! was acknowledged is missing somewhere it should be.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::record::MailboxId;
use pigeonhole_node::{Node, NodeConfig};

use crate::common::*;
use crate::support::*;

/// Longest a scenario waits for replicas to converge.
pub const CONVERGE_BOUND: Duration = Duration::from_secs(30);

/// A random inbox (random owner key and token).
pub fn random_inbox() -> MailboxId {
    ContactCode::new(
        identity(rand::random::<u8>()).public_key(),
        InboxToken(rand::random()),
    )
    .inbox_id()
}

/// Index of the node whose peer id is closest to `mailbox` (kad distance).
pub fn closest_to(nodes: &[Node], mailbox: &MailboxId) -> usize {
    let target = KBucketKey::new(RecordKey::new(&mailbox.0));
    (0..nodes.len())
        .min_by_key(|i| KBucketKey::from(nodes[*i].peer_id()).distance(&target))
        .expect("nodes")
}

/// Indices of the `factor` nodes closest to `mailbox` (the default
/// replication factor): the replica set when every node is known.
pub fn replicas_of(nodes: &[Node], mailbox: &MailboxId) -> Vec<usize> {
    let factor = NodeConfig::default().replication.factor.get();
    let target = KBucketKey::new(RecordKey::new(&mailbox.0));
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|i| KBucketKey::from(nodes[*i].peer_id()).distance(&target));
    order.truncate(factor);
    order
}

/// Reads `mailbox` from every node in `nodes` (a network read: listing
/// from the replicas) and checks each finds every id in `want`.
pub async fn every_node_reads(
    nodes: &[Node],
    clock: &Arc<ManualClock>,
    mailbox: MailboxId,
    want: &std::collections::BTreeSet<[u8; 32]>,
) {
    for (i, node) in nodes.iter().enumerate() {
        let fetched = mailbox_of(node, clock)
            .fetch_all(mailbox)
            .await
            .unwrap_or_else(|e| panic!("node {i} cannot read: {e}"));
        let ids: Vec<[u8; 32]> = fetched.records.iter().map(|r| r.id()).collect();
        let set: std::collections::BTreeSet<[u8; 32]> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len(), "node {i} read a record twice");
        let missing = want.difference(&set).count();
        assert_eq!(
            missing,
            0,
            "node {i} read {} of {}",
            want.len() - missing,
            want.len()
        );
    }
}

fn mailbox_of(node: &Node, clock: &Arc<ManualClock>) -> pigeonhole::mailbox::Mailbox<Node> {
    mailbox(node, clock)
}

/// A config with its own data directory on the shared clock.
pub fn persistent_config(dir: &Path, clock: &Arc<ManualClock>) -> NodeConfig {
    NodeConfig {
        data_dir: Some(dir.to_path_buf()),
        ..node_config(clock)
    }
}

/// Polls until `node` holds every record in `want` (bytes under their
/// slot keys) or `bound` passes; returns how long it took, or `None`.
pub async fn wait_until_held(
    node: &Node,
    want: &[pigeonhole::record::Record],
    bound: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let deadline = start + bound;
    loop {
        let mut all = true;
        for record in want {
            let held = node.held(record.dht_key()).await.ok().flatten();
            if held.as_deref() != Some(record.bytes()) {
                all = false;
                break;
            }
        }
        if all {
            return Some(start.elapsed());
        }
        if Instant::now() >= deadline {
            return None;
        }
        let accepted = node.status().records_accepted;
        // Wake on the next stored record, or re-check every 50 ms.
        node.wait_for_status(|s| s.records_accepted > accepted, Duration::from_millis(50))
            .await;
    }
}

/// What one sleeping-phone trial measured.
#[derive(Debug, Clone, Copy)]
pub struct SleepingPhone {
    /// From the restarted node's start to its first open connection (the
    /// floor under `converge`: repair cannot start before).
    pub connected: Duration,
    /// From the restarted node's start to it holding the record.
    pub converge: Duration,
}

/// Six nodes; the node closest to Bob's inbox is stopped; Alice publishes
/// a request into the inbox and leaves; the stopped node restarts with the
/// same peer id and data directory, knowing only Bob. It must become a
/// complete replica (hold the request) within [`CONVERGE_BOUND`], and Bob
/// and every other live node must read the request.
pub async fn sleeping_phone_trial(clock: &Arc<ManualClock>) -> SleepingPhone {
    const NODES: usize = 6;
    let dirs: Vec<tempfile::TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let mut nodes = Vec::with_capacity(NODES);
    for path in &paths {
        nodes.push(
            Node::start(persistent_config(path, clock))
                .await
                .expect("start"),
        );
    }
    connect_all(&nodes).await;
    let inbox = random_inbox();
    let phone = closest_to(&nodes, &inbox);
    let alice = (phone + 1) % NODES;
    let bob = (phone + 2) % NODES;
    let phone_id = nodes[phone].peer_id();
    nodes[phone].stop().await;

    let request = mailbox(&nodes[alice], clock)
        .publish(
            &identity(rand::random::<u8>()),
            request_draft(inbox, 3 * DAY),
        )
        .await
        .expect("Alice publishes while the phone sleeps");
    nodes[alice].stop().await;

    let restarted_at = Instant::now();
    let woken = Node::start(persistent_config(&paths[phone], clock))
        .await
        .expect("restart the phone");
    assert_eq!(
        woken.peer_id(),
        phone_id,
        "the phone came back under another id"
    );
    woken
        .add_peer(nodes[bob].listen_addrs()[0].clone())
        .await
        .expect("the phone dials Bob");
    woken
        .wait_for_status(|s| s.connected_peers >= 1, CONVERGE_BOUND)
        .await;
    let connected = restarted_at.elapsed();
    let held = wait_until_held(&woken, std::slice::from_ref(&request), CONVERGE_BOUND).await;
    let converge = restarted_at.elapsed();
    assert!(
        held.is_some(),
        "the woken phone did not get the request within {CONVERGE_BOUND:?}"
    );
    nodes[phone] = woken;

    for (i, node) in nodes.iter().enumerate() {
        if i == alice {
            continue;
        }
        let fetched = mailbox(node, clock)
            .fetch_all(inbox)
            .await
            .unwrap_or_else(|e| panic!("node {i} cannot read the inbox: {e}"));
        let ids: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
        assert_eq!(
            ids,
            vec![request.id()],
            "node {i} (bob = {bob}, phone = {phone})"
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        if i != alice {
            node.stop().await;
        }
    }
    drop(dirs);
    SleepingPhone {
        connected,
        converge,
    }
}

/// Polls until every node in `nodes` holds exactly the record ids `want`
/// of `mailbox` (as a set, no duplicates) or `bound` passes; returns the
/// time taken, or the first node's mismatch.
pub async fn wait_until_all_hold(
    nodes: &[Node],
    mailbox: MailboxId,
    want: &std::collections::BTreeSet<[u8; 32]>,
    bound: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let mut mismatch = None;
        for (i, node) in nodes.iter().enumerate() {
            let held = node.held_ids(mailbox).await.expect("held ids");
            let set: std::collections::BTreeSet<[u8; 32]> = held.iter().copied().collect();
            if set.len() != held.len() || set != *want {
                mismatch = Some(format!(
                    "node {i} holds {} ids ({} distinct), {} wanted, {} missing",
                    held.len(),
                    set.len(),
                    want.len(),
                    want.difference(&set).count()
                ));
                break;
            }
        }
        match mismatch {
            None => return Ok(start.elapsed()),
            Some(why) if start.elapsed() >= bound => return Err(why),
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// What one partition trial measured.
#[derive(Debug, Clone, Copy)]
pub struct Partition {
    /// From the halves being joined to every replica holding every record.
    pub converge: Duration,
    /// Records every replica holds (and every node reads) at the end.
    pub records: usize,
}

/// Two halves of `half` nodes each, unaware of each other, each write
/// `per_half` records into one mailbox from their first node (both start
/// at the same slots: every slot is contended). The halves are joined by
/// one connection; every replica of the mailbox (the `factor` closest of
/// all nodes) must then hold exactly the `2 × per_half` records (nothing
/// lost, nothing duplicated) within [`CONVERGE_BOUND`], and every node must
/// read them all.
pub async fn partition_trial(clock: &Arc<ManualClock>, half: usize, per_half: usize) -> Partition {
    let mut left = Vec::with_capacity(half);
    let mut right = Vec::with_capacity(half);
    for _ in 0..half {
        left.push(Node::start(node_config(clock)).await.expect("start"));
        right.push(Node::start(node_config(clock)).await.expect("start"));
    }
    connect_all(&left).await;
    connect_all(&right).await;
    let inbox = random_inbox();
    let mut written = std::collections::BTreeSet::new();
    let mut per_slot = std::collections::BTreeMap::<_, usize>::new();
    for (side, nodes) in [(0u8, &left), (1u8, &right)] {
        let writer = mailbox(&nodes[0], clock);
        for i in 0..per_half {
            // One sender per record: no per-sender quota gets in the way.
            let sender = identity(1 + side * 120 + (i % 120) as u8);
            let record = writer
                .publish(&sender, request_draft(inbox, 3 * DAY))
                .await
                .unwrap_or_else(|e| panic!("half {side} publish {i}: {e}"));
            *per_slot.entry(record.header.instance).or_default() += 1;
            assert!(written.insert(record.id()), "a record id repeated");
        }
    }
    let contended = per_slot.values().filter(|n| **n > 1).count();
    assert!(
        contended * 2 >= per_half,
        "the halves should contend for the same slots; only {contended} shared"
    );
    let joined_at = Instant::now();
    right[0]
        .add_peer(left[0].listen_addrs()[0].clone())
        .await
        .expect("join the halves");
    let all: Vec<Node> = left.iter().chain(&right).cloned().collect();
    let replicas: Vec<Node> = replicas_of(&all, &inbox)
        .into_iter()
        .map(|i| all[i].clone())
        .collect();
    let converge = wait_until_all_hold(&replicas, inbox, &written, CONVERGE_BOUND)
        .await
        .unwrap_or_else(|why| panic!("replicas did not converge within {CONVERGE_BOUND:?}: {why}"));
    let _ = joined_at;
    every_node_reads(&all, clock, inbox, &written).await;
    stop_all(&all).await;
    Partition {
        converge,
        records: written.len(),
    }
}

/// What one churn run measured.
#[derive(Debug, Clone, Copy)]
pub struct Churn {
    /// Publishes that returned Ok.
    pub acknowledged: usize,
    /// Publishes that failed (their writer saw an error; not counted).
    pub failed: usize,
    /// Stops and restarts done during the publishes.
    pub restarts: usize,
    /// From the last restart to every replica holding every acknowledged record.
    pub converge: Duration,
}

/// `nodes` nodes with their own data directories; 30% of them are
/// stopped and restarted (same peer id and data) at random between
/// `publishes` publishes into a few inboxes, written from the other 70%.
/// Afterwards (all running again) every replica of each inbox must hold
/// every acknowledged record of it within [`CONVERGE_BOUND`], and every
/// node (the just restarted ones included, with no routing warm-up) must
/// read them all at once.
pub async fn churn_run(clock: &Arc<ManualClock>, nodes: usize, publishes: usize) -> Churn {
    use rand::Rng;
    const INBOXES: usize = 3;
    let victims = (nodes * 3).div_ceil(10);
    let dirs: Vec<tempfile::TempDir> = (0..nodes).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let mut up: Vec<Option<Node>> = Vec::with_capacity(nodes);
    for path in &paths {
        up.push(Some(
            Node::start(persistent_config(path, clock))
                .await
                .expect("start"),
        ));
    }
    let all: Vec<Node> = up.iter().flatten().cloned().collect();
    connect_all(&all).await;
    let stable = nodes - victims;
    let inboxes: Vec<MailboxId> = (0..INBOXES).map(|_| random_inbox()).collect();
    let mut acknowledged: Vec<std::collections::BTreeSet<[u8; 32]>> =
        vec![Default::default(); INBOXES];
    let (mut failed, mut restarts) = (0, 0);
    let mut rng = rand::thread_rng();
    for i in 0..publishes {
        // Churn: now and then stop a running victim or restart a stopped one.
        if rng.gen_bool(0.3) {
            let victim = stable + rng.gen_range(0..victims);
            match up[victim].take() {
                Some(node) => node.stop().await,
                None => {
                    let node = Node::start(persistent_config(&paths[victim], clock))
                        .await
                        .expect("restart");
                    let friend = &up[rng.gen_range(0..stable)].as_ref().expect("stable");
                    node.add_peer(friend.listen_addrs()[0].clone())
                        .await
                        .expect("dial a stable node");
                    up[victim] = Some(node);
                    restarts += 1;
                }
            }
        }
        let writer = up[rng.gen_range(0..stable)].clone().expect("stable");
        let which = i % INBOXES;
        let sender = identity((i % 250) as u8 + 1);
        match mailbox(&writer, clock)
            .publish(&sender, request_draft(inboxes[which], 3 * DAY))
            .await
        {
            Ok(record) => {
                acknowledged[which].insert(record.id());
            }
            Err(_) => failed += 1,
        }
    }
    // Everyone back up.
    for victim in stable..nodes {
        if up[victim].is_none() {
            let node = Node::start(persistent_config(&paths[victim], clock))
                .await
                .expect("restart");
            node.add_peer(up[0].as_ref().unwrap().listen_addrs()[0].clone())
                .await
                .expect("dial");
            up[victim] = Some(node);
            restarts += 1;
        }
    }
    let settled_at = Instant::now();
    let all: Vec<Node> = up.into_iter().flatten().collect();
    let deadline = settled_at + CONVERGE_BOUND;
    'wait: loop {
        let mut missing = None;
        'check: for (b, want) in acknowledged.iter().enumerate() {
            for n in replicas_of(&all, &inboxes[b]) {
                let held = all[n].held_ids(inboxes[b]).await.expect("held ids");
                let set: std::collections::BTreeSet<[u8; 32]> = held.iter().copied().collect();
                assert_eq!(set.len(), held.len(), "node {n} holds a record twice");
                let lacking = want.difference(&set).count();
                if lacking > 0 {
                    missing = Some(format!("node {n} lacks {lacking} records of inbox {b}"));
                    break 'check;
                }
            }
        }
        match missing {
            None => break 'wait,
            Some(why) if Instant::now() >= deadline => {
                panic!("not converged within {CONVERGE_BOUND:?}: {why}")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let converge = settled_at.elapsed();
    // Reads at once, with no routing warm-up: a node just restarted knows
    // only the peer it dialled, so it must find each inbox's replicas (a
    // closest-peers lookup) before listing, or it reads an incomplete inbox.
    for (b, want) in acknowledged.iter().enumerate() {
        every_node_reads(&all, clock, inboxes[b], want).await;
    }
    stop_all(&all).await;
    drop(dirs);
    Churn {
        acknowledged: acknowledged.iter().map(|s| s.len()).sum(),
        failed,
        restarts,
        converge,
    }
}
