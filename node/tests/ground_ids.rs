//! Ground peer ids (issue 11): 20 raw-libp2p peers whose ids were ground
//! (keypairs generated until the id's XOR distance to the victim's inbox is
//! smaller than every honest peer's) take the whole "closest peers" set of
//! one inbox. They acknowledge every put and answer every read with
//! nothing. The owner must still read every request sent to it: from a
//! sender whose node has been on the network since before the sybils came,
//! and from one whose node joined after them (it knows no peer of standing
//! and sees the sybils as closest). Every other honest node reads them too.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use libp2p::kad::{KBucketKey, RecordKey};
use pigeonhole::record::MailboxId;
use pigeonhole_node::Node;
use support::*;

const HONEST: usize = 5;
const GROUND: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ground_ids_do_not_hide_an_inbox_from_its_owner() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(HONEST, &clock).await;
    // The honest nodes have been connected for `standing_after`.
    age_cluster(&nodes, &clock).await;
    // nodes[0] owns the inbox (any honest node reads it alike).
    let inbox = inbox_of(1);
    let sybils = ground_sybils(&nodes, inbox).await;
    let routed = HONEST - 1 + GROUND / 2;

    // A sender whose node was there before the sybils.
    let mut want = BTreeSet::new();
    let early = mailbox(&nodes[1], &clock)
        .publish(&identity(2), request_draft(inbox, DAY))
        .await
        .expect("publish from a node of standing");
    want.insert(early.id());

    // A sender whose node joins after them: it is pointed at one honest
    // node (a friend's QR code), then finds everyone else, sybils included.
    let newcomer = Node::start(node_config(&clock)).await.expect("start");
    newcomer
        .add_peer(
            nodes[2].listen_addrs()[0]
                .clone()
                .with_p2p(nodes[2].peer_id())
                .unwrap(),
        )
        .await
        .expect("add peer");
    let first = newcomer
        .wait_for_status(|s| s.connected_peers >= 1, WAIT)
        .await;
    assert!(first.connected_peers >= 1, "{first:?}");
    for sybil in &sybils {
        newcomer
            .add_peer(sybil.addr.clone().with_p2p(sybil.peer_id).unwrap())
            .await
            .expect("add sybil");
    }
    // The sybils answer first (mDNS, say); the other honest nodes later.
    let found = newcomer
        .wait_for_status(|s| s.connected_peers > GROUND / 2, WAIT)
        .await;
    assert!(found.connected_peers > GROUND / 2, "{found:?}");
    for node in &nodes[1..] {
        newcomer
            .add_peer(
                node.listen_addrs()[0]
                    .clone()
                    .with_p2p(node.peer_id())
                    .unwrap(),
            )
            .await
            .expect("add peer");
    }
    let status = newcomer.wait_for_peers(routed + 1, WAIT).await;
    assert!(status.routing_peers > routed, "{status:?}");
    let late = mailbox(&newcomer, &clock)
        .publish(&identity(3), request_draft(inbox, DAY))
        .await
        .expect("publish from a newcomer");
    want.insert(late.id());

    // The owner, and every other honest node, reads both (the newcomer's
    // record reaches the replicas of standing through the peer it was
    // stored on: bounded wait).
    for (i, reader) in nodes.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + WAIT;
        let got = loop {
            let fetched = mailbox(reader, &clock)
                .fetch_all(inbox)
                .await
                .expect("read");
            let got: BTreeSet<[u8; 32]> = fetched.records.iter().map(|r| r.id()).collect();
            if want.is_subset(&got) || tokio::time::Instant::now() >= deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert!(
            got.contains(&early.id()),
            "node {i}: the request from a node of standing is hidden"
        );
        assert!(
            got.contains(&late.id()),
            "node {i}: the request from the newcomer is hidden"
        );
    }
    let asked: usize = sybils
        .iter()
        .map(|s| s.lists.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    eprintln!("ground ids: every honest node read both requests; sybils answered {asked} listings");
    for sybil in sybils {
        sybil.stop();
    }
    newcomer.stop().await;
    stop_all(&nodes).await;
}

