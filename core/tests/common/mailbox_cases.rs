//! Mailbox behaviour written once, run on any DHT: the in-memory one here,
//! real libp2p nodes in the DHT tests. `clients[i]` is the DHT as seen from
//! node `i`; every case works with one client or many.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use pigeonhole::clock::ManualClock;
use pigeonhole::mailbox::{Dht, DhtError, Mailbox, MailboxError};
use pigeonhole::record::{DhtKey, Kind};

use super::*;

pub type Client = Arc<dyn Dht>;

fn mailbox(client: &Client, clock: &Arc<ManualClock>) -> Mailbox<Client> {
    Mailbox::new(client.clone(), validator(), clock.clone(), config())
}

/// Counts the gets that pass through it.
pub struct CountingDht {
    pub inner: Client,
    pub gets: AtomicU64,
}

#[async_trait]
impl Dht for CountingDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        self.inner.put(key, value).await
    }
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

/// An empty mailbox costs one probe window per bucket and one round.
pub async fn empty_mailbox_costs_one_window_per_bucket(
    clients: &[Client],
    clock: &Arc<ManualClock>,
) {
    let fetched = mailbox(&clients[0], clock)
        .fetch_all(inbox_of(79))
        .await
        .expect("fetch");
    assert!(fetched.records.is_empty());
    let window = u64::from(config().window);
    assert!(fetched.stats.buckets >= 30);
    assert_eq!(
        fetched.stats.gets,
        window * u64::from(fetched.stats.buckets)
    );
    assert_eq!(fetched.stats.rounds, 1);
}

/// A publisher that has never seen the mailbox finds the next free slot
/// after 100 taken ones in a logarithmic number of gets.
pub async fn slot_search_is_logarithmic(clients: &[Client], clock: &Arc<ManualClock>) {
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
    // gallop 0,1,2,4,…,128 (9) + binary search (≤ 6) + read-back (1)
    assert!(gets <= 16, "slot search took {gets} gets");
}

/// Only a record's sender can replace or delete it; a tombstone is final;
/// an older version of a record cannot be replayed over a newer one.
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

    // The intruder signs its own record for the same slot.
    let mut forged = record.header;
    forged.sender = intruder.public_key();
    let forged_bytes = forged.sign(&intruder, &sealed_blob(10));
    let refused = clients[0].put(key, forged_bytes).await;
    assert!(
        matches!(refused, Err(DhtError::Taken | DhtError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(
        writer.delete(&intruder, &record).await,
        Err(MailboxError::NotSender)
    );

    // The owner updates its record with a newer one…
    clock.advance(10);
    let mut update = record.header;
    update.created_at += 10;
    let update_bytes = update.sign(&owner, &sealed_blob(20));
    clients[0]
        .put(key, update_bytes.clone())
        .await
        .expect("update");
    // …and the old version cannot come back.
    let replay = clients[0].put(key, record.bytes().to_vec()).await;
    assert!(matches!(replay, Err(DhtError::Rejected(_))), "{replay:?}");
    let reader = clients.last().unwrap();
    assert_eq!(reader.get(key).await.unwrap(), Some(update_bytes.clone()));

    // Delete, then nothing, not even the owner's record, replaces the tombstone.
    let updated = validator()
        .validate(&key, &update_bytes, clock.now())
        .unwrap();
    let tombstone = writer.delete(&owner, &updated).await.expect("delete");
    assert_eq!(tombstone.header.kind, Kind::Tombstone);
    clock.advance(10);
    let mut revive = update;
    revive.created_at = clock.now();
    let revived = clients[0]
        .put(key, revive.sign(&owner, &sealed_blob(5)))
        .await;
    assert!(matches!(revived, Err(DhtError::Rejected(_))), "{revived:?}");
    let fetched = mailbox(reader, clock).fetch_all(inbox).await.unwrap();
    assert!(fetched.records.is_empty());
}

use pigeonhole::clock::Clock;

/// Concurrent publishes of one identity in one process never take the
/// same slot (the slot rule would let the newer overwrite the older).
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
