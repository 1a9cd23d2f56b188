//! Unit tests of fair storage (`crate::quota`) on an in-memory store.

use std::sync::Arc;

use pigeonhole::clock::ManualClock;
use pigeonhole::identity::Identity;
use pigeonhole::record::body::SEALED_SCHEME_V1;
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind, MailboxId, Policy, Validator};
use pigeonhole::store::{PutOutcome, Store};

use super::*;
use crate::record_store::{Refusal, SqliteRecordStore};

const NOW: u64 = 1_800_000_000;

/// A signed request from key `sender` into mailbox `mailbox`, slot `seq`,
/// expiring `life` seconds from now, with a body of `body_len` bytes.
fn signed(sender: u8, mailbox: u8, seq: u32, life: u64, body_len: usize) -> (DhtKey, Vec<u8>) {
    let identity = Identity::from_secret_bytes([sender; 32]);
    let header = Header {
        kind: Kind::BuddyRequest,
        mailbox: MailboxId([mailbox; 32]),
        instance: InstanceId {
            bucket: InstanceId::bucket_of(NOW + life),
            seq,
        },
        sender: identity.public_key(),
        created_at: NOW,
        expires_at: NOW + life,
    };
    let mut body = vec![SEALED_SCHEME_V1];
    body.resize(body_len, 0xA5);
    (header.dht_key(), header.sign(&identity, &body))
}

fn key_of(sender: u8) -> pigeonhole::identity::PublicKey {
    Identity::from_secret_bytes([sender; 32]).public_key()
}

fn store(limits: Limits) -> SqliteRecordStore {
    let clock = Arc::new(ManualClock::new(NOW));
    let validator = Validator::new(Policy::default());
    let inner = Store::open_in_memory(validator.clone(), clock.clone()).unwrap();
    SqliteRecordStore::new(inner, validator, clock, limits, std::time::Duration::ZERO).unwrap()
}

fn put(store: &mut SqliteRecordStore, (key, bytes): (DhtKey, Vec<u8>)) -> Result<(), Refusal> {
    store.put_checked(&key, &bytes).map(|_| ())
}

fn quota(result: Result<(), Refusal>) -> QuotaExceeded {
    match result {
        Err(Refusal::Admit(AdmitError::Quota(quota))) => quota,
        other => panic!("expected a quota refusal, got {other:?}"),
    }
}

fn held_in(store: &SqliteRecordStore, mailbox: u8, sender: u8) -> u64 {
    store
        .inner()
        .sender_totals(&MailboxId([mailbox; 32]), &key_of(sender))
        .unwrap()
        .records
}

#[test]
fn a_full_mailbox_admits_a_newcomer_by_displacing_its_largest_sender() {
    let mut store = store(Limits {
        max_records_per_sender_per_mailbox: 8,
        max_records_per_mailbox: 6,
        ..Limits::default()
    });
    // Sender 1 floods the mailbox: 5 records, the last one expiring latest.
    for seq in 0..5 {
        put(&mut store, signed(1, 1, seq, 3_600 + u64::from(seq), 100)).unwrap();
    }
    put(&mut store, signed(2, 1, 10, 3_600, 100)).unwrap();
    // Full (6). Sender 3 holds none: sender 1's latest-expiring record goes.
    put(&mut store, signed(3, 1, 11, 3_600, 100)).unwrap();
    assert_eq!(held_in(&store, 1, 1), 4);
    let (latest, _) = signed(1, 1, 4, 3_604, 100);
    assert_eq!(
        store.get_valid(&latest).unwrap(),
        None,
        "not the latest-expiring"
    );
    let (earliest, _) = signed(1, 1, 0, 3_600, 100);
    assert!(store.get_valid(&earliest).unwrap().is_some());
    let stats = store.stats().unwrap();
    assert_eq!((stats.records, stats.displaced_records), (6, 1));

    // Sender 2 (1 record) still gets in while sender 1 holds more …
    put(&mut store, signed(2, 1, 12, 3_600, 100)).unwrap();
    assert_eq!(held_in(&store, 1, 1), 3);
    // … and sender 1 cannot push back: it is the largest.
    assert!(matches!(
        quota(put(&mut store, signed(1, 1, 20, 3_600, 100))),
        QuotaExceeded::MailboxFull(6)
    ));
    // Sender 3 (1) displaces sender 1 (3): now every sender holds 2, and
    // nobody holding as much as the largest gets in.
    put(&mut store, signed(3, 1, 14, 3_600, 100)).unwrap();
    for sender in 1..=3 {
        assert_eq!(held_in(&store, 1, sender), 2);
    }
    assert!(matches!(
        quota(put(&mut store, signed(2, 1, 13, 3_600, 100))),
        QuotaExceeded::MailboxFull(6)
    ));
    assert_eq!(
        store
            .inner()
            .mailbox_totals(&MailboxId([1; 32]))
            .unwrap()
            .records,
        6
    );
    assert_eq!(store.stats().unwrap().refused_quota, 2);
}

