//! The DHT peer on loopback, against a plain rust-libp2p Kademlia swarm in
//! the same run.
//!
//! `cargo bench -p pigeonhole-node --bench dht` prints one table. Every
//! node has its own 127.0.0.x address; records are 512-byte signed buddy
//! requests; each latency row is 300 operations. The baseline is a plain
//! Kademlia swarm (TCP + noise + yamux, `MemoryStore`, `Quorum::One`, get
//! finished at the first record found) on the same node counts; the SDK's
//! figures are also given as ratios to it.
//!
//! Latency rows are taken after a warm-up round in which every node puts
//! and gets once (connections exist, as in a cluster that has run a while);
//! the cold-start row covers the cold path. Measured:
//! * network requests of an idle sync (`fetch_all` of an empty mailbox) on
//!   5 and 20 nodes, counted by the node's `requests_sent`;
//! * on 8 and 24 nodes, publish on one node then read from another: a
//!   whole publish (next seq + put to the replica set, protocol v2), the
//!   fetch (a listing read from another node) with the read-after-write
//!   success count, and a single slot get by key (the Kademlia interop
//!   path for a node that never saw the slot);
//! * `fetch_all` of 1, 100 and 1,000 live records in one mailbox (8 nodes);
//! * sustained publishing with 32 in flight on 8 nodes for 10 s;
//! * cold start: process start to the first publish → fetch between two nodes;
//! * resident memory per idle node with 24 nodes.
//!
//! `PIGEONHOLE_DHT_ONLY=fetch_all` runs only the `fetch_all` rows; with it,
//! `PIGEONHOLE_DHT_LIVE=1000` picks rows and `PIGEONHOLE_DHT_RUNS=300` the
//! fetches per row (default 10), so a profiler sees mostly the reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::kad::{self, GetRecordOk, PeerRecord, QueryResult, Quorum, store::MemoryStore};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, tcp, yamux};
use pigeonhole::clock::ManualClock;
use pigeonhole::identity::Identity;
use pigeonhole::mailbox::{Draft, Mailbox, MailboxConfig};
use pigeonhole::record::body::SEALED_SCHEME_V1;
use pigeonhole::record::{DhtKey, HEADER_LEN, Kind, MailboxId, Policy, SIGNATURE_LEN, Validator};
use pigeonhole_node::{Node, NodeConfig};
use tokio::sync::{mpsc, oneshot};

const OPS: usize = 300;
const RECORD_BYTES: usize = 512;
const DAY: u64 = 86_400;

// ---- helpers ---------------------------------------------------------------

fn body() -> Vec<u8> {
    let mut body = vec![SEALED_SCHEME_V1];
    body.resize(RECORD_BYTES - HEADER_LEN - SIGNATURE_LEN, 0xA5);
    body
}

fn draft(mailbox: MailboxId) -> Draft {
    Draft {
        kind: Kind::BuddyRequest,
        mailbox,
        body: body(),
        lifetime_secs: DAY,
    }
}

fn mailbox_id(tag: &str, i: usize) -> MailboxId {
    MailboxId::derive(b"bench", format!("{tag}/{i}").as_bytes())
}

fn mailbox(node: &Node, clock: &Arc<ManualClock>) -> Mailbox<Node> {
    Mailbox::new(
        node.clone(),
        Validator::new(Policy::default()),
        clock.clone(),
        MailboxConfig::default(),
    )
}

#[derive(Clone, Copy)]
struct Stats {
    p50: f64,
    p99: f64,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    Stats {
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn sdk_cluster(n: usize, subnet: u8, clock: &Arc<ManualClock>) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let config = NodeConfig {
            clock: clock.clone(),
            ..NodeConfig::on_ip(std::net::Ipv4Addr::new(127, 0, subnet, i as u8 + 1))
        };
        nodes.push(Node::start(config).await.expect("start node"));
    }
    let first = nodes[0].listen_addrs()[0].clone();
    for node in &nodes[1..] {
        node.add_peer(first.clone()).await.expect("add peer");
    }
    for _ in 0..3 {
        let mut complete = true;
        for node in &nodes {
            complete &= node
                .wait_for_peers(n - 1, Duration::from_secs(5))
                .await
                .routing_peers
                >= n - 1;
        }
        if complete {
            break;
        }
        for node in &nodes {
            let _ = node.bootstrap().await;
        }
    }
    nodes
}

