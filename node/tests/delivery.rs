//! Delivery on real nodes (protocol v2): what an acknowledged publish
//! means, what a refusal looks like, read-after-write from other nodes,
//! two records of one slot kept on every replica, and a reader that still
//! finds honest records when the replicas closest to a mailbox are silent
//! sybils.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;

use common::*;
use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, MailboxError};
use pigeonhole::record::{Header, InstanceId, Kind, MailboxId};
use pigeonhole_node::{Limits, Node, NodeConfig, NodeError, Published, RefusalKind};
use rand::{Rng, SeedableRng};
use support::*;

/// A signed buddy request of `seed` in slot `seq` of `mailbox`.
fn request(seed: u8, mailbox: MailboxId, seq: u32, fill: usize) -> (Header, Vec<u8>) {
    let sender = identity(seed);
    let header = Header {
        kind: Kind::BuddyRequest,
        mailbox,
        instance: InstanceId {
            bucket: InstanceId::bucket_of(NOW + DAY),
            seq,
        },
        sender: sender.public_key(),
        created_at: NOW,
        expires_at: NOW + DAY,
    };
    let bytes = header.sign(&sender, &sealed_blob(fill));
    (header, bytes)
}

/// Starts `n` nodes configured by `config`, connected to `writer`.
async fn peers_of(writer: &Node, n: usize, config: impl Fn() -> NodeConfig) -> Vec<Node> {
    let mut all = vec![writer.clone()];
    for _ in 0..n {
        all.push(Node::start(config()).await.expect("start"));
    }
    connect_all(&all).await;
    all.split_off(1)
}

/// Every other peer refuses (store full): the publish fails with that
/// refusal, as `Rejected` with the quota kind — never Ok, never "taken".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_fails_with_the_refusal_when_every_other_peer_refuses() {
    init_tracing();
    let clock = clock();
    let writer = Node::start(node_config(&clock)).await.expect("writer");
    let full = Limits {
        max_total_bytes: 100,
        ..Limits::default()
    };
    let others = peers_of(&writer, 3, || NodeConfig {
        limits: full,
        ..node_config(&clock)
    })
    .await;
    let inbox = inbox_of(30);
    let (header, bytes) = request(1, inbox, 0, 64);
    match writer.put(header.dht_key(), bytes.clone()).await {
        Err(NodeError::Rejected { kind, reason }) => {
            assert_eq!(kind, RefusalKind::Quota, "{reason}");
            assert!(reason.contains("3 of 3"), "{reason}");
        }
        other => panic!("expected a quota refusal, got {other:?}"),
    }
    // Through the mailbox: the same refusal ends the publish.
    let published = mailbox(&writer, &clock)
        .publish(&identity(2), request_draft(inbox, DAY))
        .await;
    match published {
        Err(MailboxError::Dht(DhtError::Rejected(reason))) => {
            assert!(reason.starts_with("quota"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    for node in &others {
        assert_eq!(node.held_totals().await.unwrap().records, 0);
    }
    stop_all(&others).await;
    writer.stop().await;
}

/// Peers whose clocks are an hour behind refuse a record "created in the
/// future": the kind is `Clock`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_refusals_surface_with_their_kind() {
    init_tracing();
    let clock = clock();
    let behind = Arc::new(ManualClock::new(NOW - 3600));
    let writer = Node::start(node_config(&clock)).await.expect("writer");
    let others = peers_of(&writer, 2, || node_config(&behind)).await;
    let (header, bytes) = request(3, inbox_of(31), 0, 64);
    match writer.put(header.dht_key(), bytes).await {
        Err(NodeError::Rejected { kind, .. }) => assert_eq!(kind, RefusalKind::Clock),
        other => panic!("expected a clock refusal, got {other:?}"),
    }
    stop_all(&others).await;
    writer.stop().await;
}

/// A lone node says so: the record is stored locally and waits in the
/// outbox; once a peer appears the outbox reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_writer_is_told_its_record_waits_in_the_outbox() {
    init_tracing();
    let clock = clock();
    let writer = Node::start(node_config(&clock)).await.expect("writer");
    let (header, bytes) = request(4, inbox_of(32), 0, 64);
    assert_eq!(
        writer.put(header.dht_key(), bytes.clone()).await,
        Ok(Published::Alone)
    );
    assert_eq!(
        writer.held(header.dht_key()).await.unwrap(),
        Some(bytes.clone())
    );
    let peer = Node::start(node_config(&clock)).await.expect("peer");
    connect_all(&[writer.clone(), peer.clone()]).await;
    let status = peer
        .wait_for_status(|s| s.records_accepted >= 1, WAIT)
        .await;
    assert!(status.records_accepted >= 1, "outbox not sent: {status:?}");
    assert_eq!(peer.held(header.dht_key()).await.unwrap(), Some(bytes));
    // Now with a peer, a publish is acknowledged by it.
    let (header, bytes) = request(4, inbox_of(32), 1, 64);
    assert_eq!(
        writer.put(header.dht_key(), bytes).await,
        Ok(Published::Stored { replicas: 1 })
    );
    stop_all(&[writer, peer]).await;
}

/// 8 nodes: each of 60 records published from a random node is listed at
/// once by another random node (100%), with next_seq agreeing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_after_write_from_another_node_always_finds_the_record() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(8, &clock).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut missed = 0;
    for i in 0..60u32 {
        let inbox = inbox_of(100 + (i % 6) as u8);
        let w = rng.gen_range(0..nodes.len());
        let r = (w + rng.gen_range(1..nodes.len())) % nodes.len();
        let record = mailbox(&nodes[w], &clock)
            .publish(&identity((i % 5) as u8 + 1), request_draft(inbox, DAY))
            .await
            .expect("publish");
        let fetched = mailbox(&nodes[r], &clock)
            .fetch_within(inbox, DAY)
            .await
            .expect("fetch");
        if !fetched.records.iter().any(|got| got.id() == record.id()) {
            missed += 1;
        }
        let bucket = record.header.instance.bucket;
        let next = Dht::next_seq(&nodes[r], inbox, bucket).await.unwrap();
        assert!(next > Some(record.header.instance.seq), "{next:?}");
    }
    assert_eq!(missed, 0, "records not read right after their publish");
    stop_all(&nodes).await;
}