/// Grinds [`GROUND`] ids closer to `inbox` than every node of `nodes`,
/// starts them as silent peers and introduces them to every node.
async fn ground_sybils(nodes: &[Node], inbox: MailboxId) -> Vec<SilentPeer> {
    let target = KBucketKey::new(RecordKey::new(&inbox.0));
    let distance = |peer: libp2p::PeerId| KBucketKey::from(peer).distance(&target);
    let nearest_honest = nodes.iter().map(|n| distance(n.peer_id())).min().unwrap();
    let mut keys = Vec::with_capacity(GROUND);
    let mut tries = 0u64;
    while keys.len() < GROUND {
        tries += 1;
        assert!(tries < 10_000_000, "grinding did not finish");
        let key = libp2p::identity::Keypair::generate_ed25519();
        if distance(key.public().to_peer_id()) < nearest_honest {
            keys.push(key);
        }
    }
    eprintln!("ground {GROUND} ids closer to the inbox than every honest peer in {tries} keypairs");
    let mut sybils = Vec::with_capacity(GROUND);
    for (i, key) in keys.into_iter().enumerate() {
        sybils.push(SilentPeer::start(key, &nodes[i % HONEST]).await);
    }
    for node in nodes {
        for sybil in &sybils {
            node.add_peer(sybil.addr.clone().with_p2p(sybil.peer_id).unwrap())
                .await
                .expect("add sybil");
        }
    }
    // The ground ids share a long prefix, so most of them fall into one
    // k-bucket of each node (20 entries at most): half of them routed is
    // already far more than the `factor` closest.
    let routed = HONEST - 1 + GROUND / 2;
    for node in nodes {
        let status = node.wait_for_peers(routed, WAIT).await;
        assert!(
            status.routing_peers >= routed,
            "sybils not routed: {status:?}"
        );
    }

    sybils
}

/// A newcomer whose first connections are all ground ids (it was pointed at
/// the attacker) but whose app trusts one honest node (a buddy's): its
/// request still reaches every honest node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_buddy_node_carries_a_newcomers_request_past_ground_ids() {
    init_tracing();
    let clock = clock();
    let nodes = cluster(HONEST, &clock).await;
    age_cluster(&nodes, &clock).await;
    let inbox = inbox_of(1);
    let sybils = ground_sybils(&nodes, inbox).await;
    let newcomer = Node::start(node_config(&clock)).await.expect("start");
    for sybil in &sybils {
        newcomer
            .add_peer(sybil.addr.clone().with_p2p(sybil.peer_id).unwrap())
            .await
            .expect("add sybil");
    }
    let found = newcomer
        .wait_for_status(|s| s.connected_peers >= GROUND / 2, WAIT)
        .await;
    assert!(found.connected_peers >= GROUND / 2, "{found:?}");
    for node in &nodes {
        newcomer
            .add_peer(
                node.listen_addrs()[0]
                    .clone()
                    .with_p2p(node.peer_id())
                    .unwrap(),
            )
            .await
            .expect("add peer");
    }
    let status = newcomer.wait_for_peers(HONEST + GROUND / 2, WAIT).await;
    assert!(status.routing_peers >= HONEST + GROUND / 2, "{status:?}");
    assert!(newcomer.trust_peer(nodes[3].peer_id(), true).await.unwrap());
    assert!(newcomer.has_standing(nodes[3].peer_id()).await.unwrap());
    let record = mailbox(&newcomer, &clock)
        .publish(&identity(4), request_draft(inbox, DAY))
        .await
        .expect("publish");
    for (i, reader) in nodes.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let fetched = mailbox(reader, &clock)
                .fetch_all(inbox)
                .await
                .expect("read");
            if fetched.records.iter().any(|r| r.id() == record.id()) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {i}: the newcomer's request is hidden"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for sybil in sybils {
        sybil.stop();
    }
    newcomer.stop().await;
    stop_all(&nodes).await;
}
