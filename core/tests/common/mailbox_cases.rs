//! Mailbox behaviour written once, run on any DHT: the in-memory one here
//! (single-value and listing), real libp2p nodes in the DHT tests.
//! `clients[i]` is the DHT as seen from node `i`; every case works with one
//! client or many, and on single-value as well as keep-both storage.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, ListCursor, Mailbox, MailboxError};
use pigeonhole::record::body::{BodyRules, Tombstone};
use pigeonhole::record::{DhtKey, Header, InstanceId, Kind, MailboxId};

use super::*;

pub use super::dht_wrappers::{CountingDht, RefusingDht, StaleDht};

pub type Client = Arc<dyn Dht>;

fn mailbox(client: &Client, clock: &Arc<ManualClock>) -> Mailbox<Client> {
    Mailbox::new(client.clone(), validator(), clock.clone(), config())
}

/// `publishers` writers, each on its own client, put `per_publisher`
/// records into one mailbox at once; a reader finds every one exactly once.
pub async fn concurrent_publishers(
    clients: &[Client],
    clock: &Arc<ManualClock>,
    publishers: usize,
    per_publisher: usize,
) {
    let inbox = inbox_of(77);
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let mailbox = mailbox(&clients[p % clients.len()], clock);
        let sender = identity(p as u8 + 1);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..per_publisher {
                let record = mailbox
                    .publish(&sender, request_draft(inbox, 3 * DAY))
                    .await
                    .expect("publish");
                ids.push(record.id());
            }
            ids
        }));
    }
    let mut published = HashSet::new();
    for task in tasks {
        for id in task.await.expect("publisher task") {
            assert!(published.insert(id), "two publishes returned one record");
        }
    }
    assert_eq!(published.len(), publishers * per_publisher);

    let reader = mailbox(clients.last().unwrap(), clock);
    let fetched = reader.fetch_all(inbox).await.expect("fetch");
    let ids: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    let unique: HashSet<_> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a record was fetched twice");
    assert_eq!(unique, published, "fetched set differs from published set");
    let instances: Vec<_> = fetched.records.iter().map(|r| r.header.instance).collect();
    let mut sorted = instances.clone();
    sorted.sort();
    assert_eq!(instances, sorted, "records not ordered by instance");
}

/// Expired and deleted records in the middle of a bucket do not end the
/// scan: every live record after them is found.
pub async fn gaps_do_not_end_the_scan(clients: &[Client], clock: &Arc<ManualClock>) {
    let inbox = inbox_of(78);
    let writer = mailbox(&clients[0], clock);
    let sender = identity(50);
    // NOW is 08:00 UTC: 1 h and 10 h lifetimes expire on the same day, so
    // all records share one bucket.
    let pattern = "LLLLLLSSSSSLLLLLSSSSSSSLLLLL";
    let mut live = Vec::new();
    for (i, c) in pattern.chars().enumerate() {
        let lifetime = if c == 'S' { 3600 } else { 36_000 };
        let record = writer
            .publish(&sender, request_draft(inbox, lifetime))
            .await
            .expect("publish");
        assert_eq!(record.header.instance.seq as usize, i);
        if c == 'L' {
            live.push(record);
        }
    }
    // Delete three long-lived ones, one of them right after a gap.
    for index in [2, 6, 11] {
        let removed = live.remove(index);
        writer.delete(&sender, &removed).await.expect("delete");
    }
    clock.advance(2 * 3600);
    let fetched = mailbox(clients.last().unwrap(), clock)
        .fetch_all(inbox)
        .await
        .expect("fetch");
    let got: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    let want: Vec<_> = live.iter().map(|r| r.id()).collect();
    assert_eq!(got, want);
    assert_eq!(fetched.stats.tombstones, 3);
}

/// An idle sync of an empty mailbox costs one listing request where the DHT
/// lists, else one probe window per bucket in one round.
pub async fn an_idle_sync_is_one_request_or_one_window_per_bucket(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let fetched = mailbox(&clients[0], clock)
        .fetch_all(inbox_of(79))
        .await
        .expect("fetch");
    assert!(fetched.records.is_empty());
    assert!(fetched.cursor.is_none());
    let stats = &fetched.stats;
    if stats.lists > 0 {
        assert_eq!(stats.requests, 1, "{stats:?}");
        assert_eq!(stats.gets, 0, "{stats:?}");
    } else {
        let window = u64::from(config().window);
        assert!(stats.buckets >= 30);
        assert_eq!(stats.gets, window * u64::from(stats.buckets));
        assert_eq!(stats.requests, stats.gets);
        assert_eq!(stats.rounds, 1);
    }
}

