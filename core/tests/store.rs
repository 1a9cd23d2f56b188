//! The SQLite store on a real file: reopen, expiry, tampering, slot rule.

mod common;

use std::sync::Arc;

use common::*;
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::InboxToken;
use pigeonhole::record::{DhtKey, Kind};
use pigeonhole::slot_rule::{SlotRejection, SlotWrite};
use pigeonhole::store::{Store, StoreError, Totals};

fn open(path: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    Store::open(path, validator(), clock.clone()).expect("open store")
}

fn record(seed: u8, seq: u32, lifetime: u64) -> (DhtKey, Vec<u8>) {
    let spec = Spec::new(Kind::BuddyRequest, identity(seed), lifetime, seq);
    (spec.key(), spec.bytes())
}

#[test]
fn identity_and_records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let (key, bytes) = record(1, 0, DAY);
    let (identity, token) = {
        let store = open(&path, &clock);
        let created = store.load_or_create_identity().unwrap();
        assert_eq!(store.put_bytes(&key, &bytes).unwrap(), SlotWrite::Store);
        assert_eq!(store.put_bytes(&key, &bytes).unwrap(), SlotWrite::Unchanged);
        store.set_inbox_token(InboxToken([4, 4, 4, 4])).unwrap();
        created
    };
    assert_ne!(token, InboxToken([4, 4, 4, 4]));
    let store = open(&path, &clock);
    let (again, token_again) = store.load_or_create_identity().unwrap();
    assert_eq!(again.public_key(), identity.public_key());
    assert_eq!(token_again, InboxToken([4, 4, 4, 4]));
    assert_eq!(store.get(&key).unwrap().unwrap().bytes(), &bytes[..]);
    assert_eq!(
        store.totals().unwrap(),
        Totals {
            records: 1,
            bytes: bytes.len() as u64
        }
    );
}

#[test]
fn expired_rows_are_not_served_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let (short_key, short) = record(1, 0, 3600);
    let (long_key, long) = record(1, 1, 5 * 3600);
    {
        let store = open(&path, &clock);
        store.put_bytes(&short_key, &short).unwrap();
        store.put_bytes(&long_key, &long).unwrap();
    }
    clock.advance(2 * 3600);
    let store = open(&path, &clock);
    assert!(store.get(&short_key).unwrap().is_none());
    assert!(store.get(&long_key).unwrap().is_some());
    assert_eq!(
        store.totals().unwrap().records,
        1,
        "expired row swept at open"
    );
    clock.advance(4 * 3600);
    assert!(
        store.get(&long_key).unwrap().is_none(),
        "expiry checked on read"
    );
    assert_eq!(
        store.remove_expired().unwrap(),
        0,
        "the read already dropped it"
    );
}

#[test]
fn tampered_rows_are_not_served_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let (key, bytes) = record(1, 0, DAY);
    let (other_key, other) = record(2, 1, DAY);
    {
        let store = open(&path, &clock);
        store.put_bytes(&key, &bytes).unwrap();
        store.put_bytes(&other_key, &other).unwrap();
    }
    {
        // Someone with access to the file flips one byte of the body.
        let raw = rusqlite::Connection::open(&path).unwrap();
        let mut tampered = bytes.clone();
        tampered[100] ^= 1;
        raw.execute(
            "UPDATE held_records SET bytes = ?1 WHERE key = ?2",
            rusqlite::params![tampered, key.0],
        )
        .unwrap();
    }
    let store = open(&path, &clock);
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].bytes(), &other[..]);
    assert!(store.get(&key).unwrap().is_none());
    assert_eq!(store.totals().unwrap().records, 1, "tampered row deleted");
}

#[test]
fn the_slot_rule_guards_held_records() {
    let clock = clock();
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let (key, bytes) = record(1, 0, DAY);
    store.put_bytes(&key, &bytes).unwrap();
    let mut intruder = Spec::new(Kind::BuddyRequest, identity(2), DAY, 0);
    intruder.body = sealed_blob(30);
    assert_eq!(intruder.key(), key);
    match store.put_bytes(&key, &intruder.bytes()) {
        Err(StoreError::SlotTaken(SlotRejection::TakenByOtherSender)) => {}
        other => panic!("{other:?}"),
    }
    match store.put_bytes(&key, &bytes[..bytes.len() - 1]) {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(store.get(&key).unwrap().unwrap().bytes(), &bytes[..]);
    assert!(store.remove(&key).unwrap());
    assert!(!store.remove(&key).unwrap());
}

#[test]
fn totals_count_per_mailbox_and_sender() {
    let clock = clock();
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    for (seed, seq) in [(1, 0), (1, 1), (2, 2)] {
        let (key, bytes) = record(seed, seq, DAY);
        store.put_bytes(&key, &bytes).unwrap();
    }
    let inbox = inbox_of(200);
    assert_eq!(store.mailbox_totals(&inbox).unwrap().records, 3);
    assert_eq!(
        store
            .sender_totals(&inbox, &identity(1).public_key())
            .unwrap()
            .records,
        2
    );
    assert_eq!(
        store.mailbox_totals(&inbox_of(3)).unwrap(),
        Totals::default()
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    match Store::open(&path, validator(), clock()) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_clock_stepping_back_hides_records_but_keeps_them() {
    let clock = clock();
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let (key, bytes) = record(1, 0, DAY);
    store.put_bytes(&key, &bytes).unwrap();
    clock.set(NOW - 3600);
    assert!(
        store.get(&key).unwrap().is_none(),
        "created in the future now"
    );
    assert!(store.list().unwrap().is_empty());
    clock.set(NOW);
    assert_eq!(store.get(&key).unwrap().unwrap().bytes(), &bytes[..]);
}
