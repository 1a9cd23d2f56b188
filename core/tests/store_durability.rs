//! The database under load and under damage: two connections to one file
//! (as the SDK opens) hammered by several threads lose no write and never
//! fail busy; an identity is created once, explicitly, and a missing one is
//! an error, never a new key.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use pigeonhole::buddy::{BuddyBook, BuddyConfig, BuddyError};
use pigeonhole::contact::InboxToken;
use pigeonhole::identity::PublicKey;
use pigeonhole::mailbox::Mailbox;
use pigeonhole::record::{Kind, MailboxId, Record};
use pigeonhole::store::buddies::{PendingRow, SentRow, SentStatus};
use pigeonhole::store::held::PutOutcome;
use pigeonhole::store::intents::{IntentAction, IntentRow, IntentState};
use pigeonhole::store::{Store, StoreError};

/// How long the threads hammer; bounded, and every thread also stops when
/// its own work runs out.
const HAMMER: Duration = Duration::from_secs(10);

fn records(kind: Kind, seed: u8, count: u32) -> Vec<Record> {
    let validator = validator();
    (0..count)
        .map(|seq| {
            let spec = Spec::new(kind, identity(seed), 3600, seq);
            validator.validate(&spec.key(), &spec.bytes(), NOW).unwrap()
        })
        .collect()
}

fn key(n: u32, tag: u8) -> [u8; 32] {
    let mut key = [tag; 32];
    key[..4].copy_from_slice(&n.to_be_bytes());
    key
}

fn sent_row(n: u32) -> SentRow {
    SentRow {
        request_id: key(n, 0x51),
        recipient: PublicKey(key(n, 0x52)),
        recipient_token: InboxToken([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]),
        reply_token: InboxToken([5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8]),
        record: vec![n as u8; 64],
        status: SentStatus::Pending,
        created_at: NOW,
        expires_at: NOW + DAY,
    }
}

fn intent(n: u32) -> IntentRow {
    IntentRow {
        id: 0,
        action: IntentAction::Request {
            reply_token: InboxToken([5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8]),
        },
        state: IntentState::InFlight,
        mailbox: MailboxId(key(n, 0x61)),
        body: vec![7; 100],
        lifetime_secs: DAY,
        peer: PublicKey(key(n, 0x62)),
        peer_token: InboxToken([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]),
        queued_at: 0,
    }
}

/// Runs `work(i)` for i = 0, 1, … until it has done `count` or the time is
/// up; returns how many returned Ok. Any error fails the test.
fn hammer(stop: &AtomicBool, count: u32, work: impl Fn(u32) -> Result<(), StoreError>) -> u32 {
    let mut done = 0;
    while done < count && !stop.load(Ordering::Relaxed) {
        if let Err(error) = work(done) {
            panic!("write {done} failed under contention: {error}");
        }
        done += 1;
    }
    done
}

#[test]
fn two_connections_and_many_threads_lose_no_write_and_never_fail_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let a = Arc::new(Store::open(&path, validator(), clock.clone()).unwrap());
    let b = Arc::new(Store::open(&path, validator(), clock.clone()).unwrap());
    let held_a = records(Kind::FeedPost, 1, 4000);
    let held_b = records(Kind::FeedPost, 2, 4000);
    let queued = records(Kind::FeedPost, 3, 4000);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let counts = std::thread::scope(|scope| {
        let stop = &stop;
        let (a, b) = (&a, &b);
        let (held_a, held_b, queued) = (&held_a, &held_b, &queued);
        let put = |store: &Store, record: &Record| {
            assert_eq!(store.put(record)?, PutOutcome::Stored);
            Ok(())
        };
        let workers = vec![
            // The peer, on each connection: read-then-write puts.
            scope.spawn(move || hammer(stop, 4000, |i| put(a, &held_a[i as usize]))),
            scope.spawn(move || hammer(stop, 4000, |i| put(b, &held_b[i as usize]))),
            // The outbox.
            scope.spawn(move || hammer(stop, 4000, |i| b.outbox_put(&queued[i as usize]))),
            // The buddy layer: pending upserts, the intent log and sent rows.
            scope.spawn(move || {
                hammer(stop, 12000, |i| {
                    let row = PendingRow {
                        request_id: key(i, 0x41),
                        sender: PublicKey(key(i, 0x42)),
                        inbox: MailboxId([9; 32]),
                        created_at: NOW,
                        expires_at: NOW + DAY,
                        record: vec![1; 80],
                    };
                    a.upsert_pending(&row).map(drop)
                })
            }),
            scope.spawn(move || {
                hammer(stop, 12000, |i| {
                    let id = b.log_intent(&intent(i))?;
                    assert!(b.finish_request_intent(id, &sent_row(i))?);
                    Ok(())
                })
            }),
        ];
        std::thread::sleep(HAMMER);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect::<Vec<_>>()
    });
    eprintln!("{counts:?} writes in {:?}", started.elapsed());
    assert!(counts.iter().all(|&count| count > 0), "{counts:?}");
    // Every write that returned Ok is there, read through the other connection.
    for record in held_a.iter().take(counts[0] as usize) {
        assert_eq!(b.get(&record.dht_key()).unwrap().as_ref(), Some(record));
    }
    for record in held_b.iter().take(counts[1] as usize) {
        assert_eq!(a.get(&record.dht_key()).unwrap().as_ref(), Some(record));
    }
    for record in queued.iter().take(counts[2] as usize) {
        assert!(a.outbox_get(&record.dht_key()).unwrap().is_some());
    }
    for i in 0..counts[3] {
        assert!(b.pending_by_id(&key(i, 0x41)).unwrap().is_some());
    }
    for i in 0..counts[4] {
        assert_eq!(a.sent_by_id(&key(i, 0x51)).unwrap(), Some(sent_row(i)));
    }
    assert!(a.intents().unwrap().is_empty());
}