/// Two senders write one slot through different nodes: both records are
/// acknowledged, every node lists both (keep both), and a one-value read of
/// the slot answers the lower record id everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_records_of_one_slot_are_both_kept_on_every_replica() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(4, &clock).await;
    let inbox = inbox_of(33);
    let (header, first) = request(5, inbox, 0, 64);
    let (_, second) = request(6, inbox, 0, 80);
    let (a, b) = tokio::join!(
        nodes[0].put(header.dht_key(), first.clone()),
        nodes[1].put(header.dht_key(), second.clone()),
    );
    assert!(matches!(a, Ok(Published::Stored { .. })), "{a:?}");
    assert!(matches!(b, Ok(Published::Stored { .. })), "{b:?}");
    let lowest = pigeonhole::record::record_id(&first).min(pigeonhole::record::record_id(&second));
    for node in &nodes {
        let page = node.list(inbox, None, 10).await.expect("list");
        assert_eq!(page.records.len(), 2, "a replica lost one of the records");
        let held = node.held(header.dht_key()).await.unwrap().expect("held");
        assert_eq!(pigeonhole::record::record_id(&held), lowest);
    }
    stop_all(&nodes).await;
}

/// The two peers closest to a mailbox are sybils (raw libp2p peers that
/// answer every read with nothing): a reader still finds every honest
/// record, because one replica's silence is not an answer while others
/// remain and replicas of good standing are asked first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sybil_replicas_do_not_hide_honest_records() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(4, &clock).await;
    // Two sybil ids sharing their first 8 bits of key space (minted, as an
    // attacker would), and a mailbox both are closer to than every honest node.
    let honest: Vec<_> = nodes
        .iter()
        .map(|n| KBucketKey::from(n.peer_id()))
        .collect();
    let first = (0..100_000)
        .map(|_| libp2p::identity::Keypair::generate_ed25519())
        .find(|key| {
            let id = KBucketKey::from(key.public().to_peer_id());
            honest
                .iter()
                .all(|h| h.distance(&id).ilog2().is_some_and(|bits| bits >= 248))
        })
        .expect("a sybil id far from every honest node");
    let first_key = KBucketKey::from(first.public().to_peer_id());
    let second = (0..100_000)
        .map(|_| libp2p::identity::Keypair::generate_ed25519())
        .find(|key| {
            let distance = KBucketKey::from(key.public().to_peer_id()).distance(&first_key);
            distance.ilog2().is_some_and(|bits| bits < 248)
        })
        .expect("a second sybil id near the first");
    let keys = [first, second];
    let sybil_ids: Vec<_> = keys.iter().map(|k| k.public().to_peer_id()).collect();
    let inbox = (0u32..)
        .take(100_000)
        .map(|i| MailboxId::derive(b"sybil-test", &i.to_be_bytes()))
        .find(|mailbox| {
            let target = KBucketKey::new(RecordKey::new(&mailbox.0));
            let d = |peer: &libp2p::PeerId| KBucketKey::from(*peer).distance(&target);
            let nearest_honest = nodes.iter().map(|n| d(&n.peer_id())).min().unwrap();
            sybil_ids.iter().all(|id| d(id) < nearest_honest)
        })
        .expect("a mailbox the sybils are closest to");
    let mut sybils = Vec::new();
    for key in keys {
        sybils.push(SilentPeer::start(key, &nodes[0]).await);
    }
    // Every honest node routes to both sybils.
    for node in &nodes {
        for sybil in &sybils {
            node.add_peer(sybil.addr.clone().with_p2p(sybil.peer_id).unwrap())
                .await
                .expect("add sybil");
        }
    }
    for node in &nodes {
        let status = node.wait_for_peers(nodes.len() + 1, WAIT).await;
        assert!(
            status.routing_peers > nodes.len(),
            "sybils not routed: {status:?}"
        );
    }

    let mut published = Vec::new();
    for i in 0..20u8 {
        let writer = &nodes[usize::from(i) % 2];
        published.push(
            mailbox(writer, &clock)
                .publish(&identity(i + 1), request_draft(inbox, DAY))
                .await
                .expect("publish")
                .id(),
        );
    }
    for reader in &nodes[2..] {
        let fetched = mailbox(reader, &clock)
            .fetch_within(inbox, DAY)
            .await
            .expect("fetch");
        let mut found: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
        found.sort();
        let mut want = published.clone();
        want.sort();
        assert_eq!(found, want, "silent replicas hid honest records");
    }
    for sybil in sybils {
        sybil.stop();
    }
    stop_all(&nodes).await;
}

