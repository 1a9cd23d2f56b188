//! The exported API driven the way a foreign caller drives it: from plain
//! threads with no tokio runtime, polling the futures with a minimal
//! executor. Two real nodes on 127.0.0.1 with SQLite files in temporary
//! directories go through the whole request → accept lifecycle; the
//! listener sees each event. (The Kotlin and Python suites repeat this
//! through the generated code: scripts/test-bindings.)

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::executor::block_on;
use pigeonhole::contact::{ContactCode, InboxToken};
use pigeonhole::identity::Identity;
use pigeonhole_ffi::{
    ContactDetail, ContactDetailKind, Event, EventListener, NodeOptions, PigeonholeError,
    PigeonholeNode, SentRequestStatus,
};

const WAIT: Duration = Duration::from_secs(60);

struct ToChannel(Mutex<mpsc::Sender<Event>>);

impl EventListener for ToChannel {
    fn on_event(&self, event: Event) {
        let _ = self.0.lock().expect("lock").send(event);
    }
}

fn listen(
    node: &PigeonholeNode,
) -> (
    mpsc::Receiver<Event>,
    Arc<pigeonhole_ffi::EventSubscription>,
) {
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

#[test]
fn request_accept_lifecycle_without_a_caller_runtime() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    block_on(async {
        let alice = PigeonholeNode::start(loopback(dirs[0].path(), vec![]))
            .await
            .expect("alice");
        let bob = PigeonholeNode::start(loopback(dirs[1].path(), alice.status().listen_addresses))
            .await
            .expect("bob");
        let wait_ms = WAIT.as_millis() as u64;
        assert!(bob.wait_for_peers(1, wait_ms).await.unwrap().routing_peers >= 1);
        assert!(
            alice
                .wait_for_peers(1, wait_ms)
                .await
                .unwrap()
                .routing_peers
                >= 1
        );
        alice.set_profile("Alice".into(), None).await.unwrap();
        bob.set_profile("Bob".into(), None).await.unwrap();
        let (alice_events, _alice_subscription) = listen(&alice);
        let (bob_events, bob_subscription) = listen(&bob);

        let email = ContactDetail {
            kind: ContactDetailKind::Email,
            value: "alice@example.org".into(),
        };
        let code = bob.contact_code().await.unwrap();
        let sent = alice
            .send_request(code, "hi Bob".into(), vec![email.clone()])
            .await
            .unwrap();
        assert_eq!(sent.to, bob.public_key());

        assert_eq!(bob.sync_now().await.unwrap().requests_received, 1);
        assert_eq!(
            bob_events.recv_timeout(WAIT).unwrap(),
            Event::RequestReceived {
                request_id: sent.id.clone(),
                from: alice.public_key(),
                display_name: "Alice".into(),
                name_suspicious: false,
            }
        );
        let pending = bob.pending_requests().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].contacts, vec![email]);
        bob.accept(sent.id.clone()).await.unwrap();
        assert_eq!(
            bob_events.recv_timeout(WAIT).unwrap(),
            Event::BuddyAdded {
                public_key: alice.public_key(),
                display_name: "Alice".into(),
            }
        );
        assert_eq!(
            bob.accept(sent.id.clone()).await,
            Err(PigeonholeError::UnknownRequest)
        );

        assert_eq!(alice.sync_now().await.unwrap().answers_received, 1);
        assert_eq!(
            alice_events.recv_timeout(WAIT).unwrap(),
            Event::RequestAnswered {
                request_id: sent.id.clone(),
                by: bob.public_key(),
                accepted: true,
            }
        );
        let sent_now = alice.sent_requests().await.unwrap();
        assert_eq!(sent_now[0].status, SentRequestStatus::Accepted);

        bob_subscription.cancel();
        assert!(bob.remove_buddy(alice.public_key()).await.unwrap());
        assert!(bob_events.recv_timeout(Duration::from_millis(200)).is_err());

        alice.stop().await.unwrap();
        assert_eq!(alice.contact_code().await, Err(PigeonholeError::Stopped));
        assert_eq!(alice.ping().await, Err(PigeonholeError::Stopped));
    });
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let node = PigeonholeNode::start(loopback(dir.path(), vec![]))
            .await
            .unwrap();
        let someone = ContactCode::new(Identity::generate().public_key(), InboxToken::random());
        assert_eq!(
            node.send_request(someone.to_string(), String::new(), vec![])
                .await,
            Err(PigeonholeError::ProfileMissing)
        );
        node.set_profile("Dora".into(), None).await.unwrap();
        assert!(matches!(
            node.send_request("PH-AAAA".into(), String::new(), vec![])
                .await,
            Err(PigeonholeError::BadContactCode { .. })
        ));
        assert!(matches!(
            node.set_profile("two\nlines".into(), None).await,
            Err(PigeonholeError::InvalidInput { .. })
        ));
        assert!(matches!(
            node.unblock("xyz".into()).await,
            Err(PigeonholeError::InvalidInput { .. })
        ));
        assert!(matches!(
            node.add_peer("nowhere".into()).await,
            Err(PigeonholeError::BadAddress { .. })
        ));
        // A port held by another program cannot be listened on.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let other = tempfile::tempdir().unwrap();
        let mut taken = loopback(other.path(), vec![]);
        taken.listen_addresses = vec![format!("/ip4/127.0.0.1/tcp/{port}")];
        let result = PigeonholeNode::start(taken).await;
        assert!(
            matches!(result, Err(PigeonholeError::Listen { .. })),
            "{:?}",
            result.map(|n| n.status())
        );
    });
}
