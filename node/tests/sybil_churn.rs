//! Sybils that join and leave: 40 raw-libp2p peers with fresh random ids
//! answer "nothing held" to every read (and claim to store every put),
//! join every honest node's routing table, leave, and are replaced by 40
//! new ids, round after round, while honest nodes publish. Every honest
//! record must still be read by every honest node, and the process (all
//! honest nodes and all sybils together: they share one process, so a
//! per-node figure is not measurable here) stays bounded in memory.
//!
//! The honest nodes have been connected to each other for `standing_after`
//! (on the shared clock) when the sybils come (standing by age,
//! node/README.md "Standing"); each round's sybils leave before they could
//! gain it (the test never advances the clock again).

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeSet;

use common::*;
use pigeonhole::record::MailboxId;
use support::*;

const HONEST: usize = 6;
const SYBILS: usize = 40;
const ROUNDS: usize = 3;
const PER_ROUND: usize = 8;
const INBOXES: usize = 2;
/// The bound asserted on the process's peak RSS (all honest nodes and all
/// sybils of a round in one process): 64 MiB per honest node.
const RSS_BOUND: u64 = 64 * 1024 * 1024 * HONEST as u64;

/// The process's resident set size in bytes (Linux), if readable.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_records_are_read_while_sybils_join_and_leave() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(HONEST, &clock).await;
    age_cluster(&nodes, &clock).await;
    let inboxes: Vec<MailboxId> = (0..INBOXES)
        .map(|i| MailboxId::derive(b"sybil-churn", &(i as u32).to_be_bytes()))
        .collect();
    let mut published: Vec<BTreeSet<[u8; 32]>> = vec![BTreeSet::new(); INBOXES];
    let mut peak_rss = 0;
    for round in 0..ROUNDS {
        let joined = std::time::Instant::now();
        // 40 fresh ids join: each dials one honest node, and every honest
        // node is told of every sybil (the worst case: all routed).
        let mut sybils = Vec::with_capacity(SYBILS);
        for s in 0..SYBILS {
            let key = libp2p::identity::Keypair::generate_ed25519();
            sybils.push(SilentPeer::start(key, &nodes[s % HONEST]).await);
        }
        for node in &nodes {
            for sybil in &sybils {
                let addr = sybil.addr.clone().with_p2p(sybil.peer_id).unwrap();
                node.add_peer(addr).await.expect("add sybil");
            }
        }
        for node in &nodes {
            node.wait_for_peers(HONEST - 1 + SYBILS / 2, WAIT).await;
        }
        for i in 0..PER_ROUND {
            let which = i % INBOXES;
            let writer = &nodes[(round + i) % HONEST];
            let sender = identity((round * PER_ROUND + i) as u8 + 1);
            let record = mailbox(writer, &clock)
                .publish(&sender, request_draft(inboxes[which], DAY))
                .await
                .unwrap_or_else(|e| panic!("round {round}: publish {i} failed: {e}"));
            published[which].insert(record.id());
        }
        for (reader_index, reader) in nodes.iter().enumerate() {
            for (b, want) in published.iter().enumerate() {
                let fetched = mailbox(reader, &clock)
                    .fetch_all(inboxes[b])
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: node {reader_index} read: {e}"));
                let got: BTreeSet<[u8; 32]> = fetched.records.iter().map(|r| r.id()).collect();
                let missing = want.difference(&got).count();
                assert_eq!(
                    missing,
                    0,
                    "round {round}: node {reader_index} read {} of {} of inbox {b}",
                    want.len() - missing,
                    want.len()
                );
            }
        }
        if let Some(rss) = rss_bytes() {
            peak_rss = peak_rss.max(rss);
        }
        eprintln!(
            "round {round}: {SYBILS} sybils connected for {:.1} s",
            joined.elapsed().as_secs_f64()
        );
        // They leave.
        for sybil in sybils {
            sybil.stop();
        }
    }
    let total: usize = published.iter().map(BTreeSet::len).sum();
    eprintln!(
        "sybil churn: {ROUNDS} rounds × {SYBILS} fresh sybils, {HONEST} honest nodes, \
         {total} honest records all read by all; process RSS peak {:.1} MiB",
        peak_rss as f64 / (1024.0 * 1024.0)
    );
    if peak_rss > 0 {
        // One process holds all honest nodes and all sybils: bound the
        // whole, generously (64 MiB per honest node).
        assert!(peak_rss < RSS_BOUND, "process RSS {peak_rss} bytes");
    }
    stop_all(&nodes).await;
}
