//! Buddy requests end to end on the in-memory DHT: lifecycle, decline,
//! tampering, replay, token rotation, blocking, the directory and the caps.
//! (The lifecycle across real, stopping and restarting libp2p nodes is in
//! the node crate's tests.)

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyError, BuddyEvent, DropReason};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, Mailbox};
use pigeonhole::record::DhtKey;
use pigeonhole::record::body::{ContactField, ContactFieldKind};
use pigeonhole::store::Store;
use pigeonhole::store::buddies::SentStatus;

type Client = Arc<dyn Dht>;

/// A storing peer that keeps whatever it is given: a malicious or broken
/// node, so that the reader's own checks are what is tested.
#[derive(Default)]
struct RawDht(Mutex<HashMap<DhtKey, Vec<u8>>>);

#[async_trait]
impl Dht for RawDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        Ok(self.0.lock().unwrap().get(&key).cloned())
    }
    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.0.lock().unwrap().insert(key, value);
        Ok(())
    }
}

fn user_at(
    store: Store,
    client: &Client,
    clock: &Arc<ManualClock>,
    config: BuddyConfig,
) -> BuddyBook<Client> {
    let mailbox = Mailbox::new(client.clone(), validator(), clock.clone(), common::config());
    BuddyBook::new(Arc::new(store), mailbox, clock.clone(), config).expect("buddy book")
}

fn user(name: &str, client: &Client, clock: &Arc<ManualClock>) -> BuddyBook<Client> {
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let book = user_at(store, client, clock, BuddyConfig::default());
    book.set_profile(name, None).unwrap();
    book
}

fn file_user(path: &Path, client: &Client, clock: &Arc<ManualClock>) -> BuddyBook<Client> {
    let store = Store::open(path, validator(), clock.clone()).unwrap();
    let book = user_at(store, client, clock, BuddyConfig::default());
    book.set_profile("Bob", None).unwrap();
    book
}

fn code(book: &BuddyBook<Client>) -> String {
    book.contact_code().unwrap().to_string()
}

fn email() -> Vec<ContactField> {
    vec![ContactField {
        kind: ContactFieldKind::Email,
        value: "alice@example.org".into(),
    }]
}

#[tokio::test]
async fn request_accept_and_the_requester_sees_it() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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

#[tokio::test]
async fn a_decline_is_seen_and_the_request_does_not_come_back_after_restart() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let alice = user("Alice", &dht, &clock);
    let bob = file_user(&path, &dht, &clock);
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

    let bob = file_user(&path, &dht, &clock);
    bob.sync_now().await.unwrap();
    assert!(bob.pending_requests().unwrap().is_empty());
    assert!(matches!(
        bob.accept(&sent.id).await,
        Err(BuddyError::UnknownRequest)
    ));
}

#[tokio::test]
async fn pending_requests_survive_a_restart_without_the_network() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let alice = user("Alice", &dht, &clock);
    let bob = file_user(&path, &dht, &clock);
    alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    drop(bob);
    let offline: Client = Arc::new(RawDht::default());
    let bob = file_user(&path, &offline, &clock);
    assert_eq!(bob.pending_requests().unwrap().len(), 1);
}

/// Every single-byte change of a stored request or response is rejected
/// and never shown, even from a storing peer that checks nothing.
#[tokio::test]
async fn any_changed_byte_is_never_shown() {
    let clock = clock();
    let honest: Client = memory_dht(&clock);
    let alice = user("Alice", &honest, &clock);
    let bob_store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let bob_keys = bob_store.load_or_create_identity().unwrap();
    let bob = user_at(bob_store, &honest, &clock, BuddyConfig::default());
    let sent = alice
        .send_request(&code(&bob), "hi", email())
        .await
        .unwrap();
    let inbox = bob.contact_code().unwrap().inbox_id();
    let request = bob
        .mailbox()
        .fetch_all(inbox)
        .await
        .unwrap()
        .records
        .remove(0);
    assert_eq!(request.id(), sent.id);
    let bytes = request.bytes().to_vec();
    for index in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let raw = Arc::new(RawDht::default());
            let mut tampered = bytes.clone();
            tampered[index] ^= flip;
            raw.put(request.dht_key(), tampered).await.unwrap();
            let client: Client = raw;
            let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
            // Bob's identity, a fresh database: only the tampered record.
            let bob_again = bob_with(&bob_keys, store, &client, &clock);
            let report = bob_again.sync_now().await.unwrap();
            assert_eq!(report.requests_received, 0, "byte {index} ^ {flip:#x}");
            assert!(bob_again.pending_requests().unwrap().is_empty());
        }
    }
    // The untouched record still works through the same path.
    let raw = Arc::new(RawDht::default());
    raw.put(request.dht_key(), bytes).await.unwrap();
    let client: Client = raw;
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let bob_again = bob_with(&bob_keys, store, &client, &clock);
    assert_eq!(bob_again.sync_now().await.unwrap().requests_received, 1);
}