/// Old name of [`an_idle_sync_is_one_request_or_one_window_per_bucket`],
/// kept until `node/tests/mailbox_on_nodes.rs` switches.
pub async fn empty_mailbox_costs_one_window_per_bucket(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    an_idle_sync_is_one_request_or_one_window_per_bucket(clients, clock).await;
}

/// A publisher that has never seen the mailbox takes the slot after 100
/// taken ones: with one next-seq question where the DHT lists, else by
/// scanning windows from 0 (never jumping past a free slot).
pub async fn a_fresh_publisher_takes_the_first_free_slot(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(80);
    let first = mailbox(&clients[0], clock);
    for _ in 0..100 {
        first
            .publish(&identity(60), request_draft(inbox, DAY))
            .await
            .expect("publish");
    }
    let counting = Arc::new(CountingDht {
        inner: clients.last().unwrap().clone(),
        gets: AtomicU64::new(0),
    });
    let fresh = Mailbox::new(
        counting.clone() as Client,
        validator(),
        clock.clone(),
        config(),
    );
    let record = fresh
        .publish(&identity(61), request_draft(inbox, DAY))
        .await
        .expect("publish");
    assert_eq!(record.header.instance.seq, 100);
    let gets = counting.gets.load(Ordering::Relaxed);
    let bucket = record.header.instance.bucket;
    let listing = counting.inner.next_seq(inbox, bucket).await.unwrap();
    if listing.is_some() {
        assert_eq!(listing, Some(101));
        assert_eq!(gets, 0, "no probing next to next_seq");
    } else {
        // Windows of 8 over 0..=103, then one read-back.
        let window = u64::from(config().window);
        assert_eq!(gets, (100 / window + 1) * window + 1);
    }
}

/// Old name of [`a_fresh_publisher_takes_the_first_free_slot`], kept until
/// `node/tests/mailbox_on_nodes.rs` switches.
pub async fn slot_search_is_logarithmic(clients: &[Client], clock: &Arc<ManualClock>) {
    a_fresh_publisher_takes_the_first_free_slot(clients, clock).await;
}

/// Nobody displaces a stored record: another sender's record for its slot,
/// or its own sender's second record, is refused as taken (single-value
/// storage) or kept beside it (keep-both storage). Only its sender deletes
/// it, with a tombstone, and the deleted record cannot be replayed.
pub async fn only_the_sender_writes_its_slot(clients: &[Client], clock: &Arc<ManualClock>) {
    let inbox = inbox_of(81);
    let owner = identity(70);
    let intruder = identity(71);
    let writer = mailbox(&clients[0], clock);
    let record = writer
        .publish(&owner, request_draft(inbox, DAY))
        .await
        .expect("publish");
    let key = record.dht_key();
    let reader = mailbox(clients.last().unwrap(), clock);
    let still_there = |fetched: &pigeonhole::mailbox::Fetched| {
        fetched.records.iter().any(|r| r.id() == record.id())
    };

    // The intruder signs its own record for the same slot.
    let mut forged = record.header;
    forged.sender = intruder.public_key();
    let refused = clients[0]
        .put(key, forged.sign(&intruder, &sealed_blob(10)))
        .await;
    assert!(
        matches!(refused, Ok(()) | Err(DhtError::Taken)),
        "{refused:?}"
    );
    assert_eq!(
        writer.delete(&intruder, &record).await,
        Err(MailboxError::NotSender)
    );
    // The owner's own newer record does not overwrite the first either.
    clock.advance(10);
    let mut second = record.header;
    second.created_at += 10;
    let own = clients[0]
        .put(key, second.sign(&owner, &sealed_blob(20)))
        .await;
    assert!(matches!(own, Ok(()) | Err(DhtError::Taken)), "{own:?}");
    assert!(still_there(&reader.fetch_all(inbox).await.unwrap()));

    // Delete; the record cannot be put back afterwards.
    let tombstone = writer.delete(&owner, &record).await.expect("delete");
    assert_eq!(tombstone.header.kind, Kind::Tombstone);
    // Refused (`Deleted` where the storage says why; a v1 peer that only
    // compares the held bytes reports "taken"): either way it stays gone.
    let replay = clients[0].put(key, record.bytes().to_vec()).await;
    assert!(replay.is_err(), "a deleted record was accepted again");
    let fetched = reader.fetch_all(inbox).await.unwrap();
    assert!(!still_there(&fetched));
    assert!(fetched.tombstones.iter().any(|t| t.id() == tombstone.id()));
}

