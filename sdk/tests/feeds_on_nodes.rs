//! Feeds and document notices on real libp2p nodes over TCP on 127.0.0.1:
//! every generic feed and notice case from the core on a 3-node cluster,
//! and the facade's `feeds()`, `notices()` and single event stream.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../node/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use common::buddy_cases::{BuddyNet, Client};
use pigeonhole::feed::FeedEvent;
use pigeonhole::notice::{NoticeEvent, UpdateContent};
use pigeonhole_sdk::{Config, Event, Node};

async fn three_nodes() -> BuddyNet {
    support::init_tracing();
    let clock = common::clock();
    let nodes = support::cluster(3, &clock).await;
    BuddyNet {
        clients: nodes
            .into_iter()
            .map(|node| Arc::new(node) as Client)
            .collect(),
        clock,
    }
}

feed_cases!(three_nodes().await);
notice_cases!(three_nodes().await);

/// Two facade nodes: a post and a document update made on one reach the
/// other's single event stream as `Event::Feed` and `Event::Doc`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facade_has_feeds_notices_and_one_event_stream() {
    support::init_tracing();
    let clock = common::clock();
    let config = |bootstrap: Vec<pigeonhole_sdk::Multiaddr>| Config {
        peer: pigeonhole_sdk::PeerConfig {
            clock: clock.clone(),
            bootstrap_peers: bootstrap,
            ..pigeonhole_sdk::PeerConfig::loopback()
        },
        sync_interval: None,
        ..Config::default()
    };
    let author = Node::start(config(vec![])).await.unwrap();
    let reader = Node::start(config(author.peer().listen_addrs()))
        .await
        .unwrap();
    assert!(
        reader
            .peer()
            .wait_for_peers(1, support::WAIT)
            .await
            .routing_peers
            >= 1
    );
    let feed = author.feeds().own_feed("news").unwrap();
    let doc = author.notices().own_doc("plan").unwrap();
    reader.feeds().follow(&feed).await.unwrap();
    reader.notices().watch(&doc).await.unwrap();
    let mut events = reader.events();

    let post = author
        .feeds()
        .post("news", "Hello", Some("https://example.org/"), "first", None)
        .await
        .unwrap();
    author
        .notices()
        .notify_update(&doc, 1, "first draft", UpdateContent::Carry(b"v1".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        reader.feeds().fetch_new(&feed).await.unwrap().posts.len(),
        1
    );
    assert_eq!(
        reader
            .notices()
            .fetch_updates(&doc)
            .await
            .unwrap()
            .notices
            .len(),
        1
    );

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(support::WAIT, events.recv())
            .await
            .expect("events arrive")
            .expect("stream open");
        seen.push(event);
    }
    assert!(
        matches!(&seen[0], Event::Feed(FeedEvent::Posted(p)) if p.id == post.id),
        "{seen:?}"
    );
    assert!(
        matches!(&seen[1], Event::Doc(NoticeEvent::Updated(n)) if n.body.version == 1),
        "{seen:?}"
    );
    reader.stop().await;
    author.stop().await;
}
