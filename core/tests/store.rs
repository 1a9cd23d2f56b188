//! The SQLite store on a real file: reopen, expiry, tampering, the
//! keep-both rule, listing reads and the migration from one record per slot.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pigeonhole::clock::ManualClock;
use pigeonhole::contact::InboxToken;
use pigeonhole::mailbox::ListCursor;
use pigeonhole::record::body::{BodyRules, Tombstone};
use pigeonhole::record::{DhtKey, InstanceId, Kind, record_id};
use pigeonhole::set_rule::SetRejection;
use pigeonhole::store::{PutOutcome, Store, StoreError, Totals};

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
        assert_eq!(store.put_bytes(&key, &bytes).unwrap(), PutOutcome::Stored);
        assert_eq!(
            store.put_bytes(&key, &bytes).unwrap(),
            PutOutcome::Unchanged
        );
        store
            .set_inbox_token(InboxToken([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]))
            .unwrap();
        created
    };
    assert_ne!(
        token,
        InboxToken([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    );
    let store = open(&path, &clock);
    let (again, token_again) = store.load_or_create_identity().unwrap();
    assert_eq!(again.public_key(), identity.public_key());
    assert_eq!(
        token_again,
        InboxToken([4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    );
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
    assert!(
        store.get(&short_key).unwrap().is_none(),
        "expired: not served"
    );
    assert!(store.get(&long_key).unwrap().is_some());
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(
        store.totals().unwrap().records,
        2,
        "nothing is deleted at open or on a read"
    );
    clock.advance(4 * 3600);
    assert!(
        store.get(&long_key).unwrap().is_none(),
        "expiry checked on read"
    );
}

/// A forward jump of 3 days, seen at open and by sweeps for less than the
/// grace period, deletes nothing; once the clock is back every record is
/// served again. A record the clock keeps showing expired is deleted once
/// it has been seen expired for the grace period of elapsed time, and not
/// a sweep earlier.
#[test]
fn a_clock_jump_deletes_nothing_within_the_grace_period() {
    const GRACE: Duration = Duration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let records: Vec<_> = (0..5).map(|seq| record(1, seq, DAY)).collect();
    {
        let store = open(&path, &clock);
        for (key, bytes) in &records {
            store.put_bytes(key, bytes).unwrap();
        }
        store
            .outbox_put(&store.get(&records[0].0).unwrap().unwrap())
            .unwrap();
    }
    // The clock jumps 3 days ahead while the app is closed; it opens, and
    // sweeps run for 50 minutes of elapsed time.
    clock.advance(3 * DAY);
    let store = open(&path, &clock);
    assert_eq!(store.totals().unwrap().records, 5, "open deleted records");
    assert!(
        store.list().unwrap().is_empty(),
        "expired rows are not served"
    );
    for _ in 0..10 {
        assert_eq!(
            store
                .sweep_expired(Duration::from_secs(300), GRACE)
                .unwrap(),
            0
        );
    }
    assert_eq!(store.totals().unwrap().records, 5);
    // The clock comes back: everything is served, and the sweeps that saw
    // the records live again start their count from zero.
    clock.set(NOW);
    assert_eq!(
        store
            .sweep_expired(Duration::from_secs(300), GRACE)
            .unwrap(),
        0
    );
    assert_eq!(store.list().unwrap().len(), 5);
    assert_eq!(store.outbox_list().unwrap().len(), 1);
    clock.advance(3 * DAY);
    assert_eq!(
        store
            .sweep_expired(Duration::from_secs(300), GRACE)
            .unwrap(),
        0,
        "a fresh expiry starts at zero"
    );
    for _ in 0..11 {
        assert_eq!(
            store
                .sweep_expired(Duration::from_secs(300), GRACE)
                .unwrap(),
            0
        );
    }
    // 12 × 5 min seen expired: the grace period is over.
    assert_eq!(
        store
            .sweep_expired(Duration::from_secs(300), GRACE)
            .unwrap(),
        5
    );
    assert_eq!(store.totals().unwrap().records, 0);
    clock.set(NOW);
    assert!(store.outbox_list().unwrap().is_empty(), "outbox swept too");
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
            "UPDATE held_set SET bytes = ?1 WHERE key = ?2",
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
fn two_records_of_one_slot_are_both_kept_and_tombstones_delete_their_own() {
    let clock = clock();
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let (key, bytes) = record(1, 0, DAY);
    store.put_bytes(&key, &bytes).unwrap();
    let mut other = Spec::new(Kind::BuddyRequest, identity(2), DAY, 0);
    other.body = sealed_blob(30);
    assert_eq!(other.key(), key);
    assert_eq!(
        store.put_bytes(&key, &other.bytes()).unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(store.get_slot(&key).unwrap().len(), 2);
    let lowest = record_id(&bytes).min(record_id(&other.bytes()));
    assert_eq!(store.get(&key).unwrap().unwrap().id(), lowest);
    match store.put_bytes(&key, &bytes[..bytes.len() - 1]) {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{other:?}"),
    }

    // A tombstone of another sender may not delete; its own sender's may,
    // and then the record is refused if it comes back.
    let tombstone = |seed: u8, lifetime: u64| {
        let mut spec = Spec::new(Kind::Tombstone, identity(seed), lifetime, 0);
        spec.body = Tombstone {
            replaced: record_id(&bytes),
        }
        .encode();
        assert_eq!(spec.key(), key);
        spec.bytes()
    };
    match store.put_bytes(&key, &tombstone(2, DAY)) {
        Err(StoreError::Refused(SetRejection::OtherSender)) => {}
        other => panic!("{other:?}"),
    }
    match store.put_bytes(&key, &tombstone(1, DAY - 60)) {
        Err(StoreError::Refused(SetRejection::ShortensLifetime)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.put_bytes(&key, &tombstone(1, DAY)).unwrap(),
        PutOutcome::Replaced(record_id(&bytes))
    );
    match store.put_bytes(&key, &bytes) {
        Err(StoreError::Refused(SetRejection::Deleted)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(store.get_slot(&key).unwrap().len(), 2, "other + tombstone");
    assert!(store.remove(&key).unwrap());
    assert!(!store.remove(&key).unwrap());
}

#[test]
fn listing_pages_in_instance_then_record_id_order() {
    let clock = clock();
    let store = Store::open_in_memory(validator(), clock.clone()).unwrap();
    let inbox = inbox_of(200);
    // Five slots, slot 2 holding two records.
    let mut all = Vec::new();
    for (seed, seq) in [(1, 0), (1, 1), (2, 2), (3, 2), (1, 3), (1, 4)] {
        let (key, bytes) = record(seed, seq, DAY);
        store.put_bytes(&key, &bytes).unwrap();
        all.push(bytes);
    }
    let order = |bytes: &Vec<u8>| {
        let record = validator().validate(&key_of(bytes), bytes, NOW).unwrap();
        (record.header.instance, record.id())
    };
    all.sort_by_key(order);
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let (page, more) = store.list_mailbox(&inbox, after, 4).unwrap();
        assert!(page.len() <= 4);
        if let Some(last) = page.last() {
            after = Some(ListCursor {
                instance: last.header.instance,
                record_id: last.id(),
            });
        }
        seen.extend(page.into_iter().map(|r| r.bytes().to_vec()));
        if !more {
            break;
        }
    }
    assert_eq!(seen, all);
    assert!(
        store
            .list_mailbox(&inbox_of(3), None, 4)
            .unwrap()
            .0
            .is_empty()
    );

    let bucket = InstanceId::bucket_of(NOW + DAY);
    assert_eq!(store.next_seq(&inbox, bucket).unwrap(), 5);
    assert_eq!(store.next_seq(&inbox, bucket + 1).unwrap(), 0);
    assert_eq!(store.next_seq(&inbox_of(3), bucket).unwrap(), 0);
    let items = store.items(&inbox).unwrap();
    assert_eq!(items.len(), 6);
    assert!(items.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(store.mailboxes().unwrap(), vec![inbox]);
    let wanted = [items[4].1, items[1].1, [9; 32]];
    let found = store.get_by_ids(&inbox, &wanted).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].id(), items[1].1);
    assert!(store.holds(&inbox, &items[0].1).unwrap());
}

#[test]
fn rows_of_the_one_per_slot_table_are_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let clock = clock();
    let (key, bytes) = record(1, 7, DAY);
    {
        // A database as version 3 left it.
        let mut raw = rusqlite::Connection::open(&path).unwrap();
        let tx = raw.transaction().unwrap();
        for step in &pigeonhole::store::schema::MIGRATIONS[..3] {
            tx.execute_batch(step).unwrap();
        }
        tx.pragma_update(None, "user_version", 3).unwrap();
        let spec = validator().validate(&key, &bytes, NOW).unwrap();
        tx.execute(
            "INSERT INTO held_records (key, mailbox, sender, kind, expires_at, size, bytes, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                key.0,
                spec.header.mailbox.0,
                spec.header.sender.0,
                spec.header.kind as u8,
                spec.header.expires_at as i64,
                bytes.len() as i64,
                bytes,
                NOW as i64
            ],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = open(&path, &clock);
    assert_eq!(store.get(&key).unwrap().unwrap().bytes(), &bytes[..]);
    let bucket = InstanceId::bucket_of(NOW + DAY);
    assert_eq!(store.next_seq(&inbox_of(200), bucket).unwrap(), 8);
    assert_eq!(store.items(&inbox_of(200)).unwrap()[0].1, record_id(&bytes));
}

fn key_of(bytes: &[u8]) -> DhtKey {
    // Bytes 2..34 are the mailbox, 34..42 the instance id (PROTOCOL.md §3).
    let mailbox = pigeonhole::record::MailboxId(bytes[2..34].try_into().unwrap());
    let instance = InstanceId::from_u64(u64::from_be_bytes(bytes[34..42].try_into().unwrap()));
    DhtKey::for_slot(&mailbox, instance)
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