/// Concurrent publishes of one identity in one process never take the
/// same slot (one would find it taken and have to search again).
pub async fn one_sender_publishing_concurrently_loses_nothing(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(82);
    let writer = Arc::new(mailbox(&clients[0], clock));
    let sender = identity(90);
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let (writer, sender) = (writer.clone(), sender.clone());
        tasks.push(tokio::spawn(async move {
            // Different lifetimes within one day: different bytes, one bucket.
            writer
                .publish(&sender, request_draft(inbox, 3600 + i))
                .await
                .expect("publish")
        }));
        clock.advance(1);
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().id());
    }
    let fetched = mailbox(clients.last().unwrap(), clock)
        .fetch_all(inbox)
        .await
        .unwrap();
    let found: HashSet<_> = fetched.records.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(found, ids);
}

/// Signs a record of `kind` by `sender` straight into `seq` of `mailbox`,
/// expiring at `expires_at`: what a hostile client can put without the
/// mailbox's slot search.
fn raw_record(
    sender: u8,
    kind: Kind,
    mailbox: MailboxId,
    seq: u32,
    expires_at: u64,
) -> (DhtKey, Vec<u8>) {
    let signer = identity(sender);
    let header = Header {
        kind,
        mailbox,
        instance: InstanceId {
            bucket: InstanceId::bucket_of(expires_at),
            seq,
        },
        sender: signer.public_key(),
        created_at: NOW,
        expires_at,
    };
    let body = match kind {
        Kind::Tombstone => Tombstone {
            replaced: [seq as u8 | 1; 32],
        }
        .encode(),
        _ => sealed_blob(16),
    };
    (header.dht_key(), header.sign(&signer, &body))
}

/// The slots a hostile sender occupies in each pattern tried.
fn hostile_patterns() -> Vec<(&'static str, Vec<u32>)> {
    let mut random = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for seq in 0..96 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state % 10 < 7 {
            random.push(seq);
        }
    }
    vec![
        (
            "0-15 and 31-63 (the galloping trap)",
            (0..16).chain(31..64).collect(),
        ),
        ("every other slot", (0..64).step_by(2).collect()),
        (
            "runs of 7 with gaps of 9",
            (0..96).filter(|s| s % 16 < 7).collect(),
        ),
        ("seeded random, 70% dense", random),
    ]
}

/// A hostile sender with a contact code fills any slot pattern it likes
/// (records and tombstones, up to whatever its storing peers allow); every
/// honest record published afterwards, by senders that never saw the
/// mailbox before, is read by the recipient.
pub async fn perforation_does_not_hide_honest_records(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let lifetime = 3 * DAY;
    for (index, (name, slots)) in hostile_patterns().into_iter().enumerate() {
        let inbox = inbox_of(100 + index as u8);
        for (n, &seq) in slots.iter().enumerate() {
            let kind = if n % 3 == 0 {
                Kind::Tombstone
            } else {
                Kind::BuddyRequest
            };
            let (key, bytes) = raw_record(120, kind, inbox, seq, NOW + lifetime);
            // Refusals are the hostile sender's caps: it fills what it can.
            let _ = clients[n % clients.len()].put(key, bytes).await;
        }
        let mut honest = HashSet::new();
        for sender in 0..6u8 {
            let writer = mailbox(&clients[sender as usize % clients.len()], clock);
            for _ in 0..3 {
                let record = writer
                    .publish(&identity(130 + sender), request_draft(inbox, lifetime))
                    .await
                    .expect("honest publish");
                honest.insert(record.id());
            }
        }
        let fetched = mailbox(clients.last().unwrap(), clock)
            .fetch_all(inbox)
            .await
            .expect("fetch");
        let read: HashSet<_> = fetched.records.iter().map(|r| r.id()).collect();
        let missing = honest.difference(&read).count();
        assert_eq!(
            missing, 0,
            "pattern {name}: {missing} honest records unread"
        );
    }
}

