//! Honest delivery and publish latency during a store flood (issue 11),
//! next to the same workload with no attacker, in the same run.
//!
//! `cargo bench -p pigeonhole-node --bench store_flood` prints one table.
//! Each row starts 5 loopback nodes (every node a replica of everything)
//! with real SQLite files and 1 MiB stores. In the flood row one attacker
//! speaking raw libp2p, with 100 keys, first writes into its own feeds,
//! random mailboxes and one victim's inbox on every node until they refuse,
//! then keeps writing in the background while honest users publish: each
//! sends one buddy request into the victim's inbox and feed posts into its
//! own feed, from a node chosen round-robin. Publish latency is the
//! mailbox's whole publish (next seq, then the put to every replica).
//! Delivery is counted afterwards, the flood stopped: a record is delivered
//! when a reader on another node finds it in its mailbox. Target: ≥ 99%
//! honest delivery during the flood. Count: `PIGEONHOLE_BENCH_FLOOD_HONEST`
//! (honest publishes per row, default 100).

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../tests/flood/mod.rs"]
mod flood;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use flood::*;
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::Draft;
use pigeonhole::record::body::{BodyRules, FeedPost, feed_mailbox};
use pigeonhole::record::{Kind, MailboxId, Record};
use pigeonhole_node::{Limits, Node, NodeConfig, StoreStats};
use support::*;

const NODES: usize = 5;
const USERS: usize = 20;

fn limits() -> Limits {
    Limits {
        max_records_per_sender_per_mailbox: 32,
        max_records_per_mailbox: 256,
        max_bytes_per_mailbox: 256 * 1024,
        max_bytes_per_sender: 64 * 1024,
        max_total_bytes: 1024 * 1024,
        reserved_bytes: 256 * 1024,
        ..Limits::default()
    }
}

/// What one row measured.
struct Row {
    attempted: usize,
    published: usize,
    delivered: usize,
    latencies: Vec<Duration>,
    attacker_puts: usize,
    stats: Vec<StoreStats>,
}

fn post(author: &pigeonhole::identity::Identity, number: u64) -> Draft {
    Draft {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&author.public_key(), "news"),
        body: FeedPost {
            feed_name: "news".into(),
            title: format!("Post {number}"),
            link: None,
            summary: "Tonight at the fountain.".into(),
            number,
            published_at: None,
            replaces: None,
        }
        .encode(),
        lifetime_secs: 7 * DAY,
    }
}

async fn run(clock: &Arc<ManualClock>, honest: usize, attack: bool) -> Row {
    let dirs: Vec<_> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(
            Node::start(NodeConfig {
                data_dir: Some(dir.path().to_path_buf()),
                limits: limits(),
                ..node_config(clock)
            })
            .await
            .expect("start"),
        );
    }
    connect_all(&nodes).await;
    let victim_inbox = inbox_of(90);
    let targets: Vec<_> = nodes.iter().map(target_of).collect();

    // The flood: fill every node, then keep writing until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = if attack {
        let mut attacker = Attacker::new(100, victim_inbox, NOW);
        let rounds = attacker.flood_until_refused(&targets, 10).await;
        let mut puts: usize = rounds.iter().map(|r| r.sent).sum();
        let stop = stop.clone();
        let targets = targets.clone();
        Some(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                puts += attacker.round(&targets).await.sent;
            }
            puts
        }))
    } else {
        None
    };

    // The honest workload, during the flood.
    let users: Vec<_> = (0..USERS).map(|i| identity(150 + i as u8)).collect();
    let mut sent: Vec<(MailboxId, Option<Record>)> = Vec::new();
    let mut latencies = Vec::new();
    let mut numbers = [0u64; USERS];
    for i in 0..honest {
        let user = i % USERS;
        let writer = &nodes[i % NODES];
        let (mailbox_id, draft) = if i < USERS {
            (victim_inbox, request_draft(victim_inbox, DAY))
        } else {
            numbers[user] += 1;
            (
                feed_mailbox(&users[user].public_key(), "news"),
                post(&users[user], numbers[user]),
            )
        };
        let started = Instant::now();
        let published = mailbox(writer, clock).publish(&users[user], draft).await;
        latencies.push(started.elapsed());
        sent.push((mailbox_id, published.ok()));
    }
    stop.store(true, Ordering::Relaxed);
    let attacker_puts = match flood {
        Some(task) => task.await.unwrap(),
        None => 0,
    };

    // Delivery: read every honest mailbox from a node other than its writer.
    let mut delivered = 0;
    let mut read: std::collections::HashMap<MailboxId, Vec<[u8; 32]>> = Default::default();
    for (i, (mailbox_id, record)) in sent.iter().enumerate() {
        let Some(record) = record else { continue };
        if !read.contains_key(mailbox_id) {
            let reader = &nodes[(i + 1) % NODES];
            let fetched = mailbox(reader, clock)
                .fetch_within(*mailbox_id, 7 * DAY)
                .await
                .map(|f| f.records.iter().map(|r| r.id()).collect())
                .unwrap_or_default();
            read.insert(*mailbox_id, fetched);
        }
        if read[mailbox_id].contains(&record.id()) {
            delivered += 1;
        }
    }
    let mut stats = Vec::new();
    for node in &nodes {
        stats.push(node.store_stats().await.unwrap());
    }
    stop_all(&nodes).await;
    Row {
        attempted: honest,
        published: sent.iter().filter(|(_, r)| r.is_some()).count(),
        delivered,
        latencies,
        attacker_puts,
        stats,
    }
}

fn print(name: &str, mut row: Row) {
    row.latencies.sort();
    let pct = |p: usize| {
        row.latencies[(row.latencies.len() * p / 100).min(row.latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    let max_bytes = row.stats.iter().map(|s| s.bytes).max().unwrap_or(0);
    let displaced: u64 = row.stats.iter().map(|s| s.displaced_records).sum();
    let refused: u64 = row.stats.iter().map(|s| s.refused_quota).sum();
    println!(
        "| {name} | {} | {} | {:.1}% | {:.1} | {:.1} | {} | {} | {} | {} |",
        row.attempted,
        row.published,
        100.0 * row.delivered as f64 / row.attempted as f64,
        pct(50),
        pct(99),
        row.attacker_puts,
        displaced,
        refused,
        max_bytes,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let honest = std::env::var("PIGEONHOLE_BENCH_FLOOD_HONEST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .max(USERS);
    let clock = clock();
    println!(
        "| row | honest publishes | published | delivered | publish p50 ms | publish p99 ms | attacker puts | displaced | quota refusals | largest store (bytes, cap {}) |",
        limits().max_total_bytes
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let quiet = run(&clock, honest, false).await;
    print("no attacker (baseline)", quiet);
    let flooded = run(&clock, honest, true).await;
    print("store flood, 100 keys", flooded);
}