async fn stop_all(nodes: Vec<Node>) {
    for node in nodes {
        node.stop().await;
    }
}

// ---- baseline: plain kad swarm ----------------------------------------------

#[derive(NetworkBehaviour)]
struct PlainBehaviour {
    kad: kad::Behaviour<MemoryStore>,
}

enum PlainCommand {
    Put(Vec<u8>, Vec<u8>, oneshot::Sender<bool>),
    Get(Vec<u8>, oneshot::Sender<Option<Vec<u8>>>),
    AddPeer(PeerId, Multiaddr),
}

#[derive(Clone)]
struct PlainNode {
    peer: PeerId,
    addr: Multiaddr,
    commands: mpsc::Sender<PlainCommand>,
}

impl PlainNode {
    async fn start(ip: String) -> Self {
        let mut swarm: Swarm<PlainBehaviour> = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let store = MemoryStore::with_config(
                    id,
                    kad::store::MemoryStoreConfig {
                        max_records: 100_000,
                        ..Default::default()
                    },
                );
                let mut kad =
                    kad::Behaviour::with_config(id, store, kad::Config::new(KAD_PROTOCOL_BASELINE));
                kad.set_mode(Some(kad::Mode::Server));
                PlainBehaviour { kad }
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm
            .listen_on(format!("/ip4/{ip}/tcp/0").parse().unwrap())
            .unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer = *swarm.local_peer_id();
        let (commands, mut rx) = mpsc::channel::<PlainCommand>(1024);
        tokio::spawn(async move {
            let mut puts: HashMap<kad::QueryId, oneshot::Sender<bool>> = HashMap::new();
            let mut gets: HashMap<kad::QueryId, oneshot::Sender<Option<Vec<u8>>>> = HashMap::new();
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        None => break,
                        Some(PlainCommand::Put(key, value, reply)) => {
                            let record = kad::Record::new(key, value);
                            match swarm.behaviour_mut().kad.put_record(record, Quorum::One) {
                                Ok(id) => { puts.insert(id, reply); }
                                Err(_) => { let _ = reply.send(false); }
                            }
                        }
                        Some(PlainCommand::Get(key, reply)) => {
                            let id = swarm.behaviour_mut().kad.get_record(key.into());
                            gets.insert(id, reply);
                        }
                        Some(PlainCommand::AddPeer(peer, addr)) => {
                            swarm.behaviour_mut().kad.add_address(&peer, addr);
                        }
                    },
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(PlainBehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) = event {
                            match result {
                                QueryResult::PutRecord(result) => {
                                    if let Some(reply) = puts.remove(&id) { let _ = reply.send(result.is_ok()); }
                                }
                                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(PeerRecord { record, .. }))) => {
                                    if let Some(reply) = gets.remove(&id) {
                                        let _ = reply.send(Some(record.value));
                                        if let Some(mut q) = swarm.behaviour_mut().kad.query_mut(&id) { q.finish(); }
                                    }
                                }
                                QueryResult::GetRecord(_) if step.last => {
                                    if let Some(reply) = gets.remove(&id) { let _ = reply.send(None); }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
        });
        Self {
            peer,
            addr,
            commands,
        }
    }

    async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(PlainCommand::Put(key, value, tx))
            .await
            .unwrap();
        rx.await.unwrap_or(false)
    }

    async fn get(&self, key: Vec<u8>) -> Option<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(PlainCommand::Get(key, tx))
            .await
            .unwrap();
        rx.await.ok().flatten()
    }
}

/// The baseline speaks its own protocol name so it can never mix with SDK nodes.
const KAD_PROTOCOL_BASELINE: libp2p::StreamProtocol =
    libp2p::StreamProtocol::new("/baseline/kad/1.0.0");

async fn plain_cluster(n: usize, subnet: u8) -> Vec<PlainNode> {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        nodes.push(PlainNode::start(format!("127.0.{subnet}.{}", i + 1)).await);
    }
    // Full routing tables, as the SDK clusters have.
    for a in &nodes {
        for b in &nodes {
            if a.peer != b.peer {
                a.commands
                    .send(PlainCommand::AddPeer(b.peer, b.addr.clone()))
                    .await
                    .unwrap();
            }
        }
    }
    nodes
}

