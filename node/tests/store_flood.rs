//! Fair storage under a store flood (issue 11): one attacker with 100 free
//! keys, speaking raw libp2p, writes into feeds, random mailboxes and one
//! victim's inbox on every node until the nodes refuse. Afterwards an
//! honest buddy request still reaches the victim, honest feed posts still
//! publish, protected mailboxes keep their records, and no node holds more
//! than its caps. (Before fair storage — first come, first kept — every
//! honest put after such a flood was refused.)

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod flood;
mod support;

use common::*;
use flood::*;
use pigeonhole::mailbox::Draft;
use pigeonhole::record::body::{BodyRules, FeedPost, feed_mailbox};
use pigeonhole::record::{Kind, Policy, Validator};
use pigeonhole::store::Store;
use pigeonhole_node::{Node, NodeConfig, PeerLimits};
use support::*;

/// Per-peer budgets off: this file tests what fair storage does once the
/// stores are full, so the attacker's one connection must be able to fill
/// them; the budgets that slow a flooder down are tested in
/// `load_limits.rs`.
fn unthrottled() -> PeerLimits {
    PeerLimits {
        puts_per_second: (1_000_000, 1_000_000),
        reads_per_second: (1_000_000, 1_000_000),
        queue_per_peer: 4096,
        queue_total: 8192,
        ..PeerLimits::default()
    }
}