/// A new book with Bob's identity on another database and DHT.
fn bob_with(
    keys: &(
        pigeonhole::identity::Identity,
        pigeonhole::contact::InboxToken,
    ),
    store: Store,
    client: &Client,
    clock: &Arc<ManualClock>,
) -> BuddyBook<Client> {
    store.import_identity(&keys.0, keys.1).unwrap();
    let book = user_at(store, client, clock, BuddyConfig::default());
    book.set_profile("Bob", None).unwrap();
    book
}

#[tokio::test]
async fn replays_and_copies_are_not_shown() {
    let clock = clock();
    let raw = Arc::new(RawDht::default());
    let dht: Client = raw.clone();
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
    let carol = user("Carol", &dht, &clock);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    let inbox = bob.contact_code().unwrap().inbox_id();
    let request = bob
        .mailbox()
        .fetch_all(inbox)
        .await
        .unwrap()
        .records
        .remove(0);
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    alice.sync_now().await.unwrap();

    // A peer that ignores tombstones puts the answered request back.
    raw.put(request.dht_key(), request.bytes().to_vec())
        .await
        .unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0);
    assert_eq!(report.dropped.get(&DropReason::AlreadyAnswered), Some(&1));
    assert!(bob.pending_requests().unwrap().is_empty());

    // Copied into Carol's inbox, first slot: the key binding fails.
    let carol_inbox = carol.contact_code().unwrap().inbox_id();
    let slot = pigeonhole::record::DhtKey::for_slot(&carol_inbox, request.header.instance);
    raw.put(slot, request.bytes().to_vec()).await.unwrap();
    // Re-signed by Mallory into Carol's inbox: the seal does not open.
    let mallory = identity(99);
    let mut header = request.header;
    header.mailbox = carol_inbox;
    header.sender = mallory.public_key();
    header.instance.seq = 1;
    raw.put(header.dht_key(), header.sign(&mallory, &request.body))
        .await
        .unwrap();
    let report = carol.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 0);
    assert_eq!(report.dropped.get(&DropReason::Undecryptable), Some(&1));
    assert!(carol.pending_requests().unwrap().is_empty());
}

#[tokio::test]
async fn rotating_the_token_silences_the_old_code() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let dave = user("Dave", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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

#[tokio::test]
async fn answers_reach_a_requester_who_rotated_its_token() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
    let sent = alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    alice.rotate_inbox_token().unwrap();
    bob.sync_now().await.unwrap();
    bob.accept(&sent.id).await.unwrap();
    assert_eq!(alice.sync_now().await.unwrap().answers_received, 1);
    assert_eq!(alice.buddies().unwrap().len(), 1);
}

#[tokio::test]
async fn blocked_senders_show_nothing_and_keep_nothing() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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

#[tokio::test]
async fn requests_naming_their_sender_are_checked_through_the_directory() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let mallory = user("Mallory", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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

#[tokio::test]
async fn duplicates_merge_and_caps_hold() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let config = BuddyConfig {
        max_pending: 2,
        max_requests_per_sender: 3,
        ..BuddyConfig::default()
    };
    let bob = user_at(store, &dht, &clock, config);
    bob.set_profile("Bob", None).unwrap();
    let alice = user("Alice", &dht, &clock);
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

    let carol = user("Carol", &dht, &clock);
    let dave = user("Dave", &dht, &clock);
    carol.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    dave.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    let report = bob.sync_now().await.unwrap();
    assert_eq!(report.requests_received, 1);
    assert_eq!(bob.pending_requests().unwrap().len(), 2, "pending cap");
}

#[tokio::test]
async fn bad_inputs_fail_with_their_reason() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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
        user_at(store, &dht, &clock, BuddyConfig::default())
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

#[tokio::test]
async fn removing_a_buddy_is_an_event() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
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