struct Baseline {
    put: Stats,
    get: Stats,
    found: usize,
}

async fn baseline(n: usize, subnet: u8, records: &[(DhtKey, Vec<u8>)]) -> Baseline {
    let nodes = plain_cluster(n, subnet).await;
    // Warm-up (not measured), as for the SDK: one put and one get per node.
    for (i, node) in nodes.iter().enumerate() {
        let key = format!("warm/{i}").into_bytes();
        node.put(key.clone(), vec![0; RECORD_BYTES]).await;
        let _ = nodes[(i + 1) % n].get(key).await;
    }
    let (mut puts, mut gets, mut found) = (Vec::new(), Vec::new(), 0);
    for (i, (key, value)) in records.iter().enumerate() {
        let writer = &nodes[i % n];
        let reader = &nodes[(i + 1 + i / n) % n];
        let reader = if reader.peer == writer.peer {
            &nodes[(i + 1) % n]
        } else {
            reader
        };
        let t = Instant::now();
        writer.put(key.0.to_vec(), value.clone()).await;
        puts.push(t.elapsed());
        let t = Instant::now();
        let got = reader.get(key.0.to_vec()).await;
        gets.push(t.elapsed());
        found += usize::from(got.as_deref() == Some(&value[..]));
    }
    Baseline {
        put: stats(puts),
        get: stats(gets),
        found,
    }
}

// ---- SDK measurements --------------------------------------------------------

struct Sdk {
    get: Stats,
    get_found: usize,
    publish: Stats,
    fetch: Stats,
    found: usize,
    records: Vec<(DhtKey, Vec<u8>)>,
}

async fn sdk(n: usize, subnet: u8, clock: &Arc<ManualClock>) -> Sdk {
    let nodes = sdk_cluster(n, subnet, clock).await;
    // Warm-up (not measured): every node publishes and reads once, so the
    // connections to its peers exist, as in a cluster that has run a while.
    for (i, node) in nodes.iter().enumerate() {
        let sender = Identity::from_secret_bytes([251; 32]);
        let inbox = mailbox_id(&format!("warm{n}"), i);
        let record = mailbox(node, clock)
            .publish(&sender, draft(inbox))
            .await
            .expect("warm-up");
        let _ = nodes[(i + 1) % n].get(record.dht_key()).await;
    }
    let (mut gets, mut publishes, mut fetches, mut found) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut get_found = 0;
    let mut records = Vec::new();
    for i in 0..OPS {
        let writer = &nodes[i % n];
        let reader = &nodes[(i + 1 + i / n) % n];
        let reader = if reader.peer_id() == writer.peer_id() {
            &nodes[(i + 1) % n]
        } else {
            reader
        };
        let sender = Identity::from_secret_bytes([(i % 250) as u8 + 1; 32]);
        let inbox = mailbox_id(&format!("sdk{n}"), i);
        let t = Instant::now();
        let record = mailbox(writer, clock)
            .publish(&sender, draft(inbox))
            .await
            .expect("publish");
        publishes.push(t.elapsed());
        assert_eq!(record.bytes().len(), RECORD_BYTES);
        let t = Instant::now();
        let got = reader.get(record.dht_key()).await.expect("get");
        gets.push(t.elapsed());
        let t = Instant::now();
        let fetched = mailbox(reader, clock)
            .fetch_within(inbox, DAY)
            .await
            .expect("fetch");
        fetches.push(t.elapsed());
        get_found += usize::from(got.as_deref() == Some(record.bytes()));
        found += usize::from(fetched.records.iter().any(|r| r.id() == record.id()));
        records.push((record.dht_key(), record.bytes().to_vec()));
    }
    stop_all(nodes).await;
    Sdk {
        get: stats(gets),
        get_found,
        publish: stats(publishes),
        fetch: stats(fetches),
        found,
        records,
    }
}

