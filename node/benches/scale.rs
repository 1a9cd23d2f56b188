//! Scale: 20 and 200 SDK nodes in one process on libp2p's in-process
//! memory transport, against plain rust-libp2p Kademlia swarms on the same
//! transport in the same run.
//!
//! `cargo bench -p pigeonhole-node --bench scale` prints one table.
//! Node counts: `PIGEONHOLE_SCALE_NODES` (default `20,200`). Every node is
//! a real `pigeonhole_node::Node` (noise + yamux over in-process channels,
//! an in-memory SQLite store, the validating write path; connections kept
//! open and accepted from every other node); records are
//! 512-byte signed buddy requests. A cluster starts with every node
//! knowing the first and a Kademlia bootstrap on every node (routing
//! warm-up), then every node publishes once and reads once (connections
//! exist, as in a network that has run a while). Measured per node count:
//! * **idle sync**: `fetch_all` of 20 empty mailboxes from one node, the
//!   first time (where referrals or rosters must have named the replicas) and again within the
//!   found peers' lifetime (60 s: a phone syncing every 30 s), counted by
//!   the reader's `requests_sent` (protocol v2, referral-driven asks
//!   included: a read's requests are all sent by its reader) and
//!   `referrals_followed` (reads that asked further peers because an
//!   answer named closer ones: one more round trip each), with the
//!   requests every other node sent in the same window beside them
//!   (background: outbox republish when routing tables grow, relays);
//! * **fetch of 100 records** in one mailbox, from 10 nodes that never
//!   read it: requests and p50;
//! * **publish** into 100 fresh mailboxes from rotating writers: requests,
//!   p50, and **round trips** counted two ways: the sequential request
//!   rounds (the next-seq read, each referral round it followed, the put;
//!   a put to a peer not yet connected also waits for the dial), and the
//!   publish p50 divided by the p50 of one round (a `next_seq` of a mailbox
//!   read just before: two requests in parallel, answered from SQLite) —
//!   an upper bound, since a put round costs more than a next-seq round
//!   here: every replica checks a signature and writes SQLite, and all
//!   nodes share the process's two cores;
//! * the **baseline**: plain Kademlia `put_record` (Quorum::One) and
//!   `get_record` of the same records, with their request counts (kad's
//!   own query statistics);
//! * resident memory of the process with all nodes running, and the roster
//!   pulls per node over the whole run (peer protocol version 5: the
//!   background cost of every node knowing every other; not counted in the
//!   request figures above).

#[path = "scale/plain.rs"]
mod plain;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pigeonhole::clock::ManualClock;
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig};
use pigeonhole::record::body::SEALED_SCHEME_V1;
use pigeonhole::record::{HEADER_LEN, Kind, MailboxId, Policy, SIGNATURE_LEN, Validator};
use pigeonhole_node::{Node, NodeConfig, NodeStatus, PeerLimits};

const RECORD_BYTES: usize = 512;
const DAY: u64 = 86_400;
const IDLE_MAILBOXES: usize = 20;
const FETCH_RECORDS: usize = 100;
const FETCH_READERS: usize = 10;
const PUBLISHES: usize = 100;

fn draft(mailbox: MailboxId) -> Draft {
    let mut body = vec![SEALED_SCHEME_V1];
    body.resize(RECORD_BYTES - HEADER_LEN - SIGNATURE_LEN, 0xA5);
    Draft {
        kind: Kind::BuddyRequest,
        mailbox,
        body,
        lifetime_secs: DAY,
    }
}

fn mailbox_id(tag: &str, i: usize) -> MailboxId {
    MailboxId::derive(b"scale", format!("{tag}/{i}").as_bytes())
}

fn mailbox(node: &Node, clock: &Arc<ManualClock>) -> Mailbox<Node> {
    Mailbox::new(
        node.clone(),
        Validator::new(Policy::default()),
        clock.clone(),
        MailboxConfig::default(),
    )
}

