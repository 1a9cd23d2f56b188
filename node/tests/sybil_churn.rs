//! Sybils that join and leave: 40 raw-libp2p peers with fresh random ids
//! answer "nothing held" to every read (and claim to store every put),
//! join every honest node's routing table, leave, and are replaced by 40
//! new ids, round after round, while honest nodes publish. Every honest
//! record must still be read by every honest node, and every honest node
//! stays under 64 MiB of memory.
//!
//! Each honest node runs in its own OS process (the `pigeonhole-peer`
//! probe in command mode, `support::peer_process`), so its peak resident
//! set (`VmHWM`) is measured and asserted per node; the test drives their
//! publishes and reads over stdin/stdout. The sybils run in the test's
//! process (raw libp2p, `support::SilentPeer`).
//!
//! The honest nodes have been connected to each other for `standing_after`
//! when the sybils come (standing by age, node/README.md "Standing"): every
//! probe runs on a manual clock starting at the same second, which the
//! test advances by `standing_after` once the honest nodes are connected
//! and never again, so each round's sybils never gain standing, however
//! slow the machine.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{DAY, NOW};
use pigeonhole::record::MailboxId;
use support::peer_process::{Memory, PeerProcess};
use support::{SilentPeer, WAIT, init_tracing};

const HONEST: usize = 6;
const SYBILS: usize = 40;
const ROUNDS: usize = 3;
const PER_ROUND: usize = 8;
const INBOXES: usize = 2;
/// The bound asserted on every honest node's peak resident set.
const NODE_RSS_BOUND: u64 = 64 * 1024 * 1024;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Introduces every node to the first and waits (bounded) until every
/// routing table holds every other honest node, bootstrapping again when
/// one does not (as `support::connect_all` does for in-process nodes).
fn connect_all(nodes: &mut [PeerProcess]) {
    let first = nodes[0].addr.to_string();
    for node in &mut nodes[1..] {
        node.command(&format!("ADD_PEERS {first}"), "OK");
    }
    let want = HONEST - 1;
    for attempt in 0..3 {
        let mut complete = true;
        for node in nodes.iter_mut() {
            let peers = node.command(&format!("WAIT_PEERS {want} 5"), "PEERS");
            complete &= peers[0].parse::<usize>().expect("peer count") >= want;
        }
        if complete {
            return;
        }
        for node in nodes.iter_mut() {
            node.command("BOOTSTRAP", "OK");
        }
        eprintln!("routing tables incomplete after attempt {attempt}; bootstrapped again");
    }
    panic!("the honest nodes never all knew each other");
}