/// 20 records in one bucket, the first 12 short-lived: once those expired
/// (clock advanced), the remaining 8 are all read.
pub async fn an_expired_prefix_does_not_hide_live_records(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(84);
    let writer = mailbox(&clients[0], clock);
    let mut live = Vec::new();
    // NOW is 08:00 UTC: 1 h and 10 h lifetimes expire on the same day.
    for i in 0..20 {
        let lifetime = if i < 12 { 3600 } else { 36_000 };
        let record = writer
            .publish(&identity(51), request_draft(inbox, lifetime))
            .await
            .expect("publish");
        if i >= 12 {
            live.push(record.id());
        }
    }
    clock.advance(2 * 3600);
    let fetched = mailbox(clients.last().unwrap(), clock)
        .fetch_all(inbox)
        .await
        .expect("fetch");
    let got: Vec<_> = fetched.records.iter().map(|r| r.id()).collect();
    assert_eq!(got, live);
}

/// A refusal that is not "slot taken" (over quota, unreachable) ends the
/// publish with that very error: no `Contention`, no record left in a slot
/// further on, and the next publish once the refusal is gone takes slot 0.
pub async fn refusals_end_the_publish_with_their_error(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(86);
    let sender = identity(52);
    for refusal in [
        DhtError::Rejected("over quota".into()),
        DhtError::Unavailable("no peer answered".into()),
    ] {
        let refusing = Arc::new(RefusingDht {
            inner: clients[0].clone(),
            refusal: refusal.clone(),
        });
        let writer = Mailbox::new(refusing as Client, validator(), clock.clone(), config());
        let error = writer
            .publish(&sender, request_draft(inbox, DAY))
            .await
            .expect_err("a refused publish");
        assert_eq!(error, MailboxError::Dht(refusal));
    }
    let reader = mailbox(clients.last().unwrap(), clock);
    assert!(reader.fetch_all(inbox).await.unwrap().records.is_empty());
    let record = mailbox(&clients[0], clock)
        .publish(&sender, request_draft(inbox, DAY))
        .await
        .expect("publish");
    assert_eq!(
        record.header.instance.seq, 0,
        "a refused publish left a gap"
    );
}

/// A sender restarted with an empty hint cache, reading through a stale
/// replica, publishes again into the same mailbox: its earlier record is
/// still there, beside the new one.
pub async fn a_restarted_sender_keeps_its_earlier_record(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(85);
    let sender = identity(53);
    let earlier = mailbox(&clients[0], clock)
        .publish(&sender, request_draft(inbox, DAY))
        .await
        .expect("publish");
    clock.advance(1);
    let stale = Arc::new(StaleDht {
        inner: clients.last().unwrap().clone(),
        hidden_gets: AtomicU64::new(u64::from(config().window)),
    });
    let restarted = Mailbox::new(stale as Client, validator(), clock.clone(), config());
    let later = restarted
        .publish(&sender, request_draft(inbox, DAY))
        .await
        .expect("publish after restart");
    assert_ne!(later.id(), earlier.id());
    let fetched = mailbox(&clients[0], clock).fetch_all(inbox).await.unwrap();
    let ids: HashSet<_> = fetched.records.iter().map(|r| r.id()).collect();
    assert!(
        ids.contains(&earlier.id()),
        "the earlier record was overwritten"
    );
    assert!(ids.contains(&later.id()));
}

/// `fetch_since` returns what came after the cursor, in listing order, and
/// nothing twice across calls; with nothing new it keeps the cursor.
pub async fn fetch_since_returns_each_record_once_in_order(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let inbox = inbox_of(87);
    let writer = mailbox(&clients[0], clock);
    let reader = mailbox(clients.last().unwrap(), clock);
    let mut published = Vec::new();
    let mut cursor: Option<ListCursor> = None;
    let mut read = Vec::new();
    for round in 0..3u8 {
        for i in 0..(5 - round) {
            let record = writer
                .publish(&identity(140 + i), request_draft(inbox, 2 * DAY))
                .await
                .expect("publish");
            published.push(record.id());
        }
        let fetched = reader.fetch_since(inbox, cursor).await.expect("fetch");
        assert_eq!(
            fetched.records.len(),
            usize::from(5 - round),
            "round {round}"
        );
        assert!(fetched.cursor > cursor, "the cursor moved on");
        cursor = fetched.cursor;
        read.extend(fetched.records.iter().map(|r| r.id()));
    }
    assert_eq!(read, published, "in publish order, each once");
    let idle = reader.fetch_since(inbox, cursor).await.expect("fetch");
    assert!(idle.records.is_empty());
    assert_eq!(idle.cursor, cursor);
}