fn p50(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[(samples.len() - 1) / 2].as_secs_f64() * 1000.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Requests a node has sent: (protocol v2, referral rounds).
fn sent(status: NodeStatus) -> (u64, u64) {
    (status.requests_sent, status.referrals_followed)
}

/// Since `before`: the requests and referral rounds of the nodes `counted`
/// picks (a read's own requests are all sent by its reader), and the
/// requests all other nodes sent meanwhile (background: republish, relays).
fn delta(
    nodes: &[Node],
    before: &[(u64, u64)],
    counted: impl Fn(usize) -> bool,
) -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    for (i, (node, b)) in nodes.iter().zip(before).enumerate() {
        let now = sent(node.status());
        if counted(i) {
            sum.0 += now.0 - b.0;
            sum.1 += now.1 - b.1;
        } else {
            sum.2 += now.0 - b.0;
        }
    }
    sum
}

fn snapshot(nodes: &[Node]) -> Vec<(u64, u64)> {
    nodes.iter().map(|node| sent(node.status())).collect()
}

/// `n` memory-transport nodes: each knows the first, then every node runs
/// a Kademlia bootstrap (twice: the second round finds the peers that
/// joined after a node's first; each also pulls a roster). Returns the
/// nodes and the median routing table size right after.
async fn cluster(n: usize, clock: &Arc<ManualClock>) -> (Vec<Node>, usize) {
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        let config = NodeConfig {
            clock: clock.clone(),
            // Connections stay for the whole run: a round trip here is a
            // request on an open connection, not a new handshake.
            idle_connection_timeout: Duration::from_secs(600),
            // ... so every node may hold a connection from every other:
            // the phone default (128 inbound) denied the rest at 200
            // nodes, and denied peers looked like silent replicas (puts
            // went to spares, warm-up publishes failed as unavailable).
            peer_limits: PeerLimits {
                max_established_incoming: n as u32 + 16,
                ..PeerLimits::default()
            },
            ..NodeConfig::memory()
        };
        nodes.push(Node::start(config).await.expect("start node"));
    }
    let first = nodes[0].listen_addrs()[0].clone();
    for node in &nodes[1..] {
        node.add_peer(first.clone()).await.expect("add peer");
    }
    for node in &nodes[1..] {
        node.wait_for_peers(1, Duration::from_secs(10)).await;
    }
    for _ in 0..2 {
        futures::future::join_all(nodes.iter().map(|node| node.bootstrap())).await;
    }
    let mut sizes: Vec<usize> = nodes.iter().map(|n| n.status().routing_peers).collect();
    sizes.sort();
    (nodes, sizes[n / 2])
}

struct Row {
    nodes: usize,
    routing_median: usize,
    routing_min: usize,
    roster_pulls: f64,
    start_secs: f64,
    rss_mib: f64,
    idle_first: (f64, f64, f64, f64),
    idle_again: (f64, f64, f64, f64),
    fetch: (f64, f64, f64, bool, f64),
    publish: (f64, f64, f64),
    round_p50: f64,
    base_put: (f64, f64, usize),
    base_get: (f64, f64, usize),
}