/// Advances every node's clock by the default `standing_after` and waits
/// (bounded) until every node sees every other as a peer of standing.
async fn age_cluster(nodes: &mut [PeerProcess]) {
    let after = pigeonhole_node::ReplicationConfig::default().standing_after;
    for node in nodes.iter_mut() {
        node.advance(after.as_secs());
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.peer_id.to_string()).collect();
    let deadline = Instant::now() + WAIT;
    for (i, node) in nodes.iter_mut().enumerate() {
        let others: Vec<&str> = (0..HONEST)
            .filter(|&j| j != i)
            .map(|j| ids[j].as_str())
            .collect();
        let query = format!("STANDING {}", others.join(" "));
        loop {
            let standing = node.command(&query, "STANDING");
            if standing[0] == (HONEST - 1).to_string() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i}: only {} of {} honest peers have standing",
                standing[0],
                HONEST - 1
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_records_are_read_while_sybils_join_and_leave() {
    init_tracing();
    // Declared before the nodes, so dropped after them (killed first).
    let dirs: Vec<tempfile::TempDir> = (0..HONEST)
        .map(|_| tempfile::tempdir().expect("data dir"))
        .collect();
    let mut nodes: Vec<PeerProcess> = dirs
        .iter()
        .map(|dir| PeerProcess::start(env!("CARGO_BIN_EXE_pigeonhole-peer"), dir.path(), NOW))
        .collect();
    connect_all(&mut nodes);
    age_cluster(&mut nodes).await;
    let inboxes: Vec<String> = (0..INBOXES)
        .map(|i| hex::encode(MailboxId::derive(b"sybil-churn", &(i as u32).to_be_bytes()).0))
        .collect();
    let mut published: Vec<BTreeSet<String>> = vec![BTreeSet::new(); INBOXES];
    let mut memory = [Memory::default(); HONEST];
    for round in 0..ROUNDS {
        let joined = Instant::now();
        // 40 fresh ids join: each dials one honest node, and every honest
        // node is told of every sybil (the worst case: all routed).
        let mut sybils = Vec::with_capacity(SYBILS);
        for s in 0..SYBILS {
            let key = libp2p::identity::Keypair::generate_ed25519();
            sybils.push(SilentPeer::start_at(key, nodes[s % HONEST].addr.clone()).await);
        }
        let addrs: Vec<String> = sybils
            .iter()
            .map(|sybil| {
                let addr = sybil.addr.clone().with_p2p(sybil.peer_id).unwrap();
                addr.to_string()
            })
            .collect();
        let add = format!("ADD_PEERS {}", addrs.join(" "));
        for node in &mut nodes {
            node.command(&add, "OK");
        }
        let routed = format!("WAIT_PEERS {} {}", HONEST - 1 + SYBILS / 2, WAIT.as_secs());
        let mut fewest_routed = usize::MAX;
        let sybil_ids: Vec<String> = sybils.iter().map(|s| s.peer_id.to_string()).collect();
        let standing = format!("STANDING {}", sybil_ids.join(" "));
        for (i, node) in nodes.iter_mut().enumerate() {
            let peers = node.command(&routed, "PEERS");
            fewest_routed = fewest_routed.min(peers[0].parse().expect("peer count"));
            // The test's premise: this round's sybils are without standing.
            let standing = node.command(&standing, "STANDING");
            assert_eq!(
                standing[0], "0",
                "round {round}: sybils have standing with node {i}"
            );
        }
        for i in 0..PER_ROUND {
            let which = i % INBOXES;
            let writer = (round + i) % HONEST;
            let seed = round * PER_ROUND + i + 1;
            let id = nodes[writer].command(
                &format!("PUBLISH {} {seed} {DAY}", inboxes[which]),
                "PUBLISHED",
            );
            published[which].insert(id[0].clone());
        }
        for (reader, node) in nodes.iter_mut().enumerate() {
            for (b, want) in published.iter().enumerate() {
                let fetched = node.command(&format!("FETCH {}", inboxes[b]), "FETCHED");
                let got: BTreeSet<String> = fetched[1..].iter().cloned().collect();
                let missing = want.difference(&got).count();
                assert_eq!(
                    missing,
                    0,
                    "round {round}: node {reader} read {} of {} of inbox {b}",
                    want.len() - missing,
                    want.len()
                );
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            if let Some(now) = node.memory() {
                memory[i] = now;
            }
        }
        eprintln!(
            "round {round}: {SYBILS} sybils connected for {:.1} s, every honest node routing \
             at least {fewest_routed} peers; honest RSS now {} MiB",
            joined.elapsed().as_secs_f64(),
            memory
                .iter()
                .map(|m| format!("{:.1}", mib(m.rss)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        let asked: usize = sybils
            .iter()
            .map(|s| s.lists.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        eprintln!("round {round}: the sybils answered {asked} listings with nothing");
        // They leave.
        for sybil in sybils {
            sybil.stop();
        }
    }
    let total: usize = published.iter().map(BTreeSet::len).sum();
    eprintln!(
        "sybil churn: {ROUNDS} rounds × {SYBILS} fresh sybils, {HONEST} honest nodes (one \
         process each), {total} honest records all read by all; peak RSS per node (VmHWM) {} MiB",
        memory
            .iter()
            .map(|m| format!("{:.1}", mib(m.peak)))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    if cfg!(target_os = "linux") {
        for (i, node) in nodes.iter().enumerate() {
            let peak = node.memory().expect("read /proc/<pid>/status").peak;
            assert!(
                peak < NODE_RSS_BOUND,
                "honest node {i} peaked at {:.1} MiB (bound {:.0} MiB)",
                mib(peak),
                mib(NODE_RSS_BOUND)
            );
        }
    }
}