/// A replica that lost its copy (same peer id, emptied store) gets it back
/// from the publisher's republish: the publisher asks the replica set through
/// the put path, not its own store, and the replica that lacks it stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republish_repairs_a_replica_that_lost_the_record() {
    init_tracing();
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let holder_config = || NodeConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..node_config(&clock)
    };
    let publisher = Node::start(node_config(&clock)).await.expect("publisher");
    let holder = Node::start(holder_config()).await.expect("holder");
    connect_all(&[publisher.clone(), holder.clone()]).await;
    let record = mailbox(&publisher, &clock)
        .publish(&identity(9), request_draft(inbox_of(34), DAY))
        .await
        .expect("publish");
    assert_eq!(
        holder.held(record.dht_key()).await.unwrap().as_deref(),
        Some(record.bytes())
    );
    // The holder loses its database but keeps its peer key.
    holder.stop().await;
    std::fs::remove_file(dir.path().join(pigeonhole_node::node::DB_FILE)).unwrap();
    let holder = Node::start(holder_config()).await.expect("restart holder");
    connect_all(&[publisher.clone(), holder.clone()]).await;
    assert_eq!(holder.held(record.dht_key()).await.unwrap(), None);

    publisher.maintain().await.expect("republish");
    let status = holder
        .wait_for_status(|s| s.records_accepted >= 1, WAIT)
        .await;
    assert!(status.records_accepted >= 1, "not repaired: {status:?}");
    assert_eq!(
        holder.held(record.dht_key()).await.unwrap().as_deref(),
        Some(record.bytes())
    );
    stop_all(&[publisher, holder]).await;
}