async fn measure(n: usize, clock: &Arc<ManualClock>) -> Row {
    let started = Instant::now();
    let (nodes, routing_median) = cluster(n, clock).await;
    // Warm-up: every node publishes once and reads once.
    let sender = Identity::from_secret_bytes([251; 32]);
    for (i, node) in nodes.iter().enumerate() {
        let inbox = mailbox_id(&format!("warm{n}"), i);
        if let Err(error) = mailbox(node, clock).publish(&sender, draft(inbox)).await {
            panic!(
                "warm-up publish of node {i}: {error}; its status {:?}; node 0: {:?}, {:?}",
                node.status(),
                nodes[0].status(),
                nodes[0].load_stats()
            );
        }
        mailbox(&nodes[(i + 1) % n], clock)
            .fetch_within(inbox, DAY)
            .await
            .expect("warm-up read");
    }
    let start_secs = started.elapsed().as_secs_f64();
    let rss = rss_mib();
    eprintln!("{n} nodes: started and warmed up in {start_secs:.1} s, RSS {rss:.0} MiB");

    // Idle sync: 20 empty mailboxes from one node, then again.
    let routing_min = nodes
        .iter()
        .map(|node| node.status().routing_peers)
        .min()
        .unwrap_or(0);
    tracing::info!(
        routing = nodes[n / 2].status().routing_peers,
        routing_min,
        "idle sync starts"
    );
    let reader = mailbox(&nodes[n / 2], clock);
    let mut idle = Vec::new();
    for _pass in 0..2 {
        let before = snapshot(&nodes);
        let mut times = Vec::new();
        for i in 0..IDLE_MAILBOXES {
            let t = Instant::now();
            let fetched = reader
                .fetch_all(mailbox_id(&format!("idle{n}"), i))
                .await
                .expect("idle fetch");
            times.push(t.elapsed());
            assert!(fetched.records.is_empty());
        }
        let (v2, rounds, others) = delta(&nodes, &before, |i| i == n / 2);
        let per = |x: u64| x as f64 / IDLE_MAILBOXES as f64;
        idle.push((per(v2), per(rounds), p50(times), per(others)));
    }

    tracing::info!("idle sync ends");
    // Fetch of 100 records from 10 nodes that never read the mailbox.
    let inbox = mailbox_id(&format!("fetch{n}"), 0);
    for i in 0..FETCH_RECORDS {
        let sender = Identity::from_secret_bytes([(i % 8) as u8 + 100; 32]);
        mailbox(&nodes[(i * 7) % n], clock)
            .publish(&sender, draft(inbox))
            .await
            .expect("publish for fetch");
    }
    let (mut times, mut all) = (Vec::new(), true);
    let before = snapshot(&nodes);
    for r in 0..FETCH_READERS {
        let reader = &nodes[(r * 13 + 5) % n];
        let t = Instant::now();
        let fetched = mailbox(reader, clock)
            .fetch_all(inbox)
            .await
            .expect("fetch");
        times.push(t.elapsed());
        all &= fetched.records.len() == FETCH_RECORDS;
    }
    let readers: Vec<usize> = (0..FETCH_READERS).map(|r| (r * 13 + 5) % n).collect();
    let (v2, rounds, others) = delta(&nodes, &before, |i| readers.contains(&i));
    eprintln!("{n} nodes: idle sync and fetch measured");
    let per = |x: u64| x as f64 / FETCH_READERS as f64;
    let fetch = (per(v2), per(rounds), p50(times), all, per(others));

    // One round: next_seq of a mailbox this node has just read.
    let mut rounds = Vec::new();
    for i in 0..20 {
        let node = &nodes[(i * 11) % n];
        let mb = mailbox_id(&format!("round{n}"), i);
        node.next_seq(mb, 1).await.expect("next seq (referrals)");
        let t = Instant::now();
        node.next_seq(mb, 1).await.expect("next seq");
        rounds.push(t.elapsed());
    }
    let round_p50 = p50(rounds);

    // Publish into fresh mailboxes.
    let before = snapshot(&nodes);
    let (mut times, mut records) = (Vec::new(), Vec::new());
    for i in 0..PUBLISHES {
        let writer = &nodes[(i * 17 + 3) % n];
        let sender = Identity::from_secret_bytes([(i % 250) as u8 + 1; 32]);
        let t = Instant::now();
        let record = mailbox(writer, clock)
            .publish(&sender, draft(mailbox_id(&format!("pub{n}"), i)))
            .await
            .expect("publish");
        times.push(t.elapsed());
        records.push((record.dht_key(), record.bytes().to_vec()));
    }
    // A publish's requests: the writer's and its stand-ins' relays.
    let (v2, rounds, _) = delta(&nodes, &before, |_| true);
    let per = |x: u64| x as f64 / PUBLISHES as f64;
    let publish = (per(v2), per(rounds), p50(times));
    let roster_pulls = nodes
        .iter()
        .map(|node| node.status().roster_pulls)
        .sum::<u64>() as f64
        / n as f64;
    for node in nodes {
        node.stop().await;
    }

    eprintln!("{n} nodes: publish measured; baseline next");
    // Baseline: plain kad on the same transport, the same records.
    let plain = plain::cluster(n).await;
    for (i, node) in plain.iter().enumerate() {
        let key = format!("warm/{i}").into_bytes();
        node.put(key.clone(), vec![0; RECORD_BYTES]).await;
        let _ = plain[(i + 1) % n].get(key).await;
    }
    let (mut puts, mut gets, mut put_requests, mut get_requests, mut found) =
        (Vec::new(), Vec::new(), 0u64, 0u64, 0);
    let mut put_ok = 0;
    for (i, (key, value)) in records.iter().enumerate() {
        let writer = &plain[(i * 17 + 3) % n];
        let reader = &plain[(i * 17 + 4) % n];
        let t = Instant::now();
        let done = writer.put(key.0.to_vec(), value.clone()).await;
        puts.push(t.elapsed());
        put_requests += u64::from(done.requests);
        put_ok += usize::from(done.value);
        let t = Instant::now();
        let done = reader.get(key.0.to_vec()).await;
        gets.push(t.elapsed());
        get_requests += u64::from(done.requests);
        found += usize::from(done.value.as_deref() == Some(&value[..]));
    }
    drop(plain);
    let ops = records.len() as f64;
    Row {
        nodes: n,
        routing_median,
        routing_min,
        roster_pulls,
        start_secs,
        rss_mib: rss,
        idle_first: idle[0],
        idle_again: idle[1],
        fetch,
        publish,
        round_p50,
        base_put: (put_requests as f64 / ops, p50(puts), put_ok),
        base_get: (get_requests as f64 / ops, p50(gets), found),
    }
}