/// A feed post draft of `author`'s feed "news", number `number`.
fn post_draft(author: &pigeonhole::identity::Identity, number: u64) -> Draft {
    Draft {
        kind: Kind::FeedPost,
        mailbox: feed_mailbox(&author.public_key(), "news"),
        body: FeedPost {
            feed_name: "news".into(),
            title: format!("Honest post {number}"),
            link: None,
            summary: "Meet at the fountain at six.".into(),
            number,
            published_at: None,
            replaces: None,
        }
        .encode(),
        lifetime_secs: 7 * DAY,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_store_flood_honest_requests_and_posts_still_get_through() {
    init_tracing();
    let clock = clock();
    let limits = small_limits();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(
            Node::start(NodeConfig {
                data_dir: Some(dir.path().to_path_buf()),
                limits,
                peer_limits: unthrottled(),
                ..node_config(&clock)
            })
            .await
            .expect("start"),
        );
    }
    connect_all(&nodes).await;
    // Every node is a replica of everything (4 ≤ factor 5): the attacker
    // floods them all. The writer is node 2, the victim reads on node 3.
    let (writer, victim_node) = (&nodes[2], &nodes[3]);
    let victim = identity(40);
    let inbox = inbox_of(40);
    let targets: Vec<_> = nodes.iter().map(target_of).collect();

    let mut attacker = Attacker::new(100, inbox, NOW);
    let rounds = attacker.flood_until_refused(&targets, 12).await;
    eprintln!("flood rounds: {rounds:?}");
    let last = rounds.last().unwrap();
    // At the caps, part of every round is refused for quota; the rest is
    // stored by displacing the attacker's own largest keys (fair storage
    // rotates a flooder's records, it does not freeze). Whether every node
    // is full is checked below from its stats.
    assert!(
        last.quota_refused * 5 >= last.sent,
        "the flood never reached the caps: {rounds:?}"
    );
    // An honest buddy request into the victim's inbox is stored …
    let sender = identity(41);
    let request = mailbox(writer, &clock)
        .publish(&sender, request_draft(inbox, DAY))
        .await
        .expect("an honest request after the flood");
    let mut holders = 0;
    for node in [&nodes[0], &nodes[1], victim_node] {
        if node.held(request.dht_key()).await.unwrap().is_some() {
            holders += 1;
        }
    }
    assert!(
        holders >= 2,
        "only {holders} flooded replicas took the honest request"
    );
    // … and the victim reads it from its own node, among the spam.
    let fetched = mailbox(victim_node, &clock)
        .fetch_within(inbox, DAY)
        .await
        .expect("the victim's fetch");
    assert!(
        fetched.records.iter().any(|r| r.id() == request.id()),
        "the victim did not get the honest request ({} records read)",
        fetched.records.len()
    );
    let _ = victim;

    // Honest feed posts still publish and are read from another node.
    let author = identity(42);
    let mut posts = Vec::new();
    for number in 1..=3 {
        posts.push(
            mailbox(writer, &clock)
                .publish(&author, post_draft(&author, number))
                .await
                .expect("an honest feed post after the flood"),
        );
    }
    let feed = mailbox(&nodes[1], &clock)
        .fetch_within(feed_mailbox(&author.public_key(), "news"), 7 * DAY)
        .await
        .expect("fetch the feed");
    for post in &posts {
        assert!(feed.records.iter().any(|r| r.id() == post.id()));
    }

    // The flood filled every node, and fair storage displaced records.
    for (i, node) in nodes.iter().enumerate() {
        let stats = node.store_stats().await.unwrap();
        eprintln!("node {i}: {stats:?}");
        assert!(
            stats.bytes * 10 >= limits.max_total_bytes * 8,
            "node {i} was not filled: {stats:?}"
        );
        assert!(stats.bytes <= limits.max_total_bytes, "node {i}: {stats:?}");
        assert!(stats.displaced_records > 0, "node {i} displaced nothing");
    }

    // No node holds more than its caps (read from the files).
    stop_all(&nodes).await;
    for (i, dir) in dirs.iter().enumerate() {
        let store = Store::open(
            dir.path().join(pigeonhole_node::node::DB_FILE),
            Validator::new(Policy::default()),
            clock.clone(),
        )
        .unwrap();
        assert_within_caps(&store, &limits, &format!("node {i}"));
    }
}

/// A node's protected mailboxes (its user's follows) keep their records
/// through the flood although their author holds more than anyone, and a
/// new post into one still gets in; the same author's unprotected records
/// are displaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_mailboxes_keep_their_records_through_a_flood() {
    init_tracing();
    let clock = clock();
    let limits = small_limits();
    let nodes = {
        let mut nodes = Vec::new();
        for _ in 0..2 {
            nodes.push(
                Node::start(NodeConfig {
                    limits,
                    peer_limits: unthrottled(),
                    ..node_config(&clock)
                })
                .await
                .expect("start"),
            );
        }
        connect_all(&nodes).await;
        nodes
    };
    let (writer, follower) = (&nodes[0], &nodes[1]);
    let author = identity(43);
    let followed = feed_mailbox(&author.public_key(), "news");
    follower.protect_mailboxes(vec![followed]).await.unwrap();
    assert_eq!(follower.store_stats().await.unwrap().protected_mailboxes, 1);
    // A prolific honest author: 12 posts in the followed feed, 4 requests
    // elsewhere — the largest holder on every node.
    let mut posts = Vec::new();
    for number in 1..=12 {
        posts.push(
            mailbox(writer, &clock)
                .publish(&author, post_draft(&author, number))
                .await
                .expect("post"),
        );
    }
    let mut elsewhere = Vec::new();
    for seed in 0..4u8 {
        elsewhere.push(
            mailbox(writer, &clock)
                .publish(&author, request_draft(inbox_of(100 + seed), DAY))
                .await
                .expect("request"),
        );
    }

    let mut attacker = Attacker::new(100, inbox_of(44), NOW);
    let rounds = attacker
        .flood_until_refused(&[target_of(follower)], 12)
        .await;
    eprintln!("flood rounds: {rounds:?}");
    for post in &posts {
        assert!(
            follower.held(post.dht_key()).await.unwrap().is_some(),
            "a post in a protected mailbox was displaced"
        );
    }
    let mut kept_elsewhere = 0;
    for record in &elsewhere {
        if follower.held(record.dht_key()).await.unwrap().is_some() {
            kept_elsewhere += 1;
        }
    }
    assert!(
        kept_elsewhere < elsewhere.len(),
        "the largest holder's unprotected records were all kept"
    );
    let stats = follower.store_stats().await.unwrap();
    assert!(stats.displaced_records > 0, "{stats:?}");
    // A new post into the followed feed is admitted by the follower.
    let (key, bytes) = {
        let record = pigeonhole::mailbox::Mailbox::new(
            writer.clone(),
            Validator::new(Policy::default()),
            clock.clone(),
            Default::default(),
        )
        .publish(&author, post_draft(&author, 13))
        .await
        .expect("a new post after the flood");
        (record.dht_key(), record.bytes().to_vec())
    };
    assert_eq!(follower.held(key).await.unwrap(), Some(bytes));
    stop_all(&nodes).await;
}