/// A replica that serves forgeries (a bad signature, a record of another
/// mailbox, garbage) next to an honest replica: the reader returns exactly
/// the honest records — nothing a peer serves is trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_listings_never_reach_the_reader() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(2, &clock).await;
    let inbox = inbox_of(35);
    let mut published = Vec::new();
    for seed in 1..=3u8 {
        published.push(
            mailbox(&nodes[0], &clock)
                .publish(&identity(seed), request_draft(inbox, DAY))
                .await
                .expect("publish")
                .id(),
        );
    }
    let (_, mut forged) = request(40, inbox, 7, 64);
    *forged.last_mut().unwrap() ^= 1;
    let (_, elsewhere) = request(41, inbox_of(36), 8, 64);
    let served = vec![forged, elsewhere, vec![1, 2, 3]];
    let liar = SilentPeer::serving(
        libp2p::identity::Keypair::generate_ed25519(),
        &nodes[1],
        served,
    )
    .await;
    nodes[1]
        .add_peer(liar.addr.clone().with_p2p(liar.peer_id).unwrap())
        .await
        .expect("add liar");
    assert!(nodes[1].wait_for_peers(2, WAIT).await.routing_peers >= 2);
    // The reader has two remote candidates: the writer and the liar, so
    // both are asked.
    let fetched = mailbox(&nodes[1], &clock)
        .fetch_within(inbox, DAY)
        .await
        .expect("fetch");
    let mut found: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    found.sort();
    published.sort();
    assert_eq!(found, published);
    assert!(
        liar.lists.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the liar was never asked"
    );
    liar.stop();
    stop_all(&nodes).await;
}

/// The peers closest to a mailbox left (still in the routing tables, no
/// longer reachable): a publish goes to the next-closest live peers
/// instead of failing with "none of the replicas answered", and a reader
/// finds the record there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_replicas_are_stood_in_for_by_the_next_closest_peers() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(4, &clock).await;
    // Five peer ids closer to the mailbox than every honest node (minted,
    // as anyone can): the writer's whole remote replica set.
    let inbox = MailboxId::derive(b"departed", &rand::random::<u64>().to_be_bytes());
    let target = KBucketKey::new(RecordKey::new(&inbox.0));
    let nearest_honest = nodes
        .iter()
        .map(|n| KBucketKey::from(n.peer_id()).distance(&target))
        .min()
        .unwrap();
    let keys: Vec<_> = std::iter::repeat_with(libp2p::identity::Keypair::generate_ed25519)
        .take(1_000_000)
        .filter(|key| {
            KBucketKey::from(key.public().to_peer_id()).distance(&target) < nearest_honest
        })
        .take(5)
        .collect();
    assert_eq!(keys.len(), 5, "could not mint ids near the mailbox");
    let mut peers = Vec::new();
    for key in keys {
        peers.push(SilentPeer::start(key, &nodes[0]).await);
    }
    for node in &nodes {
        for peer in &peers {
            node.add_peer(peer.addr.clone().with_p2p(peer.peer_id).unwrap())
                .await
                .expect("add peer");
        }
    }
    for node in &nodes {
        let status = node
            .wait_for_peers(nodes.len() - 1 + peers.len(), WAIT)
            .await;
        assert!(
            status.routing_peers >= nodes.len() - 1 + peers.len(),
            "{status:?}"
        );
    }
    for peer in peers {
        peer.stop();
    }
    let record = mailbox(&nodes[0], &clock)
        .publish(&identity(3), request_draft(inbox, DAY))
        .await
        .expect("published to the live peers next in line");
    let mut holders = 0;
    for node in &nodes[1..] {
        if node.held_ids(inbox).await.unwrap().contains(&record.id()) {
            holders += 1;
        }
    }
    assert!(holders > 0, "no live peer other than the writer holds it");
    for reader in &nodes[1..] {
        let fetched = mailbox(reader, &clock)
            .fetch_all(inbox)
            .await
            .expect("read past the departed replicas");
        assert!(
            fetched.records.iter().any(|r| r.id() == record.id()),
            "a reader missed the record"
        );
    }
    stop_all(&nodes).await;
}
