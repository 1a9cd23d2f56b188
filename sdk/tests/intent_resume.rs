//! A request whose sender died mid-send (after its put, before its sent
//! row) is finished by the restarted node on its own, right after start,
//! with no sync: the sent row appears, and the recipient's accept is then
//! recognised. Real libp2p nodes on 127.0.0.1, real SQLite files.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "../../node/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pigeonhole::buddy::{BuddyBook, BuddyConfig};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, ListCursor, ListPage, Mailbox};
use pigeonhole::record::{DhtKey, MailboxId};
use pigeonhole::store::Store;
use pigeonhole::store::buddies::SentStatus;
use pigeonhole_node::node::DB_FILE;
use pigeonhole_sdk::{Config, Node, Peer, PeerConfig};

/// A peer whose puts land and then never return: the app is killed right
/// after its request went out.
struct DiesAfterPut {
    peer: Peer,
    died: tokio::sync::Notify,
}

#[async_trait]
impl Dht for DiesAfterPut {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        Dht::get(&self.peer, key).await
    }
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        Dht::put(&self.peer, key, value).await?;
        self.died.notify_one();
        std::future::pending().await
    }
    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        Dht::list(&self.peer, mailbox, after, limit).await
    }
    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        Dht::next_seq(&self.peer, mailbox, bucket).await
    }
}

fn config(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    bootstrap: Vec<pigeonhole_sdk::Multiaddr>,
) -> Config {
    let mut config = Config::in_dir(dir);
    config.peer = PeerConfig {
        data_dir: Some(dir.to_path_buf()),
        clock: clock.clone(),
        bootstrap_peers: bootstrap,
        ..PeerConfig::loopback()
    };
    // No background sync: only the start-up resume can finish the intent.
    config.sync_interval = None;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_after_its_put_is_finished_at_start_up_without_a_sync() {
    support::init_tracing();
    let clock = common::clock();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let laptop = Node::start(config(dirs[0].path(), &clock, vec![]))
        .await
        .unwrap();
    let here = laptop.peer().listen_addrs();
    let bob = Node::start(config(dirs[1].path(), &clock, here.clone()))
        .await
        .unwrap();
    bob.buddies().set_profile("Bob", None).await.unwrap();
    let bob_code = bob.buddies().contact_code().await.unwrap().to_string();
    let alice_dir = dirs[2].path();
    let alice = Node::start(config(alice_dir, &clock, here.clone()))
        .await
        .unwrap();
    alice.buddies().set_profile("Alice", None).await.unwrap();
    let alice_key = alice.buddies().public_key();
    alice.stop().await;

    // Alice's app sends, and dies once the request is out: the intent is
    // logged and the record published, but no sent row is written.
    {
        let peer = Peer::start(PeerConfig {
            clock: clock.clone(),
            bootstrap_peers: here.clone(),
            ..PeerConfig::loopback()
        })
        .await
        .unwrap();
        assert!(peer.wait_for_peers(2, support::WAIT).await.routing_peers >= 2);
        let validator = pigeonhole::record::Validator::new(Default::default());
        let store = Arc::new(
            Store::open(alice_dir.join(DB_FILE), validator.clone(), clock.clone()).unwrap(),
        );
        let dies = DiesAfterPut {
            peer: peer.clone(),
            died: tokio::sync::Notify::new(),
        };
        let dies = Arc::new(dies);
        let mailbox = Mailbox::new(dies.clone(), validator, clock.clone(), common::config());
        let book = BuddyBook::new(
            store.clone(),
            mailbox,
            clock.clone(),
            BuddyConfig::default(),
        )
        .unwrap();
        tokio::select! {
            _ = book.send_request(&bob_code, "hi", vec![]) => panic!("the put was meant to hang"),
            () = dies.died.notified() => {}
        }
        assert_eq!(store.intents().unwrap().len(), 1, "the intent is logged");
        assert!(store.sent().unwrap().is_empty(), "and no sent row written");
        drop(book);
        peer.stop().await;
    }

    // Bob sees the request and accepts it.
    bob.peer().wait_for_peers(1, support::WAIT).await;
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 1);
    let request = bob.buddies().pending_requests().await.unwrap().remove(0);
    assert_eq!(request.from, alice_key);
    bob.buddies().accept(&request.id).await.unwrap();

    // Alice's app starts again. Without any sync, the request becomes a
    // sent row under the id Bob saw.
    let alice = Node::start(config(alice_dir, &clock, here.clone()))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for _ in 0..150 {
        sent = alice.buddies().sent_requests().await.unwrap();
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sent.len(),
        1,
        "the interrupted request was not finished at start-up"
    );
    assert_eq!(sent[0].id, request.id, "a second copy was sent instead");
    assert_eq!(sent[0].status, SentStatus::Pending);
    // Bob's accept names that id, so it is recognised.
    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.answers_received, 1);
    assert_eq!(
        report.intents.found + report.intents.republished,
        0,
        "nothing left to resume"
    );
    assert_eq!(
        alice.buddies().buddies().await.unwrap()[0].display_name,
        "Bob"
    );
    for node in [alice, bob, laptop] {
        node.stop().await;
    }
}
