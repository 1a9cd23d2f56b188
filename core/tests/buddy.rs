//! Buddy requests end to end on the in-memory DHT. The generic cases
//! (lifecycle, decline, rotation, blocking, the directory, caps, inputs) are
//! in `common/buddy_cases.rs` and run on real libp2p nodes too; the cases
//! here need a storing peer that checks nothing (tampering and replay seen
//! by the reader itself) or no network at all.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use pigeonhole::buddy::{BuddyBook, BuddyConfig, DropReason};
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, Mailbox};
use pigeonhole::record::DhtKey;
use pigeonhole::store::Store;

use common::buddy_cases::{BuddyNet, Client, code, email};

async fn memory_net() -> BuddyNet {
    let clock = clock();
    BuddyNet {
        clients: vec![memory_dht(&clock) as Client],
        clock,
    }
}

buddy_cases!(memory_net().await);

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

/// Bob's clock jumps 8 days ahead (past the request's 7-day lifetime) over
/// two syncs and comes back: the pending request is hidden meanwhile, not
/// deleted (the syncs' sweeps saw it expired for far less than the grace).
#[tokio::test]
async fn a_pending_request_survives_a_clock_jump_past_its_expiry() {
    let clock = clock();
    let dht: Client = memory_dht(&clock);
    let alice = user("Alice", &dht, &clock);
    let bob = user("Bob", &dht, &clock);
    alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    bob.sync_now().await.unwrap();
    assert_eq!(bob.pending_requests().unwrap().len(), 1);
    clock.advance(8 * DAY);
    bob.sync_now().await.unwrap();
    bob.sync_now().await.unwrap();
    assert!(
        bob.pending_requests().unwrap().is_empty(),
        "expired: hidden"
    );
    clock.set(NOW);
    // Read before any sync: the row itself survived (a sync could bring a
    // lost request back from the DHT and hide the loss).
    let pending = bob.pending_requests().unwrap();
    assert_eq!(pending.len(), 1, "the clock jump lost a pending request");
    assert_eq!(pending[0].from, alice.public_key());
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
    let net = BuddyNet {
        clients: vec![dht],
        clock,
    };
    let (bob, carol, request) = common::replay_cases::answered_request(&net).await;

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

/// Inboxes of rotated-away tokens are polled for answers only while an
/// answer can still arrive.
#[tokio::test]
async fn old_inboxes_are_not_polled_after_answers_can_no_longer_come() {
    use common::mailbox_cases::CountingDht;
    use std::sync::atomic::{AtomicU64, Ordering};
    let clock = clock();
    let inner: Client = memory_dht(&clock);
    let counting = Arc::new(CountingDht {
        inner: inner.clone(),
        gets: AtomicU64::new(0),
    });
    let counted: Client = counting.clone();
    let alice = user("Alice", &counted, &clock);
    let bob = user("Bob", &inner, &clock);
    alice.send_request(&code(&bob), "hi", vec![]).await.unwrap();
    alice.rotate_inbox_token().unwrap();
    let gets_of_a_sync = |counting: &CountingDht| counting.gets.swap(0, Ordering::Relaxed);
    gets_of_a_sync(&counting);
    alice.sync_now().await.unwrap();
    let with_old_inbox = gets_of_a_sync(&counting);
    clock.advance(30 * DAY);
    alice.sync_now().await.unwrap();
    let after_expiry = gets_of_a_sync(&counting);
    assert!(
        after_expiry * 2 <= with_old_inbox,
        "{after_expiry} gets after expiry vs {with_old_inbox} while answerable"
    );
}
