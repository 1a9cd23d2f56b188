//! An in-memory DHT for fast, deterministic tests of the mailbox logic.
//!
//! It is one storing peer in a hash map, but it applies exactly the rules a
//! real storing peer applies: every put passes the [`Validator`], the
//! [`crate::slot_rule`] decides who may write an occupied slot, and an
//! expired record is still served — as an occupancy marker the reader
//! counts but never returns — until the UTC day of its bucket is over (plus
//! the policy's clock skew), then forgotten. Without those markers the first
//! records of today's bucket, which expire first, would leave a run of
//! empty slots that ends every probe scan before the live records behind it.
//!
//! [`MemoryDht::new`] is the plain single-value DHT of the seed's method: no
//! listing reads, so the mailbox runs its probe scan. [`MemoryDht::with_listing`]
//! also answers [`Dht::list`] and [`Dht::next_seq`] over its map, so the
//! listing path of the mailbox has fast tests too. Both count requests so
//! benchmarks can show how lookups grow.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::clock::Clock;
use crate::mailbox::dht::{Dht, DhtError, ListCursor, ListPage};
use crate::record::{DhtKey, InstanceId, MailboxId, Record, Validator};
use crate::slot_rule;

/// Seconds in a bucket (a UTC day).
const DAY_SECS: u64 = 86_400;

/// One storing peer held in memory.
#[derive(Debug)]
pub struct MemoryDht {
    validator: Validator,
    clock: Arc<dyn Clock>,
    listing: bool,
    held: Mutex<Held>,
    gets: AtomicU64,
    puts: AtomicU64,
    lists: AtomicU64,
    next_seqs: AtomicU64,
}

/// The records, by slot and, for listing reads, by mailbox in listing order.
#[derive(Debug, Default)]
struct Held {
    /// Clock reading of the last sweep of finished markers.
    swept_at: Option<u64>,
    slots: HashMap<DhtKey, Record>,
    by_mailbox: HashMap<MailboxId, BTreeMap<ListCursor, DhtKey>>,
}

impl Held {
    fn insert(&mut self, key: DhtKey, record: Record) {
        if let Some(old) = self.slots.remove(&key) {
            self.unindex(&old);
        }
        self.by_mailbox
            .entry(record.header.mailbox)
            .or_default()
            .insert(cursor_of(&record), key);
        self.slots.insert(key, record);
    }

    fn remove(&mut self, key: &DhtKey) {
        if let Some(old) = self.slots.remove(key) {
            self.unindex(&old);
        }
    }

    fn unindex(&mut self, record: &Record) {
        let mailbox = record.header.mailbox;
        if let Some(index) = self.by_mailbox.get_mut(&mailbox) {
            index.remove(&cursor_of(record));
            if index.is_empty() {
                self.by_mailbox.remove(&mailbox);
            }
        }
    }
}

fn cursor_of(record: &Record) -> ListCursor {
    ListCursor {
        instance: record.header.instance,
        record_id: record.id(),
    }
}

impl MemoryDht {
    /// An empty single-value DHT (no listing reads) validating with
    /// `validator` at `clock`'s time.
    pub fn new(validator: Validator, clock: Arc<dyn Clock>) -> Self {
        Self {
            validator,
            clock,
            listing: false,
            held: Mutex::new(Held::default()),
            gets: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            next_seqs: AtomicU64::new(0),
        }
    }

    /// Like [`MemoryDht::new`], but also answering listing reads
    /// ([`Dht::list`], [`Dht::next_seq`]) the way v2 replicas do.
    pub fn with_listing(validator: Validator, clock: Arc<dyn Clock>) -> Self {
        Self {
            listing: true,
            ..Self::new(validator, clock)
        }
    }

    /// Whether this DHT answers listing reads.
    pub fn has_listing(&self) -> bool {
        self.listing
    }

