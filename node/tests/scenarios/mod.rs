//! The churn scenarios of issue 7 as functions, shared by their tests
//! (`sleeping_phone.rs`, `partition.rs`, `churn.rs`: few trials, asserted)
//! and the scenario bench (`benches/scenarios.rs`: many trials, timed).
//! Every scenario runs real nodes on loopback with real SQLite files, and
//! returns what it measured; it panics with a reason when a record that
//! was acknowledged is missing somewhere it should be.

#![allow(dead_code)]

use std::path::PathBuf;
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

/// A config with its own data directory on the shared clock.
pub fn persistent_config(dir: &PathBuf, clock: &Arc<ManualClock>) -> NodeConfig {
    NodeConfig {
        data_dir: Some(dir.clone()),
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
    SleepingPhone { converge }
}
