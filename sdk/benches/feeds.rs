//! A follower catching up on a feed of 1, 100 and 1,000 posts on 5 real
//! nodes over loopback TCP: wall time of `fetch_new`, DHT requests the
//! follower issued (gets, puts, listing reads through the `Dht` trait, each
//! one Kademlia query or one listing round trip), and records per second.
//! Each size is caught up 5 times by fresh followers (new databases on the
//! same node); p50 and max are printed. Baseline in the same run: one
//! `Mailbox::fetch_all` of the same feed (the raw scan without the feed
//! layer's bookkeeping).
//!
//! `cargo bench -p pigeonhole-sdk --bench feeds` prints the table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pigeonhole::clock::{Clock, SystemClock};
use pigeonhole::feed::{FeedBook, FeedConfig};
use pigeonhole::mailbox::{Dht, DhtError, ListCursor, ListPage, Mailbox, MailboxConfig};
use pigeonhole::record::{DhtKey, MailboxId, Validator};
use pigeonhole::store::Store;
use pigeonhole_node::Limits;
use pigeonhole_sdk::{Config, Node, Peer, PeerConfig};

const NODES: usize = 5;
const RUNS: usize = 5;

/// The follower's view of the DHT, counting every request it issues.
struct Counting {
    peer: Peer,
    requests: AtomicU64,
}

#[async_trait]
impl Dht for Counting {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Dht::get(&self.peer, key).await
    }
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Dht::put(&self.peer, key, value).await
    }
    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Dht::list(&self.peer, mailbox, after, limit).await
    }
    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Dht::next_seq(&self.peer, mailbox, bucket).await
    }
}

async fn node(ip: &str, bootstrap: Vec<pigeonhole_sdk::Multiaddr>) -> Node {
    let config = Config {
        peer: PeerConfig {
            bootstrap_peers: bootstrap,
            // The default allows 256 live records per sender and mailbox,
            // fewer than the 1,000-post feed measured here.
            limits: Limits {
                max_records_per_sender_per_mailbox: 2048,
                ..Limits::default()
            },
            ..PeerConfig::on_ip(ip.parse().expect("a loopback address"))
        },
        sync_interval: None,
        ..Config::default()
    };
    Node::start(config).await.expect("start node")
}

fn book<D: Dht>(dht: D) -> FeedBook<D> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Store::open_in_memory(Validator::default(), clock.clone()).expect("store");
    let mailbox = Mailbox::new(
        dht,
        Validator::default(),
        clock.clone(),
        MailboxConfig::default(),
    );
    FeedBook::new(Arc::new(store), mailbox, clock, FeedConfig::default()).expect("book")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let first = node("127.0.0.1", vec![]).await;
    let boot = first.peer().listen_addrs();
    let mut others = Vec::new();
    for i in 2..=NODES {
        others.push(node(&format!("127.0.0.{i}"), boot.clone()).await);
    }
    for n in &others {
        n.peer()
            .wait_for_peers(NODES - 1, Duration::from_secs(20))
            .await;
    }
    let author = book(first.peer().clone());
    let reader_peer = others[NODES - 2].peer().clone();
    println!("Follower catching up, {NODES} nodes on loopback, {RUNS} fresh followers per size:");
    println!(
        "| posts | fetch_new p50 | max | DHT requests | records/s (p50) | baseline fetch_all |"
    );
    println!("|---|---|---|---|---|---|");
    for size in [1usize, 100, 1000] {
        let name = format!("bench-{size}");
        for i in 0..size {
            author
                .post(&name, &format!("Post {i}"), None, "text", None)
                .await
                .expect("post");
        }
        let feed = author.own_feed(&name).unwrap();
        let mut times = Vec::new();
        let mut requests = 0;
        for _ in 0..RUNS {
            let counting = Arc::new(Counting {
                peer: reader_peer.clone(),
                requests: AtomicU64::new(0),
            });
            let follower = book(counting.clone());
            follower.follow(&feed).unwrap();
            let started = Instant::now();
            let update = follower.fetch_new(&feed).await.expect("fetch");
            times.push(started.elapsed());
            assert_eq!(update.posts.len(), size, "every post caught up");
            requests = counting.requests.load(Ordering::Relaxed);
        }
        times.sort();
        let p50 = times[RUNS / 2];
        let baseline = {
            let mailbox = Mailbox::new(
                reader_peer.clone(),
                Validator::default(),
                Arc::new(SystemClock),
                MailboxConfig::default(),
            );
            let started = Instant::now();
            let fetched = mailbox.fetch_all(feed.mailbox()).await.expect("fetch_all");
            assert_eq!(fetched.records.len(), size);
            started.elapsed()
        };
        println!(
            "| {size} | {} | {} | {requests} | {:.0} | {} |",
            ms(p50),
            ms(times[RUNS - 1]),
            size as f64 / p50.as_secs_f64(),
            ms(baseline)
        );
    }
    for n in others {
        n.stop().await;
    }
    first.stop().await;
}