/// An idle sync on `n` nodes: `fetch_all` of 20 empty mailboxes from one
/// node. Returns (network requests per mailbox, p50 ms).
async fn idle_sync(n: usize, subnet: u8, clock: &Arc<ManualClock>) -> (f64, f64) {
    let nodes = sdk_cluster(n, subnet, clock).await;
    let reader = mailbox(&nodes[0], clock);
    let before = nodes[0].status().requests_sent;
    let mut times = Vec::new();
    const MAILBOXES: usize = 20;
    for i in 0..MAILBOXES {
        let t = Instant::now();
        let fetched = reader
            .fetch_all(mailbox_id(&format!("idle{n}"), i))
            .await
            .expect("fetch");
        times.push(t.elapsed());
        assert!(fetched.records.is_empty());
    }
    let requests = nodes[0].status().requests_sent - before;
    stop_all(nodes).await;
    (requests as f64 / MAILBOXES as f64, stats(times).p50)
}

/// fetch_all of `live` records on 8 nodes, `runs` times: (p50 ms, max ms, all found every time).
async fn fetch_all(
    live: usize,
    runs: usize,
    subnet: u8,
    clock: &Arc<ManualClock>,
) -> (f64, f64, bool) {
    let nodes = sdk_cluster(8, subnet, clock).await;
    let inbox = mailbox_id("fetch_all", live);
    // Publish from 8 senders on 8 nodes, one after another (many writers
    // racing for one mailbox's next slot is measured by the mailbox tests,
    // not here).
    let writers: Vec<_> = nodes.iter().map(|node| mailbox(node, clock)).collect();
    for i in 0..live {
        let sender = Identity::from_secret_bytes([(i % 8) as u8 + 100; 32]);
        writers[i % 8]
            .publish(&sender, draft(inbox))
            .await
            .expect("publish");
    }
    let mut times = Vec::new();
    let mut all = true;
    for run in 0..runs {
        let reader = &nodes[run % 8];
        let t = Instant::now();
        let fetched = mailbox(reader, clock)
            .fetch_all(inbox)
            .await
            .expect("fetch_all");
        times.push(t.elapsed());
        all &= fetched.records.len() == live;
    }
    stop_all(nodes).await;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(*times.last().unwrap()), all)
}

/// 32 publishers in flight on 8 nodes for `secs`: (publishes/s, p50, p99, errors).
async fn sustained(secs: u64, subnet: u8, clock: &Arc<ManualClock>) -> (f64, Stats, usize) {
    let nodes = sdk_cluster(8, subnet, clock).await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..32usize {
        let mb = mailbox(&nodes[w % 8], clock);
        tasks.push(tokio::spawn(async move {
            let sender = Identity::from_secret_bytes([w as u8 + 150; 32]);
            let (mut times, mut errors) = (Vec::new(), Vec::new());
            let mut i = 0usize;
            while Instant::now() < deadline {
                // A new mailbox every 100 records: the storing nodes' quota
                // of records per sender per mailbox (256) is not what this
                // row measures.
                let inbox = mailbox_id("sustained", w * 100_000 + i / 100);
                i += 1;
                let t = Instant::now();
                match mb.publish(&sender, draft(inbox)).await {
                    Ok(_) => times.push(t.elapsed()),
                    Err(error) => errors.push(error.to_string()),
                }
            }
            (times, errors)
        }));
    }
    let started = Instant::now();
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (times, e) = task.await.unwrap();
        all.extend(times);
        if let Some(first) = e.first() {
            eprintln!("sustained: {} errors, first: {first}", e.len());
        }
        errors += e.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop_all(nodes).await;
    (all.len() as f64 / elapsed, stats(all), errors)
}