#[test]
fn a_full_store_admits_a_smaller_holder_and_never_displaces_protected_records() {
    let mut store = store(Limits {
        max_total_bytes: 4_000,
        reserved_bytes: 2_000,
        ..Limits::default()
    });
    let protected = MailboxId([9; 32]);
    store.set_protected([protected]);
    // An honest author posts into a protected mailbox (and one record
    // elsewhere): it is the largest holder.
    for seq in 0..4 {
        put(&mut store, signed(5, 9, seq, 3_600, 200)).unwrap();
    }
    put(&mut store, signed(5, 7, 0, 3_600, 200)).unwrap();
    // An attacker with many keys fills the rest, one small record each.
    let mut refused = 0;
    for sender in 100..140u8 {
        if put(&mut store, signed(sender, sender, 0, 3_600, 150)).is_err() {
            refused += 1;
        }
    }
    assert!(store.totals().unwrap().bytes <= 4_000);
    // Sender 5 was the largest: its unprotected record went, the protected
    // ones stayed.
    assert_eq!(held_in(&store, 9, 5), 4, "a protected record was displaced");
    assert_eq!(held_in(&store, 7, 5), 0);
    assert!(store.stats().unwrap().displaced_records >= 1);
    // Every newcomer got in (each held nothing) …
    assert_eq!(refused, 0);
    // … but once every unprotected holder holds one record, a holder of
    // one is refused.
    assert!(matches!(
        quota(put(&mut store, signed(139, 200, 1, 3_600, 150))),
        QuotaExceeded::StoreFull(_)
    ));
    // … while a protected record within the reserve displaces whoever
    // holds the most, though its own sender holds more than anyone.
    put(&mut store, signed(5, 9, 10, 3_600, 200)).unwrap();
    assert_eq!(held_in(&store, 9, 5), 5);
    assert!(store.totals().unwrap().bytes <= 4_000);
}

#[test]
fn a_sender_over_its_share_is_refused_and_a_refused_put_evicts_nothing() {
    let mut one = store(Limits {
        max_records_per_mailbox: 3,
        max_bytes_per_sender: 1_000,
        ..Limits::default()
    });
    for seq in 0..2 {
        put(&mut one, signed(1, 1, seq, 3_600, 250)).unwrap();
    }
    // Sender 1 holds ~800 bytes: another record is over its share,
    // wherever it goes.
    assert!(matches!(
        quota(put(&mut one, signed(1, 2, 0, 3_600, 250))),
        QuotaExceeded::SenderShareFull(_)
    ));

    let mut small = store(Limits {
        max_records_per_mailbox: 2,
        max_total_bytes: 800,
        reserved_bytes: 500,
        ..Limits::default()
    });
    small.set_protected([MailboxId([1; 32])]);
    put(&mut small, signed(1, 1, 0, 3_600, 100)).unwrap();
    put(&mut small, signed(1, 1, 1, 3_600, 100)).unwrap();
    // Sender 2 may displace in the full mailbox (it holds fewer records
    // there) but finds no room in the store (everything else held is
    // protected, and its record is over the reserve): refused, and the
    // mailbox eviction is rolled back.
    let result = put(&mut small, signed(2, 1, 2, 3_600, 600));
    assert!(matches!(quota(result), QuotaExceeded::StoreFull(_)));
    assert_eq!(small.totals().unwrap().records, 2);
    assert_eq!(small.stats().unwrap().displaced_records, 0);
}

#[test]
fn kept_sums_follow_every_delete_path() {
    let clock = Arc::new(ManualClock::new(NOW));
    let validator = Validator::new(Policy::default());
    let inner = Store::open_in_memory(validator.clone(), clock.clone()).unwrap();
    let mut store = SqliteRecordStore::new(
        inner,
        validator,
        clock.clone(),
        Limits::default(),
        std::time::Duration::ZERO,
    )
    .unwrap();
    for seq in 0..5 {
        put(
            &mut store,
            signed(1, 1, seq, 60 + u64::from(seq) * 100, 100),
        )
        .unwrap();
    }
    // Putting the same record twice changes nothing.
    let (key, bytes) = signed(1, 1, 0, 60, 100);
    assert!(matches!(
        store.put_checked(&key, &bytes),
        Ok((_, PutOutcome::Unchanged))
    ));
    let listed: u64 = store
        .list()
        .unwrap()
        .iter()
        .map(|r| r.bytes().len() as u64)
        .sum();
    assert_eq!(store.totals().unwrap().bytes, listed);
    assert_eq!(store.totals().unwrap().records, 5);
    // Sweep deletes the expired rows; the kept sums follow.
    clock.advance(300);
    assert_eq!(store.sweep().unwrap(), 3);
    let rest = store.totals().unwrap();
    assert_eq!(rest.records, 2);
    assert_eq!(store.inner().sender_totals_all(&key_of(1)).unwrap(), rest);
    assert_eq!(
        store.inner().mailbox_totals(&MailboxId([1; 32])).unwrap(),
        rest
    );
    // Deleting a slot too.
    let (key, _) = signed(1, 1, 4, 460, 100);
    assert!(store.inner().remove(&key).unwrap());
    assert_eq!(store.totals().unwrap().records, 1);
    assert_eq!(
        store.inner().sender_totals_all(&key_of(1)).unwrap().records,
        1
    );
}
