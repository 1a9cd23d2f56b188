//! The buddy layer on real libp2p nodes over TCP on 127.0.0.1: every
//! generic buddy case from the core, on a 3-node cluster, and the full
//! lifecycle with offline periods through the [`pigeonhole_sdk::Node`]
//! facade.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../node/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use common::buddy_cases::{BuddyNet, Client};
use pigeonhole::clock::ManualClock;
use pigeonhole::store::buddies::SentStatus;
use pigeonhole_sdk::{Config, Node};

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

buddy_cases!(three_nodes().await);

/// A facade node on loopback keeping its files in `dir`, no background
/// sync (the test syncs when the user would open the app).
fn config(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    bootstrap: Vec<pigeonhole_sdk::Multiaddr>,
) -> Config {
    let mut config = Config::in_dir(dir);
    config.peer = pigeonhole_sdk::PeerConfig {
        data_dir: Some(dir.to_path_buf()),
        clock: clock.clone(),
        bootstrap_peers: bootstrap,
        ..pigeonhole_sdk::PeerConfig::loopback()
    };
    config.sync_interval = None;
    config
}

async fn start(dir: &std::path::Path, clock: &Arc<ManualClock>, laptop: &Node) -> Node {
    let node = Node::start(config(dir, clock, laptop.peer().listen_addrs()))
        .await
        .expect("start");
    let status = node.peer().wait_for_peers(1, support::WAIT).await;
    assert!(status.routing_peers >= 1, "{status:?}");
    node
}

/// A requests B while B is down; A leaves; B comes up, sees exactly one
/// pending request and accepts; A comes back and sees B as a buddy and its
/// request withdrawn. An always-on laptop holds the records meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_across_three_nodes_with_offline_periods() {
    support::init_tracing();
    let clock = common::clock();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let laptop = Node::start(config(dirs[0].path(), &clock, vec![]))
        .await
        .unwrap();

    // B exists once, to make its identity and contact code, then goes away.
    let bob = start(dirs[2].path(), &clock, &laptop).await;
    bob.buddies().set_profile("Bob", None).await.unwrap();
    let bob_code = bob.buddies().contact_code().await.unwrap().to_string();
    let bob_key = bob.buddies().public_key();
    bob.stop().await;

    let alice = start(dirs[1].path(), &clock, &laptop).await;
    alice.buddies().set_profile("Alice", None).await.unwrap();
    let alice_key = alice.buddies().public_key();
    let sent = alice
        .buddies()
        .send_request(&bob_code, "We met at the meetup", vec![])
        .await
        .expect("send while Bob is offline");
    alice.stop().await;

    clock.advance(3600);
    let bob = start(dirs[2].path(), &clock, &laptop).await;
    let mut bob_events = bob.subscribe();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1);
    let pending = bob.buddies().pending_requests().await.unwrap();
    assert_eq!(pending.len(), 1, "exactly one pending request");
    assert_eq!(pending[0].id, sent.id);
    assert_eq!(pending[0].from, alice_key);
    assert!(matches!(
        bob_events.recv().await,
        Ok(pigeonhole::buddy::BuddyEvent::RequestReceived { .. })
    ));
    bob.buddies().accept(&sent.id).await.unwrap();
    assert_eq!(
        bob.buddies().buddies().await.unwrap()[0].public_key,
        alice_key
    );
    bob.stop().await;

    clock.advance(3600);
    let alice = start(dirs[1].path(), &clock, &laptop).await;
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.answers_received, 1);
    let buddies = alice.buddies().buddies().await.unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(buddies[0].public_key, bob_key);
    assert_eq!(buddies[0].display_name, "Bob");
    assert_eq!(
        alice.buddies().sent_requests().await.unwrap()[0].status,
        SentStatus::Accepted
    );
    alice.stop().await;

    // The request is withdrawn: Bob, back again, finds its tombstone and
    // nothing pending.
    let bob = start(dirs[2].path(), &clock, &laptop).await;
    let inbox = bob.buddies().contact_code().await.unwrap().inbox_id();
    let fetched = bob.buddies().mailbox().fetch_all(inbox).await.unwrap();
    assert!(fetched.records.iter().all(|record| record.id() != sent.id));
    assert!(
        fetched
            .tombstones
            .iter()
            .any(|t| t.header.sender == alice_key)
    );
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 0);
    assert!(bob.buddies().pending_requests().await.unwrap().is_empty());
    bob.stop().await;
    laptop.stop().await;
}

/// The background sync delivers a request to an online recipient without
/// the app asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sync_delivers_events() {
    support::init_tracing();
    let clock = common::clock();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut bob_config = config(dirs[0].path(), &clock, vec![]);
    bob_config.sync_interval = Some(Duration::from_millis(100));
    let bob = Node::start(bob_config).await.unwrap();
    bob.buddies().set_profile("Bob", None).await.unwrap();
    let mut events = bob.subscribe();
    let alice = start(dirs[1].path(), &clock, &bob).await;
    alice.buddies().set_profile("Alice", None).await.unwrap();
    let code = bob.buddies().contact_code().await.unwrap().to_string();
    alice
        .buddies()
        .send_request(&code, "hi", vec![])
        .await
        .unwrap();
    let event = tokio::time::timeout(support::WAIT, async {
        loop {
            match events.recv().await {
                Ok(pigeonhole::buddy::BuddyEvent::RequestReceived { from, .. }) => break from,
                Ok(_) => continue,
                Err(error) => panic!("{error}"),
            }
        }
    })
    .await
    .expect("the background sync delivered the request in time");
    assert_eq!(event, alice.buddies().public_key());
    alice.stop().await;
    bob.stop().await;
}