fn main() {
    let process_start = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let clock = Arc::new(ManualClock::new(now));

        // `PIGEONHOLE_DHT_ONLY=fetch_all`: only the fetch_all rows (to
        // compare a change to the read path quickly; same rows, same code).
        if std::env::var("PIGEONHOLE_DHT_ONLY").as_deref() == Ok("fetch_all") {
            let env = |name, default: &str| std::env::var(name).unwrap_or(default.into());
            let runs: usize = env("PIGEONHOLE_DHT_RUNS", "10").parse().expect("PIGEONHOLE_DHT_RUNS");
            let live = env("PIGEONHOLE_DHT_LIVE", "1,100,1000");
            let rows = live.split(',').map(|n| n.trim().parse::<usize>().expect("PIGEONHOLE_DHT_LIVE"));
            println!();
            println!("| fetch_all on 8 nodes | p50 ms | max ms | all records every time ({runs} runs) |");
            println!("|---|---|---|---|");
            for (i, live) in rows.enumerate() {
                let (p50, max, all) = fetch_all(live, runs, 40 + i as u8, &clock).await;
                println!("| {live} live | {p50:.1} | {max:.1} | {all} |");
            }
            return;
        }

        // Cold start first, so nothing before it warms anything.
        let pair = sdk_cluster(2, 10, &clock).await;
        let inbox = mailbox_id("cold", 0);
        let sender = Identity::from_secret_bytes([7; 32]);
        let record = mailbox(&pair[0], &clock).publish(&sender, draft(inbox)).await.expect("publish");
        let fetched = mailbox(&pair[1], &clock).fetch_within(inbox, DAY).await.expect("fetch");
        assert!(fetched.records.iter().any(|r| r.id() == record.id()));
        let cold = process_start.elapsed();
        stop_all(pair).await;

        let idle5 = idle_sync(5, 11, &clock).await;
        let idle20 = idle_sync(20, 12, &clock).await;

        let sdk8 = sdk(8, 20, &clock).await;
        let base8 = baseline(8, 21, &sdk8.records).await;

        let rss_before = rss_kib();
        let idle = sdk_cluster(24, 30, &clock).await;
        tokio::time::sleep(Duration::from_secs(1)).await; // let connections settle before reading RSS
        let rss_after = rss_kib();
        stop_all(idle).await;
        let rss_per_node = (rss_after.saturating_sub(rss_before)) as f64 / 24.0 / 1024.0;

        let sdk24 = sdk(24, 31, &clock).await;
        let base24 = baseline(24, 32, &sdk24.records).await;

        let mut fetch_rows = Vec::new();
        for (i, live) in [1usize, 100, 1000].into_iter().enumerate() {
            fetch_rows.push((live, fetch_all(live, 10, 40 + i as u8, &clock).await));
        }
        let (rate, sus, sus_errors) = sustained(10, 50, &clock).await;

        println!();
        println!("Pigeonhole DHT bench — loopback, one 127.0.0.x per node, {RECORD_BYTES}-byte signed records, {OPS} ops per row");
        println!();
        println!("| nodes | operation | p50 ms | p99 ms | baseline p50 ms | baseline p99 ms | ratio p50 | read-after-write |");
        println!("|---|---|---|---|---|---|---|---|");
        for (n, s, b) in [(8, &sdk8, &base8), (24, &sdk24, &base24)] {
            println!(
                "| {n} | publish (next seq + put to replicas, v2) | {:.2} | {:.2} | {:.2} (put_record) | {:.2} | {:.2}× | |",
                s.publish.p50, s.publish.p99, b.put.p50, b.put.p99, s.publish.p50 / b.put.p50
            );
            println!(
                "| {n} | fetch (listing read, other node) | {:.2} | {:.2} | {:.2} (get_record) | {:.2} | {:.2}× | {}/{OPS} (baseline {}/{OPS}) |",
                s.fetch.p50, s.fetch.p99, b.get.p50, b.get.p99, s.fetch.p50 / b.get.p50, s.found, b.found
            );
            println!(
                "| {n} | slot get by key (kad interop path) | {:.2} | {:.2} | | | | {}/{OPS} |",
                s.get.p50, s.get.p99, s.get_found
            );
        }
        println!();
        println!("| idle sync (fetch_all of an empty mailbox) | network requests per mailbox | p50 ms |");
        println!("|---|---|---|");
        for (n, (requests, p50)) in [(5, idle5), (20, idle20)] {
            println!("| {n} nodes | {requests:.1} | {p50:.2} |");
        }
        println!();
        println!("| fetch_all on 8 nodes | p50 ms | max ms | all records every time (10 runs) |");
        println!("|---|---|---|---|");
        for (live, (p50, max, all)) in &fetch_rows {
            println!("| {live} live | {p50:.1} | {max:.1} | {all} |");
        }
        println!();
        println!("| other | value |");
        println!("|---|---|");
        println!(
            "| sustained publish, 32 in flight, 8 nodes, 10 s | {rate:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {sus_errors} errors |",
            sus.p50, sus.p99
        );
        println!("| cold start: process start → first publish → fetch (2 nodes) | {:.1} ms |", cold.as_secs_f64() * 1000.0);
        println!("| resident memory per idle node (24 nodes) | {rss_per_node:.2} MiB |");
    });
}
