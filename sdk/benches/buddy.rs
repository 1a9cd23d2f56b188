//! Buddy requests on 5 real nodes over loopback TCP.
//!
//! * Delivery: the time from `send_request` returning on a sender's node to
//!   the `RequestReceived` event on an online recipient whose background
//!   sync runs every `SYNC_INTERVAL` (the latency is about half the
//!   interval plus one inbox sync; sends are spread over the sync period).
//! * `pending_requests()` with 1, 10 and 100 pending (a local read that
//!   re-validates and re-checks each stored request), and the `sync_now()`
//!   that fetched them.
//! * Idle sync: network requests (`NodeStatus::requests_sent`, the mailbox
//!   protocol requests the node sent) per `sync_now()` of an empty inbox,
//!   on 5 and 20 nodes; the first sync (which also runs the mailbox's
//!   closest-peers lookup, Kademlia requests not counted here) apart.
//!
//! `cargo bench -p pigeonhole-sdk --bench buddy` prints the tables
//! (`PIGEONHOLE_BENCH_IDLE_ONLY=1` prints only the idle-sync table).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyEvent};
use pigeonhole::clock::{Clock, SystemClock};
use pigeonhole::mailbox::{Mailbox, MailboxConfig};
use pigeonhole::record::Validator;
use pigeonhole::store::Store;
use pigeonhole_sdk::{Config, Node, Peer, PeerConfig};

const SYNC_INTERVAL: Duration = Duration::from_millis(250);
const NODES: usize = 5;
const DELIVERIES: usize = 30;

async fn node(ip: &str, bootstrap: Vec<pigeonhole_sdk::Multiaddr>, sync: Option<Duration>) -> Node {
    let config = Config {
        peer: PeerConfig {
            bootstrap_peers: bootstrap,
            ..PeerConfig::on_ip(ip.parse().expect("a loopback address"))
        },
        sync_interval: sync,
        ..Config::default()
    };
    Node::start(config).await.expect("start node")
}

/// A user with an in-memory database on `peer`.
fn user(peer: &Peer, name: &str) -> BuddyBook<Peer> {
    user_with(peer, name, BuddyConfig::default())
}