fn main() {
    // Nothing is logged unless RUST_LOG asks (e.g. `pigeonhole_node=debug`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let counts: Vec<usize> = std::env::var("PIGEONHOLE_SCALE_NODES")
        .unwrap_or_else(|_| "20,200".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .filter(|n| *n >= 2)
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rss_start = rss_mib();
    let rows = runtime.block_on(async move {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let clock = Arc::new(ManualClock::new(now));
        let mut rows = Vec::new();
        for n in counts {
            rows.push(measure(n, &clock).await);
        }
        rows
    });
    println!();
    println!(
        "Pigeonhole scale bench — libp2p memory transport (noise + yamux), one process, {RECORD_BYTES}-byte signed records"
    );
    println!(
        "per mailbox read: the reader's protocol v2 requests (referral-driven asks included), reads that followed referrals (one more round trip each), and in brackets what all other nodes sent meanwhile; per publish: every node's requests"
    );
    println!();
    println!(
        "| nodes | start+warm-up s | routing table median after bootstrap / smallest after warm-up (of n − 1 peers) | roster pulls per node (whole run) | RSS MiB (process, all nodes up) | idle sync, first: reader's v2 req / referral rounds (other nodes' req meanwhile) | p50 ms | idle sync, again (<60 s): same | p50 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {} / {} | {:.1} | {:.0} | {:.1} / {:.2} ({:.1}) | {:.2} | {:.1} / {:.2} ({:.1}) | {:.2} |",
            r.nodes,
            r.start_secs,
            r.routing_median,
            r.routing_min,
            r.roster_pulls,
            r.rss_mib,
            r.idle_first.0,
            r.idle_first.1,
            r.idle_first.3,
            r.idle_first.2,
            r.idle_again.0,
            r.idle_again.1,
            r.idle_again.3,
            r.idle_again.2,
        );
    }
    println!();
    println!(
        "| nodes | fetch 100 records (first read): readers' v2 req / referral rounds (other nodes' req meanwhile) | p50 ms | all found | publish: v2 req | request rounds/publish (next seq + referral rounds + put) | publish p50 ms | one round p50 ms | publish ÷ round | kad put_record: req | p50 ms | ok | publish ÷ put_record | kad get_record: req | p50 ms | found |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.1} / {:.2} ({:.1}) | {:.2} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.2} | {}/{PUBLISHES} | {:.2}× | {:.1} | {:.2} | {}/{PUBLISHES} |",
            r.nodes,
            r.fetch.0,
            r.fetch.1,
            r.fetch.4,
            r.fetch.2,
            r.fetch.3,
            r.publish.0,
            2.0 + r.publish.1,
            r.publish.2,
            r.round_p50,
            r.publish.2 / r.round_p50,
            r.base_put.0,
            r.base_put.1,
            r.base_put.2,
            r.publish.2 / r.base_put.1,
            r.base_get.0,
            r.base_get.1,
            r.base_get.2,
        );
    }
    println!();
    println!(
        "process RSS: {rss_start:.0} MiB at start, {:.0} MiB at the end",
        rss_mib()
    );
}