    /// Gets served so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// Puts received so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::Relaxed)
    }

    /// Listing reads answered so far.
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::Relaxed)
    }

    /// Next-seq questions answered so far.
    pub fn next_seqs(&self) -> u64 {
        self.next_seqs.load(Ordering::Relaxed)
    }

    /// Number of records held, expired occupancy markers included until
    /// their bucket's day is over.
    pub fn len(&self) -> usize {
        self.held().slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The held records, with those whose bucket's day is over (plus skew)
    /// forgotten.
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        let mut held = self.held.lock().expect("poisoned");
        let now = self.clock.now();
        if held.swept_at == Some(now) {
            return held;
        }
        held.swept_at = Some(now);
        let skew = self.validator.policy().clock_skew_secs;
        let over: Vec<DhtKey> = held
            .slots
            .iter()
            .filter(|(_, record)| record.header.expires_at <= now)
            .filter(|(_, record)| marker_ends(record, skew) <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in over {
            held.remove(&key);
        }
        held
    }
}

/// When an expired record stops being served as an occupancy marker: the
/// end of its bucket's UTC day plus the clock skew readers are allowed.
fn marker_ends(record: &Record, skew: u64) -> u64 {
    (u64::from(record.header.instance.bucket) + 1)
        .saturating_mul(DAY_SECS)
        .saturating_add(skew)
}

#[async_trait]
impl Dht for MemoryDht {
    async fn get(&self, key: DhtKey) -> Result<Option<Vec<u8>>, DhtError> {
        // Yield so concurrent publishers really interleave, as on a network.
        tokio::task::yield_now().await;
        self.gets.fetch_add(1, Ordering::Relaxed);
        let held = self.held();
        Ok(held.slots.get(&key).map(|record| record.bytes().to_vec()))
    }

    async fn put(&self, key: DhtKey, value: Vec<u8>) -> Result<(), DhtError> {
        tokio::task::yield_now().await;
        self.puts.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let incoming = self
            .validator
            .validate(&key, &value, now)
            .map_err(|error| DhtError::Rejected(error.to_string()))?;
        let mut held = self.held();
        // An expired record only marks its slot as used for readers; it
        // holds no claim a new record must respect.
        let existing = held
            .slots
            .get(&key)
            .filter(|record| record.header.expires_at > now);
        match slot_rule::decide(existing, &incoming) {
            Ok(slot_rule::SlotWrite::Store) => {
                held.insert(key, incoming);
                Ok(())
            }
            Ok(slot_rule::SlotWrite::Unchanged) => Ok(()),
            Err(rejection) if rejection.is_taken() => Err(DhtError::Taken),
            Err(rejection) => Err(DhtError::Rejected(rejection.to_string())),
        }
    }

    async fn list(
        &self,
        mailbox: MailboxId,
        after: Option<ListCursor>,
        limit: u32,
    ) -> Result<Option<ListPage>, DhtError> {
        if !self.listing {
            return Ok(None);
        }
        tokio::task::yield_now().await;
        self.lists.fetch_add(1, Ordering::Relaxed);
        let held = self.held();
        let Some(index) = held.by_mailbox.get(&mailbox) else {
            return Ok(Some(ListPage::default()));
        };
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = index.range((start, Bound::Unbounded));
        let records = range
            .by_ref()
            .take(limit as usize)
            .map(|(_, key)| held.slots[key].bytes().to_vec())
            .collect();
        let more = range.next().is_some();
        Ok(Some(ListPage { records, more }))
    }

    async fn next_seq(&self, mailbox: MailboxId, bucket: u32) -> Result<Option<u32>, DhtError> {
        if !self.listing {
            return Ok(None);
        }
        tokio::task::yield_now().await;
        self.next_seqs.fetch_add(1, Ordering::Relaxed);
        let held = self.held();
        let start = |bucket| ListCursor {
            instance: InstanceId { bucket, seq: 0 },
            record_id: [0; 32],
        };
        let end = bucket
            .checked_add(1)
            .map_or(Bound::Unbounded, |next| Bound::Excluded(start(next)));
        let last = held.by_mailbox.get(&mailbox).and_then(|index| {
            index
                .range((Bound::Included(start(bucket)), end))
                .next_back()
                .map(|(cursor, _)| cursor.instance.seq)
        });
        Ok(Some(last.map_or(0, |seq| seq.saturating_add(1))))
    }
}
