//! Buddy-layer behaviour written once, run on any DHT: the in-memory one in
//! `core/tests/buddy.rs`, real libp2p nodes in the SDK's tests. Users are
//! spread over the clients (user `k` talks to `clients[k % len]`).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyError, BuddyEvent, DropReason};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, Mailbox};
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole::store::Store;
use pigeonhole::store::buddies::SentStatus;

use super::*;

pub type Client = Arc<dyn Dht>;

/// The DHT as seen from each node, and the clock every node shares.
pub struct BuddyNet {
    pub clients: Vec<Client>,
    pub clock: Arc<ManualClock>,
}

impl BuddyNet {
    fn client(&self, k: usize) -> &Client {
        &self.clients[k % self.clients.len()]
    }

    /// A user on node `k` with store `store` and `config`.
    pub fn user_at(&self, store: Store, k: usize, config: BuddyConfig) -> BuddyBook<Client> {
        let mailbox = Mailbox::new(
            self.client(k).clone(),
            validator(),
            self.clock.clone(),
            super::config(),
        );
        BuddyBook::new(Arc::new(store), mailbox, self.clock.clone(), config).expect("buddy book")
    }

    /// A user named `name` on node `k`, in-memory database.
    pub fn user(&self, name: &str, k: usize) -> BuddyBook<Client> {
        let store = Store::open_in_memory(validator(), self.clock.clone()).unwrap();
        let book = self.user_at(store, k, BuddyConfig::default());
        book.set_profile(name, None).unwrap();
        book
    }

    /// "Bob" on node `k` with his database in the file `path`.
    pub fn file_user(&self, path: &Path, k: usize) -> BuddyBook<Client> {
        let store = Store::open(path, validator(), self.clock.clone()).unwrap();
        let book = self.user_at(store, k, BuddyConfig::default());
        book.set_profile("Bob", None).unwrap();
        book
    }
}

pub fn code(book: &BuddyBook<Client>) -> String {
    book.contact_code().unwrap().to_string()
}

pub fn email() -> Vec<ContactField> {
    vec![ContactField {
        kind: ContactFieldKind::Email,
        value: "alice@example.org".into(),
    }]
}

