//! Feeds and document notices through the exported API, driven as a
//! foreign caller drives it: from a plain thread with no tokio runtime,
//! futures polled by a minimal executor, two real nodes on 127.0.0.1 with
//! SQLite files in temporary directories. The hard cases the foreign
//! suites leave out live here: content too big to ride inline (a chain of
//! chunks fetched and verified from a notice that crossed the boundary and
//! came back), an editor named by the owner, and a version conflict.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::executor::block_on;
use pigeonhole_ffi::{
    DocumentContent, Event, EventListener, EventSubscription, NodeOptions, PigeonholeError,
    PigeonholeNode,
};

const WAIT: Duration = Duration::from_secs(60);

struct ToChannel(Mutex<mpsc::Sender<Event>>);

impl EventListener for ToChannel {
    fn on_event(&self, event: Event) {
        let _ = self.0.lock().expect("lock").send(event);
    }
}

fn listen(node: &PigeonholeNode) -> (mpsc::Receiver<Event>, Arc<EventSubscription>) {
    let (tx, rx) = mpsc::channel();
    let subscription = node
        .add_listener(Arc::new(ToChannel(Mutex::new(tx))))
        .expect("listener");
    (rx, subscription)
}

fn loopback(dir: &std::path::Path, bootstrap: Vec<String>) -> NodeOptions {
    NodeOptions {
        listen_addresses: vec!["/ip4/127.0.0.1/tcp/0".into()],
        mdns: false,
        bootstrap_peers: bootstrap,
        sync_interval_secs: 0,
        ..NodeOptions::in_dir(dir.to_str().expect("utf-8 path"))
    }
}

async fn two_nodes(
    a: &std::path::Path,
    b: &std::path::Path,
) -> (Arc<PigeonholeNode>, Arc<PigeonholeNode>) {
    let alice = PigeonholeNode::start(loopback(a, vec![]))
        .await
        .expect("alice");
    let bob = PigeonholeNode::start(loopback(b, alice.status().listen_addresses))
        .await
        .expect("bob");
    let wait_ms = WAIT.as_millis() as u64;
    let bob_peers = bob.wait_for_peers(1, wait_ms).await.expect("bob waits");
    assert!(bob_peers.routing_peers >= 1);
    let alice_peers = alice.wait_for_peers(1, wait_ms).await.expect("alice waits");
    assert!(alice_peers.routing_peers >= 1);
    (alice, bob)
}

#[test]
fn chained_content_an_editor_and_a_conflict() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    block_on(async {
        let (alice, bob) = two_nodes(dirs[0].path(), dirs[1].path()).await;
        let (events, _subscription) = listen(&bob);
        let doc = alice.own_document("handbook".into()).expect("doc");
        assert!(bob.watch_document(doc.clone()).await.expect("watch"));

        // 10 KiB: too big to ride inline, so it travels as a chain.
        let big: Vec<u8> = (0..10 * 1024).map(|i| (i % 251) as u8).collect();
        let content = DocumentContent::Carry { data: big.clone() };
        alice
            .notify_document_update(doc.clone(), 1, content, "the whole handbook".into())
            .await
            .expect("v1");
        let updates = bob
            .fetch_document_updates(doc.clone())
            .await
            .expect("fetch");
        let notice = updates.notices.into_iter().next().expect("v1 delivered");
        assert_eq!(notice.inline_content, None);
        assert!(notice.chain_head.is_some() && notice.chunks >= 2);
        assert_eq!(notice.size, big.len() as u64);
        // The notice crossed out and comes back in: its chain still verifies.
        assert_eq!(
            bob.document_content(notice.clone()).await.expect("chain"),
            big
        );
        let mut forged = notice.clone();
        forged.content_hash = "00".repeat(32);
        assert!(matches!(
            bob.document_content(forged).await,
            Err(PigeonholeError::Rejected { .. })
        ));
        match events.recv_timeout(WAIT).expect("event") {
            Event::DocumentUpdated { notice: seen } => assert_eq!(seen, notice),
            other => panic!("expected DocumentUpdated, got {other:?}"),
        }

        // Bob may not notify until Alice names him an editor.
        let v2 = || DocumentContent::Carry {
            data: b"v2".to_vec(),
        };
        assert!(matches!(
            bob.notify_document_update(doc.clone(), 2, v2(), String::new())
                .await,
            Err(PigeonholeError::NotPermitted { .. })
        ));
        let list_id = alice
            .set_document_editors("handbook".into(), vec![bob.public_key()])
            .await
            .expect("editors");
        assert_eq!(list_id.len(), 64);
        bob.notify_document_update(doc.clone(), 2, v2(), "by the editor".into())
            .await
            .expect("editor notifies");
        // Alice publishes her own version 2 as well: a conflict.
        alice
            .notify_document_update(
                doc.clone(),
                2,
                DocumentContent::Carry {
                    data: b"v2 by alice".to_vec(),
                },
                String::new(),
            )
            .await
            .expect("owner notifies");
        let updates = bob
            .fetch_document_updates(doc.clone())
            .await
            .expect("fetch");
        assert_eq!(
            updates.notices.len(),
            1,
            "one notice per version is delivered"
        );
        let conflict = updates.conflicts.first().expect("a conflict");
        assert_eq!(conflict.version, 2);
        assert_eq!(conflict.notice_ids.len(), 2);
        let mut senders = conflict.senders.clone();
        senders.sort();
        let mut expected = vec![alice.public_key(), bob.public_key()];
        expected.sort();
        assert_eq!(senders, expected);
        match events.recv_timeout(WAIT).expect("event") {
            Event::DocumentVersionConflict {
                doc: seen,
                conflict: crossed,
            } => {
                assert_eq!(seen, doc);
                assert_eq!(&crossed, conflict);
            }
            other => panic!("expected DocumentVersionConflict, got {other:?}"),
        }
        alice.stop().await.expect("stop");
        bob.stop().await.expect("stop");
        // Every call after stop fails with `Stopped`, before reading its input.
        assert!(matches!(
            bob.fetch_feed(String::new()).await,
            Err(PigeonholeError::Stopped)
        ));
    });
}

#[test]
fn feed_calls_after_stop_and_bad_input_fail_with_their_kinds() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let node = PigeonholeNode::start(loopback(dir.path(), vec![]))
            .await
            .expect("node");
        assert!(matches!(
            node.own_feed("two\nlines".into()),
            Err(PigeonholeError::InvalidInput { .. })
        ));
        assert!(matches!(
            node.delete_post("00".repeat(32)).await,
            Err(PigeonholeError::UnknownPost)
        ));
        assert!(matches!(
            node.edit_post("nothex".into(), "t".into(), None, String::new(), None)
                .await,
            Err(PigeonholeError::InvalidInput { .. })
        ));
        let feed = node.own_feed("news".into()).expect("feed");
        assert!(matches!(
            node.feed_posts(feed.clone(), 10).await,
            Ok(posts) if posts.is_empty()
        ));
        node.stop().await.expect("stop");
        assert!(matches!(
            node.follow_feed(feed).await,
            Err(PigeonholeError::Stopped)
        ));
        assert!(matches!(
            node.own_document("plan".into()),
            Err(PigeonholeError::Stopped)
        ));
    });
}