fn user_with(peer: &Peer, name: &str, config: BuddyConfig) -> BuddyBook<Peer> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Store::open_in_memory(Validator::default(), clock.clone()).expect("store");
    let mailbox = Mailbox::new(
        peer.clone(),
        Validator::default(),
        clock.clone(),
        MailboxConfig::default(),
    );
    let book = BuddyBook::new(Arc::new(store), mailbox, clock, config).expect("book");
    book.set_profile(name, None).expect("profile");
    book
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("PIGEONHOLE_BENCH_IDLE_ONLY").is_some() {
        return idle_sync_rows().await;
    }
    let first = node("127.0.0.1", vec![], Some(SYNC_INTERVAL)).await;
    let boot = first.peer().listen_addrs();
    let mut others = Vec::new();
    for i in 2..=NODES {
        others.push(node(&format!("127.0.0.{i}"), boot.clone(), None).await);
    }
    for n in std::iter::once(&first).chain(&others) {
        n.peer()
            .wait_for_peers(NODES - 1, Duration::from_secs(10))
            .await;
    }

    // Delivery latency to an online recipient (the first node's user).
    first
        .buddies()
        .set_profile("Recipient", None)
        .await
        .unwrap();
    let code = first.buddies().contact_code().await.unwrap().to_string();
    let mut events = first.subscribe();
    let mut latencies = Vec::new();
    for i in 0..DELIVERIES {
        let sender = user(others[i % others.len()].peer(), &format!("Sender {i}"));
        // Send at a spread of moments within the sync period, not always
        // right after the previous delivery's sync.
        let spread = (i as u32 * 7) % DELIVERIES as u32;
        tokio::time::sleep(SYNC_INTERVAL * spread / DELIVERIES as u32).await;
        sender
            .send_request(&code, "hello", vec![])
            .await
            .expect("send");
        let sent_at = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(BuddyEvent::RequestReceived { from, .. })) if from == sender.public_key() => {
                    break;
                }
                Ok(Ok(_)) => continue,
                other => panic!("no delivery: {other:?}"),
            }
        }
        latencies.push(sent_at.elapsed());
    }
    latencies.sort();
    println!(
        "Delivery on {NODES} nodes, background sync every {} ms, {DELIVERIES} requests:",
        SYNC_INTERVAL.as_millis()
    );
    println!("| send returned → RequestReceived | p50 | p95 | max |");
    println!("|---|---|---|---|");
    println!(
        "| latency | {} | {} | {} |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.95)),
        ms(*latencies.last().unwrap())
    );
    println!();

    // pending_requests() with 1, 10 and 100 pending, on a second recipient.
    // 100 pending from strangers: above the default cap on pending
    // requests from unknown senders (50, issue 11), so this recipient
    // raises it.
    let recipient = user_with(
        others[0].peer(),
        "Busy",
        BuddyConfig {
            max_pending_unknown: 100,
            ..BuddyConfig::default()
        },
    );
    let code = recipient.contact_code().unwrap().to_string();
    println!("| pending | sync_now() that fetched them | pending_requests() (median of 20) |");
    println!("|---|---|---|");
    let mut sent = 0;
    for target in [1usize, 10, 100] {
        while sent < target {
            let peer = if sent % 2 == 0 {
                first.peer()
            } else {
                others[1].peer()
            };
            user(peer, &format!("Fan {sent}"))
                .send_request(&code, "hi", vec![])
                .await
                .expect("send");
            sent += 1;
        }
        let started = Instant::now();
        let report = recipient.sync_now().await.expect("sync");
        let sync_time = started.elapsed();
        assert_eq!(
            recipient.pending_requests().unwrap().len(),
            target,
            "{report:?}"
        );
        let mut reads: Vec<_> = (0..20)
            .map(|_| {
                let started = Instant::now();
                let pending = recipient.pending_requests().unwrap();
                assert_eq!(pending.len(), target);
                started.elapsed()
            })
            .collect();
        reads.sort();
        println!(
            "| {target} | {} | {} |",
            ms(sync_time),
            ms(percentile(&reads, 0.5))
        );
    }

    for n in others {
        n.stop().await;
    }
    first.stop().await;
    println!();
    idle_sync_rows().await;
}

/// Requests per idle sync of an empty inbox, at 5 and 20 nodes.
async fn idle_sync_rows() {
    const SYNCS: u64 = 10;
    println!(
        "| nodes | requests, first sync_now() (empty inbox) | requests per idle sync_now() (mean of {SYNCS}) |"
    );
    println!("|---|---|---|");
    for nodes in [5usize, 20] {
        let first = Peer::start(PeerConfig::loopback()).await.expect("start");
        let boot = first.listen_addrs();
        let mut peers = vec![first];
        for _ in 1..nodes {
            let config = PeerConfig {
                bootstrap_peers: boot.clone(),
                ..PeerConfig::loopback()
            };
            peers.push(Peer::start(config).await.expect("start"));
        }
        for peer in &peers {
            peer.wait_for_peers(nodes - 1, Duration::from_secs(10))
                .await;
        }
        let reader = &peers[nodes / 2];
        let book = user(reader, "Idle");
        let before = reader.status().requests_sent;
        book.sync_now().await.expect("first sync");
        let first_sync = reader.status().requests_sent - before;
        let before = reader.status().requests_sent;
        for _ in 0..SYNCS {
            book.sync_now().await.expect("idle sync");
        }
        let per_sync = (reader.status().requests_sent - before) as f64 / SYNCS as f64;
        println!("| {nodes} | {first_sync} | {per_sync:.1} |");
        for peer in peers {
            peer.stop().await;
        }
    }
    println!("target: ≤ 2 per mailbox (v1: ~248)");
}