/// Instantiates every generic case as a test; `$net` is an expression
/// (usually an `.await`) that builds a fresh [`BuddyNet`] per test.
#[macro_export]
macro_rules! buddy_cases {
    ($net:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn request_accept_and_the_requester_sees_it() {
            let net = $net;
            common::buddy_cases::request_accept_and_the_requester_sees_it(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_decline_is_seen_and_the_request_does_not_come_back_after_restart() {
            let net = $net;
            common::buddy_cases::a_decline_is_seen_and_the_request_does_not_come_back_after_restart(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rotating_the_token_silences_the_old_code() {
            let net = $net;
            common::buddy_cases::rotating_the_token_silences_the_old_code(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn answers_reach_a_requester_who_rotated_its_token() {
            let net = $net;
            common::buddy_cases::answers_reach_a_requester_who_rotated_its_token(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blocked_senders_show_nothing_and_keep_nothing() {
            let net = $net;
            common::buddy_cases::blocked_senders_show_nothing_and_keep_nothing(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn requests_naming_their_sender_are_checked_through_the_directory() {
            let net = $net;
            common::buddy_cases::requests_naming_their_sender_are_checked_through_the_directory(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn duplicates_merge_and_caps_hold() {
            let net = $net;
            common::buddy_cases::duplicates_merge_and_caps_hold(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn bad_inputs_fail_with_their_reason() {
            let net = $net;
            common::buddy_cases::bad_inputs_fail_with_their_reason(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn removing_a_buddy_is_an_event() {
            let net = $net;
            common::buddy_cases::removing_a_buddy_is_an_event(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn tampered_requests_are_never_shown() {
            let net = $net;
            common::replay_cases::tampered_requests_are_never_shown(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn replays_and_copies_are_refused() {
            let net = $net;
            common::replay_cases::replays_and_copies_are_refused(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn syncs_keep_the_directory_entry_alive() {
            let net = $net;
            common::buddy_cases::syncs_keep_the_directory_entry_alive(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_superseded_request_never_comes_back() {
            let net = $net;
            common::buddy_cases::a_superseded_request_never_comes_back(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn crossing_requests_leave_nothing_pending() {
            let net = $net;
            common::buddy_cases::crossing_requests_leave_nothing_pending(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn withdrawn_before_the_recipient_syncs_is_never_seen() {
            let net = $net;
            common::withdraw_cases::withdrawn_before_the_recipient_syncs_is_never_seen(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn withdrawn_after_the_recipient_saw_it_leaves_pending_on_next_sync() {
            let net = $net;
            common::withdraw_cases::withdrawn_after_the_recipient_saw_it_leaves_pending_on_next_sync(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_late_answer_to_a_withdrawn_request_adds_no_buddy() {
            let net = $net;
            common::withdraw_cases::a_late_answer_to_a_withdrawn_request_adds_no_buddy(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn withdrawing_twice_or_an_unknown_id_fails() {
            let net = $net;
            common::withdraw_cases::withdrawing_twice_or_an_unknown_id_fails(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sybil_keys_do_not_crowd_out_known_senders() {
            let net = $net;
            common::admission_cases::sybil_keys_do_not_crowd_out_known_senders(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unstamped_requests_from_strangers_are_dropped() {
            let net = $net;
            common::admission_cases::unstamped_requests_from_strangers_are_dropped(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_blocked_users_accept_adds_no_buddy() {
            let net = $net;
            common::admission_cases::a_blocked_users_accept_adds_no_buddy(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn crossing_requests_are_both_answered() {
            let net = $net;
            common::admission_cases::crossing_requests_are_both_answered(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_buddy_asking_again_is_an_event() {
            let net = $net;
            common::admission_cases::a_buddy_asking_again_is_an_event(&net).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn directory_claims_are_cached_and_conflicts_flagged() {
            let net = $net;
            common::admission_cases::directory_claims_are_cached_and_conflicts_flagged(&net).await;
        }
    };
}

pub async fn request_accept_and_the_requester_sees_it(net: &BuddyNet) {
    let clock = &net.clock;
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let mut alice_events = alice.subscribe();
    let mut bob_events = bob.subscribe();

    // Bob is "offline": he does not sync while Alice sends.
    let sent = alice
        .send_request(&code(&bob), "Met you at the meetup", email())
        .await
        .unwrap();
    assert_eq!(sent.status, SentStatus::Pending);
    assert!(
        bob.pending_requests().unwrap().is_empty(),
        "nothing before a sync"
    );

    clock.advance(3600);
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1);
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    let request = &pending[0];
    assert_eq!(request.id, sent.id);
    assert_eq!(request.from, alice.public_key());
    assert_eq!(request.body.display_name, "Alice");
    assert_eq!(request.body.message, "Met you at the meetup");
    assert_eq!(request.body.contacts, email());
    assert!(matches!(
        bob_events.try_recv(),
        Ok(BuddyEvent::RequestReceived { .. })
    ));

    let buddy = bob.accept(&request.id).await.unwrap();
    assert_eq!(buddy.public_key, alice.public_key());
    assert_eq!(buddy.contact_code.unwrap(), alice.contact_code().unwrap());
    assert!(bob.pending_requests().unwrap().is_empty());
    assert_eq!(bob.buddies().unwrap().len(), 1);
    assert!(matches!(
        bob_events.try_recv(),
        Ok(BuddyEvent::BuddyAdded { .. })
    ));

    let report = alice.sync_now().await.unwrap();
    assert_eq!(report.answers_received, 1);
    let buddies = alice.buddies().unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(buddies[0].public_key, bob.public_key());
    assert_eq!(buddies[0].display_name, "Bob");
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Accepted
    );
    assert!(matches!(
        alice_events.try_recv(),
        Ok(BuddyEvent::RequestAnswered { accepted: true, .. })
    ));
    assert!(matches!(
        alice_events.try_recv(),
        Ok(BuddyEvent::BuddyAdded { .. })
    ));

    // The request was withdrawn: Bob's inbox holds its tombstone now.
    let inbox = bob.contact_code().unwrap().inbox_id();
    let fetched = bob.mailbox().fetch_all(inbox).await.unwrap();
    assert!(fetched.records.iter().all(|r| r.id() != sent.id));
    assert!(
        fetched
            .tombstones
            .iter()
            .any(|t| t.header.sender == alice.public_key())
    );
    // A second sync on either side changes nothing.
    assert_eq!(alice.sync_now().await.unwrap().answers_received, 0);
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 0);
}

pub async fn a_decline_is_seen_and_the_request_does_not_come_back_after_restart(net: &BuddyNet) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let alice = net.user("Alice", 0);
    let bob = net.file_user(&path, 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    bob.decline(&sent.id).await.unwrap();
    assert_eq!(alice.sync_now().await.unwrap().answers_received, 1);
    assert_eq!(
        alice.sent_requests().unwrap()[0].status,
        SentStatus::Declined
    );
    assert!(alice.buddies().unwrap().is_empty());
    assert!(bob.buddies().unwrap().is_empty());
    drop(bob);

    let bob = net.file_user(&path, 2);
    bob.sync_now().await.unwrap();
    assert!(bob.pending_requests().unwrap().is_empty());
    assert!(matches!(
        bob.accept(&sent.id).await,
        Err(BuddyError::UnknownRequest)
    ));
}

pub async fn rotating_the_token_silences_the_old_code(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let dave = net.user("Dave", 1);
    let bob = net.user("Bob", 2);
    let old = code(&bob);
    alice.send_request(&old, "before", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    assert_eq!(bob.pending_requests().unwrap().len(), 1);

    let new = bob.rotate_inbox_token().unwrap().to_string();
    assert_ne!(new, old);
    assert!(
        bob.pending_requests().unwrap().is_empty(),
        "old-code requests hidden"
    );
    dave.send_request(&old, "to the old code", vec![])
        .await
        .unwrap();
    alice
        .send_request(&new, "to the new code", vec![])
        .await
        .unwrap();
    bob.sync_now().await.unwrap();
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].body.message, "to the new code");
}

pub async fn answers_reach_a_requester_who_rotated_its_token(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    alice.rotate_inbox_token().unwrap();
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    assert_eq!(alice.sync_now().await.unwrap().answers_received, 1);
    assert_eq!(alice.buddies().unwrap().len(), 1);
}

pub async fn blocked_senders_show_nothing_and_keep_nothing(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    bob.block(&alice.public_key()).unwrap();
    alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.dropped.get(&DropReason::Blocked), Some(&1));
    assert!(bob.pending_requests().unwrap().is_empty());
    assert!(bob.unblock(&alice.public_key()).unwrap());
    assert_eq!(bob.sync_now().await.unwrap().requests_received, 1);
    bob.block(&alice.public_key()).unwrap();
    assert!(
        bob.pending_requests().unwrap().is_empty(),
        "blocking drops what was pending"
    );
}

pub async fn requests_naming_their_sender_are_checked_through_the_directory(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let mallory = net.user("Mallory", 1);
    let bob = net.user("Bob", 2);
    alice.set_profile("Alice", Some("alice")).unwrap();
    alice.publish_directory_entry().await.unwrap();
    alice
        .send_request(&code(&bob), "it's me", vec![])
        .await
        .unwrap();

    // Mallory names "alice" too, without a claim of her own.
    mallory.set_profile("Alice", Some("alice")).unwrap();
    mallory
        .send_request(&code(&bob), "it's me, really", vec![])
        .await
        .unwrap();

    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1);
    assert_eq!(report.dropped.get(&DropReason::DirectoryMismatch), Some(&1));
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending[0].from, alice.public_key());
    assert_eq!(pending[0].body.sender_name.as_deref(), Some("alice"));

    // When Mallory claims the name too, a lookup shows both claims.
    mallory.publish_directory_entry().await.unwrap();
    let claims = bob.lookup_directory("alice").await.unwrap();
    let keys: Vec<_> = claims.iter().map(|c| c.public_key).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&alice.public_key()) && keys.contains(&mallory.public_key()));
}

pub async fn duplicates_merge_and_caps_hold(net: &BuddyNet) {
    let clock = &net.clock;
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let config = BuddyConfig {
        max_pending: 2,
        max_requests_per_sender: 3,
        ..BuddyConfig::default()
    };
    let bob = net.user_at(store, 3, config);
    bob.set_profile("Bob", None).unwrap();
    let alice = net.user("Alice", 0);
    for n in 1..=5 {
        clock.advance(10);
        alice
            .send_request(&code(&bob), &format!("try {n}"), vec![])
            .await
            .unwrap();
    }
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.dropped.get(&DropReason::OverCap), Some(&2));
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1, "one pending request per sender");
    assert_eq!(
        pending[0].body.message, "try 3",
        "newest within the cap wins"
    );

    let carol = net.user("Carol", 1);
    let dave = net.user("Dave", 2);
    carol.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    dave.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1);
    assert_eq!(bob.pending_requests().unwrap().len(), 2, "pending cap");
}

pub async fn bad_inputs_fail_with_their_reason(net: &BuddyNet) {
    let clock = &net.clock;
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let huge = "x".repeat(70_000);
    assert!(matches!(
        alice.send_request(&code(&bob), &huge, vec![]).await,
        Err(BuddyError::InvalidInput(_))
    ));
    let too_many = vec![email()[0].clone(); 9];
    assert!(matches!(
        alice.send_request(&code(&bob), "hi", too_many).await,
        Err(BuddyError::InvalidInput(_))
    ));
    let long = "x".repeat(1001);
    assert!(matches!(
        alice.send_request(&code(&bob), &long, vec![]).await,
        Err(BuddyError::InvalidInput(_))
    ));
    assert!(matches!(
        alice.send_request("PH-NOPE", "hi", vec![]).await,
        Err(BuddyError::ContactCode(_))
    ));
    assert!(matches!(
        alice.send_request(&code(&alice), "hi", vec![]).await,
        Err(BuddyError::OwnCode)
    ));
    assert!(alice.set_profile("bad\nname", None).is_err());
    assert!(alice.set_profile("Alice", Some("No Caps")).is_err());
    let nameless = {
        let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
        net.user_at(store, 2, BuddyConfig::default())
    };
    assert!(matches!(
        nameless.send_request(&code(&bob), "hi", vec![]).await,
        Err(BuddyError::ProfileMissing)
    ));
    assert!(matches!(
        alice.accept(&[9; 32]).await,
        Err(BuddyError::UnknownRequest)
    ));
}

pub async fn removing_a_buddy_is_an_event(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    let mut events = bob.subscribe();
    assert!(bob.remove_buddy(&alice.public_key()).unwrap());
    assert!(!bob.remove_buddy(&alice.public_key()).unwrap());
    assert!(bob.buddies().unwrap().is_empty());
    assert_eq!(
        events.try_recv().unwrap(),
        BuddyEvent::BuddyRemoved {
            public_key: alice.public_key()
        }
    );
}

/// A user with a directory name keeps its entry alive through its syncs:
/// published on the first sync, again once a third of its lifetime is left.
pub async fn syncs_keep_the_directory_entry_alive(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    alice.set_profile("Alice", Some("alice.k")).unwrap();
    assert!(alice.sync_now().await.unwrap().directory_republished);
    assert!(!alice.sync_now().await.unwrap().directory_republished);
    net.clock.advance(25 * DAY);
    assert!(alice.sync_now().await.unwrap().directory_republished);
    net.clock.advance(10 * DAY);
    let claims = net
        .user("Bob", 1)
        .lookup_directory("alice.k")
        .await
        .unwrap();
    assert_eq!(claims.len(), 1, "one claim per key");
    assert_eq!(claims[0].public_key, alice.public_key());
}

/// A request replaced by a newer one from the same sender never comes
/// back, not even after the newer one is declined.
pub async fn a_superseded_request_never_comes_back(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    alice
        .send_request(&code(&bob), "try 1", vec![])
        .await
        .unwrap();
    net.clock.advance(10);
    alice
        .send_request(&code(&bob), "try 2", vec![])
        .await
        .unwrap();
    bob.sync_now().await.unwrap();
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].body.message, "try 2");
    bob.decline(&pending[0].id).await.unwrap();
    bob.sync_now().await.unwrap();
    assert!(bob.pending_requests().unwrap().is_empty());
}

/// When two people request each other and one accepts, the other's
/// pending request from the new buddy disappears.
pub async fn crossing_requests_leave_nothing_pending(net: &BuddyNet) {
    let alice = net.user("Alice", 0);
    let bob = net.user("Bob", 1);
    alice
        .send_request(&code(&bob), "add me", vec![])
        .await
        .unwrap();
    let from_bob = bob
        .send_request(&code(&alice), "add me too", vec![])
        .await
        .unwrap();
    alice.sync_now().await.unwrap();
    bob.sync_now().await.unwrap();
    assert_eq!(bob.pending_requests().unwrap().len(), 1);
    alice.accept(&from_bob.id).await.unwrap();
    bob.sync_now().await.unwrap();
    assert_eq!(bob.buddies().unwrap()[0].public_key, alice.public_key());
    assert!(bob.pending_requests().unwrap().is_empty());
}