#[test]
fn an_identity_is_created_once_and_only_when_asked() {
    let store = Store::open_in_memory(validator(), clock()).unwrap();
    assert!(matches!(store.identity(), Err(StoreError::IdentityMissing)));
    let (created, token) = store.create_identity().unwrap();
    assert!(matches!(
        store.create_identity(),
        Err(StoreError::IdentityExists)
    ));
    let (loaded, loaded_token) = store.identity().unwrap();
    assert_eq!(loaded.public_key(), created.public_key());
    assert_eq!(loaded_token, token);
    let (again, _) = store.load_or_create_identity().unwrap();
    assert_eq!(again.public_key(), created.public_key());
}

#[tokio::test]
async fn a_lost_identity_row_is_an_error_never_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.db");
    let clock = clock();
    let dht = memory_dht(&clock);
    let book = |store: Store| {
        let mailbox = Mailbox::new(dht.clone(), validator(), clock.clone(), config());
        BuddyBook::new(
            Arc::new(store),
            mailbox,
            clock.clone(),
            BuddyConfig::default(),
        )
    };
    let alice = book(Store::open(&path, validator(), clock.clone()).unwrap()).unwrap();
    alice.set_profile("Alice", None).unwrap();
    let key = alice.public_key();
    alice.contact_code().unwrap();

    // The row disappears underneath the running app.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("DELETE FROM identity", []).unwrap();
    assert!(matches!(
        alice.contact_code(),
        Err(BuddyError::Store(StoreError::IdentityMissing))
    ));
    let bob_code =
        pigeonhole::contact::ContactCode::new(identity(9).public_key(), InboxToken([1; 16]));
    assert!(
        alice
            .send_request(&bob_code.to_string(), "hi", vec![])
            .await
            .is_err()
    );
    let rows: i64 = raw
        .query_row("SELECT count(*) FROM identity", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 0, "no key was made behind the user's back");

    // Restarting on that database refuses too: it holds Alice's state.
    drop(alice);
    let reopened = book(Store::open(&path, validator(), clock.clone()).unwrap());
    assert!(matches!(
        reopened,
        Err(BuddyError::Store(StoreError::IdentityMissing))
    ));

    // Another identity put in its place is noticed, not used silently.
    let store = Arc::new(Store::open(&path, validator(), clock.clone()).unwrap());
    store
        .import_identity(&identity(3), InboxToken([1; 16]))
        .unwrap();
    let mailbox = Mailbox::new(dht.clone(), validator(), clock.clone(), config());
    let book3 = BuddyBook::new(
        store.clone(),
        mailbox,
        clock.clone(),
        BuddyConfig::default(),
    )
    .unwrap();
    assert_ne!(book3.public_key(), key);
    store
        .import_identity(&identity(4), InboxToken([1; 16]))
        .unwrap();
    assert!(matches!(
        book3.contact_code(),
        Err(BuddyError::IdentityChanged)
    ));
}

#[test]
fn a_withdrawn_sent_request_stays_withdrawn_across_a_reopen_and_needs_a_pending_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sent.db");
    let clock = clock();
    {
        let store = Store::open(&path, validator(), clock.clone()).unwrap();
        store.insert_sent(&sent_row(1)).unwrap();
        store.insert_sent(&sent_row(2)).unwrap();
        store
            .record_answer(&sent_row(2).request_id, SentStatus::Accepted, None)
            .unwrap();
        assert!(store.mark_withdrawn(&sent_row(1).request_id).unwrap());
        // Only a pending row can be withdrawn: neither twice nor once answered.
        assert!(!store.mark_withdrawn(&sent_row(1).request_id).unwrap());
        assert!(!store.mark_withdrawn(&sent_row(2).request_id).unwrap());
    }
    let store = Store::open(&path, validator(), clock).unwrap();
    let status = |n| {
        store
            .sent_by_id(&sent_row(n).request_id)
            .unwrap()
            .unwrap()
            .status
    };
    assert_eq!(status(1), SentStatus::Withdrawn);
    assert_eq!(status(2), SentStatus::Accepted);
}
